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
	f.exact = f.kernelExact()
	return &Tracer{filter: f, userFilter: f.Expr != nil, owners: newOwnerBook(), timeWaits: newTimeWaitBook()}
}

// Userspace leaves alone the events the kernel decided exactly, and
// decides the rest again. To tell the two apart, each event here is one
// the filter does not pass (which the kernel would not have sent): where
// the kernel decided, complete takes its word and passes it.
func TestCompleteDecidesWhatTheKernelCouldNot(t *testing.T) {
	local, remote := netip.MustParseAddrPort("10.0.0.1:8080"), netip.MustParseAddrPort("10.0.0.2:443")
	owned := Event{Kind: KindState, Old: tcpstate.Established, New: tcpstate.FinWait1, Family: syscall.AF_INET,
		Local: local, Remote: remote, Sock: 0xa, Inode: 555, NetNS: 1,
		Flags: FlagOwnerKnown, PID: 8, Comm: snapshot.CommOf("curl")}
	ownerless := owned
	ownerless.Flags, ownerless.PID, ownerless.Comm = 0, 0, snapshot.Comm{}
	noPID := owned
	noPID.PID = 0
	orphaned := ownerless // the same socket later: the kernel had zeroed its port
	orphaned.Inode, orphaned.Remote = 0, netip.AddrPortFrom(remote.Addr(), 0)
	for _, tc := range []struct {
		expr    string
		evs     []Event // in turn, to one tracer
		decided []bool  // whether complete took the kernel's word
	}{
		// The kernel tests ports exactly, with or without an owner...
		{"dport = :80", []Event{owned, ownerless}, []bool{true, true}},
		// ...but not a port userspace put back.
		{"not dport = :443", []Event{ownerless, orphaned}, []bool{true, false}},
		// The owner, only where the kernel knew it.
		{"pid = 7", []Event{owned, ownerless, noPID}, []bool{true, false, false}},
		{"comm = nginx", []Event{owned, ownerless}, []bool{true, false}},
		// Never what it reads otherwise than ss, or cannot test.
		{"autobound", []Event{owned, ownerless}, []bool{false, false}},
		{"dst 10.0.0.3", []Event{owned}, []bool{false}},
		{"dport = :80 or uid = 1", []Event{owned}, []bool{false}},
	} {
		expr, err := filter.Parse(strings.Fields(tc.expr), filter.Config{})
		if err != nil {
			t.Fatal(err)
		}
		tr := userspaceTracer(Filter{Expr: expr})
		tr.owners.byInode[555] = snapshot.Owner{PID: 8, Comm: snapshot.CommOf("curl")}
		for i, ev := range tc.evs {
			if got := tr.complete(&ev); got != tc.decided[i] {
				t.Errorf("%s, event %d (%v, owner known %v): passed %v, want %v",
					tc.expr, i, ev.Remote, tc.evs[i].Has(FlagOwnerKnown), got, tc.decided[i])
			}
		}
	}
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
