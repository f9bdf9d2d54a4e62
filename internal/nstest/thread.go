package nstest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
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
// its error. Goroutines fn starts run elsewhere, outside it.
func (ns *NS) InThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := ns.Enter(); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}
