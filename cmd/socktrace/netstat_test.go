package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// Peer roles run as separate processes inside a test namespace: the socket
// holders (so -p must attribute sockets to the right pid) and socktrace
// itself, which must read the namespace's /proc/net like netstat does.
var peerRoles = map[string]func(args []string) error{
	"netstat-server":  netstatServer,
	"netstat-client":  netstatClient,
	"socktrace-table": runSocktracePeer,
	"live-server":     liveServer,
	"live-client":     liveClient,
	"unix-forger":     unixForger,
	"unix-holder":     unixHolder,
	"odd-named":       oddNamed,
	"abandon-connect": abandonConnect,
	"demo-server":     demoServer,
	"demo-client":     demoClient,
	"remote-server":   remoteServer,
	"remote-client":   remoteClient,
	"handoff-parent":  handoffParent,
	"handoff-child":   handoffChild,
	"closer-server":   closerServer,
	"closer-parent":   closerParent,
	"closer-child":    closerChild,
	"short-launcher":  shortLauncher,
	"short-client":    shortClient,
	"reset-client":    resetClient,
	"nat-server":      natServer,
	"nat-client":      natClient,
	"cgroup-peer":     cgroupPeer,
	"serve-workload":  serveWorkload,
	"mcast-member":    mcastMember,
	"top-server":      topServer,
	"top-client":      topClient,
	"top-peer":        topPeer,
	"ss-sockets":      ssSockets,
}

func TestMain(m *testing.M) {
	nstest.RunPeer(peerRoles)
	os.Exit(m.Run())
}

// peerLifetime bounds every peer: they exit when the test closes their
// stdin, or after this long if the test died.
const peerLifetime = 2 * time.Minute

func holdUntilStdinCloses() {
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(peerLifetime):
	}
}

// netstatServer holds listeners (TCP v4 and v6, UDP v4 and v6, UDP-Lite, a
// raw ICMP socket, a unix stream listener at args[0]), accepts the client's
// connections without reading them, and closes the one the client closes
// first so the client side ends in TIME_WAIT.
func netstatServer(args []string) error {
	var keep []any
	l4, err := net.Listen("tcp4", "127.0.0.1:8080")
	if err != nil {
		return err
	}
	l6, err := net.Listen("tcp", "[::]:22") // dual stack: IPv4 clients appear as ::ffff:a.b.c.d
	if err != nil {
		return err
	}
	u4, err := net.ListenPacket("udp4", "127.0.0.1:53")
	if err != nil {
		return err
	}
	u6, err := net.ListenPacket("udp6", "[::]:5353")
	if err != nil {
		return err
	}
	ux, err := net.Listen("unix", args[0])
	if err != nil {
		return err
	}
	keep = append(keep, l4, l6, u4, u6, ux)
	for _, s := range []struct{ family, typ, proto int }{
		{syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP},
		{syscall.AF_INET, syscall.SOCK_DGRAM, syscall.IPPROTO_UDPLITE},
	} {
		fd, err := syscall.Socket(s.family, s.typ, s.proto)
		if err != nil {
			return fmt.Errorf("socket %v: %w", s, err)
		}
		if s.proto == syscall.IPPROTO_UDPLITE {
			if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: 9999}); err != nil {
				return err
			}
		}
		keep = append(keep, fd)
	}
	fmt.Println("ready")
	go func() {
		for {
			c, err := ux.Accept()
			if err != nil {
				return
			}
			keep = append(keep, c)
		}
	}()
	go acceptAndHold(l6, &keep)
	// On l4, the first connection is the TIME_WAIT one: wait for the
	// client's FIN, then close; the others are held unread.
	first := true
	for {
		c, err := l4.Accept()
		if err != nil {
			break
		}
		if first {
			first = false
			go func() {
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
			continue
		}
		keep = append(keep, c)
	}
	return nil
}

func acceptAndHold(l net.Listener, keep *[]any) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		*keep = append(*keep, c)
	}
}

// netstatClient makes the connections: one closed first (TIME_WAIT on this
// side), established pairs over IPv4, IPv6 and IPv4-mapped IPv6 with unread
// bytes in the server's receive queue, a connected UDP socket and a unix
// stream connection to args[0].
func netstatClient(args []string) error {
	tw, err := net.Dial("tcp4", "127.0.0.1:8080")
	if err != nil {
		return err
	}
	tw.Close()
	var keep []net.Conn
	for _, d := range []struct {
		network, addr string
		unread        int
	}{
		{"tcp4", "127.0.0.1:8080", 100},
		{"tcp6", "[::1]:22", 7},
		{"tcp4", "127.0.0.1:22", 0}, // IPv4-mapped on the server side
		{"udp4", "127.0.0.1:53", 0},
		{"unix", args[0], 0},
	} {
		c, err := net.Dial(d.network, d.addr)
		if err != nil {
			return err
		}
		if d.unread > 0 {
			if _, err := c.Write(bytes.Repeat([]byte("x"), d.unread)); err != nil {
				return err
			}
		}
		keep = append(keep, c)
	}
	// Wait for the TIME_WAIT socket to appear before saying ready.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile("/proc/net/tcp")
		if bytes.Contains(data, []byte(" 06 ")) {
			fmt.Println("ready")
			holdUntilStdinCloses()
			// The connections are held open only while keep is alive: a
			// net.Conn that becomes garbage is closed by its finalizer.
			runtime.KeepAlive(keep)
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no TIME_WAIT socket after 5s")
}

// runSocktracePeer runs the root command in-process with args, under the
// signals main's runs under.
func runSocktracePeer(args []string) error {
	ctx, stop := signalContext()
	defer stop()
	cmd := newRootCmd()
	// Never nil: cobra reads os.Args, the test binary's own flags, for nil.
	cmd.SetArgs(append([]string{}, args...))
	if err := cmd.ExecuteContext(ctx); err != nil {
		os.Exit(report(os.Stderr, err)) // as main does
	}
	return nil
}

// startPeer starts a role and waits for its "ready" line.
func startPeer(t *testing.T, ns *nstest.NS, role string, args ...string) {
	t.Helper()
	ns.StartPeer(t, role, args...).Expect("ready")
}

// timerValue masks the seconds left in a Timer column: they tick between
// the two runs.
var timerValue = regexp.MustCompile(`\((\d+\.\d\d)/`)

// normalize turns output into sorted lines with single spaces.
func normalize(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.Join(strings.Fields(l), " ")
		if l == "" {
			continue
		}
		lines = append(lines, timerValue.ReplaceAllString(l, "(T/"))
	}
	slices.Sort(lines)
	return lines
}

// netstatCases is every option netstat and socktrace share, alone and in the
// combinations people type, long options cut to prefixes too.
var netstatCases = []string{
	"--prog", "--program -a", "--numeric-h -a", "--list", "--ext -a", "--ine -a", "--ip -a",
	"-A inet,unix", "-A inet -a", "-A ip6 -a", "--protocol=inet6", "--protocol=inet6 -a", "--proto unix -a",
	"-Ainet,inet6 -l", "--unix -a", "-d -ta", "-dxa",
	// Families netstat takes and lists nothing of: the listing of all.
	"-A ddp", "-A econet -a", "--appletalk", "-A ash",
	"", "-a", "-l", "-t", "-u", "-w", "-x", "-U",
	"-ta", "-tl", "-ua", "-ul", "-wa", "-xa", "-xl", "-Ua",
	"-n", "-an", "-tan", "-tanp", "-tulpn", "-tuwxa", "-tuUwxa",
	"-ae", "-aee", "-ao", "-aW", "-aWn", "-ap", "-lp", "-xap", "-xlp",
	"-4a", "-6a", "-4an", "-6anp", "--inet -a", "--inet6 -a", "-4x", "-t4", "-u6",
	"--numeric-hosts -a", "--numeric-ports -a", "--numeric-users -ae",
	"--numeric-hosts --numeric-ports -ae", "-av", "-tanpeoW", "-tunlp4", "-aeop",
}

func TestNetstatDifferential(t *testing.T) {
	ns := nstest.New(t)
	sock := filepath.Join(t.TempDir(), "netstat-test.sock")
	startPeer(t, ns, "netstat-server", sock)
	startPeer(t, ns, "netstat-client", sock)

	// The namespace's sockets must be there, or every comparison would pass
	// on two empty tables.
	base, err := ns.Command("netstat", "-tuUwxanp").Output()
	if err != nil {
		t.Fatalf("netstat: %v", err)
	}
	for _, want := range []string{"TIME_WAIT", "LISTEN", "ESTABLISHED", ":::22", "127.0.0.1:8080",
		"100 0 127.0.0.1:8080", "7 0 ::1:22", "[ ACC ]", "netstat-test.sock", "raw", "udpl"} {
		if !strings.Contains(strings.Join(normalize(string(base)), "\n"), want) {
			t.Fatalf("setup: netstat -tuUwxanp lacks %q:\n%s", want, base)
		}
	}

	for _, c := range netstatCases {
		t.Run(strings.ReplaceAll(c, " ", "_"), func(t *testing.T) {
			args := strings.Fields(c)
			want, werr := ns.Command("netstat", args...).Output()
			if werr != nil {
				t.Fatalf("netstat %s: %v", c, werr)
			}
			got, gerr := ns.Peer("socktrace-table", args...).Output()
			if gerr != nil {
				t.Fatalf("socktrace %s: %v", c, gerr)
			}
			w, g := normalize(string(want)), normalize(string(got))
			if !slices.Equal(w, g) {
				t.Errorf("socktrace %s differs from netstat:\n--- netstat\n%s\n--- socktrace\n%s",
					c, strings.Join(w, "\n"), strings.Join(g, "\n"))
			}
		})
	}
}

// As a user who can read no other process, -p's note is netstat's, on
// every run and on every -c table: socktrace's own sockets, open during
// some scans of /proc and not others, must not turn "No info" into "Not
// all". The user is a uid of this test's own (freeUID): as nobody, any
// process of nobody's with a socket, anywhere on the machine, would be
// readable and make netstat's note "Not all".
func TestNetstatOwnerNoteUnprivileged(t *testing.T) {
	ns := nstest.New(t)
	bin := nobodyCopy(t)
	uid := freeUID(t)
	var runs [][]string // netstat's notes, then socktrace's, in turn
	for range 5 {
		runs = append(runs,
			ownerNotes(t, asUID(ns.Command("netstat", "-tanp"), "netstat", uid), 0),
			ownerNotes(t, asUID(ns.Peer("socktrace-table", "-tanp"), bin, uid), 0))
	}
	// -c: netstat polls; so does socktrace without root, the tracer refused.
	runs = append(runs,
		ownerNotes(t, asUID(ns.Command("netstat", "-tanpc"), "netstat", uid), 2500*time.Millisecond),
		ownerNotes(t, asUID(ns.Peer("socktrace-table", "-tanpc"), bin, uid), 2500*time.Millisecond))
	want := runs[0]
	if len(want) != 1 || !strings.HasPrefix(want[0], "(No info could be read") {
		t.Fatalf("setup: netstat as uid %d printed %q, want the No info note", uid, want)
	}
	for i, got := range runs {
		if len(got) == 0 {
			t.Errorf("run %d: no note", i)
		}
		for _, n := range got {
			if n != want[0] {
				t.Errorf("run %d (odd: socktrace): note %q, netstat's is %q", i, n, want[0])
			}
		}
	}
}

// freeUID is a uid that no process has (real, effective, saved or file
// system uid), from 61000 + this process's id % 1000 up, so that tests
// running at once on one machine tend to take different ones.
func freeUID(t *testing.T) int {
	t.Helper()
	used := map[int]bool{}
	statuses, _ := filepath.Glob("/proc/[0-9]*/status")
	for _, path := range statuses {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				for _, f := range strings.Fields(rest) {
					if n, err := strconv.Atoi(f); err == nil {
						used[n] = true
					}
				}
			}
		}
	}
	for i := range 1000 {
		if uid := 61000 + (os.Getpid()+i)%1000; !used[uid] {
			return uid
		}
	}
	t.Fatal("setup: every uid from 61000 to 61999 has a process")
	return 0
}

// asUID rewrites cmd, "ip netns exec NS prog args...", to run prog as
// uid (and as the group of that number), as bin.
func asUID(cmd *exec.Cmd, bin string, uid int) *exec.Cmd {
	id := strconv.Itoa(uid)
	args := append([]string{"setpriv", "--reuid", id, "--regid", id, "--clear-groups", bin}, cmd.Args[5:]...)
	cmd.Args = append(cmd.Args[:4:4], args...)
	cmd.Stderr = nil
	return cmd
}

// nobodyCopy copies the test binary where any user can run it: go test
// builds it in a directory only its owner can enter.
func nobodyCopy(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(openDir(t, "socktrace-nobody-", 0o755), "socktrace.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// openDir makes a directory with mode perm, removed when t ends, outside
// t.TempDir, whose parent only its owner can enter: other users' peers
// can reach it.
func openDir(t *testing.T, prefix string, perm os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ownerNotes runs cmd, for d if it is not zero (then stops it with
// SIGTERM), and returns the first line of each -p note on its stderr.
func ownerNotes(t *testing.T, cmd *exec.Cmd, d time.Duration) []string {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if d > 0 {
		time.Sleep(d)
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	if err := cmd.Wait(); err != nil && d == 0 {
		t.Fatalf("%q: %v: %s", cmd.Args, err, stderr.String())
	}
	var notes []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(l, "(") {
			notes = append(notes, l)
		}
	}
	return notes
}

// answer is what a run of netstat or socktrace printed, and its exit
// status.
type answer struct {
	stdout, stderr string
	status         int
}

// run runs cmd to its end.
func run(t *testing.T, cmd *exec.Cmd) answer {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%q: %v", cmd.Args, err)
	}
	return answer{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// sameAnswer compares socktrace's answer with netstat's: the same exit
// status, the same rows, and on stderr netstat's lines in order, with
// its name socktrace's, each line socktrace's or the start of it (where
// socktrace says more, after netstat's words).
func sameAnswer(t *testing.T, what string, netstat, socktrace answer) {
	t.Helper()
	if netstat.status != socktrace.status {
		t.Errorf("%s: exit status %d, netstat's %d\nnetstat's stderr:\n%s\nsocktrace's stderr:\n%s",
			what, socktrace.status, netstat.status, netstat.stderr, socktrace.stderr)
	}
	if w, g := normalize(netstat.stdout), normalize(socktrace.stdout); !slices.Equal(w, g) {
		t.Errorf("%s: stdout differs:\n--- netstat\n%s\n--- socktrace\n%s", what, strings.Join(w, "\n"), strings.Join(g, "\n"))
	}
	want := strings.Split(strings.TrimSuffix(strings.ReplaceAll(netstat.stderr, "netstat", "socktrace"), "\n"), "\n")
	got := strings.Split(strings.TrimSuffix(socktrace.stderr, "\n"), "\n")
	ok := len(want) == len(got)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("%s: stderr differs:\n--- netstat\n%s\n--- socktrace\n%s", what, netstat.stderr, socktrace.stderr)
	}
}

// netstatRefusedCases are command lines netstat refuses, or answers with
// a message: socktrace must answer them alike.
var netstatRefusedCases = []string{
	"--num", "--in", "--ro", "--un", "--numeric-", "--t=1", "--tcp=1", "--ine=1", "--bogus", "--bogus=1",
	"--protocol", "-A", "-tA", "-k", "-t9", "-?", "-A foo", "-A inet,foo", "-A ''", "-At", "-A -t",
	"--protocol=", "-A foo --bogus", "--bogus -A foo", "-Z", "-Z --bogus", "--bogus -Z", "-r -i", "-ri",
	"-is", "--route --statistics",
	// SCTP, which this kernel lacks: refused where named, after the
	// tables before it; said so with -v in the listing of all (once per
	// file netstat reads); passed over silently for a family alone.
	"-S", "-St", "-tS", "-Sa", "-Sl", "-Sx", "--sctp -n", "-S6", "-S4", "-tuS", "-v", "-av", "-lv", "-4v", "-4av",
	"-tv", "-xv",
	// Families without a table, whose kernel modules this kernel lacks.
	"-A ipx", "--ipx", "--ax", "-A x25", "--netrom", "--rose", "-A unix,ipx", "-t -A rose", "-xA netrom -a",
}

// netstatMergedCases are refused with lines netstat prints on stdout, and
// socktrace on stderr: the two streams are compared as one.
var netstatMergedCases = []string{
	"-rx", "-rn4x", "-rn -A inet6,unix", "-r -A econet", "-r -A ash", "-r -A bluetooth", "-r -A ipx",
	"-rn -A inet,ax25", "-r -A ddp", "-r --appletalk", "-r -A x25", "-r -A rose", "-r -A netrom",
	"-sx", "-s -4 -6", "-s -A ipx", "-s44", "-s --appletalk",
}

// netstatBluetoothCases ask for Bluetooth, which Debian's netstat is built
// without: its second line asks to rebuild net-tools, socktrace's says
// what it lists; the first lines are the same.
var netstatBluetoothCases = []string{"-A bluetooth", "-2", "-f", "--bluetooth", "--l2cap", "--rf", "-tx2"}

func TestNetstatRefusedDifferential(t *testing.T) {
	ns := nstest.New(t)
	for _, c := range netstatRefusedCases {
		args := strings.Fields(strings.ReplaceAll(c, "''", ""))
		if strings.Contains(c, "''") {
			args = append(args, "")
		}
		sameAnswer(t, c, run(t, ns.Command("netstat", args...)), run(t, ns.Peer("socktrace-table", args...)))
	}
	for _, c := range netstatMergedCases {
		args := strings.Fields(c)
		n, s := run(t, ns.Command("netstat", args...)), run(t, ns.Peer("socktrace-table", args...))
		// On a pipe, netstat's NET/ROM complaint names errno as it stood
		// after stdout's first write.
		n.stderr = strings.ReplaceAll(n.stderr, "nr_neigh: Invalid argument", "nr_neigh: No such file or directory")
		n.stdout, n.stderr = strings.ReplaceAll(n.stdout+n.stderr, "netstat", "socktrace"), ""
		s.stdout, s.stderr = s.stdout+s.stderr, ""
		sameAnswer(t, c, n, s)
	}
	for _, c := range netstatBluetoothCases {
		args := strings.Fields(c)
		n, s := run(t, ns.Command("netstat", args...)), run(t, ns.Peer("socktrace-table", args...))
		n.stderr, _, _ = strings.Cut(n.stderr, "\n")
		s.stderr, _, _ = strings.Cut(s.stderr, "\n")
		sameAnswer(t, c, n, s)
	}
}

// A program name longer than netstat's PID/Program name buffer is cut as
// netstat cuts it, and the row padded as netstat pads it: the rows of a
// process run through a 30-character link are netstat's, byte for byte.
func TestNetstatLongProgramName(t *testing.T) {
	ns := nstest.New(t)
	const name = "abcdefghijklmnopqrstuvwxyz0123"
	sock := filepath.Join(t.TempDir(), "long-name.sock")
	p := ns.StartPeerAs(t, name, "netstat-server", sock)
	p.Expect("ready")
	for _, args := range [][]string{{"-tanp"}, {"-xap"}, {"-tulpn"}} {
		want, err := ns.Command("netstat", args...).Output()
		if err != nil {
			t.Fatalf("netstat %q: %v", args, err)
		}
		got, err := ns.Peer("socktrace-table", args...).Output()
		if err != nil {
			t.Fatalf("socktrace %q: %v", args, err)
		}
		w, g := pidRows(want, p.PID), pidRows(got, p.PID)
		if len(w) == 0 || !strings.Contains(w[0], "/abcdefghij") {
			t.Fatalf("setup: netstat %q shows no rows of pid %d with the long name:\n%s", args, p.PID, want)
		}
		if !slices.Equal(w, g) {
			t.Errorf("%q: rows differ from netstat's:\n--- netstat\n%q\n--- socktrace\n%q", args, w, g)
		}
	}
}

// pidRows is the lines of out that name pid under -p, sorted, as printed.
func pidRows(out []byte, pid int) []string {
	var rows []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, fmt.Sprintf(" %d/", pid)) {
			rows = append(rows, l)
		}
	}
	slices.Sort(rows)
	return rows
}
