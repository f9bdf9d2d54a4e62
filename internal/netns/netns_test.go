package netns_test

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/netns"
	"github.com/socktrace/socktrace/internal/nstest"
)

// Own is the namespace /proc/self/ns/net names, and Parse finds it by its
// file and by its inode number.
func TestOwnAndParse(t *testing.T) {
	own, err := netns.Own("/proc")
	if err != nil || own == 0 {
		t.Fatalf("Own: %d, %v", own, err)
	}
	for _, in := range []string{"/proc/self/ns/net", "/proc/thread-self/ns/net"} {
		if got, err := netns.Parse(in); err != nil || got != own {
			t.Errorf("netns.Parse(%q) = %d, %v; want %d", in, got, err, own)
		}
	}
	if got, err := netns.Parse("4026531840"); err != nil || got != 4026531840 {
		t.Errorf("an inode number: %d, %v", got, err)
	}
	if _, err := netns.Own(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Own of a tree without self/ns/net: %v, want a not-exist error", err)
	}
}

// A bare name is looked up in Dir, unless only a file in the working
// directory has it; the error says which file it tried.
func TestParseName(t *testing.T) {
	t.Chdir(t.TempDir())
	missing := "socktrace-none"
	if _, err := netns.Parse(missing); err == nil || err.Error() != netns.Dir+"/"+missing+": no such file or directory" {
		t.Errorf("a missing name: %v", err)
	}
	if err := os.WriteFile("plain", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := netns.Parse("plain"); err == nil || err.Error() != "not a namespace file" {
		t.Errorf("a file here: %v", err)
	}
}

// A namespace is found wherever it lives: kept by ip netns, the one a
// process is in, or one only a thread entered.
func TestExists(t *testing.T) {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &self); err != nil {
		t.Fatal(err)
	}
	ns := nstest.New(t)
	thread := make(chan uint64)
	release := make(chan struct{})
	go func() {
		// The thread dies with its namespace: never unlocked.
		runtime.LockOSThread()
		var st unix.Stat_t
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Error(err)
		} else if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			t.Error(err)
		}
		thread <- st.Ino
		<-release
	}()
	threadNS := <-thread
	defer close(release)
	if threadNS == 0 {
		t.FailNow()
	}
	for _, tc := range []struct {
		what string
		ino  uint64
		want bool
	}{
		{"this process's", self.Ino, true},
		{"ip netns's", ns.Inode, true},
		{"a thread's", threadNS, true},
		{"no namespace's", 1, false},
	} {
		if got := netns.Exists("/proc", tc.ino); got != tc.want {
			t.Errorf("%s inode %d: %v, want %v", tc.what, tc.ino, got, tc.want)
		}
	}
}
