package table

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// The tests build events as the tracer's TableOnly mode sends them and
// snapshot rows as /proc/net/tcp shows them, then drive the table the way
// socktrace -c does: apply events, Reconcile, print Live and Gone, Sweep.

// base is time zero of every test; times are offsets from it.
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

// sock is one socket's identity and owner, as events and rows carry them.
type sock struct {
	local, remote string // "addr:port"; remote port 0 for a listener
	inode         uint64
	pid           uint32
	comm          string
}

func (s sock) event(kind tracer.Kind, d time.Duration, old, new tcpstate.State, flags tracer.Flag) *tracer.Event {
	local, remote := netip.MustParseAddrPort(s.local), netip.MustParseAddrPort(s.remote)
	family := uint16(syscall.AF_INET)
	if local.Addr().Is6() {
		family = syscall.AF_INET6
	}
	ev := &tracer.Event{Time: at(d), Kind: kind, Flags: flags, Old: old, New: new,
		Family: family, Local: local, Remote: remote, Inode: s.inode, UID: 1000}
	if s.pid != 0 {
		ev.Flags |= tracer.FlagOwnerKnown
		ev.PID, ev.TID, ev.Comm = s.pid, s.pid, snapshot.CommOf(s.comm)
	}
	return ev
}

func (s sock) owner() snapshot.Owner {
	return snapshot.Owner{PID: s.pid, Comm: snapshot.CommOf(s.comm)}
}

// seedOf is a start-up owner scan that found one socket, held by a process
// whose program name is its task name.
func seedOf(inode uint64, pid uint32, comm string) snapshot.Owners {
	o := snapshot.Owner{PID: pid, Comm: snapshot.CommOf(comm)}
	return snapshot.Owners{ByInode: map[uint64]snapshot.Owner{inode: o}, Programs: map[snapshot.Owner]string{o: comm}}
}

// connect is CLOSE->SYN_SENT: sent when the socket next changes state,
// stamped with the connect's time, with the real local port.
func (s sock) connect(d time.Duration) *tracer.Event {
	return s.event(tracer.KindState, d, tcpstate.Close, tcpstate.SynSent, tracer.FlagBornKnown)
}

func (s sock) listen(d time.Duration) *tracer.Event {
	return s.event(tracer.KindState, d, tcpstate.Close, tcpstate.Listen, tracer.FlagBornKnown)
}

// accept is accept() handing the socket, in state, to its owner.
func (s sock) accept(d time.Duration, state tcpstate.State) *tracer.Event {
	return s.event(tracer.KindAccept, d, state, state, 0)
}

// close is old->CLOSE; lived is the Lifetime the kernel knew (0: unknown).
func (s sock) close(d time.Duration, old tcpstate.State, err syscall.Errno, lived time.Duration) *tracer.Event {
	ev := s.event(tracer.KindState, d, old, tcpstate.Close, 0)
	ev.Err = err
	if lived > 0 {
		ev.Flags |= tracer.FlagBornKnown
		ev.Lifetime = lived
	}
	return ev
}

// timeWait is the active closer's ->CLOSE turned into old->TIME_WAIT by the
// tracer. The inode is the full socket's, read before it went.
func (s sock) timeWait(d time.Duration, old tcpstate.State, lived time.Duration) *tracer.Event {
	ev := s.event(tracer.KindState, d, old, tcpstate.TimeWait, tracer.FlagTimeWaitDerived)
	if lived > 0 {
		ev.Flags |= tracer.FlagBornKnown
		ev.Lifetime = lived
	}
	return ev
}

// timeWaitEnd is the timewait socket going: expired, or killed (reused).
func (s sock) timeWaitEnd(d time.Duration, expired bool) *tracer.Event {
	ev := s.event(tracer.KindTimeWaitEnd, d, tcpstate.TimeWait, tcpstate.Close, tracer.FlagPrevKnown)
	if expired {
		ev.Flags |= tracer.FlagExpired
	}
	return ev
}

// awaitingFinPrint is client's connection closed before the peer's FIN,
// at the first table after: a timewait socket that netstat lists as
// FIN_WAIT2.
var awaitingFinPrint = print{
	events: []*tracer.Event{
		client.connect(1 * time.Second),
		awaitingFin(client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second)),
	},
	rows:   []snapshot.Socket{},
	at:     3 * time.Second,
	live:   []string{clientFW2},
	states: states{}, // shown as FIN_WAIT2, not counted as TIME_WAIT
	counts: Counts{Connects: 1, Closes: 1},
	lookup: true,
}

// awaitingFin marks a TIME_WAIT entry whose timewait socket still awaits
// the peer's FIN (its substate is FIN_WAIT2).
func awaitingFin(ev *tracer.Event) *tracer.Event {
	ev.Flags |= tracer.FlagTimeWaitFinWait2
	return ev
}

// timerOf is a timewait socket's row with the time its timer has left.
func timerOf(r snapshot.Socket, ticks uint64) snapshot.Socket {
	r.Timer, r.TimerTicks = 3, ticks
	return r
}

// timerLeft checks the -o timer of the one TIME_WAIT row at now.
func timerLeft(now time.Time, ticks uint64) func(*testing.T, *Table) {
	return func(t *testing.T, tbl *Table) {
		var c Conn
		for w := range tbl.TimeWaits {
			if !w.Ended() {
				w.Conn(&c, now)
			}
		}
		if c.Socket.TimerTicks != ticks {
			t.Errorf("TIME_WAIT timer: %d ticks left, want %d", c.Socket.TimerTicks, ticks)
		}
	}
}

// row is the socket's line in /proc/net/tcp; inode 0 for a timewait socket.
func (s sock) row(state tcpstate.State, inode uint64) snapshot.Socket {
	local, remote := netip.MustParseAddrPort(s.local), netip.MustParseAddrPort(s.remote)
	return snapshot.Socket{Proto: snapshot.TCP, V6: local.Addr().Is6(), State: state,
		UID: 1000, Local: local, Remote: remote, Inode: inode}
}

func lost(d time.Duration, ringFull, recursion uint64) *tracer.Event {
	return &tracer.Event{Time: at(d), Kind: tracer.KindLost, Lost: tracer.Lost{RingFull: ringFull, Recursion: recursion}}
}

// show is one row as the assertions compare it: every fact the table adds.
func show(c *Conn) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v>%v %v inode=%d q=%d/%d owner=%d/%s",
		c.Socket.Local, c.Socket.Remote, c.Socket.State, c.Socket.Inode,
		c.Socket.RecvQ, c.Socket.SendQ, c.Owner.PID, c.Owner.Comm)
	if !c.Born.IsZero() {
		fmt.Fprintf(&b, " born=%v", c.Born.Sub(base))
	}
	if c.Gone {
		fmt.Fprintf(&b, " gone=%v lived=%v", c.GoneAt.Sub(base), c.Lifetime())
	}
	if c.Err != 0 {
		fmt.Fprintf(&b, " err=%s", errName(c.Err))
	}
	if c.Aborted {
		b.WriteString(" aborted")
	}
	if c.Healed {
		b.WriteString(" healed")
	}
	if c.Expired {
		b.WriteString(" expired")
	}
	return b.String()
}

// errName names the errnos the tests use.
func errName(e syscall.Errno) string {
	switch e {
	case syscall.ECONNREFUSED:
		return "ECONNREFUSED"
	case syscall.ECONNRESET:
		return "ECONNRESET"
	case syscall.ETIMEDOUT:
		return "ETIMEDOUT"
	}
	return fmt.Sprintf("errno(%d)", int(e))
}

func shows(cs []*Conn) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, show(c))
	}
	return out
}

// states is States() as one comparable value.
type states struct{ synSent, synRecv, timeWait int }

// print is one table of socktrace -c: the events applied since the previous
// one, the snapshot taken at at, and what the table shows then.
type print struct {
	events []*tracer.Event
	rows   []snapshot.Socket
	at     time.Duration
	live   []string
	gone   []string
	states states
	counts Counts // Failed nil: none
	// lookup: the snapshot is listeners and looked-up connections,
	// without the TIME_WAIT pile (Reconcile's withTimeWait false).
	lookup bool
	// then, if set, checks more after the print and before the Sweep.
	then func(t *testing.T, tbl *Table)
}

// run drives tbl through the prints, checking each, and sweeps after each
// print as socktrace -c does.
func run(t *testing.T, tbl *Table, prints []print) {
	t.Helper()
	runSnapshots(t, tbl, prints, false)
}

// runApart is run with the full snapshots' sockets in TIME_WAIT apart, as
// socktrace -c reads them (snapshot.Diag.TimeWaits).
func runApart(t *testing.T, tbl *Table, prints []print) {
	t.Helper()
	runSnapshots(t, tbl, prints, true)
}

func runSnapshots(t *testing.T, tbl *Table, prints []print, apart bool) {
	t.Helper()
	for i, p := range prints {
		// Events stamped after p.at came while the snapshot was read.
		tbl.SnapshotBegins(at(p.at))
		if p.lookup {
			tbl.Lookups(nil) // as socktrace -c asks, before the events
		}
		for _, ev := range p.events {
			tbl.Apply(ev)
		}
		rows, tws := p.rows, (*snapshot.TimeWaits)(nil)
		if apart && !p.lookup {
			rows, tws = timeWaitsApart(rows)
		}
		tbl.Reconcile(rows, tws, at(p.at), !p.lookup)
		check(t, fmt.Sprintf("print %d at %v", i+1, p.at), tbl, p)
		if p.then != nil {
			p.then(t, tbl)
		}
		tbl.Sweep(at(p.at), 0)
	}
}

// timeWaitsApart splits the sockets in TIME_WAIT off rows, as a dump with
// snapshot.Diag.TimeWaits does.
func timeWaitsApart(rows []snapshot.Socket) ([]snapshot.Socket, *snapshot.TimeWaits) {
	var others []snapshot.Socket
	var tws snapshot.TimeWaits
	for _, s := range rows {
		switch {
		case s.State != tcpstate.TimeWait:
			others = append(others, s)
		case s.V6:
			tws.V6 = append(tws.V6, snapshot.TimeWait6{Local: s.Local.Addr().As16(), Remote: s.Remote.Addr().As16(),
				LPort: s.Local.Port(), RPort: s.Remote.Port(), UID: s.UID, TimerTicks: uint32(s.TimerTicks)})
		default:
			tws.V4 = append(tws.V4, snapshot.TimeWait4{Local: s.Local.Addr().As4(), Remote: s.Remote.Addr().As4(),
				LPort: s.Local.Port(), RPort: s.Remote.Port(), UID: s.UID, TimerTicks: uint32(s.TimerTicks)})
		}
	}
	return others, &tws
}

func check(t *testing.T, where string, tbl *Table, p print) {
	t.Helper()
	if got := shows(liveRows(tbl)); !slices.Equal(got, orEmpty(p.live)) {
		t.Errorf("%s: live rows\n got %q\nwant %q", where, got, p.live)
	}
	if got := shows(goneRows(tbl)); !slices.Equal(got, orEmpty(p.gone)) {
		t.Errorf("%s: gone rows\n got %q\nwant %q", where, got, p.gone)
	}
	var got states
	got.synSent, got.synRecv, got.timeWait = tbl.States()
	if got != p.states {
		t.Errorf("%s: States() = %+v, want %+v", where, got, p.states)
	}
	if c := tbl.Counts(); !sameCounts(c, &p.counts) {
		t.Errorf("%s: Counts() = %+v, want %+v", where, *c, p.counts)
	}
}

// liveRows is what socktrace -c prints as live: Live, then the TIME_WAIT
// pile.
func liveRows(tbl *Table) []*Conn {
	rows := slices.Clone(tbl.Live())
	for w := range tbl.TimeWaits {
		if !w.Ended() {
			c := &Conn{}
			w.Conn(c, base)
			rows = append(rows, c)
		}
	}
	return rows
}

// goneRows is what socktrace -c prints as gone: Gone and the pile's gone
// rows, in the order they ended.
func goneRows(tbl *Table) []*Conn {
	rows := slices.Clone(tbl.Gone())
	for w := range tbl.TimeWaits {
		if !w.ShownGone() {
			continue
		}
		c := &Conn{}
		w.Conn(c, base)
		rows = append(rows, c)
	}
	slices.SortStableFunc(rows, func(a, b *Conn) int { return a.GoneAt.Compare(b.GoneAt) })
	return rows
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sameCounts(a, b *Counts) bool {
	return a.Connects == b.Connects && a.Accepts == b.Accepts && a.Closes == b.Closes &&
		a.Lost == b.Lost && a.Healed == b.Healed && maps.Equal(a.Failed, b.Failed) &&
		a.ResetsSent == b.ResetsSent && a.ResetsReceived == b.ResetsReceived && a.Retransmits == b.Retransmits
}

var (
	// A client on 10.0.0.1 and a server on 10.0.0.2:80, in different
	// processes.
	client = sock{local: "10.0.0.1:40000", remote: "10.0.0.2:80", inode: 1001, pid: 100, comm: "curl"}
	// The same tuple used again by a new socket of another process.
	client2  = sock{local: "10.0.0.1:40000", remote: "10.0.0.2:80", inode: 1002, pid: 101, comm: "wget"}
	listener = sock{local: "10.0.0.2:80", remote: "0.0.0.0:0", inode: 500, pid: 200, comm: "nginx"}
	served   = sock{local: "10.0.0.2:80", remote: "10.0.0.1:40001", inode: 2001, pid: 201, comm: "worker"}
	// The server's side of client's connection, on this host.
	peer = sock{local: "10.0.0.2:80", remote: "10.0.0.1:40000", inode: 2002, pid: 201, comm: "worker"}
	// The same, accepted by a listener on [::].
	peer6 = sock{local: "[::ffff:10.0.0.2]:80", remote: "[::ffff:10.0.0.1]:40000", inode: 2003, pid: 201, comm: "worker"}
)

// Rows as show prints them.
const (
	clientSynSent = "10.0.0.1:40000>10.0.0.2:80 SYN_SENT inode=1001 q=0/0 owner=100/curl born=1s"
	clientTW      = "10.0.0.1:40000>10.0.0.2:80 TIME_WAIT inode=0 q=0/0 owner=100/curl born=1s"
	clientEst     = "10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1001 q=0/0 owner=100/curl born=1s"
	clientFW2     = "10.0.0.1:40000>10.0.0.2:80 FIN_WAIT2 inode=0 q=0/0 owner=100/curl born=1s"
	listenerRow   = "10.0.0.2:80>0.0.0.0:0 LISTEN inode=500 q=0/0 owner=200/nginx"
)

// clientInTimeWait is the first print of the scenarios that start with the
// client's connection in TIME_WAIT.
var clientInTimeWait = print{
	events: []*tracer.Event{
		client.connect(1 * time.Second),
		client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second),
	},
	rows:   []snapshot.Socket{client.row(tcpstate.TimeWait, 0)},
	at:     3 * time.Second,
	live:   []string{clientTW},
	states: states{timeWait: 1},
	counts: Counts{Connects: 1, Closes: 1},
}

// listenerAt is a print of the listener alone, listed by the snapshot at d.
func listenerAt(d time.Duration) print {
	return print{
		rows: []snapshot.Socket{listener.row(tcpstate.Listen, 500)},
		at:   d,
		live: []string{listenerRow},
	}
}

// clientListedFinWait2 is clientInTimeWait with the timewait socket listed
// in FIN_WAIT2: FIN_WAIT2 timed out waiting for the peer's FIN, and the
// kernel handed the connection to a timewait socket in that substate.
var clientListedFinWait2 = print{
	events: []*tracer.Event{
		client.connect(1 * time.Second),
		client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second),
	},
	rows:   []snapshot.Socket{client.row(tcpstate.FinWait2, 0)},
	at:     3 * time.Second,
	live:   []string{clientFW2},
	states: states{}, // shown as FIN_WAIT2, not counted as TIME_WAIT
	counts: Counts{Connects: 1, Closes: 1},
}

// clientEstablished is the first print of the scenarios that start with
// the client's connection established and listed.
var clientEstablished = print{
	events: []*tracer.Event{client.connect(1 * time.Second)},
	rows:   []snapshot.Socket{client.row(tcpstate.Established, 1001)},
	at:     2 * time.Second,
	live:   []string{clientEst},
	counts: Counts{Connects: 1},
}

// clientHealed is clientEstablished, then the client's close lost: the
// first snapshot that misses it keeps it, as the dump may have skipped it;
// the second heals it.
func clientHealed() []print {
	return []print{clientEstablished, {
		at:   3 * time.Second,
		live: []string{clientEst},
	}, {
		at:     4 * time.Second,
		gone:   []string{clientEst + " gone=3s lived=2s healed"},
		counts: Counts{Healed: 1},
	}}
}

// tw6 is an IPv6 connection seen only in TIME_WAIT; peer6Row and tw6Row
// are their rows then.
var (
	tw6      = sock{local: "[fd00::1]:40001", remote: "[fd00::2]:443"}
	tw6Row   = "[fd00::1]:40001>[fd00::2]:443 TIME_WAIT inode=0 q=0/0 owner=0/"
	peer6Row = "[::ffff:10.0.0.2]:80>[::ffff:10.0.0.1]:40000 TIME_WAIT inode=0 q=0/0 owner=0/"
)

func TestConnectionLives(t *testing.T) {
	tests := []struct {
		name   string
		seed   snapshot.Owners
		prints []print
	}{{
		name: "resets and retransmits are counted, and move no row",
		prints: []print{{
			events: []*tracer.Event{
				client.connect(1 * time.Second),
				client.event(tracer.KindRetransmit, 1100*time.Millisecond, tcpstate.SynSent, tcpstate.SynSent, 0),
			},
			at:     1500 * time.Millisecond,
			live:   []string{clientSynSent},
			states: states{synSent: 1},
			counts: Counts{Connects: 1, Retransmits: 1},
		}, {
			// Refused: the kernel's reset for the SYN comes from no
			// socket, the client's socket receives it and closes.
			events: []*tracer.Event{
				sock{local: "10.0.0.2:80", remote: "10.0.0.1:40000"}.event(tracer.KindResetSent, 2*time.Second, 0, 0, 0),
				client.event(tracer.KindResetReceived, 2*time.Second, tcpstate.SynSent, tcpstate.SynSent, 0),
				client.close(2*time.Second, tcpstate.SynSent, syscall.ECONNREFUSED, time.Second),
			},
			at:     2500 * time.Millisecond,
			gone:   []string{"10.0.0.1:40000>10.0.0.2:80 SYN_SENT inode=1001 q=0/0 owner=100/curl born=1s gone=2s lived=1s err=ECONNREFUSED"},
			counts: Counts{Failed: map[syscall.Errno]uint64{syscall.ECONNREFUSED: 1}, ResetsSent: 1, ResetsReceived: 1},
		}, {
			// An abort sends its reset after its close: not a second
			// close of the row.
			events: []*tracer.Event{
				client2.connect(3 * time.Second),
				client2.close(3500*time.Millisecond, tcpstate.Established, 0, 500*time.Millisecond),
				client2.event(tracer.KindResetSent, 3500*time.Millisecond, tcpstate.Close, tcpstate.Close, 0),
			},
			at:     4 * time.Second,
			gone:   []string{"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1002 q=0/0 owner=101/wget born=3s gone=3.5s lived=500ms"},
			counts: Counts{Connects: 1, Closes: 1, ResetsSent: 1},
		}},
	}, {
		name: "client from events only: connect, TIME_WAIT, expiry",
		prints: []print{{
			events: []*tracer.Event{client.connect(1 * time.Second)},
			at:     1500 * time.Millisecond,
			live:   []string{clientSynSent},
			states: states{synSent: 1},
			counts: Counts{Connects: 1},
		}, {
			// Listed by no snapshot, but its last event is newer than
			// the previous snapshot: kept.
			events: []*tracer.Event{client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second)},
			at:     2500 * time.Millisecond,
			live:   []string{clientTW},
			states: states{timeWait: 1},
			counts: Counts{Closes: 1},
		}, {
			events: []*tracer.Event{client.timeWaitEnd(62*time.Second, true)},
			at:     62500 * time.Millisecond,
			gone:   []string{clientTW + " gone=1m2s lived=1m1s expired"},
		}, {
			at: 63 * time.Second,
		}},
	}, {
		name: "client born and gone between two prints",
		prints: []print{{
			at: 500 * time.Millisecond,
		}, {
			events: []*tracer.Event{
				client.connect(1 * time.Second),
				client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second),
				client.timeWaitEnd(62*time.Second, true),
			},
			at:     63 * time.Second,
			gone:   []string{clientTW + " gone=1m2s lived=1m1s expired"},
			counts: Counts{Connects: 1, Closes: 1},
		}},
	}, {
		name: "client seen by snapshots: they give state and queues, events the rest",
		prints: []print{{
			events: []*tracer.Event{client.connect(1 * time.Second)},
			rows: []snapshot.Socket{func() snapshot.Socket {
				r := client.row(tcpstate.Established, 1001)
				r.SendQ = 7
				return r
			}()},
			at:     1500 * time.Millisecond,
			live:   []string{"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1001 q=0/7 owner=100/curl born=1s"},
			counts: Counts{Connects: 1},
		}, {
			// The active closer: FIN_WAIT1 -> FIN_WAIT2 -> TIME_WAIT; the
			// snapshot shows the timewait socket, without a file.
			events: []*tracer.Event{client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second)},
			rows:   []snapshot.Socket{client.row(tcpstate.TimeWait, 0)},
			at:     2500 * time.Millisecond,
			live:   []string{clientTW},
			states: states{timeWait: 1},
			counts: Counts{Closes: 1},
		}, {
			rows:   []snapshot.Socket{client.row(tcpstate.TimeWait, 0)},
			at:     30 * time.Second,
			live:   []string{clientTW},
			states: states{timeWait: 1},
		}, {
			events: []*tracer.Event{client.timeWaitEnd(62*time.Second, true)},
			at:     62500 * time.Millisecond,
			gone:   []string{clientTW + " gone=1m2s lived=1m1s expired"},
		}},
	}, {
		name: "the timewait socket shown as FIN_WAIT2 still ends on TIME_WAIT end",
		prints: []print{clientListedFinWait2, {
			events: []*tracer.Event{client.timeWaitEnd(60*time.Second, true)},
			at:     61 * time.Second,
			gone:   []string{clientFW2 + " gone=1m0s lived=59s expired"},
		}},
	}, {
		name: "a TIME_WAIT entered before the peer's FIN is FIN_WAIT2 until the local peer's close",
		prints: []print{awaitingFinPrint, {
			// The peer, on this host, got the ACK of its FIN.
			events: []*tracer.Event{peer.close(3500*time.Millisecond, tcpstate.LastAck, 0, 0)},
			rows:   []snapshot.Socket{},
			at:     4 * time.Second,
			live:   []string{clientTW},
			gone:   []string{"10.0.0.2:80>10.0.0.1:40000 LAST_ACK inode=2002 q=0/0 owner=201/worker gone=3.5s lived=0s"},
			states: states{timeWait: 1},
			counts: Counts{Closes: 1},
			lookup: true,
			then:   timerLeft(at(4*time.Second), 5950), // restarted by the FIN, at 3.5 s
		}},
	}, {
		name: "a TIME_WAIT entered before the peer's FIN: the peer's close after a dump that read it awaiting stays",
		prints: []print{awaitingFinPrint, {
			// The dump began at 3.2 s, before the peer's close.
			events: []*tracer.Event{peer.close(3500*time.Millisecond, tcpstate.LastAck, 0, 0)},
			rows:   []snapshot.Socket{client.row(tcpstate.FinWait2, 0)},
			at:     3200 * time.Millisecond,
			live:   []string{clientTW},
			gone:   []string{"10.0.0.2:80>10.0.0.1:40000 LAST_ACK inode=2002 q=0/0 owner=201/worker gone=3.5s lived=0s"},
			states: states{timeWait: 1},
			counts: Counts{Closes: 1},
		}},
	}, {
		name: "a TIME_WAIT entered before the peer's FIN: the peer, a dual-stack listener's socket, closes",
		prints: []print{awaitingFinPrint, {
			events: []*tracer.Event{peer6.close(3500*time.Millisecond, tcpstate.LastAck, 0, 0)},
			rows:   []snapshot.Socket{},
			at:     4 * time.Second,
			live:   []string{clientTW},
			gone:   []string{"[::ffff:10.0.0.2]:80>[::ffff:10.0.0.1]:40000 LAST_ACK inode=2003 q=0/0 owner=201/worker gone=3.5s lived=0s"},
			states: states{timeWait: 1},
			counts: Counts{Closes: 1},
			lookup: true,
		}},
	}, {
		name: "a TIME_WAIT entered before the peer's FIN: a reset of the peer is no FIN",
		prints: []print{awaitingFinPrint, {
			events: []*tracer.Event{peer.close(3500*time.Millisecond, tcpstate.LastAck, syscall.ECONNRESET, 0)},
			rows:   []snapshot.Socket{},
			at:     4 * time.Second,
			live:   []string{clientFW2},
			gone:   []string{"10.0.0.2:80>10.0.0.1:40000 LAST_ACK inode=2002 q=0/0 owner=201/worker gone=3.5s lived=0s err=ECONNRESET"},
			states: states{},
			counts: Counts{Closes: 1},
			lookup: true,
		}},
	}, {
		name: "a TIME_WAIT entered before the peer's FIN: a full snapshot tells it came, and the timer it has",
		prints: []print{awaitingFinPrint, {
			rows:   []snapshot.Socket{timerOf(client.row(tcpstate.TimeWait, 0), 5000)},
			at:     4 * time.Second,
			live:   []string{clientTW},
			states: states{timeWait: 1},
			then:   timerLeft(at(4*time.Second), 5000),
		}},
	}, {
		name: "the timewait socket listed in FIN_WAIT2, then in TIME_WAIT once the peer's FIN came",
		prints: []print{clientListedFinWait2, {
			rows:   []snapshot.Socket{client.row(tcpstate.TimeWait, 0)},
			at:     4 * time.Second,
			live:   []string{clientTW},
			states: states{timeWait: 1},
		}},
	}, {
		name: "a request socket without events on a TIME_WAIT's tuple: the timewait socket's end was lost",
		prints: []print{
			func() print {
				p := clientInTimeWait
				p.rows = []snapshot.Socket{client.row(tcpstate.TimeWait, 0)}
				return p
			}(), {
				// A SYN reused the tuple; its socket has no file yet.
				rows:   []snapshot.Socket{client.row(tcpstate.SynRecv, 0)},
				at:     4 * time.Second,
				live:   []string{"10.0.0.1:40000>10.0.0.2:80 SYN_RECV inode=0 q=0/0 owner=0/"},
				gone:   []string{clientTW + " gone=4s lived=3s healed"},
				states: states{synRecv: 1},
				counts: Counts{Healed: 1},
			}},
	}, {
		name: "an unseen connection closing on a TIME_WAIT's tuple: the timewait socket's end was lost",
		prints: []print{clientInTimeWait, {
			events: []*tracer.Event{client2.close(5*time.Second, tcpstate.SynSent, syscall.ECONNREFUSED, 0)},
			at:     6 * time.Second,
			gone: []string{
				clientTW + " gone=5s lived=4s healed",
				"10.0.0.1:40000>10.0.0.2:80 SYN_SENT inode=1002 q=0/0 owner=101/wget gone=5s lived=0s err=ECONNREFUSED",
			},
			counts: Counts{Failed: map[syscall.Errno]uint64{syscall.ECONNREFUSED: 1}, Healed: 1},
		}},
	}, {
		name: "a TIME_WAIT taken over by a new connect: the old one ends, the new one lives",
		prints: []print{clientInTimeWait, {
			events: []*tracer.Event{
				client2.connect(4 * time.Second),
				// The kernel kills the timewait socket it reused;
				// the row ends then.
				client.timeWaitEnd(4*time.Second+time.Microsecond, false),
			},
			rows:   []snapshot.Socket{client2.row(tcpstate.Established, 1002)},
			at:     5 * time.Second,
			live:   []string{"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1002 q=0/0 owner=101/wget born=4s"},
			gone:   []string{clientTW + " gone=4.000001s lived=3.000001s"},
			counts: Counts{Connects: 1},
		}, {
			rows: []snapshot.Socket{client2.row(tcpstate.Established, 1002)},
			at:   6 * time.Second,
			live: []string{"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1002 q=0/0 owner=101/wget born=4s"},
		}},
	}, {
		name: "a TIME_WAIT taken over, its end lost: the first snapshot listing the new socket ends it, healed",
		prints: []print{clientInTimeWait, {
			events: []*tracer.Event{client2.connect(4 * time.Second)},
			rows:   []snapshot.Socket{client2.row(tcpstate.Established, 1002)},
			at:     5 * time.Second,
			live:   []string{"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1002 q=0/0 owner=101/wget born=4s"},
			gone:   []string{clientTW + " gone=5s lived=4s healed"},
			counts: Counts{Connects: 1, Healed: 1},
		}, {
			// The new connection's own close is its own.
			events: []*tracer.Event{client2.close(6*time.Second, tcpstate.LastAck, 0, 2*time.Second)},
			at:     7 * time.Second,
			gone:   []string{"10.0.0.1:40000>10.0.0.2:80 LAST_ACK inode=1002 q=0/0 owner=101/wget born=4s gone=6s lived=2s"},
			counts: Counts{Closes: 1},
		}},
	}, {
		name: "a TIME_WAIT taken over, its end lost, until the new connection goes to TIME_WAIT too",
		prints: []print{{
			events: []*tracer.Event{
				client.connect(1 * time.Second),
				client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second),
				client2.connect(3 * time.Second),
				client2.timeWait(3*time.Second+time.Millisecond, tcpstate.FinWait2, time.Millisecond),
			},
			rows:   []snapshot.Socket{client2.row(tcpstate.TimeWait, 0)},
			at:     4 * time.Second,
			live:   []string{"10.0.0.1:40000>10.0.0.2:80 TIME_WAIT inode=0 q=0/0 owner=101/wget born=3s"},
			gone:   []string{clientTW + " gone=3.001s lived=2.001s healed"},
			states: states{timeWait: 1},
			counts: Counts{Connects: 2, Closes: 2, Healed: 1},
		}},
	}, {
		name: "server connection accepted and closed between two snapshots",
		seed: seedOf(500, 200, "nginx"),
		prints: []print{listenerAt(1 * time.Second), {
			events: []*tracer.Event{
				served.accept(2*time.Second, tcpstate.Established),
				// The peer closed first: CLOSE_WAIT, then LAST_ACK.
				served.close(3*time.Second, tcpstate.LastAck, 0, 1500*time.Millisecond),
			},
			rows:   []snapshot.Socket{listener.row(tcpstate.Listen, 500)},
			at:     4 * time.Second,
			live:   []string{listenerRow},
			gone:   []string{"10.0.0.2:80>10.0.0.1:40001 LAST_ACK inode=2001 q=0/0 owner=201/worker born=1.5s gone=3s lived=1.5s"},
			counts: Counts{Accepts: 1, Closes: 1},
		}, listenerAt(5 * time.Second)},
	}, {
		name: "refused connect",
		prints: []print{{
			events: []*tracer.Event{
				client.connect(1 * time.Second),
				client.close(1*time.Second+time.Millisecond, tcpstate.SynSent, syscall.ECONNREFUSED, time.Millisecond),
			},
			at:     2 * time.Second,
			gone:   []string{"10.0.0.1:40000>10.0.0.2:80 SYN_SENT inode=1001 q=0/0 owner=100/curl born=1s gone=1.001s lived=1ms err=ECONNREFUSED"},
			counts: Counts{Connects: 1, Failed: map[syscall.Errno]uint64{syscall.ECONNREFUSED: 1}},
		}, {
			at: 3 * time.Second,
		}},
	}, {
		name: "connects closed by the caller and timed out count as failed by reason",
		prints: []print{{
			events: []*tracer.Event{
				client.connect(1 * time.Second),
				client.close(2*time.Second, tcpstate.SynSent, 0, time.Second),
				client2.connect(3 * time.Second),
				client2.close(4*time.Second, tcpstate.SynSent, syscall.ETIMEDOUT, time.Second),
			},
			at: 5 * time.Second,
			gone: []string{
				"10.0.0.1:40000>10.0.0.2:80 SYN_SENT inode=1001 q=0/0 owner=100/curl born=1s gone=2s lived=1s aborted",
				"10.0.0.1:40000>10.0.0.2:80 SYN_SENT inode=1002 q=0/0 owner=101/wget born=3s gone=4s lived=1s err=ETIMEDOUT",
			},
			counts: Counts{Connects: 2, Failed: map[syscall.Errno]uint64{0: 1, syscall.ETIMEDOUT: 1}},
		}},
	}, {
		name: "SO_REUSEPORT listeners share a tuple and are two rows",
		prints: []print{{
			events: []*tracer.Event{
				sock{local: "0.0.0.0:8080", remote: "0.0.0.0:0", inode: 501, pid: 300, comm: "srv"}.listen(1 * time.Second),
				sock{local: "0.0.0.0:8080", remote: "0.0.0.0:0", inode: 502, pid: 301, comm: "srv"}.listen(1 * time.Second),
			},
			rows: []snapshot.Socket{
				sock{local: "0.0.0.0:8080", remote: "0.0.0.0:0"}.row(tcpstate.Listen, 501),
				sock{local: "0.0.0.0:8080", remote: "0.0.0.0:0"}.row(tcpstate.Listen, 502),
			},
			at: 2 * time.Second,
			live: []string{
				"0.0.0.0:8080>0.0.0.0:0 LISTEN inode=501 q=0/0 owner=300/srv born=1s",
				"0.0.0.0:8080>0.0.0.0:0 LISTEN inode=502 q=0/0 owner=301/srv born=1s",
			},
		}, {
			events: []*tracer.Event{
				sock{local: "0.0.0.0:8080", remote: "0.0.0.0:0", inode: 501, pid: 300, comm: "srv"}.close(3*time.Second, tcpstate.Listen, 0, 2*time.Second),
			},
			rows: []snapshot.Socket{
				sock{local: "0.0.0.0:8080", remote: "0.0.0.0:0"}.row(tcpstate.Listen, 502),
			},
			at:   4 * time.Second,
			live: []string{"0.0.0.0:8080>0.0.0.0:0 LISTEN inode=502 q=0/0 owner=301/srv born=1s"},
			// A listener closing is neither a close nor a failed connect.
			gone: []string{"0.0.0.0:8080>0.0.0.0:0 LISTEN inode=501 q=0/0 owner=300/srv born=1s gone=3s lived=2s"},
		}},
	}, {
		name: "IPv6 client",
		prints: []print{{
			events: []*tracer.Event{
				sock{local: "[fd00::1]:40000", remote: "[fd00::2]:443", inode: 3001, pid: 100, comm: "curl"}.connect(1 * time.Second),
			},
			rows:   []snapshot.Socket{sock{local: "[fd00::1]:40000", remote: "[fd00::2]:443"}.row(tcpstate.SynSent, 3001)},
			at:     2 * time.Second,
			live:   []string{"[fd00::1]:40000>[fd00::2]:443 SYN_SENT inode=3001 q=0/0 owner=100/curl born=1s"},
			states: states{synSent: 1},
			counts: Counts{Connects: 1},
		}},
	}, {
		// Older than socktrace: known from full snapshots, whose ends
		// the events tell (the keys of both must meet).
		name: "IPv6 TIME_WAIT older than socktrace",
		prints: []print{{
			rows:   []snapshot.Socket{tw6.row(tcpstate.TimeWait, 0), peer6.row(tcpstate.TimeWait, 0)},
			at:     1 * time.Second,
			live:   []string{tw6Row, peer6Row},
			states: states{timeWait: 2},
		}, {
			rows:   []snapshot.Socket{tw6.row(tcpstate.TimeWait, 0), peer6.row(tcpstate.TimeWait, 0)},
			at:     2 * time.Second,
			live:   []string{tw6Row, peer6Row},
			states: states{timeWait: 2},
		}, {
			events: []*tracer.Event{tw6.timeWaitEnd(2500*time.Millisecond, true), peer6.timeWaitEnd(2600*time.Millisecond, true)},
			at:     3 * time.Second,
			gone: []string{"[fd00::1]:40001>[fd00::2]:443 TIME_WAIT inode=0 q=0/0 owner=0/ gone=2.5s lived=0s expired",
				"[::ffff:10.0.0.2]:80>[::ffff:10.0.0.1]:40000 TIME_WAIT inode=0 q=0/0 owner=201/worker gone=2.6s lived=0s expired"},
		}},
	}, {
		name: "lost events are counted per interval",
		prints: []print{{
			events: []*tracer.Event{lost(1*time.Second, 3, 1), lost(2*time.Second, 0, 2)},
			at:     3 * time.Second,
			counts: Counts{Lost: 6},
		}, {
			at: 4 * time.Second,
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, New(Config{Seed: tt.seed, ProcRoot: t.TempDir()}), tt.prints)
		})
		t.Run(tt.name+", TIME_WAIT apart", func(t *testing.T) {
			runApart(t, New(Config{Seed: tt.seed, ProcRoot: t.TempDir()}), tt.prints)
		})
		// Again with every key's hash the same: each index holds all
		// rows in one probe sequence.
		t.Run(tt.name+", hashes clash", func(t *testing.T) {
			tbl := New(Config{Seed: tt.seed, ProcRoot: t.TempDir()})
			tbl.live.mask, tbl.tw.mask = 0, 0
			run(t, tbl, tt.prints)
		})
	}
}

func TestSweep(t *testing.T) {
	tbl := New(Config{ProcRoot: t.TempDir()})
	for i, s := range []sock{
		{local: "10.0.0.1:40001", remote: "10.0.0.2:80", inode: 11},
		{local: "10.0.0.1:40002", remote: "10.0.0.2:80", inode: 12},
		{local: "10.0.0.1:40003", remote: "10.0.0.2:80", inode: 13},
	} {
		d := time.Duration(i+1) * time.Second
		tbl.Apply(s.connect(d - time.Millisecond))
		tbl.Apply(s.close(d, tcpstate.SynSent, syscall.ECONNREFUSED, time.Millisecond))
	}
	tbl.Reconcile(nil, nil, at(3*time.Second), true)
	goneAt := func() []time.Duration {
		var out []time.Duration
		for _, c := range tbl.Gone() {
			out = append(out, c.GoneAt.Sub(base))
		}
		return out
	}
	steps := []struct {
		now    time.Duration
		linger time.Duration
		want   []time.Duration
	}{
		{now: 3500 * time.Millisecond, linger: 2 * time.Second, want: []time.Duration{2 * time.Second, 3 * time.Second}},
		{now: 4 * time.Second, linger: 2 * time.Second, want: []time.Duration{3 * time.Second}},
		{now: 4 * time.Second, linger: 2 * time.Second, want: []time.Duration{3 * time.Second}},
		{now: 5 * time.Second, linger: 2 * time.Second, want: nil},
	}
	for _, st := range steps {
		tbl.Sweep(at(st.now), st.linger)
		if got := goneAt(); !slices.Equal(got, st.want) {
			t.Errorf("Sweep(%v, %v): gone rows ended at %v, want %v", st.now, st.linger, got, st.want)
		}
		if c := tbl.Counts(); !sameCounts(c, &Counts{}) {
			t.Errorf("Sweep(%v, %v): counts not reset: %+v", st.now, st.linger, *c)
		}
	}

	// Without a linger every gone row goes at once.
	tbl.Apply(client.connect(6 * time.Second))
	tbl.Apply(client.close(7*time.Second, tcpstate.SynSent, syscall.ECONNREFUSED, time.Second))
	if n := len(tbl.Gone()); n != 1 {
		t.Fatalf("gone rows before Sweep: %d, want 1", n)
	}
	tbl.Sweep(at(7*time.Second), 0)
	if n := len(tbl.Gone()); n != 0 {
		t.Errorf("gone rows after Sweep(now, 0): %d, want 0", n)
	}
}

// TestBounded runs many intervals of connections that are born and gone
// between two snapshots, some of whose ends are lost, and checks that the
// table holds nothing once they are all shown.
func TestBounded(t *testing.T) {
	tbl := New(Config{ProcRoot: t.TempDir()})
	const rounds, perRound = 200, 50
	port := 0
	next := func() sock {
		port++
		return sock{local: fmt.Sprintf("10.0.%d.%d:%d", port>>16&0xff, port>>8&0xff, 1024+port&0xff),
			remote: "10.1.0.1:80", inode: uint64(port), pid: 100, comm: "churn"}
	}
	for r := range rounds {
		start := time.Duration(r) * time.Second
		for i := range perRound {
			s := next()
			d := start + time.Duration(i)*time.Millisecond
			tbl.Apply(s.connect(d))
			switch i % 5 {
			case 0: // refused
				tbl.Apply(s.close(d+100*time.Microsecond, tcpstate.SynSent, syscall.ECONNREFUSED, 100*time.Microsecond))
			case 1: // passive close
				tbl.Apply(s.close(d+200*time.Microsecond, tcpstate.LastAck, 0, 200*time.Microsecond))
			case 2: // active close, TIME_WAIT run out
				tbl.Apply(s.timeWait(d+200*time.Microsecond, tcpstate.FinWait2, 200*time.Microsecond))
				tbl.Apply(s.timeWaitEnd(d+300*time.Microsecond, true))
			case 3: // reset
				tbl.Apply(s.close(d+200*time.Microsecond, tcpstate.Established, syscall.ECONNRESET, 200*time.Microsecond))
			case 4: // the close was lost: reconciliation heals it
			}
		}
		tbl.Reconcile(nil, nil, at(start+900*time.Millisecond), true)
		tbl.Sweep(at(start+900*time.Millisecond), 0)
	}
	// Three more rounds: the last ones are missed, healed on the second
	// miss, then forgotten.
	for r := range 3 {
		now := at(time.Duration(rounds+r) * time.Second)
		tbl.Reconcile(nil, nil, now, true)
		tbl.Sweep(now, 0)
	}
	if tbl.live.len() != 0 || len(tbl.gone) != 0 || len(tbl.closedSince) != 0 ||
		len(tbl.healed) != 0 || len(tbl.order) != 0 {
		t.Errorf("table holds live=%d gone=%d closedSince=%d healed=%d order=%d after everything ended, want all 0",
			tbl.live.len(), len(tbl.gone), len(tbl.closedSince), len(tbl.healed), len(tbl.order))
	}
	if p := tbl.tw; p.len() != 0 || p.kept() != 0 || len(p.gone) != 0 || len(p.chunks) != 0 {
		t.Errorf("TIME_WAIT pile holds index=%d rows=%d gone=%d chunks=%d after everything ended, want all 0",
			p.len(), p.kept(), len(p.gone), len(p.chunks))
	}
	if c := tbl.Counts(); !sameCounts(c, &Counts{}) {
		t.Errorf("counts after the last Sweep: %+v, want zero", *c)
	}
}

// TestTimeWaitGoneLinger: a TIME_WAIT row whose timewait socket ended is
// shown as gone, from the pile, until a Sweep past the linger forgets it.
func TestTimeWaitGoneLinger(t *testing.T) {
	tbl := New(Config{ProcRoot: t.TempDir()})
	tbl.Apply(client.connect(time.Second))
	tbl.Apply(client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second))
	tbl.Apply(client.timeWaitEnd(3*time.Second, true))
	goneTWs := func() (n int) {
		for w := range tbl.TimeWaits {
			if !w.ShownGone() {
				continue
			}
			if !w.Ended() || w.Lifetime() != 2*time.Second || w.Owner() != client.owner() {
				t.Errorf("gone TIME_WAIT row %v: ended %v, lived %v, owner %v; want ended, lived 2s, owner %v",
					w.key, w.Ended(), w.Lifetime(), w.Owner(), client.owner())
			}
			n++
		}
		return n
	}
	steps := []struct {
		now, linger time.Duration
		want        int
	}{
		{now: 3 * time.Second, linger: 2 * time.Second, want: 1},
		{now: 4 * time.Second, linger: 2 * time.Second, want: 1},
		{now: 5 * time.Second, linger: 2 * time.Second, want: 0},
	}
	if n := goneTWs(); n != 1 {
		t.Fatalf("gone TIME_WAIT rows before Sweep: %d, want 1", n)
	}
	for _, st := range steps {
		tbl.Sweep(at(st.now), st.linger)
		if n := goneTWs(); n != st.want {
			t.Errorf("Sweep(%v, %v): %d gone TIME_WAIT rows, want %d", st.now, st.linger, n, st.want)
		}
	}
	if n := tbl.tw.kept(); n != 0 {
		t.Errorf("pile keeps %d rows once the gone one is forgotten, want 0", n)
	}
}

// A timewait socket awaiting the peer's FIN is shown as FIN_WAIT2, and the
// summary counts it as what it shows: not as TIME_WAIT.
func TestStatesCountAwaitingFinAsShown(t *testing.T) {
	tbl := New(Config{})
	tbl.Apply(client.connect(time.Second))
	tbl.Apply(awaitingFin(client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second)))
	if _, _, tw := tbl.States(); tw != 0 {
		t.Fatalf("awaiting the peer's FIN: %d TIME_WAIT, want 0", tw)
	}
	tbl.Apply(client2.connect(3 * time.Second))
	tbl.Apply(client2.timeWait(4*time.Second, tcpstate.FinWait2, time.Second))
	if _, _, tw := tbl.States(); tw != 1 {
		t.Fatalf("one FIN_WAIT2, one TIME_WAIT row: %d TIME_WAIT, want 1", tw)
	}
}

// TestRoomGivenBack fills the TIME_WAIT pile as a minute of churn does, lets
// it run out, and checks that the table gives back the room the pile took
// (Size), as a long-running -c must: slices and indexes otherwise keep the
// size of their peak.
func TestRoomGivenBack(t *testing.T) {
	tbl := New(Config{ProcRoot: t.TempDir()})
	empty := tbl.Size()
	const rows, perSecond = 100000, 2500
	clients := make([]sock, rows)
	for i := range clients {
		clients[i] = sock{local: fmt.Sprintf("127.0.0.%d:%d", 2+i%8, 32768+i/8), remote: "127.0.0.1:9511",
			inode: uint64(i + 1), pid: 100, comm: "churn"}
	}
	second := func(i int) time.Duration { return time.Duration(i/perSecond) * time.Second }
	sweep := func(d time.Duration) {
		tbl.Reconcile(nil, nil, at(d), false)
		tbl.Sweep(at(d), 0)
	}
	for i, c := range clients {
		d := time.Duration(i) * time.Second / perSecond
		tbl.Apply(c.connect(d))
		tbl.Apply(c.timeWait(d+time.Millisecond, tcpstate.FinWait2, time.Millisecond))
		if i%perSecond == perSecond-1 {
			sweep(second(i))
		}
	}
	peak := tbl.Size()
	// The timewait sockets run out 60 s after they came, in order.
	for i, c := range clients {
		d := 60*time.Second + time.Duration(i)*time.Second/perSecond
		tbl.Apply(c.timeWaitEnd(d, true))
		if i%perSecond == perSecond-1 {
			sweep(60*time.Second + second(i))
		}
	}
	for i := range 2 {
		sweep(time.Duration(100+i) * time.Second)
	}
	if _, _, tw := tbl.States(); tw != 0 {
		t.Fatalf("%d rows in TIME_WAIT after every one ran out, want 0", tw)
	}
	// A chunk of rows, and its share of the index, may be kept for the
	// next pile.
	const slack = 1 << 20
	if got := tbl.Size(); got > empty+slack {
		t.Errorf("table holds %d bytes after a pile of %d rows (%d bytes) ran out; want at most %d (a new table's %d and 1 MiB)",
			got, rows, peak, empty+slack, empty)
	}
}
