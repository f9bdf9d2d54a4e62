package nstest

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/netns"
)

// Enter moves the calling thread into the namespace. The caller must have
// locked its goroutine to the thread (runtime.LockOSThread) and never
// unlock it: the thread then ends with the goroutine instead of going back
// to the scheduler in the wrong namespace. Sockets the thread opens, and
// what it reads under /proc/thread-self/net, are the namespace's.
func (ns *NS) Enter() error {
	f, err := os.Open(filepath.Join("/run/netns", ns.Name))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", ns.Name, err)
	}
	return nil
}

// InThread runs fn on a thread of its own inside the namespace and returns
// its error; the thread ends with fn, and is never the main thread (see
// netns.InThread). Goroutines fn starts run elsewhere, outside it.
func (ns *NS) InThread(fn func() error) error {
	return netns.InThread(func() error {
		if err := ns.Enter(); err != nil {
			return err
		}
		return fn()
	})
}
