package table

import (
	"math/rand/v2"
	"slices"
	"time"
	"unsafe"

	"github.com/socktrace/socktrace/tcpstate"
)

// timeWaits is the pile, oldest first. Rows are stored in fixed chunks in
// the order they came; a row's place is its position (pos) less the first
// chunk's, so the index holds positions and no pointers. An ended row is
// only marked: the ended rows at the front are dropped once shown, and
// their chunks reused. Rows do not end in the order they came, though: a
// tuple reused by a new connection ends its TIME_WAIT after a second, the
// others run out after 60 s. So when more than half the rows kept have
// ended, the rest are copied together (compact), and get new positions;
// their IDs, which renderers key on, stay.
//
// The index (a hashIndex of positions) is keyed by a hash of the tuple,
// not the tuple: under churn the pile holds up to the kernel's
// tcp_max_tw_buckets, and 8-byte slots of hash and position stay in cache
// where 48-byte tuples would not. A slot keeps a position's low 32 bits:
// the rows kept never span more, so they tell it (indexed).
type timeWaits struct {
	chunks   []*pileChunk // chunks[0][front] is the oldest row kept
	front    int
	firstPos uint64 // position of chunks[0][0]
	nextPos  uint64
	spare    []*pileChunk
	taken    int // chunks taken since the last sweep
	seed     uint64
	index    hashIndex[uint32] // position of each row still in TIME_WAIT, by its key's hash
	gone     []uint64          // positions of the rows that left it and are shown as gone, in the order they left
	nextID   uint64
	mask     uint64 // all ones; a test narrows it to make hashes clash
	finWait2 int    // rows in TIME_WAIT's FIN_WAIT2 substate (awaiting the peer's FIN)
	// recent holds the positions of the rows that last entered the pile
	// awaiting the peer's FIN, by their key's hash: under churn the FIN
	// comes soon after, and finding the row here is cheaper than asking
	// the index (a cold probe per connection). A row another took the slot
	// of is asked of the index.
	recent [recentSlots]uint64
	// awaiting holds the positions of the rows that entered the pile
	// awaiting the peer's FIN (or that a snapshot listed so later), in
	// that order: the FIN of a peer on another host shows in no event, so
	// these rows are looked up. eachAwaiting drops the rows that got it.
	awaiting []uint64
}

// recentSlots holds a few times the rows awaiting a FIN at once under max
// churn: a slot shared by two of them costs an index probe.
const recentSlots = 1 << 14

// chunkRows is a chunk's size: ~0.7 MiB.
const chunkRows = 4096

type pileChunk [chunkRows]TimeWait

// maxSpare bounds the empty chunks kept for reuse.
const maxSpare = 4

func newTimeWaits() *timeWaits {
	// Position 0 is never a row's: recent's empty slots hold it.
	return &timeWaits{seed: rand.Uint64(), firstPos: 1, nextPos: 1, nextID: 1, mask: ^uint64(0)}
}

// len is how many rows are in TIME_WAIT.
func (p *timeWaits) len() int { return p.index.len() }

// size is the bytes the pile holds, room kept for reuse included.
func (p *timeWaits) size() int {
	chunks := (len(p.chunks) + len(p.spare)) * int(unsafe.Sizeof(pileChunk{}))
	return chunks + p.index.size() + cap(p.gone)*8 + int(unsafe.Sizeof(p.recent))
}

// kept is how many rows are stored, ended ones included.
func (p *timeWaits) kept() int { return int(p.nextPos - p.firstPos - uint64(p.front)) }

func (p *timeWaits) hash(k Key) uint64 { return k.hash(p.seed) & p.mask }

// at is the row at position pos, which is kept.
func (p *timeWaits) at(pos uint64) *TimeWait {
	off := pos - p.firstPos
	return &p.chunks[off/chunkRows][off%chunkRows]
}

// each calls yield with the kept rows, oldest first.
func (p *timeWaits) each(yield func(*TimeWait) bool) {
	for pos := p.firstPos + uint64(p.front); pos < p.nextPos; pos++ {
		if !yield(p.at(pos)) {
			return
		}
	}
}

func (p *timeWaits) get(k Key) *TimeWait {
	w, _, _ := p.lookup(k)
	return w
}

// lookup is k's row, or nil, with k's hash and the row's index slot: what
// index.remove and addAt need, so that one change costs one hash and one
// cold probe of the index.
func (p *timeWaits) lookup(k Key) (w *TimeWait, h uint64, slot int) {
	h = p.hash(k)
	slot, ok := p.index.find(h, func(r uint32) bool { return p.at(p.indexed(r)).key == k })
	if !ok {
		return nil, h, -1
	}
	return p.at(p.indexed(p.index.slots[slot].row)), h, slot
}

// indexed is the position of a kept row whose low 32 bits the index holds.
func (p *timeWaits) indexed(r uint32) uint64 { return p.firstPos + uint64(r-uint32(p.firstPos)) }

// add appends a row for k, which has none.
func (p *timeWaits) add(k Key, w TimeWait) *TimeWait { return p.addAt(k, p.hash(k), w) }

// addAt is add with k's hash h.
func (p *timeWaits) addAt(k Key, h uint64, w TimeWait) *TimeWait {
	w.key, w.id = k, p.nextID
	p.nextID++
	if w.state == 0 {
		w.state = tcpstate.TimeWait
	}
	r := p.push(w)
	p.index.insert(h, uint32(r.pos))
	if w.state == tcpstate.FinWait2 {
		p.finWait2++
		p.recent[h%recentSlots] = r.pos
		p.awaiting = append(p.awaiting, r.pos)
	}
	return r
}

// finWait2Row is k's row if it awaits the peer's FIN, else nil; the rows
// that entered the pile lately are looked at first.
func (p *timeWaits) finWait2Row(k Key) *TimeWait {
	w := p.recentRow(k)
	if w == nil {
		w = p.get(k)
	}
	if w == nil || w.state != tcpstate.FinWait2 {
		return nil
	}
	return w
}

// eachAwaiting calls yield with the rows awaiting the peer's FIN, until it
// returns false, and forgets the rows no longer awaiting it. The rows yield
// took go to the back, so that a call stopped early is followed by one that
// starts with the rows it did not reach.
func (p *timeWaits) eachAwaiting(yield func(*TimeWait) bool) {
	kept := p.awaiting[:0]
	taken := 0
	for i, pos := range p.awaiting {
		w := p.awaitingAt(pos)
		if w == nil {
			continue
		}
		if !yield(w) {
			kept = append(kept, p.awaiting[i:]...)
			// Rotated in place: the taken rows after the others.
			slices.Reverse(kept[:taken])
			slices.Reverse(kept[taken:])
			slices.Reverse(kept)
			break
		}
		kept = append(kept, pos)
		taken++
	}
	p.awaiting = kept
}

// awaitingAt is the row at pos if it is kept and still awaits the peer's
// FIN. Positions are never reused: one in range is the row it was.
func (p *timeWaits) awaitingAt(pos uint64) *TimeWait {
	if pos < p.firstPos+uint64(p.front) || pos >= p.nextPos {
		return nil
	}
	if w := p.at(pos); !w.dead && w.state == tcpstate.FinWait2 {
		return w
	}
	return nil
}

// recentRow is k's row if recent still points at it.
func (p *timeWaits) recentRow(k Key) *TimeWait {
	pos := p.recent[p.hash(k)%recentSlots]
	if pos < p.firstPos+uint64(p.front) || pos >= p.nextPos {
		return nil
	}
	if w := p.at(pos); w.key == k && !w.dead {
		return w
	}
	return nil
}

// push stores w after the last row.
func (p *timeWaits) push(w TimeWait) *TimeWait {
	off := p.nextPos - p.firstPos
	if off/chunkRows == uint64(len(p.chunks)) {
		p.chunks = append(p.chunks, p.newChunk())
	}
	w.pos = p.nextPos
	p.nextPos++
	r := &p.chunks[off/chunkRows][off%chunkRows]
	*r = w
	return r
}

func (p *timeWaits) newChunk() *pileChunk {
	p.taken++
	n := len(p.spare)
	if n == 0 {
		return new(pileChunk)
	}
	c := p.spare[n-1]
	p.spare = p.spare[:n-1]
	return c
}

// setState sets the state of w, a row in TIME_WAIT: TIME_WAIT, or the
// substate FIN_WAIT2.
func (p *timeWaits) setState(w *TimeWait, state tcpstate.State) {
	fw2 := tcpstate.FinWait2
	switch {
	case w.state == fw2 && state != fw2:
		p.finWait2--
	case w.state != fw2 && state == fw2:
		p.finWait2++
		p.awaiting = append(p.awaiting, w.pos)
	}
	w.state = state
}

// finCame records that w's timewait socket got the peer's FIN at at: it
// left its FIN_WAIT2 substate for TIME_WAIT, and its timer restarted.
func (p *timeWaits) finCame(w *TimeWait, at int64) {
	p.setState(w, tcpstate.TimeWait)
	w.entered = at
}

// unindexed accounts for w, found by lookup, leaving the index.
func (p *timeWaits) unindexed(w *TimeWait) {
	if w.state == tcpstate.FinWait2 {
		p.finWait2--
	}
}

// remove ends k's row without showing it as gone (the caller does), and
// returns a copy of it.
func (p *timeWaits) remove(k Key) (TimeWait, bool) {
	w, _, slot := p.lookup(k)
	if w == nil {
		return TimeWait{}, false
	}
	p.index.remove(slot)
	p.unindexed(w)
	w.dead = true
	ended := *w
	p.dropFront()
	return ended, true
}

// end ends k's row as the kernel's timewait socket did: it stays, shown as
// gone, until Sweep.
func (p *timeWaits) end(k Key, at int64, expired bool) *TimeWait {
	w, _, slot := p.lookup(k)
	if w == nil {
		return nil
	}
	p.index.remove(slot)
	p.unindexed(w)
	w.dead, w.goneAt, w.expired, w.listed = true, at, expired, true
	p.gone = append(p.gone, w.pos)
	return w
}

// sweep forgets the gone rows that ended more than linger before now, and
// takes back the room of ended rows.
func (p *timeWaits) sweep(now int64, linger time.Duration) {
	kept := p.gone[:0]
	for _, pos := range p.gone {
		w := p.at(pos)
		if linger > 0 && now-w.goneAt < int64(linger) {
			kept = append(kept, pos)
		} else {
			w.listed = false
		}
	}
	p.gone = shrunk(kept, len(p.gone))
	p.dropFront()
	// The lookups between full snapshots trim the awaiting list; when
	// every snapshot is full, this does.
	if len(p.awaiting) > 2*p.finWait2+chunkRows {
		p.eachAwaiting(func(*TimeWait) bool { return true })
	}
	if needed := p.len() + len(p.gone); p.kept() > 2*needed+chunkRows {
		p.compact()
	}
	p.shrink()
}

// shrink gives back the room of a pile that shrank: a spare chunk for
// each sweep that took none (so that a pile which drained lets them go
// within a few tables), and the index's slots once few are used.
func (p *timeWaits) shrink() {
	if p.taken == 0 && len(p.spare) > 0 {
		p.spare[len(p.spare)-1] = nil
		p.spare = p.spare[:len(p.spare)-1]
	}
	p.taken = 0
	p.index.shrink()
}

// compact copies the rows still needed (in TIME_WAIT, or shown as gone)
// after the others, in order, and drops the old chunks: each row is
// copied about once per time the pile doubles in ended rows.
func (p *timeWaits) compact() {
	old, oldFirst := p.chunks, p.firstPos
	from, to := p.firstPos+uint64(p.front), p.nextPos
	oldAt := func(pos uint64) *TimeWait {
		off := pos - oldFirst
		return &old[off/chunkRows][off%chunkRows]
	}
	p.chunks, p.front, p.firstPos = nil, 0, p.nextPos
	p.index.reset()
	// Positions change; the loop below refills these.
	clear(p.recent[:])
	p.awaiting = p.awaiting[:0]
	for pos := from; pos < to; pos++ {
		w := oldAt(pos)
		if w.dead && !w.listed {
			continue
		}
		r := p.push(*w)
		w.pos = r.pos // where it went, for the gone list below
		if !r.dead {
			h := p.hash(r.key)
			p.index.insert(h, uint32(r.pos))
			if r.state == tcpstate.FinWait2 {
				p.recent[h%recentSlots] = r.pos
				p.awaiting = append(p.awaiting, r.pos)
			}
		}
	}
	for i, pos := range p.gone {
		p.gone[i] = oldAt(pos).pos
	}
	for _, c := range old {
		if len(p.spare) < maxSpare {
			p.spare = append(p.spare, c)
		}
	}
}

// dropFront drops the ended rows at the front that are not shown as gone,
// and the chunks they emptied.
func (p *timeWaits) dropFront() {
	for p.kept() > 0 {
		w := &p.chunks[0][p.front]
		if !w.dead || w.listed {
			return
		}
		if p.front++; p.front == chunkRows {
			p.recycle()
			p.firstPos += chunkRows
			p.front = 0
		}
	}
	// Empty: the next row starts a chunk.
	for len(p.chunks) > 0 {
		p.recycle()
	}
	p.firstPos, p.front = p.nextPos, 0
}

// recycle drops the first chunk, keeping it for reuse.
func (p *timeWaits) recycle() {
	if len(p.spare) < maxSpare {
		p.spare = append(p.spare, p.chunks[0])
	}
	p.chunks[0] = nil
	p.chunks = p.chunks[1:]
}
