package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
	"golang.org/x/sys/unix"
)

// Ctrl-C and SIGTERM cancel the command's context: the trace must detach,
// print its summary and return without error within a second.
func TestTraceStopsOnCancel(t *testing.T) {
	nstest.RequireRoot(t)
	run := startTrace(t, &traceOptions{ringMiB: 1, latency: 50 * time.Millisecond, port: 1})
	run.cancel()
	start := time.Now()
	select {
	case err := <-run.done:
		if err != nil {
			t.Fatalf("trace returned %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("trace still running a second after cancel")
	}
	t.Logf("stopped in %v", time.Since(start))
	if !lossSummary.MatchString(run.errOut.String()) {
		t.Errorf("no loss summary in %q", run.errOut.String())
	}
	if !strings.HasPrefix(run.out.String(), "TIME ") {
		t.Errorf("no header: %q", run.out.String())
	}
}

// A reader that goes away (socktrace trace | head) ends the trace as Ctrl-C
// does: exit 0 with the loss summary, not death by SIGPIPE.
func TestTraceEndsWhenStdoutCloses(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	port := unusedPort(t)
	var errOut lockedBuffer
	cmd := ns.Peer("socktrace-table", "trace", "--json", "--latency", "10ms", "--port", strconv.Itoa(port))
	cmd.Stderr = &errOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitStarted(t, &errOut)
	refuse := func() { _, _ = net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))) }
	refuse()
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatalf("no first line: %v", err)
	}
	stdout.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for deadline := time.Now().Add(5 * time.Second); ; refuse() {
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("trace ended with %v, want exit 0; stderr %q", err, errOut.String())
			}
			if !lossSummary.MatchString(errOut.String()) {
				t.Errorf("no loss summary: %q", errOut.String())
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace still running 5 s after its stdout closed")
		}
	}
}

// unusedPort returns a loopback port nobody listens on: connects to it are
// refused.
func unusedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitStarted waits for the trace's "tracing" line on stderr.
func waitStarted(t *testing.T, stderr *lockedBuffer) {
	t.Helper()
	waitOutput(t, stderr, "tracing TCP state changes", 10*time.Second, "never started")
}

// waitOutput waits up to d for buf to hold want; then it fails t with
// missing and what buf holds.
func waitOutput(t *testing.T, buf *lockedBuffer, want string, d time.Duration, missing string) {
	t.Helper()
	for deadline := time.Now().Add(d); !strings.Contains(buf.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q", missing, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// traceRun is runTrace running in this process, its output in buffers
// read here while it writes.
type traceRun struct {
	out, errOut lockedBuffer
	cancel      context.CancelFunc
	done        chan error
}

// startTrace runs runTrace with o until stop or the end of t, and waits
// for it to start.
func startTrace(t *testing.T, o *traceOptions) *traceRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &traceRun{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- runTrace(ctx, &r.out, &r.errOut, o) }()
	waitStarted(t, &r.errOut)
	return r
}

// stop cancels the trace, as Ctrl-C does, and returns what runTrace
// returned.
func (r *traceRun) stop() error {
	r.cancel()
	return <-r.done
}

func TestTraceRejectsBadFlags(t *testing.T) {
	for _, o := range []traceOptions{
		{ringMiB: 3, latency: time.Millisecond},
		{ringMiB: 0, latency: time.Millisecond},
		{ringMiB: 4096, latency: time.Millisecond}, // 2^32 bytes: the kernel's u32 wraps to 0
		{ringMiB: 1 << 20, latency: time.Millisecond},
		{ringMiB: 1, latency: 0},
		{ringMiB: 1, latency: time.Millisecond, states: []string{"TIMEWAIT"}},
		{ringMiB: 1, latency: time.Millisecond, states: []string{"SYN_SENT", ""}},
		{ringMiB: 1, latency: time.Millisecond, comm: "a-name-longer-than-15"},
		{ringMiB: 1, latency: time.Millisecond, netns: "/no/such/ns"},
	} {
		if _, err := o.config(); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: err %v, want a one-line error", o, err)
		}
	}
	for _, mib := range []int{1, 8, 2048} {
		o := traceOptions{ringMiB: mib, latency: time.Millisecond}
		if cfg, err := o.config(); err != nil || cfg.RingBytes != mib<<20 {
			t.Errorf("--ring-mib %d: %d bytes, %v", mib, cfg.RingBytes, err)
		}
	}
}

// The event log reaches stdout while the trace runs, not only at its end:
// a refused connect's two events appear as JSON lines well before the trace
// stops (--latency is 50ms; the bound is generous for a loaded machine).
func TestTraceStreamsJSON(t *testing.T) {
	nstest.RequireRoot(t)
	port := unusedPort(t)
	run := startTrace(t, &traceOptions{json: true, ringMiB: 1, latency: 50 * time.Millisecond, port: uint16(port)})
	if _, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
		t.Fatalf("port %d accepted a connection", port)
	}
	remote := "127.0.0.1:" + strconv.Itoa(port)
	waitOutput(t, &run.out, `"error":"ECONNREFUSED"`, 5*time.Second, "no refused close on stdout while tracing")
	if err := run.stop(); err != nil {
		t.Fatalf("trace returned %v", err)
	}
	// The kernel refuses the SYN with a reset that no socket sends, from
	// the port (on loopback, often before the connect's own event), and
	// the connecting socket receives it in SYN_SENT.
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(run.out.String()), "\n") {
		var ev struct {
			Event, Local, Remote, Error, Reason string
			NewState                            string `json:"new_state"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if ev.Remote != remote && ev.Local != remote {
			t.Errorf("--port %d let through an event of %s -> %s", port, ev.Local, ev.Remote)
		}
		got = append(got, strings.TrimSpace(ev.Event+" "+ev.NewState+" "+ev.Error+ev.Reason))
	}
	slices.Sort(got)
	want := []string{"close CLOSE ECONNREFUSED", "connect SYN_SENT", "reset_received SYN_SENT", "reset_sent UNKNOWN NO_SOCKET"}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q in any order", got, want)
	}
}

// lockedBuffer is a bytes.Buffer that one goroutine may read while another
// writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// trace --help teaches the log: every event kind, every column, the
// --state names and the --json fields.
func TestTraceHelp(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"trace", "--help"})
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	var want []string
	for _, ev := range []tracer.Event{
		{Kind: tracer.KindState, Old: tcpstate.Close, New: tcpstate.SynSent},
		{Kind: tracer.KindAccept},
		{Kind: tracer.KindState, Old: tcpstate.SynSent, New: tcpstate.Established},
		{Kind: tracer.KindState, Old: tcpstate.FinWait1, New: tcpstate.Close},
		{Kind: tracer.KindTimeWaitEnd},
		{Kind: tracer.KindResetSent},
		{Kind: tracer.KindResetReceived},
		{Kind: tracer.KindRetransmit},
		{Kind: tracer.KindLost},
	} {
		want = append(want, "\n  "+render.EventName(&ev)+" ")
	}
	for _, col := range strings.Fields(render.EventHeader) {
		want = append(want, "\n  "+col)
	}
	want = append(want, tcpstate.Names()...)
	for _, w := range want {
		if !strings.Contains(help, w) {
			t.Errorf("trace --help lacks %q", w)
		}
	}
	// docs/DESIGN.md's JSON contract, and the flag of a TIME_WAIT that netstat
	// still lists as FIN_WAIT2.
	_, jsonHelp, _ := strings.Cut(help, "--json prints")
	for _, field := range []string{"time", "event", "pid", "comm", "proto", "local", "remote",
		"old_state", "new_state", "error", `"awaiting_fin": true`, "FIN_WAIT2", "at reset_sent: reason"} {
		if !strings.Contains(jsonHelp, field) {
			t.Errorf("trace --help's --json paragraph lacks %q", field)
		}
	}
}

// The --state names in the help are tcpstate's: each parses, and they are
// the whole list tcpstate.Parse offers.
func TestTraceStateNames(t *testing.T) {
	names := tcpstate.Names()
	if len(names) != 11 {
		t.Fatalf("%d state names, want the kernel's 11 (ESTABLISHED to CLOSING): %q", len(names), names)
	}
	for _, n := range names {
		for _, in := range []string{n, strings.ToLower(n)} {
			if st, err := tcpstate.Parse(in); err != nil || st.String() != n {
				t.Errorf("tcpstate.Parse(%q) = %v, %v", in, st, err)
			}
		}
	}
	_, err := tcpstate.Parse("nope")
	if err == nil || !strings.Contains(err.Error(), strings.Join(names, ", ")+")") {
		t.Errorf("tcpstate.Parse's list %v is not %q", err, names)
	}
}

// --netns takes an inode number, a path, or an "ip netns" name; anything
// else is one line that says which forms are taken.
func TestParseNetNS(t *testing.T) {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &self); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want uint32
	}{
		{"", 0},
		{"4026531840", 4026531840},
		{"/proc/self/ns/net", uint32(self.Ino)},
	} {
		if got, err := netnsFilter(tc.in); err != nil || got != tc.want {
			t.Errorf("%q: %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	missing := fmt.Sprintf("socktrace-none-%d", os.Getpid())
	for _, tc := range []struct{ in, want string }{
		{missing, "--netns " + missing + ": /run/netns/" + missing + ": no such file or directory; " + netnsForms},
		{"/no/such/ns", "--netns /no/such/ns: no such file or directory; " + netnsForms},
		{"/etc/passwd", "--netns /etc/passwd: not a namespace file; " + netnsForms},
		{"99999999999", "--netns 99999999999: an inode number is at most 4294967295; " + netnsForms},
		{"0", "--netns 0: no namespace has inode 0; " + netnsForms},
	} {
		if _, err := netnsFilter(tc.in); err == nil || err.Error() != tc.want {
			t.Errorf("%q: error %q, want %q", tc.in, err, tc.want)
		}
	}
	for _, form := range []string{`"ip netns"`, "/run/netns/NAME", "/proc/PID/ns/net", "inode number"} {
		if !strings.Contains(netnsForms, form) {
			t.Errorf("the --netns error does not name %s", form)
		}
	}
	// A bare name that only a file here has is that file.
	t.Chdir(t.TempDir())
	if err := os.WriteFile("plain", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := netnsFilter("plain"); err == nil || err.Error() != "--netns plain: not a namespace file; "+netnsForms {
		t.Errorf("a file here: error %q", err)
	}
	// A name made by ip netns add.
	ns := nstest.New(t)
	if got, err := netnsFilter(ns.Name); err != nil || uint64(got) != ns.Inode {
		t.Errorf("%q: %d, %v; want %d", ns.Name, got, err, ns.Inode)
	}
}

// --netns with an inode no namespace has starts with a warning, as --pid
// with no such process does; a namespace that exists gets none.
func TestTraceWarnsOfUnknownNetNS(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	for _, tc := range []struct {
		netns string
		warn  bool
	}{
		{"12345", true},
		{strconv.FormatUint(ns.Inode, 10), false},
	} {
		run := startTrace(t, &traceOptions{ringMiB: 1, latency: 50 * time.Millisecond, netns: tc.netns})
		if err := run.stop(); err != nil {
			t.Fatalf("--netns %s: %v", tc.netns, err)
		}
		want := "socktrace: warning: no network namespace with inode " + tc.netns +
			" is in /run/netns or used by a process: nothing to show unless one is\n"
		if got := strings.Contains(run.errOut.String(), want); got != tc.warn {
			t.Errorf("--netns %s: warned %v, want %v; stderr:\n%s", tc.netns, got, tc.warn, run.errOut.String())
		}
	}
}

// trace's expression runs in the kernel: for one that no event passes,
// the kernel sends nothing at all (the summary's count of what it sent),
// while an expression whose test only userspace can make (lifetime) has
// the kernel send every event and userspace drop them.
func TestTraceFiltersInTheKernel(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	for _, tc := range []struct {
		expr     string
		kernelOK bool // the kernel decides it alone
	}{
		{"dport = :9999", true},
		{"dport = :9999 or lifetime > 1h", false},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errOut lockedBuffer
		done := make(chan error, 1)
		go func() {
			done <- runTrace(ctx, &out, &errOut, &traceOptions{ringMiB: 1, latency: 10 * time.Millisecond,
				netns: ns.Name, filter: strings.Fields(tc.expr)})
		}()
		waitStarted(t, &errOut)
		// 20 refused connects: two events each.
		sh(t, ns, `for i in $(seq 20); do (exec 3<>/dev/tcp/127.0.0.1/1) 2>/dev/null; done; true`)
		time.Sleep(100 * time.Millisecond) // past --latency: the ring is read
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		m := sentSummary.FindStringSubmatch(errOut.String())
		if m == nil || !lossSummary.MatchString(errOut.String()) {
			t.Fatalf("%s: no summary of what the kernel sent: %q", tc.expr, errOut.String())
		}
		delivered, _ := strconv.Atoi(lossSummary.FindStringSubmatch(errOut.String())[1])
		sent, _ := strconv.Atoi(m[1])
		if delivered != 0 || out.String() != render.EventHeader {
			t.Errorf("%s: %d events shown: %q", tc.expr, delivered, out.String())
		}
		if tc.kernelOK && sent != 0 {
			t.Errorf("%s: the kernel sent %d events, want none", tc.expr, sent)
		}
		if !tc.kernelOK && sent < 40 {
			t.Errorf("%s: the kernel sent %d events, want the 40 of 20 refused connects", tc.expr, sent)
		}
	}
}

var sentSummary = regexp.MustCompile(`(?m)^socktrace: the kernel sent (\d+) events; the filter took out (\d+) of them in userspace$`)

// A filter mistake is said before anything is loaded: the column, the
// word, and the expression with the word marked.
func TestTraceFilterErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "extra"}, "filter column 1: \"extra\" is not a condition; want src, dst, sport, dport, autobound, pid, comm, uid, netns, container, error, lifetime, \"(\" or \"not\"\n  extra\n  ^^^^^"},
		{[]string{"trace", "--json", "sport = :22", "and"}, "filter column 16: the expression ends where a condition must follow; " +
			"want src, dst, sport, dport, autobound, pid, comm, uid, netns, container, error, lifetime, \"(\" or \"not\"\n  sport = :22 and\n                 ^"},
		{[]string{"trace", "state", "est"}, "filter column 7: \"est\" is not a state"},
		{[]string{"top", "extra"}, "filter column 1: \"extra\" is not a condition;"},
		{[]string{"trace", "comm", "=", "a\x1bb", "bogus"}, "filter column 12: \"bogus\" is not a condition; want src, dst, sport, dport, autobound, pid, comm, uid, netns, container, error, lifetime, \"(\" or \"not\"\n  comm = a\\x1bb bogus\n                ^^^^^"},
	} {
		err := execute(tc.args...)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "Try ") {
			t.Errorf("%q: error %q, want %q", tc.args, err, tc.want)
		}
		if status := report(io.Discard, err); status != 1 {
			t.Errorf("%q: exit status %d, want 1", tc.args, status)
		}
	}
}
