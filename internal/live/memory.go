package live

import (
	"runtime/debug"
	"unsafe"

	"github.com/socktrace/socktrace/snapshot"
)

// giveBack lets go of the room that the table just printed did not need,
// which every buffer that held a TIME_WAIT pile would keep otherwise, and
// once the table and its text have shrunk to half their peak, returns
// the memory to the kernel: after a pile ran out the heap has little left
// to collect, and would keep the pile's pages for a long time. The
// snapshot's rows are let go at a full one only: the ones in between do
// not read the pile.
func (e *Engine) giveBack(full bool) {
	if full {
		e.rows = shrunk(e.rows, len(e.rows))
		e.tws.V4, e.tws.V6 = shrunk(e.tws.V4, len(e.tws.V4)), shrunk(e.tws.V6, len(e.tws.V6))
	}
	e.queries = shrunk(e.queries, len(e.queries))
	e.goneTW = shrunk(e.goneTW, len(e.goneTW))
	e.out.shrink()
	size := e.tableSize + e.textSize()
	if e.shrinks.farBelowPeak(size) {
		debug.FreeOSMemory()
	}
	e.gc.tune(size)
}

// textSize is about how many bytes the engine's own buffers take: the
// snapshot's rows and the tables' text.
func (e *Engine) textSize() int {
	n := (cap(e.rows) + cap(e.queries)) * int(unsafe.Sizeof(snapshot.Socket{}))
	n += cap(e.tws.V4)*int(unsafe.Sizeof(snapshot.TimeWait4{})) + cap(e.tws.V6)*int(unsafe.Sizeof(snapshot.TimeWait6{}))
	n += cap(e.out.buf) + cap(e.goneTW) + blocksSize(e.blocks.free)
	return n + blocksSize(e.tw[0].blocks) + blocksSize(e.tw[1].blocks)
}

func blocksSize(blocks []*lineBlock) int {
	n := 0
	for _, b := range blocks {
		n += cap(b.text) + cap(b.rows)*int(unsafe.Sizeof(twLine{}))
	}
	return n
}

// shrinkWatch follows the memory the table and its text take, to tell
// when it has shrunk enough that returning memory to the kernel is worth
// the garbage collection that costs.
type shrinkWatch struct{ peak int }

// minGiveBack is the least shrinking worth a return.
const minGiveBack = 1 << 20

// farBelowPeak takes the latest size and says whether it is at most half
// the peak since the last time it said so, and minGiveBack less.
func (s *shrinkWatch) farBelowPeak(size int) bool {
	if size > s.peak {
		s.peak = size
		return false
	}
	if size > s.peak/2 || s.peak-size < minGiveBack {
		return false
	}
	s.peak = size
	return true
}

// minRoom is the capacity, in elements, that shrunk leaves alone.
const minRoom = 1024

// shrunk is s, moved to a smaller array if it has more than four times the
// room the last table needed: a slice keeps the capacity of its peak
// otherwise, and after a burst of churn that is a TIME_WAIT pile's worth.
// Half the new room is free, so a slice whose need stays is not moved
// again.
func shrunk[S ~[]E, E any](s S, needed int) S {
	if cap(s) <= minRoom || cap(s) <= 4*needed {
		return s
	}
	return append(make(S, 0, max(2*needed, len(s))), s...)
}
