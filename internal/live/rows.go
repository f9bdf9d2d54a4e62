package live

import (
	"io"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/netstat"
	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/internal/table"
	"github.com/socktrace/socktrace/snapshot"
)

// printInet prints the Internet table: live TCP rows, the TCP rows gone
// since the last table, then the other protocols' rows.
func (e *Engine) printInet(w *tableText, stderr io.Writer) error {
	if !e.t.JSON {
		if err := e.r.InetHeader(w, e.t.ShowsAll(), e.t.Listening && !e.t.ShowsAll()); err != nil {
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
		if s.Proto == snapshot.TCP || !e.keepRow(s) {
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
	if !e.keep(c) {
		return nil
	}
	x := e.liveOf(c)
	if e.t.JSON {
		return e.r.LiveJSON(w, &c.Socket, x)
	}
	return e.r.LiveRow(w, &c.Socket, x)
}

// keepRow reports whether another protocol's row is listed.
func (e *Engine) keepRow(s *snapshot.Socket) bool {
	if e.t.Filter == nil {
		return e.t.Shows(s)
	}
	return e.rf.Inet(s)
}

// keep reports whether c's row is listed: by -a/-l, or the filter.
func (e *Engine) keep(c *table.Conn) bool {
	if e.t.Filter == nil {
		return e.t.Shows(&c.Socket)
	}
	return e.rf.Conn(&c.Socket, e.connOf(c))
}

// connOf is what the filter may ask of c besides its row: its owner, how
// long it lived (so far, if it lives), how it ended.
func (e *Engine) connOf(c *table.Conn) netstat.Conn {
	x := netstat.Conn{Owner: c.Owner, Born: !c.Born.IsZero()}
	switch {
	case c.Gone:
		x.Lifetime = c.Lifetime()
	case x.Born:
		x.Lifetime = e.now.Sub(c.Born)
	}
	switch {
	case c.Aborted:
		x.Err = "aborted"
	case c.Err != 0:
		x.Err = unix.ErrnoName(c.Err)
	}
	return x
}

// liveOf is what the live table adds to c's row; valid until the next call.
func (e *Engine) liveOf(c *table.Conn) *render.Live {
	e.x = render.Live{Gone: c.Gone, Lifetime: c.Lifetime(), Err: c.Err, Aborted: c.Aborted,
		Healed: c.Healed}
	e.setOwner(c.Owner)
	e.setContainer(c.Owner, c.Cgroup)
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
func (e *Engine) setContainer(o snapshot.Owner, cgroup uint64) {
	if e.containers != nil {
		e.x.Container = e.containers.Lookup(o.PID, cgroup, o.Comm, e.at)
	}
}

// goneOf is what the live table adds to the row of a TIME_WAIT that ended;
// valid until the next call.
func (e *Engine) goneOf(r *table.TimeWait) *render.Live {
	e.x = render.Live{Gone: true, Lifetime: r.Lifetime()}
	e.setOwner(r.Owner())
	e.setContainer(r.Owner(), r.Cgroup())
	return &e.x
}
