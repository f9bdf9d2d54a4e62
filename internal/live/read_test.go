package live

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/table"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// The backlog applies its batches in the order they were read, reuses them,
// and refuses more than maxBacklog.
func TestBacklog(t *testing.T) {
	var b backlog
	now := time.Now()
	ev := func(old, new tcpstate.State, d time.Duration) tracer.Event {
		return tracer.Event{Time: now.Add(d), Kind: tracer.KindState, Old: old, New: new, Family: syscall.AF_INET,
			Local:  netip.MustParseAddrPort("127.0.0.1:40000"),
			Remote: netip.MustParseAddrPort("127.0.0.1:80"), Flags: tracer.FlagBornKnown}
	}
	connect := append(b.take(), ev(tcpstate.Close, tcpstate.SynSent, 0))
	refused := append(b.take(), ev(tcpstate.SynSent, tcpstate.Close, time.Millisecond))
	if !b.add(connect) || !b.add(refused) {
		t.Fatal("backlog refused two batches")
	}
	tbl := table.New(table.Config{ProcRoot: t.TempDir()})
	b.apply(tbl)
	// In the wrong order the close would come first and the connect
	// would leave a live row.
	if n, gone := len(tbl.Live()), len(tbl.Gone()); gone != 1 || n != 0 {
		t.Errorf("after connect, refused: %d live rows and %d gone, want 0 and 1", n, gone)
	}
	if c := tbl.Counts(); c.Connects != 1 || c.Failed[0] != 1 {
		t.Errorf("counts %+v, want 1 connect and 1 failed", *c)
	}
	if len(b.batches) != 0 || len(b.spare) != min(2, maxSpare) {
		t.Errorf("after apply: %d queued, %d spare; want 0 and 2", len(b.batches), len(b.spare))
	}
	if s := b.take(); len(s) != 0 || cap(s) != readBatch {
		t.Errorf("a reused batch has len %d cap %d, want 0 and %d", len(s), cap(s), readBatch)
	}
	for i := range maxBacklog {
		if !b.add(b.take()) {
			t.Fatalf("batch %d refused, want room for %d", i, maxBacklog)
		}
	}
	if b.add(b.take()) {
		t.Errorf("batch %d taken, want at most %d", maxBacklog+1, maxBacklog)
	}
}
