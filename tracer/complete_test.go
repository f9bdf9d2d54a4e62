package tracer

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// churnEvents is what the kernel sends of n loopback connections to port
// 9511, as decode makes them: each connection's client and server events,
// and its TIME_WAIT end (no owner: a timewait socket has none) after lag
// more connections.
func churnEvents(n, lag int) []Event {
	var evs, ends []Event
	at := time.Unix(1_800_000_000, 0)
	for k := range n {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(32768+k))
		server := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + k%8)}), 9511)
		csock, ssock := 0xffff888100000000+uint64(k)*0x1300, 0xffff888200000000+uint64(k)*0x900
		ev := func(sock uint64, local, remote netip.AddrPort, tid uint32, old, new tcpstate.State) Event {
			at = at.Add(7 * time.Microsecond)
			return Event{Time: at, Kind: KindState, Old: old, New: new, Family: syscall.AF_INET,
				Flags: FlagOwnerKnown | FlagPrevKnown | FlagBornKnown, Local: local, Remote: remote,
				PID: 4242, TID: tid, Comm: snapshot.CommOf("churn"), Sock: sock, NetNS: 4026532283,
				InState: 7 * time.Microsecond, Lifetime: 30 * time.Microsecond}
		}
		cli := func(old, new tcpstate.State) Event { return ev(csock, client, server, 4250, old, new) }
		srv := func(old, new tcpstate.State) Event { return ev(ssock, server, client, 4260, old, new) }
		accept := srv(tcpstate.Established, tcpstate.Established)
		accept.Kind = KindAccept
		closed := cli(tcpstate.FinWait2, tcpstate.TimeWait)
		closed.Flags |= FlagSummary | FlagTimeWaitDerived
		end := Event{Time: at.Add(time.Minute), Kind: KindTimeWaitEnd, Old: tcpstate.TimeWait, New: tcpstate.Close,
			Family: syscall.AF_INET, Local: client, Remote: server, Sock: csock + 0x80, NetNS: 4026532283, Flags: FlagExpired}
		evs = append(evs,
			cli(tcpstate.Close, tcpstate.SynSent), srv(tcpstate.Listen, tcpstate.SynRecv),
			cli(tcpstate.SynSent, tcpstate.Established), srv(tcpstate.SynRecv, tcpstate.Established), accept,
			cli(tcpstate.Established, tcpstate.FinWait1), srv(tcpstate.Established, tcpstate.CloseWait),
			cli(tcpstate.FinWait1, tcpstate.FinWait2), srv(tcpstate.CloseWait, tcpstate.LastAck),
			closed, srv(tcpstate.LastAck, tcpstate.Close))
		if ends = append(ends, end); len(ends) > lag {
			evs, ends = append(evs, ends[0]), ends[1:]
		}
	}
	return append(evs, ends...)
}

// userspaceTracer is a Tracer as New sets up its userspace side for f,
// without the kernel's.
func userspaceTracer(f Filter) *Tracer {
	return &Tracer{filter: f, userFilter: f.Expr != nil, owners: newOwnerBook(), timeWaits: newTimeWaitBook()}
}

// BenchmarkComplete is what Next does to each event after decoding it
// (TIME_WAIT ends, owners, the filter), per event of a churn stream, for
// trace's filters: none, --port (which the kernel decides), and --port
// with a condition only userspace can test.
func BenchmarkComplete(b *testing.B) {
	evs := churnEvents(4096, 1024)
	for _, bc := range []struct{ name, expr string }{
		{"all", ""},
		{"port", "( sport = :9511 or dport = :9511 )"},
		{"port-uid", "( sport = :9511 or dport = :9511 ) and uid = 0"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var f Filter
			if bc.expr != "" {
				expr, err := filter.Parse(strings.Fields(bc.expr), filter.Config{})
				if err != nil {
					b.Fatal(err)
				}
				f.Expr = expr
			}
			t := userspaceTracer(f)
			var ev Event
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ev = evs[i]
				if !t.complete(&ev) {
					b.Fatalf("%q dropped %v->%v", bc.expr, ev.Old, ev.New)
				}
				if i++; i == len(evs) {
					i = 0
				}
			}
		})
	}
}
