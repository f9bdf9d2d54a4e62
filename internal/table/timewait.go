package table

import (
	"syscall"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// Under churn the TIME_WAIT pile is most of the table: every active close
// leaves a timewait socket for 60 s, up to the kernel's tcp_max_tw_buckets.
// Those rows never change until they end, so they live apart from the
// connections that do (pile.go): as pointer-free values the garbage
// collector never scans, in the order they entered TIME_WAIT, each with an
// ID that lets a renderer reuse the line it printed last time.

// TimeWait is one connection in TIME_WAIT, or one that left it since the
// last Sweep.
//
// The pile holds one per timewait socket, most of the table under churn,
// so the fields are ordered large to small, leaving no padding between them.
type TimeWait struct {
	key     Key
	owner   snapshot.Owner
	cgroup  uint64 // the owner's cgroup v2 id (Conn.Cgroup)
	uid     uint32
	id      uint64 // for renderers: grows along the pile
	pos     uint64 // where the pile keeps it (timeWaits.at)
	born    int64  // Unix ns; 0: not seen
	entered int64  // Unix ns, when it entered TIME_WAIT

	lastEvent int64 // Unix ns of the newest event applied to it
	missedAt  int64 // the last snapshot that could list it (full, or a lookup of it), if it did not
	// Set when the kernel's timewait socket ended (expired or killed):
	// the row is shown as gone, from the pile, until Sweep.
	goneAt  int64          // Unix ns
	seen    uint32         // the last snapshot generation that listed it
	state   tcpstate.State // as snapshots list it: TIME_WAIT, or its substate FIN_WAIT2
	dead    bool           // no longer in TIME_WAIT
	expired bool
	listed  bool // in the pile's gone list
}

// State is the row's state as snapshots list it: TIME_WAIT, or FIN_WAIT2
// for a timewait socket still waiting for the peer's FIN.
func (w *TimeWait) State() tcpstate.State { return w.state }

// Owner is the process the connection belonged to (PID 0: unknown).
func (w *TimeWait) Owner() snapshot.Owner { return w.owner }

// Cgroup is the owner's cgroup v2 id, as Conn.Cgroup; 0: not known.
func (w *TimeWait) Cgroup() uint64 { return w.cgroup }

// Lifetime is how long a row that left TIME_WAIT lived, or 0 when its birth
// was not seen.
func (w *TimeWait) Lifetime() time.Duration {
	if w.born == 0 || w.goneAt == 0 {
		return 0
	}
	return time.Duration(w.goneAt - w.born)
}

// ID is unique to this row for the table's lifetime, and grows with the
// order in which rows entered TIME_WAIT.
func (w *TimeWait) ID() uint64 { return w.id }

// Conn fills c with the row as a connection: in TIME_WAIT, with now setting
// the time its timer has left (the kernel's TCP_TIMEWAIT_LEN is 60 s), or
// gone.
func (w *TimeWait) Conn(c *Conn, now time.Time) {
	*c = Conn{Owner: w.owner, Cgroup: w.cgroup, Born: unixTime(w.born), lastEvent: unixTime(w.lastEvent),
		missedAt: unixTime(w.missedAt)}
	c.Socket = socketOf(w.key, w.uid)
	c.Socket.State = w.state
	if w.dead {
		c.Gone, c.GoneAt, c.Expired = true, unixTime(w.goneAt), w.expired
		return
	}
	c.Socket.Timer = 3
	left := timeWaitLen - now.Sub(unixTime(w.entered))
	c.Socket.TimerTicks = uint64(max(left, 0) / (10 * time.Millisecond))
}

const timeWaitLen = 60 * time.Second

// socketOf is a snapshot row with the key's tuple.
func socketOf(k Key, uid uint32) snapshot.Socket {
	s := snapshot.Socket{Proto: snapshot.TCP, V6: k.V6, UID: uid, Inode: k.Inode}
	s.Local, s.Remote = k.addrs()
	return s
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// TimeWaits calls yield with each row of the pile, oldest first: the rows
// in TIME_WAIT, and among them rows that left it, which report Ended (and
// ShownGone, those whose timewait socket ended since the last Sweep, or
// lingers). Valid until the next call that changes the table.
func (t *Table) TimeWaits(yield func(*TimeWait) bool) { t.tw.each(yield) }

// Ended says the row is no longer in TIME_WAIT: skip it as a live row.
func (w *TimeWait) Ended() bool { return w.dead }

// ShownGone says the row's timewait socket ended (expired or killed) since
// the last Sweep, or lingers: show it as a gone row.
func (w *TimeWait) ShownGone() bool { return w.listed }

// enterTimeWait moves a live connection to the pile, in state TIME_WAIT or
// its substate FIN_WAIT2. A row already there for the tuple is an older
// connection's whose end was lost.
func (t *Table) enterTimeWait(k Key, c *Conn, entered time.Time, state tcpstate.State) *TimeWait {
	t.live.del(k, c)
	old, h, _ := t.tw.lookup(k)
	if old != nil {
		t.endLostTimeWait(k, entered)
	}
	return t.tw.addAt(k, h, TimeWait{owner: c.Owner, cgroup: c.Cgroup, uid: c.Socket.UID, born: unixNano(c.Born),
		entered: unixNano(entered), lastEvent: unixNano(c.lastEvent), state: state})
}

// peerFin takes the close of a connection's passive side, from LAST_ACK: its
// FIN was acknowledged, so if the other side is a timewait socket on this
// host still awaiting that FIN, it has it now and is in TIME_WAIT, with its
// timer restarted. (The kernel shows no event for that change.) Rows of
// peers on other hosts are caught up by the next snapshot's lookup of the
// rows awaiting the FIN (pileLookups).
func (t *Table) peerFin(ev *tracer.Event) {
	if t.tw.finWait2 == 0 {
		return
	}
	if ev.Err != 0 {
		return // a reset, not a FIN, ended it
	}
	// The other side is of the same family, except that a dual-stack
	// socket (IPv6, with IPv4-mapped addresses) mostly talks to an IPv4
	// one. (A dual-stack client of an IPv4 server waits for a snapshot:
	// asking both ways would cost a second index probe for every close
	// whose peer awaits nothing.)
	v6 := ev.Family == syscall.AF_INET6
	a := ev.Local.Addr()
	mapped := v6 && (a.Is4In6() || a.Is4())
	w := t.tw.finWait2Row(keyOf(v6 && !mapped, ev.Remote, ev.Local, 0))
	if w == nil && mapped {
		w = t.tw.finWait2Row(keyOf(true, ev.Remote, ev.Local, 0))
	}
	if w != nil {
		t.tw.finCame(w, ev.Time.UnixNano())
		w.lastEvent = w.entered // newer than a snapshot that read it in FIN_WAIT2
	}
}

// maxPileLookups bounds the TIME_WAIT rows one snapshot between full ones
// looks up. Past it the rows take turns, and every full snapshot lists
// them all.
const maxPileLookups = 4096

// overdueAfter is how long after entering TIME_WAIT (or getting the peer's
// FIN, which restarts the timer) a timewait socket has ended, unless a
// retransmitted FIN restarted its timer again: the kernel's timer runs
// TCP_TIMEWAIT_LEN, the timer wheel fires a timer that long up to an eighth
// of it late, and its end event may take a moment.
const overdueAfter = timeWaitLen + timeWaitLen/8 + 2*time.Second

// pileLookups appends the TIME_WAIT rows that may change without an event,
// and notes them for Reconcile: the rows awaiting the peer's FIN (a peer on
// another host sends it to a socket no event shows; the row is then
// TIME_WAIT, its timer restarted), and the rows past their end, whose end
// event was lost. Their number sets the cost, not the pile's.
func (t *Table) pileLookups(dst []snapshot.Socket) []snapshot.Socket {
	t.asked = t.asked[:0]
	ask := func(w *TimeWait) bool {
		if len(t.asked) == maxPileLookups {
			return false
		}
		t.asked = append(t.asked, w.key)
		dst = append(dst, socketOf(w.key, w.uid))
		return true
	}
	t.tw.eachAwaiting(ask)
	if !t.snapAt.IsZero() {
		t.eachOverdue(t.snapAt, ask)
	}
	return dst
}

// eachOverdue calls yield with the rows in TIME_WAIT overdueAfter past
// their entry at at, oldest first, until it returns false. The pile is in
// the order rows entered, but for the rows whose timer the peer's FIN
// restarted: one of those stops the walk until it is overdue itself, and
// full snapshots heal what it hides.
func (t *Table) eachOverdue(at time.Time, yield func(*TimeWait) bool) {
	before := at.Add(-overdueAfter).UnixNano()
	for w := range t.tw.each {
		switch {
		case w.dead:
		case w.entered > before:
			return
		case w.state == tcpstate.TimeWait && !yield(w):
			return
		}
	}
}

// leaveTimeWait ends k's TIME_WAIT row and returns it as a gone connection
// (not yet in the gone list).
func (t *Table) leaveTimeWait(k Key, at time.Time) *Conn {
	w, ok := t.tw.remove(k)
	if !ok {
		return nil
	}
	c := t.alloc()
	w.Conn(c, at)
	return c
}
