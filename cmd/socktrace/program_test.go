package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// The names of a process whose task name is not its argv[0]'s base, which
// is netstat's program name.
const (
	shortComm  = "shortcomm"
	shortArgv0 = "/opt/short/argv-prog"
)

// shortLauncher starts short-client (args[0] is the address it connects
// to) through a link named shortComm in the directory args[1], with argv[0]
// shortArgv0, waits for it to exit and prints "exited <pid>".
func shortLauncher(args []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	link := filepath.Join(args[1], shortComm)
	if err := os.Symlink(self, link); err != nil {
		return err
	}
	child := nstest.Child("short-client", args[0])
	child.Path, child.Args[0] = link, shortArgv0
	if err := child.Run(); err != nil {
		return err
	}
	fmt.Println("exited", child.Process.Pid)
	return nil
}

// shortClient connects to args[0], prints "port <local port>", and closes
// and exits a moment later, long before the next table.
func shortClient(args []string) error {
	c, err := net.Dial("tcp4", args[0])
	if err != nil {
		return err
	}
	fmt.Println("port", c.LocalAddr().(*net.TCPAddr).Port)
	time.Sleep(100 * time.Millisecond)
	return c.Close()
}

// A process that connects and exits before the next table is shown by
// netstat's program name (argv[0]'s base) as one that lives past it is, not
// by its task name: the name is read when its first event is, not when the
// table is printed.
func TestLiveProgramOfShortLivedProcess(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	run := startLive(t, ns, "-tanpc", "--json")
	_, port := startLiveServer(t, ns, "wait")
	launcher := ns.StartPeer(t, "short-launcher", addr(port), t.TempDir())
	local := addr(launcher.Expect("port"))
	pid, err := strconv.Atoi(launcher.Expect("exited"))
	if err != nil {
		t.Fatal(err)
	}
	isConn := func(r liveRow) bool { return r.Local == local && r.Remote == addr(port) }
	for n, first := len(run.tables(t))+1, len(run.tables(t)); ; n++ {
		tables := run.waitTables(t, n)
		r, ok := findRow(tables, isConn)
		if !ok {
			if n > first+8 {
				t.Fatalf("%s>%s never listed", local, addr(port))
			}
			continue
		}
		want := rowOwner{pid: pid, program: filepath.Base(shortArgv0), comm: shortComm}
		if got := (rowOwner{r.PID, r.Program, r.Comm}); got != want {
			t.Errorf("%s>%s %s: owner %+v, want %+v", local, addr(port), r.State, got, want)
		}
		return
	}
}
