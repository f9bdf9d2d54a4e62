// Package top is socktrace top: kernel events summed up per process and
// peer, every interval, to show who is churning connections, to where, and
// how they end.
package top

import (
	"syscall"
	"time"

	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// Aggregator sums events into rows. Its memory is bounded: at most MaxKeys
// rows (past them, events count in the other row), a fixed-size histogram
// per row for each percentile column, and a bounded map of the sockets in
// SYN_SENT or TIME_WAIT. Not safe for concurrent use.
type Aggregator struct {
	by      By
	ports   snapshot.PortRange
	maxKeys int
	index   map[key]int32
	rows    []row // rows[otherRow] is the other row
	free    []int32
	spare   []*hist
	open    *openSocks
	// listeners' owners, for their half-open connections (HalfOpen)
	listeners  map[listenKey]snapshot.Owner
	sock       filter.Socket // scratch for HalfOpen's filter
	containers Containers    // nil: none named
	names      containerNames
	start      time.Time // of the interval
	// Interval counts outside any row.
	lost, otherEvents uint64
}

// otherRow is the row of the events whose key found no room.
const otherRow = 0

// Options set up an Aggregator.
type Options struct {
	By      By                 // default DefaultBy
	MaxKeys int                // rows at most, the other row aside; default DefaultMaxKeys
	Ports   snapshot.PortRange // the ephemeral ports; default snapshot.DefaultPortRange
	// Containers names where each row's process runs (--by process) or
	// groups rows by it (--by container); nil: every name is "".
	Containers Containers
}

// DefaultMaxKeys bounds the rows by default.
const DefaultMaxKeys = 10000

// row is one group's interval counts and the sockets it owns now.
type row struct {
	key    key
	used   bool
	lport  uint16 // the local port of its sockets, 0 if ephemeral
	lports uint8  // how many local ports it saw: 0, 1 or 2 (several)
	// container is where its process runs, numbered by names, looked up
	// once as the row is made when grouped by process but not container.
	container uint32
	c         counts
	// Failed connects by reason, most frequent first after each interval.
	fails                  [maxReasons]Failure
	connectTimes, lifetime *hist // nil until the row has one
	synSent, timeWait      int32
	synRecv                int32 // this interval's, from HalfOpen
}

type counts struct {
	connects, accepts, failed               uint64
	resetsSent, resetsReceived, retransmits uint64
	bytesSent, bytesReceived                uint64
}

// NewAggregator starts the first interval at start.
func NewAggregator(o Options, start time.Time) *Aggregator {
	if o.By == 0 {
		o.By = DefaultBy
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Ports == (snapshot.PortRange{}) {
		o.Ports = snapshot.DefaultPortRange
	}
	a := &Aggregator{by: o.By, ports: o.Ports, maxKeys: o.MaxKeys, index: make(map[key]int32),
		rows: make([]row, 1, 64), listeners: make(map[listenKey]snapshot.Owner),
		containers: o.Containers, names: newContainerNames(), start: start}
	a.rows[otherRow].used = true
	a.open = newOpenSocks(maxOpen, a.left)
	return a
}

// Add counts one event.
func (a *Aggregator) Add(ev *tracer.Event) {
	switch ev.Kind {
	case tracer.KindState:
		a.transition(ev)
	case tracer.KindAccept:
		a.rows[a.rowOf(ev)].c.accepts++
	case tracer.KindTimeWaitEnd:
		a.open.endTimeWait(ev)
	case tracer.KindResetSent:
		a.rows[a.rowOf(ev)].c.resetsSent++
	case tracer.KindResetReceived:
		a.rows[a.rowOf(ev)].c.resetsReceived++
	case tracer.KindRetransmit:
		a.rows[a.rowOf(ev)].c.retransmits++
	case tracer.KindLost:
		a.lost += ev.Lost.Total()
	}
}

func (a *Aggregator) transition(ev *tracer.Event) {
	switch {
	case ev.Old == tcpstate.Close && ev.New == tcpstate.SynSent:
		i := a.rowOf(ev)
		a.rows[i].c.connects++
		if a.open.connect(ev.Sock, i, ev.Time) {
			a.rows[i].synSent++
		}
	case ev.Old == tcpstate.SynSent:
		a.open.endConnect(ev.Sock)
		i := a.rowOf(ev)
		if ev.New == tcpstate.Close {
			a.rows[i].fail(ev.Err)
		} else if ev.Has(tracer.FlagPrevKnown) {
			a.hist(&a.rows[i].connectTimes).add(ev.InState)
		}
	case ev.New == tcpstate.Listen || (ev.Old == tcpstate.Listen && ev.New == tcpstate.Close):
		a.listen(ev)
	case ev.Old == tcpstate.Listen:
		// A passive child's birth: counted at accept.
	case ev.New == tcpstate.Close || ev.New == tcpstate.TimeWait:
		a.open.endConnect(ev.Sock) // if its end of SYN_SENT was lost
		i := a.rowOf(ev)
		a.closed(i, ev)
		if ev.New == tcpstate.TimeWait && a.open.enterTimeWait(ev, i) {
			a.rows[i].timeWait++
		}
	}
}

// closed counts a connection's end: its lifetime, if it was ever
// established, and the bytes it carried.
func (a *Aggregator) closed(i int32, ev *tracer.Event) {
	r := &a.rows[i]
	if ev.Has(tracer.FlagBornKnown) && ev.Old != tcpstate.SynRecv {
		a.hist(&r.lifetime).add(ev.Lifetime)
	}
	if ev.Has(tracer.FlagSummary) {
		r.c.bytesSent += ev.BytesSent
		r.c.bytesReceived += ev.BytesReceived
	}
}

// left is told by open of each socket that leaves SYN_SENT or TIME_WAIT.
func (a *Aggregator) left(i int32, s tcpstate.State) {
	if s == tcpstate.SynSent {
		a.rows[i].synSent--
	} else {
		a.rows[i].timeWait--
	}
}

// rowOf finds or makes ev's row; past MaxKeys rows, it is the other row.
func (a *Aggregator) rowOf(ev *tracer.Event) int32 {
	var cid uint32
	if a.by&ByContainer != 0 {
		var ok bool
		if cid, ok = a.containerOf(ev); !ok {
			a.otherEvents++
			return otherRow
		}
	}
	k := keyOf(ev, a.by, a.ports, cid)
	i, ok := a.index[k]
	if !ok {
		if len(a.index) >= a.maxKeys {
			a.otherEvents++
			return otherRow
		}
		i = a.newRow(k)
		if a.by&(ByProcess|ByContainer) == ByProcess {
			a.rows[i].container, _ = a.containerOf(ev)
		}
	}
	a.rows[i].seePort(ephemeral(a.ports, ev.Local.Port()))
	return i
}

func (a *Aggregator) newRow(k key) int32 {
	var i int32
	if n := len(a.free); n > 0 {
		i, a.free = a.free[n-1], a.free[:n-1]
	} else {
		a.rows = append(a.rows, row{})
		i = int32(len(a.rows) - 1)
	}
	a.rows[i] = row{key: k, used: true}
	a.index[k] = i
	return i
}

func (r *row) seePort(p uint16) {
	switch {
	case r.lports == 0:
		r.lport, r.lports = p, 1
	case r.lport != p:
		r.lports = 2
	}
}

// hist returns *h, taking a histogram for it first if it has none.
func (a *Aggregator) hist(h **hist) *hist {
	if *h == nil {
		if n := len(a.spare); n > 0 {
			*h, a.spare = a.spare[n-1], a.spare[:n-1]
		} else {
			*h = new(hist)
		}
	}
	return *h
}

// fail counts a failed connect under its reason.
func (r *row) fail(err syscall.Errno) {
	r.c.failed++
	code := reasonOf(err)
	for i := range r.fails {
		f := &r.fails[i]
		switch {
		case f.Count > 0 && f.Reason == code:
			f.Count++
			return
		case f.Count == 0:
			*f = Failure{Reason: code, Count: 1}
			return
		}
	}
	// More reasons than slots: the last slot sums up the rest.
	last := &r.fails[maxReasons-1]
	last.Reason = OtherReason
	last.Count++
}
