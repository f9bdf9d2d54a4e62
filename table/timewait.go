package table

import (
	"hash/maphash"
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

// TimeWait is one connection in TIME_WAIT, or one that left it since the
// last Sweep.
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
	dead      bool   // no longer in TIME_WAIT
	// Set when the kernel's timewait socket ended (expired or killed):
	// the row is shown as gone, from the pile, until Sweep.
	goneAt  int64 // Unix ns
	expired bool
	listed  bool // in the pile's gone list
}

// State is the row's state as snapshots list it: TIME_WAIT, or FIN_WAIT2
// for a timewait socket still waiting for the peer's FIN.
func (w *TimeWait) State() uint8 { return w.state }

// ID is unique to this row for the table's lifetime, and grows with the
// order in which rows entered TIME_WAIT.
func (w *TimeWait) ID() uint64 { return w.id }

// Conn fills c with the row as a connection: in TIME_WAIT, with now setting
// the time its timer has left (the kernel's TCP_TIMEWAIT_LEN is 60 s), or
// gone.
func (w *TimeWait) Conn(c *Conn, now time.Time) {
	*c = Conn{Owner: w.owner, Born: unixTime(w.born), lastEvent: unixTime(w.lastEvent),
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

// timeWaits is the pile, oldest first. Rows end mostly in the order they
// came (the timer is the same for all), so an ended row is only marked, and
// the ended rows at the front are dropped once shown: a row's place is its
// ID less the first row's, and no index needs rewriting. The rows live in
// buf[first:]; the space before first is taken back when buf is full, by
// moving the rows down, so a steady pile neither copies nor allocates per
// row.
//
// The index is keyed by a hash of the tuple, not the tuple: the pile is
// ~110k rows under churn, every new connection asks it whether it takes a
// TIME_WAIT's tuple over, and a map of 8-byte keys is several times faster
// than one of 48-byte keys at that size (it stays in cache). A row whose
// hash another row already has goes to clash, keyed by its tuple.
type timeWaits struct {
	buf    []TimeWait
	first  int
	seed   maphash.Seed
	index  map[uint64]uint64 // ID of each row still in TIME_WAIT, by its key's hash
	clash  map[Key]uint64    // the same, for rows whose hash index has for another key
	gone   []uint64          // IDs of the rows that left it and are shown as gone, in the order they left
	nextID uint64
	mask   uint64 // all ones; a test narrows it to make hashes clash
}

func newTimeWaits() *timeWaits {
	return &timeWaits{seed: maphash.MakeSeed(), index: make(map[uint64]uint64),
		clash: make(map[Key]uint64), nextID: 1, mask: ^uint64(0)}
}

func (p *timeWaits) len() int { return len(p.index) + len(p.clash) }

func (p *timeWaits) hash(k Key) uint64 { return maphash.Comparable(p.seed, k) & p.mask }

func (p *timeWaits) rows() []TimeWait { return p.buf[p.first:] }

// byID is the row with that ID, if it is still kept.
func (p *timeWaits) byID(id uint64) *TimeWait {
	rows := p.rows()
	if len(rows) == 0 || id < rows[0].id || id-rows[0].id >= uint64(len(rows)) {
		return nil
	}
	return &rows[id-rows[0].id]
}

func (p *timeWaits) get(k Key) *TimeWait {
	if id, ok := p.index[p.hash(k)]; ok {
		if w := p.byID(id); w.key == k {
			return w
		}
	}
	if len(p.clash) == 0 {
		return nil
	}
	id, ok := p.clash[k]
	if !ok {
		return nil
	}
	return p.byID(id)
}

// unindex drops k's row, which is in the pile, from the index.
func (p *timeWaits) unindex(k Key) {
	h := p.hash(k)
	if id, ok := p.index[h]; ok && p.byID(id).key == k {
		delete(p.index, h)
		return
	}
	delete(p.clash, k)
}

// add appends a row for k, which has none.
func (p *timeWaits) add(k Key, w TimeWait) *TimeWait {
	w.key, w.id = k, p.nextID
	if w.state == 0 {
		w.state = uint8(tracer.TimeWait)
	}
	p.nextID++
	if h := p.hash(k); p.index[h] == 0 {
		p.index[h] = w.id
	} else {
		p.clash[k] = w.id
	}
	if len(p.buf) == cap(p.buf) && p.first > 0 {
		// Moved down when that frees at least half the array, else
		// into a new one twice the rows: at most two copies per row.
		rows := p.rows()
		dst := p.buf[:0]
		if len(rows) > cap(p.buf)/2 {
			dst = make([]TimeWait, 0, 2*len(rows)+64)
		}
		p.buf, p.first = append(dst, rows...), 0
	}
	p.buf = append(p.buf, w)
	return &p.buf[len(p.buf)-1]
}

// remove ends k's row without showing it as gone (the caller does), and
// returns a copy of it.
func (p *timeWaits) remove(k Key) (TimeWait, bool) {
	w := p.get(k)
	if w == nil {
		return TimeWait{}, false
	}
	p.unindex(k)
	w.dead = true
	ended := *w
	p.dropFront()
	return ended, true
}

// end ends k's row as the kernel's timewait socket did: it stays, shown as
// gone, until Sweep.
func (p *timeWaits) end(k Key, at int64, expired bool) *TimeWait {
	w := p.get(k)
	if w == nil {
		return nil
	}
	p.unindex(k)
	w.dead, w.goneAt, w.expired, w.listed = true, at, expired, true
	p.gone = append(p.gone, w.id)
	return w
}

// sweep forgets the gone rows that ended more than linger before now.
func (p *timeWaits) sweep(now int64, linger time.Duration) {
	kept := p.gone[:0]
	for _, id := range p.gone {
		w := p.byID(id)
		if linger > 0 && now-w.goneAt < int64(linger) {
			kept = append(kept, id)
		} else {
			w.listed = false
		}
	}
	p.gone = kept
	p.dropFront()
}

// dropFront drops the ended rows at the front that are not shown as gone.
func (p *timeWaits) dropFront() {
	for p.first < len(p.buf) && p.buf[p.first].dead && !p.buf[p.first].listed {
		p.first++
	}
	if p.first == len(p.buf) {
		p.buf, p.first = p.buf[:0], 0
	}
}

// TimeWaits returns the rows in TIME_WAIT, oldest first; rows that left it
// are among them, and report Ended. Valid until the next call that changes
// the table.
func (t *Table) TimeWaits() []TimeWait { return t.tw.rows() }

// GoneTimeWaits calls yield with each row whose timewait socket ended since
// the last Sweep (or lingers), in the order they ended. Valid until the
// next call that changes the table.
func (t *Table) GoneTimeWaits(yield func(*TimeWait) bool) {
	for _, id := range t.tw.gone {
		if !yield(t.tw.byID(id)) {
			return
		}
	}
}

// Ended says the row is no longer in TIME_WAIT: skip it as a live row.
func (w *TimeWait) Ended() bool { return w.dead }

// enterTimeWait moves a live connection to the pile. A row already there
// for the tuple is an older connection's whose end was lost.
func (t *Table) enterTimeWait(k Key, c *Conn, entered time.Time) *TimeWait {
	if t.live[k] == c {
		delete(t.live, k)
	}
	if t.tw.get(k) != nil {
		t.endLostTimeWait(k, entered)
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
	c := t.alloc()
	w.Conn(c, at)
	return c
}
