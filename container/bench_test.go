package container

import (
	"testing"
	"time"
)

// BenchmarkLookup is a lookup per event of a stream whose owners are a few
// processes, each asked about again and again: what socktrace trace --json
// pays per event for its container field.
func BenchmarkLookup(b *testing.B) {
	f := newFixture(b)
	pids := []uint32{4242, 4243, 977, 31000}
	for _, pid := range pids {
		f.setCgroup(b, int(pid), "/system.slice/docker-"+id1+".scope")
	}
	r := NewResolver(Config{ProcRoot: f.proc, PodLogs: f.pods})
	c := comm("churn")
	// Event times a few microseconds apart.
	var times [1024]time.Time
	for i := range times {
		times[i] = time.Unix(1000, int64(7000*i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if r.Lookup(pids[i%len(pids)], 0, c, times[i%len(times)]) == nil {
			b.Fatal("no container")
		}
		i++
	}
}
