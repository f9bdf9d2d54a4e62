package snapshot

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
	"github.com/socktrace/socktrace/tcpstate"
	"golang.org/x/sys/unix"
)

// nlMsg builds one netlink message with the given type, sequence number and
// payload, padded to NLMSG_ALIGNTO.
func nlMsg(typ uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(payload)+4)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(unix.SizeofNlMsghdr+len(payload)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint32(b[8:], seq)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// diagRow is the fields of a struct inet_diag_msg a test sets.
type diagRow struct {
	family, timer, retrans      uint8
	state                       tcpstate.State
	local, remote               string
	expires, rq, wq, uid, inode uint32
	tcpInfo                     []byte // INET_DIAG_INFO payload, if any
}

func (r diagRow) bytes() []byte {
	m := make([]byte, sizeofDiagMsg)
	m[0], m[1], m[2], m[3] = r.family, byte(r.state), r.timer, r.retrans
	l, rm := ap(r.local), ap(r.remote)
	binary.BigEndian.PutUint16(m[offSport:], l.Port())
	binary.BigEndian.PutUint16(m[offDport:], rm.Port())
	if r.family == unix.AF_INET {
		a, b := l.Addr().As4(), rm.Addr().As4()
		copy(m[offSrc:], a[:])
		copy(m[offDst:], b[:])
	} else {
		a, b := l.Addr().As16(), rm.Addr().As16()
		copy(m[offSrc:], a[:])
		copy(m[offDst:], b[:])
	}
	ne := binary.NativeEndian
	for _, f := range []struct {
		off int
		v   uint32
	}{{offExpires, r.expires}, {offRqueue, r.rq}, {offWqueue, r.wq}, {offUID, r.uid}, {offInode, r.inode}} {
		ne.PutUint32(m[f.off:], f.v)
	}
	if r.tcpInfo != nil {
		attr := make([]byte, sizeofRtAttr, sizeofRtAttr+len(r.tcpInfo))
		ne.PutUint16(attr[0:], uint16(sizeofRtAttr+len(r.tcpInfo)))
		ne.PutUint16(attr[2:], inetDiagInfo)
		m = append(m, append(attr, r.tcpInfo...)...)
	}
	return m
}

func errnoPayload(e syscall.Errno) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, uint32(-int32(e)))
	return b
}

func TestParseDiagBatch(t *testing.T) {
	const seq = 7
	batch := slices.Concat(
		nlMsg(unix.SOCK_DIAG_BY_FAMILY, seq, diagRow{family: unix.AF_INET, state: tcpstate.Listen,
			local: "0.0.0.0:80", remote: "0.0.0.0:0", rq: 3, wq: 4096, inode: 99}.bytes()),
		nlMsg(unix.SOCK_DIAG_BY_FAMILY, seq, diagRow{family: unix.AF_INET6, state: tcpstate.Established,
			timer: 2, retrans: 1, expires: 7199, local: "[::ffff:127.0.0.1]:22",
			remote: "[::ffff:127.0.0.1]:5000", rq: 5, wq: 6, uid: 1000, inode: 100}.bytes()),
		nlMsg(unix.SOCK_DIAG_BY_FAMILY, seq+1, diagRow{family: unix.AF_INET, local: "1.2.3.4:5",
			remote: "0.0.0.0:0"}.bytes()), // another dump's: skipped
		nlMsg(unix.SOCK_DIAG_BY_FAMILY, seq, diagRow{family: unix.AF_INET, state: tcpstate.Established,
			timer: 1, retrans: 2, expires: 209, local: "10.0.0.1:40000", remote: "10.0.0.2:443",
			tcpInfo: []byte{1, 0, 3, 1}}.bytes()),
		nlMsg(unix.NLMSG_DONE, seq, make([]byte, 4)),
	)
	got, done, err := parseDiagBatch(batch, seq, TCP, nil)
	if err != nil || !done {
		t.Fatalf("parseDiagBatch: done %v, err %v", done, err)
	}
	want := []Socket{
		{Proto: TCP, Local: ap("0.0.0.0:80"), Remote: ap("0.0.0.0:0"), State: tcpstate.Listen, RecvQ: 3, Inode: 99},
		{Proto: TCP, V6: true, Local: ap("[::ffff:127.0.0.1]:22"), Remote: ap("[::ffff:127.0.0.1]:5000"),
			State: tcpstate.Established, Timer: 2, TimerTicks: 719, Timeout: 1, RecvQ: 5, SendQ: 6, UID: 1000, Inode: 100},
		{Proto: TCP, Local: ap("10.0.0.1:40000"), Remote: ap("10.0.0.2:443"), State: tcpstate.Established,
			Timer: 1, TimerTicks: 20, Retransmits: 3, Timeout: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseDiagBatchErrors(t *testing.T) {
	row := nlMsg(unix.SOCK_DIAG_BY_FAMILY, 1, diagRow{family: unix.AF_INET, local: "1.2.3.4:5", remote: "0.0.0.0:0"}.bytes())
	for _, c := range []struct {
		name  string
		batch []byte
		errno syscall.Errno
		rows  int
	}{
		{"request error", nlMsg(unix.NLMSG_ERROR, 1, errnoPayload(unix.ENOENT)), unix.ENOENT, 0},
		{"dump error", slices.Concat(row, nlMsg(unix.NLMSG_DONE, 1, errnoPayload(unix.EINTR))), unix.EINTR, 1},
		{"short row", nlMsg(unix.SOCK_DIAG_BY_FAMILY, 1, make([]byte, sizeofDiagMsg-1)), 0, 0},
		{"bad family", nlMsg(unix.SOCK_DIAG_BY_FAMILY, 1, make([]byte, sizeofDiagMsg)), 0, 0},
		{"length past end", slices.Concat(row, row[:len(row)-1]), 0, 1},
		{"length below header", slices.Concat(row, make([]byte, unix.SizeofNlMsghdr)), 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows, done, err := parseDiagBatch(c.batch, 1, TCP, nil)
			if err == nil {
				t.Fatalf("done %v, no error: want one", done)
			}
			if c.errno != 0 && !errors.Is(err, c.errno) {
				t.Errorf("err %v, want %v", err, c.errno)
			}
			if len(rows) != c.rows {
				t.Errorf("%d rows before the error, want %d", len(rows), c.rows)
			}
		})
	}
}

// TestDiagMatchesProc holds a known set of sockets in a fresh namespace and
// checks that sock_diag and /proc/net return the same rows for them.
func TestDiagMatchesProc(t *testing.T) {
	ns := nstest.New(t)
	errc := make(chan error, 1)
	go func() {
		// This thread enters the namespace and is never unlocked, so it
		// ends with the goroutine instead of going back to the pool.
		runtime.LockOSThread()
		errc <- compareInNS(ns.Name)
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// enterNS moves the calling thread, which must be locked to its
// goroutine and never unlocked, into the named network namespace.
func enterNS(name string) error {
	f, err := os.Open(filepath.Join("/run/netns", name))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns: %w", err)
	}
	return nil
}

func compareInNS(name string) error {
	if err := enterNS(name); err != nil {
		return err
	}
	closers, err := holdSockets()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	if err != nil {
		return err
	}
	// /proc/net follows the process's leader thread; this thread's
	// namespace is under thread-self.
	const netDir = "/proc/thread-self/net"
	for _, p := range []Proto{TCP, UDP} {
		for _, info := range []bool{false, true} {
			if err := compareTables(netDir, p, Diag{TCPInfo: info}); err != nil {
				return fmt.Errorf("%v (tcp_info %v): %w", p, info, err)
			}
		}
	}
	for _, st := range []uint32{diagStates &^ (1 << tcpstate.TimeWait), 1 << tcpstate.Listen} {
		if err := compareTables(netDir, TCP, Diag{States: st}); err != nil {
			return fmt.Errorf("tcp in states %#x: %w", st, err)
		}
	}
	if err := compareTimeWaits(netDir); err != nil {
		return fmt.Errorf("tcp with TIME_WAIT apart: %w", err)
	}
	for _, info := range []bool{false, true} {
		if err := compareLookups(netDir, Diag{TCPInfo: info}); err != nil {
			return fmt.Errorf("tcp lookups (tcp_info %v): %w", info, err)
		}
	}
	return nil
}

// compareLookups looks up every TCP socket /proc lists but the listeners,
// and a tuple no socket has: the rows found are /proc's, and only those.
func compareLookups(netDir string, d Diag) error {
	var err error
	for range 5 {
		start := time.Now()
		var proc []Socket
		if proc, err = ReadInet(netDir, TCP, IPv4|IPv6, nil); err != nil {
			return err
		}
		proc = slices.DeleteFunc(proc, func(s Socket) bool { return s.State == tcpstate.Listen })
		if len(proc) < 6 {
			return fmt.Errorf("only %d connections in /proc: setup failed", len(proc))
		}
		queries := append(slices.Clone(proc), Socket{Proto: TCP,
			Local: netip.MustParseAddrPort("127.0.0.1:1"), Remote: netip.MustParseAddrPort("127.0.0.1:2")})
		var found []Socket
		if found, err = d.LookupTCP(queries, nil); err != nil {
			return err
		}
		slack := uint64(time.Since(start)/(10*time.Millisecond)) + 2
		if err = sameRows(proc, found, slack); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// compareTimeWaits dumps TCP with the sockets in TIME_WAIT apart
// (Diag.TimeWaits): they are /proc's rows in TIME_WAIT, and the other rows
// are the rest of /proc's.
func compareTimeWaits(netDir string) error {
	var err error
	for range 5 {
		start := time.Now()
		var proc, diag []Socket
		var got, want TimeWaits
		if proc, err = ReadInet(netDir, TCP, IPv4|IPv6, nil); err != nil {
			return err
		}
		if diag, err = (Diag{TimeWaits: &got}).ReadInet(TCP, IPv4|IPv6, nil); err != nil {
			return err
		}
		proc = slices.DeleteFunc(proc, func(s Socket) bool {
			if s.State == tcpstate.TimeWait {
				want.add(&s)
			}
			return s.State == tcpstate.TimeWait
		})
		if len(want.V4) == 0 || len(want.V6) == 0 {
			return fmt.Errorf("%d IPv4 and %d IPv6 sockets in TIME_WAIT in /proc: setup failed", len(want.V4), len(want.V6))
		}
		slack := uint32(time.Since(start)/(10*time.Millisecond)) + 2
		err = sameTimeWaits(want.V4, got.V4, slack, func(w *TimeWait4) *uint32 { return &w.TimerTicks })
		if err == nil {
			err = sameTimeWaits(want.V6, got.V6, slack, func(w *TimeWait6) *uint32 { return &w.TimerTicks })
		}
		if err == nil {
			err = sameRows(proc, diag, uint64(slack))
		}
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// sameTimeWaits compares sockets in TIME_WAIT, in any order, their timers
// within slack ticks.
func sameTimeWaits[T comparable](proc, diag []T, slack uint32, ticks func(*T) *uint32) error {
	if len(proc) != len(diag) {
		return fmt.Errorf("/proc has %d rows in TIME_WAIT, sock_diag %d:\n%+v\n%+v", len(proc), len(diag), proc, diag)
	}
	for _, p := range proc {
		found := slices.ContainsFunc(diag, func(d T) bool {
			pt, dt := *ticks(&p), *ticks(&d)
			if pt+slack < dt || dt+slack < pt {
				return false
			}
			*ticks(&d) = pt
			return d == p
		})
		if !found {
			return fmt.Errorf("sock_diag lacks %+v:\n%+v", p, diag)
		}
	}
	return nil
}

// compareTables compares one protocol's rows from both sources. The zero
// window probe timer of the full send queue may fire between the two reads
// and restart with a new timeout: a few tries get two reads in between.
func compareTables(netDir string, p Proto, d Diag) error {
	var err error
	for range 5 {
		var proc, diag []Socket
		start := time.Now()
		if proc, err = ReadInet(netDir, p, IPv4|IPv6, nil); err != nil {
			return err
		}
		if diag, err = d.ReadInet(p, IPv4|IPv6, nil); err != nil {
			return err
		}
		if p == TCP && len(proc) < 10 {
			return fmt.Errorf("only %d rows in /proc: setup failed", len(proc))
		}
		if d.States != 0 {
			n := len(proc)
			proc = slices.DeleteFunc(proc, func(s Socket) bool { return d.States&(1<<s.State) == 0 })
			if len(proc) == n || len(proc) == 0 {
				return fmt.Errorf("%d of %d rows in /proc in states %#x: setup failed", len(proc), n, d.States)
			}
		}
		// Timers tick between the two reads: USER_HZ ticks are 10 ms.
		slack := uint64(time.Since(start)/(10*time.Millisecond)) + 2
		if err = sameRows(proc, diag, slack); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

func sameRows(proc, diag []Socket, slack uint64) error {
	key := func(a, b Socket) int {
		return cmp.Or(cmp.Compare(a.Inode, b.Inode), a.Local.Compare(b.Local), a.Remote.Compare(b.Remote))
	}
	slices.SortFunc(proc, key)
	slices.SortFunc(diag, key)
	if len(proc) != len(diag) {
		return fmt.Errorf("/proc has %d rows, sock_diag %d:\n%+v\n%+v", len(proc), len(diag), proc, diag)
	}
	for i := range proc {
		p, d := proc[i], diag[i]
		if p.TimerTicks+slack >= d.TimerTicks && d.TimerTicks+slack >= p.TimerTicks {
			d.TimerTicks = p.TimerTicks
		}
		if p != d {
			return fmt.Errorf("rows differ:\n /proc    %+v\n sock_diag %+v", p, d)
		}
	}
	return nil
}

// holdSockets opens, in the current thread's namespace: v4 and dual-stack
// v6 listeners, one with connections waiting in its accept queue; pairs
// over IPv4, IPv6 and IPv4-mapped IPv6 with unread data, one with a full
// send queue and one with keepalive on; a TIME_WAIT socket; bound and
// connected UDP sockets in both families.
func holdSockets() (closers []func(), err error) {
	keep := func(c interface{ Close() error }) { closers = append(closers, func() { c.Close() }) }
	l4, err := net.Listen("tcp4", "127.0.0.1:8080")
	if err != nil {
		return closers, err
	}
	keep(l4)
	l6, err := net.Listen("tcp", "[::]:22")
	if err != nil {
		return closers, err
	}
	keep(l6)
	backlog, err := net.Listen("tcp4", "127.0.0.1:9000") // never accepts
	if err != nil {
		return closers, err
	}
	keep(backlog)
	for range 2 {
		c, err := net.Dial("tcp4", "127.0.0.1:9000")
		if err != nil {
			return closers, err
		}
		keep(c)
	}
	pairs := []struct {
		network, addr string
		l             net.Listener
		unread        int
	}{
		{"tcp4", "127.0.0.1:8080", l4, 100},
		{"tcp6", "[::1]:22", l6, 7},
		{"tcp4", "127.0.0.1:22", l6, 0},
		{"tcp4", "127.0.0.1:8080", l4, 4 << 20}, // fills the send queue
	}
	for _, p := range pairs {
		c, s, err := dialPair(p.network, p.addr, p.l)
		if err != nil {
			return closers, err
		}
		keep(c)
		keep(s)
		if err := c.(*net.TCPConn).SetKeepAlivePeriod(time.Hour); err != nil {
			return closers, err
		}
		if p.unread > 0 {
			_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			_, _ = c.Write(make([]byte, p.unread)) // a full send queue times out
		}
	}
	if err := timeWait("tcp4", "127.0.0.1:8080", l4); err != nil {
		return closers, err
	}
	if err := timeWait("tcp6", "[::1]:22", l6); err != nil {
		return closers, err
	}
	for _, u := range []struct{ network, laddr, raddr string }{
		{"udp4", "127.0.0.1:53", ""}, {"udp6", "[::]:5353", ""}, {"udp4", "", "127.0.0.1:53"},
	} {
		var c net.Conn
		var err error
		if u.raddr != "" {
			c, err = net.Dial(u.network, u.raddr)
		} else {
			c, err = net.ListenUDP(u.network, net.UDPAddrFromAddrPort(ap(u.laddr)))
		}
		if err != nil {
			return closers, err
		}
		keep(c)
	}
	return closers, nil
}

func dialPair(network, addr string, l net.Listener) (net.Conn, net.Conn, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, nil, err
	}
	s, err := l.Accept()
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, s, nil
}

// timeWait leaves one client socket in TIME_WAIT: the client closes first,
// the server answers with its own FIN.
func timeWait(network, addr string, l net.Listener) error {
	c, s, err := dialPair(network, addr, l)
	if err != nil {
		return err
	}
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	c.Close()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Read(make([]byte, 1)); err == nil {
		return errors.New("time_wait: read data, want EOF")
	}
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		rows, _ := ReadInet("/proc/thread-self/net", TCP, IPv4|IPv6, nil)
		for _, r := range rows {
			if r.State == tcpstate.TimeWait && r.Local == local {
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%v not in TIME_WAIT after 5s", local)
}

// An Autobound dump lists the sockets whose port bind() did not choose:
// connected clients, accepted sockets (the kernel clears the lock when it
// clones the listener) and timewait sockets; not listeners, nor a client
// bound to its port first.
func TestDiagAutobound(t *testing.T) {
	ns := nstest.New(t)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- autoboundInNS(ns.Name)
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func autoboundInNS(name string) error {
	if err := enterNS(name); err != nil {
		return err
	}
	closers, err := holdSockets()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	if err != nil {
		return err
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 20001}}
	bound, err := d.Dial("tcp4", "127.0.0.1:8080")
	if err != nil {
		return err
	}
	defer bound.Close()
	all, err := Diag{}.ReadInet(TCP, IPv4|IPv6, nil)
	if err != nil {
		return err
	}
	auto, err := Diag{Autobound: true}.ReadInet(TCP, IPv4|IPv6, nil)
	if err != nil {
		return err
	}
	in := map[[2]netip.AddrPort]bool{}
	for _, s := range auto {
		in[[2]netip.AddrPort{s.Local, s.Remote}] = true
	}
	kinds := map[string]int{}
	for _, s := range all {
		var want bool
		kind := "accepted"
		switch {
		case s.State == tcpstate.Listen:
			kind = "listener"
		case s.Local.Port() == 20001:
			kind = "bound client"
		case s.State == tcpstate.TimeWait:
			kind, want = "timewait", true
		case s.Remote.Port() == 8080 || s.Remote.Port() == 22 || s.Remote.Port() == 9000:
			kind, want = "client", true
		default:
			want = true
		}
		kinds[kind]++
		if got := in[[2]netip.AddrPort{s.Local, s.Remote}]; got != want {
			return fmt.Errorf("%s %v -> %v: autobound %v, want %v", kind, s.Local, s.Remote, got, want)
		}
	}
	for _, k := range []string{"listener", "bound client", "timewait", "client", "accepted"} {
		if kinds[k] == 0 {
			return fmt.Errorf("no %s in the namespace: %v", k, kinds)
		}
	}
	return nil
}

// The legacy request walks the established hash once for both families:
// its rows are exactly those of one dump per family, IPv4 first, with the
// same fields, tcp_info, state filter and bytecode. Where the kernel
// refuses it, ReadInet falls back to one dump per family.
func TestDiagOneWalk(t *testing.T) {
	ns := nstest.New(t)
	if err := ns.InThread(oneWalkInNS); err != nil {
		t.Fatal(err)
	}
}

func oneWalkInNS() error {
	closers, err := holdSockets()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	if err != nil {
		return err
	}
	more, err := halfClosed()
	closers = append(closers, more...)
	if err != nil {
		return err
	}
	for _, d := range []Diag{{}, {TCPInfo: true}, {States: diagStates &^ (1 << tcpstate.TimeWait)}, {Autobound: true}} {
		if err := sameAsPerFamily(d, tcpDiagGetSock, true); err != nil {
			return fmt.Errorf("%+v: %w", d, err)
		}
	}
	for _, info := range []bool{false, true} {
		if err := oneWalkTCPInfo(info); err != nil {
			return err
		}
	}
	if err := oneWalkTimeWaits(); err != nil {
		return err
	}
	// Type 17 is no sock_diag request: sock_diag_rcv_msg refuses it
	// with EINVAL, as it would refuse TCPDIAG_GETSOCK on a kernel
	// without the legacy requests.
	const refused = 17
	if _, err := compatDump(Diag{}, refused); !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("request of type %d: %v, want EINVAL", refused, err)
	}
	if err := sameAsPerFamily(Diag{}, refused, false); err != nil {
		return fmt.Errorf("after a refused legacy request: %w", err)
	}
	return nil
}

// halfClosed leaves an IPv4 and an IPv6 connection half closed: the
// client's end in FIN_WAIT2, the server's in CLOSE_WAIT.
func halfClosed() (closers []func(), err error) {
	for _, p := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		l, err := net.Listen(p.network, p.addr)
		if err != nil {
			return closers, err
		}
		closers = append(closers, func() { l.Close() })
		c, s, err := dialPair(p.network, l.Addr().String(), l)
		if err != nil {
			return closers, err
		}
		closers = append(closers, func() { c.Close() }, func() { s.Close() })
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return closers, err
		}
	}
	// FIN_WAIT1 turns FIN_WAIT2 when the peer's ACK of the FIN is in.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		rows, err := Diag{States: 1 << tcpstate.FinWait2}.ReadInet(TCP, IPv4|IPv6, nil)
		if err != nil || len(rows) == 2 {
			return closers, err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return closers, errors.New("half-closed clients not in FIN_WAIT2 after 5s")
}

// oneWalkTCPInfo checks that the legacy dump honours idiag_ext: with
// TCPInfo every full socket's row has a tcp_info (the fields ReadInet
// takes from it are mostly equal to idiag_retrans's, so the rows alone
// would not tell), and without it none has.
func oneWalkTCPInfo(info bool) error {
	fd, err := openDiag()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	d := Diag{TCPInfo: info}
	dr := diagDump{proto: TCP, seq: 1, compatType: tcpDiagGetSock}
	if err := dr.requestCompat(fd, d); err != nil {
		return err
	}
	full, withInfo := 0, 0
	err = receiveDump(fd, make([]byte, diagBufSize), dr.seq, func(msg []byte) error {
		if len(msg) < sizeofDiagMsg {
			return fmt.Errorf("short message (%d bytes)", len(msg))
		}
		if tcpstate.State(msg[1]) != tcpstate.TimeWait {
			full++
		}
		if len(diagAttr(msg[sizeofDiagMsg:], inetDiagInfo)) > 0 {
			withInfo++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if want := map[bool]int{false: 0, true: full}[info]; full == 0 || withInfo != want {
		return fmt.Errorf("tcp_info %v: %d of %d full sockets have a tcp_info, want %d", info, withInfo, full, want)
	}
	return nil
}

// compatDump is one legacy dump of TCP, of message type typ, without the
// fallback.
func compatDump(d Diag, typ uint16) ([]Socket, error) {
	fd, err := openDiag()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	dr := diagDump{proto: TCP, seq: 1, compatType: typ, timeWaits: d.TimeWaits}
	return dr.dumpBoth(fd, make([]byte, diagBufSize), nil, d)
}

// sameAsPerFamily compares ReadInet of both families (through a legacy
// request of type typ) with one dump per family, in order. With direct,
// the legacy dump alone must give the same rows.
func sameAsPerFamily(d Diag, typ uint16, direct bool) error {
	var err error
	for range 5 {
		start := time.Now()
		var v4, v6, both []Socket
		if v4, err = d.ReadInet(TCP, IPv4, nil); err != nil {
			return err
		}
		if v6, err = d.ReadInet(TCP, IPv6, nil); err != nil {
			return err
		}
		if both, err = d.readInet(TCP, IPv4|IPv6, nil, typ); err != nil {
			return err
		}
		perFamily := slices.Concat(v4, v6)
		if err = setupSpread(d, perFamily); err != nil {
			return err
		}
		slack := uint64(time.Since(start)/(10*time.Millisecond)) + 2
		err = sameRowsInOrder(perFamily, both, slack)
		if err == nil && direct {
			var one []Socket
			if one, err = compatDump(d, typ); err != nil {
				return err
			}
			err = sameRowsInOrder(perFamily, one, slack)
		}
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// setupSpread checks that rows, a full dump's, hold both families in
// several states.
func setupSpread(d Diag, rows []Socket) error {
	if d.States != 0 || d.Autobound {
		return nil
	}
	seen := map[[2]any]bool{}
	for _, s := range rows {
		seen[[2]any{s.V6, s.State}] = true
	}
	for _, v6 := range []bool{false, true} {
		for _, st := range []tcpstate.State{tcpstate.Listen, tcpstate.Established, tcpstate.TimeWait, tcpstate.FinWait2, tcpstate.CloseWait} {
			if !seen[[2]any{v6, st}] {
				return fmt.Errorf("no %v socket (IPv6 %v) among %d rows: setup failed", st, v6, len(rows))
			}
		}
	}
	return nil
}

// sameRowsInOrder compares two dumps row by row, timers within slack.
func sameRowsInOrder(want, got []Socket, slack uint64) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d rows, want %d:\n%+v\n%+v", len(got), len(want), got, want)
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.TimerTicks+slack >= g.TimerTicks && g.TimerTicks+slack >= w.TimerTicks {
			g.TimerTicks = w.TimerTicks
		}
		if w != g {
			return fmt.Errorf("row %d differs:\n got  %+v\n want %+v", i, g, w)
		}
	}
	return nil
}

// With TIME_WAIT apart, the legacy dump gives each family's timewait
// sockets in the order of that family's own dump, and the same rows.
func oneWalkTimeWaits() error {
	var err error
	for range 5 {
		var want, got TimeWaits
		var perFamily, both []Socket
		start := time.Now()
		if perFamily, err = (Diag{TimeWaits: &want}).ReadInet(TCP, IPv4, nil); err != nil {
			return err
		}
		if perFamily, err = (Diag{TimeWaits: &want}).ReadInet(TCP, IPv6, perFamily); err != nil {
			return err
		}
		if both, err = compatDump(Diag{TimeWaits: &got}, tcpDiagGetSock); err != nil {
			return err
		}
		if len(want.V4) == 0 || len(want.V6) == 0 {
			return fmt.Errorf("%d IPv4 and %d IPv6 sockets in TIME_WAIT: setup failed", len(want.V4), len(want.V6))
		}
		slack := uint32(time.Since(start)/(10*time.Millisecond)) + 2
		err = sameRowsInOrder(perFamily, both, uint64(slack))
		if err == nil {
			err = sameInOrder(want.V4, got.V4, slack, func(w *TimeWait4) *uint32 { return &w.TimerTicks })
		}
		if err == nil {
			err = sameInOrder(want.V6, got.V6, slack, func(w *TimeWait6) *uint32 { return &w.TimerTicks })
		}
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("TIME_WAIT apart: %w", err)
}

func sameInOrder[T comparable](want, got []T, slack uint32, ticks func(*T) *uint32) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d sockets in TIME_WAIT, want %d:\n%+v\n%+v", len(got), len(want), got, want)
	}
	for i := range want {
		w, g := want[i], got[i]
		if wt, gt := *ticks(&w), *ticks(&g); wt+slack >= gt && gt+slack >= wt {
			*ticks(&g) = wt
		}
		if w != g {
			return fmt.Errorf("socket %d in TIME_WAIT differs:\n got  %+v\n want %+v", i, g, w)
		}
	}
	return nil
}
