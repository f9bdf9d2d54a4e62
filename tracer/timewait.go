package tracer

import (
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// timeWaitBook completes the events that end a TIME_WAIT. The kernel reads
// such an end from the timewait socket, which has the tuple but not the
// owner, the birth or the time it entered TIME_WAIT: those come from the
// entry event, remembered here until the end. (Keeping them in a BPF map
// instead cost each traced connection a map insert, with an allocation, on
// its own time; here the cost is the tracer's.) A connection table keeps
// its own rows and needs none.
type timeWaitBook struct {
	byTuple map[twKey]twEntry
	swept   int // len(byTuple) after the last sweep
}

// twKey is a timewait socket's identity: its namespace and tuple. Key and
// entry hold no pointers (netip values do), so the garbage collector does
// not scan the entries a churn piles up.
type twKey struct {
	local, remote [16]byte
	lport, rport  uint16
	netns         uint32
}

func twKeyOf(ev *Event) twKey {
	return twKey{local: ev.Local.Addr().As16(), remote: ev.Remote.Addr().As16(),
		lport: ev.Local.Port(), rport: ev.Remote.Port(), netns: ev.NetNS}
}

type twEntry struct {
	sock          uint64 // the full socket's address, which the entry event had
	cgroup        uint64 // the owner's cgroup id
	born, entered int64  // Unix ns; born 0: not known
	pid, tid, uid uint32
	comm          snapshot.Comm
	flags         Flag // FlagOwnerKnown, FlagBornKnown
}

// twMaxAge bounds how long an entry whose end was lost (a skipped timer
// run) stays. A TIME_WAIT lasts TCP_TIMEWAIT_LEN, 60 s fixed in the kernel;
// one entered before the peer's FIN waits up to tcp_fin_timeout for it
// first (at most 60 s on this path), then 60 s from the FIN.
const twMaxAge = 150 * time.Second

// minSweep is the size below which the book is not swept.
const minSweep = 1 << 16

func newTimeWaitBook() *timeWaitBook {
	return &timeWaitBook{byTuple: make(map[twKey]twEntry)}
}

// note remembers a TIME_WAIT entry, completes a TIME_WAIT end and gives a
// reset the timewait socket sends its owner; other events pass untouched.
func (b *timeWaitBook) note(ev *Event) {
	switch {
	case ev.Kind == KindState && ev.New == tcpstate.TimeWait:
		b.enter(ev)
	case ev.Kind == KindTimeWaitEnd:
		b.end(ev)
	case ev.Kind == KindResetSent && ev.Old == tcpstate.TimeWait && ev.New == tcpstate.TimeWait:
		b.owner(ev)
	}
}

func (b *timeWaitBook) enter(ev *Event) {
	e := twEntry{sock: ev.Sock, cgroup: ev.Cgroup, pid: ev.PID, tid: ev.TID, uid: ev.UID, comm: ev.Comm,
		flags: ev.Flags & (FlagOwnerKnown | FlagBornKnown), entered: ev.Time.UnixNano()}
	if ev.Has(FlagBornKnown) {
		e.born = e.entered - int64(ev.Lifetime)
	}
	b.byTuple[twKeyOf(ev)] = e
	if n := len(b.byTuple); n >= minSweep && n >= 2*b.swept {
		b.sweep(ev.Time)
	}
}

// end fills in what the timewait socket did not have. An end with no entry
// (a timewait socket older than the tracer) keeps its owner unknown.
func (b *timeWaitBook) end(ev *Event) {
	k := twKeyOf(ev)
	e, ok := b.byTuple[k]
	if !ok {
		return
	}
	delete(b.byTuple, k)
	ev.Sock, ev.Cgroup, ev.PID, ev.TID, ev.UID, ev.Comm = e.sock, e.cgroup, e.pid, e.tid, e.uid, e.comm
	ev.Flags |= e.flags | FlagPrevKnown
	now := ev.Time.UnixNano()
	ev.InState = time.Duration(now - e.entered)
	if e.flags&FlagBornKnown != 0 {
		ev.Lifetime = time.Duration(now - e.born)
	}
}

// owner fills in the owner of a reset a timewait socket sent (a segment
// that its connection cannot take, such as data after the close): the
// process that closed it.
func (b *timeWaitBook) owner(ev *Event) {
	e, ok := b.byTuple[twKeyOf(ev)]
	if !ok || e.flags&FlagOwnerKnown == 0 {
		return
	}
	ev.Cgroup, ev.PID, ev.TID, ev.UID, ev.Comm = e.cgroup, e.pid, e.tid, e.uid, e.comm
	ev.Flags |= FlagOwnerKnown
}

// sweep drops the entries older than twMaxAge. It runs when the book has
// doubled since the last sweep, so its cost per entry stays constant.
func (b *timeWaitBook) sweep(now time.Time) {
	oldest := now.Add(-twMaxAge).UnixNano()
	for k, e := range b.byTuple {
		if e.entered < oldest {
			delete(b.byTuple, k)
		}
	}
	b.swept = len(b.byTuple)
}
