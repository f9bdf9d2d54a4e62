package live

import (
	"io"

	"github.com/socktrace/socktrace/render"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/table"
)

// printInet prints the Internet table: live TCP rows, the TCP rows gone
// since the last table, then the other protocols' rows.
func (e *Engine) printInet(w *tableText, stderr io.Writer) error {
	if !e.t.JSON {
		if err := e.r.InetHeader(w, e.t.All, e.t.Listening); err != nil {
			return err
		}
	}
	for _, c := range e.tbl.Live() {
		if err := e.printConn(w, c); err != nil {
			return err
		}
	}
	if err := e.printTimeWaits(w); err != nil {
		return err
	}
	for _, c := range e.tbl.Gone() {
		if err := e.printConn(w, c); err != nil {
			return err
		}
	}
	w.ref(e.goneTW)
	e.refreshOwners(stderr)
	if err := e.t.PrintSCTP(w, e.r, stderr); err != nil {
		return err
	}
	for i := range e.rows {
		s := &e.rows[i]
		if s.Proto == snapshot.TCP || !e.t.Shows(s) {
			continue
		}
		var err error
		if e.t.JSON {
			err = e.r.InetJSON(w, s)
		} else {
			err = e.r.InetRow(w, s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) printConn(w io.Writer, c *table.Conn) error {
	if !e.t.Shows(&c.Socket) {
		return nil
	}
	x := e.liveOf(c)
	if e.t.JSON {
		return e.r.LiveJSON(w, &c.Socket, x)
	}
	return e.r.LiveRow(w, &c.Socket, x)
}

// liveOf is what the live table adds to c's row; valid until the next call.
func (e *Engine) liveOf(c *table.Conn) *render.Live {
	e.x = render.Live{Gone: c.Gone, Lifetime: c.Lifetime(), Err: c.Err, Aborted: c.Aborted,
		Healed: c.Healed}
	e.setOwner(c.Owner)
	e.setContainer(c.Owner)
	return &e.x
}

// setOwner gives e.x the owner o as -p shows it; none without -p.
func (e *Engine) setOwner(o snapshot.Owner) {
	if o.PID != 0 && e.t.Programs {
		e.x.Owner, e.x.Program = o, e.tbl.Program(o)
	}
}

// setContainer gives e.x where o runs, for JSON rows. It does not need -p:
// the owner comes from the tracer either way.
func (e *Engine) setContainer(o snapshot.Owner) {
	if e.containers != nil {
		e.x.Container = e.containers.Lookup(o.PID, o.Comm, e.at)
	}
}

// goneOf is what the live table adds to the row of a TIME_WAIT that ended;
// valid until the next call.
func (e *Engine) goneOf(r *table.TimeWait) *render.Live {
	e.x = render.Live{Gone: true, Lifetime: r.Lifetime()}
	e.setOwner(r.Owner())
	e.setContainer(r.Owner())
	return &e.x
}
