package main

import "testing"

// The TIME_WAIT line cache finds a row's line by ID as the pile is walked,
// never hands out a line printed for another state, and knows the rows the
// options hide (an empty line).
func TestTimeWaitLines(t *testing.T) {
	var c twLines
	for _, r := range []struct {
		id    uint64
		state uint8
		line  string
	}{{3, 6, "three\n"}, {5, 5, "five\n"}, {8, 6, ""}, {9, 6, "nine\n"}} {
		c.buf = append(c.buf, r.line...)
		c.add(r.id, r.state)
	}
	// In order, as printTimeWaits walks the pile.
	from := 0
	for _, tc := range []struct {
		id    uint64
		state uint8
		want  string
		found bool
	}{
		{1, 6, "", false}, {3, 6, "three\n", true}, {4, 6, "", false},
		{5, 6, "", false}, // its state changed since
		{8, 6, "", true},  // hidden
		{9, 6, "nine\n", true}, {10, 6, "", false},
	} {
		b, ok := c.line(tc.id, tc.state, &from)
		if string(b) != tc.want || ok != tc.found {
			t.Errorf("line(%d, %d) = %q, %v; want %q, %v", tc.id, tc.state, b, ok, tc.want, tc.found)
		}
	}
}
