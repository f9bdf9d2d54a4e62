package render

import (
	"bytes"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// churnStream is what socktrace trace sees of n loopback connections from
// `clients` concurrent clients: each connection's client and server events,
// interleaved with the other clients' connections, owners and inodes
// changing as they do in the kernel (the server child is the listener's
// until accept(); a socket's inode is 0 before accept() and after close()),
// and each connection's TIME_WAIT end printed a while later.
func churnStream(n, clients int) []tracer.Event {
	var evs, ends []tracer.Event
	at := time.Date(2026, 11, 22, 10, 1, 2, 0, time.UTC)
	for c := 0; c < n; c += clients {
		var conns [][]tracer.Event
		for k := c; k < min(c+clients, n); k++ {
			conns = append(conns, connEvents(k, at))
		}
		// One event of each connection in turn, as concurrent clients.
		for i := 0; ; i++ {
			more := false
			for _, ce := range conns {
				if i < len(ce)-1 {
					evs = append(evs, ce[i])
					more = true
				}
			}
			if !more {
				break
			}
		}
		for _, ce := range conns {
			ends = append(ends, ce[len(ce)-1])
		}
		if len(ends) > 4*clients {
			evs, ends = append(evs, ends[:clients]...), ends[clients:]
		}
		at = at.Add(time.Millisecond)
	}
	return append(evs, ends...)
}

// connEvents is connection k's events: the client's, the server's, and
// last its TIME_WAIT end.
func connEvents(k int, at time.Time) []tracer.Event {
	cport := uint16(32768 + k%28000)
	client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), cport)
	server := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + k%8)}), 9511)
	csock, ssock := 0xffff888100000000+uint64(k)*0x1300, 0xffff888200000000+uint64(k)*0x900
	ev := func(sock uint64, local, remote netip.AddrPort, tid uint32, inode uint64, old, new tcpstate.State) tracer.Event {
		at = at.Add(7 * time.Microsecond)
		return tracer.Event{Time: at, Kind: tracer.KindState, Old: old, New: new, Family: syscall.AF_INET,
			Flags: tracer.FlagOwnerKnown | tracer.FlagPrevKnown | tracer.FlagBornKnown,
			Local: local, Remote: remote, PID: 4242, TID: tid, Comm: comm("churn"), Sock: sock,
			Inode: inode, NetNS: 4026532283, InState: 7 * time.Microsecond, Lifetime: 30 * time.Microsecond}
	}
	cli := func(inode uint64, old, new tcpstate.State) tracer.Event {
		return ev(csock, client, server, 4250, inode, old, new)
	}
	srv := func(tid uint32, inode uint64, old, new tcpstate.State) tracer.Event {
		return ev(ssock, server, client, tid, inode, old, new)
	}
	cino, sino := uint64(900000+2*k), uint64(900001+2*k)
	accept := srv(4260, sino, tcpstate.Established, tcpstate.Established)
	accept.Kind = tracer.KindAccept
	closed := cli(0, tcpstate.FinWait2, tcpstate.TimeWait)
	closed.Flags |= tracer.FlagSummary | tracer.FlagTimeWaitDerived
	end := cli(0, tcpstate.TimeWait, tcpstate.Close)
	end.Kind = tracer.KindTimeWaitEnd
	return []tracer.Event{
		cli(cino, tcpstate.Close, tcpstate.SynSent),
		srv(4200, 0, tcpstate.Listen, tcpstate.SynRecv),
		cli(cino, tcpstate.SynSent, tcpstate.Established),
		srv(4200, 0, tcpstate.SynRecv, tcpstate.Established),
		accept,
		cli(cino, tcpstate.Established, tcpstate.FinWait1),
		srv(4260, sino, tcpstate.Established, tcpstate.CloseWait),
		cli(0, tcpstate.FinWait1, tcpstate.FinWait2),
		srv(4260, sino, tcpstate.CloseWait, tcpstate.LastAck),
		closed,
		srv(4260, 0, tcpstate.LastAck, tcpstate.Close),
		end,
	}
}

// The cached parts must never change a line: every line of a stream is
// compared with the same event formatted by a formatter that has seen
// nothing.
func TestLinePartsChangeNothing(t *testing.T) {
	evs := churnStream(2000, 8)
	// Sockets sharing a slot, with two long IPv6 addresses and an owner
	// part too long to keep (an escaped name); and two threads sharing an
	// owner slot.
	var p lineParts
	a := evs[0]
	b := a
	for b.Sock = a.Sock + 64; p.slot(b.Sock) != p.slot(a.Sock); b.Sock += 64 {
	}
	b.Local = netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535")
	b.Remote = netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")
	b.Family = syscall.AF_INET6
	b.Comm = comm("\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b")
	unowned := a
	unowned.Flags &^= tracer.FlagOwnerKnown
	// Each of these differs from a in one field a part is keyed on.
	thread := a // another thread of a's process, in a's owner slot
	for thread.TID = a.TID + 1; whoIndex(thread.TID) != whoIndex(a.TID); thread.TID++ {
	}
	process, renamed := a, a
	process.PID, renamed.Comm = 7, comm("other")
	// a's socket address, taken by a new connection: from another port,
	// or to another peer.
	reused, reused2 := a, a
	reused.Local = netip.AddrPortFrom(a.Local.Addr(), a.Local.Port()+1)
	reused2.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), a.Remote.Port())
	otherNS := a
	otherNS.NetNS++
	evs = append(evs, a, b, a, b, b, unowned, a, unowned,
		thread, a, thread, process, a, renamed, a, reused, a, reused2, a, otherNS, a)

	for name, format := range map[string]func(*EventFormatter, []byte, *tracer.Event) []byte{
		"text": (*EventFormatter).AppendText, "json": (*EventFormatter).AppendJSON,
	} {
		var f EventFormatter
		for i := range evs {
			got := format(&f, nil, &evs[i])
			want := format(new(EventFormatter), nil, &evs[i])
			if !bytes.Equal(got, want) {
				t.Fatalf("%s, event %d: cached parts changed the line:\n got %s\nwant %s", name, i, got, want)
			}
		}
	}
}

// BenchmarkAppendEventStream formats a churn stream: the cost per line that
// socktrace trace pays under load (the single-event benchmarks above repeat
// one line, which the part cache makes unrealistically cheap).
func BenchmarkAppendEventStreamJSON(b *testing.B) {
	benchStream(b, (*EventFormatter).AppendJSON)
}

func BenchmarkAppendEventStreamText(b *testing.B) {
	benchStream(b, (*EventFormatter).AppendText)
}

func benchStream(b *testing.B, format func(*EventFormatter, []byte, *tracer.Event) []byte) {
	evs := churnStream(4096, 8)
	buf := make([]byte, 0, 1024)
	var f EventFormatter
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf = format(&f, buf[:0], &evs[i])
		if i++; i == len(evs) {
			i = 0
		}
	}
}
