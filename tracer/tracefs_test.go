package tracer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/nstest"
	"github.com/socktrace/socktrace/snapshot"
)

func TestUsableTracefs(t *testing.T) {
	tracefs := func(root, point string) snapshot.Mount {
		return snapshot.Mount{Root: root, Point: point, FSType: "tracefs"}
	}
	debugfs := snapshot.Mount{Root: "/", Point: "/sys/kernel/debug", FSType: "debugfs"}
	sysfs := snapshot.Mount{Root: "/", Point: "/sys", FSType: "sysfs"}
	for _, c := range []struct {
		name   string
		mounts []snapshot.Mount
		dirs   []string
		want   string
	}{
		{"none", []snapshot.Mount{sysfs}, nil, ""},
		{"the usual place", []snapshot.Mount{sysfs, tracefs("/", "/sys/kernel/tracing")}, nil, "/sys/kernel/tracing"},
		{"under debugfs", []snapshot.Mount{sysfs, debugfs, tracefs("/", "/sys/kernel/debug/tracing")}, nil, "/sys/kernel/debug/tracing"},
		{"anywhere, the first", []snapshot.Mount{tracefs("/", "/srv/t"), tracefs("/", "/sys/kernel/tracing")}, nil, "/srv/t"},
		{"a bind of a directory in it", []snapshot.Mount{tracefs("/events", "/sys/kernel/tracing")}, nil, ""},
		{"debugfs, not looked at yet", []snapshot.Mount{sysfs, debugfs}, []string{"/sys/kernel/debug/tracing"}, "/sys/kernel/debug/tracing"},
		{"debugfs without tracing", []snapshot.Mount{sysfs, debugfs}, nil, ""},
	} {
		isDir := func(p string) bool { return slices.Contains(c.dirs, p) }
		if got := usableTracefs(c.mounts, isDir); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// TestTracefsMountedWhenMissing runs a tracer where no tracefs is mounted:
// ip netns exec gives the peer its own mount namespace and a fresh sysfs.
// The tracer must mount tracefs, say so, and have its accept hooks
// attached; a second tracer finds that mount and mounts nothing.
func TestTracefsMountedWhenMissing(t *testing.T) {
	lines := tracefsPeer(t, "none")
	want := []string{
		"WARNING tracefs was not mounted: mounted it on /sys/kernel/tracing for the classic tracepoints (umount /sys/kernel/tracing undoes it)",
		"TRACEFS /sys/kernel/tracing",
		"ACCEPTED",
		"TRACEFS /sys/kernel/tracing",
		"ACCEPTED",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("peer said:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestTracefsFoundElsewhere: a tracefs mounted at another path is found in
// mountinfo and used as it is (cilium/ebpf reads the ids there too).
func TestTracefsFoundElsewhere(t *testing.T) {
	lines := tracefsPeer(t, "elsewhere")
	want := []string{"TRACEFS ELSEWHERE", "ACCEPTED"}
	if !slices.Equal(lines, want) {
		t.Errorf("peer said:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// tracefsPeer runs the tracefs role in a fresh namespace and returns its
// lines, checking that the host's tracefs mounts did not change.
func tracefsPeer(t *testing.T, scenario string) []string {
	ns := nstest.New(t)
	before := hostTracefs(t)
	out, err := ns.Peer("tracefs", scenario).Output()
	if err != nil {
		t.Fatalf("tracefs peer: %v; it said:\n%s", err, out)
	}
	if after := hostTracefs(t); !slices.Equal(before, after) {
		t.Errorf("the host's tracefs mounts changed: %q, now %q", before, after)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func hostTracefs(t *testing.T) []string {
	t.Helper()
	mounts, err := readMountinfo()
	if err != nil {
		t.Fatal(err)
	}
	return tracefsPoints(mounts)
}

func readMountinfo() ([]snapshot.Mount, error) {
	return snapshot.ReadMounts("/proc/self/mountinfo")
}

func tracefsPoints(mounts []snapshot.Mount) []string {
	var points []string
	for _, m := range mounts {
		if m.FSType == "tracefs" {
			points = append(points, m.Point)
		}
	}
	return points
}

// runTracefs is the peer: args[0] "none" starts two tracers one after the
// other where no tracefs is mounted; "elsewhere" mounts tracefs at a new
// directory, then runs itself again as "mounted DIR", which starts one.
// (cilium/ebpf reads mountinfo once, as the process starts: a tracefs
// mounted at another path must be there before.) For each tracer it prints
// its warnings, the tracefs mounts (DIR as ELSEWHERE), and ACCEPTED once
// the accept hook reported a connection it accepted.
func runTracefs(args []string) error {
	if args[0] == "mounted" {
		defer os.Remove(args[1])
		defer unix.Unmount(args[1], 0)
		return traceOneAccept(args[1])
	}
	mounts, err := readMountinfo()
	if err != nil {
		return err
	}
	if p := tracefsPoints(mounts); len(p) > 0 {
		return fmt.Errorf("tracefs is mounted at %q before the test", p)
	}
	if args[0] == "none" {
		if err := traceOneAccept(""); err != nil {
			return err
		}
		return traceOneAccept("")
	}
	dir, err := os.MkdirTemp("", "socktrace-tracefs-")
	if err != nil {
		return err
	}
	if err := unix.Mount("nodev", dir, "tracefs", 0, ""); err != nil {
		os.Remove(dir)
		return fmt.Errorf("mount tracefs on %s: %w", dir, err)
	}
	// The mount namespace is ip netns exec's, this process's alone.
	return syscall.Exec("/proc/self/exe", []string{os.Args[0], "-test.run=^$", "mounted", dir}, os.Environ())
}

func traceOneAccept(elsewhere string) error {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/net", &st); err != nil {
		return err
	}
	tr, err := New(Config{Filter: Filter{NetNS: uint32(st.Ino)}, Latency: 10 * time.Millisecond})
	if err != nil {
		return err
	}
	defer tr.Close()
	for _, w := range tr.Warnings() {
		fmt.Println("WARNING", w)
	}
	mounts, err := readMountinfo()
	if err != nil {
		return err
	}
	for _, p := range tracefsPoints(mounts) {
		if p == elsewhere {
			p = "ELSEWHERE"
		}
		fmt.Println("TRACEFS", p)
	}
	port, err := acceptOne()
	if err != nil {
		return err
	}
	if err := waitAccept(tr, port); err != nil {
		return err
	}
	fmt.Println("ACCEPTED")
	return nil
}

// acceptOne connects to a new listener on loopback and accepts; it returns
// the listener's port.
func acceptOne() (uint16, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		return 0, err
	}
	s.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port), nil
}

// waitAccept reads events until the accept of a connection to port, for
// at most 5 s.
func waitAccept(tr *Tracer, port uint16) error {
	found := readUntil(tr, func(ev *Event) bool {
		return ev.Kind == KindAccept && ev.Local.Port() == port && ev.PID == uint32(os.Getpid())
	})
	select {
	case err := <-found:
		return err
	case <-time.After(5 * time.Second):
		tr.Stop()
		if err := <-found; !errors.Is(err, ErrStopped) {
			return err
		}
		return fmt.Errorf("no accept event for port %d within 5s", port)
	}
}
