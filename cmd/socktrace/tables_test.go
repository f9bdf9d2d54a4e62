package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
	"golang.org/x/sys/unix"
)

// tableLines is output with runs of blanks squeezed, in its own order: for
// -r, -i and -s the order is netstat's too, so it is compared as well.
func tableLines(out []byte) []string {
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// tablesNS builds the namespace the -r/-i/-s comparisons run in: a veth
// pair with IPv4 and IPv6 addresses and an address label, a second pair
// left down, routes of every kind, and some TCP, UDP and ICMP traffic.
func tablesNS(t *testing.T) *nstest.NS {
	t.Helper()
	ns := nstest.New(t)
	// No DAD, router solicitations or MLD chatter, so the counters hold
	// still once the test's own traffic is done.
	sh(t, ns, `for c in all default; do
		echo 0 > /proc/sys/net/ipv6/conf/$c/accept_dad
		echo 0 > /proc/sys/net/ipv6/conf/$c/router_solicitations
		echo 0 > /proc/sys/net/ipv6/conf/$c/dad_transmits
	done`)
	for _, args := range []string{
		"link add va type veth peer name vb",
		"link add vc type veth peer name vd",
		"addr add 10.9.0.1/24 broadcast 10.9.0.255 dev va",
		"addr add 10.9.0.5/24 dev va label va:1",
		"addr add 10.9.0.2/24 dev vb",
		"addr add fd00:9::1/64 nodad dev va",
		"addr add fd00:9::2/64 nodad dev vb",
		"addr add 10.8.0.1/24 dev vc",
		"link set va up",
		"link set vb up",
		"route add unreachable default",
		"route add 10.60.0.0/16 via 10.9.0.2 metric 5 mtu 1400 advmss 1300 window 1000 rtt 3",
		"route add 10.61.0.9 via 10.9.0.2",
		"route add unreachable 10.50.0.0/16",
		"route add prohibit 10.51.0.7",
		"route add blackhole 10.70.0.0/16",
		"-6 route add fd00:77::/48 via fd00:9::3 metric 7",
		"-6 route add unreachable fd00:66::/64",
		"-6 route add default via fd00:9::3 dev va",
	} {
		if out, err := ns.Command("ip", strings.Fields(args)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", args, err, out)
		}
	}
	tcpExchange(t, ns)
	// UDP to closed ports (ICMP unreachable both ways), refused TCP.
	sh(t, ns, `echo hi > /dev/udp/10.9.0.2/9; echo hi > /dev/udp/::1/9; echo hi > /dev/udp/fd00:9::2/9
		(exec 3<>/dev/tcp/127.0.0.1/1) 2>/dev/null; true`)
	return ns
}

func sh(t *testing.T, ns *nstest.NS, script string) {
	t.Helper()
	if out, err := ns.Command("bash", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", script, err, out)
	}
}

// tcpExchange sends data over a loopback TCP connection in the namespace:
// a listener opened by this process on a thread inside the namespace, a
// client run there by bash.
func tcpExchange(t *testing.T, ns *nstest.NS) {
	t.Helper()
	var ln net.Listener
	inNetns(t, ns, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		b := make([]byte, 64)
		n, _ := c.Read(b)
		got <- string(b[:n])
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	sh(t, ns, fmt.Sprintf(`exec 3<>/dev/tcp/127.0.0.1/%d; echo hello >&3; sleep 0.2; exec 3>&-`, port))
	select {
	case s := <-got:
		if s != "hello\n" {
			t.Fatalf("tcp exchange: got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("tcp exchange: nothing received")
	}
}

// inNetns runs fn on a thread that has joined the namespace. The thread is
// never unlocked, so it dies with the goroutine instead of going back to
// the scheduler in the wrong namespace.
func inNetns(t *testing.T, ns *nstest.NS, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", ns.Name))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// withFiles wraps a command that runs in ns so that it sees hosts and
// networks files of the test's choosing: netstat reads the fixed paths.
func withFiles(cmd *exec.Cmd, hosts, networks string) *exec.Cmd {
	// cmd.Args is "ip netns exec <ns> prog args...": put unshare in front
	// of prog.
	script := `mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/networks && shift 2 && exec "$@"`
	args := append([]string{"netns", "exec", cmd.Args[3], "unshare", "-m", "sh", "-c", script, "sh", hosts, networks}, cmd.Args[4:]...)
	w := exec.Command("ip", args...)
	w.Env = cmd.Env
	return w
}

// compareQuiet runs netstat, socktrace, and netstat again, until the two
// netstat runs agree (no counter moved in between), then compares.
func compareQuiet(t *testing.T, netstat, socktrace func() *exec.Cmd) {
	t.Helper()
	for try := 0; ; try++ {
		before, err := netstat().Output()
		if err != nil {
			t.Fatalf("netstat: %v", err)
		}
		got, err := socktrace().Output()
		if err != nil {
			t.Fatalf("socktrace: %v\n%s", err, got)
		}
		after, err := netstat().Output()
		if err != nil {
			t.Fatalf("netstat: %v", err)
		}
		if !slices.Equal(tableLines(before), tableLines(after)) && try < 10 {
			time.Sleep(300 * time.Millisecond)
			continue
		}
		if w, g := tableLines(after), tableLines(got); !slices.Equal(w, g) {
			t.Errorf("differs from netstat:\n--- netstat\n%s\n--- socktrace\n%s", strings.Join(w, "\n"), strings.Join(g, "\n"))
		}
		return
	}
}

func TestTablesDifferential(t *testing.T) {
	ns := tablesNS(t)

	// The setup must be visible, or the comparisons could pass on empty
	// tables.
	for cmd, want := range map[string][]string{
		"-rn":      {"10.60.0.0 10.9.0.2 255.255.0.0 UG 1340 1000 0 vb", "10.50.0.0 - 255.255.0.0 ! - - - -"},
		"-6 -rn":   {"fd00:77::/48 fd00:9::3 UG 7"},
		"-ia":      {"vc 1500 0 0 0 0 0 0 0 0 BM", "va:1 1500 - no statistics available - BMRU"},
		"-s":       {"2 active connection openings", "1 passive connection openings", "1 failed connection attempts", "1 packets to unknown port received", "destination unreachable: 1"},
		"-s -6":    {"destination unreachable: 2"},
		"-r":       {"default - 0.0.0.0 ! - - - -"},
		"-ie":      {"inet 10.9.0.1 netmask 255.255.255.0 broadcast 10.9.0.255", "inet6 fd00:9::1 prefixlen 64 scopeid 0x0<global>"},
		"-s -6 -u": {"Udp6:"},
	} {
		out, err := ns.Command("netstat", strings.Fields(cmd)...).Output()
		if err != nil {
			t.Fatalf("netstat %s: %v", cmd, err)
		}
		lines := strings.Join(tableLines(out), "\n")
		for _, w := range want {
			if !strings.Contains(lines, w) {
				t.Fatalf("setup: netstat %s lacks %q:\n%s", cmd, w, lines)
			}
		}
	}

	for _, c := range []string{
		"-rn", "-rne", "-rnee", "-r", "-rW", "-6 -rn", "-6 -rne", "-6 -r", "--inet6 -rn", "-4 -rn", "-4 -6 -rn",
		"-rneeee", "-rnC", "-rC", "-rCe", "-rCee", "-rF", "-rnFC", "-rN", "-rNee", "-6 -rC", "-6 -rnFC", "-6 -rN",
		"-A inet6,inet -rN", "--route --cache --fib --numeric-h",
		"-i", "-ia", "-ie", "-iea", "-in",
		"-s", "-st", "-su", "-sw", "-sU", "-stu", "-s -4", "-s -6", "-s -6 -t", "-s -6 -u", "-s -6 -w",
		"-sS", "-sSt", "-s -6 -S",
	} {
		t.Run(strings.ReplaceAll(c, " ", "_"), func(t *testing.T) {
			args := strings.Fields(c)
			compareQuiet(t,
				func() *exec.Cmd { return ns.Command("netstat", args...) },
				func() *exec.Cmd { return ns.Peer("socktrace-table", args...) })
		})
	}

	// Names from hosts and networks files, the same for both.
	dir := filepath.Join("..", "..", "snapshot", "testdata", "tables")
	hosts, _ := filepath.Abs(filepath.Join(dir, "hosts"))
	networks, _ := filepath.Abs(filepath.Join(dir, "networks"))
	named := filepath.Join(t.TempDir(), "hosts")
	// 10.9.0.2 is the namespace's gateway: give it a long name to cut.
	if err := os.WriteFile(named, []byte("10.9.0.2 averyveryverylonghostname.example.org gw\nfd00:9::3 gw6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ args, hosts string }{
		{"-r", hosts}, {"-r", named}, {"-rWe", named}, {"-6 -r", named}, {"-rN", named}, {"-6 -rN", named},
	} {
		t.Run("names"+strings.ReplaceAll(c.args, " ", "_"), func(t *testing.T) {
			args := strings.Fields(c.args)
			compareQuiet(t,
				func() *exec.Cmd { return withFiles(ns.Command("netstat", args...), c.hosts, networks) },
				func() *exec.Cmd { return withFiles(ns.Peer("socktrace-table", args...), c.hosts, networks) })
		})
	}
}

// Every table prints one JSON object per line under --json.
func TestTablesJSON(t *testing.T) {
	ns := tablesNS(t)
	for _, c := range []struct {
		args string
		key  string
		want string
	}{
		{"-rn --json", "destination", "10.60.0.0"},
		{"-6 -rn --json", "destination", "fd00:77::/48"},
		{"-rnF --json", "destination", "10.60.0.0"},
		{"-ia --json", "iface", "vc"},
		{"-s --json", "counter", "ActiveOpens"},
		{"-s -6 --json", "counter", "Icmp6OutDestUnreachs"},
	} {
		out, err := ns.Peer("socktrace-table", strings.Fields(c.args)...).Output()
		if err != nil {
			t.Fatalf("socktrace %s: %v", c.args, err)
		}
		found := false
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var obj map[string]any
			if err := json.Unmarshal([]byte(l), &obj); err != nil {
				t.Fatalf("socktrace %s: line %q: %v", c.args, l, err)
			}
			found = found || obj[c.key] == c.want
		}
		if !found {
			t.Errorf("socktrace %s: no object with %s %q:\n%s", c.args, c.key, c.want, out)
		}
	}
}
