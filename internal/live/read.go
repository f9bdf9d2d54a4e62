package live

import (
	"errors"
	"sync"

	"github.com/socktrace/socktrace/internal/table"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tracer"
)

// readBatch is how many events the reader applies per lock: under churn a
// lock per event cost more than applying it.
const readBatch = 256

// maxBacklog bounds the batches waiting for the table (under a second of
// loopback churn); past it the reader waits for the lock and the ring
// buffer holds what comes. maxSpare bounds the empty
// batches kept for reuse after a long wait.
const (
	maxBacklog = 512
	maxSpare   = 64
)

// read applies events to the table until the tracer stops, in batches of
// what the ring holds. It never waits for a table being printed: under
// churn the printer can hold the lock longer than the ring lasts, so a
// batch read meanwhile goes to the backlog, which the next holder of the
// lock applies first.
func (e *Engine) read() {
	batch := e.backlog.take()
	for {
		var err error
		for n := len(batch); n < cap(batch); n++ {
			// Decoded in place: an Event is a few hundred bytes.
			if err = e.tr.Next(&batch[:n+1][n]); err != nil {
				break
			}
			batch = batch[:n+1]
			if !e.tr.Behind() {
				break
			}
		}
		if e.t.Programs {
			e.seePrograms(batch)
		}
		switch {
		case e.mu.TryLock():
			e.backlog.apply(e.tbl)
			applyEvents(e.tbl, batch)
			e.mu.Unlock()
			batch = batch[:0]
		case e.backlog.add(batch):
			batch = e.backlog.take()
		default:
			e.mu.Lock()
			e.backlog.apply(e.tbl)
			applyEvents(e.tbl, batch)
			e.mu.Unlock()
			batch = batch[:0]
		}
		if err != nil {
			if errors.Is(err, tracer.ErrStopped) {
				err = nil
			}
			e.done <- err
			return
		}
	}
}

// seePrograms has the table read the program name of each owner in batch
// it does not know yet, while the process may still run: netstat's name is
// argv[0]'s, which /proc loses at the process's exit. Before the table's
// lock: a new process costs a few /proc reads.
func (e *Engine) seePrograms(batch []tracer.Event) {
	var last snapshot.Owner
	for i := range batch {
		ev := &batch[i]
		if !ev.Has(tracer.FlagOwnerKnown) || ev.PID == 0 {
			continue
		}
		if o := ev.Owner(); o != last {
			e.tbl.SeeProgram(o)
			last = o
		}
	}
}

func applyEvents(tbl *table.Table, batch []tracer.Event) {
	for i := range batch {
		tbl.Apply(&batch[i])
	}
}

// backlog holds batches of events, in the order they were read, until the
// table's lock is free.
type backlog struct {
	mu      sync.Mutex
	batches [][]tracer.Event
	spare   [][]tracer.Event
}

// add queues batch, unless the backlog is full.
func (b *backlog) add(batch []tracer.Event) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.batches) >= maxBacklog {
		return false
	}
	b.batches = append(b.batches, batch)
	return true
}

// take returns an empty batch.
func (b *backlog) take() []tracer.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.spare); n > 0 {
		s := b.spare[n-1]
		b.spare = b.spare[:n-1]
		return s
	}
	return make([]tracer.Event, 0, readBatch)
}

// apply applies the queued batches to tbl, whose lock the caller holds.
func (b *backlog) apply(tbl *table.Table) {
	b.mu.Lock()
	batches := b.batches
	b.batches = nil
	b.mu.Unlock()
	for _, batch := range batches {
		applyEvents(tbl, batch)
	}
	b.mu.Lock()
	for _, batch := range batches {
		if len(b.spare) < maxSpare {
			b.spare = append(b.spare, batch[:0])
		}
	}
	b.mu.Unlock()
}
