package table

import (
	"math/rand/v2"
	"testing"
)

// The index finds every position it holds by hash, forgets removed ones,
// and keeps finding the rest when removals shift runs back, also runs that
// wrap round the end of the table and runs of equal hashes.
func TestHashIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x hashIndex[uint64]
	want := map[uint64]uint64{} // position -> hash
	check := func(step int) {
		t.Helper()
		if x.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, x.len(), len(want))
		}
		for pos, h := range want {
			slot, ok := x.find(h, func(p uint64) bool { return p == pos })
			if !ok || x.slots[slot].row != pos {
				t.Fatalf("step %d: position %d (hash %#x) not found", step, pos, h)
			}
		}
	}
	for step := 1; step <= 20000; step++ {
		if len(want) < 3000 && rng.IntN(3) != 0 {
			// Few distinct hashes, many near the table's end.
			h := uint64(rng.IntN(64)) | uint64(rng.IntN(2))<<10 - 3
			x.insert(h, uint64(step))
			want[uint64(step)] = h
		} else {
			for pos, h := range want { // a random one
				slot, ok := x.find(h, func(p uint64) bool { return p == pos })
				if !ok {
					t.Fatalf("step %d: position %d missing before removal", step, pos)
				}
				x.remove(slot)
				delete(want, pos)
				if _, ok := x.find(h, func(p uint64) bool { return p == pos }); ok {
					t.Fatalf("step %d: position %d found after removal", step, pos)
				}
				break
			}
		}
		if step%500 == 0 {
			check(step)
		}
	}
	check(-1)
	x.reset()
	if _, ok := x.find(1, func(uint64) bool { return true }); ok || x.len() != 0 {
		t.Fatal("reset left rows")
	}
}

// Once most rows are removed, shrink moves the rest to a smaller table,
// where each is still found.
func TestHashIndexShrinks(t *testing.T) {
	var x hashIndex[uint64]
	for pos := uint64(1); pos <= 10000; pos++ {
		x.insert(pos*0x9e3779b97f4a7c15, pos)
	}
	for pos := uint64(101); pos <= 10000; pos++ {
		slot, ok := x.find(pos*0x9e3779b97f4a7c15, func(p uint64) bool { return p == pos })
		if !ok {
			t.Fatalf("position %d not found", pos)
		}
		x.remove(slot)
	}
	before := len(x.slots)
	x.shrink()
	if len(x.slots) != minIndexSlots {
		t.Errorf("%d rows in %d slots, shrunk to %d; want %d", x.len(), before, len(x.slots), minIndexSlots)
	}
	for pos := uint64(1); pos <= 100; pos++ {
		if _, ok := x.find(pos*0x9e3779b97f4a7c15, func(p uint64) bool { return p == pos }); !ok {
			t.Fatalf("position %d not found after shrinking", pos)
		}
	}
}
