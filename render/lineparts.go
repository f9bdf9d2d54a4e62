package render

import (
	"net/netip"

	"github.com/socktrace/socktrace/tracer"
)

// lineParts remembers, per socket, the parts of an event line that the
// socket's events share: its owner and addresses (pid to remote), and its
// identity (netns and kernel address). A loopback connection's ten events
// come within a few hundred microseconds, and reusing those parts takes a
// third off a line's cost in a churn stream (BenchmarkAppendEventStream).
// A part is reused only when every field it was formatted from is
// unchanged, so the output is the same as formatting it afresh.
type lineParts struct {
	slots [partSlots]partSlot
}

// A slot is one socket's; sockets that hash to the same slot take it from
// each other, which only costs a formatting. Under churn a few dozen
// sockets have events in flight at once.
const (
	partBits  = 8
	partSlots = 1 << partBits
)

type partSlot struct {
	owner    ownerPart
	ownerLen int // 0: nothing cached
	ownerBuf [192]byte
	id       idPart
	idLen    int
	idBuf    [56]byte
}

// ownerPart is what the owner part is formatted from. json tells the two
// line formats apart, which never share a formatter but may share a slot
// in tests.
type ownerPart struct {
	sock          uint64
	pid, tid      uint32
	comm          tracer.Comm
	local, remote netip.AddrPort
	family        uint16
	known, json   bool
}

type idPart struct {
	sock  uint64
	netns uint32
}

func (p *lineParts) slot(sock uint64) *partSlot {
	// Sockets are slab objects a few KiB apart: the multiply spreads
	// their addresses' middle bits over the index.
	return &p.slots[(sock*0x9E3779B97F4A7C15)>>(64-partBits)]
}

// owner appends ev's owner part, formatted by format when it is not cached.
func (p *lineParts) owner(b []byte, ev *tracer.Event, json bool, format func([]byte, *tracer.Event) []byte) []byte {
	s := p.slot(ev.Sock)
	k := ownerPart{sock: ev.Sock, pid: ev.PID, tid: ev.TID, comm: ev.Comm, local: ev.Local,
		remote: ev.Remote, family: ev.Family, known: ev.Has(tracer.FlagOwnerKnown), json: json}
	if s.ownerLen > 0 && s.owner == k {
		return append(b, s.ownerBuf[:s.ownerLen]...)
	}
	start := len(b)
	b = format(b, ev)
	s.owner, s.ownerLen = k, keep(s.ownerBuf[:], b[start:])
	return b
}

// id appends ev's identity part, formatted by format when it is not cached.
func (p *lineParts) id(b []byte, ev *tracer.Event, format func([]byte, *tracer.Event) []byte) []byte {
	s := p.slot(ev.Sock)
	k := idPart{sock: ev.Sock, netns: ev.NetNS}
	if s.idLen > 0 && s.id == k {
		return append(b, s.idBuf[:s.idLen]...)
	}
	start := len(b)
	b = format(b, ev)
	s.id, s.idLen = k, keep(s.idBuf[:], b[start:])
	return b
}

// keep copies part into buf and returns its length, or 0 (nothing kept)
// when it does not fit: an escaped name can make a part long.
func keep(buf, part []byte) int {
	if len(part) > len(buf) {
		return 0
	}
	return copy(buf, part)
}
