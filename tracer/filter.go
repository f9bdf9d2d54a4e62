package tracer

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/internal/filter"
)

// Filter selects events. The kernel tests what it can before an event is
// queued: the namespace and the family before any bookkeeping, then the
// state words and the expression's program (filter.Program). Match tests
// all of it again in userspace, once the owner is resolved.
type Filter struct {
	NetNS  uint32         // network namespace inode; 0: any
	Family uint16         // syscall.AF_INET or syscall.AF_INET6; 0: any
	Expr   *filter.Filter // ss's filter language; nil: everything

	// containers names where owners run, when Expr asks (New sets it).
	containers *container.Resolver
	// exact: which events the kernel's program decides as Match does
	// (New sets it; see decided).
	exact kernelExact
}

// kernelExact says whether the kernel's filter program gives Match's
// answer for events whose owner it knew, and for those whose owner it did
// not (filter.Program's Exact and ExactOwnerless).
type kernelExact struct{ owned, ownerless bool }

func (f *Filter) kernelExact() kernelExact {
	if f.Expr == nil {
		return kernelExact{true, true}
	}
	p := f.Expr.Program()
	return kernelExact{p.Exact, p.ExactOwnerless}
}

// decided reports whether the kernel, in letting ev through, gave Match's
// answer already: its program was exact for what it knew of ev. owned
// says the kernel knew the owner; retupled that userspace put back a port
// the kernel had no longer, which the program read as 0. Where the kernel
// let ev through undecided (an owner it did not know, a condition it
// cannot test), Match decides.
func (f *Filter) decided(ev *Event, owned, retupled bool) bool {
	if owned && ev.PID != 0 {
		return f.exact.owned
	}
	return f.exact.ownerless && !retupled
}

// Restricts reports whether the filter selects less than every event.
func (f *Filter) Restricts() bool {
	return f.NetNS != 0 || f.family() != 0 || f.Expr != nil && !f.Expr.Everything()
}

// family is the one family events must have: -4 or -6, or a family the
// expression names. When they disagree no event has both: AF_UNSPEC+1
// stands for that, matching nothing.
func (f *Filter) family() uint16 {
	if f.Expr == nil || f.Expr.Family == 0 {
		return f.Family
	}
	fam := uint16(f.Expr.Family)
	if f.Family != 0 && f.Family != fam || !filter.IsInet(f.Expr.Family) {
		return noFamily
	}
	return fam
}

const noFamily = unix.AF_UNSPEC + 1

func (f *Filter) stateMask() uint32 {
	if f.Expr == nil {
		return 0
	}
	return uint32(f.Expr.States)
}

// program is the expression compiled for the kernel, in the kernel's own
// layout (struct filter_op), and where runs start.
func (f *Filter) program() (ops [socktraceFilterLimitFILTER_OPS]socktraceFilterOp, start, startOwnerless uint8) {
	if f.Expr == nil {
		return ops, filter.Pass, filter.Pass
	}
	p := f.Expr.Program()
	for i, op := range p.Ops {
		ops[i] = socktraceFilterOp{
			Addr: op.Addr, Port: op.Port, Value: op.Value,
			Code: uint8(filterCodes[op.Test]), Yes: op.Yes, No: op.No,
			Family: op.Family, Bits: op.Bits,
		}
	}
	return ops, p.Start, p.StartOwnerless
}

// filterCodes are the kernel's codes for the filter language's tests.
var filterCodes = map[filter.Test]socktraceFilterCode{
	filter.TestSrc:       socktraceFilterCodeFC_SRC,
	filter.TestDst:       socktraceFilterCodeFC_DST,
	filter.TestSportGE:   socktraceFilterCodeFC_SPORT_GE,
	filter.TestSportLE:   socktraceFilterCodeFC_SPORT_LE,
	filter.TestDportGE:   socktraceFilterCodeFC_DPORT_GE,
	filter.TestDportLE:   socktraceFilterCodeFC_DPORT_LE,
	filter.TestAutobound: socktraceFilterCodeFC_AUTOBOUND,
	filter.TestPID:       socktraceFilterCodeFC_PID,
	filter.TestComm:      socktraceFilterCodeFC_COMM,
	filter.TestNetns:     socktraceFilterCodeFC_NETNS,
}

// Match reports whether ev passes the filter. Lost-event reports always do.
// sock is scratch space, reused so that no event allocates.
func (f *Filter) Match(ev *Event, sock *filter.Socket) bool {
	if ev.Kind == KindLost {
		return true
	}
	if f.NetNS != 0 && ev.NetNS != f.NetNS {
		return false
	}
	if fam := f.family(); fam != 0 && ev.Family != fam {
		return false
	}
	if f.Expr == nil {
		return true
	}
	if !f.Expr.StateMatch(ev.Old, ev.New) {
		return false
	}
	f.socketOf(ev, sock)
	return f.Expr.Match(sock)
}

// socketOf is what the filter language knows of an event's socket.
func (f *Filter) socketOf(ev *Event, s *filter.Socket) {
	*s = filter.Socket{
		Family:      int(ev.Family),
		Local:       ev.Local,
		Remote:      ev.Remote,
		PortLocked:  ev.Has(FlagPortLocked),
		Comm:        ev.Comm,
		UID:         ev.UID,
		Netns:       ev.NetNS,
		Lifetime:    ev.Lifetime,
		HasLifetime: ev.Has(FlagBornKnown),
	}
	if ev.Has(FlagOwnerKnown) {
		s.PID = ev.PID
		if f.containers != nil {
			s.Container = f.containers.Lookup(ev.PID, ev.Cgroup, ev.Comm, ev.Time)
		}
	}
	// A timewait socket keeps no uid: its end has one only from the
	// TIME_WAIT entry.
	s.HasUID = ev.Kind != KindTimeWaitEnd || ev.Has(FlagPrevKnown)
	if ev.Err != 0 {
		s.Err = unix.ErrnoName(ev.Err)
	}
}

// FamilyOf maps -4/-6 to a Filter.Family.
func FamilyOf(only4, only6 bool) uint16 {
	switch {
	case only4 && !only6:
		return syscall.AF_INET
	case only6 && !only4:
		return syscall.AF_INET6
	}
	return 0
}
