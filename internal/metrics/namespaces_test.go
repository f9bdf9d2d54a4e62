package metrics

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/socktrace/socktrace/internal/netns"
	"github.com/socktrace/socktrace/internal/nstest"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// Rounds heal the closes lost in other network namespaces: in one a
// process is in (found by the owner recorded, or by a scan of /proc), in
// one only ip netns keeps (read through its file), and in one that is
// gone. The live connections of the first are
// never healed, and a scrape heals none of them. Both ways of reading
// another namespace's table: entering it, and /proc/PID/net (without
// CAP_SYS_ADMIN).
func TestHealOtherNamespaces(t *testing.T) {
	for _, viaProc := range []bool{false, true} {
		name := "setns"
		if viaProc {
			name = "proc"
		}
		t.Run(name, func(t *testing.T) { testHealOthers(t, viaProc) })
	}
}

func testHealOthers(t *testing.T, viaProc bool) {
	ns, empty := nstest.New(t), nstest.New(t)
	srv := ns.StartPeer(t, "pile-server")
	ports := strings.Fields(srv.Expect("PORTS"))
	cl := ns.StartPeer(t, "pile-client", pile{established: 2}.args(ports)...)
	cl.Expect("DONE")
	live := establishedIn(t, ns, 4) // both ends of each

	m := New(Config{})
	m.others.noSetns = viaProc
	before := time.Now().Add(-time.Minute) // quiet since
	open := func(inode uint64, pid int, local, remote string) {
		ev := tracer.Event{Kind: tracer.KindState, Old: tcpstate.Close, New: tcpstate.SynSent, Family: syscall.AF_INET,
			Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote),
			NetNS: uint32(inode), PID: uint32(pid), Time: before}
		if pid != 0 {
			ev.Flags |= tracer.FlagOwnerKnown
		}
		m.Apply(&ev)
	}
	for _, r := range live {
		open(ns.Inode, cl.PID, r.Local.String(), r.Remote.String())
	}
	// Tuples no socket has: connects whose close was lost.
	open(ns.Inode, srv.PID, "127.0.0.1:1", "127.0.0.1:2")
	open(ns.Inode, 0, "127.0.0.1:3", "127.0.0.1:4")
	// This process is in another namespace than the one its connection
	// was opened in: a scan finds no process in it, but ip netns keeps
	// it, so it is read through its file (or waits, without setns).
	open(empty.Inode, os.Getpid(), "127.0.0.1:1", "127.0.0.1:2")
	// No namespace has inode 1: it is gone, and its sockets with it.
	open(1, 0, "127.0.0.1:5", "127.0.0.1:6")
	healed, left := 4.0, len(live)
	if viaProc {
		healed, left = 3, len(live)+1
	}

	for range 2 {
		m.sockets.read = time.Time{}
		m.sockets.refresh()
	}
	if got := testutil.ToFloat64(m.healed); got != 0 {
		t.Fatalf("scrapes healed %v connections of other namespaces, want 0", got)
	}
	// Round 1 reads the namespaces and misses the lost ones; round 2
	// heals them. Round 3 has nothing to read: the live connections were
	// in round 2's table. Round 4 reads them again.
	for i, want := range []float64{0, healed, healed, healed} {
		m.others.heal(context.Background())
		if got := testutil.ToFloat64(m.healed); got != want {
			t.Errorf("after round %d: %v healed, want %v", i+1, got, want)
		}
	}
	if m.others.noSetns != viaProc {
		t.Errorf("entering a namespace was refused (as root)")
	}
	if n := len(m.open.conns); n != left {
		t.Errorf("%d connections left open, want %d", n, left)
	}
	for _, r := range live {
		if _, ok := m.open.conns[rowKey(&r, uint32(ns.Inode))]; !ok {
			t.Errorf("live connection %v -> %v healed", r.Local, r.Remote)
		}
	}
}

// establishedIn reads ns's established sockets, and wants n of them.
func establishedIn(t *testing.T, ns *nstest.NS, n int) []snapshot.Socket {
	t.Helper()
	var rows []snapshot.Socket
	err := netns.InThread(func() error {
		if err := netns.Enter(filepath.Join(netns.Dir, ns.Name), uint32(ns.Inode)); err != nil {
			return err
		}
		var err error
		rows, err = snapshot.Diag{States: 1 << tcpstate.Established}.ReadInet(snapshot.TCP, snapshot.IPv4|snapshot.IPv6, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Fatalf("%d established sockets in the namespace, want %d", len(rows), n)
	}
	return rows
}
