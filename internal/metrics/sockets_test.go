package metrics

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/socktrace/socktrace/internal/nstest"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// pile is what the pile peers hold in a namespace: each connection made
// by the client, in a process of its own, to the server in another.
type pile struct {
	// The client closes, then the server: the client's end waits in
	// TIME_WAIT.
	timeWait4, timeWait6 int
	// The client closes and the server never does: the client's end is a
	// timewait socket in its FIN_WAIT2 substate, the server's in CLOSE_WAIT.
	orphans int
	// The client shuts down its sending side only and keeps the socket: a
	// full socket in FIN_WAIT2.
	halfClosed  int
	established int
}

func (p pile) args(ports []string) []string {
	return append(ports, strconv.Itoa(p.timeWait4), strconv.Itoa(p.timeWait6), strconv.Itoa(p.orphans),
		strconv.Itoa(p.halfClosed), strconv.Itoa(p.established))
}

// stateCounts are TCP sockets by state.
type stateCounts [states]int

// counts is what the namespace holds once the pile is made: both ends of
// each connection, and the server's three listeners.
func (p pile) counts() stateCounts {
	var c stateCounts
	c[tcpstate.Listen] = 3
	c[tcpstate.TimeWait] = p.timeWait4 + p.timeWait6
	c[tcpstate.FinWait2] = p.orphans + p.halfClosed
	c[tcpstate.CloseWait] = p.orphans + p.halfClosed
	c[tcpstate.Established] = 2 * p.established
	return c
}

func (c stateCounts) String() string {
	var b strings.Builder
	for s, n := range c {
		if n != 0 {
			fmt.Fprintf(&b, " %v %d", tcpstate.State(s), n)
		}
	}
	return "{" + strings.TrimSpace(b.String()) + "}"
}

// makePile makes p in ns and waits until ss shows all of it.
func makePile(t testing.TB, ns *nstest.NS, p pile) {
	t.Helper()
	// A fresh namespace lets a loopback connect take the port of a
	// socket in TIME_WAIT (tcp_tw_reuse 2), ending it early: the pile
	// would shrink while it is counted.
	ns.Run(t, "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=0")
	srv := ns.StartPeer(t, "pile-server")
	ports := strings.Fields(srv.Expect("PORTS"))
	cl := ns.StartPeer(t, "pile-client", p.args(ports)...)
	var made stateCounts
	made[tcpstate.Listen] = 3
	for {
		line := cl.Next()
		if line == "DONE" {
			break
		}
		var n int
		if _, err := fmt.Sscanf(line, "CLOSED %d", &n); err != nil {
			t.Fatalf("pile client: %q: %v", line, err)
		}
		// Each end the client closed must be a timewait socket before
		// the server closes its own (see runPileServer).
		closing := made
		closing[tcpstate.FinWait2] += n
		closing[tcpstate.CloseWait] += n
		waitStates(t, ns, closing)
		srv.Send(fmt.Sprint("close ", n))
		srv.Expect("CLOSED")
		made[tcpstate.TimeWait] += n
		waitStates(t, ns, made)
		cl.Send("next")
	}
	waitStates(t, ns, p.counts())
}

// waitStates waits until ss shows want in ns.
func waitStates(t testing.TB, ns *nstest.NS, want stateCounts) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := ssStates(t, ns)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ss shows %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ss's state names.
var ssNames = map[string]tcpstate.State{
	"ESTAB": tcpstate.Established, "SYN-SENT": tcpstate.SynSent, "SYN-RECV": tcpstate.SynRecv,
	"FIN-WAIT-1": tcpstate.FinWait1, "FIN-WAIT-2": tcpstate.FinWait2, "TIME-WAIT": tcpstate.TimeWait,
	"UNCONN": tcpstate.Close, "CLOSE-WAIT": tcpstate.CloseWait, "LAST-ACK": tcpstate.LastAck,
	"LISTEN": tcpstate.Listen, "CLOSING": tcpstate.Closing,
}

// ssStates counts ss -tan's rows in ns by state.
func ssStates(t testing.TB, ns *nstest.NS) stateCounts {
	t.Helper()
	out, err := ns.Command("ss", "-tanH").Output()
	if err != nil {
		t.Fatalf("ss -tanH: %v", err)
	}
	var c stateCounts
	for line := range strings.Lines(string(out)) {
		name, _, _ := strings.Cut(line, " ")
		s, ok := ssNames[name]
		if !ok {
			t.Fatalf("ss -tanH: unknown state in %q", line)
		}
		c[s]++
	}
	return c
}

// gaugeIn scrapes socktrace_tcp_sockets from a thread in ns, as serve
// running there would.
func gaugeIn(t testing.TB, ns *nstest.NS) stateCounts {
	t.Helper()
	var c stateCounts
	err := ns.InThread(func() error {
		ch := make(chan prometheus.Metric, states)
		New(Config{}).sockets.Collect(ch)
		close(ch)
		n := 0
		for m := range ch {
			var d dto.Metric
			if err := m.Write(&d); err != nil {
				return err
			}
			s, err := tcpstate.Parse(d.GetLabel()[0].GetValue())
			if err != nil {
				return err
			}
			c[s] = int(d.GetGauge().GetValue())
			n++
		}
		if n != states-2 {
			return fmt.Errorf("%d states in the gauge, want every state but CLOSE", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// socktrace_tcp_sockets is ss's count of every state, beside a TIME_WAIT
// pile and timewait sockets in their FIN_WAIT2 substate (which the
// kernel's sockstat counts together with those in TIME_WAIT), and counts
// its own namespace's sockets only.
func TestSocketGaugeMatchesSS(t *testing.T) {
	ns, other := nstest.New(t), nstest.New(t)
	// There, with a FIN_WAIT2 timeout longer than TIME_WAIT's, an orphan
	// in FIN_WAIT2 stays a full socket, without a file as a timewait
	// socket, but not among sockstat's.
	other.Run(t, "sysctl", "-q", "-w", "net.ipv4.tcp_fin_timeout=120")
	small := pile{timeWait4: 7, timeWait6: 2, orphans: 3, established: 1}
	makePile(t, other, small)
	makePile(t, ns, pile{timeWait4: 3000, timeWait6: 500, orphans: 200, halfClosed: 50, established: 20})
	before := ssStates(t, ns)
	got := gaugeIn(t, ns)
	after := ssStates(t, ns)
	if before != after {
		t.Fatalf("the sockets changed during the scrape: ss showed %v, then %v", before, after)
	}
	if got != after {
		t.Errorf("gauge %v, ss %v", got, after)
	}
	if got := gaugeIn(t, other); got != small.counts() {
		t.Errorf("the other namespace's gauge %v, want its own sockets %v", got, small.counts())
	}
}

// One scrape of socktrace_tcp_sockets with no TIME_WAIT pile and beside
// one, the namespace's open connections known to serve (so that healing
// looks them up): how much of a scrape the pile costs.
func BenchmarkCollectSockets(b *testing.B) {
	for _, n := range []int{0, 20000} {
		b.Run(fmt.Sprintf("timewait=%d", n), func(b *testing.B) {
			ns := nstest.New(b)
			makePile(b, ns, pile{timeWait4: n, established: 50})
			// Never unlocked: the thread ends with this goroutine.
			runtime.LockOSThread()
			if err := ns.Enter(); err != nil {
				b.Fatal(err)
			}
			m := New(Config{})
			openAll(b, m)
			ch := make(chan prometheus.Metric, states)
			b.ReportAllocs()
			for b.Loop() {
				m.sockets.read = time.Time{} // past minScrapeGap: each Collect reads the kernel
				m.sockets.Collect(ch)
				for len(ch) > 0 {
					<-ch
				}
			}
		})
	}
}

// The gauge's dump beside a TIME_WAIT pile, as one walk of the kernel's
// established hash for both families (the legacy request ReadInet sends)
// and as one walk per family (ReadInet's fallback): what the one walk
// saves a scrape.
func BenchmarkSocketDump(b *testing.B) {
	ns := nstest.New(b)
	makePile(b, ns, pile{timeWait4: 20000, established: 50})
	for _, walk := range []struct {
		name string
		fams []snapshot.Family
	}{{"one", []snapshot.Family{snapshot.IPv4 | snapshot.IPv6}}, {"per-family", []snapshot.Family{snapshot.IPv4, snapshot.IPv6}}} {
		b.Run("walk="+walk.name, func(b *testing.B) {
			// Never unlocked: the thread ends with this goroutine.
			runtime.LockOSThread()
			if err := ns.Enter(); err != nil {
				b.Fatal(err)
			}
			d := snapshot.Diag{States: liveStates}
			var rows []snapshot.Socket
			for b.Loop() {
				rows = rows[:0]
				for _, f := range walk.fams {
					var err error
					if rows, err = d.ReadInet(snapshot.TCP, f, rows); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// openAll tells m of every connection in the calling thread's namespace
// that has not ended, as if it had seen each open.
func openAll(b *testing.B, m *Metrics) {
	rows, err := snapshot.Diag{}.ReadInet(snapshot.TCP, snapshot.IPv4|snapshot.IPv6, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rows {
		if r.State == tcpstate.Listen || r.State == tcpstate.TimeWait {
			continue
		}
		ev := tracer.Event{Family: syscall.AF_INET, Local: r.Local, Remote: r.Remote, NetNS: m.netns, Time: time.Now()}
		if r.V6 {
			ev.Family = syscall.AF_INET6
		}
		m.open.add(&ev, roleClient, m.labels.base)
	}
}
