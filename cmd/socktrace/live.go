package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/socktrace/socktrace/netns"
	"github.com/socktrace/socktrace/netstat"
	"github.com/socktrace/socktrace/render"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/table"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// live is -c driven by the kernel: TCP rows come from a connection table
// that tracer events keep current, so every connection of the interval is
// printed, including those born and gone between two tables. Other
// protocols are read from /proc each interval, as netstat does.
type live struct {
	o       *netstatOptions
	t       *netstat.Options // the tables and how they print
	tr      *tracer.Tracer
	mu      sync.Mutex // guards tbl: events arrive on the reader goroutine
	tbl     *table.Table
	backlog backlog // events read while mu was held, for whoever takes it next
	r       *render.Netstat
	rows    []snapshot.Socket // reused between intervals
	queries []snapshot.Socket // the table's connections, to look up
	out     tableText         // one table, formatted
	done    chan error        // the reader's end: nil after Stop, else why
	rescan  time.Time         // last owner scan, for non-TCP rows
	prints  int               // tables printed so far
	tw      [2]twLines        // the last table's TIME_WAIT lines, and the next one's
	goneTW  []byte            // the gone TIME_WAIT rows of the table being printed
	twLast  int               // which of tw is the last table's
	conn    table.Conn        // scratch row for the TIME_WAIT pile
	x       render.Live       // scratch for liveOf
}

// fullEvery is how often, in tables, the snapshot is a full dump. Under
// churn the TIME_WAIT pile is most of the sockets, and its rows change only
// by events (entry, expiry, reuse), so the snapshots in between ask only
// for the listeners, the connections the table has and the few TIME_WAIT
// rows that may change without an event (Table.Lookups). A full dump finds
// what events missed: a socket whose opening was lost is listed then, and
// a row whose end was lost is healed after two.
const fullEvery = 10

// ownerRescanEvery bounds how often unknown non-TCP sockets make -p rescan
// /proc/*/fd. TCP owners come from the tracer and never need it.
const ownerRescanEvery = 10 * time.Second

// startLive loads the tracer for this network namespace and starts reading
// its events. Events queue from the moment the tracer is attached, before
// any snapshot is read, so nothing that happens during start-up is missed.
func (o *netstatOptions) startLive(ctx context.Context, t netstat.Options) (*live, error) {
	ns, err := netns.Own(o.procRoot)
	if err != nil {
		return nil, err
	}
	tr, err := tracer.New(tracer.Config{
		Filter:    tracer.Filter{NetNS: ns, Family: tracer.FamilyOf(t.Inet4, t.Inet6)},
		TableOnly: true,
		ProcRoot:  o.procRoot,
	})
	if err != nil {
		return nil, err
	}
	l := &live{
		o: o, t: &t, tr: tr,
		tbl:    table.New(table.Config{Seed: tr.SeededOwners(), ProcRoot: o.procRoot}),
		r:      netstat.NewPrinter(ctx, &t),
		done:   make(chan error, 1),
		rescan: time.Now(),
	}
	l.r.Owners = tr.SeededOwners()
	batchScheduling()
	go l.read()
	return l, nil
}

// run prints a table now and every interval until ctx ends, then one last
// table with what happened since the previous one.
func (l *live) run(ctx context.Context, stdout, stderr io.Writer) error {
	defer l.tr.Close()
	for _, w := range l.tr.Warnings() {
		fmt.Fprintf(stderr, "socktrace: %s\n", w)
	}
	w := bufio.NewWriterSize(stdout, 256<<10)
	tick := time.NewTicker(time.Duration(l.o.continuous) * time.Second)
	defer tick.Stop()
	for {
		if err := l.print(w, stderr); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			l.tr.Stop()
			if err := <-l.done; err != nil {
				return err
			}
			if err := l.print(w, stderr); err != nil {
				return err
			}
			err := w.Flush()
			// The table is of this namespace; the tracer's filter
			// is always set.
			reportLoss(stderr, l.tr.Stats(), true)
			return err
		case err := <-l.done:
			return fmt.Errorf("read kernel events: %w", err)
		case <-tick.C:
		}
	}
}

// print reconciles the table with a fresh snapshot and prints it.
func (l *live) print(w io.Writer, stderr io.Writer) error {
	at := l.tr.Clock()
	full := l.readSnapshot(at, stderr)
	l.waitForEvents()
	var unixRows []snapshot.UnixSocket
	if l.t.Unix {
		unixRows = l.t.ReadUnix(stderr)
	}
	// The table is formatted into memory under the lock and written
	// after: a slow reader of stdout must not stall the events (the ring
	// would fill and lose them).
	l.out.reset()
	if err := l.format(&l.out, stderr, at, full, unixRows); err != nil {
		return err
	}
	return l.out.writeTo(w)
}

func (l *live) format(w *tableText, stderr io.Writer, at time.Time, full bool, unixRows []snapshot.UnixSocket) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.backlog.apply(l.tbl)
	l.tbl.Reconcile(l.rows, at, full)
	if l.t.Programs {
		if err := l.tbl.Reown(); err != nil {
			fmt.Fprintf(stderr, "socktrace: -p: %v\n", err)
		}
	}
	if err := l.printInet(w, stderr); err != nil {
		return err
	}
	if l.t.Unix {
		if err := l.t.PrintUnix(w, l.r, unixRows); err != nil {
			return err
		}
	}
	if err := l.summary(w); err != nil {
		return err
	}
	l.tbl.Sweep(l.tr.Clock(), l.o.linger)
	return nil
}

// readSnapshot reads the rows the table is reconciled with, and says
// whether they include the TIME_WAIT pile. Between full snapshots, TCP
// rows are the listeners and the table's connections looked up by tuple:
// a dump would walk the kernel's whole established hash, TIME_WAIT pile
// included, whatever it asked for.
func (l *live) readSnapshot(at time.Time, stderr io.Writer) (full bool) {
	full = l.prints%fullEvery == 0 || !l.t.ThisSystem()
	l.prints++
	d := snapshot.Diag{TCPInfo: l.t.Timers}
	l.mu.Lock()
	l.backlog.apply(l.tbl)
	l.tbl.SnapshotBegins(at)
	if !full {
		l.queries = l.tbl.Lookups(l.queries[:0])
		d.States = 1 << tcpstate.Listen
	}
	l.mu.Unlock()
	l.rows = l.t.ReadInet(stderr, l.rows[:0], d)
	if full {
		return true
	}
	var err error
	if l.rows, err = d.LookupTCP(l.queries, l.rows); err != nil {
		fmt.Fprintf(stderr, "socktrace: %v\n", err)
	}
	return false
}

// waitForEvents gives the reader a moment to apply what the kernel queued
// before the snapshot; the table tolerates a straggler, so this is bounded.
func (l *live) waitForEvents() {
	for i := 0; i < 50 && l.tr.Pending(); i++ {
		time.Sleep(time.Millisecond)
	}
}

// printInet prints the Internet table: live TCP rows, the TCP rows gone
// since the last table, then the other protocols' rows.
func (l *live) printInet(w *tableText, stderr io.Writer) error {
	if !l.t.JSON {
		if err := l.r.InetHeader(w, l.t.All, l.t.Listening); err != nil {
			return err
		}
	}
	for _, c := range l.tbl.Live() {
		if err := l.printConn(w, c); err != nil {
			return err
		}
	}
	if err := l.printTimeWaits(w); err != nil {
		return err
	}
	for _, c := range l.tbl.Gone() {
		if err := l.printConn(w, c); err != nil {
			return err
		}
	}
	w.ref(l.goneTW)
	l.refreshOwners(stderr)
	for i := range l.rows {
		s := &l.rows[i]
		if s.Proto == snapshot.TCP || !l.t.Shows(s) {
			continue
		}
		var err error
		if l.t.JSON {
			err = l.r.InetJSON(w, s)
		} else {
			err = l.r.InetRow(w, s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *live) printConn(w io.Writer, c *table.Conn) error {
	if !l.t.Shows(&c.Socket) {
		return nil
	}
	x := l.liveOf(c)
	if l.t.JSON {
		return l.r.LiveJSON(w, &c.Socket, x)
	}
	return l.r.LiveRow(w, &c.Socket, x)
}

// liveOf is what the live table adds to c's row; valid until the next call.
func (l *live) liveOf(c *table.Conn) *render.Live {
	l.x = render.Live{Gone: c.Gone, Lifetime: c.Lifetime(), Err: c.Err, Aborted: c.Aborted,
		Healed: c.Healed}
	l.setOwner(c.Owner)
	return &l.x
}

// setOwner gives l.x the owner o as -p shows it; none without -p.
func (l *live) setOwner(o snapshot.Owner) {
	if o.PID != 0 && l.t.Programs {
		l.x.Owner, l.x.Program = o, l.tbl.Program(o)
	}
}

// goneOf is what the live table adds to the row of a TIME_WAIT that ended;
// valid until the next call.
func (l *live) goneOf(r *table.TimeWait) *render.Live {
	l.x = render.Live{Gone: true, Lifetime: r.Lifetime()}
	l.setOwner(r.Owner())
	return &l.x
}

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
// column changed). With -o each row's timer changes, so nothing is cached.
func (l *live) printTimeWaits(w *tableText) error {
	old, cur := &l.tw[l.twLast], &l.tw[1-l.twLast]
	cur.ids, cur.states, cur.ends, cur.buf = cur.ids[:0], cur.states[:0], cur.ends[:0], cur.buf[:0]
	l.goneTW = l.goneTW[:0]
	now := l.tr.Clock()
	from := 0
	out, gone := appendWriter{&cur.buf}, appendWriter{&l.goneTW}
	for r := range l.tbl.TimeWaits {
		b, ok := old.line(r.ID(), r.State(), &from)
		ok = ok && !l.t.Timers
		var err error
		switch {
		case r.ShownGone():
			err = l.printGoneTimeWait(gone, r, b, ok, now)
		case r.Ended():
			continue
		case ok:
			cur.buf = append(cur.buf, b...)
		default:
			r.Conn(&l.conn, now)
			err = l.printConn(out, &l.conn)
		}
		if err != nil {
			return err
		}
		if !r.Ended() {
			cur.add(r.ID(), r.State())
		}
	}
	l.twLast = 1 - l.twLast
	w.ref(cur.buf)
	return nil
}

// printGoneTimeWait prints r, a row shown as gone; line is its line in the
// last table, if ok.
func (l *live) printGoneTimeWait(w io.Writer, r *table.TimeWait, line []byte, ok bool, now time.Time) error {
	switch {
	case ok && len(line) == 0:
		return nil // the options hide it
	case ok && !l.t.JSON:
		return l.r.GoneRowFrom(w, line, l.goneOf(r))
	}
	r.Conn(&l.conn, now)
	return l.printConn(w, &l.conn)
}

// tableText is one table, formatted, to be written once the table's lock is
// let go. The TIME_WAIT pile's lines, most of a table under churn, are
// formatted apart (twLines) and only referenced here, not copied in again
// (~10 MB a table under churn).
type tableText struct {
	buf  []byte   // what was written
	cuts []int    // where in buf each of refs goes
	refs [][]byte // not copied: each must stay as it is until writeTo
}

func (t *tableText) reset() { t.buf, t.cuts, t.refs = t.buf[:0], t.cuts[:0], t.refs[:0] }

func (t *tableText) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	return len(p), nil
}

// ref adds b after what was written so far, without copying it.
func (t *tableText) ref(b []byte) {
	t.cuts = append(t.cuts, len(t.buf))
	t.refs = append(t.refs, b)
}

func (t *tableText) writeTo(w io.Writer) error {
	at := 0
	for i, cut := range t.cuts {
		if _, err := w.Write(t.buf[at:cut]); err != nil {
			return err
		}
		if _, err := w.Write(t.refs[i]); err != nil {
			return err
		}
		at = cut
	}
	_, err := w.Write(t.buf[at:])
	return err
}

// appendWriter appends what is written to a byte slice.
type appendWriter struct{ b *[]byte }

func (a appendWriter) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}

// refreshOwners rescans /proc/*/fd for -p when a non-TCP socket's owner is
// unknown, at most every ownerRescanEvery.
func (l *live) refreshOwners(stderr io.Writer) {
	if !l.t.Programs || time.Since(l.rescan) < ownerRescanEvery {
		return
	}
	for i := range l.rows {
		s := &l.rows[i]
		if _, ok := l.r.Owners.ByInode[s.Inode]; s.Proto != snapshot.TCP && s.Inode != 0 && !ok {
			owners, err := snapshot.ReadOwners(l.t.Proc())
			if err != nil && !errors.Is(err, snapshot.ErrNotAllOwners) {
				fmt.Fprintf(stderr, "socktrace: -p: %v\n", err)
			}
			if owners.ByInode != nil {
				l.r.Owners = owners
			}
			l.rescan = time.Now()
			return
		}
	}
}

// summary prints the line after each table.
func (l *live) summary(w io.Writer) error {
	c := l.tbl.Counts()
	s := render.Summary{Time: time.Now(), Connects: c.Connects, Accepts: c.Accepts,
		Closes: c.Closes, Failed: c.Failed, Lost: c.Lost, Healed: c.Healed}
	s.SynSent, s.SynRecv, s.TimeWait = l.tbl.States()
	if l.t.JSON {
		return render.SummaryJSON(w, &s)
	}
	return render.SummaryLine(w, &s)
}
