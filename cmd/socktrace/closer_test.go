package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// closerComm is the task name of the process a connection is handed to,
// which closes it.
const closerComm = "closer-child"

// closerServer accepts one connection on 127.0.0.1, prints "ready <port>",
// closes it once the client's FIN came, and ends when stdin closes.
func closerServer([]string) error {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println("ready", l.Addr().(*net.TCPAddr).Port)
	c, err := l.Accept()
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, c)
	c.Close()
	holdUntilStdinCloses()
	return nil
}

// closerParent connects to args[0], prints "ready <local port>", and at the
// first line on stdin starts closer-child with the connection, through a
// link named closerComm in the directory args[1], prints "child <pid>" and
// exits at once, as a server that forks and exits does.
func closerParent(args []string) error {
	c, err := net.Dial("tcp4", args[0])
	if err != nil {
		return err
	}
	fmt.Println("ready", c.LocalAddr().(*net.TCPAddr).Port)
	// One byte at a time: the rest of stdin is the child's.
	for b := make([]byte, 1); b[0] != '\n'; {
		if _, err := os.Stdin.Read(b); err != nil {
			return err
		}
	}
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	link := filepath.Join(args[1], closerComm)
	if err := os.Symlink(self, link); err != nil {
		return err
	}
	child := nstest.Child("closer-child")
	child.Path = link
	child.ExtraFiles = []*os.File{f}
	if err := child.Start(); err != nil {
		return err
	}
	fmt.Println("child", child.Process.Pid)
	return nil
}

// closerChild closes the connection it was given (fd 3) within a few
// milliseconds, before any table can see its parent gone, prints "closed",
// and ends when stdin closes.
func closerChild([]string) error {
	_, eof := watchStdin()
	time.Sleep(20 * time.Millisecond)
	if err := os.NewFile(3, "socket").Close(); err != nil {
		return err
	}
	fmt.Println("closed")
	waitEOF(eof)
	return nil
}

// startCloser starts closer-server and closer-parent in ns and returns the
// parent, the connection's local and remote address.
func startCloser(t *testing.T, ns *nstest.NS) (parent *nstest.Peer, local, remote string) {
	t.Helper()
	srv := ns.StartPeer(t, "closer-server")
	remote = addr(srv.Expect("ready"))
	parent = ns.StartPeerAs(t, "closer-parent", "closer-parent", remote, t.TempDir())
	return parent, addr(parent.Expect("ready")), remote
}

// handToCloser has the parent hand the connection to closer-child and exit;
// it returns the child's pid once the child closed the connection.
func handToCloser(t *testing.T, parent *nstest.Peer) int {
	t.Helper()
	parent.Send("fork")
	child, closed := 0, false
	for child == 0 || !closed {
		line := parent.Next()
		if rest, ok := strings.CutPrefix(line, "child "); ok {
			var err error
			if child, err = strconv.Atoi(rest); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if line != "closed" {
			t.Fatalf("closer: got %q, want \"child PID\" and \"closed\"", line)
		}
		closed = true
	}
	return child
}

// A process that closes a socket it was handed holds it: the kernel's close
// runs in it, so the rows of the connection's end (FIN_WAIT2, TIME_WAIT,
// gone) name it, though the parent that connected has exited and no table
// saw the child hold the socket.
func TestLiveCloseNamesHolder(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	run := startLive(t, ns, "-tanpc", "--json")
	parent, local, remote := startCloser(t, ns)
	isConn := func(r liveRow) bool { return r.Local == local && r.Remote == remote }
	for n, first := len(run.tables(t))+1, len(run.tables(t)); ; n++ {
		if r, ok := findRow(run.waitTables(t, n), isConn); ok && r.PID == parent.PID {
			break
		}
		if n > first+8 {
			t.Fatalf("%s>%s never listed with the parent's pid %d", local, remote, parent.PID)
		}
	}
	child := handToCloser(t, parent)
	ended := func(r liveRow) bool { return isConn(r) && (r.Gone || r.State != "ESTABLISHED") }
	for n, first := len(run.tables(t))+1, len(run.tables(t)); ; n++ {
		tables := run.waitTables(t, n)
		if _, ok := findRow(tables, ended); !ok {
			if n > first+8 {
				t.Fatalf("%s>%s never listed closed:\n%s", local, remote, rowsOf(tables, map[rowKey]bool{{local, remote}: false}))
			}
			continue
		}
		for _, r := range tables[len(tables)-1].rows {
			if isConn(r) && (r.PID != child || r.Comm != closerComm) {
				t.Errorf("%s>%s %s gone=%v: pid %d comm %q, want the child that closed it, %d %q",
					local, remote, r.State, r.Gone, r.PID, r.Comm, child, closerComm)
			}
		}
		return
	}
}

// In the event log, the close() of a handed-on socket names the process
// that called it.
func TestTraceCloseNamesHolder(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	run := startTrace(t, &traceOptions{json: true, ringMiB: 1, latency: 50 * time.Millisecond,
		netns: strconv.FormatUint(ns.Inode, 10)})
	parent, local, remote := startCloser(t, ns)
	child := handToCloser(t, parent)
	waitOutput(t, &run.out, `"new_state":"TIME_WAIT"`, 5*time.Second, "no TIME_WAIT while tracing")
	if err := run.stop(); err != nil {
		t.Fatalf("trace returned %v", err)
	}
	var seen []string
	for _, line := range strings.Split(strings.TrimSpace(run.out.String()), "\n") {
		var ev struct {
			Event, Local, Remote, Comm string
			PID                        int
			NewState                   string `json:"new_state"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if ev.Local != local || ev.Remote != remote {
			continue
		}
		seen = append(seen, ev.NewState)
		if (ev.NewState == "FIN_WAIT1" || ev.NewState == "TIME_WAIT") && (ev.PID != child || ev.Comm != closerComm) {
			t.Errorf("%s>%s %s: pid %d comm %q, want the child that closed it, %d %q",
				local, remote, ev.NewState, ev.PID, ev.Comm, child, closerComm)
		}
	}
	if !strings.Contains(strings.Join(seen, " "), "FIN_WAIT1") {
		t.Errorf("%s>%s: states %q, no FIN_WAIT1", local, remote, seen)
	}
}
