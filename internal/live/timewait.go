package live

import (
	"io"
	"time"

	"github.com/socktrace/socktrace/internal/table"
	"github.com/socktrace/socktrace/tcpstate"
)

// twLines holds the printed line of each TIME_WAIT row, by the row's ID:
// the pile is most of each table under churn, and its rows do not change,
// so each is formatted once. Rows stay in ID order, as the pile is. A row
// whose state a snapshot changed (a timewait socket listed in its FIN_WAIT2
// substate, then in TIME_WAIT) is formatted again. A row the options hide
// has an empty line.
//
// Each table's lines are built from the last table's, in blocks of a
// fixed size: a block of the last table's lines goes back to the pool once
// they are read, and takes the next table's. So the lines take their size
// once, not twice, nothing is copied to grow, and a pile that shrinks
// gives its blocks back.
type twLines struct {
	blocks []*lineBlock
}

// lineBlock holds the lines of consecutive rows, none split between two
// blocks.
type lineBlock struct {
	text []byte
	rows []twLine
}

// twLine is one row's line in a block.
type twLine struct {
	id    uint64
	len   uint32
	state tcpstate.State
}

// lineBlockSize is a block's room for text; a line longer than that gets
// a block of its own. maxBlockRows bounds its rows, whose lines may be
// empty.
const (
	lineBlockSize = 64 << 10
	maxBlockRows  = lineBlockSize / 16
)

// add appends row id's line in state.
func (c *twLines) add(id uint64, state tcpstate.State, line []byte, pool *blockPool) {
	n := len(c.blocks)
	if n == 0 || !c.blocks[n-1].fits(line) {
		c.blocks = append(c.blocks, pool.get(len(line)))
		n++
	}
	b := c.blocks[n-1]
	b.text = append(b.text, line...)
	b.rows = append(b.rows, twLine{id: id, len: uint32(len(line)), state: state})
}

func (b *lineBlock) fits(line []byte) bool {
	return len(b.text)+len(line) <= cap(b.text) && len(b.rows) < maxBlockRows
}

// twReader reads a twLines in ID order, giving its blocks to the pool as
// it leaves them; done empties the twLines.
type twReader struct {
	c        *twLines
	pool     *blockPool
	block    int // the block of the next row
	row, off int // the next row in it, and where its line starts
}

// line is row id's line in state, if the lines have it. Valid until the
// next call.
func (r *twReader) line(id uint64, state tcpstate.State) ([]byte, bool) {
	for r.block < len(r.c.blocks) {
		b := r.c.blocks[r.block]
		if r.row == len(b.rows) {
			r.pool.put(b)
			r.c.blocks[r.block] = nil
			r.block, r.row, r.off = r.block+1, 0, 0
			continue
		}
		l := b.rows[r.row]
		if l.id > id {
			return nil, false
		}
		r.row++
		r.off += int(l.len)
		if l.id == id && l.state == state {
			return b.text[r.off-int(l.len) : r.off], true
		}
		if l.id == id {
			return nil, false // formatted in another state
		}
	}
	return nil, false
}

// done gives the blocks not read yet to the pool and empties the lines.
func (r *twReader) done() {
	c := r.c
	for _, b := range c.blocks[r.block:] {
		r.pool.put(b)
	}
	clear(c.blocks)
	c.blocks = c.blocks[:0]
}

// maxSpareBlocks bounds the empty blocks kept between tables: a table
// takes blocks as it gives the last table's back, so it needs few.
const maxSpareBlocks = 4

// blockPool holds empty blocks for TIME_WAIT lines.
type blockPool struct{ free []*lineBlock }

// get returns an empty block with room for a line of n bytes.
func (p *blockPool) get(n int) *lineBlock {
	if k := len(p.free); k > 0 && n <= lineBlockSize {
		b := p.free[k-1]
		p.free[k-1] = nil
		p.free = p.free[:k-1]
		return b
	}
	return &lineBlock{text: make([]byte, 0, max(n, lineBlockSize))}
}

func (p *blockPool) put(b *lineBlock) {
	if cap(b.text) == lineBlockSize {
		b.text, b.rows = b.text[:0], b.rows[:0]
		p.free = append(p.free, b)
	}
}

// trim lets go of the blocks a table did not take.
func (p *blockPool) trim() {
	if len(p.free) > maxSpareBlocks {
		clear(p.free[maxSpareBlocks:])
		p.free = p.free[:maxSpareBlocks]
	}
}

// printTimeWaits prints the TIME_WAIT pile, oldest first, and formats into
// goneTW the rows whose timewait socket ended since the last table (expired,
// reused by a new connection, or killed), for printInet to print after the
// other gone rows. Under churn that is as many rows as connections; most
// were in the last table, whose line only needs the gone note added (the
// tracer's table mode sends a TIME_WAIT's end without owner or birth, so no
// column changed). With -o each row's timer changes, and a filter on
// lifetime may take a row in or out as it ages: nothing is cached then.
func (e *Engine) printTimeWaits(w *tableText) error {
	old, cur := &e.tw[e.twLast], &e.tw[1-e.twLast]
	e.goneTW = e.goneTW[:0]
	now := e.tr.Clock()
	last := twReader{c: old, pool: &e.blocks}
	gone := appendWriter{&e.goneTW}
	for r := range e.tbl.TimeWaits {
		b, ok := last.line(r.ID(), r.State())
		ok = ok && !e.t.Timers && !e.varies
		var err error
		switch {
		case r.ShownGone():
			err = e.printGoneTimeWait(gone, r, b, ok, now)
		case r.Ended():
		case ok:
			cur.add(r.ID(), r.State(), b, &e.blocks)
		default:
			e.line = e.line[:0]
			r.Conn(&e.conn, now)
			err = e.printConn(appendWriter{&e.line}, &e.conn)
			cur.add(r.ID(), r.State(), e.line, &e.blocks)
		}
		if err != nil {
			return err
		}
	}
	last.done()
	e.blocks.trim()
	e.twLast = 1 - e.twLast
	for _, b := range cur.blocks {
		w.ref(b.text)
	}
	return nil
}

// printGoneTimeWait prints r, a row shown as gone; line is its line in the
// last table, if ok.
func (e *Engine) printGoneTimeWait(w io.Writer, r *table.TimeWait, line []byte, ok bool, now time.Time) error {
	switch {
	case ok && len(line) == 0:
		return nil // the options hide it
	case ok && !e.t.JSON:
		return e.r.GoneRowFrom(w, line, e.goneOf(r))
	}
	r.Conn(&e.conn, now)
	return e.printConn(w, &e.conn)
}
