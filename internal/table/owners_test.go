package table

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// writeHolder writes a fake running process that holds the sockets of
// inodes: its comm, cmdline, stat in state, and fd links.
func writeHolder(t *testing.T, root string, pid int, comm, cmdline string, state byte, inodes ...uint64) {
	t.Helper()
	writeProc(t, root, pid, comm, cmdline)
	dir := filepath.Join(root, strconv.Itoa(pid))
	stat := fmt.Sprintf("%d (%s) %c 1 %d %d 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 100 1000 100\n", pid, comm, state, pid, pid)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, ino := range inodes {
		if err := os.Symlink(fmt.Sprintf("socket:[%d]", ino), filepath.Join(dir, "fd", strconv.Itoa(3+i))); err != nil {
			t.Fatal(err)
		}
	}
}

// A row whose owner exited (reaped, a zombie, or its pid now another
// process's) is given the process that holds its socket; later events,
// which still name the exited owner, leave the holder in place, also in
// the gone and TIME_WAIT rows. A row whose owner runs, or whose socket no
// process holds, keeps its owner.
func TestReown(t *testing.T) {
	root := t.TempDir()
	// pid 100 listened and connected, handed both to pid 200, and was
	// reaped; 110 is a zombie whose socket 210 holds; 120 runs; 130 was
	// reaped and nobody holds its socket; 140 is now another program's
	// pid, and 220 holds what the old 140 had.
	writeHolder(t, root, 200, "child", "/usr/bin/child-prog\x00", 'S', 500, 501)
	writeHolder(t, root, 110, "zomb", "", 'Z')
	writeHolder(t, root, 210, "heir", "heir\x00", 'S', 502)
	writeHolder(t, root, 120, "alive", "alive\x00", 'R', 503)
	writeHolder(t, root, 140, "other", "other\x00", 'S')
	writeHolder(t, root, 220, "heir2", "heir2\x00", 'S', 505)
	listener := sock{local: "10.0.0.1:80", remote: "0.0.0.0:0", inode: 500, pid: 100, comm: "parent"}
	client := sock{local: "10.0.0.1:40000", remote: "10.0.0.2:443", inode: 501, pid: 100, comm: "parent"}
	zombies := sock{local: "10.0.0.1:40001", remote: "10.0.0.2:443", inode: 502, pid: 110, comm: "zomb"}
	running := sock{local: "10.0.0.1:40002", remote: "10.0.0.2:443", inode: 503, pid: 120, comm: "alive"}
	orphan := sock{local: "10.0.0.1:40003", remote: "10.0.0.2:443", inode: 504, pid: 130, comm: "gone"}
	reused := sock{local: "10.0.0.1:40004", remote: "10.0.0.2:443", inode: 505, pid: 140, comm: "old"}
	socks := []sock{listener, client, zombies, running, orphan, reused}
	tbl := New(Config{ProcRoot: root})
	tbl.SnapshotBegins(at(time.Second))
	var rows []snapshot.Socket
	for _, s := range socks {
		if s == listener {
			tbl.Apply(s.listen(0))
			rows = append(rows, s.row(tcpstate.Listen, s.inode))
			continue
		}
		tbl.Apply(s.connect(0))
		rows = append(rows, s.row(tcpstate.Established, s.inode))
	}
	tbl.Reconcile(rows, nil, at(time.Second), true)
	if err := tbl.Reown(); err != nil {
		t.Fatal(err)
	}
	child := snapshot.Owner{PID: 200, Comm: snapshot.CommOf("child")}
	want := map[string]snapshot.Owner{
		listener.local: child, client.local: child,
		zombies.local: {PID: 210, Comm: snapshot.CommOf("heir")},
		running.local: running.owner(), orphan.local: orphan.owner(),
		reused.local: {PID: 220, Comm: snapshot.CommOf("heir2")},
	}
	for _, c := range tbl.Live() {
		if w := want[c.Socket.Local.String()]; c.Owner != w {
			t.Errorf("%v: owner %d/%s, want %d/%s", c.Socket.Local, c.Owner.PID, c.Owner.Comm, w.PID, w.Comm)
		}
	}
	if p := tbl.Program(child); p != "child-prog" {
		t.Errorf("the child's program is %q, want netstat's child-prog", p)
	}
	// The child closes them; the kernel still names the parent.
	tbl.Apply(client.timeWait(2*time.Second, tcpstate.FinWait2, 2*time.Second))
	tbl.Apply(listener.close(2*time.Second, tcpstate.Listen, 0, 2*time.Second))
	for _, c := range tbl.Gone() {
		if c.Owner != child {
			t.Errorf("gone %v: owner %d/%s, want the child", c.Socket.Local, c.Owner.PID, c.Owner.Comm)
		}
	}
	for w := range tbl.TimeWaits {
		if w.Owner() != child {
			t.Errorf("TIME_WAIT row owned by %d/%s, want the child", w.Owner().PID, w.Owner().Comm)
		}
	}
	if len(tbl.Gone()) != 1 || tbl.tw.len() != 1 {
		t.Errorf("%d gone rows and %d TIME_WAIT, want 1 each", len(tbl.Gone()), tbl.tw.len())
	}
}

// An event that names another owner than the exited one (the socket
// accepted anew, say) takes the row.
func TestReownYieldsToNewOwner(t *testing.T) {
	root := t.TempDir()
	writeHolder(t, root, 200, "child", "child\x00", 'S', 500)
	s := sock{local: "10.0.0.1:80", remote: "10.0.0.2:5000", inode: 500, pid: 100, comm: "parent"}
	tbl := New(Config{ProcRoot: root})
	tbl.Apply(s.connect(0))
	tbl.Reconcile([]snapshot.Socket{s.row(tcpstate.Established, 500)}, nil, at(time.Second), true)
	if err := tbl.Reown(); err != nil {
		t.Fatal(err)
	}
	other := s
	other.pid, other.comm = 300, "other"
	tbl.Apply(other.event(tracer.KindAccept, 2*time.Second, tcpstate.Established, tcpstate.Established, 0))
	if got := tbl.Live()[0].Owner; got != other.owner() {
		t.Errorf("owner %d/%s, want %d/other", got.PID, got.Comm, other.pid)
	}
}
