package tracer

import (
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
	"github.com/socktrace/socktrace/tcpstate"
)

// Resets and retransmits, in a fresh namespace with client and server in
// separate processes: each is counted on the socket it happened to, with
// that socket's owner, although the kernel sends most of them in softirq.

func traceResets(t *testing.T, ns *nstest.NS) *capture {
	return startCapture(t, Config{Filter: Filter{NetNS: uint32(ns.Inode)}, Resets: true, Latency: 10 * time.Millisecond})
}

// ev is what a test expects of a reset or retransmit: the socket's state
// in both Old and New.
func ev(kind Kind, s tcpstate.State, pid int) step { return step{kind: kind, old: s, new: s, pid: pid} }

// checkReason checks the name of the reason of the one reset sent among
// evs.
func checkReason(t *testing.T, c *capture, evs []Event, want string) {
	t.Helper()
	for _, e := range evs {
		if e.Kind == KindResetSent {
			if r := c.tr.ResetReason(e.Reason); r != want {
				t.Errorf("reason %q, want %s", r, want)
			}
			return
		}
	}
	t.Fatalf("no reset sent:\n%s", dump(evs))
}

func hasKind(local, remote uint16, kind Kind) func([]Event) bool {
	return func(evs []Event) bool {
		for _, e := range of(evs, local, remote) {
			if e.Kind == kind {
				return true
			}
		}
		return false
	}
}

// abort has aborter, a peer in mode "linger0" on port from, close; its
// peer on port to reads ECONNRESET. It returns the events up to the reset
// and both sockets' closes.
func abort(t *testing.T, c *capture, aborter, peer *nstest.Peer, from, to uint16) []Event {
	t.Helper()
	aborter.Send("close")
	aborter.Expect("CLOSED")
	peer.Expect("EOF ECONNRESET")
	return c.waitFor(t, wait, "the reset and both closes", all(hasKind(from, to, KindResetSent),
		has(from, to, tcpstate.Established, tcpstate.Close), has(to, from, tcpstate.Established, tcpstate.Close)))
}

// A client that closes with SO_LINGER 0 aborts: close() moves its socket to
// CLOSE and then sends the reset, from the client's own process. The
// server's socket receives it (in softirq, on whatever task was running)
// and closes with ECONNRESET; it sends none.
func TestResetSentByClient(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := traceResets(t, ns)
	srv, cli, sport, cport := connected(t, ns, "127.0.0.1:0", "hold", "linger0")
	evs := abort(t, c, cli, srv, cport, sport)

	assertSteps(t, "client", of(evs, cport, sport), []step{
		st(tcpstate.Close, tcpstate.SynSent, cli.PID), st(tcpstate.SynSent, tcpstate.Established, cli.PID), st(tcpstate.Established, tcpstate.Close, cli.PID),
		ev(KindResetSent, tcpstate.Close, cli.PID),
	})
	reset := st(tcpstate.Established, tcpstate.Close, srv.PID)
	reset.err = syscall.ECONNRESET
	assertSteps(t, "server", of(evs, sport, cport), []step{
		st(tcpstate.Listen, tcpstate.SynRecv, srv.PID), st(tcpstate.SynRecv, tcpstate.Established, srv.PID), acc(tcpstate.Established, srv.PID),
		ev(KindResetReceived, tcpstate.Established, srv.PID), reset,
	})
	checkReason(t, c, evs, "TCP_STATE") // tcp_disconnect's, for SO_LINGER 0
}

// The same the other way round: the server aborts its accepted socket,
// which the server's accept() made its own.
func TestResetSentByServer(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := traceResets(t, ns)
	srv, cli, sport, cport := connected(t, ns, "127.0.0.1:0", "linger0", "wait-eof")
	evs := abort(t, c, srv, cli, sport, cport)

	reset := st(tcpstate.Established, tcpstate.Close, cli.PID)
	reset.err = syscall.ECONNRESET
	assertSteps(t, "client", of(evs, cport, sport), []step{
		st(tcpstate.Close, tcpstate.SynSent, cli.PID), st(tcpstate.SynSent, tcpstate.Established, cli.PID),
		ev(KindResetReceived, tcpstate.Established, cli.PID), reset,
	})
	assertSteps(t, "server", of(evs, sport, cport), []step{
		st(tcpstate.Listen, tcpstate.SynRecv, srv.PID), st(tcpstate.SynRecv, tcpstate.Established, srv.PID), acc(tcpstate.Established, srv.PID),
		st(tcpstate.Established, tcpstate.Close, srv.PID), ev(KindResetSent, tcpstate.Close, srv.PID),
	})
}

// Data for a connection the server has closed, and whose socket is now a
// timewait socket awaiting the client's FIN: the timewait socket answers
// with a reset (its reason says so), which is the server's, the process
// that closed it, from its TIME_WAIT entry, and ends. The client's socket
// receives it in CLOSE_WAIT.
func TestResetFromTimeWait(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := traceResets(t, ns)
	srv, cli, sport, cport := connected(t, ns, "127.0.0.1:0", "close", "wait-send")
	srv.Send("close")
	srv.Expect("CLOSED")
	c.waitFor(t, wait, "the server's TIME_WAIT", has(sport, cport, tcpstate.FinWait2, tcpstate.TimeWait))
	cli.Send("send")
	cli.Expect("SENT")
	cli.Expect("EOF")
	evs := c.waitFor(t, wait, "the reset, the TIME_WAIT end and the client's close", all(
		hasKind(sport, cport, KindTimeWaitEnd), has(cport, sport, tcpstate.CloseWait, tcpstate.Close)))

	assertSteps(t, "server", of(evs, sport, cport), []step{
		st(tcpstate.Listen, tcpstate.SynRecv, srv.PID), st(tcpstate.SynRecv, tcpstate.Established, srv.PID), acc(tcpstate.Established, srv.PID),
		st(tcpstate.Established, tcpstate.FinWait1, srv.PID), st(tcpstate.FinWait1, tcpstate.FinWait2, srv.PID), st(tcpstate.FinWait2, tcpstate.TimeWait, srv.PID),
		ev(KindResetSent, tcpstate.TimeWait, srv.PID), {kind: KindTimeWaitEnd, old: tcpstate.TimeWait, new: tcpstate.Close, pid: srv.PID},
	})
	closed := st(tcpstate.CloseWait, tcpstate.Close, cli.PID)
	closed.err = syscall.EPIPE
	assertSteps(t, "client", of(evs, cport, sport), []step{
		st(tcpstate.Close, tcpstate.SynSent, cli.PID), st(tcpstate.SynSent, tcpstate.Established, cli.PID), st(tcpstate.Established, tcpstate.CloseWait, cli.PID),
		ev(KindResetReceived, tcpstate.CloseWait, cli.PID), closed,
	})
	checkReason(t, c, evs, "TCP_TIMEWAIT_SOCKET")
}

// A connect to a closed port: the kernel answers the SYN with a reset that
// no socket sends (no owner, no state; the tuple is the SYN's, reversed),
// and the client's socket receives it in SYN_SENT.
func TestResetForClosedPort(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{{"ipv4", "127.0.0.1:9"}, {"ipv6", "[::1]:9"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := nstest.New(t)
			c := traceResets(t, ns)
			cli := ns.StartPeer(t, "client", tc.addr, "close")
			cli.Expect("ERR ECONNREFUSED")
			evs := c.waitFor(t, wait, "refused connect", func(evs []Event) bool {
				return len(evs) > 0 && evs[len(evs)-1].New == tcpstate.Close
			})
			if len(evs) != 4 {
				t.Fatalf("want 4 events, got:\n%s", dump(evs))
			}
			// On loopback the reset is sent in the softirq that the
			// SYN's transmit runs, before connect() sends its held
			// CLOSE->SYN_SENT, which keeps its earlier time.
			connect := evs[1]
			cport := connect.Local.Port()
			refused := st(tcpstate.SynSent, tcpstate.Close, cli.PID)
			refused.err = syscall.ECONNREFUSED
			assertSteps(t, "client", of(evs, cport, 9), []step{
				st(tcpstate.Close, tcpstate.SynSent, cli.PID), ev(KindResetReceived, tcpstate.SynSent, cli.PID), refused,
			})
			assertSteps(t, "closed port", of(evs, 9, cport), []step{ev(KindResetSent, 0, -1)})
			if t.Failed() {
				t.FailNow()
			}
			sent := of(evs, 9, cport)[0]
			if want := netip.MustParseAddrPort(tc.addr); sent.Local != want || sent.Remote.Addr() != want.Addr() ||
				sent.Family != connect.Family || sent.NetNS != uint32(ns.Inode) || sent.Sock != 0 {
				t.Errorf("reset for the SYN: %v -> %v, family %d, netns %d, sock %#x; want %v -> the client, family %d, netns %d, no socket",
					sent.Local, sent.Remote, sent.Family, sent.NetNS, sent.Sock, want, connect.Family, ns.Inode)
			}
			checkReason(t, c, evs, "NO_SOCKET")
		})
	}
}

// Segments dropped on their way in (an nftables rule in the namespace, for
// a moment) are sent again by the client, the only side with data in
// flight: every retransmit is the client's, and the close summary's count
// of retransmitted segments is the number of events.
func TestRetransmit(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := traceResets(t, ns)
	srv, cli, sport, cport := connected(t, ns, "127.0.0.1:0", "read-close", "wait-send")
	nft(t, ns, "add table inet socktrace_test")
	nft(t, ns, "add chain inet socktrace_test in { type filter hook input priority 0 ; }")
	nft(t, ns, "add rule inet socktrace_test in tcp dport "+strconv.Itoa(int(sport))+" drop")
	cli.Send("send")
	cli.Expect("SENT")
	c.waitFor(t, wait, "a retransmit", hasKind(cport, sport, KindRetransmit))
	nft(t, ns, "delete table inet socktrace_test")
	srv.Expect("READ none")
	srv.Send("close")
	srv.Expect("CLOSED")
	cli.Expect("EOF none")
	cli.Send("close")
	cli.Expect("CLOSED")
	evs := c.waitFor(t, wait, "both closes", all(
		has(cport, sport, tcpstate.LastAck, tcpstate.Close), has(sport, cport, tcpstate.FinWait2, tcpstate.TimeWait)))

	var retransmits uint32
	for _, e := range evs {
		if e.Kind != KindRetransmit {
			continue
		}
		retransmits++
		if e.Local.Port() != cport || e.Remote.Port() != sport || int(e.PID) != cli.PID ||
			!e.Has(FlagOwnerKnown) || e.Old != tcpstate.Established || e.New != tcpstate.Established {
			t.Errorf("retransmit, want the client's (%d, port %d) in ESTABLISHED:\n%s", cli.PID, cport, dump([]Event{e}))
		}
	}
	client := of(evs, cport, sport)
	last := client[len(client)-1]
	if !last.Has(FlagSummary) || last.Retrans < retransmits {
		t.Fatalf("%d retransmit events; the client's close summary (flags %b) counts %d", retransmits, last.Flags, last.Retrans)
	}
	// A retransmit runs in timer softirq; under load the kernel may skip
	// it as a nested run (a recursion miss), which the tracer reports as
	// lost within a second or so: only a reported loss excuses a shortfall.
	if missing := uint64(last.Retrans - retransmits); missing > 0 {
		if lost := c.lostWithin(2 * time.Second); lost < missing {
			t.Errorf("%d retransmit events; the client's close summary counts %d, and %d events were lost",
				retransmits, last.Retrans, lost)
		}
	}
}

// nft runs one nft command inside the namespace.
func nft(t *testing.T, ns *nstest.NS, cmd string) {
	t.Helper()
	if out, err := ns.Command("nft", cmd).CombinedOutput(); err != nil {
		t.Fatalf("nft %s: %v: %s", cmd, err, out)
	}
}
