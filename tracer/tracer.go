// Package tracer loads socktrace's kernel programs, attaches them with
// tracepoints only, and turns what they send into attributed Events.
package tracer

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/snapshot"
)

// Config sets up a Tracer. The zero value traces everything.
type Config struct {
	Filter Filter
	// RingBytes is the ring buffer size (a power of two, at least a page);
	// default 8 MiB.
	RingBytes int
	// Latency bounds how long an event may wait in the ring buffer before
	// Next returns it; default 50ms. Wakeups are batched: waking the reader
	// per event costs more than the event.
	Latency time.Duration
	// Classic attaches the classic sock:inet_sock_set_state tracepoint
	// instead of tp_btf, as on kernels where tp_btf is unavailable.
	Classic bool
	// ProcRoot is where the owners of sockets older than the tracer are
	// read from; default "/proc".
	ProcRoot string
	// Debug keeps the verifier's full log in load errors.
	Debug bool
	// TableOnly sends only what a connection table needs: connects,
	// listens, accepts and closes, TIME_WAIT entry and end included. The
	// kernel does not look at the transitions between, so closes carry the
	// lifetime and error but no time in state and no byte counts.
	TableOnly bool
	// Resets attaches the reset and retransmit hooks (tcp:tcp_send_reset,
	// tcp:tcp_receive_reset, tcp:tcp_retransmit_skb): KindResetSent,
	// KindResetReceived and KindRetransmit events. Off, they are not
	// attached and cost nothing.
	Resets bool
	// ConnectTimes, with TableOnly, also sends each connect's
	// SYN_SENT->ESTABLISHED, with its time in SYN_SENT (InState).
	ConnectTimes bool
	// Summaries, with TableOnly, has closes carry their byte counts, SRTT
	// and retransmits (FlagSummary) as in trace mode.
	Summaries bool
	// Transitions has the kernel count every state change of the sockets
	// the filter's netns and family let through, TableOnly's unsent ones
	// included: read them with Tracer.Transitions.
	Transitions bool
}

// Stats are a Tracer's running totals.
type Stats struct {
	Delivered uint64 // events returned by Next
	// Sent counts the events the kernel sent, before userspace's filter:
	// how well the kernel filtered.
	Sent uint64
	Lost Lost // events the kernel could not deliver
	// TimerMisses counts skipped runs of the timer programs: TIME_WAIT
	// entries or ends may be missing from the stream.
	TimerMisses uint64
}

// Tracer streams kernel events. Next is for one goroutine; Stop and Close may
// be called from another.
type Tracer struct {
	objs   socktraceObjects
	links  []link.Link
	ring   *ring
	filter Filter
	// userFilter: the filter has an expression, which userspace decides
	// again: the kernel lets through what it cannot test (owners it does
	// not know, ss's own reading of autobound and host names).
	userFilter bool
	sock       filter.Socket // scratch for the filter, reused
	latency    time.Duration
	monoToWall int64
	owners     *ownerBook
	timeWaits  *timeWaitBook   // nil in table mode: a table has its own rows
	seeded     snapshot.Owners // the start-up owner scan
	// lossProgs lose events when they skip a run; timerProgs lose only
	// TIME_WAIT detail.
	lossProgs, timerProgs []*ebpf.Program
	lastLoss              time.Time
	sinceCheck            int
	stats                 Stats
	warnings              []string
	reasons               []string // reset reasons by value; nil: none to name (see ResetReason)
	// readAhead: Next reads past the records the userspace filter drops
	// (see lookAhead). peek is the next event that passes, read ahead
	// (peeked), or the error reading it met.
	readAhead bool
	peek      Event
	peeked    bool
	peekErr   error
	stopOnce  sync.Once
}

// lossCheckEvents is how many events Next returns between two looks at the
// clock for a due loss report.
const lossCheckEvents = 4096

// ErrStopped is returned by Next after Stop, once every queued event has
// been returned.
var ErrStopped = io.EOF

// New loads and attaches the kernel programs. Events start queueing at once;
// read them with Next.
func New(cfg Config) (*Tracer, error) {
	cfg = withDefaults(cfg)
	t := &Tracer{filter: cfg.Filter, latency: cfg.Latency, owners: newOwnerBook(),
		userFilter: cfg.Filter.Expr != nil}
	if e := cfg.Filter.Expr; e != nil && e.Uses()&filter.FactContainer != 0 {
		t.filter.containers = container.NewResolver(container.Config{ProcRoot: cfg.ProcRoot})
	}
	t.filter.exact = t.filter.kernelExact()
	t.readAhead = t.userFilter && !(t.filter.exact.owned && t.filter.exact.ownerless)
	if !cfg.TableOnly {
		t.timeWaits = newTimeWaitBook()
	}
	t.monoToWall = monoToWallOffset()
	spec, err := t.prepare(cfg)
	if err != nil {
		return nil, err
	}
	opts := &ebpf.CollectionOptions{}
	if cfg.Debug {
		opts.Programs.LogLevel = ebpf.LogLevelInstruction
	}
	if err := spec.LoadAndAssign(&t.objs, opts); err != nil {
		return nil, explainLoad(err, cfg.Debug)
	}
	if err := t.attach(cfg); err != nil {
		t.Close()
		return nil, err
	}
	if cfg.Resets {
		if t.reasons, err = loadResetReasons(); err != nil {
			t.warnf("%v", err)
		}
	}
	if t.ring, err = newRing(t.objs.Events); err != nil {
		t.Close()
		return nil, fmt.Errorf("open ring buffer: %w", err)
	}
	// Attached first, then seeded: a socket born meanwhile is seen by the
	// kernel; one that existed before is in the snapshot.
	if err := t.seed(cfg.ProcRoot); err != nil {
		t.warnf("owners of sockets older than socktrace are unknown: %v", err)
	}
	t.lastLoss = time.Now()
	return t, nil
}

func withDefaults(cfg Config) Config {
	if cfg.RingBytes == 0 {
		cfg.RingBytes = 8 << 20
	}
	if cfg.Latency == 0 {
		cfg.Latency = 50 * time.Millisecond
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	return cfg
}

// SeededOwners is the owner scan New made after attaching: the processes
// holding each socket inode (every kind of socket) at start-up. Callers
// that keep a table of older sockets use it instead of scanning again.
func (t *Tracer) SeededOwners() snapshot.Owners { return t.seeded }

// Clock is the current time on the events' clock. Comparing it with event
// times is immune to wall-clock steps after start-up.
func (t *Tracer) Clock() time.Time {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Unix(0, ts.Nano()+t.monoToWall)
}

// Warnings are the features that could not be set up, one line each.
func (t *Tracer) Warnings() []string { return t.warnings }

func (t *Tracer) warnf(format string, args ...any) {
	t.warnings = append(t.warnings, fmt.Sprintf(format, args...))
}

// Stats returns the running totals, refreshing the loss counters.
func (t *Tracer) Stats() Stats {
	t.pollLoss()
	return t.stats
}

// Next blocks until the next event that passes the filter and decodes it
// into ev. Every second or so, if the kernel lost events since the last
// report, it returns a KindLost event instead. After Stop it returns the
// events still queued, then ErrStopped.
func (t *Tracer) Next(ev *Event) error {
	t.ring.mu.Lock()
	defer t.ring.mu.Unlock()
	if t.readAhead && (t.peeked || t.peekErr != nil) {
		return t.takePeek(ev)
	}
	for {
		// Reading the clock per event was a measurable cost; the loss
		// counters are due every second, checked every lossCheckEvents
		// events and whenever the ring runs dry.
		if t.sinceCheck++; t.sinceCheck >= lossCheckEvents {
			t.sinceCheck = 0
			if time.Since(t.lastLoss) >= time.Second && t.lossEvent(ev) {
				return nil
			}
		}
		rec, err := t.ring.next(t.latency)
		if err != nil {
			if errors.Is(err, errRingEmpty) {
				t.sinceCheck = lossCheckEvents
				continue
			}
			if errors.Is(err, errRingFlushed) || errors.Is(err, errRingClosed) {
				return ErrStopped
			}
			return fmt.Errorf("read ring buffer: %w", err)
		}
		if err := decode(rec, t.monoToWall, ev); err != nil {
			return err
		}
		if t.complete(ev) {
			t.stats.Delivered++
			if t.readAhead {
				t.lookAhead()
			}
			return nil
		}
	}
}

// takePeek returns what lookAhead read: the event, or its error.
func (t *Tracer) takePeek(ev *Event) error {
	if err := t.peekErr; err != nil {
		t.peekErr = nil
		return err
	}
	*ev, t.peeked = t.peek, false
	t.stats.Delivered++
	t.lookAhead()
	return nil
}

// lookAhead reads on, without waiting, past the records the userspace
// filter drops, up to the next event that passes (kept for Next). So
// Behind is false when only dropped records followed the event Next
// returns: a caller that gathers events until Behind is false, and then
// writes or applies them, would otherwise wait for the next event that
// passes, however late, with these in hand.
//
// Not when the kernel's program is exact for every event (--port, say):
// userspace then drops only an event whose port it put back, rarely, and
// the read-ahead's copy of each event would cost more than it saves.
func (t *Tracer) lookAhead() {
	for {
		rec, ok, err := t.ring.tryNext()
		switch {
		case err != nil:
			t.peekErr = err
			return
		case !ok:
			return
		case rec == nil:
			continue // discarded
		}
		if err := decode(rec, t.monoToWall, &t.peek); err != nil {
			t.peekErr = err
			return
		}
		if t.complete(&t.peek) {
			t.peeked = true
			return
		}
	}
}

// complete adds what userspace knows to an event the kernel sent (a
// TIME_WAIT end's entry, the owner of a socket older than the tracer), and
// reports whether it passes the filter.
func (t *Tracer) complete(ev *Event) bool {
	t.stats.Sent++
	// A timewait socket has no owner: the kernel sends its end and its
	// resets without one, so userspace fills in only owners the kernel did
	// not know.
	owned := ev.Has(FlagOwnerKnown)
	if t.timeWaits != nil {
		t.timeWaits.note(ev)
	}
	retupled := t.owners.resolve(ev)
	return !t.userFilter || t.filter.decided(ev, owned, retupled) || t.filter.Match(ev, &t.sock)
}

// Pending reports whether events are queued, so a caller can flush its
// output when Next has caught up. Safe from any goroutine until Close.
func (t *Tracer) Pending() bool { return t.ring.pending() }

// Behind reports whether events were queued behind the one Next last read,
// without reading the kernel's position again. For Next's goroutine only.
func (t *Tracer) Behind() bool { return t.peeked || t.ring.behind() }

// Stop detaches the programs, so no new event is queued, and makes Next
// return what is left, then ErrStopped.
func (t *Tracer) Stop() {
	t.stopOnce.Do(func() {
		t.detach()
		if t.ring != nil {
			t.ring.flush()
		}
	})
}

// Close detaches and frees everything. Nothing stays in the kernel.
func (t *Tracer) Close() error {
	t.detach()
	if t.ring != nil {
		t.ring.close()
	}
	return t.objs.Close()
}

func (t *Tracer) detach() {
	for _, l := range t.links {
		l.Close()
	}
	t.links = nil
}

// lossEvent fills ev with the losses since the last report, if any.
func (t *Tracer) lossEvent(ev *Event) bool {
	before := t.stats.Lost
	t.pollLoss()
	t.lastLoss = time.Now()
	if t.stats.Lost == before {
		return false
	}
	*ev = Event{Time: t.lastLoss, Kind: KindLost, Lost: Lost{
		RingFull:  t.stats.Lost.RingFull - before.RingFull,
		Recursion: t.stats.Lost.Recursion - before.Recursion,
	}}
	return true
}

func (t *Tracer) pollLoss() {
	var perCPU []uint64
	if t.objs.Counters.Lookup(uint32(cntRingbufFull), &perCPU) == nil {
		var sum uint64
		for _, v := range perCPU {
			sum += v
		}
		t.stats.Lost.RingFull = sum
	}
	t.stats.Lost.Recursion = recursionMisses(t.lossProgs)
	t.stats.TimerMisses = recursionMisses(t.timerProgs)
}

func recursionMisses(progs []*ebpf.Program) uint64 {
	var n uint64
	for _, p := range progs {
		if s, err := p.Stats(); err == nil {
			n += s.RecursionMisses
		}
	}
	return n
}

// monoToWallOffset converts bpf_ktime_get_ns (CLOCK_MONOTONIC) to Unix time.
func monoToWallOffset() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Now().UnixNano() - ts.Nano()
}
