package table

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// BenchmarkChurn is socktrace -c's table under loopback churn, one
// connection per op: the five events TableOnly mode sends for it (connect,
// accept, the client's ->TIME_WAIT, the server's LAST_ACK->CLOSE, and the
// end of a TIME_WAIT that entered 60 s of connections earlier), against a
// pile of ~110k TIME_WAIT rows, with a Sweep per second of churn (35k
// connections), as the tables printed between them would.
func BenchmarkChurn(b *testing.B) {
	const rate, pile = 35000, 110000
	tbl := New(Config{ProcRoot: b.TempDir()})
	server := netip.MustParseAddrPort("127.0.0.1:9511")
	client := func(i int) netip.AddrPort {
		// 8 addresses of 28k ports each, as bench/cmd/churn uses them.
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i%8)}), uint16(32768+(i/8)%28000))
	}
	ev := func(local, remote netip.AddrPort, d time.Duration, kind tracer.Kind, old, new tcpstate.State) *tracer.Event {
		return &tracer.Event{Time: at(d), Kind: kind, Old: old, New: new, Family: syscall.AF_INET,
			Local: local, Remote: remote, UID: 1000, PID: 42, TID: 42, Comm: snapshot.CommOf("churn"),
			Flags: tracer.FlagOwnerKnown | tracer.FlagBornKnown, Lifetime: 100 * time.Microsecond}
	}
	var evs [5]tracer.Event
	conn := func(i int) {
		d := time.Duration(i) * time.Second / rate
		c := client(i)
		evs[0] = *ev(c, server, d, tracer.KindState, tcpstate.Close, tcpstate.SynSent)
		evs[1] = *ev(server, c, d, tracer.KindAccept, tcpstate.Established, tcpstate.Established)
		evs[1].Inode = uint64(i + 1)
		evs[2] = *ev(c, server, d, tracer.KindState, tcpstate.FinWait2, tcpstate.TimeWait)
		evs[3] = *ev(server, c, d, tracer.KindState, tcpstate.LastAck, tcpstate.Close)
		n := 4
		if i >= pile {
			evs[4] = *ev(client(i-pile), server, d, tracer.KindTimeWaitEnd, tcpstate.TimeWait, tcpstate.Close)
			evs[4].Flags |= tracer.FlagExpired
			n = 5
		}
		for j := range evs[:n] {
			tbl.Apply(&evs[j])
		}
		if i%rate == rate-1 {
			tbl.Sweep(at(d), 0)
		}
	}
	for i := range pile {
		conn(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		conn(pile + i)
	}
}
