package live

import (
	"fmt"
	"testing"

	"github.com/socktrace/socktrace/tcpstate"
)

// The TIME_WAIT line cache finds a row's line by ID as the pile is walked,
// never hands out a line printed for another state, and knows the rows the
// options hide (an empty line).
func TestTimeWaitLines(t *testing.T) {
	var c twLines
	var pool blockPool
	const tw, fw2 = tcpstate.TimeWait, tcpstate.FinWait2
	for _, r := range []struct {
		id    uint64
		state tcpstate.State
		line  string
	}{{3, tw, "three\n"}, {5, fw2, "five\n"}, {8, tw, ""}, {9, tw, "nine\n"}} {
		c.add(r.id, r.state, []byte(r.line), &pool)
	}
	// In order, as printTimeWaits walks the pile.
	r := twReader{c: &c, pool: &pool}
	for _, tc := range []struct {
		id    uint64
		state tcpstate.State
		want  string
		found bool
	}{
		{1, tw, "", false}, {3, tw, "three\n", true}, {4, tw, "", false},
		{5, tw, "", false}, // its state changed since
		{8, tw, "", true},  // hidden
		{9, tw, "nine\n", true}, {10, tw, "", false},
	} {
		b, ok := r.line(tc.id, tc.state)
		if string(b) != tc.want || ok != tc.found {
			t.Errorf("line(%d, %d) = %q, %v; want %q, %v", tc.id, tc.state, b, ok, tc.want, tc.found)
		}
	}
}

// Table after table, each built from the last as printTimeWaits does, the
// lines stay right across blocks, and the blocks of a pile that shrank go
// back: the lines take about their size once.
func TestTimeWaitLinesBlocks(t *testing.T) {
	var pool blockPool
	var tw [2]twLines
	line := func(id uint64) string { return fmt.Sprintf("row %d %*s\n", id, int(id%97), "") }
	size := func(blocks []*lineBlock) (n int) {
		for _, b := range blocks {
			n += cap(b.text) + cap(b.rows)*16
		}
		return n
	}
	// The pile holds rows first..last-1; each table skips every seventh
	// one, as if it had ended, and has it back the next, as if new.
	first, last := uint64(1), uint64(1)
	for table := range 40 {
		old, cur := &tw[table%2], &tw[1-table%2]
		if table < 20 {
			last += 2000 // filling
		} else {
			first += 2000 // running out
		}
		r := twReader{c: old, pool: &pool}
		bytes, rows := 0, 0
		for id := first; id < last; id++ {
			if id%7 == uint64(table%7) {
				continue
			}
			want := line(id)
			b, ok := r.line(id, tcpstate.TimeWait)
			if ok && string(b) != want {
				t.Fatalf("table %d: row %d's line %q, want %q", table, id, b, want)
			}
			cur.add(id, tcpstate.TimeWait, []byte(want), &pool)
			bytes, rows = bytes+len(want), rows+1
		}
		r.done()
		pool.trim()
		if len(old.blocks) != 0 {
			t.Fatalf("table %d: the last table's lines were not emptied", table)
		}
		// Room: the lines, the tails of blocks a line did not fit in,
		// row records with append's room, and the spare blocks with
		// theirs.
		got := size(cur.blocks) + size(pool.free)
		if want := bytes + bytes/8 + rows*32 + (maxSpareBlocks+1)*(lineBlockSize+lineBlockSize/4); got > want {
			t.Errorf("table %d: %d lines of %d bytes take %d bytes, want at most %d", table, rows, bytes, got, want)
		}
	}
}
