package main

import "testing"

// The TIME_WAIT line cache finds a row's line by ID, in order or by binary
// search, never hands out a line printed for another state, and knows the
// rows the options hide (an empty line).
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
	for _, tc := range []struct {
		id    uint64
		state uint8
		want  string
		found bool
	}{
		{3, 6, "three\n", true}, {5, 5, "five\n", true}, {9, 6, "nine\n", true},
		{5, 6, "", false}, // its state changed since
		{8, 6, "", true},  // hidden
		{4, 6, "", false}, {1, 6, "", false}, {10, 6, "", false},
	} {
		hint := 1 // a hint from an earlier search, before or past the row
		b, ok := c.find(tc.id, tc.state, &hint)
		if string(b) != tc.want || ok != tc.found {
			t.Errorf("find(%d, %d) = %q, %v; want %q, %v", tc.id, tc.state, b, ok, tc.want, tc.found)
		}
	}
	// In order, as printTimeWaits walks the pile.
	from := 0
	for _, id := range []uint64{1, 3, 4, 9} {
		b, ok := c.line(id, 6, &from)
		want := map[uint64]string{3: "three\n", 9: "nine\n"}[id]
		if string(b) != want || ok != (want != "") {
			t.Errorf("line(%d) = %q, %v; want %q", id, b, ok, want)
		}
	}
}
