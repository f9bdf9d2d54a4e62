package table

import (
	"hash/maphash"
	"time"

	"github.com/socktrace/socktrace/tracer"
)

// timeWaits is the pile, oldest first. Rows end mostly in the order they
// came (the timer is the same for all), so an ended row is only marked, and
// the ended rows at the front are dropped once shown. Rows are stored in
// fixed chunks, in ID order: a row's place is its ID less the first
// chunk's, rows never move (a pointer to one stays valid while it is
// kept), and a chunk whose rows were all dropped is reused for new rows, so
// a steady pile neither copies nor allocates.
//
// The index is keyed by a hash of the tuple, not the tuple: the pile is
// ~110k rows under churn, and a map of 8-byte keys is several times faster
// than one of 48-byte keys at that size (it stays in cache). A row whose
// hash another row already has goes to clash, keyed by its tuple.
type timeWaits struct {
	chunks  []*pileChunk // chunks[0][front] is the oldest row kept
	front   int
	firstID uint64 // ID of chunks[0][0]
	spare   []*pileChunk
	seed    maphash.Seed
	index   map[uint64]uint64 // ID of each row still in TIME_WAIT, by its key's hash
	clash   map[Key]uint64    // the same, for rows whose hash index has for another key
	gone    []uint64          // IDs of the rows that left it and are shown as gone, in the order they left
	nextID  uint64
	mask    uint64 // all ones; a test narrows it to make hashes clash
}

// chunkRows is a chunk's size: ~0.6 MiB.
const chunkRows = 4096

type pileChunk [chunkRows]TimeWait

// maxSpare bounds the empty chunks kept for reuse.
const maxSpare = 4

func newTimeWaits() *timeWaits {
	return &timeWaits{seed: maphash.MakeSeed(), index: make(map[uint64]uint64),
		clash: make(map[Key]uint64), firstID: 1, nextID: 1, mask: ^uint64(0)}
}

// len is how many rows are in TIME_WAIT.
func (p *timeWaits) len() int { return len(p.index) + len(p.clash) }

// kept is how many rows are stored, ended ones included.
func (p *timeWaits) kept() int { return int(p.nextID - p.firstID - uint64(p.front)) }

func (p *timeWaits) hash(k Key) uint64 { return maphash.Comparable(p.seed, k) & p.mask }

// byID is the row with that ID, if it is still kept.
func (p *timeWaits) byID(id uint64) *TimeWait {
	if id < p.firstID+uint64(p.front) || id >= p.nextID {
		return nil
	}
	off := id - p.firstID
	return &p.chunks[off/chunkRows][off%chunkRows]
}

// each calls yield with the kept rows, oldest first.
func (p *timeWaits) each(yield func(*TimeWait) bool) {
	for id := p.firstID + uint64(p.front); id < p.nextID; id++ {
		if !yield(p.byID(id)) {
			return
		}
	}
}

func (p *timeWaits) get(k Key) *TimeWait {
	w, _, _ := p.lookup(k)
	return w
}

// lookup is k's row, or nil, with k's hash and whether the row is indexed
// in clash: what unindexAt and addAt need, so that one change costs one
// hash and one cold probe of the index.
func (p *timeWaits) lookup(k Key) (w *TimeWait, h uint64, inClash bool) {
	h = p.hash(k)
	if id, ok := p.index[h]; ok {
		if w := p.byID(id); w.key == k {
			return w, h, false
		}
	}
	if len(p.clash) == 0 {
		return nil, h, false
	}
	id, ok := p.clash[k]
	if !ok {
		return nil, h, false
	}
	return p.byID(id), h, true
}

// unindexAt drops k's row, found by lookup, from the index.
func (p *timeWaits) unindexAt(k Key, h uint64, inClash bool) {
	if inClash {
		delete(p.clash, k)
	} else {
		delete(p.index, h)
	}
}

// add appends a row for k, which has none.
func (p *timeWaits) add(k Key, w TimeWait) *TimeWait { return p.addAt(k, p.hash(k), w) }

// addAt is add with k's hash h.
func (p *timeWaits) addAt(k Key, h uint64, w TimeWait) *TimeWait {
	w.key, w.id = k, p.nextID
	if w.state == 0 {
		w.state = uint8(tracer.TimeWait)
	}
	if p.index[h] == 0 {
		p.index[h] = w.id
	} else {
		p.clash[k] = w.id
	}
	off := p.nextID - p.firstID
	if off/chunkRows == uint64(len(p.chunks)) {
		p.chunks = append(p.chunks, p.newChunk())
	}
	p.nextID++
	r := &p.chunks[off/chunkRows][off%chunkRows]
	*r = w
	return r
}

func (p *timeWaits) newChunk() *pileChunk {
	n := len(p.spare)
	if n == 0 {
		return new(pileChunk)
	}
	c := p.spare[n-1]
	p.spare = p.spare[:n-1]
	return c
}

// remove ends k's row without showing it as gone (the caller does), and
// returns a copy of it.
func (p *timeWaits) remove(k Key) (TimeWait, bool) {
	w, h, inClash := p.lookup(k)
	if w == nil {
		return TimeWait{}, false
	}
	p.unindexAt(k, h, inClash)
	w.dead = true
	ended := *w
	p.dropFront()
	return ended, true
}

// end ends k's row as the kernel's timewait socket did: it stays, shown as
// gone, until Sweep.
func (p *timeWaits) end(k Key, at int64, expired bool) *TimeWait {
	w, h, inClash := p.lookup(k)
	if w == nil {
		return nil
	}
	p.unindexAt(k, h, inClash)
	w.dead, w.goneAt, w.expired, w.listed = true, at, expired, true
	p.gone = append(p.gone, w.id)
	return w
}

// sweep forgets the gone rows that ended more than linger before now.
func (p *timeWaits) sweep(now int64, linger time.Duration) {
	kept := p.gone[:0]
	for _, id := range p.gone {
		w := p.byID(id)
		if linger > 0 && now-w.goneAt < int64(linger) {
			kept = append(kept, id)
		} else {
			w.listed = false
		}
	}
	p.gone = kept
	p.dropFront()
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
			p.firstID += chunkRows
			p.front = 0
		}
	}
	// Empty: the next row starts a chunk.
	for len(p.chunks) > 0 {
		p.recycle()
	}
	p.firstID, p.front = p.nextID, 0
}

// recycle drops the first chunk, keeping it for reuse.
func (p *timeWaits) recycle() {
	if len(p.spare) < maxSpare {
		p.spare = append(p.spare, p.chunks[0])
	}
	p.chunks[0] = nil
	p.chunks = p.chunks[1:]
}
