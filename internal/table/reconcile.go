package table

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// SnapshotBegins says that a snapshot is about to be read, at on the
// events' clock: from now until Reconcile, the table remembers which
// connections ended, so that the snapshot cannot bring them back.
func (t *Table) SnapshotBegins(at time.Time) { t.snapAt = at }

// Reconcile makes the table agree with a snapshot of the namespace's TCP
// sockets. at is when the dump began, on the events' clock (SnapshotBegins
// was told), and every event queued before the dump began must have been
// applied. Rows take the
// snapshot's state and queues, except that a row with an event since the
// dump began keeps the state and inode that event gave it (the dump may have
// read the socket before); a row the snapshot lists but no event announced
// is added (its owner from the seed); a row that two snapshots in a row
// did not list, with no event since the previous snapshot, is ended as
// healed: the kernel lost its close. Rows with newer events are left for
// the next round, because their events may still be on the way.
//
// A snapshot that may leave timewait sockets out (withTimeWait false: the
// listeners and the tuples Lookups gave, far cheaper than a dump under
// churn) checks every row but the TIME_WAIT pile, of which it checks only
// the rows Lookups asked for; the next full snapshot checks the others.
//
// The snapshot's sockets in TIME_WAIT may be among the rows, or apart in
// timeWaits (snapshot.Diag.TimeWaits, may be nil), in the smaller form a
// dump of the pile is best kept in.
func (t *Table) Reconcile(rows []snapshot.Socket, timeWaits *snapshot.TimeWaits, at time.Time, withTimeWait bool) {
	t.gen++
	t.order = t.order[:0]
	if timeWaits != nil {
		t.reconcileTimeWaits(timeWaits, at)
	}
	for i := range rows {
		s := &rows[i]
		if s.Proto != snapshot.TCP {
			continue
		}
		if s.State == tcpstate.TimeWait {
			t.reconcileTimeWait(socketKey(s), s.UID, socketEntered(s, at), at)
			continue
		}
		t.reconcileRow(s, at)
	}
	listed := len(t.order)
	lost := t.lost[:0]
	for _, c := range t.live.each {
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
			lost = append(lost, c)
		}
	}
	// Healing takes rows out of the index: collect first, heal after.
	for _, c := range lost {
		t.heal(c.key, c, at)
	}
	clear(lost)
	t.lost = lost[:0]
	// Map order is random: keep the unlisted rows' order stable.
	slices.SortFunc(t.order[listed:], compareConns)
	if withTimeWait {
		t.checkTimeWaits(at)
		t.prevFull = at
	} else {
		t.checkAsked(at)
	}
	t.asked = t.asked[:0]
	clear(t.closedSince)
	t.snapAt = time.Time{}
	t.prevSnap = at
}

// reconcileRow brings one snapshot row that is not a timewait socket into
// the table.
func (t *Table) reconcileRow(s *snapshot.Socket, at time.Time) {
	k := socketKey(s)
	c := t.live.get(k)
	known := c != nil
	if !known {
		// The pile is asked here for a new row, and by takenOver below
		// for a known one.
		if w := t.tw.get(k); w != nil {
			switch {
			case s.Inode == 0 && s.State == tcpstate.FinWait2:
				// The timewait socket itself, listed in its
				// substate: the peer's FIN had not come when the
				// dump read it (the peer's close may say it has
				// since: peerFin).
				w.seen, w.missedAt = t.gen, 0
				if w.lastEvent <= at.UnixNano() {
					t.tw.setState(w, s.State)
				}
				return
			case w.lastEvent > at.UnixNano():
				// The full socket, read just before it became
				// the timewait socket.
				w.seen, w.missedAt = t.gen, 0
				return
			}
			// A socket the events never showed took the tuple
			// over: the timewait socket's end was lost.
			t.endLostTimeWait(k, at)
		}
		if end, ok := t.closedSince[k]; ok && end.After(at) {
			return // listed just before it closed: it is gone already
		}
		c = t.alloc()
		c.Owner = t.seedOwner(s.Inode)
		t.live.put(k, c)
	}
	if c.seen == t.gen {
		return
	}
	if known && s.Inode != 0 && t.tw.len() > 0 {
		t.takenOver(k, at)
	}
	state, inode := c.Socket.State, c.Socket.Inode
	c.Socket = *s
	if c.lastEvent.After(at) {
		c.Socket.State, c.Socket.Inode = state, inode
	}
	c.seen = t.gen
	t.order = append(t.order, c)
}

// takenOver ends k's TIME_WAIT row, if any, older than the snapshot that
// lists a full socket (it has a file) on its tuple: the kernel ended that
// timewait socket when the tuple was reused, and its end event was lost.
func (t *Table) takenOver(k Key, at time.Time) {
	if w := t.tw.get(k); w != nil && w.lastEvent <= at.UnixNano() {
		t.endLostTimeWait(k, at)
	}
}

// endLostTimeWait ends k's TIME_WAIT row, whose end event was lost, as
// healed. Not kept in healed: the tuple is a new connection's now, and its
// events are not this row's.
func (t *Table) endLostTimeWait(k Key, at time.Time) {
	c := t.leaveTimeWait(k, at)
	c.Healed = true
	t.counts.Healed++
	t.finish(k, c, at)
}

// reconcileTimeWaits brings a dump's sockets in TIME_WAIT into the pile.
func (t *Table) reconcileTimeWaits(tws *snapshot.TimeWaits, at time.Time) {
	for i := range tws.V4 {
		w := &tws.V4[i]
		k := Key{Local: netip.AddrFrom4(w.Local).As16(), Remote: netip.AddrFrom4(w.Remote).As16(),
			LPort: w.LPort, RPort: w.RPort}
		t.reconcileTimeWait(k, w.UID, enteredBefore(uint64(w.TimerTicks), at), at)
	}
	for i := range tws.V6 {
		w := &tws.V6[i]
		k := Key{Local: w.Local, Remote: w.Remote, LPort: w.LPort, RPort: w.RPort, V6: true}
		t.reconcileTimeWait(k, w.UID, enteredBefore(uint64(w.TimerTicks), at), at)
	}
}

// reconcileTimeWait brings k's timewait socket, which a snapshot listed
// at at in TIME_WAIT, into the pile; entered is when it entered TIME_WAIT
// (enteredBefore).
func (t *Table) reconcileTimeWait(k Key, uid uint32, entered, at time.Time) {
	if w := t.tw.get(k); w != nil {
		// Listed in its FIN_WAIT2 substate before, maybe.
		w.seen, w.missedAt = t.gen, 0
		switch {
		case w.state != tcpstate.TimeWait:
			// Out of FIN_WAIT2: the peer's FIN came, which no event
			// told.
			t.tw.finCame(w, unixNano(entered))
		case w.entered < at.Add(-overdueAfter).UnixNano():
			// Past its end, and still there: a retransmitted FIN
			// restarted its timer. The kernel's says how long it
			// has left, so that lookups stop asking for it.
			w.entered = unixNano(entered)
		}
		return
	}
	c := t.live.get(k)
	switch {
	case c != nil && c.lastEvent.After(at):
		return // its events are newer: say, a new connection on the tuple
	case c != nil:
		// Its entry into TIME_WAIT was lost, or no event could tell it:
		// the peer's FIN came for a timewait socket in FIN_WAIT2.
		t.enterTimeWait(k, c, entered, tcpstate.TimeWait).seen = t.gen
		return
	}
	if end, ok := t.closedSince[k]; ok && end.After(at) {
		return // it ended after the dump read it
	}
	t.tw.add(k, TimeWait{uid: uid, entered: unixNano(entered), seen: t.gen})
}

// enteredBefore is when a timewait socket that a snapshot listed at at
// entered TIME_WAIT, told by the ticks (USER_HZ, 10 ms) its timer had
// left: the row's timer (-o) then counts down from what the kernel said,
// not from a full 60 s.
func enteredBefore(ticks uint64, at time.Time) time.Time {
	left := time.Duration(ticks) * 10 * time.Millisecond
	if left > timeWaitLen {
		return at
	}
	return at.Add(left - timeWaitLen)
}

// socketEntered is enteredBefore for a row of a timewait socket, if it
// shows the TIME_WAIT timer.
func socketEntered(s *snapshot.Socket, at time.Time) time.Time {
	if !s.TimewaitSock() {
		return at
	}
	return enteredBefore(s.TimerTicks, at)
}

// checkTimeWaits heals the TIME_WAIT rows that two full snapshots in a row
// did not list: the kernel lost their end.
func (t *Table) checkTimeWaits(at time.Time) {
	var ended []Key
	for w := range t.tw.each {
		if t.missedAgain(w, t.prevFull, at) {
			ended = append(ended, w.key)
		}
	}
	t.healTimeWaits(ended, at)
}

// checkAsked heals the TIME_WAIT rows that a lookup asked for and missed,
// as the snapshot before (a lookup, or a full one) did: the kernel lost
// their end.
func (t *Table) checkAsked(at time.Time) {
	var ended []Key
	for _, k := range t.asked {
		if w := t.tw.get(k); w != nil && t.missedAgain(w, t.prevSnap, at) {
			ended = append(ended, k)
		}
	}
	t.healTimeWaits(ended, at)
}

// missedAgain says whether the snapshot at at did not list w and an
// earlier one missed it too, with no event of w since since; a first miss
// is marked.
func (t *Table) missedAgain(w *TimeWait, since, at time.Time) bool {
	switch {
	case w.dead || w.seen == t.gen:
	case w.lastEvent > unixNano(since):
	case w.missedAt == 0:
		w.missedAt = unixNano(at)
	default:
		return w.missedAt < unixNano(at)
	}
	return false
}

// healTimeWaits ends the TIME_WAIT rows of keys as healed. Ending a row
// drops it from the pile: the keys are collected first.
func (t *Table) healTimeWaits(keys []Key, at time.Time) {
	for _, k := range keys {
		if c := t.leaveTimeWait(k, at); c != nil {
			t.heal(k, c, at)
		}
	}
}

// heal ends a row the kernel no longer has. It was gone by the first
// snapshot that missed it.
func (t *Table) heal(k Key, c *Conn, at time.Time) {
	if c.missedAt.IsZero() {
		c.missedAt = at
	}
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

func (t *Table) seedOwner(inode uint64) snapshot.Owner {
	if inode == 0 {
		return snapshot.Owner{}
	}
	return t.seed[inode]
}

// Lookups appends to dst what a snapshot that looks sockets up by tuple
// must ask for: the live connections, listeners left out, and the few
// TIME_WAIT rows that may change without an event (pileLookups).
func (t *Table) Lookups(dst []snapshot.Socket) []snapshot.Socket {
	for _, c := range t.live.each {
		if c.Socket.Remote.Port() != 0 {
			dst = append(dst, c.Socket)
		}
	}
	return t.pileLookups(dst)
}

// Live returns the rows that exist now: in the snapshot's order, then the
// rows it did not list (born since, or missed once), by last event. Valid
// until the next Apply, Reconcile or Sweep: rows are reused once the table
// is done with them.
func (t *Table) Live() []*Conn { return t.order }

// Gone returns the rows that ended since the last Sweep (and, with a
// linger, those that ended less than linger ago), in the order they ended.
// Valid until the next Sweep, which may reuse them.
func (t *Table) Gone() []*Conn { return t.gone }

// Sweep forgets the rows that ended more than linger before now, and
// starts a new interval's counts.
func (t *Table) Sweep(now time.Time, linger time.Duration) {
	gone := len(t.gone)
	kept := t.gone[:0]
	for _, c := range t.gone {
		if linger > 0 && now.Sub(c.GoneAt) < linger {
			kept = append(kept, c)
		} else {
			t.release(c)
		}
	}
	clear(t.gone[len(kept):])
	t.gone = kept
	t.tw.sweep(unixNano(now), linger)
	// A healed row waits one interval for a close event that was late
	// rather than lost.
	for k, c := range t.healed {
		if c.healedAt.Before(t.prevSnap) {
			delete(t.healed, k)
		}
	}
	t.counts = Counts{Failed: clearCounts(t.counts.Failed)}
	t.shrink(gone)
}
