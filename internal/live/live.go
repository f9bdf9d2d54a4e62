// Package live is socktrace's -c: netstat's tables every interval, whose
// TCP rows come from a connection table the kernel keeps current through
// the tracer, so that each table also lists the connections born and gone
// since the one before.
package live

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/internal/netns"
	"github.com/socktrace/socktrace/internal/netstat"
	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/internal/table"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
	"golang.org/x/sys/unix"
)

// Config is what the live table lists, how, and how often.
type Config struct {
	// Tables are the tables to print and how their rows look, as for
	// netstat.Sockets. TCP must be set: its rows come from the kernel
	// tracer; the other tables are read anew for each table, as netstat
	// does.
	Tables   netstat.Options
	Interval time.Duration // between two tables
	Linger   time.Duration // how long a gone row stays listed; 0: in one table
}

// Engine is -c driven by the kernel: TCP rows come from a connection table
// that tracer events keep current, so every connection of the interval is
// printed, including those born and gone between two tables. Other
// protocols are read from /proc each interval, as netstat does.
type Engine struct {
	cfg     Config
	t       *netstat.Options // &cfg.Tables
	tr      *tracer.Tracer
	mu      sync.Mutex // guards tbl: events arrive on the reader goroutine
	tbl     *table.Table
	backlog backlog // events read while mu was held, for whoever takes it next
	r       *render.Netstat
	rows    []snapshot.Socket  // reused between intervals
	tws     snapshot.TimeWaits // a full snapshot's sockets in TIME_WAIT, apart from rows
	queries []snapshot.Socket  // the table's connections, to look up
	out     tableText          // one table, formatted
	done    chan error         // the reader's end: nil after Stop, else why
	rescan  time.Time          // last owner scan, for non-TCP rows
	prints  int                // tables printed so far
	tw      [2]twLines         // the last table's TIME_WAIT lines, and the next one's
	blocks  blockPool          // room for TIME_WAIT lines
	line    []byte             // scratch for a TIME_WAIT line
	goneTW  []byte             // the gone TIME_WAIT rows of the table being printed
	twLast  int                // which of tw is the last table's
	// containers names where each row's owner runs, for --json rows;
	// nil without --json.
	containers *container.Resolver
	at         time.Time   // the time of the table being printed
	conn       table.Conn  // scratch row for the TIME_WAIT pile
	x          render.Live // scratch for liveOf

	// tuples is the part of the filter that holds for a connection's
	// whole life, its addresses and ports: the kernel sends the table
	// only the events of connections that pass it, and snapshot rows
	// that fail it are left out too, so the table keeps exactly those
	// connections. nil: no filter, or one without such a part.
	tuples *filter.Filter
	sock   filter.Socket      // scratch for tuples
	rf     *netstat.RowFilter // the whole filter, for the table being printed
	now    time.Time          // when the table being printed was formatted
	varies bool               // the filter asks for lifetime, which a row's cached line cannot follow

	// tableSize is the table's Size after the last table, read under mu,
	// for giveBack.
	tableSize int
	shrinks   shrinkWatch
	gc        gcTuner
}

// FullEvery is how often, in tables, the snapshot is a full dump. Under
// churn the TIME_WAIT pile is most of the sockets, and its rows change only
// by events (entry, expiry, reuse), so the snapshots in between ask only
// for the listeners, the connections the table has and the few TIME_WAIT
// rows that may change without an event (Table.Lookups). A full dump finds
// what events missed: a socket whose opening was lost is listed then, and
// a row whose end was lost is healed after two.
const FullEvery = 10

// ownerRescanEvery bounds how often unknown non-TCP sockets make -p rescan
// /proc/*/fd. TCP owners come from the tracer and never need it.
const ownerRescanEvery = 10 * time.Second

// New loads the tracer for this network namespace and starts reading its
// events. Events queue from the moment the tracer is attached, before any
// snapshot is read, so nothing that happens during start-up is missed.
// Host names are looked up until ctx ends. The Engine holds kernel
// objects until Close.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if !cfg.Tables.TCP {
		return nil, errors.New("the live table is of TCP: Config.Tables.TCP must be set")
	}
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("interval %v: want a positive duration", cfg.Interval)
	}
	procRoot := cfg.Tables.Proc()
	ns, err := netns.Own(procRoot)
	if err != nil {
		return nil, err
	}
	tuples := tupleFilter(cfg.Tables.Filter)
	tr, err := tracer.New(tracer.Config{
		Filter:    tracer.Filter{NetNS: ns, Family: tracer.FamilyOf(cfg.Tables.Inet4, cfg.Tables.Inet6), Expr: tuples},
		TableOnly: true,
		Resets:    true, // counted in the summary
		ProcRoot:  procRoot,
	})
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg: cfg, tr: tr, tuples: tuples,
		varies: ages(cfg.Tables.Filter),
		tbl:    table.New(table.Config{Seed: tr.SeededOwners(), ProcRoot: procRoot}),
		done:   make(chan error, 1),
		rescan: time.Now(),
	}
	e.t = &e.cfg.Tables
	if e.t.JSON {
		e.containers = container.NewResolver(container.Config{ProcRoot: procRoot})
	}
	e.r = netstat.NewPrinter(ctx, e.t)
	e.r.Owners = tr.SeededOwners()
	// Loading the tracer parsed the kernel's types and every namespace's
	// sockets, and keeps none of it: collected now, the heap's goal is
	// set by what the table holds, and the pages go back to the kernel.
	debug.FreeOSMemory()
	go e.read()
	return e, nil
}

// Run prints a table now and every interval until ctx ends. It prints no
// table then, as netstat -c prints none at Ctrl-C: the user asked to stop,
// and a table out of step would scroll the last one away.
func (e *Engine) Run(ctx context.Context, stdout, stderr io.Writer) error {
	render.WriteWarnings(stderr, e.tr.Warnings())
	w := bufio.NewWriterSize(stdout, 256<<10)
	tick := time.NewTicker(e.cfg.Interval)
	defer tick.Stop()
	for {
		err := e.print(w, stderr)
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			// The reader drains the ring, so that Stats count every
			// event delivered.
			e.tr.Stop()
			return <-e.done
		case err := <-e.done:
			return fmt.Errorf("read kernel events: %w", err)
		case <-tick.C:
		}
	}
}

// Stats are what the kernel delivered and lost so far; valid until Close.
func (e *Engine) Stats() tracer.Stats { return e.tr.Stats() }

// Close detaches the tracer and frees its kernel objects.
func (e *Engine) Close() error { return e.tr.Close() }

// print reconciles the table with a fresh snapshot and prints it.
func (e *Engine) print(w io.Writer, stderr io.Writer) error {
	at := e.tr.Clock()
	full := e.readSnapshot(at, stderr)
	e.waitForEvents()
	var unixRows []snapshot.UnixSocket
	if e.t.Unix {
		unixRows = e.t.ReadUnix(stderr)
	}
	// The table is formatted into memory under the lock and written
	// after: a slow reader of stdout must not stall the events (the ring
	// would fill and lose them).
	e.out.reset()
	err := e.format(&e.out, stderr, at, full, unixRows)
	var refused netstat.Refusal
	if err != nil && !errors.As(err, &refused) {
		return err
	}
	// A table refused (SCTP named, and no SCTP in the kernel) ends the
	// run after what came before it, as in netstat.
	werr := e.out.writeTo(w)
	e.giveBack(full)
	if werr != nil || err != nil {
		return errors.Join(werr, err)
	}
	// The families without a table come last, as in netstat, which
	// refuses one named only once it has printed the others.
	return e.t.OtherFamilies(stderr)
}

func (e *Engine) format(w *tableText, stderr io.Writer, at time.Time, full bool, unixRows []snapshot.UnixSocket) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.at = at
	e.backlog.apply(e.tbl)
	e.tbl.Reconcile(e.rows, &e.tws, at, full)
	if e.t.Programs {
		if err := e.tbl.Reown(); err != nil {
			fmt.Fprintf(stderr, "socktrace: -p: %v\n", err)
		}
	}
	e.rf = e.t.NewRowFilter(stderr, e.r.Owners.ByInode)
	e.now = e.tr.Clock()
	if err := e.printInet(w, stderr); err != nil {
		return err
	}
	if e.t.Groups {
		if err := e.t.PrintGroups(w, stderr); err != nil {
			return err
		}
	}
	if e.t.Unix {
		if err := e.t.PrintUnix(w, e.r, unixRows); err != nil {
			return err
		}
	}
	if err := e.summary(w); err != nil {
		return err
	}
	e.tbl.Sweep(e.tr.Clock(), e.cfg.Linger)
	e.tableSize = e.tbl.Size()
	return nil
}

// readSnapshot reads the rows the table is reconciled with, and says
// whether they include the TIME_WAIT pile. Between full snapshots, TCP
// rows are the listeners and the table's connections looked up by tuple:
// a dump would walk the kernel's whole established hash, TIME_WAIT pile
// included, whatever it asked for.
func (e *Engine) readSnapshot(at time.Time, stderr io.Writer) (full bool) {
	full = e.prints%FullEvery == 0 || !e.t.ThisSystem()
	e.prints++
	d := snapshot.Diag{TCPInfo: e.t.Timers}
	e.mu.Lock()
	e.backlog.apply(e.tbl)
	e.tbl.SnapshotBegins(at)
	if !full {
		e.queries = e.tbl.Lookups(e.queries[:0])
		d.States = 1 << tcpstate.Listen
	}
	e.mu.Unlock()
	e.tws.Reset()
	if full {
		d.TimeWaits = &e.tws
	}
	e.rows = e.t.ReadInet(stderr, e.rows[:0], d)
	if !full {
		var err error
		if e.rows, err = d.LookupTCP(e.queries, e.rows); err != nil {
			fmt.Fprintf(stderr, "socktrace: %v\n", err)
		}
	}
	e.rows = e.keepTuples(e.rows)
	return full
}

// tupleFilter is the part of f the table keeps its connections by (see
// Engine.tuples), with the filter's family; nil when it passes all.
func tupleFilter(f *filter.Filter) *filter.Filter {
	if f == nil {
		return nil
	}
	t := f.Within(filter.FactTuple | filter.FactNetns)
	if t.Everything() {
		return nil
	}
	return t
}

// ages reports whether f tests how a connection ended or how long it
// lived, which a row's age changes from one table to the next.
func ages(f *filter.Filter) bool { return f != nil && f.Uses()&filter.FactEnd != 0 }

// keepTuples drops the TCP rows whose connections the table does not keep.
func (e *Engine) keepTuples(rows []snapshot.Socket) []snapshot.Socket {
	if e.tuples == nil {
		return rows
	}
	kept := rows[:0]
	for i := range rows {
		s := &rows[i]
		if s.Proto == snapshot.TCP {
			e.sock = filter.Socket{Family: unix.AF_INET, Local: s.Local, Remote: s.Remote}
			if s.V6 {
				e.sock.Family = unix.AF_INET6
			}
			if !e.tuples.Match(&e.sock) {
				continue
			}
		}
		kept = append(kept, *s)
	}
	return kept
}

// waitForEvents gives the reader a moment to apply what the kernel queued
// before the snapshot; the table tolerates a straggler, so this is bounded.
func (e *Engine) waitForEvents() {
	for i := 0; i < 50 && e.tr.Pending(); i++ {
		time.Sleep(time.Millisecond)
	}
}

// refreshOwners rescans /proc/*/fd for -p when a non-TCP socket's owner is
// unknown, at most every ownerRescanEvery.
func (e *Engine) refreshOwners(stderr io.Writer) {
	if !e.t.Programs || time.Since(e.rescan) < ownerRescanEvery {
		return
	}
	for i := range e.rows {
		s := &e.rows[i]
		if _, ok := e.r.Owners.ByInode[s.Inode]; s.Proto != snapshot.TCP && s.Inode != 0 && !ok {
			owners, err := snapshot.ReadOwners(e.t.Proc())
			if err != nil && !errors.Is(err, snapshot.ErrNotAllOwners) {
				fmt.Fprintf(stderr, "socktrace: -p: %v\n", err)
			}
			if owners.ByInode != nil {
				e.r.Owners = owners
			}
			e.rescan = time.Now()
			return
		}
	}
}

// summary prints the line after each table.
func (e *Engine) summary(w io.Writer) error {
	c := e.tbl.Counts()
	s := render.Summary{Time: time.Now(), Connects: c.Connects, Accepts: c.Accepts,
		Closes: c.Closes, Failed: c.Failed, ResetsSent: c.ResetsSent, ResetsReceived: c.ResetsReceived,
		Retransmits: c.Retransmits, Lost: c.Lost, Healed: c.Healed}
	s.SynSent, s.SynRecv, s.TimeWait = e.tbl.States()
	if e.t.JSON {
		return render.SummaryJSON(w, &s)
	}
	return render.SummaryLine(w, &s)
}
