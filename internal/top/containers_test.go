package top

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/snapshot"
)

// fakeContainers names processes from a table; it counts the questions.
type fakeContainers struct {
	names map[uint32]string
	asked int
}

func (f *fakeContainers) Name(pid uint32, _ uint64, _ snapshot.Comm, _ time.Time) string {
	f.asked++
	return f.names[pid]
}

var inContainers = map[uint32]string{
	100: "docker:0123456789ab", 101: "docker:0123456789ab", 102: "kube-system/coredns",
	103: "nginx.service", 104: "evil\x1b[2J",
}

// --by container sums up every process of a container; a process in no
// container is grouped by its unit, or with those of none ("").
func TestGroupByContainer(t *testing.T) {
	f := &fakeContainers{names: inContainers}
	a := NewAggregator(Options{By: ByContainer, Containers: f}, t0)
	for i, pid := range []uint32{100, 101, 101, 102, 103, 105, 106, 0} {
		s := newSock(pid, "client", "10.0.0.1:4000"+strconv.Itoa(i), "10.0.0.2:80", uint64(i+1))
		feed(a, s.connect(0), s.established(time.Millisecond, 50*time.Microsecond))
	}
	rep := interval(a, time.Second)
	got := map[string]uint64{}
	for _, r := range rep.Rows {
		got[r.Container] = r.Connects
	}
	want := map[string]uint64{"docker:0123456789ab": 3, "kube-system/coredns": 1, "nginx.service": 1, "": 3}
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("container %q: %d connects, want %d (rows %v)", k, got[k], v, got)
		}
	}
	lines, err := (&Text{}).Lines(rep, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(lines[1]); f[0] != "CONTAINER" || f[1] != "CONN/s" {
		t.Errorf("table header %q, want CONTAINER first", lines[1])
	}
	if !strings.Contains(strings.Join(lines, "\n"), "\n-  ") {
		t.Errorf("no row \"-\" for the processes in no container:\n%s", strings.Join(lines, "\n"))
	}
	if js := string(AppendJSON(nil, rep)); !strings.Contains(js, `{"interval_end":"2026-12-06T20:48:20.000000000Z","pid":null,"comm":null,"container":"docker:0123456789ab","remote":null,`) {
		t.Errorf("JSON rows lack the container, or have a pid:\n%s", js)
	}
}

// Grouped by process, a row names its process's container, asked once per
// row, not per event, and escaped on a terminal; not grouped by process
// or container, rows have none.
func TestProcessRowsNameContainers(t *testing.T) {
	f := &fakeContainers{names: inContainers}
	a := NewAggregator(Options{Containers: f}, t0)
	for i := range 10 {
		s := newSock(104, "client", "10.0.0.1:4000"+strconv.Itoa(i), "10.0.0.2:80", uint64(i+1))
		feed(a, s.connect(0), s.established(time.Millisecond, 50*time.Microsecond))
	}
	rep := interval(a, time.Second)
	if len(rep.Rows) != 1 || rep.Rows[0].Container != "evil\x1b[2J" || f.asked != 1 {
		t.Fatalf("rows %+v, asked %d times; want one row in evil\\x1b[2J, asked once", rep.Rows, f.asked)
	}
	lines, err := (&Text{}).Lines(rep, 0)
	if err != nil {
		t.Fatal(err)
	}
	if out := strings.Join(lines, "\n"); strings.Contains(out, "\x1b") || !strings.Contains(out, `104 client evil\x1b[2J 10.0.0.2:80`) {
		t.Errorf("container not shown escaped:\n%s", out)
	}
	if js := string(AppendJSON(nil, rep)); !strings.Contains(js, `"container":"evil\u001b[2J"`) {
		t.Errorf("JSON row lacks the container: %s", js)
	}

	b := NewAggregator(Options{By: ByRemote, Containers: f}, t0)
	s := newSock(104, "client", "10.0.0.1:40000", "10.0.0.2:80", 1)
	feed(b, s.connect(0))
	rep = interval(b, time.Second)
	if js := string(AppendJSON(nil, rep)); !strings.Contains(js, `"container":null`) {
		t.Errorf("--by remote: %s; want container null", js)
	}
}

// BenchmarkAddByContainer is BenchmarkAdd grouped by container, the
// containers named by the container package's resolver from a proc tree
// (each process's cgroup read once, then cached).
func BenchmarkAddByContainer(b *testing.B) {
	proc := b.TempDir()
	for pid := range 110 {
		dir := filepath.Join(proc, strconv.Itoa(pid))
		cg := "0::/system.slice/docker-" + strings.Repeat(strconv.Itoa(pid%10), 64) + ".scope\n"
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cg), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	r := Resolver{R: container.NewResolver(container.Config{ProcRoot: proc})}
	benchmarkAdd(b, Options{By: ByContainer | ByRemote, Containers: r})
}
