package tracer

import (
	"fmt"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// Kind says what an Event reports. All but KindLost mirror enum event_kind
// in bpf/socktrace.h.
type Kind uint8

const (
	KindState       = Kind(socktraceEventKindKIND_STATE)  // a TCP state transition
	KindAccept      = Kind(socktraceEventKindKIND_ACCEPT) // accept() gave the socket to a process
	KindTimeWaitEnd = Kind(socktraceEventKindKIND_TW_END) // a TIME_WAIT socket is gone
	// The kernel sent a RST (Reason says why): for a socket, or for a
	// packet no socket took (no owner, Old and New 0). Config.Resets.
	KindResetSent = Kind(socktraceEventKindKIND_RESET_SENT)
	// A RST came in for the socket; in SYN_SENT, a refused connect.
	// Config.Resets.
	KindResetReceived = Kind(socktraceEventKindKIND_RESET_RECV)
	// The socket sent a segment (a SYN too) again. Config.Resets.
	KindRetransmit = Kind(socktraceEventKindKIND_RETRANSMIT)
	KindLost       = KindRetransmit + 1 // lost events (see Event.Lost); userspace only
)

// Flag is enum event_flag in bpf/socktrace.h.
type Flag uint8

const (
	FlagOwnerKnown      = Flag(socktraceEventFlagFLAG_OWNER_KNOWN) // PID, TID and Comm are the socket's owner
	FlagBornKnown       = Flag(socktraceEventFlagFLAG_BORN_KNOWN)  // Lifetime is valid
	FlagPrevKnown       = Flag(socktraceEventFlagFLAG_PREV_KNOWN)  // InState is valid
	FlagTimeWaitDerived = Flag(socktraceEventFlagFLAG_TW_DERIVED)  // New is TIME_WAIT, derived from the timewait timer
	FlagExpired         = Flag(socktraceEventFlagFLAG_TW_EXPIRED)  // KindTimeWaitEnd: the timer ran out (else reused or killed)
	FlagSummary         = Flag(socktraceEventFlagFLAG_SUMMARY)     // bytes, SRTT and retransmits were read at close
	FlagPortLocked      = Flag(socktraceEventFlagFLAG_PORT_LOCKED) // bind() chose the local port (ss: not autobound)
	// TIME_WAIT entered before the peer's FIN came: the timewait socket
	// waits for it in its FIN_WAIT2 substate, and netstat lists it as
	// FIN_WAIT2 until then. The FIN's coming mostly shows in no
	// tracepoint (see enter_timewait in bpf/timewait.h).
	FlagTimeWaitFinWait2 = Flag(socktraceEventFlagFLAG_TW_FIN_WAIT2)
)

// Lost counts events the kernel produced but could not deliver.
type Lost struct {
	RingFull  uint64 // the ring buffer was full
	Recursion uint64 // the kernel skipped a nested run of a program
}

// Total is all lost events.
func (l Lost) Total() uint64 { return l.RingFull + l.Recursion }

// Event is one decoded kernel event. It holds no pointers, so decoding into a
// reused Event allocates nothing.
type Event struct {
	Time          time.Time
	Kind          Kind
	Flags         Flag
	Old, New      tcpstate.State // an accept, reset or retransmit has the socket's state in both
	Family        uint16         // syscall.AF_INET or syscall.AF_INET6
	Local, Remote netip.AddrPort
	PID, TID, UID uint32
	Comm          snapshot.Comm
	Sock          uint64 // kernel socket address: identity while the socket lives
	Inode         uint64
	// Cgroup is the owner's cgroup v2 id (the inode of its directory under
	// the cgroup2 mount), read by the kernel when the owner acted: it
	// names the owner's container after the process is gone. 0: not known.
	Cgroup        uint64
	NetNS         uint32
	InState       time.Duration // time spent in Old (FlagPrevKnown)
	Lifetime      time.Duration // since SYN_SENT, SYN_RECV or LISTEN (FlagBornKnown)
	BytesSent     uint64        // bytes sent and acknowledged (FlagSummary)
	BytesReceived uint64
	SRTT          time.Duration
	Retrans       uint32
	Err           syscall.Errno // sk_err: why a connection failed or was reset
	Reason        uint16        // KindResetSent: the kernel's reset reason (see Tracer.ResetReason)
	Lost          Lost          // KindLost: lost since the previous KindLost
}

// Has reports whether all of f are set.
func (e *Event) Has(f Flag) bool { return e.Flags&f == f }

// Owner is the process the event names: the socket's owner when
// FlagOwnerKnown is set.
func (e *Event) Owner() snapshot.Owner { return snapshot.Owner{PID: e.PID, Comm: e.Comm} }

// Proto is netstat's protocol name: tcp or tcp6.
func (e *Event) Proto() string {
	if e.Family == syscall.AF_INET6 {
		return "tcp6"
	}
	return "tcp"
}

// A record is the C struct event, or only its head (eventHeadSize bytes)
// when it has no close summary (FlagSummary): see bpf/socktrace.h.
const (
	eventSize     = int(unsafe.Sizeof(socktraceEvent{}))
	eventHeadSize = int(unsafe.Offsetof(socktraceEvent{}.BytesSent))
)

// decode reads a raw ring buffer record into ev without allocating. The
// record is the C struct event, laid out as bpf2go's socktraceEvent.
// monoToWall converts the kernel's CLOCK_MONOTONIC to wall-clock time.
func decode(raw []byte, monoToWall int64, ev *Event) error {
	if len(raw) < eventHeadSize {
		return fmt.Errorf("decode event: record of %d bytes, want at least %d", len(raw), eventHeadSize)
	}
	// Only the fields within raw are read through k.
	k := (*socktraceEvent)(unsafe.Pointer(&raw[0]))
	if k.Kind < uint8(KindState) || k.Kind > uint8(KindRetransmit) {
		return fmt.Errorf("decode event: unknown kind %d", k.Kind)
	}
	summary := Flag(k.Flags)&FlagSummary != 0
	if summary && len(raw) < eventSize {
		return fmt.Errorf("decode event: record with a close summary of %d bytes, want %d", len(raw), eventSize)
	}
	*ev = Event{
		Time:     time.Unix(0, int64(k.TsNs)+monoToWall),
		Kind:     Kind(k.Kind),
		Flags:    Flag(k.Flags),
		Old:      tcpstate.State(k.Oldstate),
		New:      tcpstate.State(k.Newstate),
		Family:   k.Family,
		Local:    netip.AddrPortFrom(addr(k.Family, &k.Saddr), k.Sport),
		Remote:   netip.AddrPortFrom(addr(k.Family, &k.Daddr), k.Dport),
		PID:      k.Pid,
		TID:      k.Tid,
		UID:      k.Uid,
		Comm:     *(*snapshot.Comm)(unsafe.Pointer(&k.Comm)),
		Sock:     k.Sk,
		Inode:    k.Inode,
		Cgroup:   k.Cgroup,
		NetNS:    k.Netns,
		InState:  time.Duration(k.StateNs),
		Lifetime: time.Duration(k.LifetimeNs),
		Err:      syscall.Errno(k.Error),
		Reason:   k.Reason,
	}
	if summary {
		ev.BytesSent, ev.BytesReceived = k.BytesSent, k.BytesReceived
		ev.SRTT = time.Duration(k.SrttUs) * time.Microsecond
		ev.Retrans = k.Retrans
	}
	return nil
}

func addr(family uint16, b *[16]uint8) netip.Addr {
	if family == syscall.AF_INET6 {
		return netip.AddrFrom16(*b)
	}
	return netip.AddrFrom4([4]byte(b[:4]))
}
