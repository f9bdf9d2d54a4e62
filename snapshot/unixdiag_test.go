package snapshot

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/nstest"
)

// unixDiagMsg builds one struct unix_diag_msg with attributes.
func unixDiagMsg(typ, state uint8, inode uint32, attrs ...[]byte) []byte {
	m := make([]byte, sizeofUnixDiagMsg)
	m[0], m[1], m[2] = unix.AF_UNIX, typ, state
	binary.NativeEndian.PutUint32(m[4:], inode)
	for _, a := range attrs {
		m = append(m, a...)
	}
	return m
}

// nlAttr builds one netlink attribute, padded to 4 bytes.
func nlAttr(typ uint16, payload []byte) []byte {
	a := make([]byte, sizeofRtAttr, sizeofRtAttr+len(payload)+3)
	binary.NativeEndian.PutUint16(a[0:], uint16(sizeofRtAttr+len(payload)))
	binary.NativeEndian.PutUint16(a[2:], typ)
	a = append(a, payload...)
	for len(a)%4 != 0 {
		a = append(a, 0)
	}
	return a
}

func u32s(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.NativeEndian.PutUint32(b[4*i:], x)
	}
	return b
}

// A dump's messages become /proc/net/unix's rows: names as /proc prints
// them, State and Flags from sk_state, RefCount from who holds whom, and
// a CONNECTING row, with no inode, for each connection a listener holds
// unaccepted.
func TestUnixDiagRows(t *testing.T) {
	var dump []unixDiagRow
	for _, m := range [][]byte{
		// A listener with two pending connections: one from socket 11,
		// one whose connecting socket is gone.
		unixDiagMsg(unix.SOCK_STREAM, tcpListen, 10, nlAttr(unixDiagName, []byte("/run/l.sock\x00")),
			nlAttr(unixDiagUID, u32s(1000)), nlAttr(unixDiagIcons, u32s(11, 0))),
		unixDiagMsg(unix.SOCK_STREAM, tcpEstablished, 11, nlAttr(unixDiagPeer, u32s(0))),
		// A datagram server, and two clients connected to it.
		unixDiagMsg(unix.SOCK_DGRAM, 7, 20, nlAttr(unixDiagName, []byte("\x00dg\x00x\x00"))),
		unixDiagMsg(unix.SOCK_DGRAM, tcpEstablished, 21, nlAttr(unixDiagPeer, u32s(20))),
		unixDiagMsg(unix.SOCK_DGRAM, tcpEstablished, 22, nlAttr(unixDiagPeer, u32s(20))),
		// A pair, and a socket whose peer is gone.
		unixDiagMsg(unix.SOCK_SEQPACKET, tcpEstablished, 30, nlAttr(unixDiagPeer, u32s(31))),
		unixDiagMsg(unix.SOCK_SEQPACKET, tcpEstablished, 31, nlAttr(unixDiagPeer, u32s(30))),
		unixDiagMsg(unix.SOCK_STREAM, tcpEstablished, 40, nlAttr(unixDiagPeer, u32s(99))),
	} {
		r, err := parseUnixDiagMsg(m)
		if err != nil {
			t.Fatal(err)
		}
		dump = append(dump, r)
	}
	got := unixRows(dump)
	want := []UnixSocket{
		{RefCount: 2, Flags: UnixAcceptCon, Type: 1, State: UnixUnconnected, Inode: 10, Path: "/run/l.sock", UID: 1000, UIDKnown: true},
		{RefCount: 3, Type: 1, State: UnixConnecting, Path: "/run/l.sock"},
		{RefCount: 2, Type: 1, State: UnixConnecting, Path: "/run/l.sock"},
		{RefCount: 3, Type: 1, State: UnixConnected, Inode: 11},
		{RefCount: 4, Type: 2, State: UnixUnconnected, Inode: 20, Path: "@dg@x@"},
		{RefCount: 2, Type: 2, State: UnixConnected, Inode: 21},
		{RefCount: 2, Type: 2, State: UnixConnected, Inode: 22},
		{RefCount: 3, Type: 5, State: UnixConnected, Inode: 30},
		{RefCount: 3, Type: 5, State: UnixConnected, Inode: 31},
		{RefCount: 2, Type: 1, State: UnixConnected, Inode: 40},
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseUnixDiagMsgErrors(t *testing.T) {
	for _, m := range [][]byte{
		make([]byte, sizeofUnixDiagMsg-1),
		make([]byte, sizeofUnixDiagMsg), // family 0
	} {
		if r, err := parseUnixDiagMsg(m); err == nil {
			t.Errorf("% x: parsed as %+v, want an error", m, r)
		}
	}
}

// TestDiagUnixMatchesProc holds unix sockets of every kind in a fresh
// namespace, and checks that sock_diag gives /proc/net/unix's rows for
// them, each column derived as /proc prints it, plus the owner's uid.
func TestDiagUnixMatchesProc(t *testing.T) {
	ns := nstest.New(t)
	dir := t.TempDir()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see TestDiagMatchesProc
		errc <- compareUnixInNS(ns.Name, dir)
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func compareUnixInNS(name, dir string) error {
	if err := enterNS(name); err != nil {
		return err
	}
	var h nstest.UnixSockets
	defer h.Close()
	if err := h.Hold(dir); err != nil {
		return err
	}
	diag, err := Diag{}.ReadUnix()
	if err != nil {
		return err
	}
	proc, err := ReadUnix("/proc/thread-self/net")
	if err != nil {
		return err
	}
	if err := checkUnixSetup(proc); err != nil {
		return err
	}
	uid := uint32(os.Geteuid())
	for i, u := range diag {
		if u.Inode != 0 && (!u.UIDKnown || u.UID != uid) {
			return fmt.Errorf("row %+v: want uid %d", u, uid)
		}
		diag[i].UID, diag[i].UIDKnown = 0, false
	}
	key := func(a, b UnixSocket) int {
		return cmp.Or(cmp.Compare(a.Inode, b.Inode), cmp.Compare(a.Path, b.Path), cmp.Compare(a.RefCount, b.RefCount))
	}
	slices.SortFunc(proc, key)
	slices.SortFunc(diag, key)
	if !slices.Equal(proc, diag) {
		return fmt.Errorf("rows differ:\n /proc     %+v\n sock_diag %+v", proc, diag)
	}
	return nil
}

// checkUnixSetup makes sure the kinds of rows that need deriving are
// there, or the comparison could pass on rows that need none.
func checkUnixSetup(proc []UnixSocket) error {
	var connecting, held4, lonely int
	for _, u := range proc {
		switch {
		case u.State == UnixConnecting && u.RefCount == 3:
			connecting++
		case u.State == UnixConnecting && u.RefCount == 2:
			lonely++
		case u.RefCount == 5:
			held4++
		}
	}
	if len(proc) < 20 || connecting != 3 || lonely != 1 || held4 != 1 {
		return fmt.Errorf("setup: %d rows, %d pending connections, %d with the peer gone, %d with 3 clients: %+v",
			len(proc), connecting, lonely, held4, proc)
	}
	return nil
}
