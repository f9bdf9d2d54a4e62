package table

import "unsafe"

// hashIndex finds rows by their key's hash: an open-addressed table of
// (hash, row) slots, probed linearly, at most half full. A slot keeps 31
// bits of the hash, which place it and tell most other rows apart before
// their keys are compared, with the top bit set: 0 marks an empty slot,
// so a row can be any value, and with a 32-bit row (a pile position) a
// slot is 8 bytes. Rows whose hashes are equal share a probe sequence;
// the caller tells them apart by key, so no second map is needed for them.
//
// Under churn the TIME_WAIT pile holds up to tcp_max_tw_buckets rows and
// every connection asks for one that is cold in cache: entering TIME_WAIT
// (is an older row there?), leaving it, and the peer's FIN. A probe here
// reads one cache line (four slots), where a Go map read two (its control
// word, then the slot).
type hashIndex[R any] struct {
	slots []indexSlot[R] // a power of two long
	n     int
}

type indexSlot[R any] struct {
	h   uint32 // tag(hash); 0: empty
	row R
}

// tag is what a slot keeps of hash h.
func tag(h uint64) uint32 { return uint32(h) | 1<<31 }

const minIndexSlots = 1024

func (x *hashIndex[R]) len() int { return x.n }

// size is the bytes its slots take.
func (x *hashIndex[R]) size() int { return cap(x.slots) * int(unsafe.Sizeof(indexSlot[R]{})) }

// find walks h's probe sequence to the first slot whose row same accepts,
// or else to the empty slot that ends it.
func (x *hashIndex[R]) find(h uint64, same func(R) bool) (slot int, found bool) {
	if len(x.slots) == 0 {
		return -1, false
	}
	t := tag(h)
	mask := len(x.slots) - 1
	for i := int(t) & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.h == 0 {
			return i, false
		}
		if s.h == t && same(s.row) {
			return i, true
		}
	}
}

// insert adds a row of hash h.
func (x *hashIndex[R]) insert(h uint64, row R) {
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	t := tag(h)
	mask := len(x.slots) - 1
	i := int(t) & mask
	for x.slots[i].h != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = indexSlot[R]{t, row}
	x.n++
}

func (x *hashIndex[R]) grow() { x.resize(max(minIndexSlots, 2*len(x.slots))) }

// shrink moves the rows to a smaller table once they fill less than a
// sixteenth of it (a pile that ran out), leaving it a quarter full: far
// from both this and insert's limit of half full, so that an index that
// keeps its size does not move back and forth.
func (x *hashIndex[R]) shrink() {
	if len(x.slots) <= minIndexSlots || 16*x.n >= len(x.slots) {
		return
	}
	size := minIndexSlots
	for size < 4*x.n {
		size *= 2
	}
	x.resize(size)
}

// resize moves the rows to a table of size slots.
func (x *hashIndex[R]) resize(size int) {
	old := x.slots
	x.slots = make([]indexSlot[R], size)
	x.n = 0
	for _, s := range old {
		if s.h != 0 {
			x.insert(uint64(s.h), s.row)
		}
	}
}

// remove empties slot i, found by find, and moves later slots of the same
// run back into the hole where their probe sequence allows, so that no
// probe stops early at it.
func (x *hashIndex[R]) remove(i int) {
	mask := len(x.slots) - 1
	x.n--
	for {
		x.slots[i] = indexSlot[R]{}
		j := i
		for {
			j = (j + 1) & mask
			s := x.slots[j]
			if s.h == 0 {
				return
			}
			if home := int(s.h) & mask; !cyclicallyIn(home, i, j) {
				x.slots[i] = s
				i = j
				break
			}
		}
	}
}

// cyclicallyIn says k lies in (i, j] going round the table.
func cyclicallyIn(k, i, j int) bool {
	if i <= j {
		return i < k && k <= j
	}
	return i < k || k <= j
}

// reset empties the index, keeping its room.
func (x *hashIndex[R]) reset() {
	clear(x.slots)
	x.n = 0
}

// each calls yield with every row. yield must not change the index: a
// removal moves rows between slots.
func (x *hashIndex[R]) each(yield func(R) bool) {
	for i := range x.slots {
		if s := &x.slots[i]; s.h != 0 && !yield(s.row) {
			return
		}
	}
}
