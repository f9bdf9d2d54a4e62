package live

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
)

// gcTuner sizes the garbage collector's headroom by the part of the heap
// that makes garbage. Go lets the heap grow by GOGC percent (100) of what
// the last collection found live before it collects again. Under churn
// most of that is the table: the TIME_WAIT pile, its index and its lines,
// which live for a minute, hold no pointers to scan, and which collecting
// never frees. So the headroom is what GOGC would give the rest of the
// heap alone, not the pile's size again.
type gcTuner struct {
	live    []metrics.Sample
	percent int
	off     bool // GOGC is set: the user's choice stands
}

// minHeadroom bounds how often the collector runs when the rest of the
// heap is small.
const minHeadroom = 4 << 20

// tune sets the collector's percent for a table and text of size bytes.
func (g *gcTuner) tune(size int) {
	if g.live == nil {
		g.live = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		g.off = os.Getenv("GOGC") != ""
	}
	if g.off {
		return
	}
	metrics.Read(g.live)
	if g.live[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	if p := gcPercent(int(g.live[0].Value.Uint64()), size); p != g.percent {
		debug.SetGCPercent(p)
		g.percent = p
	}
}

// gcPercent is the GOGC that gives a heap of live bytes, size of them
// the table's, the headroom of the rest (at least minHeadroom): 100 %
// without a pile, less as the pile grows.
func gcPercent(live, size int) int {
	if live <= 0 {
		return 100
	}
	return min(100, max(1, 100*max(live-size, minHeadroom)/live))
}
