package conntrack

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Row is one row of the -M table: a flow, and for one that is gone, how
// long it lived and whether its end was seen.
type Row struct {
	Flow
	Gone     bool
	Lifetime time.Duration // of a gone flow; 0 when its birth was not seen
	Healed   bool          // gone from two dumps in a row without a destroy event
}

// Summary is what happened between two prints of the table.
type Summary struct {
	Time      time.Time // of the print
	New       uint64    // NAT flows born
	Destroyed uint64    // NAT flows destroyed, by their events
	Flows     int       // NAT flows listed by the kernel now
	Lost      uint64    // event overruns and undecodable events
	Healed    uint64    // flows ended without a destroy event
}

// Table is the table behind -M -c: each print lists the NAT flows of a
// fresh dump, and once each flow destroyed since the previous print, also
// those born and gone in between, as the live TCP table does for
// connections. Events come from one goroutine (Apply, Lost), prints from
// another (Rows).
type Table struct {
	mu      sync.Mutex
	tracked map[key]*entry
	gone    []Row   // destroyed since the last print, in event order
	counts  Summary // since the last print
}

// entry is a flow the table knows is (or was lately) in the kernel.
type entry struct {
	flow   Flow
	born   time.Time // when its birth event was read; zero if it came from a dump
	misses int       // dumps in a row that did not list it
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{tracked: map[key]*entry{}}
}

// Apply records a NAT flow's birth or death.
func (t *Table) Apply(ev *Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := ev.Flow.key()
	switch ev.Kind {
	case EventNew:
		t.counts.New++
		t.tracked[k] = &entry{flow: ev.Flow, born: ev.Time}
	case EventDestroy:
		t.counts.Destroyed++
		t.gone = append(t.gone, t.goneRow(k, ev))
		delete(t.tracked, k)
	}
}

// goneRow is the row of a destroyed flow: the event's tuples and status,
// with the state and birth last known, since a destroy event carries
// neither.
func (t *Table) goneRow(k key, ev *Event) Row {
	r := Row{Flow: ev.Flow, Gone: true}
	r.Timeout = 0 // what a destroy event says is left no longer counts
	e := t.tracked[k]
	if e != nil {
		r.TCPState, r.HasState = e.flow.TCPState, e.flow.HasState
	}
	switch {
	case !ev.Flow.Start.IsZero() && !ev.Flow.Stop.IsZero():
		r.Lifetime = ev.Flow.Stop.Sub(ev.Flow.Start)
	case e != nil && !e.born.IsZero():
		r.Lifetime = ev.Time.Sub(e.born)
	}
	return r
}

// Lost counts one overrun or undecodable event.
func (t *Table) Lost() {
	t.mu.Lock()
	t.counts.Lost++
	t.mu.Unlock()
}

// Rows appends the rows of one print to dst: the flows of a dump begun at
// dumped, then flows one dump missed (a flow is only ended without its
// destroy event when two dumps in a row missed it: its event may still be
// on its way), then the flows gone since the last print. It returns the
// summary of the interval and starts the next.
func (t *Table) Rows(flows []Flow, dumped time.Time, dst []Row) ([]Row, Summary) {
	t.mu.Lock()
	defer t.mu.Unlock()
	gone := make(map[key]bool, len(t.gone))
	for i := range t.gone {
		gone[t.gone[i].key()] = true
	}
	listed := make(map[key]bool, len(flows))
	for i := range flows {
		k := flows[i].key()
		if gone[k] {
			continue // destroyed since the dump read it
		}
		listed[k] = true
		e := t.tracked[k]
		if e == nil {
			e = &entry{}
			t.tracked[k] = e
		}
		e.flow, e.misses = flows[i], 0
		dst = append(dst, Row{Flow: flows[i]})
	}
	var missed, healed []Row
	for k, e := range t.tracked {
		if listed[k] || e.born.After(dumped) {
			continue // a birth read after the dump began may not be in it
		}
		e.misses++
		if e.misses < 2 {
			missed = append(missed, Row{Flow: e.flow})
			continue
		}
		healed = append(healed, Row{Flow: e.flow, Gone: true, Healed: true})
		healed[len(healed)-1].Timeout = 0
		delete(t.tracked, k)
	}
	byID := func(a, b Row) int { return cmp.Compare(a.ID, b.ID) }
	slices.SortFunc(missed, byID)
	slices.SortFunc(healed, byID)
	dst = append(dst, missed...)
	dst = append(dst, t.gone...)
	dst = append(dst, healed...)
	t.gone = t.gone[:0]

	s := t.counts
	s.Flows = len(listed)
	s.Healed = uint64(len(healed))
	t.counts = Summary{}
	return dst, s
}
