package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// cgroupPeer is a process the test moves into a cgroup before it does
// anything: "server" prints "ready", waits for a line, listens and prints
// "port N", then accepts; "client" prints "ready", waits for a line
// holding an address and connects to it once.
func cgroupPeer(args []string) error {
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	if !in.Scan() {
		return nil
	}
	if args[0] == "server" {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		fmt.Println("port", l.Addr().(*net.TCPAddr).Port)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	} else {
		c, err := net.Dial("tcp4", strings.TrimSpace(strings.TrimPrefix(in.Text(), "go")))
		if err != nil {
			return err
		}
		c.Close()
		fmt.Println("done")
		if args[0] == "client-exit" {
			return nil // gone before socktrace reads its events
		}
	}
	holdUntilStdinCloses()
	return nil
}

// cgroup2Root is where the unified hierarchy is mounted: /sys/fs/cgroup
// on a v2 host, /sys/fs/cgroup/unified on a hybrid one (this test host).
func cgroup2Root(t *testing.T) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		_, after, ok := strings.Cut(line, " - ")
		if f := strings.Fields(line); ok && len(f) > 4 && strings.HasPrefix(after, "cgroup2 ") {
			return f[4]
		}
	}
	if os.Getenv(nstest.RequireEnv) == "1" {
		t.Fatal("no cgroup2 hierarchy mounted")
	}
	t.Skip("no cgroup2 hierarchy mounted")
	return ""
}

// testCgroups makes the cgroups under a test slice of root, and removes
// them when t ends, after moving any process left in them to the test's
// own cgroup.
func testCgroups(t *testing.T, root string, paths ...string) string {
	base := filepath.Join(root, fmt.Sprintf("socktrace-test-%d.slice", os.Getpid()))
	var made []string
	t.Cleanup(func() {
		self := ownCgroup(t, root)
		for i := len(made) - 1; i >= 0; i-- {
			procs, _ := os.ReadFile(filepath.Join(made[i], "cgroup.procs"))
			for pid := range strings.FieldsSeq(string(procs)) {
				_ = os.WriteFile(filepath.Join(self, "cgroup.procs"), []byte(pid), 0)
			}
			if err := os.Remove(made[i]); err != nil {
				t.Errorf("remove cgroup: %v", err)
			}
		}
	})
	for _, p := range append([]string{""}, paths...) {
		dir := filepath.Join(base, p)
		for _, d := range ancestors(base, dir) {
			if err := os.Mkdir(d, 0o755); err == nil {
				made = append(made, d)
			} else if !os.IsExist(err) {
				t.Fatalf("make cgroup: %v", err)
			}
		}
	}
	return base
}

// ancestors lists dir's directories from base down to dir itself.
func ancestors(base, dir string) []string {
	list := []string{base}
	rel, _ := filepath.Rel(base, dir)
	cur := base
	for part := range strings.SplitSeq(rel, "/") {
		if part == "." || part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		list = append(list, cur)
	}
	return list
}

func ownCgroup(t *testing.T, root string) string {
	data, _ := os.ReadFile("/proc/self/cgroup")
	for line := range strings.Lines(string(data)) {
		if path, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return filepath.Join(root, path)
		}
	}
	return root
}

func moveToCgroup(t *testing.T, dir string, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatalf("move %d to %s: %v", pid, dir, err)
	}
}

// Each runtime's cgroup, made as the runtime names it, gives the events of
// a process in it the container field: a server in a docker container,
// and clients in a pod's containerd container, CRI-O, podman and a
// systemd service connecting to it.
func TestTraceNamesContainers(t *testing.T) {
	nstest.RequireRoot(t)
	root := cgroup2Root(t)
	ns := nstest.New(t)
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const podUID = "6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5"
	pod := "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + strings.ReplaceAll(podUID, "-", "_") + ".slice"
	cases := []struct{ role, cgroup, container, containerID string }{
		{"server", "docker-" + id + ".scope", "docker:0123456789ab", "docker://" + id},
		{"client", pod + "/cri-containerd-" + id + ".scope", podUID, "containerd://" + id},
		{"client", "crio-" + id + ".scope", "cri-o:0123456789ab", "cri-o://" + id},
		{"client", "libpod-" + id + ".scope", "podman:0123456789ab", "podman://" + id},
		{"client", "socktrace-test.service", "socktrace-test.service", ""},
	}
	var paths []string
	for _, c := range cases {
		paths = append(paths, c.cgroup)
	}
	base := testCgroups(t, root, paths...)

	tr := startTrace(t, &traceOptions{json: true, ringMiB: 1,
		latency: 10 * time.Millisecond, netns: strconv.FormatUint(ns.Inode, 10)})

	want := map[int]int{} // pid → case
	var addr string
	for i, c := range cases {
		p := ns.StartPeer(t, "cgroup-peer", c.role)
		p.Expect("ready")
		moveToCgroup(t, filepath.Join(base, c.cgroup), p.PID)
		want[p.PID] = i
		p.Send("go " + addr)
		if c.role == "server" {
			addr = "127.0.0.1:" + p.Expect("port")
		} else {
			p.Expect("done")
		}
	}
	// Each client's end comes after its connect: once every client has
	// one, every event of theirs is out. The end is ->CLOSE or
	// ->TIME_WAIT, whichever side closed first: both may, at once.
	ended := func() int {
		n := 0
		for pid, i := range want {
			if cases[i].role == "client" && endOf(tr.out.String(), pid) {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(5 * time.Second); ended() < len(cases)-1; {
		if time.Now().After(deadline) {
			t.Fatalf("%d clients' connections ended, want %d: %s", ended(), len(cases)-1, tr.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tr.stop(); err != nil {
		t.Fatalf("trace: %v", err)
	}
	seen := map[int]int{}
	for line := range strings.Lines(tr.out.String()) {
		var ev struct {
			Event, Container string
			PID              int
			ContainerID      string `json:"container_id"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		i, ok := want[ev.PID]
		if !ok {
			continue
		}
		seen[ev.PID]++
		c := cases[i]
		if ev.Container != c.container || ev.ContainerID != c.containerID {
			t.Errorf("%s event of pid %d in %s: container %q id %q, want %q %q",
				ev.Event, ev.PID, c.cgroup, ev.Container, ev.ContainerID, c.container, c.containerID)
		}
	}
	for pid, i := range want {
		if seen[pid] == 0 {
			t.Errorf("no event of pid %d in %s", pid, cases[i].cgroup)
		}
	}
}

// A process that connects and exits at once, as curl or a probe does, is
// gone when socktrace reads its events: its container comes from the
// cgroup id the kernel read while it ran.
func TestTraceNamesContainersOfShortLivedProcesses(t *testing.T) {
	nstest.RequireRoot(t)
	root := cgroup2Root(t)
	ns := nstest.New(t)
	const id = "89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"
	cgroup := "docker-" + id + ".scope"
	base := testCgroups(t, root, cgroup)

	// Events wait up to the latency in the ring: long after the
	// client is gone.
	tr := startTrace(t, &traceOptions{json: true, ringMiB: 1,
		latency: 500 * time.Millisecond, netns: strconv.FormatUint(ns.Inode, 10)})
	srv := ns.StartPeer(t, "cgroup-peer", "server")
	srv.Expect("ready")
	srv.Send("go")
	addr := "127.0.0.1:" + srv.Expect("port")
	cli := ns.StartPeer(t, "cgroup-peer", "client-exit")
	cli.Expect("ready")
	moveToCgroup(t, filepath.Join(base, cgroup), cli.PID)
	cli.Send("go " + addr)
	cli.Expect("done")
	if err := cli.Wait(); err != nil {
		t.Fatalf("client: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(tr.out.String(), `"event":"close"`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no close: %s", tr.out.String())
		}
	}
	if err := tr.stop(); err != nil {
		t.Fatalf("trace: %v", err)
	}
	n := 0
	for line := range strings.Lines(tr.out.String()) {
		var ev struct {
			Event, Container string
			PID              int
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if ev.PID != cli.PID {
			continue
		}
		n++
		if ev.Container != "docker:89abcdef0123" {
			t.Errorf("%s event of the gone client: container %q, want docker:89abcdef0123", ev.Event, ev.Container)
		}
	}
	if n == 0 {
		t.Errorf("no event of the client (pid %d): %s", cli.PID, tr.out.String())
	}
}

// endOf says whether the JSON lines in out hold the end of a connection
// of pid: its ->CLOSE or ->TIME_WAIT.
func endOf(out string, pid int) bool {
	for line := range strings.Lines(out) {
		var ev struct {
			PID      int
			NewState string `json:"new_state"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.PID == pid && (ev.NewState == "CLOSE" || ev.NewState == "TIME_WAIT") {
			return true
		}
	}
	return false
}

// top --by container sums up each container's processes: one client in a
// docker container, two in another, each connecting once to a server
// outside both. Grouped by process, each client's row names its container.
func TestTopByContainer(t *testing.T) {
	nstest.RequireRoot(t)
	root := cgroup2Root(t)
	ns := nstest.New(t)
	const idA = "aaaaaaaaaaaa0123456789abcdef0123456789abcdef0123456789abcdef0123"
	const idB = "bbbbbbbbbbbb0123456789abcdef0123456789abcdef0123456789abcdef0123"
	base := testCgroups(t, root, "docker-"+idA+".scope", "docker-"+idB+".scope")
	byContainer := startTop(t, ns, "--by", "container")
	byProcess := startTop(t, ns, "--by", "process")

	srv := ns.StartPeer(t, "cgroup-peer", "server")
	srv.Expect("ready")
	srv.Send("go")
	addr := "127.0.0.1:" + srv.Expect("port")
	clients := map[int]string{}
	for _, id := range []string{idA, idB, idB} {
		c := ns.StartPeer(t, "cgroup-peer", "client")
		c.Expect("ready")
		moveToCgroup(t, filepath.Join(base, "docker-"+id+".scope"), c.PID)
		c.Send("go " + addr)
		c.Expect("done")
		clients[c.PID] = "docker:" + id[:12]
	}
	time.Sleep(200 * time.Millisecond) // the ring buffer's latency, 50 ms
	groups := byContainer.stop(t)
	procs := byProcess.stop(t)

	for name, want := range map[string]uint64{"docker:aaaaaaaaaaaa": 1, "docker:bbbbbbbbbbbb": 2} {
		g := groups["container "+name]
		if g == nil || g.Connects != want || g.Accepts != 0 {
			t.Errorf("--by container, %s: %+v; want %d connects (rows %q)", name, g, want, groupNames(groups))
		}
	}
	// The server runs in the test's own cgroup, in neither container.
	var accepts uint64
	for k, g := range groups {
		if strings.HasPrefix(k, "container docker:") && g.Accepts != 0 {
			t.Errorf("%s: %d accepts, want the server's elsewhere", k, g.Accepts)
		}
		accepts += g.Accepts
	}
	if accepts != 3*2 { // the rows' and the summaries'
		t.Errorf("%d accepts, want 3", accepts/2)
	}
	for pid, name := range clients {
		g := procs[fmt.Sprintf("%d null", pid)]
		if g == nil || g.Container == nil || *g.Container != name || g.Connects != 1 {
			t.Errorf("--by process, client %d: %+v; want 1 connect in %s", pid, g, name)
		}
	}
}

// container = NAME picks the events and rows of processes in the
// container (here a docker container), by the name socktrace shows, and
// leaves out a systemd service's client of it.
func TestFilterContainer(t *testing.T) {
	nstest.RequireRoot(t)
	root := cgroup2Root(t)
	ns := nstest.New(t)
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	base := testCgroups(t, root, "docker-"+id+".scope", "socktrace-test.service")

	tr := startTrace(t, &traceOptions{json: true, ringMiB: 1, latency: 10 * time.Millisecond,
		netns: strconv.FormatUint(ns.Inode, 10), filter: []string{"container", "=", "docker:0123456789ab"}})
	srv := ns.StartPeer(t, "cgroup-peer", "server")
	srv.Expect("ready")
	moveToCgroup(t, filepath.Join(base, "docker-"+id+".scope"), srv.PID)
	srv.Send("go")
	addr := "127.0.0.1:" + srv.Expect("port")
	cli := ns.StartPeer(t, "cgroup-peer", "client")
	cli.Expect("ready")
	moveToCgroup(t, filepath.Join(base, "socktrace-test.service"), cli.PID)
	cli.Send("go " + addr)
	cli.Expect("done")

	// The server's row, by its container, and not by the other's.
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"container = docker:0123456789ab", true},
		{"container = 0123456789abcdef", true},
		{"container = socktrace-test.service", false},
		{"not container = docker:0123456789ab", false},
	} {
		got, err := ns.Peer("socktrace-table", append([]string{"-tlnW"}, strings.Fields(tc.expr)...)...).Output()
		if err != nil {
			t.Fatalf("socktrace -tln %s: %v", tc.expr, err)
		}
		if listed := strings.Contains(string(got), addr+" "); listed != tc.want {
			t.Errorf("socktrace -tln %s: the listener at %s listed %v, want %v:\n%s", tc.expr, addr, listed, tc.want, got)
		}
	}

	accepted := func() bool { return strings.Contains(tr.out.String(), `"event":"accept"`) }
	for deadline := time.Now().Add(10 * time.Second); !accepted(); {
		if time.Now().After(deadline) {
			_ = tr.stop()
			t.Fatalf("no accept of the docker container's server (pid %d, cgroup %q): %s\ntrace said: %s",
				srv.PID, readFile(fmt.Sprintf("/proc/%d/cgroup", srv.PID)), tr.out.String(), tr.errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the client's events, were they let through
	if err := tr.stop(); err != nil {
		t.Fatalf("trace: %v", err)
	}
	for line := range strings.Lines(tr.out.String()) {
		var ev struct {
			Event, Container string
			PID              int
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if ev.PID != srv.PID || ev.Container != "docker:0123456789ab" {
			t.Errorf("trace container = docker:0123456789ab let through %s of pid %d in %q", ev.Event, ev.PID, ev.Container)
		}
	}
}

// readFile is the file's content, or the error reading it, for messages.
func readFile(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(data)
}
