package table

import (
	"math/rand/v2"
	"testing"
)

// The live index against a plain map, through random puts (new rows, and
// rows replacing others on a key) and deletes (of the row a key holds, and
// of a row it no longer holds).
func TestLiveIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		mask uint64
	}{
		{"hashes apart", ^uint64(0)},
		{"hashes clash", 0x7}, // 8 hashes for hundreds of keys
	} {
		t.Run(tc.name, func(t *testing.T) { testLiveIndex(t, tc.mask) })
	}
}

func testLiveIndex(t *testing.T, mask uint64) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := newLiveIndex()
	x.mask = mask
	want := map[Key]*Conn{}
	key := func() Key { return Key{LPort: uint16(rng.IntN(300)), V6: rng.IntN(2) == 0} }
	for step := range 20000 {
		k := key()
		switch rng.IntN(3) {
		case 0, 1:
			c := &Conn{}
			x.put(k, c)
			want[k] = c
		default:
			c := want[k]
			if rng.IntN(4) == 0 {
				c = &Conn{} // not k's row: nothing happens
			} else {
				delete(want, k)
			}
			x.del(k, c)
		}
		if got := x.get(k); got != want[k] {
			t.Fatalf("step %d: get(%v) = %p, want %p", step, k, got, want[k])
		}
	}
	if x.len() != len(want) {
		t.Fatalf("len %d, want %d", x.len(), len(want))
	}
	seen := map[Key]bool{}
	for k, c := range x.each {
		if want[k] != c || seen[k] {
			t.Fatalf("each: %v = %p (seen before: %v), want %p", k, c, seen[k], want[k])
		}
		seen[k] = true
	}
	for k, c := range want {
		if x.get(k) != c || !seen[k] {
			t.Fatalf("%v: get %p, in each %v; want %p", k, x.get(k), seen[k], c)
		}
	}
	if clashes := mask != ^uint64(0); clashes != (len(x.clash) > 0) {
		t.Fatalf("%d rows in clash with hash mask %#x", len(x.clash), mask)
	}
}
