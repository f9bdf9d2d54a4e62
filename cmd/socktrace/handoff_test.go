package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/internal/nstest"
)

// The names of the process a socket is handed to: its task name (the file
// it runs) and its argv[0], whose base is netstat's program name.
const (
	handoffComm  = "handoff-child"
	handoffArgv0 = "/usr/lib/handoff/handoff-prog"
)

// handoffParent listens on 127.0.0.1, connects to itself and accepts,
// prints "ready <listen port> <client port> <server port>", and at the
// first line on stdin starts handoff-child with the three sockets, through
// a link named handoffComm in the directory args[0] and with argv[0]
// handoffArgv0, as a server that forks and exits would; it prints
// "child <pid>" and exits.
func handoffParent(args []string) error {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cli, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		return err
	}
	srv, err := l.Accept()
	if err != nil {
		return err
	}
	fmt.Println("ready", l.Addr().(*net.TCPAddr).Port, cli.LocalAddr().(*net.TCPAddr).Port,
		srv.LocalAddr().(*net.TCPAddr).Port)
	// One byte at a time: what follows the line is the child's to read.
	for b := make([]byte, 1); b[0] != '\n'; {
		if _, err := os.Stdin.Read(b); err != nil {
			return err
		}
	}
	var files []*os.File
	for _, s := range []interface{ File() (*os.File, error) }{l.(*net.TCPListener), cli.(*net.TCPConn), srv.(*net.TCPConn)} {
		f, err := s.File()
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	link := filepath.Join(args[0], handoffComm)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.Symlink(self, link); err != nil {
		return err
	}
	child := nstest.Child("handoff-child")
	child.Path, child.Args[0] = link, handoffArgv0
	child.ExtraFiles = files
	if err := child.Start(); err != nil {
		return err
	}
	fmt.Println("child", child.Process.Pid)
	return nil
}

// handoffChild holds the sockets it was given (fds 3 to 5: a listener and
// both ends of a connection), prints "holding", closes them at the first
// line on stdin (the connection's client end first, the listener last),
// prints "closed", and ends when stdin closes.
func handoffChild([]string) error {
	fmt.Println("holding")
	return stepAtLine(func() error {
		for _, fd := range []uintptr{4, 5, 3} {
			if err := os.NewFile(fd, "socket").Close(); err != nil {
				return err
			}
		}
		return nil
	}, "closed")
}

// A socket's owner in the live table is a process that holds it: when the
// process that listened or connected hands its sockets to a child and
// exits, the listener and the connection are the child's, with netstat's
// program name (argv[0]'s base, not the task name), and so are their rows
// once the child closes them, though the kernel still names the parent.
func TestLiveOwnerOutlivedByChild(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	run := startLive(t, ns, "-tanpc", "--json")
	parent := ns.StartPeerAs(t, "handoff-parent", "handoff-parent", t.TempDir())
	var lport, cport, sport int
	if _, err := fmt.Sscan(parent.Expect("ready"), &lport, &cport, &sport); err != nil {
		t.Fatal(err)
	}
	client := rowKey{addr(cport), addr(sport)}
	server := rowKey{addr(sport), addr(cport)}
	// The parent's rows are listed first, so the tracer saw it own them.
	var listener rowKey
	for n, first := len(run.tables(t))+1, len(run.tables(t)); ; n++ {
		tables := run.waitTables(t, n)
		if r, ok := findRow(tables, func(r liveRow) bool { return r.Local == addr(lport) && r.State == "LISTEN" }); ok && r.PID == parent.PID {
			listener = rowKey{r.Local, r.Remote}
			break
		}
		if n > first+8 {
			t.Fatalf("listener %s never listed with the parent's pid %d", addr(lport), parent.PID)
		}
	}
	parent.Send("fork")
	child := childHolding(t, parent)
	want := rowOwner{pid: child, program: filepath.Base(handoffArgv0), comm: handoffComm}
	live := map[rowKey]bool{listener: false, client: false, server: false}
	for n, first := len(run.tables(t))+1, len(run.tables(t)); !ownedBy(run.waitTables(t, n), live, want); n++ {
		if n > first+8 {
			t.Fatalf("after the parent %d exited, its rows are not all the child's %+v:\n%s",
				parent.PID, want, rowsOf(run.tables(t), live))
		}
	}
	parent.Send("close")
	parent.Expect("closed")
	// The client closed first: its row is in TIME_WAIT, the others gone.
	ended := map[rowKey]bool{listener: true, server: true, client: false}
	for n, first := len(run.tables(t))+1, len(run.tables(t)); !ownedBy(run.waitTables(t, n), ended, want); n++ {
		if n > first+8 {
			t.Fatalf("the child closed its sockets; their rows are not the child's %+v:\n%s",
				want, rowsOf(run.tables(t), ended))
		}
	}
}

// childHolding reads the parent's "child PID" and the child's "holding",
// which share a stdout and so come in either order, and returns PID.
func childHolding(t *testing.T, parent *nstest.Peer) int {
	child, holding := 0, false
	for child == 0 || !holding {
		line := parent.Next()
		if rest, ok := strings.CutPrefix(line, "child "); ok {
			if _, err := fmt.Sscan(rest, &child); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if line != "holding" {
			t.Fatalf("handoff: got %q, want \"child PID\" and \"holding\"", line)
		}
		holding = true
	}
	return child
}

// rowKey is a row's tuple as -c --json prints it.
type rowKey struct{ local, remote string }

// rowOwner is a row's owner as -p prints it.
type rowOwner struct {
	pid           int
	program, comm string
}

// findRow is the last table's first row that match accepts.
func findRow(tables []liveTable, match func(liveRow) bool) (liveRow, bool) {
	for _, r := range tables[len(tables)-1].rows {
		if match(r) {
			return r, true
		}
	}
	return liveRow{}, false
}

// ownedBy says whether the last table lists each of rows (gone or not)
// with want's owner.
func ownedBy(tables []liveTable, rows map[rowKey]bool, want rowOwner) bool {
	for k, gone := range rows {
		r, ok := findRow(tables, func(r liveRow) bool { return rowKey{r.Local, r.Remote} == k && r.Gone == gone })
		if !ok || (rowOwner{r.PID, r.Program, r.Comm}) != want {
			return false
		}
	}
	return true
}

// rowsOf prints rows as the last table lists them, for a failure.
func rowsOf(tables []liveTable, rows map[rowKey]bool) string {
	var b strings.Builder
	for _, r := range tables[len(tables)-1].rows {
		if _, ok := rows[rowKey{r.Local, r.Remote}]; ok {
			fmt.Fprintf(&b, "  %s %s %s gone=%v pid=%d program=%q comm=%q\n", r.Local, r.Remote, r.State, r.Gone, r.PID, r.Program, r.Comm)
		}
	}
	return b.String()
}
