package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/netstat"
)

var fixtureArgs = []string{"--proc-root", "../../snapshot/testdata/proc", "--etc-root", "../../snapshot/testdata/etc"}

func runRoot(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(append(append([]string{}, fixtureArgs...), args...))
	cmd.SetOut(&o)
	cmd.SetErr(&e)
	err = cmd.ExecuteContext(ctx)
	return o.String(), e.String(), err
}

func TestNetstatFixture(t *testing.T) {
	out, errOut, err := runRoot(context.Background(), "-tanp")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"tcp        0      0 0.0.0.0:80              0.0.0.0:*               LISTEN      100/sshd            \n",
		"tcp      100      0 127.0.0.1:22            127.0.0.1:47456         ESTABLISHED 100/sshd            \n",
		"tcp        0      0 127.0.0.1:47456         127.0.0.1:22            TIME_WAIT   -                   \n",
		"tcp6       0      0 127.0.0.1:22            127.0.0.1:54321         ESTABLISHED -                   \n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The fixture's bad line is reported, and the rest still printed.
	if !strings.Contains(errOut, "tcp line 5") {
		t.Errorf("stderr %q does not report the bad line", errOut)
	}
}

// The fixture's /proc/net/unix holds a socket bound to "@x\n0: 2 0 10000
// 1 1 31337 /fake/forged.sock". Its row ends at the newline; the rest, a
// made-up LISTENING socket, is reported as a bad line in every mode (-v
// lists each bad line) and never listed.
func TestNetstatUnixFixture(t *testing.T) {
	for _, args := range [][]string{{"-xapv"}, {"-xapv", "--json"}} {
		out, errOut, err := runRoot(context.Background(), args...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "9987") || !strings.Contains(out, "/run/probe.sock") {
			t.Errorf("%q: the real rows are missing:\n%s", args, out)
		}
		if strings.Contains(out, "31337") || strings.Contains(out, "forged") {
			t.Errorf("%q: lists the made-up row:\n%s", args, out)
		}
		if !strings.Contains(errOut, "unix line 7: ") {
			t.Errorf("%q: stderr %q does not report line 7", args, errOut)
		}
		// /proc/net/unix has no owner uid: JSON says none, not 0.
		if strings.Contains(out, `"uid"`) {
			t.Errorf("%q: a uid /proc/net/unix does not give:\n%s", args, out)
		}
	}
}

// A usage error of socktrace's own is one line saying what is wrong, then
// the hint; cobra's usage block is not printed. What netstat cannot read,
// it refuses as netstat does (TestNetstatArgsRefused): two of -r, -i and
// -s with the usage alone.
func TestNetstatUsageErrors(t *testing.T) {
	const hint = "\nTry 'socktrace --help' for more information."
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-r", "-i"}, netstatUsage},
		{[]string{"-ri"}, netstatUsage},
		{[]string{"-s", "-r"}, netstatUsage},
		{[]string{"--stat", "--int"}, netstatUsage},
		{[]string{"-M", "-i"}, netstatUsage},
		{[]string{"-Mc", "--linger", "5s"}, "--linger is for the TCP table's -c; -M -c lists each gone flow once" + hint},
		{[]string{"-r", "extra"}, `unexpected argument "extra": filter words go with the socket tables, not -r, -i, -s or -M` + hint},
		{[]string{"--linger", "5s"}, "--linger takes a positive duration, and needs -c" + hint},
		{[]string{"-tanc", "1", "--linger", "0"}, "--linger takes a positive duration, and needs -c" + hint},
		{[]string{"-tnc", "--linger=0s"}, "--linger takes a positive duration, and needs -c" + hint},
		{[]string{"-tnc", "--linger", "-5s"}, "--linger takes a positive duration, and needs -c" + hint},
	} {
		// A command line that is not rejected stops at once.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		out, errOut, err := runRoot(ctx, tc.args...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: error %q, want %q", tc.args, err, tc.want)
		}
		if out != "" || errOut != "" {
			t.Errorf("%q: printed %q, %q besides the error", tc.args, out, errOut)
		}
	}
	const traceHint = "\nTry 'socktrace trace --help' for more information."
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"trace", "--comm", ""}, "--comm: empty; leave the flag out to trace everything"},
		{[]string{"trace", "--state="}, "--state: empty; leave the flag out to trace everything"},
		{[]string{"trace", "--netns", ""}, "--netns: empty; leave the flag out to trace everything"},
		{[]string{"trace", "--netns="}, "--netns: empty; leave the flag out to trace everything"},
	} {
		if err := execute(tc.args...); err == nil || err.Error() != tc.want+traceHint {
			t.Errorf("%q: error %q, want %q", tc.args, err, tc.want+traceHint)
		}
	}
}

func TestNetstatContinuousStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	out, _, err := runRoot(ctx, "-tn", "-c", "1")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "Active Internet connections"); n < 2 {
		t.Errorf("printed %d tables in 1.5s with -c 1, want 2", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("-c kept running %v after cancel", d)
	}
}

func TestNetstatJSON(t *testing.T) {
	out, _, err := runRoot(context.Background(), "-tanp", "--json")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"proto":"tcp","recv_q":100,"send_q":0,"local":"127.0.0.1:22","remote":"127.0.0.1:47456","state":"ESTABLISHED","uid":1000,"inode":9975,"pid":100,"program":"sshd","comm":"sshd"}`
	if !strings.Contains(out, want+"\n") {
		t.Errorf("no line %s in:\n%s", want, out)
	}
	if strings.Contains(out, "Active") {
		t.Error("--json printed a table header")
	}
}

// tablesFixture is the -r and -s fixture tree; its netstat/ directory holds
// the real netstat's output over the same files.
const tablesFixture = "../../snapshot/testdata/tables"

func tablesGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tablesFixture, "netstat", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tableCase is a command line over the tables fixture, as one string, and
// all it prints.
type tableCase struct{ args, want string }

// runTables runs socktrace over the tables fixture: its proc tree, the
// options in before, then args split at blanks.
func runTables(args string, before ...string) (stdout, stderr string, err error) {
	all := append([]string{"--proc-root", filepath.Join(tablesFixture, "proc")}, before...)
	return runRoot(context.Background(), append(all, strings.Fields(args)...)...)
}

// checkTables checks that each case prints exactly its want, and nothing
// on stderr.
func checkTables(t *testing.T, before []string, cases []tableCase) {
	t.Helper()
	for _, tc := range cases {
		out, errOut, err := runTables(tc.args, before...)
		if err != nil || errOut != "" {
			t.Errorf("%s: error %v, stderr %q", tc.args, err, errOut)
		}
		if out != tc.want {
			t.Errorf("%s: printed\n%s\nwant\n%s", tc.args, out, tc.want)
		}
	}
}

// -r prints a table for each family -4 and -6 name, in their order, and
// the IPv4 one when none is named: -t, -u, -w and -U do not make it both,
// as they do for socket listings (netstat -rt is netstat -r).
func TestNetstatRouteFamilies(t *testing.T) {
	v4, v6 := tablesGolden(t, "rn"), tablesGolden(t, "6rn")
	checkTables(t, nil, []tableCase{
		{"-rn", v4},
		{"-rtn", v4},
		{"-run", v4},
		{"-rwn", v4},
		{"-rUn", v4},
		{"-rtun", v4},
		{"-r4tn", v4},
		{"-r6n", v6},
		{"-r6tn", v6},
		{"-rn -u -6", v6},
		{"-rn -4 -6", v4 + v6},
		{"-rtn -4 -6", v4 + v6},
		{"-rn -6 -4", v6 + v4},
		{"-rn -4 -4", v4 + v4},
	})
}

// -C prints the routing cache instead of the FIB, -FC both, for each
// family; -N prints hosts as numbers, as -n does for -r.
func TestNetstatRouteCache(t *testing.T) {
	g := func(name string) string { return tablesGolden(t, name) }
	checkTables(t, nil, []tableCase{
		{"-rnC", g("rnC")},
		{"-rnCee", g("rnCee")},
		{"-rnF", g("rn")},
		{"-rnFC", g("rn") + g("rnC")},
		{"-rnCF", g("rn") + g("rnC")},
		{"-6 -rnC", g("6rnC")},
		{"-rnC -4 -6", g("rnC") + g("6rnC")},
		{"-rn6FC", g("6rn") + g("6rnC")},
		{"-rN", g("rN")},
		{"-6 -rN", g("6rN")},
		{"--route --symbolic", g("rN")},
	})
}

// -S lists SCTP sockets as netstat does, between TCP and UDP; only for
// IPv4, as netstat reads the file of both families only then.
func TestNetstatSCTP(t *testing.T) {
	g := func(name string) string { return tablesGolden(t, name) }
	checkTables(t, nil, []tableCase{
		{"-Sn", g("Sn")},
		{"--sctp --numeric", g("Sn")},
		{"-San", g("San")},
		{"-SanW", g("SanW")},
		{"-Sln", g("Sln")},
		{"-Sane", g("Sane")},
		{"-Sano", g("Sano")},
		{"-Sanp", g("Sanp")},
		{"-S -4 -an", g("S4an")},
		{"-S -6 -an", g("S6an")},
		{"-SaN", g("SaN")},
		{"-Sa --numeric-ports", g("Sa-np")},
	})
}

// -g lists the multicast groups after the Internet table, named through
// the hosts file unless numeric; with a family alone, every Internet
// protocol too.
func TestNetstatGroups(t *testing.T) {
	g := func(name string) string { return tablesGolden(t, name) }
	checkTables(t, []string{"--etc-root", tablesFixture}, []tableCase{
		{"-gn", g("gn")},
		{"-g", g("g")},
		{"--groups", g("g")},
		{"-g -4 -n", g("g4n")},
		{"-g -6", g("g6")},
	})
	out, _, err := runTables("-gn --json")
	if want := `{"family":"inet6","iface":"va","refcnt":2,"group":"ff02::fb"}` + "\n"; err != nil || !strings.Contains(out, want) {
		t.Errorf("-gn --json: %v, printed\n%s\nwant a line %s", err, out, want)
	}
}

// What netstat refuses is refused in its words and with its exit status
// (no usage hint: the options are valid, their combination has no table).
// -s refuses before it prints anything; -r refuses a family in its turn,
// after the tables of the families named before it.
func TestNetstatRefusals(t *testing.T) {
	const (
		noRoute = "No routing for address family `unix'."
		noStats = "socktrace: No statistics support for specified address family: %s"
	)
	v4 := tablesGolden(t, "rn")
	for _, tc := range []struct {
		args   string
		out    string
		want   string
		status int
	}{
		{"-rnx", "", noRoute, 3},
		{"-rn -x", "", noRoute, 3},
		{"-rn --unix", "", noRoute, 3},
		{"-rnx4", "", noRoute, 3},
		{"-rn4x", v4, noRoute, 3},
		{"-rnxt", "", noRoute, 3},
		{"-rn4 -A econet", v4, "No routing for address family `ec'.", 3},
		{"-rn -A ash", "", "No routing for address family `ash'.", 3},
		{"-rn -A bluetooth", "", "Address family `bluetooth' not supported.", 3},
		{"-rn -A inet,ipx", v4, "No such file or directory\nIPX routing not in file /proc/net/ipx/route or /proc/net/ipx_route found.", 1},
		{"-rn -A x25", "", "X.25 not configured in this system.", 1},
		{"-sx", "", fmt.Sprintf(noStats, "unix"), 1},
		{"-s -x", "", fmt.Sprintf(noStats, "unix"), 1},
		{"-sxt", "", fmt.Sprintf(noStats, "unix"), 1},
		{"-sx4", "", fmt.Sprintf(noStats, "unix,inet"), 1},
		{"-s4x", "", fmt.Sprintf(noStats, "inet,unix"), 1},
		{"-s -4 -6", "", fmt.Sprintf(noStats, "inet,inet6"), 1},
		{"-s -6 -4", "", fmt.Sprintf(noStats, "inet6,inet"), 1},
		{"-s --inet6 --inet", "", fmt.Sprintf(noStats, "inet6,inet"), 1},
		{"-s44", "", fmt.Sprintf(noStats, "inet,inet"), 1},
		{"-s4x4", "", fmt.Sprintf(noStats, "inet,unix,inet"), 1},
		{"-s -A appletalk", "", fmt.Sprintf(noStats, "ddp"), 1},
		{"-s -A ipx", "", fmt.Sprintf(noStats, "ipx"), 1},
	} {
		out, errOut, err := runTables(tc.args)
		var r netstat.Refusal
		if !errors.As(err, &r) || r.Msg != tc.want || r.Status != tc.status {
			t.Errorf("%s: error %q, want %q, status %d", tc.args, err, tc.want, tc.status)
		}
		if out != tc.out || errOut != "" {
			t.Errorf("%s: printed %q, %q besides the error; want %q", tc.args, out, errOut, tc.out)
		}
	}
	// What netstat takes stays taken.
	for _, args := range []string{"-i -x", "-ix4", "-i -6", "-it", "-i -A ipx", "-s", "-s -4", "-s -6", "-st", "-s6t",
		"-s -4 -u", "-sw", "-s -A ip6", "-r", "-r -4 -6 -t", "-rx"} {
		o, _, err := parseNetstat(strings.Fields(args)...)
		if err != nil {
			t.Fatalf("%s: %v", args, err)
		}
		if err := o.checkModes(); err != nil {
			t.Errorf("%s: refused: %v", args, err)
		}
	}
}

// -s reads the flags as given: -s -6 -t is IPv6 with TCP.
func TestNetstatStatsFamilies(t *testing.T) {
	for _, tc := range []struct{ args, golden string }{
		{"-s", "s"}, {"-s -4", "s"}, {"-st", "st"}, {"-s -4 -t", "st"}, {"-s -6", "s6"}, {"-s -6 -t", "s6t"},
	} {
		out, _, err := runTables(tc.args)
		if err != nil {
			t.Errorf("%s: %v", tc.args, err)
		}
		if want := tablesGolden(t, tc.golden); out != want {
			t.Errorf("%s: printed\n%s\nwant\n%s", tc.args, out, want)
		}
	}
}

// Malformed /proc lines are each reported on a line of their own: the
// first one, then how many more; with -v each of them up to ten, then how
// many more. The rows that parse are printed regardless.
func TestMalformedLinesReported(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	tcp := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9974 1 0000000000000000 100 0 0 10 0\n" +
		strings.Repeat("   1: zzzz\n", 12)
	route := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"va\tZZZZ090A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"va\tYYYY090A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	for name, data := range map[string]string{"tcp": tcp, "route": route} {
		if err := os.WriteFile(filepath.Join(root, "net", name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad := func(file string, line int, why string) string {
		return fmt.Sprintf("socktrace: read %s line %d: %s\n", filepath.Join(root, "net", file), line, why)
	}
	noPort := "local address: no port"
	var verbose string
	for line := 3; line < 13; line++ {
		verbose += bad("tcp", line, noPort)
	}
	tcpFile := filepath.Join(root, "net", "tcp")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-tan"}, bad("tcp", 3, noPort) + "socktrace: read " + tcpFile + ": and 11 more malformed lines (-v lists them)\n"},
		{[]string{"-tanv"}, verbose + "socktrace: read " + tcpFile + ": and 2 more malformed lines\n"},
	} {
		out, errOut, err := runRoot(context.Background(), append([]string{"--proc-root", root}, tc.args...)...)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !strings.Contains(out, "0.0.0.0:80") {
			t.Errorf("%q: the good row is missing:\n%s", tc.args, out)
		}
		if errOut != tc.want {
			t.Errorf("%q: stderr\n%s\nwant\n%s", tc.args, errOut, tc.want)
		}
	}
	// -r returns them as its error, which main prints after "socktrace: ".
	why := `destination: bad digit in "`
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-rn"}, bad("route", 2, why+`ZZZZ090A"`) + "socktrace: read " + filepath.Join(root, "net", "route") + ": and 1 more malformed line (-v lists them)\n"},
		{[]string{"-rnv"}, bad("route", 2, why+`ZZZZ090A"`) + bad("route", 3, why+`YYYY090A"`)},
	} {
		_, _, err := runRoot(context.Background(), append([]string{"--proc-root", root}, tc.args...)...)
		if got := fmt.Sprintf("socktrace: %v\n", err); got != tc.want {
			t.Errorf("%q: error\n%s\nwant\n%s", tc.args, got, tc.want)
		}
	}
}
