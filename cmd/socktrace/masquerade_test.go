package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// The NAT network of the -M tests, in documentation address ranges: a
// client namespace behind a router namespace that masquerades what it
// forwards to a server namespace. The server has no route back to the
// client's network, so a connection only works through the NAT.
const (
	natClientAddr = "192.0.2.2"
	natRouterIn   = "192.0.2.1"
	natRouterOut  = "198.51.100.1"
	natServerAddr = "198.51.100.2"
)

type natNet struct {
	client, router, server *nstest.NS
}

func newNATNet(t *testing.T) natNet {
	t.Helper()
	n := natNet{nstest.New(t), nstest.New(t), nstest.New(t)}
	nstest.Link(t, n.client, "c0", natClientAddr+"/24", n.router, "r0", natRouterIn+"/24")
	nstest.Link(t, n.router, "r1", natRouterOut+"/24", n.server, "s0", natServerAddr+"/24")
	n.client.Run(t, "ip", "route", "add", "default", "via", natRouterIn)
	n.router.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	n.router.Run(t, "nft", `add table ip socktrace
		add chain ip socktrace post { type nat hook postrouting priority srcnat; }
		add rule ip socktrace post oifname "r1" masquerade`)
	return n
}

// natServer listens for TCP on args[0] and UDP on args[1], and prints the
// remote address of each connection accepted ("accepted ADDR:PORT") and
// datagram received ("datagram ADDR:PORT"): the client as the NAT
// translated it.
func natServer(args []string) error {
	l, err := net.Listen("tcp4", args[0])
	if err != nil {
		return err
	}
	u, err := net.ListenPacket("udp4", args[1])
	if err != nil {
		return err
	}
	out := make(chan string, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			out <- "accepted " + c.RemoteAddr().String() // c stays open
		}
	}()
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := u.ReadFrom(buf)
			if err != nil {
				return
			}
			out <- "datagram " + from.String()
		}
	}()
	go func() {
		for line := range out {
			fmt.Println(line)
		}
	}()
	fmt.Println("ready")
	holdUntilStdinCloses()
	return nil
}

// natClient reads "tcp ADDR" (connect and hold) and "udp ADDR" (send one
// datagram) from stdin, and prints each socket's local port: "tcp PORT".
func natClient([]string) error {
	var keep []net.Conn // held open until stdin closes
	defer func() {
		for _, c := range keep {
			c.Close()
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		proto, addr, _ := strings.Cut(sc.Text(), " ")
		c, err := net.DialTimeout(proto+"4", addr, 5*time.Second)
		if err != nil {
			return err
		}
		if proto == "udp" {
			if _, err := c.Write([]byte("x")); err != nil {
				return err
			}
		}
		keep = append(keep, c)
		_, port, _ := net.SplitHostPort(c.LocalAddr().String())
		fmt.Println(proto, port)
	}
	return sc.Err()
}

// masqRow is what the tests read of a -M --json row.
type masqRow struct {
	Proto            string `json:"proto"`
	Source           string `json:"source"`
	Destination      string `json:"destination"`
	TranslatedSource string `json:"translated_source"`
	State            string `json:"state"`
	Mark             uint32 `json:"mark"`
	Original         struct {
		Src string `json:"src"`
		Dst string `json:"dst"`
	} `json:"original"`
	Reply struct {
		Src string `json:"src"`
		Dst string `json:"dst"`
	} `json:"reply"`
	Gone       bool  `json:"gone"`
	LifetimeNS int64 `json:"lifetime_ns"`
	Healed     bool  `json:"healed"`

	// Summary lines under -c, where "healed" counts rows.
	Summary   bool `json:"-"`
	New       int  `json:"-"`
	Destroyed int  `json:"-"`
}

// decodeMasqLine decodes a row, or a summary into r's summary fields.
func decodeMasqLine(line []byte, r *masqRow) error {
	var s struct {
		Summary   bool `json:"summary"`
		New       int  `json:"new"`
		Destroyed int  `json:"destroyed"`
	}
	if err := json.Unmarshal(line, &s); err != nil {
		return err
	}
	if s.Summary {
		r.Summary, r.New, r.Destroyed = true, s.New, s.Destroyed
		return nil
	}
	return json.Unmarshal(line, r)
}

// entry is a flow in the words both tools can be brought to:
// "tcp ESTABLISHED 192.0.2.2:40000->198.51.100.2:8080 198.51.100.2:8080->198.51.100.1:40000 mark=0".
func (r *masqRow) entry() string {
	return strings.Join(strings.Fields(fmt.Sprintf("%s %s %s->%s %s->%s mark=%d", r.Proto, r.State,
		r.Original.Src, r.Original.Dst, r.Reply.Src, r.Reply.Dst, r.Mark)), " ")
}

func parseMasqJSON(t *testing.T, out []byte) []masqRow {
	t.Helper()
	var rows []masqRow
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r masqRow
		if err := decodeMasqLine(line, &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		rows = append(rows, r)
	}
	return rows
}

// conntrackEntries runs conntrack -L in ns with args and returns its
// entries, sorted, in masqRow.entry's words.
func conntrackEntries(t *testing.T, ns *nstest.NS, args ...string) []string {
	t.Helper()
	out, err := ns.Command("conntrack", append([]string{"-L"}, args...)...).Output()
	if err != nil {
		t.Fatalf("conntrack -L %s: %v", strings.Join(args, " "), err)
	}
	var entries []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			entries = append(entries, conntrackEntry(line))
		}
	}
	slices.Sort(entries)
	return entries
}

// conntrackEntry reads one line of conntrack -L: "tcp 6 431999
// ESTABLISHED src=... dst=... sport=... dport=... src=... [ASSURED]
// mark=0 use=1"; the first src/dst/sport/dport are the original tuple, the
// second the reply's.
func conntrackEntry(line string) string {
	f := strings.Fields(line)
	state := ""
	if len(f) > 3 && !strings.Contains(f[3], "=") {
		state = f[3]
	}
	var tuples [2]map[string]string
	tuples[0], tuples[1] = map[string]string{}, map[string]string{}
	mark := ""
	for _, kv := range f {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
		case k == "mark":
			mark = v
		case k == "src" || k == "dst" || k == "sport" || k == "dport":
			if _, seen := tuples[0][k]; seen {
				tuples[1][k] = v
			} else {
				tuples[0][k] = v
			}
		}
	}
	tuple := func(m map[string]string) string {
		return net.JoinHostPort(m["src"], m["sport"]) + "->" + net.JoinHostPort(m["dst"], m["dport"])
	}
	return strings.Join(strings.Fields(fmt.Sprintf("%s %s %s %s mark=%s", f[0], state, tuple(tuples[0]), tuple(tuples[1]), mark)), " ")
}

// Connections from the client through the NAT are listed by -M with the
// address and port the server saw them come from, and agree with conntrack
// -L's NATed entries, entry for entry; a flow the router did not translate
// is not listed.
func TestMasquerade(t *testing.T) {
	n := newNATNet(t)
	srv := n.server.StartPeer(t, "nat-server", natServerAddr+":8080", natServerAddr+":5353")
	srv.Expect("ready")
	cli := n.client.StartPeer(t, "nat-client")
	translated := map[string]string{} // client port: source as the server saw it
	for range 3 {
		cli.Send("tcp " + natServerAddr + ":8080")
		translated[cli.Expect("tcp")] = srv.Expect("accepted")
	}
	cli.Send("udp " + natServerAddr + ":5353")
	udpPort := cli.Expect("udp")
	udpFrom := srv.Expect("datagram")
	// To the router itself: tracked, not translated.
	cli.Send("udp " + natRouterIn + ":9")
	cli.Expect("udp")

	var rows []masqRow
	var want []string
	for try := 0; ; try++ {
		before := conntrackEntries(t, n.router, "--any-nat")
		out, err := n.router.Peer("socktrace-table", "-Mn", "--json").Output()
		if err != nil {
			t.Fatalf("socktrace -Mn --json: %v", err)
		}
		rows = parseMasqJSON(t, out)
		want = conntrackEntries(t, n.router, "--any-nat")
		if slices.Equal(before, want) || try == 5 {
			break
		}
	}
	var got []string
	for i := range rows {
		got = append(got, rows[i].entry())
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("-M differs from conntrack -L --any-nat:\n--- conntrack\n%s\n--- socktrace\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	if all := conntrackEntries(t, n.router); len(all) <= len(want) {
		t.Errorf("setup: conntrack lists no flow the router did not translate:\n%s", strings.Join(all, "\n"))
	}
	if len(rows) != len(translated)+1 {
		t.Errorf("-M lists %d flows, want the %d the client made through the NAT", len(rows), len(translated)+1)
	}

	// Each row is the client's connection, translated to where the server
	// saw it come from.
	from := map[string]string{}
	for _, r := range rows {
		from[r.Proto+" "+r.Source+" "+r.Destination] = r.TranslatedSource
	}
	for port, seen := range translated {
		key := "tcp " + net.JoinHostPort(natClientAddr, port) + " " + natServerAddr + ":8080"
		if from[key] != seen {
			t.Errorf("%s: translated to %q, the server saw %s", key, from[key], seen)
		}
	}
	if key := "udp " + net.JoinHostPort(natClientAddr, udpPort) + " " + natServerAddr + ":5353"; from[key] != udpFrom {
		t.Errorf("%s: translated to %q, the server saw %s", key, from[key], udpFrom)
	}

	// The text table: netstat's header, and each connection's ports with
	// the translated one.
	out, err := n.router.Peer("socktrace-table", "-Mn").Output()
	if err != nil {
		t.Fatalf("socktrace -Mn: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 2+len(rows) || lines[0] != "IP masquerading entries" ||
		lines[1] != "prot   expire source               destination          ports" {
		t.Fatalf("-Mn:\n%s", out)
	}
	for port, seen := range translated {
		_, mport, _ := net.SplitHostPort(seen)
		row := regexp.MustCompile(`(?m)^tcp +\d+:\d\d\.\d\d ` + regexp.QuoteMeta(natClientAddr) + ` +` +
			regexp.QuoteMeta(natServerAddr) + ` +` + port + ` -> 8080 \(` + mport + `\)$`)
		if !row.Match(out) {
			t.Errorf("-Mn has no row for client port %s translated to %s:\n%s", port, mport, out)
		}
	}

	checkREADMEMasquerade(t, lines)

	// Names, as netstat resolves them: hosts from /etc/hosts, ports from
	// /etc/services.
	dir := t.TempDir()
	hosts, networks := filepath.Join(dir, "hosts"), filepath.Join(dir, "networks")
	writeFile(t, hosts, natClientAddr+" nat-client.test\n"+natServerAddr+" nat-server.test\n")
	writeFile(t, networks, "")
	out, err = withFiles(n.router.Peer("socktrace-table", "-M"), hosts, networks).Output()
	if err != nil {
		t.Fatalf("socktrace -M: %v", err)
	}
	if c := strings.Count(string(out), "nat-client.test      nat-server.test      "); c != len(rows) {
		t.Errorf("-M names %d rows' hosts, want %d:\n%s", c, len(rows), out)
	}
	if c := strings.Count(string(out), " -> http-alt ("); c != len(translated) {
		t.Errorf("-M names the port of %d rows, want %d:\n%s", c, len(translated), out)
	}

	// -e adds the kernel's state and mark, and both tuples.
	out, err = n.router.Peer("socktrace-table", "-Mne").Output()
	if err != nil {
		t.Fatalf("socktrace -Mne: %v", err)
	}
	for _, r := range rows {
		if !bytes.Contains(out, []byte(r.Original.Src+"->"+r.Original.Dst)) || !bytes.Contains(out, []byte(r.Reply.Src+"->"+r.Reply.Dst)) {
			t.Errorf("-Mne lacks the tuples of %s:\n%s", r.entry(), out)
		}
	}
	if c := strings.Count(string(out), " ESTABLISHED 0 "); c != len(translated) {
		t.Errorf("-Mne shows %d ESTABLISHED rows with mark 0, want %d:\n%s", c, len(translated), out)
	}
}

// masqRowShape is the shape of a -Mn row of a TCP or UDP flow.
var masqRowShape = regexp.MustCompile(`^(tcp|udp) +\d+:\d\d\.\d\d [0-9.]+ +[0-9.]+ +\d+ -> \d+ \(\d+\)$`)

// checkREADMEMasquerade checks that the README's -M example has the header
// and the shape of the rows socktrace printed (lines).
func checkREADMEMasquerade(t *testing.T, lines []string) {
	t.Helper()
	for _, l := range lines[2:] {
		if !masqRowShape.MatchString(l) {
			t.Errorf("-Mn row %q lacks the shape the README is checked against", l)
		}
	}
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	_, example, ok := strings.Cut(string(b), "$ sudo socktrace -Mn")
	example, _, _ = strings.Cut(example, "```")
	ex := strings.Split(strings.TrimSpace(example), "\n")
	if !ok || len(ex) < 4 {
		t.Fatalf("README.md has no -Mn example")
	}
	if ex[1] != lines[0] || ex[2] != lines[1] {
		t.Errorf("README.md's -Mn example starts %q, %q; socktrace prints %q, %q", ex[1], ex[2], lines[0], lines[1])
	}
	for _, l := range ex[3:] {
		if !masqRowShape.MatchString(l) {
			t.Errorf("README.md's -Mn example has a row socktrace does not print: %q", l)
		}
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// -M -c: a flow born and destroyed between two tables is listed once as
// gone, with how long it lived, from conntrack's events.
func TestMasqueradeLive(t *testing.T) {
	n := newNATNet(t)
	srv := n.server.StartPeer(t, "nat-server", natServerAddr+":8080", natServerAddr+":5353")
	srv.Expect("ready")
	cli := n.client.StartPeer(t, "nat-client")

	cmd := n.router.Peer("socktrace-table", "-Mnc", "1", "--json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan masqRow, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var r masqRow
			if err := decodeMasqLine(sc.Bytes(), &r); err != nil {
				t.Errorf("%v: %s", err, sc.Bytes())
				continue
			}
			lines <- r
		}
	}()
	next := func() masqRow {
		t.Helper()
		select {
		case r, ok := <-lines:
			if !ok {
				t.Fatal("socktrace -Mc ended")
			}
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("socktrace -Mc printed nothing for 10s")
		}
		return masqRow{}
	}
	for !next().Summary {
	}

	cli.Send("udp " + natServerAddr + ":5353")
	port := cli.Expect("udp")
	from := srv.Expect("datagram")
	n.router.Run(t, "conntrack", "-D", "-p", "udp", "--orig-port-src", port)

	source := net.JoinHostPort(natClientAddr, port)
	var gone *masqRow
	news, destroys := 0, 0
	for summaries := 0; summaries < 3; {
		r := next()
		switch {
		case r.Summary:
			summaries++
			news += r.New
			destroys += r.Destroyed
			if gone != nil {
				summaries = 3 // the gone row's table is complete
			}
		case r.Source != source:
		case !r.Gone:
			t.Logf("the flow was listed live first: a table began between its birth and its end")
		default:
			gone = &r
		}
	}
	if gone == nil {
		t.Fatalf("no gone row for the flow from %s in 3 tables", source)
	}
	if gone.Healed || gone.LifetimeNS <= 0 || gone.TranslatedSource != from {
		t.Errorf("gone row %+v: want its destroy event seen, a lifetime, and the source the server saw (%s)", *gone, from)
	}
	if news != 1 || destroys != 1 {
		t.Errorf("the summaries counted %d new and %d destroyed flows, want 1 each", news, destroys)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("socktrace -Mc after SIGTERM: %v", err)
	}
}

// Without CAP_NET_ADMIN the kernel shows no flow: -M says so in one line,
// and exits 1.
func TestMasqueradeUnprivileged(t *testing.T) {
	ns := nstest.New(t)
	bin := nobodyCopy(t)
	uid := freeUID(t)
	for _, args := range [][]string{{"-M"}, {"-Mc"}, {"-M", "--json"}} {
		cmd := asUID(ns.Peer("socktrace-table", args...), bin, uid)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%q: %v, want exit status 1", args, err)
		}
		// The peer prefixes what socktrace's main prints after "socktrace: ".
		want := "-M: reading the kernel's connection tracking needs CAP_NET_ADMIN; run as root\n"
		if stdout.Len() != 0 || strings.Count(stderr.String(), "\n") != 1 || !strings.HasSuffix(stderr.String(), ": "+want) {
			t.Errorf("%q: stdout %q, stderr %q; want only %q", args, stdout.String(), stderr.String(), want)
		}
	}
}
