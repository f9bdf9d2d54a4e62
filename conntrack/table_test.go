package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var t0 = time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)

// natFlow is a masqueraded TCP flow from 192.0.2.2:sport to
// 198.51.100.2:80, translated to 198.51.100.1:mport.
func natFlow(id uint32, sport, mport uint16) Flow {
	client, server, router := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.1")
	return Flow{
		ID:       id,
		Proto:    unix.IPPROTO_TCP,
		Orig:     Tuple{Src: client, Dst: server, SrcPort: sport, DstPort: 80},
		Reply:    Tuple{Src: server, Dst: router, SrcPort: 80, DstPort: mport},
		Timeout:  120 * time.Second,
		TCPState: 3, HasState: true,
		Status: statusSrcNAT | statusSeenReply,
	}
}

type rowWant struct {
	id       uint32
	gone     bool
	healed   bool
	lifetime time.Duration
	state    string
}

func checkRows(t *testing.T, rows []Row, want ...rowWant) {
	t.Helper()
	if len(rows) != len(want) {
		t.Fatalf("got %d rows %+v, want %d", len(rows), rows, len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.ID != w.id || r.Gone != w.gone || r.Healed != w.healed || r.Lifetime != w.lifetime || r.State() != w.state {
			t.Errorf("row %d: id %d gone %v healed %v lifetime %v state %q; want %+v",
				i, r.ID, r.Gone, r.Healed, r.Lifetime, r.State(), w)
		}
		if r.Gone && r.Timeout != 0 {
			t.Errorf("row %d: gone with %v left", i, r.Timeout)
		}
	}
}

// A flow born and destroyed between two prints is listed once, gone, with
// the state its birth had and how long it lived; the summary counts both.
func TestTableBornAndGone(t *testing.T) {
	tb := NewTable()
	rows, s := tb.Rows(nil, t0, nil)
	checkRows(t, rows)
	if s.New != 0 || s.Flows != 0 {
		t.Errorf("first summary %+v", s)
	}

	f := natFlow(7, 40000, 40000)
	f.TCPState = 1 // SYN_SENT
	tb.Apply(&Event{Kind: EventNew, Time: t0.Add(100 * time.Millisecond), Flow: f})
	dead := f
	dead.HasState, dead.Timeout = false, 9*time.Second // as a destroy event carries
	tb.Apply(&Event{Kind: EventDestroy, Time: t0.Add(400 * time.Millisecond), Flow: dead})

	rows, s = tb.Rows(nil, t0.Add(time.Second), nil)
	checkRows(t, rows, rowWant{id: 7, gone: true, lifetime: 300 * time.Millisecond, state: "SYN_SENT"})
	if s.New != 1 || s.Destroyed != 1 || s.Flows != 0 || s.Healed != 0 {
		t.Errorf("summary %+v", s)
	}
	rows, s = tb.Rows(nil, t0.Add(2*time.Second), nil)
	checkRows(t, rows)
	if s.New != 0 || s.Destroyed != 0 {
		t.Errorf("a summary counts its own interval only: %+v", s)
	}
}

// A flow the dump lists is a live row; once destroyed, it is listed gone
// in the next print, with its last dumped state, and then no more.
func TestTableListedThenGone(t *testing.T) {
	tb := NewTable()
	f := natFlow(1, 40000, 41000)
	rows, s := tb.Rows([]Flow{f}, t0, nil)
	checkRows(t, rows, rowWant{id: 1, state: "ESTABLISHED"})
	if s.Flows != 1 {
		t.Errorf("summary %+v", s)
	}
	dead := f
	dead.HasState = false
	tb.Apply(&Event{Kind: EventDestroy, Time: t0.Add(time.Second), Flow: dead})
	rows, _ = tb.Rows(nil, t0.Add(2*time.Second), nil)
	checkRows(t, rows, rowWant{id: 1, gone: true, state: "ESTABLISHED"})
	rows, _ = tb.Rows(nil, t0.Add(3*time.Second), nil)
	checkRows(t, rows)
}

// A flow destroyed after the dump read it is listed once, gone, not also
// live.
func TestTableDestroyedAfterDump(t *testing.T) {
	tb := NewTable()
	f := natFlow(1, 40000, 41000)
	tb.Apply(&Event{Kind: EventDestroy, Time: t0.Add(time.Millisecond), Flow: f})
	rows, s := tb.Rows([]Flow{f}, t0, nil)
	checkRows(t, rows, rowWant{id: 1, gone: true, state: "ESTABLISHED"})
	if s.Flows != 0 {
		t.Errorf("a gone flow counted as listed: %+v", s)
	}
}

// A listed flow that a dump misses without a destroy event stays listed
// (its event may still come); missed by the next dump too, it is ended as
// healed. Flows older than the event subscription have no destroy event.
func TestTableHealsAfterTwoMisses(t *testing.T) {
	tb := NewTable()
	a, b := natFlow(1, 40000, 41000), natFlow(2, 40001, 41001)
	tb.Rows([]Flow{a, b}, t0, nil)
	rows, s := tb.Rows([]Flow{b}, t0.Add(time.Second), nil)
	checkRows(t, rows, rowWant{id: 2, state: "ESTABLISHED"}, rowWant{id: 1, state: "ESTABLISHED"})
	if s.Flows != 1 || s.Healed != 0 {
		t.Errorf("summary %+v", s)
	}
	rows, s = tb.Rows([]Flow{b}, t0.Add(2*time.Second), nil)
	checkRows(t, rows, rowWant{id: 2, state: "ESTABLISHED"}, rowWant{id: 1, gone: true, healed: true, state: "ESTABLISHED"})
	if s.Healed != 1 {
		t.Errorf("summary %+v", s)
	}
	rows, _ = tb.Rows([]Flow{b}, t0.Add(3*time.Second), nil)
	checkRows(t, rows, rowWant{id: 2, state: "ESTABLISHED"})
}

// A birth read after the dump began may be missing from it: that is no
// miss. A birth read before it and missing from two dumps lost its destroy
// event and is healed.
func TestTableBirthDuringDump(t *testing.T) {
	tb := NewTable()
	f := natFlow(3, 40000, 41000)
	tb.Apply(&Event{Kind: EventNew, Time: t0.Add(time.Millisecond), Flow: f})
	rows, _ := tb.Rows(nil, t0, nil)
	checkRows(t, rows)
	rows, _ = tb.Rows(nil, t0.Add(time.Second), nil)
	checkRows(t, rows, rowWant{id: 3, state: "ESTABLISHED"})
	rows, s := tb.Rows(nil, t0.Add(2*time.Second), nil)
	checkRows(t, rows, rowWant{id: 3, gone: true, healed: true, state: "ESTABLISHED"})
	if s.Healed != 1 {
		t.Errorf("summary %+v", s)
	}
}

// A flow's id is reused once the flow is freed: a new flow with the same id
// and another tuple is another row.
func TestTableKeyIsMoreThanID(t *testing.T) {
	tb := NewTable()
	a, b := natFlow(5, 40000, 41000), natFlow(5, 40002, 41002)
	tb.Rows([]Flow{a}, t0, nil)
	tb.Apply(&Event{Kind: EventDestroy, Time: t0.Add(time.Millisecond), Flow: a})
	rows, _ := tb.Rows([]Flow{b}, t0.Add(time.Second), nil)
	if len(rows) != 2 || rows[0].Orig.SrcPort != 40002 || rows[0].Gone || rows[1].Orig.SrcPort != 40000 || !rows[1].Gone {
		t.Errorf("rows %+v", rows)
	}
}

// With the kernel's timestamps on, a gone row's lifetime is theirs.
func TestTableKernelTimestamps(t *testing.T) {
	tb := NewTable()
	f := natFlow(1, 40000, 41000)
	f.Start, f.Stop = t0, t0.Add(1500*time.Millisecond)
	f.HasState = false
	tb.Apply(&Event{Kind: EventDestroy, Time: t0.Add(2 * time.Second), Flow: f})
	rows, _ := tb.Rows(nil, t0.Add(3*time.Second), nil)
	checkRows(t, rows, rowWant{id: 1, gone: true, lifetime: 1500 * time.Millisecond})
}

func TestTableLost(t *testing.T) {
	tb := NewTable()
	tb.Lost()
	tb.Lost()
	if _, s := tb.Rows(nil, t0, nil); s.Lost != 2 {
		t.Errorf("lost %d, want 2", s.Lost)
	}
	if _, s := tb.Rows(nil, t0, nil); s.Lost != 0 {
		t.Errorf("lost %d after the print that reported them, want 0", s.Lost)
	}
}
