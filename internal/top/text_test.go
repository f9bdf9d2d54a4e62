package top

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/olekukonko/tablewriter/pkg/twwidth"
)

// The table: a header line with the host's rates, a header, a row per
// group with its rates over the interval; names escaped; lines cut to the
// width asked.
func TestText(t *testing.T) {
	a := NewAggregator(Options{}, t0)
	c := newSock(100, "evil\x1b[2J\u202e", "10.0.0.1:40000", "10.0.0.2:8080", 0x1000)
	for range 4 {
		feed(a, c.connect(0), c.failed(0, syscall.ECONNREFUSED))
	}
	feed(a, c.connect(0), c.failed(0, syscall.ETIMEDOUT))
	rep := interval(a, 2*time.Second)
	var tx Text
	lines, err := tx.Lines(rep, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 {
		t.Fatalf("lines %q, want the header line, the table's and one row", lines)
	}
	for _, want := range []string{"socktrace top " + rep.End.Format("15:04:05") + " (2s, by process,remote): 2.5 connects/s, 0 accepts/s, 2.5 failed/s",
		"now 0 SYN_SENT, 0 SYN_RECV, 0 TIME_WAIT; 0 events lost"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header line %q lacks %q", lines[0], want)
		}
	}
	if f := strings.Fields(lines[1]); strings.Join(f[:6], " ") != "PID COMM CONTAINER REMOTE CONN/s ACC/s" {
		t.Errorf("table header %q", lines[1])
	}
	row := lines[2]
	for _, want := range []string{`100 evil\x1b[2J\xe2\x80\xae - 10.0.0.2:8080`, "ECONNREFUSED 2 ETIMEDOUT 0.5"} {
		if !strings.Contains(strings.Join(strings.Fields(row), " "), want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	if strings.ContainsAny(strings.Join(lines, "\n"), "\x1b\u202e") {
		t.Errorf("a name is not escaped: %q", lines)
	}
	cut, err := tx.Lines(rep, 40)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range cut {
		if twwidth.Width(l) > 40 {
			t.Errorf("line %q is wider than 40 columns", l)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{rate(0, time.Second), "0"},
		{rate(5, time.Second+213*time.Microsecond), "5"},
		{rate(1, 5*time.Second), "0.2"},
		{rate(1234, time.Second), "1234"},
		{byteRate(1023, time.Second), "1023"},
		{byteRate(1536, time.Second), "1.5K"},
		{byteRate(3<<30, time.Second), "3.0G"},
		{micros(-1), "-"},
		{micros(62), "62us"},
		{micros(1500), "1.50ms"},
		{micros(2_500_000), "2.50s"},
		{micros(600_000_000), "10.0m"},
		{micros(7200_000_000), "2.0h"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}
