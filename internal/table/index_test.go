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
}

// BenchmarkLiveIndex is the live index of a busy server: 100k established
// connections, cold in cache, and per op a lookup of one of them, the
// oldest one's close and a new connection.
func BenchmarkLiveIndex(b *testing.B) {
	const n = 100000
	x := newLiveIndex()
	rng := rand.New(rand.NewPCG(5, 6))
	key := func(i int) Key {
		return Key{Local: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: byte(i >> 16)}, LPort: uint16(i),
			Remote: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}, RPort: 9511}
	}
	rows := make([]*Conn, 2*n)
	for i := range rows {
		rows[i] = &Conn{}
	}
	for i := range n {
		x.put(key(i), rows[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	next := n
	for range b.N {
		if x.get(key(next-n+1+rng.IntN(n-1))) == nil {
			b.Fatal("row missing")
		}
		k := key(next - n)
		x.del(k, x.get(k))
		x.put(key(next), rows[next%len(rows)])
		next++
	}
}
