package table

import (
	"syscall"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// Apply brings one tracer event into the table. It takes the full event
// stream as well as the tracer's TableOnly subset: connects, listens,
// accepts, closes, TIME_WAIT entry and end. Resets and retransmits are only
// counted: they change no state (a reset that ends a socket comes with its
// close, and an abort sends its own after it).
func (t *Table) Apply(ev *tracer.Event) {
	switch {
	case ev.Kind == tracer.KindLost:
		t.counts.Lost += ev.Lost.Total()
	case ev.Kind == tracer.KindResetSent:
		t.counts.ResetsSent++
	case ev.Kind == tracer.KindResetReceived:
		t.counts.ResetsReceived++
	case ev.Kind == tracer.KindRetransmit:
		t.counts.Retransmits++
	case ev.Kind == tracer.KindTimeWaitEnd:
		t.endTimeWait(ev)
	case ev.Kind == tracer.KindAccept && ev.New == tcpstate.Close:
		t.acceptClosed(ev)
	case ev.New == tcpstate.Close:
		t.close(ev)
	default:
		t.update(ev)
	}
}

// update records a connection that opened or changed state.
func (t *Table) update(ev *tracer.Event) {
	k := eventKey(ev)
	c := t.live.get(k)
	switch {
	case c == nil:
		if h := t.healedRow(k); h != nil && !ev.Time.After(h.healedAt) {
			return // a late event of a row that reconciliation ended
		}
		if ev.New == tcpstate.TimeWait && t.tw.get(k) != nil {
			return // already in TIME_WAIT: a snapshot put it there
		}
		// A new connection may take the tuple of a TIME_WAIT row. The
		// pile is not asked here: it is large and out of cache, and the
		// kernel kills a reused timewait socket before the connect or
		// the SYN that reuses it, so its end comes first. If that end
		// was lost, the row ends when this connection goes to TIME_WAIT
		// or a snapshot lists it (reconcileRow).
		c = t.open(k, ev)
	case ev.Inode != 0 && c.Socket.Inode != 0 && ev.Inode != c.Socket.Inode:
		// Another socket on the tuple: the old one's close was lost.
		c.missedAt = ev.Time
		t.heal(k, c, ev.Time)
		c = t.open(k, ev)
	}
	c.Socket.State = ev.New
	if ev.Inode != 0 {
		c.Socket.Inode = ev.Inode
	}
	t.touch(c, ev)
	switch {
	case ev.Kind == tracer.KindAccept:
		t.counts.Accepts++
	case ev.Old == tcpstate.Close && ev.New == tcpstate.SynSent:
		t.counts.Connects++
	case ev.New == tcpstate.TimeWait:
		t.counts.Closes++
		state := tcpstate.TimeWait
		if ev.Has(tracer.FlagTimeWaitFinWait2) {
			state = tcpstate.FinWait2 // as netstat lists it
		}
		t.enterTimeWait(k, c, ev.Time, state)
		// The pile has a copy. Reused at once: order, the one other
		// holder of live rows, is only read after Reconcile rebuilds it.
		t.release(c)
	}
}

// open starts a live row. The tuple is in use again: what comes next on it
// is this connection's (the kernel sent the old one's close first).
func (t *Table) open(k Key, ev *tracer.Event) *Conn {
	c := t.newConn(ev)
	t.live.put(k, c)
	if len(t.healed) > 0 {
		delete(t.healed, k)
	}
	return c
}

// healedRow is k's row if reconciliation ended it lately. Under churn the
// map is nearly always empty, and every event asks.
func (t *Table) healedRow(k Key) *Conn {
	if len(t.healed) == 0 {
		return nil
	}
	return t.healed[k]
}

func (t *Table) newConn(ev *tracer.Event) *Conn {
	c := t.alloc()
	c.Socket.Proto = snapshot.TCP
	c.Socket.V6 = ev.Family == syscall.AF_INET6
	c.Socket.Local, c.Socket.Remote = ev.Local, ev.Remote
	c.Socket.UID = ev.UID
	c.Socket.Inode = ev.Inode
	return c
}

// touch takes the event's owner, birth and time.
func (t *Table) touch(c *Conn, ev *tracer.Event) {
	if o := ev.Owner(); ev.Has(tracer.FlagOwnerKnown) && o != c.kernelOwner {
		c.Owner, c.Cgroup = o, ev.Cgroup
	}
	if ev.Has(tracer.FlagBornKnown) && c.Born.IsZero() {
		c.Born = ev.Time.Add(-ev.Lifetime)
	}
	if ev.Time.After(c.lastEvent) {
		c.lastEvent = ev.Time
	}
}

// close ends a connection: the kernel's ->CLOSE. A connection whose opening
// the table never saw (born and gone between two events drains) is created
// here, so it is shown once, as gone.
func (t *Table) close(ev *tracer.Event) {
	k := eventKey(ev)
	if h := t.healedRow(k); h != nil {
		// Reconciliation ended it already; the close came late.
		t.complete(h, ev)
		delete(t.healed, k)
		return
	}
	c := t.live.get(k)
	if c == nil {
		if w := t.tw.get(k); w != nil && ev.Time.UnixNano() > w.lastEvent {
			// A connection we did not see open took over a
			// TIME_WAIT, whose end was lost.
			t.endLostTimeWait(k, ev.Time)
		}
		c = t.newConn(ev)
	}
	c.Socket.State = ev.Old // the last state it was seen in
	t.complete(c, ev)
	t.finish(k, c, ev.Time)
	switch ev.Old {
	case tcpstate.SynSent:
		// No error: the kernel had no answer yet when the caller closed.
		c.Aborted = ev.Err == 0
		t.counts.Failed[ev.Err]++
	case tcpstate.Listen:
	case tcpstate.LastAck:
		t.counts.Closes++
		t.peerFin(ev)
	default:
		t.counts.Closes++
	}
}

// acceptClosed takes an accept of a socket that was already closed: the peer
// reset it while it waited in the accept queue, and its close came first.
// The accept only says who got it.
func (t *Table) acceptClosed(ev *tracer.Event) {
	t.counts.Accepts++
	if !ev.Has(tracer.FlagOwnerKnown) {
		return
	}
	k := eventKey(ev)
	for i := len(t.gone) - 1; i >= 0; i-- {
		if c := t.gone[i]; socketKey(&c.Socket) == k {
			c.Owner, c.Cgroup = ev.Owner(), ev.Cgroup
			return
		}
	}
}

// complete adds what only the close event knows.
func (t *Table) complete(c *Conn, ev *tracer.Event) {
	t.touch(c, ev)
	c.Err = ev.Err
	c.Socket.RecvQ, c.Socket.SendQ = 0, 0 // a closed socket's queues are purged
}

// endTimeWait ends a TIME_WAIT row when the kernel's timewait socket goes.
func (t *Table) endTimeWait(ev *tracer.Event) {
	k := eventKey(ev)
	if h := t.healedRow(k); h != nil {
		h.Expired = ev.Has(tracer.FlagExpired)
		delete(t.healed, k)
		return
	}
	if w := t.tw.end(k, ev.Time.UnixNano(), ev.Has(tracer.FlagExpired)); w != nil {
		// The entry's owner, or the holder Reown gave the connection,
		// is the row's; the end only fills in one not known.
		if ev.Has(tracer.FlagOwnerKnown) && w.owner.PID == 0 {
			w.owner, w.cgroup = ev.Owner(), ev.Cgroup
		}
		if ev.Has(tracer.FlagBornKnown) && w.born == 0 {
			w.born = ev.Time.Add(-ev.Lifetime).UnixNano()
		}
		t.closed(k, ev.Time)
		return
	}
	// A snapshot may list a timewait socket in its substate (FIN_WAIT2),
	// without a file; a live row with a file is a new connection on the
	// tuple, not this one.
	c := t.live.get(k)
	if c == nil || c.Socket.Inode != 0 {
		return // healed and swept already
	}
	t.touch(c, ev)
	c.Expired = ev.Has(tracer.FlagExpired)
	t.finish(k, c, ev.Time)
}

// finish moves a connection that ended to the gone list.
func (t *Table) finish(k Key, c *Conn, at time.Time) {
	t.live.del(k, c)
	c.Gone = true
	c.GoneAt = at
	t.gone = append(t.gone, c)
	t.closed(k, at)
}

// closed remembers when k ended while a snapshot is being read: the
// snapshot may have read the socket before.
func (t *Table) closed(k Key, at time.Time) {
	if !t.snapAt.IsZero() && at.After(t.snapAt) {
		t.closedSince[k] = at
	}
}
