package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/nstest"
	"github.com/socktrace/socktrace/internal/top"
)

// topServer listens on args[0], prints "ready", then accepts args[1]
// connections, reads each to its end and closes it, prints "done" and
// waits for stdin to close.
func topServer(args []string) error {
	n, _ := strconv.Atoi(args[1])
	l, err := net.Listen("tcp4", args[0])
	if err != nil {
		return err
	}
	fmt.Println("ready")
	for range n {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, c); err != nil {
			return err
		}
		c.Close()
	}
	fmt.Println("done")
	holdUntilStdinCloses()
	return nil
}

// topClient connects to args[0] args[1] times, one after the other, and
// after each connect, by args[2]: "send" sends a greeting and closes
// (first, so the client ends in TIME_WAIT); "fail" expects the connect to
// fail. Connects to args[3], if given, are made all at once, args[4] of
// them, and expected to fail too. It prints "done" and the errors by
// name, then waits for stdin to close.
func topClient(args []string) error {
	n, _ := strconv.Atoi(args[1])
	var mu sync.Mutex
	errs := map[string]int{}
	dial := func(addr string) {
		c, err := net.Dial("tcp4", addr)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs[errName(err)]++
			return
		}
		if args[2] == "send" {
			_, err = c.Write([]byte("hello"))
		}
		errs[errName(err)]++
		c.Close()
	}
	for range n {
		dial(args[0])
	}
	if len(args) > 4 {
		var wg sync.WaitGroup
		m, _ := strconv.Atoi(args[4])
		for range m {
			wg.Go(func() { dial(args[3]) })
		}
		wg.Wait()
	}
	fmt.Println("done", errs)
	holdUntilStdinCloses()
	return nil
}

func errName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	if err != nil {
		return err.Error()
	}
	return "none"
}

// topRow is a row or summary object of top --json.
type topRow struct {
	Summary       bool
	Other         bool
	IntervalEnd   string  `json:"interval_end"`
	PID           *uint32 `json:"pid"`
	Comm          *string
	Container     *string
	Remote        *string
	LocalPort     *uint16 `json:"local_port"`
	Connects      uint64
	Accepts       uint64
	Failed        json.RawMessage // an object per row, a number in the summary
	ResetsSent    uint64          `json:"resets_sent"`
	ResetsRecv    uint64          `json:"resets_received"`
	Retransmits   uint64
	SynSent       int    `json:"syn_sent"`
	SynRecv       int    `json:"syn_recv"`
	TimeWait      int    `json:"time_wait"`
	ConnectP50    *int64 `json:"connect_p50_us"`
	ConnectP99    *int64 `json:"connect_p99_us"`
	LifetimeP50   *int64 `json:"lifetime_p50_us"`
	LifetimeP99   *int64 `json:"lifetime_p99_us"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	Lost          uint64
}

// topGroup sums a group's rows over every interval; TimeWait and SynSent
// are the last interval's.
type topGroup struct {
	topRow
	failed    map[string]uint64
	intervals int
}

// topRun is socktrace top --json running in a test namespace.
type topRun struct {
	cmd         *exec.Cmd
	out, stderr lockedBuffer
}

func startTop(t *testing.T, ns *nstest.NS, args ...string) *topRun {
	t.Helper()
	r := &topRun{cmd: ns.Peer("socktrace-table", append([]string{"top", "--json", "--netns",
		strconv.FormatUint(ns.Inode, 10)}, args...)...)}
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start socktrace top: %v", err)
	}
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	})
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(r.stderr.String(), "counting TCP connections"); {
		if time.Now().After(deadline) {
			t.Fatalf("socktrace top never started: %q", r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// stop interrupts top, as Ctrl-C does, and sums its rows up by group
// ("pid remote", or "other"), with the summaries under "summary".
func (r *topRun) stop(t *testing.T) map[string]*topGroup {
	t.Helper()
	_ = r.cmd.Process.Signal(os.Interrupt)
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("socktrace top: %v; stderr %q", err, r.stderr.String())
	}
	groups := map[string]*topGroup{}
	sc := bufio.NewScanner(strings.NewReader(r.out.String()))
	for sc.Scan() {
		var row topRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		key := "summary"
		switch {
		case row.Other:
			key = "other"
		case !row.Summary && row.PID == nil && row.Container != nil:
			key = "container " + *row.Container
		case !row.Summary:
			key = fmt.Sprintf("%s %s", fmtPtr(row.PID), fmtPtr(row.Remote))
		}
		g := groups[key]
		if g == nil {
			g = &topGroup{topRow: row, failed: map[string]uint64{}}
			groups[key] = g
		} else {
			g.Connects += row.Connects
			g.Accepts += row.Accepts
			g.ResetsSent += row.ResetsSent
			g.ResetsRecv += row.ResetsRecv
			g.Retransmits += row.Retransmits
			g.BytesSent += row.BytesSent
			g.BytesReceived += row.BytesReceived
			g.Lost += row.Lost
			g.SynSent, g.SynRecv, g.TimeWait, g.IntervalEnd = row.SynSent, row.SynRecv, row.TimeWait, row.IntervalEnd
			if row.ConnectP50 != nil {
				g.ConnectP50 = row.ConnectP50
			}
		}
		g.intervals++
		failed := map[string]uint64{}
		if !row.Summary {
			if err := json.Unmarshal(row.Failed, &failed); err != nil {
				t.Fatalf("failed %s: %v", row.Failed, err)
			}
		}
		for k, v := range failed {
			g.failed[k] += v
		}
	}
	return groups
}

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func groupNames(groups map[string]*topGroup) []string {
	var names []string
	for k := range groups {
		names = append(names, k)
	}
	return names
}

// blackhole gives the namespace an address that never answers: its SYNs
// are dropped on their way in by an nftables rule. Connects there time out
// after one SYN retransmit (1 s, then 2 s).
func blackhole(t *testing.T, ns *nstest.NS) string {
	t.Helper()
	for _, args := range [][]string{
		{"ip", "addr", "add", "10.99.0.2/32", "dev", "lo"},
		{"nft", "add", "table", "inet", "blackhole"},
		{"nft", "add", "chain", "inet", "blackhole", "in", "{ type filter hook input priority 0; }"},
		{"nft", "add", "rule", "inet", "blackhole", "in", "ip", "daddr", "10.99.0.2", "drop"},
		{"sysctl", "-qw", "net.ipv4.tcp_syn_retries=1"},
	} {
		if out, err := ns.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	return "10.99.0.2:80"
}

// The scenario: client A makes 50 connections to a server; client
// B makes 20 connects to a closed port, refused, and 5 to an address that
// never answers, timed out. top's rows say so, each on its owner: A's
// connects, its greetings' bytes and its sockets in TIME_WAIT; B's
// failures by reason; the server's accepts, its clients' ports as "*".
func TestTopScenario(t *testing.T) {
	ns := nstest.New(t)
	hole := blackhole(t, ns)
	byRemote := startTop(t, ns)
	byProcess := startTop(t, ns, "--by", "process", "--sort", "failed")

	srv := ns.StartPeer(t, "top-server", "127.0.0.1:8080", "50")
	srv.Expect("ready")
	a := ns.StartPeer(t, "top-client", "127.0.0.1:8080", "50", "send")
	b := ns.StartPeer(t, "top-client", "127.0.0.1:9", "20", "fail", hole, "5")
	if got := a.Expect("done"); got != "map[none:50]" {
		t.Fatalf("client A: %s, want 50 connections", got)
	}
	srv.Expect("done")
	if got := b.Expect("done"); got != "map[ECONNREFUSED:20 ETIMEDOUT:5]" {
		t.Fatalf("client B: %s, want 20 refused and 5 timed out", got)
	}
	time.Sleep(200 * time.Millisecond) // the ring buffer's latency, 50 ms
	groups := byRemote.stop(t)
	byProc := byProcess.stop(t)

	if sum := groups["summary"]; sum.Lost != 0 {
		t.Logf("the kernel lost %d events: counts may fall short", sum.Lost)
	}
	aKey, bRefused, bHole := fmt.Sprintf("%d 127.0.0.1:8080", a.PID), fmt.Sprintf("%d 127.0.0.1:9", b.PID),
		fmt.Sprintf("%d %s", b.PID, hole)
	srvKey := fmt.Sprintf("%d 127.0.0.1:*", srv.PID)
	for _, k := range []string{aKey, bRefused, bHole, srvKey} {
		if groups[k] == nil {
			t.Fatalf("no row %q; rows %q", k, groupNames(groups))
		}
	}
	if g := groups[aKey]; g.Connects != 50 || len(g.failed) != 0 || g.Accepts != 0 || g.BytesSent != 250 ||
		g.TimeWait != 50 || g.SynSent != 0 || g.ConnectP50 == nil || g.LifetimeP50 == nil || *g.Comm != "socktrace.test" {
		t.Errorf("client A's row: %+v, failed %v; want 50 connects, none failed, 250 bytes sent, 50 in TIME_WAIT", g.topRow, g.failed)
	}
	if g := groups[bRefused]; g.Connects != 20 || g.failed["ECONNREFUSED"] != 20 || len(g.failed) != 1 || g.BytesSent != 0 {
		t.Errorf("client B's refused row: %+v, failed %v; want 20 connects, 20 ECONNREFUSED", g.topRow, g.failed)
	}
	if g := groups[bHole]; g.Connects != 5 || g.failed["ETIMEDOUT"] != 5 || len(g.failed) != 1 || g.SynSent != 0 {
		t.Errorf("client B's blackholed row: %+v, failed %v; want 5 connects, 5 ETIMEDOUT", g.topRow, g.failed)
	}
	// Each blackholed connect retransmitted its SYN before it gave up; each
	// refused one received the reset that the kernel sent for its SYN, on
	// behalf of no process.
	sum := groups["summary"]
	if g := groups[bHole]; g.Retransmits < 5 || g.Retransmits != sum.Retransmits {
		t.Errorf("client B's blackholed row: %d retransmits, want every one of the namespace's %d, at least 5",
			g.Retransmits, sum.Retransmits)
	}
	if g := groups[bRefused]; g.ResetsRecv != 20 || g.ResetsSent != 0 {
		t.Errorf("client B's refused row: %d resets received, %d sent; want 20 and 0", g.ResetsRecv, g.ResetsSent)
	}
	if g := groups["0 127.0.0.1:*"]; g == nil || g.ResetsSent != 20 || *g.Comm != "" || sum.ResetsSent != 20 {
		t.Errorf("resets for SYNs to a closed port: row %+v, summary %d; want 20, of no process", g, sum.ResetsSent)
	}
	if g := groups[srvKey]; g.Accepts != 50 || g.Connects != 0 || g.BytesReceived != 250 || g.LocalPort == nil || *g.LocalPort != 8080 {
		t.Errorf("server's row: %+v; want 50 accepts, 250 bytes received, on local port 8080", g.topRow)
	}
	if sum.Connects != 75 || sum.Accepts != 50 {
		t.Errorf("summaries: %d connects, %d accepts; want 75 and 50", sum.Connects, sum.Accepts)
	}

	// --by process: B is one row, both reasons in it.
	bProc := fmt.Sprintf("%d null", b.PID)
	if g := byProc[bProc]; g == nil || g.failed["ECONNREFUSED"] != 20 || g.failed["ETIMEDOUT"] != 5 || g.Connects != 25 {
		t.Errorf("--by process, client B: %+v; want 20 ECONNREFUSED and 5 ETIMEDOUT (rows %q)", g, groupNames(byProc))
	}
	if g := byProc[fmt.Sprintf("%d null", srv.PID)]; g == nil || g.Accepts != 50 {
		t.Errorf("--by process, server: %+v; want 50 accepts", g)
	}
}

// Before any event, top --json still ends each interval with a summary,
// and a closed stdout ends it cleanly.
func TestTopJSONSummaries(t *testing.T) {
	ns := nstest.New(t)
	r := startTop(t, ns, "--interval", "200ms")
	time.Sleep(time.Second) // five intervals: three at least, on a loaded machine
	groups := r.stop(t)
	if sum := groups["summary"]; sum == nil || sum.intervals < 3 || len(groups) != 1 {
		t.Errorf("groups %q, summary %+v: want only summaries, at least 3", groupNames(groups), sum)
	}
	if !strings.Contains(r.stderr.String(), "socktrace: ") || !lossSummary.MatchString(r.stderr.String()) {
		t.Errorf("no loss summary at exit: %q", r.stderr.String())
	}
}

var tmuxCount atomic.Int32

// tmux is a tmux server of the test's own, on its own socket: killing it
// touches no other tmux.
type tmux struct {
	t      *testing.T
	socket string
}

func newTmux(t *testing.T) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("needs tmux for a real terminal: %v", err)
	}
	x := &tmux{t: t, socket: fmt.Sprintf("socktrace-test-%d-%d", os.Getpid(), tmuxCount.Add(1))}
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", x.socket, "kill-server").Run() })
	return x
}

func (x *tmux) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", x.socket}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %q: %v: %s", args, err, out)
	}
	return strings.TrimRight(string(out), "\n")
}

func (x *tmux) pane() string { return x.run("capture-pane", "-p", "-t", "top") }

func (x *tmux) waitPane(what string, done func(pane string) bool) string {
	x.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		p := x.pane()
		if done(p) {
			return p
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("no %s on the terminal; it shows:\n%s", what, p)
		}
	}
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// On a terminal, top redraws in place on the alternate screen, and on q,
// Ctrl-C or SIGTERM leaves it, with the terminal's modes as they were.
func TestTopTerminal(t *testing.T) {
	ns := nstest.New(t)
	for _, stop := range []string{"q", "C-c", "SIGTERM"} {
		t.Run(stop, func(t *testing.T) {
			x := newTmux(t)
			peer := ns.Peer("socktrace-table", "top", "--netns", strconv.FormatUint(ns.Inode, 10))
			var cmd []string
			for _, a := range peer.Args {
				cmd = append(cmd, shellQuote(a))
			}
			script := filepath.Join(t.TempDir(), "run.sh")
			// The shell outlives a Ctrl-C meant for socktrace (a trap with a
			// command, unlike an ignored signal, is not inherited), and
			// then prints socktrace's exit status and the terminal's modes.
			body := "trap true INT\nexport SOCKTRACE_PEER_ROLE=socktrace-table\n" + strings.Join(cmd, " ") +
				"\necho EXIT=$?\nstty -a\necho END\nsleep 120\n"
			if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			x.run("new-session", "-d", "-s", "top", "-x", "150", "-y", "12", "sh "+script)

			header := func(p string) string { first, _, _ := strings.Cut(p, "\n"); return first }
			first := header(x.waitPane("table", func(p string) bool {
				return strings.HasPrefix(p, "socktrace top ") && strings.Contains(p, "\nPID ")
			}))
			client := ns.StartPeer(t, "top-client", "127.0.0.1:9", "1", "fail")
			client.Expect("done")
			p := x.waitPane("client's row, redrawn", func(p string) bool {
				return header(p) != first && strings.Contains(p, "\n"+strconv.Itoa(client.PID)+" ")
			})
			if !strings.HasPrefix(p, "socktrace top ") || strings.Count(p, "socktrace top ") != 1 {
				t.Errorf("not redrawn in place:\n%s", p)
			}
			if !strings.Contains(p, "ECONNREFUSED 1") {
				t.Errorf("no refused connect on the client's row:\n%s", p)
			}
			if got := x.run("display", "-p", "-t", "top", "#{alternate_on}"); got != "1" {
				t.Errorf("alternate_on %s while running, want 1", got)
			}

			if stop == "SIGTERM" {
				shell := x.run("display", "-p", "-t", "top", "#{pane_pid}")
				kids, err := os.ReadFile(fmt.Sprintf("/proc/%s/task/%s/children", shell, shell))
				pid, _ := strconv.Atoi(strings.TrimSpace(string(kids)))
				if err != nil || pid == 0 {
					t.Fatalf("socktrace's pid, a child of %s: %q, %v", shell, kids, err)
				}
				if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			} else {
				x.run("send-keys", "-t", "top", stop)
			}
			p = x.waitPane("exit", func(p string) bool { return strings.Contains(p, "\nEND") })
			if !strings.Contains(p, "EXIT=0") || !lossSummary.MatchString(p) {
				t.Errorf("no clean exit with the loss summary:\n%s", p)
			}
			if strings.Contains(p, "socktrace top ") {
				t.Errorf("the table is on the main screen:\n%s", p)
			}
			if got := x.run("display", "-p", "-t", "top", "#{alternate_on}"); got != "0" {
				t.Errorf("alternate_on %s after exit, want 0", got)
			}
			// stty -a, run after socktrace on the same terminal.
			if !strings.Contains(p, " icanon ") || !strings.Contains(p, " echo ") {
				t.Errorf("the terminal's modes are not restored (icanon, echo):\n%s", p)
			}
		})
	}
}

// Bad flags get one line that says what is wanted, before any tracing.
func TestTopRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--by", "pid"},
		{"--by", ""},
		{"--sort", "speed"},
		{"--interval", "0s"},
		{"--interval", "-1s"},
		{"--max-keys", "0"},
		{"-n", "-1"},
		{"--comm", "a-name-longer-than-15"},
		{"--state", "TIMEWAIT"},
	} {
		cmd := newRootCmd()
		var out, errOut bytes.Buffer
		cmd.SetArgs(append([]string{"top"}, args...))
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		err := cmd.Execute()
		if err != nil {
			// A usage error's second line points to --help.
			msg, _, _ := strings.Cut(err.Error(), "\nTry 'socktrace top --help'")
			err = errors.New(msg)
		}
		if err == nil || strings.Contains(err.Error(), "\n") || out.Len() > 0 {
			t.Errorf("top %q: error %v, output %q; want a one-line error", args, err, out.String())
		}
	}
}

// top --help names every column of the table, every --sort name and every
// --json field the issue asks for.
func TestTopHelp(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"top", "--help"})
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	want := []string{"CONN/s", "ACC/s", "FAIL/s", "REASONS", "RST-OUT/s", "RST-IN/s", "RETX/s", "SYN_SENT",
		"SYN_RECV", "TIME_WAIT", "CONN-P50", "CONN-P99", "LIFE-P50", "LIFE-P99", "RECV/s", "SENT/s"}
	want = append(want, top.ColumnNames()...)
	want = append(want, top.ByNames()...)
	want = append(want, "interval_end", "pid", "comm", "remote", "local_port", "connects", "accepts",
		"failed", "resets_sent", "resets_received", "retransmits", "syn_sent", "syn_recv", "time_wait",
		"connect_p50_us", "connect_p99_us", "lifetime_p50_us", "lifetime_p99_us", "bytes_sent",
		"bytes_received", `{"summary": true`, "lost")
	for _, w := range want {
		if !strings.Contains(help, w) {
			t.Errorf("top --help lacks %q", w)
		}
	}
}

// topPeer is one side of a connection: args[0] "server" (listen on
// args[1], print "ready", accept one) or "client" (connect to args[1],
// print "connected"), then by args[2]: "linger0" waits for a line on
// stdin and closes with a reset; "read" reads to the end (printing "read
// N" and the error) and closes; "send" waits for a line on stdin, sends a
// greeting, prints "sent" and waits for another line before it closes. It
// prints "done" and waits for stdin to close.
func topPeer(args []string) error {
	var c net.Conn
	if args[0] == "server" {
		l, err := net.Listen("tcp4", args[1])
		if err != nil {
			return err
		}
		fmt.Println("ready")
		if c, err = l.Accept(); err != nil {
			return err
		}
	} else {
		var err error
		if c, err = net.Dial("tcp4", args[1]); err != nil {
			return err
		}
		fmt.Println("connected")
	}
	in := bufio.NewReader(os.Stdin)
	switch args[2] {
	case "linger0":
		_, _ = in.ReadString('\n')
		_ = c.(*net.TCPConn).SetLinger(0)
	case "read":
		n, err := io.Copy(io.Discard, c)
		fmt.Println("read", n, errName(err))
	case "send":
		_, _ = in.ReadString('\n')
		if _, err := c.Write([]byte("hello")); err != nil {
			return err
		}
		fmt.Println("sent")
		_, _ = in.ReadString('\n')
	}
	c.Close()
	fmt.Println("done")
	holdUntilStdinCloses()
	return nil
}

// Resets both ways and retransmits, each on its socket's owner: a client
// and then a server close with SO_LINGER 0 (the one that closes sends the
// reset, its peer receives it), and a client sends while an nftables rule
// drops what reaches its server (it retransmits; the server does not).
func TestTopResetsAndRetransmits(t *testing.T) {
	ns := nstest.New(t)
	r := startTop(t, ns)

	s1 := ns.StartPeer(t, "top-peer", "server", "127.0.0.1:8080", "read")
	s1.Expect("ready")
	a := ns.StartPeer(t, "top-peer", "client", "127.0.0.1:8080", "linger0")
	a.Expect("connected")
	a.Send("close")
	a.Expect("done")
	if got := s1.Expect("read"); got != "0 ECONNRESET" {
		t.Fatalf("server 1 read %s, want a reset", got)
	}

	s2 := ns.StartPeer(t, "top-peer", "server", "127.0.0.1:8081", "linger0")
	s2.Expect("ready")
	b := ns.StartPeer(t, "top-peer", "client", "127.0.0.1:8081", "read")
	b.Expect("connected")
	s2.Send("close")
	s2.Expect("done")
	if got := b.Expect("read"); got != "0 ECONNRESET" {
		t.Fatalf("client B read %s, want a reset", got)
	}

	s3 := ns.StartPeer(t, "top-peer", "server", "127.0.0.1:8082", "read")
	s3.Expect("ready")
	c := ns.StartPeer(t, "top-peer", "client", "127.0.0.1:8082", "send")
	c.Expect("connected")
	nft := func(args ...string) {
		t.Helper()
		if out, err := ns.Command("nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %q: %v: %s", args, err, out)
		}
	}
	nft("add", "table", "inet", "hold")
	nft("add", "chain", "inet", "hold", "in", "{ type filter hook input priority 0; }")
	nft("add", "rule", "inet", "hold", "in", "tcp", "dport", "8082", "drop")
	c.Send("send")
	c.Expect("sent")
	// The retransmit timeout is at least 200 ms: a second of drops takes
	// the first retransmits.
	time.Sleep(time.Second)
	nft("delete", "table", "inet", "hold")
	c.Send("close")
	if got := s3.Expect("read"); got != "5 none" {
		t.Fatalf("server 3 read %s, want the greeting", got)
	}
	c.Expect("done")
	time.Sleep(200 * time.Millisecond) // the ring buffer's latency, 50 ms
	groups := r.stop(t)

	for _, tc := range []struct {
		who                   string
		key                   string
		sent, received, retrs uint64
	}{
		{"client A (linger 0)", fmt.Sprintf("%d 127.0.0.1:8080", a.PID), 1, 0, 0},
		{"server 1", fmt.Sprintf("%d 127.0.0.1:*", s1.PID), 0, 1, 0},
		{"server 2 (linger 0)", fmt.Sprintf("%d 127.0.0.1:*", s2.PID), 1, 0, 0},
		{"client B", fmt.Sprintf("%d 127.0.0.1:8081", b.PID), 0, 1, 0},
		{"server 3", fmt.Sprintf("%d 127.0.0.1:*", s3.PID), 0, 0, 0},
	} {
		g := groups[tc.key]
		if g == nil {
			t.Errorf("%s: no row %q; rows %q", tc.who, tc.key, groupNames(groups))
			continue
		}
		if g.ResetsSent != tc.sent || g.ResetsRecv != tc.received || g.Retransmits != tc.retrs {
			t.Errorf("%s: %d resets sent, %d received, %d retransmits; want %d, %d, %d",
				tc.who, g.ResetsSent, g.ResetsRecv, g.Retransmits, tc.sent, tc.received, tc.retrs)
		}
	}
	sum := groups["summary"]
	if g := groups[fmt.Sprintf("%d 127.0.0.1:8082", c.PID)]; g == nil || g.Retransmits == 0 || g.Retransmits != sum.Retransmits {
		t.Errorf("client C: %+v; want every retransmit of the namespace (%d), at least one", g, sum.Retransmits)
	}
	if sum.ResetsSent != 2 || sum.ResetsRecv != 2 {
		t.Errorf("summaries: %d resets sent, %d received; want 2 and 2", sum.ResetsSent, sum.ResetsRecv)
	}
}

// Half-open connections: a server listens and does not accept, and an
// nftables rule drops every bare ACK toward it, so the clients' final ACKs
// never come and the server's side of each connection stays a request
// socket in SYN_RECV. No tracepoint reports one (the trace shows only the
// clients' connects); top reads them from the socket table and counts
// them on the listener's owner's row, exactly.
func TestTopSynRecv(t *testing.T) {
	ns := nstest.New(t)
	for _, args := range [][]string{
		{"add", "table", "inet", "handshake"},
		{"add", "chain", "inet", "handshake", "in", "{ type filter hook input priority 0; }"},
		{"add", "rule", "inet", "handshake", "in", "tcp", "dport", "8080", "tcp", "flags", "&", "(syn|ack|fin|rst)", "==", "ack", "drop"},
	} {
		if out, err := ns.Command("nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %q: %v: %s", args, err, out)
		}
	}
	r := startTop(t, ns, "--interval", "300ms")
	trace := ns.Peer("socktrace-table", "trace", "--json", "--netns", strconv.FormatUint(ns.Inode, 10))
	var traceOut, traceErr lockedBuffer
	trace.Stdout, trace.Stderr = &traceOut, &traceErr
	if err := trace.Start(); err != nil {
		t.Fatalf("start socktrace trace: %v", err)
	}
	t.Cleanup(func() { _ = trace.Process.Kill(); _ = trace.Wait() })
	waitStarted(t, &traceErr)
	srv := ns.StartPeer(t, "top-peer", "server", "127.0.0.1:8080", "read")
	srv.Expect("ready")
	const n = 3
	var clients []*nstest.Peer
	for range n {
		c := ns.StartPeer(t, "top-peer", "client", "127.0.0.1:8080", "send")
		c.Expect("connected")
		clients = append(clients, c)
	}
	time.Sleep(time.Second) // three intervals, all with the connections half-open
	groups := r.stop(t)
	_ = trace.Process.Signal(os.Interrupt)
	if err := trace.Wait(); err != nil {
		t.Fatalf("socktrace trace: %v; stderr %q", err, traceErr.String())
	}

	srvKey := fmt.Sprintf("%d 127.0.0.1:*", srv.PID)
	g := groups[srvKey]
	if g == nil {
		t.Fatalf("no row for the server %q; rows %q", srvKey, groupNames(groups))
	}
	if g.SynRecv != n || g.Accepts != 0 || g.intervals < 2 {
		t.Errorf("server's row: %d SYN_RECV, %d accepts over %d intervals; want %d half-open, none accepted",
			g.SynRecv, g.Accepts, g.intervals, n)
	}
	if sum := groups["summary"]; sum.SynRecv != n {
		t.Errorf("summary: %d SYN_RECV, want %d", sum.SynRecv, n)
	}
	for _, c := range clients {
		if cg := groups[fmt.Sprintf("%d 127.0.0.1:8080", c.PID)]; cg == nil || cg.Connects != 1 || cg.SynRecv != 0 {
			t.Errorf("client %d's row: %+v; want 1 connect, no SYN_RECV", c.PID, cg)
		}
	}
	// The kernel itself says nothing of them: no event on the server's
	// side but its listen.
	for _, line := range strings.Split(strings.TrimSpace(traceOut.String()), "\n") {
		var ev struct {
			PID      int
			NewState string `json:"new_state"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if ev.PID == srv.PID && ev.NewState != "LISTEN" {
			t.Errorf("an event on the server's side: %s", line)
		}
	}
}

// top takes the filter words too, and the kernel tests them: with dport =
// :7001, three refused connects to 7001 are counted and three to 7002 are
// neither counted nor sent by the kernel.
func TestTopFilter(t *testing.T) {
	ns := nstest.New(t)
	r := startTop(t, ns, "--interval", "200ms", "dport", "=", ":7001")
	for _, port := range []string{"7001", "7002"} {
		for range 3 {
			sh(t, ns, "(exec 3<>/dev/tcp/127.0.0.1/"+port+") 2>/dev/null; true")
		}
	}
	time.Sleep(500 * time.Millisecond) // two intervals past the connects
	groups := r.stop(t)
	sum := groups["summary"]
	if sum == nil || sum.Connects != 3 {
		t.Errorf("summaries %+v: want 3 connects, those to 7001", sum)
	}
	for name, g := range groups {
		if g.Remote != nil && !strings.HasSuffix(*g.Remote, ":7001") {
			t.Errorf("row %s counts connects to %s", name, *g.Remote)
		}
	}
	if m := sentSummary.FindStringSubmatch(r.stderr.String()); m == nil || m[1] != "9" {
		t.Errorf("the kernel sent %v events, want 9 (connect, close, reset received, of three connects): %s", m, r.stderr.String())
	}
}
