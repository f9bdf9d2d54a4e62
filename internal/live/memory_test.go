package live

import (
	"io"
	"runtime/debug"
	"testing"

	"github.com/socktrace/socktrace/internal/netstat"
)

// Memory goes back to the kernel when the table has shrunk to half its
// peak, by a MiB or more, and not again until it halves once more.
func TestShrinkWatch(t *testing.T) {
	const mib = 1 << 20
	var s shrinkWatch
	for i, step := range []struct {
		size int
		want bool
	}{
		{0, false}, {10 * mib, false}, {40 * mib, false}, // filling
		{30 * mib, false}, {21 * mib, false}, // not yet half
		{20 * mib, true},                    // half the peak of 40
		{15 * mib, false}, {10 * mib, true}, // half of 20
		{12 * mib, false}, {6 * mib, true},
		{3 * mib, true}, {2 * mib, false}, // not half of 3
		{mib, true}, {mib / 2, false}, // half, but less than a MiB to give
		{0, true}, {0, false},
	} {
		if got := s.farBelowPeak(step.size); got != step.want {
			t.Errorf("step %d, %d MiB: %v, want %v", i, step.size/mib, got, step.want)
		}
	}
}

// shrunk moves a slice to a smaller array only when it has four times the
// room needed, and keeps what it holds.
func TestShrunk(t *testing.T) {
	big := make([]int, 10, 100000)
	for i := range big {
		big[i] = i
	}
	got := shrunk(big, 10)
	if cap(got) != 20 || len(got) != 10 || got[9] != 9 {
		t.Errorf("shrunk to len %d, cap %d; want 10, 20 and the same elements", len(got), cap(got))
	}
	if kept := shrunk(big, 30000); cap(kept) != cap(big) {
		t.Errorf("a slice that needs a third of its room moved to cap %d", cap(kept))
	}
	if small := make([]int, 0, minRoom); cap(shrunk(small, 0)) != minRoom {
		t.Error("a slice of minRoom moved")
	}
}

// A pile that ran out leaves the engine's text with the room of a small
// table, not of the pile.
func TestTextGivenBack(t *testing.T) {
	gogc := debug.SetGCPercent(100) // giveBack tunes it
	t.Cleanup(func() { debug.SetGCPercent(gogc) })
	p := newPileTest(t, netstat.Options{All: true})
	print := func() {
		e := p.e
		e.out.reset()
		if err := e.printInet(&e.out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := e.out.writeTo(io.Discard); err != nil {
			t.Fatal(err)
		}
		e.tbl.Sweep(p.now, 0)
		e.tableSize = e.tbl.Size()
		e.giveBack(false)
	}
	const first, rows = 10000, 30000
	for port := range uint16(rows) {
		p.closeFirst(first + port)
	}
	print()
	print()
	peak := p.e.textSize()
	for port := range uint16(rows) {
		p.expire(first + port)
	}
	print() // the pile, gone
	print()
	if got, want := p.e.textSize(), (maxSpareBlocks+1)*(lineBlockSize+lineBlockSize/4); got > want {
		t.Errorf("text of a pile of %d rows took %d bytes, and %d once it ran out; want at most %d", rows, peak, got, want)
	}
}

// The collector's headroom is the heap's without the table: all of it
// without a pile, the rest (at least minHeadroom) with one.
func TestGCPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct{ live, size, want int }{
		{0, 0, 100},
		{10 * mib, 0, 100},
		{10 * mib, mib, 90},
		{50 * mib, 40 * mib, 20},
		{50 * mib, 49 * mib, 8},    // minHeadroom of 4 MiB
		{1000 * mib, 999 * mib, 1}, // at least 1
		{10 * mib, 20 * mib, 40},   // a size over the live heap: minHeadroom
	} {
		if got := gcPercent(c.live, c.size); got != c.want {
			t.Errorf("gcPercent(%d MiB, %d MiB) = %d, want %d", c.live/mib, c.size/mib, got, c.want)
		}
	}
}
