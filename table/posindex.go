package table

// posIndex finds the pile's rows by their key's hash: an open-addressed
// table of (hash, position) pairs, probed linearly, at most half full.
//
// Under churn the pile holds up to tcp_max_tw_buckets rows and every
// connection asks for one that is cold in cache: entering TIME_WAIT (is an
// older row there?), leaving it, and the peer's FIN. A probe here reads one
// cache line (four slots), where a Go map read two (its control word, then
// the slot) and inserting after a miss probed again. Rows whose hashes are
// equal share a probe sequence; the caller tells them apart by key, so no
// second map is needed for them.
type posIndex struct {
	slots []posSlot // a power of two long
	n     int
}

// posSlot is one row's place; position 0 (never a row's) marks it empty.
type posSlot struct{ h, pos uint64 }

const minIndexSlots = 1024

func (x *posIndex) len() int { return x.n }

// find walks h's probe sequence to the first slot whose position same
// accepts, or else to the empty slot that ends it.
func (x *posIndex) find(h uint64, same func(pos uint64) bool) (slot int, found bool) {
	if len(x.slots) == 0 {
		return -1, false
	}
	mask := len(x.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s.pos == 0 {
			return i, false
		}
		if s.h == h && same(s.pos) {
			return i, true
		}
	}
}

// insert adds a row of hash h at pos.
func (x *posIndex) insert(h, pos uint64) {
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	mask := len(x.slots) - 1
	i := int(h) & mask
	for x.slots[i].pos != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = posSlot{h, pos}
	x.n++
}

func (x *posIndex) grow() {
	old := x.slots
	x.slots = make([]posSlot, max(minIndexSlots, 2*len(old)))
	x.n = 0
	for _, s := range old {
		if s.pos != 0 {
			x.insert(s.h, s.pos)
		}
	}
}

// remove empties slot i, found by find, and moves later slots of the same
// run back into the hole where their probe sequence allows, so that no
// probe stops early at it.
func (x *posIndex) remove(i int) {
	mask := len(x.slots) - 1
	x.n--
	for {
		x.slots[i] = posSlot{}
		j := i
		for {
			j = (j + 1) & mask
			s := x.slots[j]
			if s.pos == 0 {
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
func (x *posIndex) reset() {
	clear(x.slots)
	x.n = 0
}
