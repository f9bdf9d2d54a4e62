package table

import (
	"cmp"
	"slices"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tracer"
)

// Reconcile makes the table agree with a snapshot of the namespace's TCP
// sockets. at is when the dump began, on the events' clock, and every event
// queued before the dump began must have been applied. Rows take the
// snapshot's state and queues, except that a row with an event since the
// dump began keeps the state and inode that event gave it (the dump may have
// read the socket before); a row the snapshot lists but no event announced
// is added (its owner from the seed); a row that two snapshots in a row
// did not list, with no event since the previous snapshot, is ended as
// healed: the kernel lost its close. Rows with newer events are left for the next round,
// because their events may still be on the way.
func (t *Table) Reconcile(rows []snapshot.Socket, at time.Time) {
	t.gen++
	t.order = t.order[:0]
	for i := range rows {
		s := &rows[i]
		if s.Proto != snapshot.TCP {
			continue
		}
		k := socketKey(s)
		c := t.live[k]
		if c == nil {
			if end, ok := t.closedSince[k]; ok && end.After(at) {
				continue // listed just before it closed: it is gone already
			}
			c = &Conn{Owner: t.seedOwner(s.Inode)}
			t.live[k] = c
		}
		if c.seen == t.gen {
			continue
		}
		state, inode := c.Socket.State, c.Socket.Inode
		c.Socket = *s
		if c.lastEvent.After(at) {
			// Say, the full socket read just before it became a
			// timewait socket: its file would hide the TIME_WAIT end.
			c.Socket.State, c.Socket.Inode = state, inode
		}
		c.seen = t.gen
		t.order = append(t.order, c)
	}
	listed := len(t.order)
	for k, c := range t.live {
		switch {
		case c.seen == t.gen:
			c.missedAt = time.Time{}
		case c.lastEvent.After(t.prevSnap):
			t.order = append(t.order, c) // newer than what the kernel last showed
		case c.missedAt.IsZero():
			// A dump can skip a socket while its hash chain changes
			// under it: only a second miss in a row heals.
			c.missedAt = at
			t.order = append(t.order, c)
		default:
			t.heal(k, c, at)
		}
	}
	// Map order is random: keep the unlisted rows' order stable.
	slices.SortFunc(t.order[listed:], compareConns)
	clear(t.closedSince)
	t.prevSnap = at
}

// heal ends a row the kernel no longer has. It was gone by the first
// snapshot that missed it.
func (t *Table) heal(k Key, c *Conn, at time.Time) {
	c.Healed = true
	c.healedAt = at
	t.finish(k, c, c.missedAt)
	t.healed[k] = c
	t.counts.Healed++
}

// compareConns orders rows by their last event, then by tuple.
func compareConns(a, b *Conn) int {
	return cmp.Or(a.lastEvent.Compare(b.lastEvent),
		a.Socket.Local.Compare(b.Socket.Local),
		a.Socket.Remote.Compare(b.Socket.Remote),
		cmp.Compare(a.Socket.Inode, b.Socket.Inode))
}

func (t *Table) seedOwner(inode uint64) Owner {
	o, ok := t.seed[inode]
	if !ok || inode == 0 {
		return Owner{}
	}
	return Owner{PID: uint32(o.PID), Comm: tracer.CommOf(o.Comm)}
}

// Live returns the rows that exist now: in the snapshot's order, then the
// rows it did not list (born since, or missed once), by last event. Valid
// until the next Reconcile.
func (t *Table) Live() []*Conn { return t.order }

// Gone returns the rows that ended since the last Sweep (and, with a
// linger, those that ended less than linger ago), in the order they ended.
func (t *Table) Gone() []*Conn { return t.gone }

// Sweep forgets the rows that ended more than linger before now, and
// starts a new interval's counts.
func (t *Table) Sweep(now time.Time, linger time.Duration) {
	kept := t.gone[:0]
	for _, c := range t.gone {
		if linger > 0 && now.Sub(c.GoneAt) < linger {
			kept = append(kept, c)
		}
	}
	clear(t.gone[len(kept):])
	t.gone = kept
	// A healed row waits one interval for a close event that was late
	// rather than lost.
	for k, c := range t.healed {
		if c.healedAt.Before(t.prevSnap) {
			delete(t.healed, k)
		}
	}
	t.counts = Counts{Failed: clearCounts(t.counts.Failed)}
}
