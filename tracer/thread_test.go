package tracer

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/internal/nstest"
	"github.com/socktrace/socktrace/tcpstate"
	"golang.org/x/sys/unix"
)

// workerName is the name the "threaded" peer gives the thread that does
// its socket work, unlike its process's name.
const workerName = "wrk-thread"

// runThreaded: name the process args[0] (its main thread's comm, which
// /proc/PID/comm shows), then on another thread named workerName, print
// TID and do args[1]: "listen" (listen on 127.0.0.1, print PORT, accept
// in a blocking accept4, print ACCEPTED) or "connect" (connect to args[2]
// in a blocking connect, print PORT). Then wait, close, print CLOSED, wait.
func runThreaded(args []string) error {
	in := bufio.NewReader(os.Stdin)
	if err := os.WriteFile("/proc/self/comm", []byte(args[0]), 0); err != nil {
		return err
	}
	return onWorkerThread(workerName, func() error {
		fmt.Println("TID", unix.Gettid())
		var fds []int
		var err error
		if args[1] == "listen" {
			fds, err = listenAccept()
		} else {
			fds, err = connectTo(args[2])
		}
		if err != nil {
			return err
		}
		waitLine(in)
		for _, fd := range fds {
			unix.Close(fd)
		}
		fmt.Println("CLOSED")
		waitLine(in)
		return nil
	})
}

// onWorkerThread runs fn on an OS thread other than the process's main
// thread, named name, as a C program's worker thread would be.
func onWorkerThread(name string, fn func() error) error {
	done := make(chan error)
	for {
		onMain := make(chan bool)
		go func() {
			// Never unlocked: a locked goroutine's thread ends with it.
			runtime.LockOSThread()
			if unix.Gettid() == unix.Getpid() {
				onMain <- true
				select {} // hold the main thread, so the next try gets another
			}
			onMain <- false
			b, err := unix.BytePtrFromString(name)
			if err == nil {
				err = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(b)), 0, 0, 0)
			}
			if err != nil {
				done <- fmt.Errorf("name the thread: %w", err)
				return
			}
			done <- fn()
		}()
		if !<-onMain {
			return <-done
		}
	}
}

// listenAccept listens on 127.0.0.1, prints PORT, accepts one connection
// and prints ACCEPTED, all in this thread's own syscalls.
func listenAccept() ([]int, error) {
	nfd, fd, err := acceptBlocking()
	if err != nil {
		return nil, err
	}
	fmt.Println("ACCEPTED")
	return []int{nfd, fd}, nil
}

// connectTo connects to addr (IPv4) and prints PORT, the local port.
func connectTo(addr string) ([]int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		return nil, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	fmt.Printf("PORT %d\n", sa.(*unix.SockaddrInet4).Port)
	return []int{fd}, nil
}

// A socket's owner is a process: its name is the process's (the thread
// group leader's comm, as /proc/PID/comm and ps show it), even when the
// thread that listened, accepted or connected has renamed itself. The
// thread is still told by its id. A --comm filter on the process's name
// sees the connection.
func TestOwnerNameIsTheProcesss(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c := traceNS(t, ns, false)
	comm, err := filter.Parse([]string{"comm", "=", "mainproc"}, filter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	byName := startCapture(t, Config{Filter: Filter{NetNS: uint32(ns.Inode), Expr: comm}, Latency: 10 * time.Millisecond})
	srv := ns.StartPeer(t, "threaded", "mainsrv", "listen")
	stid := srv.Expect("TID")
	sport := portOf(t, srv)
	cli := ns.StartPeer(t, "threaded", "mainproc", "connect", hostPort("127.0.0.1:0", sport))
	ctid := cli.Expect("TID")
	cport := portOf(t, cli)
	srv.Expect("ACCEPTED")

	accepted := func(evs []Event) bool {
		for _, e := range of(evs, sport, cport) {
			if e.Kind == KindAccept {
				return true
			}
		}
		return false
	}
	evs := c.waitFor(t, wait, "listen, connect and accept", all(
		has(sport, 0, tcpstate.Close, tcpstate.Listen), has(cport, sport, tcpstate.Close, tcpstate.SynSent), accepted))
	check := func(who string, evs []Event, pid int, comm, tid string) {
		t.Helper()
		for _, e := range evs {
			if !e.Has(FlagOwnerKnown) {
				continue
			}
			if e.PID != uint32(pid) || e.Comm.String() != comm {
				t.Errorf("%s: %v->%v (kind %d) owned by %d/%q, want %d/%q",
					who, e.Old, e.New, e.Kind, e.PID, e.Comm, pid, comm)
			}
			// The thread that made the call is the one named.
			if e.Old == tcpstate.Close || e.Kind == KindAccept {
				if got := fmt.Sprint(e.TID); got != tid {
					t.Errorf("%s: %v->%v (kind %d) by thread %s, want %s", who, e.Old, e.New, e.Kind, got, tid)
				}
			}
		}
	}
	var listener []Event
	for _, e := range of(evs, sport, 0) {
		if e.Remote.Port() == 0 {
			listener = append(listener, e)
		}
	}
	check("listener", listener, srv.PID, "mainsrv", stid)
	check("server", of(evs, sport, cport), srv.PID, "mainsrv", stid)
	check("client", of(evs, cport, sport), cli.PID, "mainproc", ctid)

	named := byName.waitFor(t, wait, "client connect under --comm mainproc", has(cport, sport, tcpstate.Close, tcpstate.SynSent))
	for _, e := range named {
		if e.Has(FlagOwnerKnown) && e.Comm.String() != "mainproc" {
			t.Errorf("--comm mainproc let through %v->%v of %v owned by %q", e.Old, e.New, e.Local, e.Comm)
		}
	}
}
