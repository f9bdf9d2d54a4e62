package live

import (
	"io"
	"time"

	"github.com/socktrace/socktrace/table"
	"github.com/socktrace/socktrace/tcpstate"
)

// twLines holds the printed line of each TIME_WAIT row, by the row's ID:
// the pile is most of each table under churn, and its rows do not change,
// so each is formatted once. Rows stay in ID order, as the pile is. A row
// whose state a snapshot changed (a timewait socket listed in its FIN_WAIT2
// substate, then in TIME_WAIT) is formatted again. A row the options hide
// has an empty line.
type twLines struct {
	ids    []uint64
	states []tcpstate.State
	ends   []int // end of each row's line in buf
	buf    []byte
}

// line is the cached line of row id in state, if any; from is where to
// resume the search (IDs only grow along the pile).
func (c *twLines) line(id uint64, state tcpstate.State, from *int) ([]byte, bool) {
	i := *from
	for i < len(c.ids) && c.ids[i] < id {
		i++
	}
	*from = i
	return c.at(i, id, state)
}

func (c *twLines) at(i int, id uint64, state tcpstate.State) ([]byte, bool) {
	if i == len(c.ids) || c.ids[i] != id || c.states[i] != state {
		return nil, false
	}
	start := 0
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.buf[start:c.ends[i]], true
}

// add records the line of row id in state, which the caller has just
// appended to buf.
func (c *twLines) add(id uint64, state tcpstate.State) {
	c.ids = append(c.ids, id)
	c.states = append(c.states, state)
	c.ends = append(c.ends, len(c.buf))
}

// printTimeWaits prints the TIME_WAIT pile, oldest first, and formats into
// goneTW the rows whose timewait socket ended since the last table (expired,
// reused by a new connection, or killed), for printInet to print after the
// other gone rows. Under churn that is as many rows as connections; most
// were in the last table, whose line only needs the gone note added (the
// tracer's table mode sends a TIME_WAIT's end without owner or birth, so no
// column changed). With -o each row's timer changes, and a filter on
// lifetime may take a row in or out as it ages: nothing is cached then.
func (e *Engine) printTimeWaits(w *tableText) error {
	old, cur := &e.tw[e.twLast], &e.tw[1-e.twLast]
	cur.ids, cur.states, cur.ends, cur.buf = cur.ids[:0], cur.states[:0], cur.ends[:0], cur.buf[:0]
	e.goneTW = e.goneTW[:0]
	now := e.tr.Clock()
	from := 0
	out, gone := appendWriter{&cur.buf}, appendWriter{&e.goneTW}
	for r := range e.tbl.TimeWaits {
		b, ok := old.line(r.ID(), r.State(), &from)
		ok = ok && !e.t.Timers && !e.varies
		var err error
		switch {
		case r.ShownGone():
			err = e.printGoneTimeWait(gone, r, b, ok, now)
		case r.Ended():
			continue
		case ok:
			cur.buf = append(cur.buf, b...)
		default:
			r.Conn(&e.conn, now)
			err = e.printConn(out, &e.conn)
		}
		if err != nil {
			return err
		}
		if !r.Ended() {
			cur.add(r.ID(), r.State())
		}
	}
	e.twLast = 1 - e.twLast
	w.ref(cur.buf)
	return nil
}

// printGoneTimeWait prints r, a row shown as gone; line is its line in the
// last table, if ok.
func (e *Engine) printGoneTimeWait(w io.Writer, r *table.TimeWait, line []byte, ok bool, now time.Time) error {
	switch {
	case ok && len(line) == 0:
		return nil // the options hide it
	case ok && !e.t.JSON:
		return e.r.GoneRowFrom(w, line, e.goneOf(r))
	}
	r.Conn(&e.conn, now)
	return e.printConn(w, &e.conn)
}
