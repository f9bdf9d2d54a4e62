package tracer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/nstest"
)

func TestMain(m *testing.M) {
	nstest.RunPeer(map[string]func([]string) error{
		"server":   runServer,
		"client":   runClient,
		"threaded": runThreaded,
		"tracefs":  runTracefs,
	})
	os.Exit(m.Run())
}

// portOf reads a peer's PORT line.
func portOf(t *testing.T, p *nstest.Peer) uint16 {
	t.Helper()
	n, err := strconv.Atoi(p.Expect("PORT"))
	if err != nil {
		t.Fatal(err)
	}
	return uint16(n)
}

// The peers' side. Each step prints one line; "wait" reads one line.
func waitLine(r *bufio.Reader) { _, _ = r.ReadString('\n') }

// runServer: listen on args[0], print PORT, accept (args[2] "blocking":
// in a blocking accept4 syscall), print ACCEPTED, then args[1]: "wait-eof" (read to EOF, print EOF, wait, close), "close"
// (wait, close), "read-close" (read len(greeting) bytes, print READ, wait,
// close), "hold" (read until an error, print it) or "linger0" (wait, close
// with a reset).
func runServer(args []string) error {
	in := bufio.NewReader(os.Stdin)
	accept := netAccept
	if len(args) > 2 && args[2] == "blocking" {
		accept = blockingAccept
	}
	c, err := accept(args[0])
	if err != nil {
		return err
	}
	fmt.Println("ACCEPTED")
	switch args[1] {
	case "wait-eof":
		_, err := io.Copy(io.Discard, c)
		fmt.Println("EOF", errName(err))
		waitLine(in)
		c.Close()
	case "close":
		waitLine(in)
		c.Close()
	case "read-close":
		_, err := io.ReadFull(c, make([]byte, len(greeting)))
		fmt.Println("READ", errName(err))
		waitLine(in)
		c.Close()
	case "hold":
		_, err := io.Copy(io.Discard, c)
		fmt.Println("EOF", errName(err))
	case "linger0":
		_ = c.(*net.TCPConn).SetLinger(0)
		waitLine(in)
		c.Close()
	}
	fmt.Println("CLOSED")
	waitLine(in) // exit when told, so the listener's close comes last
	return nil
}

// netAccept listens on addr, prints PORT and accepts one connection the Go
// way: a non-blocking accept4 after the netpoller says one is ready.
func netAccept(addr string) (net.Conn, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	return ln.Accept()
}

// blockingAccept is netAccept with a thread blocked inside accept4(2),
// as in a classic C server. IPv4 loopback only.
func blockingAccept(string) (net.Conn, error) {
	nfd, _, err := acceptBlocking()
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(nfd), "accepted")
	defer f.Close()
	return net.FileConn(f)
}

// acceptBlocking listens on 127.0.0.1, prints PORT and accepts one
// connection in a blocking accept4(2) on the calling thread. It returns
// the accepted socket and the listener.
func acceptBlocking() (conn, listener int, err error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return -1, -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return -1, -1, err
	}
	if err := unix.Listen(fd, 8); err != nil {
		return -1, -1, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return -1, -1, err
	}
	fmt.Printf("PORT %d\n", sa.(*unix.SockaddrInet4).Port)
	nfd, _, err := unix.Accept4(fd, 0)
	if err != nil {
		return -1, -1, err
	}
	return nfd, fd, nil
}

// runClient: connect to args[0]; on failure print ERR and the errno name.
// Then args[1]: "close" (wait, close), "wait-eof" (read to EOF, wait,
// close), "send" (send greeting, then as "wait-eof"), "wait-send" (wait,
// send greeting, print SENT, then as "wait-eof"), "linger0" (wait, close
// with a reset), "shutdown" (wait, shut down writing, read to EOF, wait,
// close). Optional args[2] binds the local port.
func runClient(args []string) error {
	in := bufio.NewReader(os.Stdin)
	// SO_REUSEADDR on every client: binding a later client to the port of
	// a TIME_WAIT socket needs it on both.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		})
	}}
	if len(args) > 2 {
		port, _ := strconv.Atoi(args[2])
		d.LocalAddr = &net.TCPAddr{Port: port}
	}
	c, err := d.Dial("tcp", args[0])
	if err != nil {
		fmt.Println("ERR", errName(err))
		return nil
	}
	fmt.Printf("PORT %d\n", c.LocalAddr().(*net.TCPAddr).Port)
	switch args[1] {
	case "wait-send":
		waitLine(in)
		if _, err := c.Write([]byte(greeting)); err != nil {
			return err
		}
		fmt.Println("SENT")
		_, err := io.Copy(io.Discard, c)
		fmt.Println("EOF", errName(err))
	case "send":
		if _, err := c.Write([]byte(greeting)); err != nil {
			return err
		}
		fallthrough
	case "wait-eof":
		_, err := io.Copy(io.Discard, c)
		fmt.Println("EOF", errName(err))
	case "linger0":
		_ = c.(*net.TCPConn).SetLinger(0)
	case "shutdown":
		waitLine(in)
		_ = c.(*net.TCPConn).CloseWrite()
		fmt.Println("SHUT")
		_, err := io.Copy(io.Discard, c)
		fmt.Println("EOF", errName(err))
	}
	waitLine(in)
	c.Close()
	fmt.Println("CLOSED")
	waitLine(in)
	return nil
}

// greeting is what a "send" client sends: its length is the byte count
// both close summaries must show.
const greeting = "hello"

func errName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	if err != nil {
		return err.Error()
	}
	return "none"
}

// capture collects a tracer's events in the background.
type capture struct {
	tr     *Tracer
	events chan Event
	seen   []Event
}

func startCapture(t *testing.T, cfg Config) *capture {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("start tracer: %v", err)
	}
	return capturing(t, tr)
}

// startKernelCapture is startCapture without userspace's filtering: the
// events are those the kernel sent.
func startKernelCapture(t *testing.T, cfg Config) *capture {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("start tracer: %v", err)
	}
	tr.userFilter = false
	return capturing(t, tr)
}

func capturing(t *testing.T, tr *Tracer) *capture {
	c := &capture{tr: tr, events: make(chan Event, 1024)}
	go func() {
		defer close(c.events)
		var ev Event
		for tr.Next(&ev) == nil {
			c.events <- ev
		}
	}()
	t.Cleanup(func() {
		tr.Stop()
		for range c.events {
		}
		tr.Close()
	})
	return c
}

// waitFor collects events until done says the story is complete, or fails
// after timeout with what it saw.
func (c *capture) waitFor(t *testing.T, timeout time.Duration, what string, done func([]Event) bool) []Event {
	t.Helper()
	deadline := time.After(timeout)
	for !done(c.seen) {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("tracer stopped while waiting for %s", what)
			}
			c.seen = append(c.seen, ev)
		case <-deadline:
			t.Fatalf("no %s within %v; saw:\n%s", what, timeout, dump(c.seen))
		}
	}
	return c.seen
}

// lostWithin is how many events the tracer reported lost, in what was
// seen and what comes within d.
func (c *capture) lostWithin(d time.Duration) uint64 {
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-c.events:
			if ok {
				c.seen = append(c.seen, ev)
				continue
			}
		case <-deadline:
		}
		var lost uint64
		for _, e := range c.seen {
			if e.Kind == KindLost {
				lost += e.Lost.Total()
			}
		}
		return lost
	}
}

func dump(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  kind=%d %v -> %v %v->%v pid=%d known=%v err=%v\n",
			e.Kind, e.Local, e.Remote, e.Old, e.New, e.PID, e.Has(FlagOwnerKnown), e.Err)
	}
	return b.String()
}
