package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/live"
	"github.com/socktrace/socktrace/internal/nstest"
)

// A peer in another namespace, reached over a veth pair, stands for a
// remote host: its close is no event in socktrace's namespace.

// remoteServer listens on args[0] and prints "ready <port>"; it accepts one
// connection, reads it to the client's FIN and prints "eof"; at a line on
// stdin it closes and prints "closed <Unix ns>".
func remoteServer(args []string) error {
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	fmt.Println("ready", l.Addr().(*net.TCPAddr).Port)
	c, err := l.Accept()
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		return err
	}
	fmt.Println("eof")
	return closeOnLine(c)
}

// remoteClient connects to args[0] and prints "port <local port>"; at a
// line on stdin it closes and prints "closed <Unix ns>".
func remoteClient(args []string) error {
	c, err := net.Dial("tcp", args[0])
	if err != nil {
		return err
	}
	fmt.Println("port", c.LocalAddr().(*net.TCPAddr).Port)
	return closeOnLine(c)
}

// closeOnLine closes c at the next line on stdin, says when, and holds
// until stdin closes.
func closeOnLine(c net.Conn) error {
	r := bufio.NewReader(os.Stdin)
	if _, err := r.ReadString('\n'); err != nil {
		return err
	}
	if err := c.Close(); err != nil {
		return err
	}
	fmt.Println("closed", time.Now().UnixNano())
	holdUntilStdinCloses()
	return nil
}

// vethPair joins a and b with a veth pair, with the addresses given (a
// prefix length included) inside each.
func vethPair(t *testing.T, a, b *nstest.NS, addrA, addrB string) {
	t.Helper()
	for _, c := range []struct {
		ns   *nstest.NS
		args string
	}{
		{a, "link add va type veth peer name vb netns " + b.Name},
		{a, "addr add " + addrA + " nodad dev va"},
		{b, "addr add " + addrB + " nodad dev vb"},
		{a, "link set va up"},
		{b, "link set vb up"},
	} {
		if out, err := c.ns.Command("ip", strings.Fields(c.args)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", c.args, err, out)
		}
	}
}

// remoteCloseWait is how long the peer waits after the client's close
// before closing its side.
const remoteCloseWait = 1500 * time.Millisecond

// A client that closes first, to a peer on another host that closes 1.5 s
// later: the client's timewait socket awaits the peer's FIN (netstat lists
// it as FIN_WAIT2), then is in TIME_WAIT, and no event says so in the
// client's namespace. The table every second shows it in TIME_WAIT within
// two tables of the peer's close, as netstat -c would.
func TestLiveRemotePeerClose(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, cli, srv string }{
		{"ipv4", "10.203.0.1/24", "10.203.0.2/24"},
		{"ipv6", "fd00:203::1/64", "fd00:203::2/64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			client, server := nstest.New(t), nstest.New(t)
			vethPair(t, client, server, c.cli, c.srv)
			cliAddr, srvAddr := netip.MustParsePrefix(c.cli).Addr(), netip.MustParsePrefix(c.srv).Addr()
			srv := server.StartPeer(t, "remote-server", netip.AddrPortFrom(srvAddr, 0).String())
			dial := netip.AddrPortFrom(srvAddr, parsePort(t, srv.Expect("ready"))).String()
			run := startLive(t, client, "-tanc", "--json")
			cli := client.StartPeer(t, "remote-client", dial)
			local := netip.AddrPortFrom(cliAddr, parsePort(t, cli.Expect("port"))).String()
			remoteClose(t, run, cli, srv, local, dial)
		})
	}
}

// remoteClose closes the connection local -> remote first on the client's
// side, then on the server's, and checks how soon the client's row shows
// the peer's FIN.
func remoteClose(t *testing.T, run *liveRun, cli, srv *nstest.Peer, local, remote string) {
	t.Helper()
	cli.Send("close")
	closedAt := closedTime(t, cli)
	srv.Expect("eof")
	// The next table may have read the kernel before the close; the one
	// after surely did not.
	n := len(run.tables(t))
	for i := n; ; i++ {
		st, ok := stateOf(run.waitTables(t, i+1)[i], local, remote)
		if ok && st == "FIN_WAIT2" {
			break
		}
		if i > n {
			t.Fatalf("the second table after the client's close shows its row in %q (listed %v), want FIN_WAIT2: awaiting the peer's FIN", st, ok)
		}
	}
	n = len(run.tables(t))
	time.Sleep(time.Until(closedAt.Add(remoteCloseWait)))
	srv.Send("close")
	peerAt := closedTime(t, srv)
	// The first table whose summary comes after the peer's close may have
	// read the kernel before it; the second surely did not. Tables are
	// watched until the first full dump, which shows the change whatever
	// the lookups do.
	after := 0
	for i := n; after < live.FullEvery+2; i++ {
		tb := run.waitTables(t, i+1)[i]
		when, err := time.Parse(time.RFC3339Nano, tb.summary.Time)
		if err != nil {
			t.Fatal(err)
		}
		if !when.After(peerAt) {
			continue
		}
		after++
		st, ok := stateOf(tb, local, remote)
		if !ok {
			t.Fatalf("table %d after the peer's close does not list %s -> %s", after, local, remote)
		}
		if st == "TIME_WAIT" {
			t.Logf("%s -> %s shown in TIME_WAIT in table %d after the peer's close, printed %v after it",
				local, remote, after, when.Sub(peerAt).Round(time.Millisecond))
			if after > 2 {
				t.Errorf("TIME_WAIT shown only %d tables after the peer's close, want within 2", after)
			}
			return
		}
		if st != "FIN_WAIT2" {
			t.Fatalf("table %d after the peer's close shows %s -> %s in %s, want TIME_WAIT", after, local, remote, st)
		}
	}
	t.Errorf("%s -> %s still in FIN_WAIT2 %d tables after the peer's close", local, remote, after)
}

func parsePort(t *testing.T, s string) uint16 {
	t.Helper()
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return uint16(p)
}

// closedTime reads a peer's "closed <Unix ns>" line.
func closedTime(t *testing.T, p *nstest.Peer) time.Time {
	t.Helper()
	ns, err := strconv.ParseInt(p.Expect("closed"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(0, ns)
}

// stateOf is the state of the live row local -> remote in tb.
func stateOf(tb liveTable, local, remote string) (string, bool) {
	for _, r := range tb.rows {
		if r.Local == local && r.Remote == remote && !r.Gone {
			return r.State, true
		}
	}
	return "", false
}
