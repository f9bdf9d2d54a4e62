package render

import (
	"net/netip"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tracer"
)

// lineParts remembers the parts of an event line that events share: the
// owner (pid, tid, comm), which a few threads have for every socket, and
// per socket its addresses (proto to remote) and identity (netns and kernel
// address). A loopback connection's ten events come close together, so
// under churn most lines can reuse those parts (BenchmarkAppendEventStream
// measures it). Keeping the owner apart from the addresses means that a
// socket's first event, and an accept (which changes only the thread),
// format only what is new.
// A part is reused only when every field it was formatted from is
// unchanged, so the output is the same as formatting it afresh.
type lineParts struct {
	slots [partSlots]partSlot
	who   [whoSlots]whoSlot
}

// A slot is one socket's; sockets that hash to the same slot take it from
// each other, which only costs a formatting. Under churn a few dozen
// sockets have events in flight at once.
const (
	partBits  = 8
	partSlots = 1 << partBits
	whoBits   = 5
	whoSlots  = 1 << whoBits
)

type partSlot struct {
	where    wherePart
	whereLen int // 0: nothing cached
	whereBuf [144]byte
	id       idPart
	idLen    int
	idBuf    [56]byte
}

// json tells the two line formats apart in every part key: they never
// share a formatter, but may share a slot in tests.
type wherePart struct {
	sock          uint64
	local, remote netip.AddrPort
	family        uint16
	json          bool
}

type whoSlot struct {
	key whoPart
	n   int // 0: nothing cached
	buf [96]byte
}

type whoPart struct {
	pid, tid    uint32
	comm        snapshot.Comm
	known, json bool
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

// whoIndex is a thread's owner slot.
func whoIndex(tid uint32) uint64 { return (uint64(tid) * 0x9E3779B97F4A7C15) >> (64 - whoBits) }

// owner appends ev's owner, formatted by who when it is not cached.
func (p *lineParts) owner(b []byte, ev *tracer.Event, json bool, who func([]byte, *tracer.Event) []byte) []byte {
	w := &p.who[whoIndex(ev.TID)]
	wk := whoPart{pid: ev.PID, tid: ev.TID, comm: ev.Comm, known: ev.Has(tracer.FlagOwnerKnown), json: json}
	hit := w.key == wk
	w.key = wk
	return reuse(b, hit, w.buf[:], &w.n, ev, who)
}

// where appends ev's addresses, formatted by format when they are not
// cached.
func (p *lineParts) where(b []byte, ev *tracer.Event, json bool, format func([]byte, *tracer.Event) []byte) []byte {
	s := p.slot(ev.Sock)
	k := wherePart{sock: ev.Sock, local: ev.Local, remote: ev.Remote, family: ev.Family, json: json}
	hit := s.where == k
	s.where = k
	return reuse(b, hit, s.whereBuf[:], &s.whereLen, ev, format)
}

// id appends ev's identity part, formatted by format when it is not cached.
func (p *lineParts) id(b []byte, ev *tracer.Event, format func([]byte, *tracer.Event) []byte) []byte {
	s := p.slot(ev.Sock)
	k := idPart{sock: ev.Sock, netns: ev.NetNS}
	hit := s.id == k
	s.id = k
	return reuse(b, hit, s.idBuf[:], &s.idLen, ev, format)
}

// reuse appends the part kept in buf (n bytes; 0: none) when its key was
// hit; else it formats the part with format and keeps it in buf, unless it
// does not fit: an escaped name can make a part long.
func reuse(b []byte, hit bool, buf []byte, n *int, ev *tracer.Event, format func([]byte, *tracer.Event) []byte) []byte {
	if hit && *n > 0 {
		return append(b, buf[:*n]...)
	}
	start := len(b)
	b = format(b, ev)
	*n = 0
	if part := b[start:]; len(part) <= len(buf) {
		*n = copy(buf, part)
	}
	return b
}
