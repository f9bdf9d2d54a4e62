package tracer

import (
	"encoding/binary"
	"errors"
	"testing"
)

// fakeRing is a ring over ordinary memory laid out as the kernel's: data
// twice in a row, so that a record crossing the end reads straight on.
type fakeRing struct {
	r          ring
	cons, prod uint64
	size       uint64
}

func newFakeRing(size uint64) *fakeRing {
	f := &fakeRing{size: size}
	f.r = ring{data: make([]byte, 2*size), mask: size - 1, publishEvery: size / 4, epfd: -1, wakefd: -1}
	f.r.consumer, f.r.producer = &f.cons, &f.prod
	return f
}

// put writes a record of payload at the producer position with header bits
// flags, as the kernel would, and moves the producer on.
func (f *fakeRing) put(payload []byte, flags uint32) {
	rec := make([]byte, ringHeaderSize+len(payload))
	binary.LittleEndian.PutUint32(rec, uint32(len(payload))|flags)
	copy(rec[ringHeaderSize:], payload)
	for i, c := range rec {
		off := (f.prod + uint64(i)) & (f.size - 1)
		f.r.data[off], f.r.data[off+f.size] = c, c
	}
	f.prod += (uint64(len(rec)) + 7) &^ 7
}

func TestRingReadsRecordsInOrder(t *testing.T) {
	f := newFakeRing(256)
	// 40-byte records: the sixth crosses the end of the data pages.
	var want [][]byte
	for i := 0; i < 12; i++ {
		p := make([]byte, 32)
		for j := range p {
			p[j] = byte(i)
		}
		flags := uint32(0)
		if i == 3 {
			flags = ringDiscardBit // skipped
		} else {
			want = append(want, p)
		}
		f.put(p, flags)
		if i == 5 {
			// Read what is there before the rest is written, so the
			// consumer makes room as the kernel requires.
			want = readAll(t, f, want)
		}
	}
	want = readAll(t, f, want)
	if len(want) != 0 {
		t.Fatalf("%d records not read", len(want))
	}
	if f.cons != f.prod {
		t.Errorf("consumer position %d after reading everything, producer at %d", f.cons, f.prod)
	}
}

// readAll reads until the ring is empty, checking each record against the
// head of want, and returns the rest of want.
func readAll(t *testing.T, f *fakeRing, want [][]byte) [][]byte {
	t.Helper()
	f.r.flushed.Store(true) // at the end, return instead of waiting
	defer f.r.flushed.Store(false)
	for {
		rec, err := f.r.next(0)
		if errors.Is(err, errRingFlushed) {
			return want
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || string(rec) != string(want[0]) {
			t.Fatalf("read %v, want %v", rec, want[:min(1, len(want))])
		}
		want = want[1:]
	}
}

// The consumer position is stored in batches: after publishEvery bytes, and
// when the reader has caught up, but not after each record, and never past
// the record just handed out, which the kernel could then write over.
func TestRingStoresPositionInBatches(t *testing.T) {
	f := newFakeRing(1024) // publishEvery: 256 bytes
	for i := 0; i < 10; i++ {
		f.put(make([]byte, 56), 0) // 64 bytes a record
	}
	var stores []uint64
	for i := 0; i < 10; i++ {
		if _, err := f.r.next(0); err != nil {
			t.Fatal(err)
		}
		if start := uint64(64 * i); f.cons > start {
			t.Fatalf("record %d, at %d, handed out with the consumer position at %d", i, start, f.cons)
		}
		stores = append(stores, f.cons)
	}
	want := []uint64{0, 0, 0, 0, 256, 256, 256, 256, 512, 512}
	for i := range want {
		if stores[i] != want[i] {
			t.Fatalf("consumer positions after each record: %v, want %v", stores, want)
		}
	}
	if f.r.pending() != true {
		t.Error("pending: false with 128 bytes read but not yet stored")
	}
	f.r.flushed.Store(true)
	if _, err := f.r.next(0); !errors.Is(err, errRingFlushed) {
		t.Fatalf("next on an empty flushed ring: %v", err)
	}
	if f.cons != 640 || f.r.pending() {
		t.Errorf("caught up: consumer position %d (want 640), pending %v", f.cons, f.r.pending())
	}
}

// A record still being written stops the reader there; it is read once
// committed.
func TestRingWaitsForCommit(t *testing.T) {
	f := newFakeRing(256)
	f.put([]byte("12345678"), ringBusyBit)
	f.r.end = f.prod
	if rec, ok, err := f.r.record(); ok || rec != nil || err != nil {
		t.Fatalf("busy record: got %q, %v, %v", rec, ok, err)
	}
	binary.LittleEndian.PutUint32(f.r.data[0:], 8) // committed
	if rec, ok, err := f.r.record(); !ok || string(rec) != "12345678" || err != nil {
		t.Fatalf("committed record: got %q, %v, %v", rec, ok, err)
	}
}

// A length that runs past the producer position is corruption, reported
// rather than read out of bounds.
func TestRingRejectsCorruptLength(t *testing.T) {
	f := newFakeRing(256)
	f.put([]byte("12345678"), 0)
	binary.LittleEndian.PutUint32(f.r.data[0:], 200)
	f.r.end = f.prod
	if _, _, err := f.r.record(); err == nil {
		t.Fatal("a record longer than what was produced was read")
	}
}
