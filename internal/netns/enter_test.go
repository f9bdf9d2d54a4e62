package netns_test

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/netns"
	"github.com/socktrace/socktrace/internal/nstest"
)

// startIn starts a process that sleeps in ns, killed when t ends.
func startIn(t *testing.T, ns *nstest.NS) uint32 {
	t.Helper()
	cmd := ns.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pid := uint32(cmd.Process.Pid)
	// ip netns exec runs the command in place: until it has entered the
	// namespace the process is in this one.
	for deadline := time.Now().Add(5 * time.Second); netns.Of(netns.ProcDir("/proc", pid)) != uint32(ns.Inode); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d not in namespace %d within 5s", pid, ns.Inode)
		}
	}
	return pid
}

// Find names a process in each namespace a process is in, and none for a
// namespace only ip netns keeps.
func TestFind(t *testing.T) {
	held, kept := nstest.New(t), nstest.New(t)
	startIn(t, held)
	found := netns.Find("/proc", map[uint32]bool{uint32(held.Inode): true, uint32(kept.Inode): true})
	if d, ok := found[uint32(held.Inode)]; !ok || netns.Of(d) != uint32(held.Inode) {
		t.Errorf("the namespace a process is in: found %q (in %d), want a process in %d", d, netns.Of(d), held.Inode)
	}
	if d, ok := found[uint32(kept.Inode)]; ok {
		t.Errorf("the namespace no process is in: found %q", d)
	}
}

// The main thread never enters a namespace: the kernel shows its namespace
// as the process's, and the runtime parks it rather than ending it, so it
// would stay there for good.
func TestInThreadSparesTheMainThread(t *testing.T) {
	ns := nstest.New(t)
	file := netns.ProcDir("/proc", startIn(t, ns)) + "/ns/net"
	self := netns.Of("/proc/self")
	for i := range 50 {
		if err := netns.InThread(func() error { return netns.Enter(file, uint32(ns.Inode)) }); err != nil {
			t.Fatal(err)
		}
		if got := netns.Of("/proc/self"); got != self {
			t.Fatalf("after %d threads entered namespace %d, the process is in %d, was in %d", i+1, ns.Inode, got, self)
		}
	}
}

// A thread that entered a namespace opens its sockets there; the file of
// another namespace than the one asked for is refused.
func TestEnter(t *testing.T) {
	ns := nstest.New(t)
	pid := startIn(t, ns)
	file := netns.ProcDir("/proc", pid) + "/ns/net"
	var inside uint32
	var links []net.Interface
	err := netns.InThread(func() error {
		if err := netns.Enter(file, uint32(ns.Inode)); err != nil {
			return err
		}
		inside = netns.Of("/proc/thread-self")
		var err error
		links, err = net.Interfaces() // a netlink dump
		return err
	})
	if err != nil || inside != uint32(ns.Inode) {
		t.Fatalf("in the thread: namespace %d, %v; want %d", inside, err, ns.Inode)
	}
	if len(links) != 1 || links[0].Name != "lo" {
		t.Errorf("links seen from the thread: %v, want the fresh namespace's lo alone", links)
	}
	if netns.Of("/proc/thread-self") != netns.Of("/proc/self") {
		t.Error("the calling thread left this namespace")
	}
	err = netns.InThread(func() error { return netns.Enter(file, uint32(ns.Inode)+1) })
	if err == nil || errors.Is(err, unix.EPERM) {
		t.Errorf("entering another namespace than asked: %v, want an error", err)
	}
	if err := netns.InThread(func() error { return netns.Enter("/proc/0/ns/net", 1) }); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file that does not exist: %v", err)
	}
}
