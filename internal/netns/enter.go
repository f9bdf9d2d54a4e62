package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// InThread runs fn on an OS thread of its own and returns its error. The
// thread never runs anything else: a network namespace is a thread's, not
// a process's, so a thread fn moved into another (Enter) must not go back
// to the Go scheduler. It ends with fn. Goroutines fn starts run
// elsewhere, outside the namespace.
func InThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread: /proc/PID/ns/net is its namespace, and
			// the runtime parks it instead of ending it. Held here, it
			// cannot run fn's goroutine, which then gets another.
			errc <- InThread(fn)
			runtime.UnlockOSThread()
			return
		}
		// Never unlocked: the runtime then ends the thread with the
		// goroutine.
		errc <- fn()
	}()
	return <-errc
}

// Enter moves the calling thread, locked to its goroutine by InThread,
// into the network namespace of file (a /proc/PID/ns/net), if that is
// still namespace ino: a pid is reused once its process is gone. Sockets
// the thread opens then, netlink ones included, are the namespace's.
// setns needs CAP_SYS_ADMIN; without it the error is EPERM.
func Enter(file string, ino uint32) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Ino != uint64(ino) {
		return fmt.Errorf("%s is no longer network namespace %d", file, ino)
	}
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter network namespace %d: %w", ino, err)
	}
	return nil
}

// Of is the inode of the network namespace of the process or thread whose
// /proc directory is dir (/proc/PID, /proc/PID/task/TID); 0 when it is
// gone or its namespace cannot be read.
func Of(dir string) uint32 {
	var st unix.Stat_t
	if unix.Stat(filepath.Join(dir, "ns", "net"), &st) != nil {
		return 0
	}
	return uint32(st.Ino)
}

// ProcDir is the /proc directory of process pid.
func ProcDir(procRoot string, pid uint32) string {
	return filepath.Join(procRoot, strconv.FormatUint(uint64(pid), 10))
}

// Find returns, for each namespace in want, the /proc directory of a
// process in it, or of a thread when no process is: a thread may have
// entered a namespace (setns) its process is not in. A namespace no
// process or thread is in has no entry. The threads are read only when
// some namespace was not found among the processes. It costs a stat per
// process (and per thread): the caller bounds how often it runs.
func Find(procRoot string, want map[uint32]bool) map[uint32]string {
	found := make(map[uint32]string, len(want))
	for _, pattern := range []string{
		filepath.Join(procRoot, "[0-9]*"),
		filepath.Join(procRoot, "[0-9]*", "task", "[0-9]*"),
	} {
		if len(found) == len(want) {
			break
		}
		dirs, _ := filepath.Glob(pattern)
		for _, d := range dirs {
			if ino := Of(d); ino != 0 && want[ino] {
				if _, ok := found[ino]; !ok {
					found[ino] = d
				}
			}
		}
	}
	return found
}
