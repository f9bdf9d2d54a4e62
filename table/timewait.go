package table

import (
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tracer"
)

// Under churn the TIME_WAIT pile is most of the table: every active close
// leaves a timewait socket for 60 s, up to the kernel's tcp_max_tw_buckets
// (about 110k rows under loopback churn here). Those rows never change until
// they end, so they live apart from the connections that do: as pointer-free values the garbage collector never
// scans, in the order they entered TIME_WAIT, each with an ID that lets a
// renderer reuse the line it printed last time.

// TimeWait is one connection in TIME_WAIT.
type TimeWait struct {
	key     Key
	owner   Owner
	uid     uint32
	state   uint8 // as snapshots list it: TIME_WAIT, or its substate FIN_WAIT2
	id      uint64
	born    int64 // Unix ns; 0: not seen
	entered int64 // Unix ns, when it entered TIME_WAIT

	lastEvent int64  // Unix ns of the newest event applied to it
	seen      uint64 // the last full snapshot generation that listed it
	missedAt  int64  // the last full snapshot, if it did not list it
	dead      bool   // ended; dropped at the next compaction
}

// ID is unique to this row for the table's lifetime, and grows with the
// order in which rows entered TIME_WAIT.
func (w *TimeWait) ID() uint64 { return w.id }

// Conn fills c with the row as a live connection; now sets the time its
// timer has left (the kernel's TCP_TIMEWAIT_LEN is 60 s).
func (w *TimeWait) Conn(c *Conn, now time.Time) {
	*c = Conn{Owner: w.owner, Born: unixTime(w.born), lastEvent: unixTime(w.lastEvent)}
	c.Socket = socketOf(w.key, w.uid)
	c.Socket.State = w.state
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

// timeWaits is the pile, oldest first. Rows end mostly in the order they
// came (the timer is the same for all), so an ended row is only marked,
// and the ended rows at the front are dropped: a row's place in rows is
// its ID less the first row's, and no index needs rewriting.
type timeWaits struct {
	rows   []TimeWait
	index  map[Key]uint64 // ID of each row that has not ended
	nextID uint64
}

func newTimeWaits() *timeWaits { return &timeWaits{index: make(map[Key]uint64), nextID: 1} }

func (p *timeWaits) len() int { return len(p.index) }

func (p *timeWaits) get(k Key) *TimeWait {
	id, ok := p.index[k]
	if !ok {
		return nil
	}
	return &p.rows[id-p.rows[0].id]
}

// add appends a row for k, which has none.
func (p *timeWaits) add(k Key, w TimeWait) *TimeWait {
	w.key, w.id = k, p.nextID
	if w.state == 0 {
		w.state = uint8(tracer.TimeWait)
	}
	p.nextID++
	p.index[k] = w.id
	p.rows = append(p.rows, w)
	return &p.rows[len(p.rows)-1]
}

// remove ends k's row and returns a copy of it.
func (p *timeWaits) remove(k Key) (TimeWait, bool) {
	w := p.get(k)
	if w == nil {
		return TimeWait{}, false
	}
	delete(p.index, k)
	w.dead = true
	ended := *w
	n := 0
	for n < len(p.rows) && p.rows[n].dead {
		n++
	}
	// The front moves on; append reallocates (copying only the rows
	// left) once the array's end is reached, which frees the front.
	p.rows = p.rows[n:]
	return ended, true
}

// TimeWaits returns the rows in TIME_WAIT, oldest first; ended rows among
// them report Ended. Valid until the next call that changes the table.
func (t *Table) TimeWaits() []TimeWait { return t.tw.rows }

// Ended says the row is no longer in TIME_WAIT: skip it.
func (w *TimeWait) Ended() bool { return w.dead }

// enterTimeWait moves a live connection to the pile.
func (t *Table) enterTimeWait(k Key, c *Conn, entered time.Time) *TimeWait {
	if t.live[k] == c {
		delete(t.live, k)
	}
	return t.tw.add(k, TimeWait{owner: c.Owner, uid: c.Socket.UID, born: unixNano(c.Born),
		entered: unixNano(entered), lastEvent: unixNano(c.lastEvent)})
}

// leaveTimeWait ends k's TIME_WAIT row and returns it as a gone connection
// (not yet in the gone list).
func (t *Table) leaveTimeWait(k Key, at time.Time) *Conn {
	w, ok := t.tw.remove(k)
	if !ok {
		return nil
	}
	c := &Conn{}
	w.Conn(c, at)
	c.Socket.Timer, c.Socket.TimerTicks = 0, 0
	c.missedAt = unixTime(w.missedAt)
	return c
}
