package tracer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/internal/nstest"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// These tests run the real programs against real sockets in a fresh network
// namespace, with client and server in separate processes, and assert the
// exact transitions the kernel makes.

// step is what a test expects of one event.
type step struct {
	kind     Kind
	old, new tcpstate.State
	pid      int
	err      syscall.Errno
}

func st(old, new tcpstate.State, pid int) step {
	return step{kind: KindState, old: old, new: new, pid: pid}
}

func acc(s tcpstate.State, pid int) step { return step{kind: KindAccept, old: s, new: s, pid: pid} }

// of returns the events of the socket with this local port (and remote
// port, if not 0).
func of(evs []Event, local, remote uint16) []Event {
	var out []Event
	for _, e := range evs {
		if e.Kind != KindLost && e.Local.Port() == local && (remote == 0 || e.Remote.Port() == remote) {
			out = append(out, e)
		}
	}
	return out
}

func has(local, remote uint16, old, new tcpstate.State) func([]Event) bool {
	return func(evs []Event) bool {
		for _, e := range of(evs, local, remote) {
			if e.Kind == KindState && e.Old == old && e.New == new {
				return true
			}
		}
		return false
	}
}

func all(preds ...func([]Event) bool) func([]Event) bool {
	return func(evs []Event) bool {
		for _, p := range preds {
			if !p(evs) {
				return false
			}
		}
		return true
	}
}

func assertSteps(t *testing.T, who string, evs []Event, want []step) {
	t.Helper()
	got := make([]step, len(evs))
	for i, e := range evs {
		got[i] = step{kind: e.Kind, old: e.Old, new: e.New, pid: int(e.PID), err: e.Err}
		if !e.Has(FlagOwnerKnown) {
			got[i].pid = -1
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s events:\n got %v\nwant %v\n%s", who, got, want, dump(evs))
	}
}

func hostPort(listen string, port uint16) string {
	host, _, _ := net.SplitHostPort(listen)
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// connected starts a server peer that listens on listen and does
// serverMode, and a client peer that connects to it and does clientMode;
// it returns once the server accepted.
func connected(t *testing.T, ns *nstest.NS, listen, serverMode, clientMode string) (srv, cli *nstest.Peer, sport, cport uint16) {
	t.Helper()
	srv = ns.StartPeer(t, "server", listen, serverMode)
	sport = portOf(t, srv)
	cli = ns.StartPeer(t, "client", hostPort(listen, sport), clientMode)
	cport = portOf(t, cli)
	srv.Expect("ACCEPTED")
	return srv, cli, sport, cport
}

func traceNS(t *testing.T, ns *nstest.NS, classic bool) *capture {
	return startCapture(t, Config{Filter: Filter{NetNS: uint32(ns.Inode)}, Classic: classic, Latency: 10 * time.Millisecond})
}

const wait = 5 * time.Second

// clientCloses runs one connection that the client closes first and checks
// both sides. It returns the client's port and pid, for follow-up checks.
func clientCloses(t *testing.T, ns *nstest.NS, c *capture, listen string) (srv *nstest.Peer, sport, cport uint16, cpid int) {
	srv, cli, sport, cport := connected(t, ns, listen, "wait-eof", "close")
	cli.Send("close")
	cli.Expect("CLOSED")
	srv.Expect("EOF none")
	// The server closes only once the client is in FIN_WAIT2, so the order
	// of the two FINs, and with it every transition, is fixed.
	c.waitFor(t, wait, "client FIN_WAIT2", has(cport, sport, tcpstate.FinWait1, tcpstate.FinWait2))
	srv.Send("close")
	srv.Expect("CLOSED")
	evs := c.waitFor(t, wait, "both closes", all(
		has(sport, cport, tcpstate.LastAck, tcpstate.Close), has(cport, sport, tcpstate.FinWait2, tcpstate.TimeWait)))

	assertSteps(t, "client", of(evs, cport, sport), []step{
		st(tcpstate.Close, tcpstate.SynSent, cli.PID), st(tcpstate.SynSent, tcpstate.Established, cli.PID),
		st(tcpstate.Established, tcpstate.FinWait1, cli.PID), st(tcpstate.FinWait1, tcpstate.FinWait2, cli.PID),
		st(tcpstate.FinWait2, tcpstate.TimeWait, cli.PID),
	})
	assertSteps(t, "server", of(evs, sport, cport), []step{
		st(tcpstate.Listen, tcpstate.SynRecv, srv.PID), st(tcpstate.SynRecv, tcpstate.Established, srv.PID), acc(tcpstate.Established, srv.PID),
		st(tcpstate.Established, tcpstate.CloseWait, srv.PID), st(tcpstate.CloseWait, tcpstate.LastAck, srv.PID), st(tcpstate.LastAck, tcpstate.Close, srv.PID),
	})
	checkAwaitingFin(t, of(evs, cport, sport), of(evs, sport, cport))
	// No data crossed: the summaries must say 0 bytes, FINs not counted.
	for _, e := range evs {
		if e.Has(FlagSummary) && (e.BytesSent != 0 || e.BytesReceived != 0) {
			t.Errorf("%v->%v of %v: sent %d, received %d bytes, want 0", e.Old, e.New, e.Local, e.BytesSent, e.BytesReceived)
		}
	}
	return srv, sport, cport, cli.PID
}

// checkAwaitingFin checks the active closer's TIME_WAIT entry against the
// peer's FIN (its CLOSE_WAIT->LAST_ACK): a timewait socket created before
// the FIN came is in substate FIN_WAIT2 (netstat lists it so), and the
// entry must say so; one created after must not.
func checkAwaitingFin(t *testing.T, closer, peer []Event) {
	t.Helper()
	var tw, fin *Event
	for i := range closer {
		if closer[i].New == tcpstate.TimeWait {
			tw = &closer[i]
		}
	}
	for i := range peer {
		if peer[i].Old == tcpstate.CloseWait && peer[i].New == tcpstate.LastAck {
			fin = &peer[i]
		}
	}
	if tw == nil || fin == nil {
		t.Fatalf("no TIME_WAIT entry (%v) or peer's FIN (%v)", tw != nil, fin != nil)
	}
	if awaiting, before := tw.Has(FlagTimeWaitFinWait2), tw.Time.Before(fin.Time); awaiting != before {
		t.Errorf("TIME_WAIT entry at %v, peer's FIN at %v: awaiting the FIN flagged %v, want %v",
			tw.Time.Format(time.StampMicro), fin.Time.Format(time.StampMicro), awaiting, before)
	}
}

func TestClientCloses(t *testing.T) {
	for _, tc := range []struct {
		name, listen string
		classic      bool
	}{
		{"ipv4", "127.0.0.1:0", false},
		{"ipv6", "[::1]:0", false},
		{"classic-tracepoint", "127.0.0.1:0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := nstest.New(t)
			c := traceNS(t, ns, tc.classic)
			_, sport, cport, _ := clientCloses(t, ns, c, tc.listen)
			evs := of(c.seen, cport, sport)
			tw := evs[len(evs)-1]
			if !tw.Has(FlagTimeWaitDerived | FlagSummary | FlagBornKnown) {
				t.Errorf("TIME_WAIT entry flags %b: want derived, summary, lifetime", tw.Flags)
			}
			if want := map[bool]uint16{false: syscall.AF_INET, true: syscall.AF_INET6}[tc.name == "ipv6"]; tw.Family != want {
				t.Errorf("family %d, want %d", tw.Family, want)
			}
		})
	}
}

// The server reads a request and closes first: TIME_WAIT moves to its
// side. Orphaned in FIN_WAIT2, it enters TIME_WAIT awaiting the client's
// FIN, which its byte count never holds, though close() marked it shut for
// reading: both summaries count the request's bytes exactly.
func TestServerCloses(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := traceNS(t, ns, false)
	srv, cli, sport, cport := connected(t, ns, "127.0.0.1:0", "read-close", "send")
	srv.Expect("READ none")
	srv.Send("close")
	srv.Expect("CLOSED")
	cli.Expect("EOF none")
	c.waitFor(t, wait, "server FIN_WAIT2", has(sport, cport, tcpstate.FinWait1, tcpstate.FinWait2))
	cli.Send("close")
	cli.Expect("CLOSED")
	evs := c.waitFor(t, wait, "both closes", all(
		has(cport, sport, tcpstate.LastAck, tcpstate.Close), has(sport, cport, tcpstate.FinWait2, tcpstate.TimeWait)))

	server, client := of(evs, sport, cport), of(evs, cport, sport)
	assertSteps(t, "server", server, []step{
		st(tcpstate.Listen, tcpstate.SynRecv, srv.PID), st(tcpstate.SynRecv, tcpstate.Established, srv.PID), acc(tcpstate.Established, srv.PID),
		st(tcpstate.Established, tcpstate.FinWait1, srv.PID), st(tcpstate.FinWait1, tcpstate.FinWait2, srv.PID), st(tcpstate.FinWait2, tcpstate.TimeWait, srv.PID),
	})
	assertSteps(t, "client", client, []step{
		st(tcpstate.Close, tcpstate.SynSent, cli.PID), st(tcpstate.SynSent, tcpstate.Established, cli.PID),
		st(tcpstate.Established, tcpstate.CloseWait, cli.PID), st(tcpstate.CloseWait, tcpstate.LastAck, cli.PID), st(tcpstate.LastAck, tcpstate.Close, cli.PID),
	})
	checkAwaitingFin(t, server, client)
	n := uint64(len(greeting))
	if tw := server[len(server)-1]; !tw.Has(FlagSummary) || tw.BytesReceived != n || tw.BytesSent != 0 {
		t.Errorf("server's ->TIME_WAIT flags %b: sent %d, received %d bytes; want a summary, sent 0, received %d",
			tw.Flags, tw.BytesSent, tw.BytesReceived, n)
	}
	if last := client[len(client)-1]; last.BytesSent != n || last.BytesReceived != 0 {
		t.Errorf("client's ->CLOSE: sent %d, received %d bytes; want sent %d, received 0",
			last.BytesSent, last.BytesReceived, n)
	}

	// A listener carries no bytes: its close has no summary to show.
	srv.Send("exit")
	evs = c.waitFor(t, wait, "listener close", has(sport, 0, tcpstate.Listen, tcpstate.Close))
	ln := of(evs, sport, 0)
	if end := ln[len(ln)-1]; end.Has(FlagSummary) || !end.Has(FlagPrevKnown) {
		t.Errorf("listener's LISTEN->CLOSE flags %b: want a time in state and no close summary", end.Flags)
	}
}

// A client that shuts its side down and keeps the socket is not orphaned
// in FIN_WAIT2: it enters TIME_WAIT itself when the server's FIN comes, not
// awaiting it, and that FIN is not counted as a byte received.
func TestClientShutsDownFirst(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := traceNS(t, ns, false)
	srv, cli, sport, cport := connected(t, ns, "127.0.0.1:0", "wait-eof", "shutdown")
	cli.Send("shutdown")
	cli.Expect("SHUT")
	srv.Expect("EOF none")
	c.waitFor(t, wait, "client FIN_WAIT2", has(cport, sport, tcpstate.FinWait1, tcpstate.FinWait2))
	srv.Send("close")
	srv.Expect("CLOSED")
	cli.Expect("EOF none")
	evs := c.waitFor(t, wait, "both closes", all(
		has(sport, cport, tcpstate.LastAck, tcpstate.Close), has(cport, sport, tcpstate.FinWait2, tcpstate.TimeWait)))

	client := of(evs, cport, sport)
	assertSteps(t, "client", client, []step{
		st(tcpstate.Close, tcpstate.SynSent, cli.PID), st(tcpstate.SynSent, tcpstate.Established, cli.PID),
		st(tcpstate.Established, tcpstate.FinWait1, cli.PID), st(tcpstate.FinWait1, tcpstate.FinWait2, cli.PID),
		st(tcpstate.FinWait2, tcpstate.TimeWait, cli.PID),
	})
	checkAwaitingFin(t, client, of(evs, sport, cport))
	if tw := client[len(client)-1]; tw.Has(FlagTimeWaitFinWait2) || tw.BytesReceived != 0 {
		t.Errorf("TIME_WAIT entry: awaiting the FIN %v, %d bytes received; want false, 0",
			tw.Has(FlagTimeWaitFinWait2), tw.BytesReceived)
	}
	cli.Send("close")
	cli.Expect("CLOSED")
}

func TestResetByLingerZero(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := traceNS(t, ns, false)
	srv, cli, sport, cport := connected(t, ns, "127.0.0.1:0", "hold", "linger0")
	cli.Send("close")
	cli.Expect("CLOSED")
	srv.Expect("EOF ECONNRESET")
	evs := c.waitFor(t, wait, "both closes", all(
		has(cport, sport, tcpstate.Established, tcpstate.Close), has(sport, cport, tcpstate.Established, tcpstate.Close)))

	assertSteps(t, "client", of(evs, cport, sport), []step{
		st(tcpstate.Close, tcpstate.SynSent, cli.PID), st(tcpstate.SynSent, tcpstate.Established, cli.PID), st(tcpstate.Established, tcpstate.Close, cli.PID),
	})
	reset := st(tcpstate.Established, tcpstate.Close, srv.PID)
	reset.err = syscall.ECONNRESET
	assertSteps(t, "server", of(evs, sport, cport), []step{
		st(tcpstate.Listen, tcpstate.SynRecv, srv.PID), st(tcpstate.SynRecv, tcpstate.Established, srv.PID), acc(tcpstate.Established, srv.PID), reset,
	})
}

func TestRefusedConnect(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := traceNS(t, ns, false)
	cli := ns.StartPeer(t, "client", "127.0.0.1:9", "close")
	cli.Expect("ERR ECONNREFUSED")
	evs := c.waitFor(t, wait, "refused connect", func(evs []Event) bool {
		return len(evs) >= 2 && evs[len(evs)-1].New == tcpstate.Close
	})
	refused := st(tcpstate.SynSent, tcpstate.Close, cli.PID)
	refused.err = syscall.ECONNREFUSED
	assertSteps(t, "client", evs, []step{st(tcpstate.Close, tcpstate.SynSent, cli.PID), refused})
	// The port is chosen after CLOSE->SYN_SENT fires: both events must
	// still carry it.
	if p := evs[0].Local.Port(); p == 0 || p != evs[1].Local.Port() {
		t.Errorf("local ports %d and %d: want the same, non-zero", p, evs[1].Local.Port())
	}
}

// An accept() that was already blocked before the tracer started: the
// listener is older than the tracer, yet its connection is attributed to
// the server from its first event.
func TestAcceptBlockedBeforeStart(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	srv := ns.StartPeer(t, "server", "127.0.0.1:0", "wait-eof", "blocking")
	sport := portOf(t, srv)
	waitInSyscall(t, srv.PID, unix.SYS_ACCEPT4)
	c := traceNS(t, ns, false)
	cli := ns.StartPeer(t, "client", hostPort("127.0.0.1:0", sport), "close")
	cport := portOf(t, cli)
	srv.Expect("ACCEPTED")
	evs := c.waitFor(t, wait, "accept", func(evs []Event) bool {
		for _, e := range of(evs, sport, cport) {
			if e.Kind == KindAccept {
				return true
			}
		}
		return false
	})
	assertSteps(t, "server", of(evs, sport, cport), []step{
		st(tcpstate.Listen, tcpstate.SynRecv, srv.PID), st(tcpstate.SynRecv, tcpstate.Established, srv.PID), acc(tcpstate.Established, srv.PID),
	})
}

// waitInSyscall waits until a thread of pid is inside syscall nr.
func waitInSyscall(t *testing.T, pid int, nr uintptr) {
	t.Helper()
	want := strconv.Itoa(int(nr)) + " "
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", pid))
		for _, f := range tasks {
			if b, err := os.ReadFile(f); err == nil && strings.HasPrefix(string(b), want) {
				return
			}
		}
	}
	t.Fatalf("no thread of %d in syscall %d within %v", pid, nr, wait)
}

// A TIME_WAIT socket reused by a new connect from the same port: its end
// is reported, as not expired, and owned by the process that closed it.
func TestTimeWaitReused(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := traceNS(t, ns, false)
	_, sport, cport, cpid := clientCloses(t, ns, c, "127.0.0.1:0")
	// The kernel reuses a TIME_WAIT tuple for a new connect only after
	// net.ipv4.tcp_tw_reuse_delay (1 s by default).
	time.Sleep(1100 * time.Millisecond)
	again := ns.StartPeer(t, "client", hostPort("127.0.0.1:0", sport), "close", strconv.Itoa(int(cport)))
	if p := portOf(t, again); p != cport {
		t.Fatalf("second client got port %d, want %d", p, cport)
	}
	evs := c.waitFor(t, wait, "TIME_WAIT end", func(evs []Event) bool {
		for _, e := range of(evs, cport, sport) {
			if e.Kind == KindTimeWaitEnd {
				return true
			}
		}
		return false
	})
	// The new connect, which reused the tuple, comes first, in time and
	// in the stream: the log reads in the order things happened.
	var connects int
	for _, e := range of(evs, cport, sport) {
		switch {
		case e.Old == tcpstate.Close && e.New == tcpstate.SynSent:
			connects++
		case e.Kind == KindTimeWaitEnd && connects < 2:
			t.Errorf("TIME_WAIT end before the connect that reused it:\n%s", dump(of(evs, cport, sport)))
		}
	}
	for _, e := range of(evs, cport, sport) {
		if e.Kind != KindTimeWaitEnd {
			continue
		}
		if e.Has(FlagExpired) || int(e.PID) != cpid || e.Old != tcpstate.TimeWait || e.New != tcpstate.Close {
			t.Errorf("TIME_WAIT end: %s", dump([]Event{e}))
		}
		if e.InState < time.Second {
			t.Errorf("TIME_WAIT lasted %v, want at least the 1 s reuse delay", e.InState)
		}
	}
}

// TIME_WAIT lasts TCP_TIMEWAIT_LEN (60 s, fixed in the kernel); its expiry
// is reported.
func TestTimeWaitExpires(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 60 s")
	}
	t.Parallel()
	ns := nstest.New(t)
	c := traceNS(t, ns, false)
	_, sport, cport, cpid := clientCloses(t, ns, c, "127.0.0.1:0")
	evs := c.waitFor(t, 75*time.Second, "TIME_WAIT expiry", func(evs []Event) bool {
		for _, e := range of(evs, cport, sport) {
			if e.Kind == KindTimeWaitEnd {
				return true
			}
		}
		return false
	})
	e := evs[len(evs)-1]
	if !e.Has(FlagExpired) || int(e.PID) != cpid || e.InState < 59*time.Second || e.InState > 65*time.Second {
		t.Errorf("TIME_WAIT expiry after %v: %s", e.InState, dump([]Event{e}))
	}
}

// Stop and Close leave no program or link behind.
func TestCloseLeavesNothing(t *testing.T) {
	nstest.RequireRoot(t)
	tr, err := New(Config{Resets: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []ebpf.ProgramID
	for _, p := range []*ebpf.Program{tr.objs.SetStateBtf, tr.objs.TimerStart, tr.objs.Accept4Exit, tr.objs.SendReset} {
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		ids = append(ids, id)
	}
	tr.Stop()
	var ev Event
	for tr.Next(&ev) == nil {
	}
	tr.Close()
	for _, id := range ids {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			t.Errorf("program %d still loaded after tcpstate.Close", id)
		}
	}
}

// TableOnly: the kernel sends a table only the opening, the accept and the
// close of each side. A close carries its lifetime (a row whose opening was
// lost still gets its birth) and error, but neither the time in its last
// state nor the byte counts: the states between are not looked at.
func TestTableOnly(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	tableOnlyCloses(t, ns, tableOnlyNS(t, ns))
}

func tableOnlyNS(t *testing.T, ns *nstest.NS) *capture {
	return startCapture(t, Config{Filter: Filter{NetNS: uint32(ns.Inode)}, TableOnly: true, Latency: 10 * time.Millisecond})
}

// tableOnlyCloses runs one connection that the client closes first and checks
// what TableOnly sends of it. It returns the ports, for follow-up checks.
func tableOnlyCloses(t *testing.T, ns *nstest.NS, c *capture) (sport, cport uint16) {
	t.Helper()
	srv, cli, sport, cport := connected(t, ns, "127.0.0.1:0", "wait-eof", "close")
	cli.Send("close")
	cli.Expect("CLOSED")
	srv.Expect("EOF none")
	srv.Send("close")
	srv.Expect("CLOSED")
	evs := c.waitFor(t, wait, "both closes", all(
		has(sport, cport, tcpstate.LastAck, tcpstate.Close), has(cport, sport, tcpstate.FinWait2, tcpstate.TimeWait)))

	assertSteps(t, "listener", of(evs, sport, 0)[:1], []step{st(tcpstate.Close, tcpstate.Listen, srv.PID)})
	client, server := of(evs, cport, sport), of(evs, sport, cport)
	assertSteps(t, "client", client, []step{st(tcpstate.Close, tcpstate.SynSent, cli.PID), st(tcpstate.FinWait2, tcpstate.TimeWait, cli.PID)})
	assertSteps(t, "server", server, []step{acc(tcpstate.Established, srv.PID), st(tcpstate.LastAck, tcpstate.Close, srv.PID)})
	if t.Failed() {
		t.FailNow()
	}
	for _, e := range []Event{client[1], server[1]} {
		if !e.Has(FlagBornKnown) || e.Lifetime <= 0 || e.Flags&(FlagPrevKnown|FlagSummary) != 0 {
			t.Errorf("close %s: lifetime %v, flags %b: want a lifetime only", e.Local, e.Lifetime, e.Flags)
		}
	}
	return sport, cport
}

// TableOnly with ConnectTimes and Summaries (what top needs): a connect's
// SYN_SENT->ESTABLISHED comes too, with its time in SYN_SENT, and closes
// carry their summary: the bytes each side sent, each once.
func TestTableOnlyConnectTimesSummaries(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := startCapture(t, Config{Filter: Filter{NetNS: uint32(ns.Inode)}, TableOnly: true,
		ConnectTimes: true, Summaries: true, Latency: 10 * time.Millisecond})
	srv := ns.StartPeer(t, "server", "127.0.0.1:0", "read-close")
	sport := portOf(t, srv)
	cli := ns.StartPeer(t, "client", hostPort("127.0.0.1:0", sport), "send")
	cport := portOf(t, cli)
	srv.Expect("ACCEPTED")
	srv.Expect("READ none")
	srv.Send("close")
	cli.Expect("EOF none")
	cli.Send("close")
	cli.Expect("CLOSED")
	evs := c.waitFor(t, wait, "both closes", all(
		has(cport, sport, tcpstate.LastAck, tcpstate.Close), has(sport, cport, tcpstate.FinWait2, tcpstate.TimeWait)))

	client, server := of(evs, cport, sport), of(evs, sport, cport)
	assertSteps(t, "client", client, []step{st(tcpstate.Close, tcpstate.SynSent, cli.PID), st(tcpstate.SynSent, tcpstate.Established, cli.PID),
		st(tcpstate.LastAck, tcpstate.Close, cli.PID)})
	assertSteps(t, "server", server, []step{acc(tcpstate.Established, srv.PID), st(tcpstate.FinWait2, tcpstate.TimeWait, srv.PID)})
	if t.Failed() {
		t.FailNow()
	}
	if e := client[1]; !e.Has(FlagPrevKnown) || e.InState <= 0 || e.InState > e.Time.Sub(client[0].Time) {
		t.Errorf("SYN_SENT->ESTABLISHED: time in SYN_SENT %v (flags %b), want (0, %v]",
			e.InState, e.Flags, e.Time.Sub(client[0].Time))
	}
	for _, tc := range []struct {
		e              Event
		sent, received uint64
	}{{client[2], uint64(len(greeting)), 0}, {server[1], 0, uint64(len(greeting))}} {
		if !tc.e.Has(FlagSummary) || tc.e.BytesSent != tc.sent || tc.e.BytesReceived != tc.received {
			t.Errorf("close %s: flags %b, sent %d, received %d; want a summary with %d and %d",
				tc.e.Local, tc.e.Flags, tc.e.BytesSent, tc.e.BytesReceived, tc.sent, tc.received)
		}
	}
}

// waitTimeWaitEnd waits for the end of the client's TIME_WAIT and checks
// what TableOnly says of it: the tuple, read from the timewait socket, and
// no owner (a table has it from the entry).
func waitTimeWaitEnd(t *testing.T, c *capture, timeout time.Duration, sport, cport uint16, expired bool) {
	t.Helper()
	end := func(evs []Event) *Event {
		for i, e := range of(evs, cport, sport) {
			if e.Kind == KindTimeWaitEnd {
				return &of(evs, cport, sport)[i]
			}
		}
		return nil
	}
	evs := c.waitFor(t, timeout, "TIME_WAIT end", func(evs []Event) bool { return end(evs) != nil })
	e := end(evs)
	loopback := netip.MustParseAddr("127.0.0.1")
	if e.Old != tcpstate.TimeWait || e.New != tcpstate.Close || e.Family != syscall.AF_INET || e.Has(FlagOwnerKnown) ||
		e.Has(FlagExpired) != expired || e.Local.Addr() != loopback || e.Remote.Addr() != loopback {
		t.Errorf("TIME_WAIT end, want expired %v: %s", expired, dump([]Event{*e}))
	}
}

// TableOnly: a TIME_WAIT socket reused by a new connect from the same port.
func TestTableOnlyTimeWaitReused(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := tableOnlyNS(t, ns)
	sport, cport := tableOnlyCloses(t, ns, c)
	time.Sleep(1100 * time.Millisecond) // net.ipv4.tcp_tw_reuse_delay
	again := ns.StartPeer(t, "client", hostPort("127.0.0.1:0", sport), "close", strconv.Itoa(int(cport)))
	if p := portOf(t, again); p != cport {
		t.Fatalf("second client got port %d, want %d", p, cport)
	}
	waitTimeWaitEnd(t, c, wait, sport, cport, false)
}

// TableOnly: a TIME_WAIT that runs out (TCP_TIMEWAIT_LEN, 60 s).
func TestTableOnlyTimeWaitExpires(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 60 s")
	}
	t.Parallel()
	ns := nstest.New(t)
	c := tableOnlyNS(t, ns)
	sport, cport := tableOnlyCloses(t, ns, c)
	waitTimeWaitEnd(t, c, 75*time.Second, sport, cport, true)
}

// Events queued before the first Next (as during a caller's start-up) are
// delivered within the latency, without the wakeup that batched events
// never send.
func TestEventsQueuedBeforeFirstRead(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	tr, err := New(Config{Filter: Filter{NetNS: uint32(ns.Inode)}, Latency: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	srv := ns.StartPeer(t, "server", "127.0.0.1:0", "wait-eof")
	sport := portOf(t, srv)
	ns.StartPeer(t, "client", hostPort("127.0.0.1:0", sport), "close")
	srv.Expect("ACCEPTED")
	got := make(chan error, 1)
	go func() {
		var ev Event
		got <- tr.Next(&ev)
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		tr.Stop()
		t.Fatal("queued events not delivered within 2s")
	}
}

// readUntil reads tr's events in a goroutine until match takes one, then
// sends nil, or until Next fails, then sends its error.
func readUntil(tr *Tracer, match func(*Event) bool) <-chan error {
	done := make(chan error, 1)
	go func() {
		var ev Event
		for {
			if err := tr.Next(&ev); err != nil {
				done <- err
				return
			}
			if match(&ev) {
				done <- nil
				return
			}
		}
	}()
	return done
}

// Close from another goroutine ends a Next that is waiting for events, and
// frees the ring only once Next has let go of it.
func TestCloseWhileReading(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	// A wait longer than the test's: only the wakeup can end it in time.
	tr, err := New(Config{Filter: Filter{NetNS: uint32(ns.Inode)}, Latency: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := readUntil(tr, func(*Event) bool { return false })
	time.Sleep(100 * time.Millisecond) // Next is waiting: nothing happens in ns
	start := time.Now()
	tr.Close() // returns once Next has let go of the ring
	if err := <-got; !errors.Is(err, ErrStopped) {
		t.Fatalf("Next after tcpstate.Close: %v, want ErrStopped", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Next ended %v after tcpstate.Close, want well under 1s", d)
	}
}

// The kernel runs the expression's program on every event before sending
// it, resets and retransmits too. With userspace's own filtering switched
// off, what arrives is what the kernel sent: a refused connect the
// expression excludes must not show up before one it includes, and
// everything that does show up passes the expression in userspace too.
func TestKernelFilters(t *testing.T) {
	type client struct{ addr, bind string } // bind: a local port, or ""
	for _, tc := range []struct {
		expr          string
		skipped, take client
	}{
		{"dport = :10", client{"127.0.0.1:9", ""}, client{"127.0.0.1:10", ""}},
		{"dport = :10 or dport = :11", client{"127.0.0.1:9", ""}, client{"127.0.0.1:11", ""}},
		{"not dport = :9", client{"127.0.0.1:9", ""}, client{"127.0.0.1:10", ""}},
		{"dport > :9 dport < :11", client{"127.0.0.1:9", ""}, client{"127.0.0.1:10", ""}},
		{"dport >= :10 and dport <= :10", client{"127.0.0.1:9", ""}, client{"127.0.0.1:10", ""}},
		{"dst 127.0.0.2", client{"127.0.0.1:9", ""}, client{"127.0.0.2:9", ""}},
		{"dst 127.0.0.2/31:9", client{"127.0.0.4:9", ""}, client{"127.0.0.3:9", ""}},
		{"dst [::1]", client{"127.0.0.1:9", ""}, client{"[::1]:9", ""}},
		{"dst inet6:*", client{"127.0.0.1:9", ""}, client{"[::1]:9", ""}},
		{"sport = :20003", client{"127.0.0.1:9", ""}, client{"127.0.0.1:10", "20003"}},
		{"not autobound", client{"127.0.0.1:9", ""}, client{"127.0.0.1:10", "20002"}},
		{"state established", client{"127.0.0.1:9", ""}, client{}},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			t.Parallel()
			ns := nstest.New(t)
			expr, err := filter.Parse(strings.Fields(tc.expr), filter.Config{Ephemeral: snapshot.DefaultPortRange})
			if err != nil {
				t.Fatal(err)
			}
			f := Filter{NetNS: uint32(ns.Inode), Expr: expr}
			c := startKernelCapture(t, Config{Filter: f, Resets: true, Latency: 10 * time.Millisecond})
			ns.StartPeer(t, "client", tc.skipped.addr, "close").Expect("ERR ECONNREFUSED")
			want := tc.take.addr
			if want == "" {
				// Nothing of a refused connect is ESTABLISHED: a
				// connection that is comes after it.
				srv := ns.StartPeer(t, "server", "127.0.0.1:0", "wait-eof")
				want = hostPort("127.0.0.1:0", portOf(t, srv))
				ns.StartPeer(t, "client", want, "close")
				srv.Expect("ACCEPTED")
			} else {
				args := []string{want, "close"}
				if tc.take.bind != "" {
					args = append(args, tc.take.bind)
				}
				ns.StartPeer(t, "client", args...).Expect("ERR ECONNREFUSED")
			}
			remote := netip.MustParseAddrPort(want)
			evs := c.waitFor(t, wait, "an event of "+want, func(evs []Event) bool {
				for _, e := range evs {
					if e.Remote == remote || e.Local == remote {
						return true
					}
				}
				return false
			})
			var sock filter.Socket
			for _, e := range evs {
				if e.Remote.String() == tc.skipped.addr {
					t.Errorf("the kernel sent %v->%v of %v", e.Old, e.New, e.Remote)
				}
				if !f.Match(&e, &sock) {
					t.Errorf("the kernel sent %v->%v of %v->%v (family %d), which %q excludes",
						e.Old, e.New, e.Local, e.Remote, e.Family, tc.expr)
				}
			}
		})
	}
}

// With Transitions, the kernel counts every state change of the namespace's
// sockets, those TableOnly does not send included, and none of another
// namespace's.
func TestTableOnlyCountsTransitions(t *testing.T) {
	t.Parallel()
	ns, other := nstest.New(t), nstest.New(t)
	c := startCapture(t, Config{Filter: Filter{NetNS: uint32(ns.Inode)}, TableOnly: true,
		Transitions: true, Latency: 10 * time.Millisecond})
	connected(t, other, "127.0.0.1:0", "wait-eof", "close")
	tableOnlyCloses(t, ns, c)
	got, err := c.tr.Transitions()
	if err != nil {
		t.Fatal(err)
	}
	want := map[[2]tcpstate.State]uint64{
		{tcpstate.Close, tcpstate.Listen}:          1,
		{tcpstate.Close, tcpstate.SynSent}:         1,
		{tcpstate.SynSent, tcpstate.Established}:   1,
		{tcpstate.Listen, tcpstate.SynRecv}:        1,
		{tcpstate.SynRecv, tcpstate.Established}:   1,
		{tcpstate.Established, tcpstate.FinWait1}:  1,
		{tcpstate.FinWait1, tcpstate.FinWait2}:     1,
		{tcpstate.FinWait2, tcpstate.TimeWait}:     1,
		{tcpstate.Established, tcpstate.CloseWait}: 1,
		{tcpstate.CloseWait, tcpstate.LastAck}:     1,
		{tcpstate.LastAck, tcpstate.Close}:         1,
	}
	for from := range got {
		for to := range got[from] {
			k := [2]tcpstate.State{tcpstate.State(from), tcpstate.State(to)}
			if n := got.Count(k[0], k[1]); n != want[k] {
				t.Errorf("%v->%v counted %d times, want %d", k[0], k[1], n, want[k])
			}
		}
	}
}

// Every event of a socket names its owner's cgroup v2 id: the inode of the
// owner's cgroup directory, read by the kernel while the owner acted.
// (Both peers share the test's cgroup; TestTraceNamesContainersOfShortLivedProcesses
// in cmd/socktrace tells apart owners in different ones.)
func TestOwnerCgroup(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := traceNS(t, ns, false)
	srv, sport, cport, cpid := clientCloses(t, ns, c, "127.0.0.1:0")
	evs := c.seen
	for _, p := range []struct {
		pid           int
		local, remote uint16
	}{{cpid, cport, sport}, {srv.PID, sport, cport}} {
		want := cgroupInode(t, p.pid)
		owned := 0
		for _, e := range of(evs, p.local, p.remote) {
			if !e.Has(FlagOwnerKnown) {
				continue
			}
			owned++
			if e.Cgroup != want {
				t.Errorf("%v->%v of pid %d: cgroup %d, want %d (its cgroup directory's inode)", e.Old, e.New, e.PID, e.Cgroup, want)
			}
		}
		if owned == 0 {
			t.Errorf("no event of pid %d names its owner", p.pid)
		}
	}
}

// cgroupInode is the inode of pid's cgroup v2 directory.
func cgroupInode(t *testing.T, pid int) uint64 {
	t.Helper()
	mounts, err := snapshot.ReadMounts("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	root := ""
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			root = m.Point
		}
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil || root == "" {
		t.Fatalf("cgroup2 mount %q, /proc/%d/cgroup: %v", root, pid, err)
	}
	for line := range strings.Lines(string(data)) {
		if path, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(root, path), &st); err != nil {
				t.Fatal(err)
			}
			return st.Ino
		}
	}
	t.Fatalf("pid %d is in no cgroup v2: %q", pid, data)
	return 0
}

// When only records the userspace filter drops follow an event, Behind is
// false once Next returned it: a caller that gathers events until then
// writes them out, instead of holding them until the next event that
// passes.
func TestBehindPastDroppedRecords(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	// Events with a lifetime, here the closes, are left to userspace
	// to drop: the kernel does not test lifetimes.
	expr, err := filter.Parse(strings.Fields("not lifetime > 0"), filter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Config{Filter: Filter{NetNS: uint32(ns.Inode), Expr: expr}, TableOnly: true, Latency: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	srv, cli, _, _ := connected(t, ns, "127.0.0.1:0", "wait-eof", "close")
	cli.Send("close")
	cli.Expect("CLOSED")
	srv.Expect("EOF none")
	srv.Send("close")
	srv.Expect("CLOSED")
	time.Sleep(100 * time.Millisecond) // every event is in the ring
	// The listen, the connect and the accept pass; the two closes, last,
	// do not.
	var ev Event
	for i := range 3 {
		if err := tr.Next(&ev); err != nil {
			t.Fatal(err)
		}
		if ev.Has(FlagBornKnown) && ev.Lifetime > 0 {
			t.Fatalf("event %d passed with a lifetime: %v->%v", i, ev.Old, ev.New)
		}
	}
	if ev.Kind != KindAccept {
		t.Fatalf("third event %v %v->%v, want the accept", ev.Kind, ev.Old, ev.New)
	}
	if tr.Behind() {
		t.Error("Behind after the last event that passes, with only dropped records left")
	}
}
