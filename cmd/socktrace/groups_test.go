package main

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// mcastMember joins the IPv4 group args[0] and the IPv6 group args[1] on
// interface args[2], and holds them until the test ends: the kernel counts
// it among the groups' users.
func mcastMember(args []string) error {
	ifi, err := net.InterfaceByName(args[2])
	if err != nil {
		return err
	}
	c4, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.ParseIP(args[0]), Port: 5000})
	if err != nil {
		return fmt.Errorf("join %s: %w", args[0], err)
	}
	defer c4.Close()
	c6, err := net.ListenMulticastUDP("udp6", ifi, &net.UDPAddr{IP: net.ParseIP(args[1]), Port: 5000})
	if err != nil {
		return fmt.Errorf("join %s: %w", args[1], err)
	}
	defer c6.Close()
	fmt.Println("ready")
	holdUntilStdinCloses()
	return nil
}

// groupsNS is a namespace whose interfaces have joined groups of their
// own (autojoin addresses, which the kernel holds) and groups a process
// holds too, so that RefCnt is 2.
func groupsNS(t *testing.T) *nstest.NS {
	t.Helper()
	ns := nstest.New(t)
	sh(t, ns, `echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad`)
	for _, args := range []string{
		"link add va type veth peer name vb",
		"link set lo up",
		"link set va up",
		"link set vb up",
		"addr add 10.9.0.1/24 dev va",
		"addr add 239.1.2.3/32 dev va autojoin",
		"addr add 239.7.7.7/32 dev vb autojoin",
		"-6 addr add ff05::123/128 dev va autojoin",
	} {
		if out, err := ns.Command("ip", strings.Fields(args)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", args, err, out)
		}
	}
	startPeer(t, ns, "mcast-member", "239.1.2.3", "ff05::123", "va")
	return ns
}

func TestGroupsDifferential(t *testing.T) {
	ns := groupsNS(t)
	setup := run(t, ns.Command("netstat", "-gn"))
	for _, want := range []string{"va              2      239.1.2.3", "vb              1      239.7.7.7",
		"va              2      ff05::123", "lo              1      224.0.0.1", "lo              1      ff02::1"} {
		if !strings.Contains(setup.stdout, want) {
			t.Fatalf("setup: netstat -gn lacks %q:\n%s", want, setup.stdout)
		}
	}
	for _, c := range []string{
		"-g", "-gn", "-g4", "-g6", "-g -6 -n", "-g4an", "-gt", "-gta", "--groups --numeric", "--gro -n",
		"-gx", "-gxa", "-g -A inet,unix", "-gN", "-g --numeric-hosts", "-gS", "-gv", "-rg", "-ig", "-sg",
	} {
		args := strings.Fields(c)
		sameAnswer(t, c, run(t, ns.Command("netstat", args...)), run(t, ns.Peer("socktrace-table", args...)))
	}
	// Names from a hosts file, the same for both.
	hosts := filepath.Join(t.TempDir(), "hosts")
	sh(t, ns, fmt.Sprintf("printf '239.1.2.3 mygroup\\nff05::123 mygroup6\\n' > %s", hosts))
	networks, _ := filepath.Abs(filepath.Join("..", "..", "snapshot", "testdata", "tables", "networks"))
	for _, c := range []string{"-g", "-g6"} {
		args := strings.Fields(c)
		n := run(t, withFiles(ns.Command("netstat", args...), hosts, networks))
		if !strings.Contains(n.stdout, "mygroup") {
			t.Fatalf("setup: netstat %s names no group from %s:\n%s", c, hosts, n.stdout)
		}
		sameAnswer(t, c+" (hosts file)", n, run(t, withFiles(ns.Peer("socktrace-table", args...), hosts, networks)))
	}
}

// -g -c repeats the table every interval. netstat's first table is right
// and its later ones are not: it reads /proc/net/igmp, after the first
// table, as if it were igmp6 (a flag it sets for igmp6 is never reset),
// printing made-up rows and "warning, got bogus igmp6 line" for each
// interface. socktrace repeats its first table.
func TestGroupsContinuous(t *testing.T) {
	ns := groupsNS(t)
	tables := func(cmd *exec.Cmd) []string {
		t.Helper()
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2500 * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		return strings.SplitAfter(out.String(), "Interface       RefCnt Group\n")[1:]
	}
	n := tables(ns.Command("netstat", "-gnc"))
	s := tables(ns.Peer("socktrace-table", "-gnc"))
	if len(n) < 2 || len(s) < 2 {
		t.Fatalf("netstat printed %d tables, socktrace %d, in 2.5 s at -c 1; want 2 or more", len(n), len(s))
	}
	// Each piece ends with the next table's title: cut it off.
	first := func(tbl string) string {
		return strings.TrimSuffix(tbl, "IPv6/IPv4 Group Memberships\nInterface       RefCnt Group\n")
	}
	if first(s[0]) != first(n[0]) {
		t.Errorf("first table differs:\n--- netstat\n%s\n--- socktrace\n%s", n[0], s[0])
	}
	for i := 1; i < len(s)-1; i++ {
		if s[i] != s[0] {
			t.Errorf("table %d differs from the first:\n%s\n---\n%s", i+1, s[i], s[0])
		}
	}
}
