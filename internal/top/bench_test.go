package top

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/tracer"
)

// BenchmarkAdd is the per-event path: a loopback churn's events (a
// client's connect, its establishment, its TIME_WAIT entry and end; the
// server's accept and close; a refused connect now and then) over 1000
// clients, each to its own server port. An interval ends every 100k
// events, as a second of churn would.
func BenchmarkAdd(b *testing.B) { benchmarkAdd(b, Options{}) }

func benchmarkAdd(b *testing.B, o Options) {
	const clients = 1000
	var evs []tracer.Event
	for i := range clients {
		port := 40000 + i
		c := newSock(uint32(100+i%10), "client", "10.0.0.1:"+strconv.Itoa(port), "10.0.0.2:"+strconv.Itoa(1000+i), uint64(0x1000*(i+1)))
		s := newSock(1, "server", "10.0.0.2:"+strconv.Itoa(1000+i), "10.0.0.1:"+strconv.Itoa(port), uint64(0x1000*(i+1)+0x800))
		evs = append(evs, c.connect(0), c.established(0, 50*time.Microsecond), s.accept(0),
			c.ends(0, time.Millisecond, 100, 200, true), s.ends(0, time.Millisecond, 200, 100, false),
			c.timeWaitEnd(0))
		if i%10 == 0 {
			evs = append(evs, c.connect(0), c.failed(0, syscall.ECONNREFUSED))
		}
	}
	a := NewAggregator(o, t0)
	var rep Report
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		a.Add(&evs[i%len(evs)])
		if i%100_000 == 99_999 {
			a.Interval(&rep, t0)
		}
	}
}
