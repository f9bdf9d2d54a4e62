package table

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// The pile against a plain map, through random entries and ends, mostly
// but not only in entry order (a reused tuple or a healed row ends early).
func TestTimeWaitPile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mask  uint64
		start uint64 // the first position
	}{
		{"hashes apart", ^uint64(0), 1},
		{"hashes clash", 0x3f, 1}, // 64 hashes for thousands of rows: most share a probe sequence
		// The index keeps positions' low 32 bits: rows on both sides
		// of 1<<32, and none at it, where the index's empty slot is.
		{"positions past 32 bits", ^uint64(0), 1<<32 - 10000},
	} {
		t.Run(tc.name, func(t *testing.T) { testTimeWaitPile(t, tc.mask, tc.start) })
	}
}

func testTimeWaitPile(t *testing.T, mask, start uint64) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := newTimeWaits()
	p.mask = mask
	p.firstPos, p.nextPos = start, start
	want := map[Key]uint32{} // key -> uid, for the rows that have not ended
	var order []Key          // entry order
	key := func(i int) Key { return Key{LPort: uint16(i), RPort: uint16(i >> 16), V6: i%2 == 0} }
	for step := range 30000 {
		switch {
		case rng.IntN(3) > 0 || len(order) == 0:
			k := key(step)
			p.add(k, TimeWait{uid: uint32(step)})
			want[k] = uint32(step)
			order = append(order, k)
		default:
			// The oldest most of the time, else any.
			i := 0
			if rng.IntN(10) == 0 {
				i = rng.IntN(len(order))
			}
			k := order[i]
			order = append(order[:i], order[i+1:]...)
			// Taken over (remove), or ended by the kernel (end:
			// shown gone until a sweep).
			var w TimeWait
			var ok bool
			if rng.IntN(2) == 0 {
				w, ok = p.remove(k)
			} else if e := p.end(k, int64(step), true); e != nil {
				w, ok = *e, true
			}
			if !ok || w.uid != want[k] || !w.dead {
				t.Fatalf("step %d: ending %v = %+v, %v; want uid %d", step, k, w, ok, want[k])
			}
			delete(want, k)
			if _, ok := p.remove(k); ok || p.end(k, int64(step), true) != nil {
				t.Fatalf("step %d: %v ended twice", step, k)
			}
			if rng.IntN(50) == 0 {
				p.sweep(int64(step), 0)
			}
		}
	}
	p.sweep(0, 0)
	if p.len() != len(want) {
		t.Fatalf("len %d, want %d", p.len(), len(want))
	}
	hashes := map[uint64]bool{}
	for w := range p.each {
		if !w.Ended() {
			hashes[p.hash(w.key)] = true
		}
	}
	if clashes := mask != ^uint64(0); clashes != (len(hashes) < p.len()) {
		t.Fatalf("%d rows share %d hashes with hash mask %#x", p.len(), len(hashes), mask)
	}
	var live []Key
	var last uint64
	for w := range p.each {
		if w.id <= last {
			t.Fatalf("IDs out of order: %d after %d", w.id, last)
		}
		last = w.id
		if w.Ended() {
			continue
		}
		live = append(live, w.key)
		if g := p.get(w.key); g != w || g.uid != want[w.key] {
			t.Fatalf("get(%v) = %+v, want row %d", w.key, g, w.id)
		}
	}
	if len(live) != len(order) {
		t.Fatalf("%d rows not ended, want %d", len(live), len(order))
	}
	for i := range live {
		if live[i] != order[i] {
			t.Fatalf("row %d is %v, want %v (entry order)", i, live[i], order[i])
		}
	}
	if p.kept() > 2*len(order)+chunkRows {
		t.Errorf("%d rows kept for %d not ended: ended rows are not dropped", p.kept(), len(order))
	}
	if max := (p.kept()+chunkRows-1)/chunkRows + 1; len(p.chunks) > max {
		t.Errorf("%d chunks for %d rows kept: emptied chunks are not dropped", len(p.chunks), p.kept())
	}
}

// Under churn most TIME_WAITs end early and out of order (their tuple is
// reused), while the front row waits out its 60 s: the pile must not keep
// every row since then. Ended rows still shown as gone survive compaction.
func TestTimeWaitPileCompacts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := newTimeWaits()
	key := func(i int) Key { return Key{LPort: uint16(i), RPort: uint16(i >> 16)} }
	live := map[Key]bool{}
	var maxKept int
	const n = 60000
	var lastFinWait2 Key // the newest row added awaiting the peer's FIN
	for i := range n {
		k := key(i)
		w := TimeWait{uid: uint32(i)}
		if i%7 == 0 {
			w.state, lastFinWait2 = tcpstate.FinWait2, k
		}
		p.add(k, w)
		live[k] = true
		// Nine in ten end within a few thousand rows, in random order;
		// the first row never does.
		if j := i - rng.IntN(3000); j > 0 && rng.IntN(10) < 9 && live[key(j)] {
			if p.end(key(j), int64(i), false) == nil {
				t.Fatalf("row %d: end(%v) found no row", i, key(j))
			}
			delete(live, key(j))
		}
		if i%1000 == 999 {
			// Sweep, but the last 100 ended stay shown as gone.
			p.sweep(int64(i), 100)
			maxKept = max(maxKept, p.kept())
			if needed := p.len() + len(p.gone); p.kept() > 2*needed+chunkRows {
				t.Fatalf("after %d rows: %d kept for %d needed", i+1, p.kept(), needed)
			}
			// No lookups read the awaiting list: sweeps trim it.
			if len(p.awaiting) > 2*p.finWait2+chunkRows {
				t.Fatalf("after %d rows: %d positions listed for %d rows awaiting the peer's FIN", i+1, len(p.awaiting), p.finWait2)
			}
			// Compaction moves rows; the newest awaiting one is
			// still found where the peer's close looks.
			if w := p.recentRow(lastFinWait2); live[lastFinWait2] && (w == nil || w.key != lastFinWait2) {
				t.Fatalf("after %d rows: recentRow(%v) = %v", i+1, lastFinWait2, w)
			}
		}
	}
	finWait2 := 0
	for k := range live {
		if p.get(k).state == tcpstate.FinWait2 {
			finWait2++
		}
	}
	if p.finWait2 != finWait2 {
		t.Fatalf("finWait2 counts %d rows, %d are", p.finWait2, finWait2)
	}
	// Compaction moved the awaiting rows: the list for lookups has each.
	awaiting := map[Key]bool{}
	p.eachAwaiting(func(w *TimeWait) bool {
		awaiting[w.key] = true
		return true
	})
	if len(awaiting) != finWait2 || len(p.awaiting) != finWait2 {
		t.Fatalf("%d rows awaiting the peer's FIN listed for lookups (%d distinct), %d are", len(p.awaiting), len(awaiting), finWait2)
	}
	if p.len() != len(live) {
		t.Fatalf("%d rows in TIME_WAIT, want %d", p.len(), len(live))
	}
	var last uint64
	seen := 0
	for w := range p.each {
		if w.id <= last {
			t.Fatalf("IDs out of order: %d after %d", w.id, last)
		}
		last = w.id
		if w.dead {
			continue
		}
		seen++
		if g := p.get(w.key); g != w || !live[w.key] {
			t.Fatalf("get(%v) = %p, want the row at %p", w.key, g, w)
		}
	}
	if seen != len(live) {
		t.Fatalf("%d live rows kept, want %d", seen, len(live))
	}
	for _, pos := range p.gone {
		if w := p.at(pos); !w.dead || !w.listed || live[w.key] {
			t.Fatalf("gone list points at %+v", *w)
		}
	}
	t.Logf("%d rows added, %d in TIME_WAIT, at most %d kept", n, len(live), maxKept)
}

// A timewait socket older than the table keeps the timer the kernel listed
// for it, counting down from there.
func TestSeededTimeWaitTimer(t *testing.T) {
	for _, apart := range []bool{false, true} {
		testSeededTimeWaitTimer(t, apart)
	}
}

func testSeededTimeWaitTimer(t *testing.T, apart bool) {
	at := time.Unix(1000, 0)
	tbl := New(Config{})
	tbl.SnapshotBegins(at)
	row := client.row(tcpstate.TimeWait, 0)
	row.Timer, row.TimerTicks = 3, 4996 // 49.96 s left, as /proc/net/tcp says
	rows, tws := []snapshot.Socket{row}, (*snapshot.TimeWaits)(nil)
	if apart {
		rows, tws = timeWaitsApart(rows)
	}
	tbl.Reconcile(rows, tws, at, true)
	var c Conn
	n := 0
	for w := range tbl.TimeWaits {
		w.Conn(&c, at.Add(time.Second))
		n++
	}
	if n != 1 {
		t.Fatalf("TIME_WAIT apart %v: %d TIME_WAIT rows, want 1", apart, n)
	}
	if c.Socket.Timer != 3 || c.Socket.TimerTicks != 4896 {
		t.Errorf("TIME_WAIT apart %v: timer %d, %d ticks a second later; want 3, 4896", apart, c.Socket.Timer, c.Socket.TimerTicks)
	}
}

// Two rows awaiting the peer's FIN whose recent slot is the same: the one
// that lost the slot is found in the index.
func TestFinWait2RowSharedSlot(t *testing.T) {
	p := newTimeWaits()
	p.mask = 0 // every key hashes alike
	a, b := Key{LPort: 1, RPort: 80}, Key{LPort: 2, RPort: 80}
	for _, k := range []Key{a, b} {
		p.add(k, TimeWait{state: tcpstate.FinWait2})
	}
	for _, k := range []Key{a, b} {
		if w := p.finWait2Row(k); w == nil || w.key != k {
			t.Errorf("finWait2Row(%v) = %v", k, w)
		}
	}
	if w := p.recentRow(a); w != nil {
		t.Errorf("recentRow(%v) = %v: b took its slot", a, w)
	}
}

// A TIME_WAIT row keeps its owner's cgroup id, from the connect through
// the entry, into the row -c prints from it: the container of an owner
// gone since is named by it.
func TestTimeWaitKeepsCgroup(t *testing.T) {
	tbl := New(Config{})
	connect, tw := client.connect(0), client.timeWait(time.Second, tcpstate.FinWait2, time.Second)
	connect.Cgroup, tw.Cgroup = 4242, 4242
	tbl.Apply(connect)
	tbl.Apply(tw)
	var c Conn
	n := 0
	for w := range tbl.TimeWaits {
		w.Conn(&c, at(2*time.Second))
		n++
	}
	if n != 1 || c.Cgroup != 4242 || c.Owner != client.owner() {
		t.Errorf("%d TIME_WAIT rows; the row's owner %+v, cgroup %d; want %+v, 4242", n, c.Owner, c.Cgroup, client.owner())
	}
}
