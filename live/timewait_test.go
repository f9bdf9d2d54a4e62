package live

import (
	"testing"

	"github.com/socktrace/socktrace/tcpstate"
)

// The TIME_WAIT line cache finds a row's line by ID as the pile is walked,
// never hands out a line printed for another state, and knows the rows the
// options hide (an empty line).
func TestTimeWaitLines(t *testing.T) {
	var c twLines
	const tw, fw2 = tcpstate.TimeWait, tcpstate.FinWait2
	for _, r := range []struct {
		id    uint64
		state tcpstate.State
		line  string
	}{{3, tw, "three\n"}, {5, fw2, "five\n"}, {8, tw, ""}, {9, tw, "nine\n"}} {
		c.buf = append(c.buf, r.line...)
		c.add(r.id, r.state)
	}
	// In order, as printTimeWaits walks the pile.
	from := 0
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
		b, ok := c.line(tc.id, tc.state, &from)
		if string(b) != tc.want || ok != tc.found {
			t.Errorf("line(%d, %d) = %q, %v; want %q, %v", tc.id, tc.state, b, ok, tc.want, tc.found)
		}
	}
}
