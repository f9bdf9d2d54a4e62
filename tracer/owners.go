package tracer

import (
	"net/netip"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

type listenKey struct {
	netns uint32
	port  uint16
}

// maxRemembered bounds ownerBook.bySock. Entries leave at close; a close the
// kernel skipped (recursion) would leave one behind, so when the map is full
// it is simply cleared: the inode and listener tables still answer.
const maxRemembered = 1 << 17

type remembered struct {
	owner         snapshot.Owner
	local, remote netip.AddrPort
}

// ownerBook attributes events whose owner the kernel did not know: sockets
// older than socktrace. The kernel knows every socket it saw being connected,
// listened on, or accepted; for the rest, the owner comes from the /proc
// snapshot taken at start-up (socket inode -> process, listening port ->
// process), and is remembered per socket for its later events, which may come
// after the socket lost its file (inode 0).
type ownerBook struct {
	byInode    map[uint64]snapshot.Owner
	byListener map[listenKey]snapshot.Owner
	bySock     map[uint64]remembered
}

func newOwnerBook() *ownerBook {
	return &ownerBook{
		byInode:    make(map[uint64]snapshot.Owner),
		byListener: make(map[listenKey]snapshot.Owner),
		bySock:     make(map[uint64]remembered),
	}
}

// resolve fills in ev's owner (and a tuple the kernel no longer had) when the
// kernel could not, and forgets sockets that are gone. It reports whether it
// changed the tuple.
func (b *ownerBook) resolve(ev *Event) (retupled bool) {
	if ev.Kind == KindLost {
		return false
	}
	if !ev.Has(FlagOwnerKnown) && ownable(ev) {
		retupled = b.fill(ev)
	}
	if ev.New == tcpstate.Close || ev.New == tcpstate.TimeWait || ev.Kind == KindTimeWaitEnd {
		delete(b.bySock, ev.Sock)
	}
	return retupled
}

// ownable reports whether ev's socket may have an owner to look up. A
// timewait socket has none left, and it is no passive socket waiting for
// accept(), so its listener's owner is not its own (its end, or a reset it
// sends: Old and New both TIME_WAIT). A reset for a packet no socket took
// has no socket at all.
func ownable(ev *Event) bool {
	return ev.Kind != KindTimeWaitEnd && ev.Sock != 0 && (ev.Old != tcpstate.TimeWait || ev.New != tcpstate.TimeWait)
}

func (b *ownerBook) fill(ev *Event) (retupled bool) {
	r, known := b.bySock[ev.Sock]
	if !known {
		o, ok := b.lookup(ev)
		if !ok {
			return false
		}
		r = remembered{owner: o, local: ev.Local, remote: ev.Remote}
		if len(b.bySock) >= maxRemembered {
			clear(b.bySock)
		}
		b.bySock[ev.Sock] = r
	}
	ev.PID, ev.TID, ev.Comm = r.owner.PID, 0, r.owner.Comm
	ev.Flags |= FlagOwnerKnown
	// After an unhash the kernel may have zeroed the local port.
	if ev.Local.Port() == 0 && r.local.Port() != 0 {
		ev.Local, retupled = r.local, true
	}
	if ev.Remote.Port() == 0 && r.remote.Port() != 0 {
		ev.Remote, retupled = r.remote, true
	}
	return retupled
}

func (b *ownerBook) lookup(ev *Event) (snapshot.Owner, bool) {
	if ev.Inode != 0 {
		if o, ok := b.byInode[ev.Inode]; ok {
			return o, true
		}
	}
	// A passive socket not yet accepted belongs to its listener's owner.
	o, ok := b.byListener[listenKey{ev.NetNS, ev.Local.Port()}]
	return o, ok
}
