package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// ssExpressions are compared with the real ss: every operator and its
// aliases, every state group, both family prefixes, CIDR prefixes and
// dotted netmasks, service names, host names, and the grouping of and
// and or, which bind equally from the left.
var ssExpressions = []string{
	// Ports, with every operator.
	"sport = :22", "sport == :22", "sport eq :ssh", "sport :https", "sport 22", "dport = :8080",
	"sport != :22", "sport ne :8080", "sport neq :ssh",
	"sport > :1024", "sport gt :9000", "dport < :1024", "dport lt :8443",
	"sport >= :8443", "sport ge :8080", "sport geq :9000",
	"dport <= :22", "dport le :80", "dport leq :443",
	"sport = :0x50", "sport < :70000", "dport = :-1", "sport = *:22",
	// Addresses.
	"src 127.0.0.1", "dst 127.0.0.0/8", "dst 10.0.0.0/8", "src 10/8", "src 10.0.0.0/255.0.0.0",
	"src 10.1.2.3:80", "dst 127.1", "dst [::1]", "dst [::1]:8443", "src [fd00::/64]", "src fd00::/64",
	"src [::ffff:127.0.0.1]", "src *:8443", "src 0.0.0.0", "src [::]", "dst localhost", "dst default",
	"dst 10.99.0.0/16", "dst [fd99::1]:5555", "dst = 127.0.0.1:22",
	// Family prefixes: a condition's family restricts the listing.
	"dst inet:127.0.0.1", "dst inet6:[::1]", "src inet:*", "src inet6:*", "sport = inet::22",
	"dport = inet6::8443",
	// The kernel's and ss's autobound together.
	"autobound", "not autobound", "! autobound",
	// and, or, not, parentheses, side by side.
	"! sport = :22", "not sport = :22", "! ! sport = :22",
	"sport = :8443 or sport = :9000 and dst [::1]",
	"sport = :8443 and dst [::1] or sport = :22",
	"sport = :8443 or ( sport = :9000 and dst [::1] )",
	"sport = :22 && dport = :20001", "sport = :22 & not dport = :20001", "sport = :22 and dst 127.0.0.1",
	"sport = :22 || sport = :80", "sport = :22 | sport = :80", "sport = :22 or sport = :80",
	"sport = :22 dport = :20001", "not ( sport = :22 or sport = :8080 )",
	"( dport = :8443 or sport = :8443 ) and not src inet6:*",
	// State words, alone and with an expression.
	"state established", "state listening", "state time-wait", "state syn-sent", "state closed",
	"state connected", "state synchronized", "state bucket", "state big", "state all",
	"state listening state time-wait", "exclude listening", "exclude time-wait exclude syn-sent",
	"exclude listening state listening", "state established sport = :8443",
	"exclude listening dport gt :1024", "state time-wait dst 127.0.0.0/8",
}

// TestFilterDifferential holds a known set of TCP sockets in a fresh
// namespace (IPv4 and IPv6 listeners, established pairs, some with unread
// data, a client bound to its port, TIME_WAIT on either side, SYN_SENT to
// a blackholed address) and checks that socktrace -tan EXPR lists exactly
// the connections ss -tan EXPR lists.
func TestFilterDifferential(t *testing.T) {
	ns := nstest.New(t)
	for _, args := range []string{
		"addr add 10.1.2.3/8 dev lo",
		"addr add fd00::1/64 nodad dev lo",
		"link add va type veth peer name vb",
		"link set va up",
		"link set vb up",
		"addr add 10.98.0.1/24 dev va",
		"addr add fd98::1/64 nodad dev va",
		// A neighbour nobody is: SYNs leave and are never answered.
		"neigh add 10.98.0.2 lladdr 02:00:00:00:00:02 dev va nud permanent",
		"-6 neigh add fd98::2 lladdr 02:00:00:00:00:02 dev va nud permanent",
		"route add 10.99.0.0/16 via 10.98.0.2",
		"-6 route add fd99::/64 via fd98::2",
	} {
		if out, err := ns.Command("ip", strings.Fields(args)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", args, err, out)
		}
	}
	holder := ns.StartPeerAs(t, "ssholder", "ss-sockets")
	holder.Expect("ready")

	all, err := ssTuples(ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"LISTEN 127.0.0.1:8080", "LISTEN [::]:8443", "LISTEN [::1]:9000", "LISTEN [fd00::1]:443",
		"ESTAB [::ffff:127.0.0.1]:8443", "ESTAB 10.1.2.3:40000", "ESTAB 127.0.0.1:20001",
		"TIME-WAIT 127.0.0.1:22", "TIME-WAIT [::1]", "SYN-SENT 10.98.0.1", "SYN-SENT [fd98::1]",
	} {
		if !slices.ContainsFunc(all, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Fatalf("setup: ss -tan lacks %q:\n%s", want, strings.Join(all, "\n"))
		}
	}
	if len(ssExpressions) < 40 {
		t.Fatalf("%d expressions, want at least 40", len(ssExpressions))
	}

	// socktrace's own conditions, against what ss -p says of the owners
	// (the held sockets are ssholder's; TIME_WAIT sockets have none) and
	// against the namespace every socket is in.
	own := func(pick func(owned, others, all []string) []string) func() ([]string, error) {
		return func() ([]string, error) {
			owned, others, err := ssOwned(ns, fmt.Sprintf("pid=%d,", holder.PID))
			if len(owned) == 0 || len(others) == 0 {
				err = errors.Join(err, fmt.Errorf("ss -tanp: %d sockets of pid %d, %d of others", len(owned), holder.PID, len(others)))
			}
			return pick(owned, others, append(slices.Clone(owned), others...)), err
		}
	}
	owned := own(func(o, _, _ []string) []string { return o })
	others := own(func(_, x, _ []string) []string { return x })
	everything := own(func(_, _, a []string) []string { slices.Sort(a); return a })
	none := own(func(_, _, _ []string) []string { return nil })
	type check struct {
		expr string
		want func() ([]string, error)
	}
	checks := []check{
		{fmt.Sprintf("pid = %d", holder.PID), owned},
		{fmt.Sprintf("pid != %d", holder.PID), others},
		{"comm = ssholder", owned},
		{"not comm = ssholder", others},
		{fmt.Sprintf("pid = %d and comm = ssholder", holder.PID), owned},
		{"comm = ssholder2", none},
		{"uid = 0", everything},
		{"uid != 0", none},
		{"netns = " + ns.Name, everything},
		{"netns = 1", none},
	}
	for _, expr := range ssExpressions {
		args := strings.Fields(expr)
		checks = append(checks, check{expr, func() ([]string, error) {
			rows, err := ssTuples(ns, args)
			return stripStates(rows), err
		}})
	}
	// TIME_WAIT sockets end 60 s after they were made, and a loaded
	// machine takes a while for all of these: the comparisons run four at
	// a time, and one whose expected rows changed while socktrace ran is
	// made again.
	msgs := make([]string, len(checks))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			msgs[i] = compareWith(ns, c.expr, c.want)
		}()
	}
	wg.Wait()
	for _, m := range msgs {
		if m != "" {
			t.Error(m)
		}
	}
}

// compareWith runs socktrace -tan EXPR between two reads of what it
// should list, and says how it differs; "" when it does not.
func compareWith(ns *nstest.NS, expr string, want func() ([]string, error)) string {
	for range 5 {
		before, err := want()
		if err != nil {
			return fmt.Sprintf("%s: %v", expr, err)
		}
		out, err := ns.Peer("socktrace-table", append([]string{"-tanW"}, strings.Fields(expr)...)...).Output()
		if err != nil {
			return fmt.Sprintf("socktrace -tan %s: %v", expr, err)
		}
		after, err := want()
		if err != nil {
			return fmt.Sprintf("%s: %v", expr, err)
		}
		if !slices.Equal(before, after) {
			continue // a TIME_WAIT ended meanwhile
		}
		got, err := socktraceTuples(string(out))
		if err != nil {
			return fmt.Sprintf("socktrace -tan %s: %v", expr, err)
		}
		if !slices.Equal(before, got) {
			return fmt.Sprintf("socktrace -tan %s differs:\n--- want\n%s\n--- socktrace\n%s",
				expr, strings.Join(before, "\n"), strings.Join(got, "\n"))
		}
		return ""
	}
	return fmt.Sprintf("socktrace -tan %s: the sockets kept changing while it ran", expr)
}

// ssTuples runs ss -tanH and returns "STATE local remote" per socket,
// addresses written as netip writes them, sorted.
func ssTuples(ns *nstest.NS, args []string) ([]string, error) {
	out, err := ns.Command("ss", append([]string{"-tanH"}, args...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("ss -tan %s: %w", strings.Join(args, " "), err)
	}
	var rows []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		// A single state given to ss drops its State column.
		state := "-"
		if len(f) >= 5 {
			state, f = f[0], f[1:]
		}
		local, err1 := ssAddr(f[2])
		remote, err2 := ssAddr(f[3])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("ss -tan %s: %q: %w", strings.Join(args, " "), line, err)
		}
		rows = append(rows, state+" "+local+" "+remote)
	}
	slices.Sort(rows)
	return rows, nil
}

// ssAddr reads ss's ADDR:PORT: IPv6 in brackets, "*" for any address of
// a dual-stack socket and for any port.
func ssAddr(s string) (string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", fmt.Errorf("no port in %q", s)
	}
	host, port := s[:i], s[i+1:]
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "*" {
		host = "::"
	}
	if port == "*" {
		port = "0"
	}
	return canonical(host, port)
}

// socktraceTuples reads netstat's table: "local remote" per row, as
// ssTuples writes them, sorted.
func socktraceTuples(out string) ([]string, error) {
	var rows []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[0], "tcp") {
			continue
		}
		v6 := f[0] == "tcp6"
		local, err1 := netstatAddr(f[3], v6)
		remote, err2 := netstatAddr(f[4], v6)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		rows = append(rows, local+" "+remote)
	}
	slices.Sort(rows)
	return rows, nil
}

// netstatAddr reads netstat's ADDR:PORT. It writes an IPv4-mapped
// address of a tcp6 socket as IPv4.
func netstatAddr(s string, v6 bool) (string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", fmt.Errorf("no port in %q", s)
	}
	host, port := s[:i], s[i+1:]
	if port == "*" {
		port = "0"
	}
	if v6 && !strings.Contains(host, ":") {
		host = "::ffff:" + host
	}
	return canonical(host, port)
}

func canonical(host, port string) (string, error) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "", err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", err
	}
	return netip.AddrPortFrom(a, uint16(p)).String(), nil
}

// stripStates drops ss's state column, which netstat writes otherwise.
func stripStates(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r[strings.IndexByte(r, ' ')+1:]
	}
	slices.Sort(out)
	return out
}

// ssOwned reads ss -tanp: the sockets whose users list holds owner, and
// the others.
func ssOwned(ns *nstest.NS, owner string) (owned, others []string, err error) {
	out, err := ns.Command("ss", "-tanpH").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("ss -tanp: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		local, err1 := ssAddr(f[3])
		remote, err2 := ssAddr(f[4])
		if err := errors.Join(err1, err2); err != nil {
			return nil, nil, fmt.Errorf("ss -tanp: %q: %w", line, err)
		}
		if strings.Contains(line, owner) {
			owned = append(owned, local+" "+remote)
		} else {
			others = append(others, local+" "+remote)
		}
	}
	slices.Sort(owned)
	slices.Sort(others)
	return owned, others, nil
}

// ssSockets holds the differential test's sockets until stdin closes:
// listeners over IPv4, IPv6 only and dual stack; established pairs over
// IPv4, IPv6 and IPv4-mapped IPv6, two with unread data; clients bound to
// their port inside and outside the ephemeral range; TIME_WAIT on the
// client side (IPv4, IPv6) and on the server's; SYN_SENT to two addresses
// that never answer.
func ssSockets([]string) error {
	var keep []any
	listen := func(network, addr string) (net.Listener, error) {
		l, err := net.Listen(network, addr)
		keep = append(keep, l)
		return l, err
	}
	ls := map[int]net.Listener{} // by port
	for _, l := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:8080"}, {"tcp", "[::]:8443"}, {"tcp6", "[::1]:9000"},
		{"tcp4", "0.0.0.0:22"}, {"tcp4", "10.1.2.3:80"}, {"tcp6", "[fd00::1]:443"},
	} {
		l, err := listen(l.network, l.addr)
		if err != nil {
			return err
		}
		ls[l.Addr().(*net.TCPAddr).Port] = l
	}
	pair := func(network, addr, local string, unread int) (net.Conn, net.Conn, error) {
		d := net.Dialer{}
		if local != "" {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.MustParseAddrPort(local))
		}
		c, err := d.Dial(network, addr)
		if err != nil {
			return nil, nil, err
		}
		s, err := ls[c.RemoteAddr().(*net.TCPAddr).Port].Accept()
		if err != nil {
			return nil, nil, err
		}
		if unread > 0 {
			if _, err := c.Write(make([]byte, unread)); err != nil {
				return nil, nil, err
			}
		}
		keep = append(keep, c, s)
		return c, s, nil
	}
	for _, p := range []struct {
		network, addr, local string
		unread               int
	}{
		{"tcp4", "127.0.0.1:8080", "", 100},
		{"tcp6", "[::1]:8443", "", 7},
		{"tcp4", "127.0.0.1:8443", "", 0}, // IPv4-mapped on the server's side
		{"tcp6", "[::1]:9000", "", 0},
		{"tcp4", "10.1.2.3:80", "10.1.2.3:40000", 0}, // bound, inside the ephemeral range
		{"tcp4", "127.0.0.1:22", "127.0.0.1:20001", 0},
		{"tcp6", "[fd00::1]:443", "", 0},
	} {
		if _, _, err := pair(p.network, p.addr, p.local, p.unread); err != nil {
			return fmt.Errorf("%s %s: %w", p.network, p.addr, err)
		}
	}
	// TIME_WAIT: the client closes first on 8080 and 8443, the server
	// on 22.
	for _, tw := range []struct {
		network, addr string
		serverFirst   bool
	}{{"tcp4", "127.0.0.1:8080", false}, {"tcp6", "[::1]:8443", false}, {"tcp4", "127.0.0.1:22", true}} {
		c, s, err := pair(tw.network, tw.addr, "", 0)
		if err != nil {
			return err
		}
		first, second := c, s
		if tw.serverFirst {
			first, second = s, c
		}
		first.Close()
		_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := second.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			return fmt.Errorf("time-wait on %s: read %v, want EOF", tw.addr, err)
		}
		second.Close()
	}
	for _, sa := range []syscall.Sockaddr{
		&syscall.SockaddrInet4{Addr: [4]byte{10, 99, 0, 1}, Port: 5555},
		&syscall.SockaddrInet6{Addr: netip.MustParseAddr("fd99::1").As16(), Port: 5555},
	} {
		family := syscall.AF_INET
		if _, ok := sa.(*syscall.SockaddrInet6); ok {
			family = syscall.AF_INET6
		}
		fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
		if err != nil {
			return err
		}
		if err := syscall.Connect(fd, sa); !errors.Is(err, syscall.EINPROGRESS) {
			return fmt.Errorf("connect %v: %v, want EINPROGRESS", sa, err)
		}
		keep = append(keep, fd)
	}
	fmt.Println("ready")
	holdUntilStdinCloses()
	// A net.Conn that becomes garbage is closed by its finalizer.
	runtime.KeepAlive(keep)
	return nil
}

// On the fixture tree, state words choose what -a and -l choose in
// netstat where the two mean the same: TCP listeners are the sockets in
// LISTEN, unconnected UDP ones are CLOSE, unix listeners LISTEN.
func TestFilterStateWordsFixture(t *testing.T) {
	for _, tc := range []struct{ words, flags string }{
		{"-tan state listening", "-tln"},
		{"-tan exclude listening", "-tn"},
		{"-tan state all", "-tan"},
		{"-uan state closed", "-uln"},
		{"-uan state established", "-un"},
		{"-xa state listening", "-xl"},
		{"-tuan state listening state closed", "-tuln"},
	} {
		got, _, err := runRoot(context.Background(), strings.Fields(tc.words)...)
		if err != nil {
			t.Fatalf("%s: %v", tc.words, err)
		}
		want, _, err := runRoot(context.Background(), strings.Fields(tc.flags)...)
		if err != nil {
			t.Fatalf("%s: %v", tc.flags, err)
		}
		if g, w := tableRows(got), tableRows(want); !slices.Equal(g, w) || len(g) == 0 {
			t.Errorf("%s lists\n%s\nwant what %s lists:\n%s", tc.words, strings.Join(g, "\n"), tc.flags, strings.Join(w, "\n"))
		}
	}
}

// tableRows drops a table's title and column headers.
func tableRows(out string) []string {
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		if l != "" && !strings.HasPrefix(l, "Active ") && !strings.HasPrefix(l, "Proto ") {
			rows = append(rows, l)
		}
	}
	return rows
}

// A filter mistake, or a filter where it has no meaning, is refused with
// a message that says where and why.
func TestFilterRootErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"extra"}, "filter column 1: \"extra\" is not a condition;"},
		{[]string{"-c", "2", "3"}, "filter column 1: \"3\" is not a condition;"},
		{[]string{"-c", "abc"}, "filter column 1: \"abc\" is not a condition;"},
		{[]string{"-tan", "sport = :22 and"}, "filter column 16: the expression ends where a condition must follow"},
		{[]string{"-tan", "error", "=", "ECONNREFUSED"}, "filter column 1: error: a table lists the sockets there are; how one ended is known to -c and trace"},
		{[]string{"-tan", "lifetime > 1s"}, "filter column 1: lifetime: a table lists the sockets there are"},
		{[]string{"-tan", "state", "listen"}, "filter column 7: \"listen\" is not a state"},
		{[]string{"-s", "sport", "=", ":22"}, "unexpected argument \"sport\": filter words go with the socket tables, not -r, -i, -s or -M"},
		{[]string{"-g", "sport", "=", ":22"}, "unexpected argument \"sport\": filter words go with the socket tables, and none is listed"},
		{[]string{"-x", "src", "10.0.0.1"}, ""}, // -x reads a unix path pattern
	} {
		_, _, err := runRoot(context.Background(), tc.args...)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.args, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// After a bare -c, a word is the filter's, a number the interval: no
// filter starts with a number.
func TestFilterAfterContinuous(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		secs   int
		filter string
	}{
		{[]string{"-tanc", "dport", "=", ":443"}, 1, "dport = :443"},
		{[]string{"-tanc", "2", "dport", "=", ":443"}, 2, "dport = :443"},
		{[]string{"-tan", "-c", "state", "established"}, 1, "state established"},
		{[]string{"-ct", "3", "autobound"}, 3, "autobound"},
		{[]string{"-tnc", "error = ECONNREFUSED or lifetime > 1s"}, 1, "error = ECONNREFUSED or lifetime > 1s"},
	} {
		o, fs, err := parseNetstatFlags(tc.args...)
		if err == nil {
			err = o.checkArgs(fs)
		}
		if err != nil || o.continuous != tc.secs || strings.Join(o.filter, " ") != tc.filter || o.expr == nil {
			t.Errorf("%q: -c %d, filter %q, error %v; want -c %d, filter %q", tc.args, o.continuous, o.filter, err, tc.secs, tc.filter)
		}
	}
}

// -c with filter words: the kernel sends the table only the events of
// connections whose ports pass (the count of what it sent says so), and
// the tables list only rows the whole filter passes, gone ones too; a
// condition only the table can decide (error) works on gone rows.
func TestLiveFilter(t *testing.T) {
	nstest.RequireRoot(t)
	for _, tc := range []struct {
		expr    string
		refused map[string]int // connects to these ports, refused
		want    string         // the remote port of every gone row
		sent    int            // events the kernel sends
	}{
		// A refused connect is three events of its socket (connect,
		// close, reset received) and the reset the kernel sends for
		// its SYN, whose tuple is the SYN's reversed: local port 7001,
		// remote the client's.
		{"dport = :7001", map[string]int{"7001": 3, "7002": 3}, "7001", 9},
		{"error = ECONNREFUSED dport = :7002", map[string]int{"7001": 2, "7002": 2}, "7002", 6},
		{"not dport = :7001 and lifetime < 10s", map[string]int{"7001": 2, "7002": 1}, "7002", 2 + 4},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			ns := nstest.New(t)
			r := startLive(t, ns, append([]string{"-tanc", "--json"}, strings.Fields(tc.expr)...)...)
			n := 0
			for port, times := range tc.refused {
				for range times {
					sh(t, ns, "(exec 3<>/dev/tcp/127.0.0.1/"+port+") 2>/dev/null; true")
				}
				n += times
			}
			r.waitTables(t, len(r.tables(t))+2) // a table after the connects
			tables := r.stop(t)
			gone := 0
			for _, tb := range tables {
				for _, row := range tb.rows {
					if !strings.HasSuffix(row.Remote, ":"+tc.want) || !row.Gone || row.Error != "ECONNREFUSED" {
						t.Errorf("%s: listed %+v", tc.expr, row)
					}
					gone++
				}
			}
			if gone != tc.refused[tc.want] {
				t.Errorf("%s: %d gone rows, want %d", tc.expr, gone, tc.refused[tc.want])
			}
			m := sentSummary.FindStringSubmatch(r.stderr.String())
			if m == nil || m[1] != strconv.Itoa(tc.sent) {
				t.Errorf("%s: the kernel sent %v events of %d connects, want %d:\n%s", tc.expr, m, n, tc.sent, r.stderr.String())
			}
		})
	}
}
