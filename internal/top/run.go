package top

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/internal/netns"
	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// Config is what top shows, and how.
type Config struct {
	// Tracer holds the filters, the ring size and the latency; Run sets
	// the mode.
	Tracer   tracer.Config
	Options  Options
	Interval time.Duration // default 1s
	Sort     Column
	// Rows is how many rows are shown, the other row aside; 0: all in
	// JSON, what fits on a terminal, else DefaultTextRows.
	Rows int
	JSON bool // NDJSON instead of tables
}

// DefaultTextRows is how many rows a table written to a file or a pipe
// shows unless told: tablewriter's time and garbage grow with the rows,
// too much for thousands of them every interval (bench/README.md).
const DefaultTextRows = 20

// readBatch is how many events the reader adds per lock.
const readBatch = 256

// Run shows top until ctx ends or, on a terminal, q is pressed. On a
// terminal (and without JSON) it redraws in place on the alternate screen;
// otherwise each interval is written in turn, and the last, partial one
// when it stops, so that every event is counted once.
func Run(ctx context.Context, cfg Config, in io.Reader, out, errOut io.Writer) error {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Options.Ports == (snapshot.PortRange{}) {
		ports, err := snapshot.ReadPortRange("/proc")
		if err != nil {
			ports = snapshot.DefaultPortRange
			fmt.Fprintf(errOut, "socktrace: warning: %v: taking %d-%d as the ephemeral ports\n",
				err, ports.Low, ports.High)
		}
		cfg.Options.Ports = ports
	}
	if cfg.Options.Containers == nil {
		cfg.Options.Containers = Resolver{R: container.NewResolver(container.Config{})}
	}
	tc := cfg.Tracer
	tc.TableOnly, tc.ConnectTimes, tc.Summaries, tc.Resets = true, true, true, true
	tr, err := tracer.New(tc)
	if err != nil {
		return err
	}
	defer tr.Close()
	render.WriteWarnings(errOut, tr.Warnings())
	e := &engine{cfg: cfg, tr: tr, agg: NewAggregator(cfg.Options, time.Now()), done: make(chan error, 1)}
	e.halfOpenFrom(errOut)
	go e.read()
	var scr *screen
	if f, ok := out.(*os.File); ok && !cfg.JSON && isTerminal(f) {
		inFile, _ := in.(*os.File)
		if scr, err = openScreen(f, inFile); err != nil {
			tr.Stop()
			<-e.done
			return err
		}
		defer scr.close()
	} else if ctx.Err() == nil {
		fmt.Fprintf(errOut, "socktrace: counting TCP connections every %v; Ctrl-C to stop\n", cfg.Interval)
	}
	err = e.loop(ctx, scr, out)
	if scr != nil {
		scr.close() // before the summary: stderr is the terminal
	}
	st := tr.Stats()
	fmt.Fprintf(errOut, "socktrace: %d events, %d lost (%d ring buffer full, %d recursion misses)\n",
		st.Delivered, st.Lost.Total(), st.Lost.RingFull, st.Lost.Recursion)
	// As trace says it: what the kernel sent, which its filter decided.
	if cfg.Tracer.Filter.Expr != nil {
		fmt.Fprintf(errOut, "socktrace: the kernel sent %d events; the filter took out %d of them in userspace\n",
			st.Sent, st.Sent-min(st.Sent, st.Delivered))
	}
	return err
}

// engine feeds the aggregator from the tracer on its own goroutine, and
// takes a report from it every interval.
type engine struct {
	cfg   Config
	tr    *tracer.Tracer
	mu    sync.Mutex // guards agg
	agg   *Aggregator
	done  chan error // the reader's end: nil once the tracer stopped
	rep   Report     // the last interval's, sorted
	text  Text
	out   []byte
	shown int // intervals shown
	// The half-open connections are read in socktrace's own namespace
	// (ownNS), the only one sock_diag answers for; 0: not read.
	ownNS    uint32
	halfOpen []snapshot.Socket
	errOut   io.Writer
	diagErr  bool // a failed read was reported
}

// read adds events until the tracer stops, a batch per lock: as many as
// are queued, up to readBatch. Events are decoded in place.
func (e *engine) read() {
	batch := make([]tracer.Event, readBatch)
	for {
		n := 0
		var err error
		for n < len(batch) {
			if err = e.tr.Next(&batch[n]); err != nil {
				break
			}
			n++
			if !e.tr.Behind() {
				break
			}
		}
		e.mu.Lock()
		for i := range batch[:n] {
			e.agg.Add(&batch[i])
		}
		e.mu.Unlock()
		if err != nil {
			if errors.Is(err, tracer.ErrStopped) {
				err = nil
			}
			e.done <- err
			return
		}
	}
}

func (e *engine) loop(ctx context.Context, scr *screen, out io.Writer) error {
	tick := time.NewTicker(e.cfg.Interval)
	defer tick.Stop()
	var quit <-chan struct{}
	var winch chan os.Signal
	if scr != nil {
		quit = scr.quit
		winch = make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		defer signal.Stop(winch)
		if err := e.draw(scr); err != nil {
			e.stop()
			return err
		}
	}
	for {
		select {
		case now := <-tick.C:
			if err := e.show(scr, out, now); err != nil {
				e.stop()
				return err
			}
		case <-winch:
			scr.resize()
			if err := e.draw(scr); err != nil {
				e.stop()
				return err
			}
		case err := <-e.done: // the tracer failed, or was stopped from elsewhere
			if err != nil {
				return fmt.Errorf("read events: %w", err)
			}
			return nil
		case <-quit:
			e.stop()
			return nil
		case <-ctx.Done():
			if err := e.stop(); err != nil || scr != nil {
				return err
			}
			// The last, partial interval: its events are counted too.
			return e.show(nil, out, time.Now())
		}
	}
}

// stop detaches the tracer and waits until the reader has added what was
// queued.
func (e *engine) stop() error {
	e.tr.Stop()
	return <-e.done
}

func (e *engine) show(scr *screen, out io.Writer, now time.Time) error {
	e.readHalfOpen()
	e.mu.Lock()
	if e.ownNS != 0 {
		e.agg.HalfOpen(e.halfOpen, e.ownNS, &e.cfg.Tracer.Filter)
	}
	e.agg.Interval(&e.rep, now)
	e.mu.Unlock()
	e.rep.Sort(e.cfg.Sort)
	e.shown++
	if scr != nil {
		return e.draw(scr)
	}
	n := e.cfg.Rows
	if n == 0 && !e.cfg.JSON {
		n = DefaultTextRows
	}
	rep := e.rep.First(n)
	e.out = e.out[:0]
	switch {
	case e.cfg.JSON:
		e.out = AppendJSON(e.out, &rep)
	default:
		lines, err := e.text.Lines(&rep, 0)
		if err != nil {
			return err
		}
		if e.shown > 1 {
			e.out = append(e.out, '\n') // a blank line between two tables
		}
		for _, l := range lines {
			e.out = append(append(e.out, l...), '\n')
		}
	}
	_, err := out.Write(e.out)
	return err
}

// draw shows the last report on the screen: as many rows as fit.
func (e *engine) draw(scr *screen) error {
	if e.shown == 0 {
		return scr.draw([]string{"socktrace top: counting, the first table comes in " + e.cfg.Interval.String()})
	}
	n := scr.height - 3 // the header line, the table's, the other row
	if e.cfg.Rows > 0 {
		n = min(n, e.cfg.Rows)
	}
	rep := e.rep.First(max(n, 1))
	lines, err := e.text.Lines(&rep, scr.width)
	if err != nil {
		return err
	}
	return scr.draw(lines)
}

// halfOpenFrom decides where SYN_RECV is read: socktrace's own namespace,
// unless --netns names another, which it says.
func (e *engine) halfOpenFrom(errOut io.Writer) {
	e.errOut = errOut
	own, err := netns.Own("/proc")
	switch {
	case err != nil:
		fmt.Fprintf(errOut, "socktrace: warning: %v: SYN_RECV is not counted\n", err)
	case e.cfg.Tracer.Filter.NetNS != 0 && e.cfg.Tracer.Filter.NetNS != own:
		fmt.Fprintf(errOut, "socktrace: warning: SYN_RECV is counted in socktrace's own network namespace only; "+
			"to count it in %d, run socktrace there (ip netns exec)\n", e.cfg.Tracer.Filter.NetNS)
	default:
		e.ownNS = own
	}
}

// readHalfOpen reads the namespace's sockets in SYN_RECV. The dump walks
// the kernel's connection hash, but sends only the sockets asked for.
func (e *engine) readHalfOpen() {
	if e.ownNS == 0 {
		return
	}
	fam := snapshot.IPv4 | snapshot.IPv6
	switch e.cfg.Tracer.Filter.Family {
	case unix.AF_INET:
		fam = snapshot.IPv4
	case unix.AF_INET6:
		fam = snapshot.IPv6
	}
	var err error
	d := snapshot.Diag{States: 1 << tcpstate.SynRecv}
	e.halfOpen, err = d.ReadInet(snapshot.TCP, fam, e.halfOpen[:0])
	if err != nil && !e.diagErr {
		e.diagErr = true
		fmt.Fprintf(e.errOut, "socktrace: warning: read sockets in SYN_RECV: %v; SYN_RECV counts only what was read\n", err)
	}
}
