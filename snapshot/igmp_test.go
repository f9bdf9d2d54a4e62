package snapshot

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
)

func TestReadIGMP(t *testing.T) {
	dir := filepath.Join(tablesDir, "proc", "net")
	rows, err := ReadIGMP(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	want := []Membership{
		{"lo", 1, a("224.0.0.1")},
		{"va", 2, a("224.0.0.251")},
		{"va", 1, a("224.0.0.252")},
		{"va", 1, a("224.0.0.1")},
		{"averylonginterf", 1, a("224.0.0.1")}, // 15 bytes: no padding before the ':'
	}
	if !slices.Equal(rows, want) {
		t.Errorf("got %v\nwant %v", rows, want)
	}

	rows, err = ReadIGMP6(dir)
	if err != nil {
		t.Fatal(err)
	}
	want = []Membership{
		{"lo", 1, a("ff02::1")},
		{"lo", 1, a("ff01::1")},
		{"va", 1, a("ff02::1:ff00:1")},
		{"va", 2, a("ff02::fb")},
		{"va", 1, a("ff02::1")},
		{"averylonginterf", 1, a("ff02::1")},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("got %v\nwant %v", rows, want)
	}
}

// A malformed line costs that line only (and, for an interface line, the
// groups under it, which then have no interface); the error says where.
func TestIGMPMalformed(t *testing.T) {
	const header = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n"
	for _, tc := range []struct {
		data  string
		rows  int
		lines []int
	}{
		{header, 0, nil},
		{header + "1\tlo        :     1      V3\n\t\t\t\t010000E0     1 0:00000000\t\t0\n", 1, nil},
		{header + "\t\t\t\t010000E0     1 0:00000000\t\t0\n", 0, []int{2}},
		{header + "x\tlo        :     1      V3\n\t\t\t\t010000E0     1 0:00000000\t\t0\n", 0, []int{2, 3}},
		{header + "1 lo        :     1      V3\n", 0, []int{2}},
		{header + "1\t          :     1      V3\n", 0, []int{2}},
		{header + "1\tlo\n", 0, []int{2}},
		{header + "1\tlo        :     1      V3\n\t\t\t\t010000E     1 0:0\t\t0\n\t\t\t\tZ10000E0     1\n\t\t\t\t010000E0\n\t\t\t\t010000E0     1 0:00000000\t\t0\n", 1, []int{3, 4, 5}},
	} {
		rows, err := ParseIGMP([]byte(tc.data), "igmp")
		if len(rows) != tc.rows {
			t.Errorf("%q: %d rows, want %d", tc.data, len(rows), tc.rows)
		}
		if tc.lines == nil && err != nil {
			t.Errorf("%q: %v", tc.data, err)
		}
		if tc.lines != nil {
			wantLineErrors(t, err, "igmp", tc.lines...)
		}
	}
	data := "1    lo              ff020000000000000000000000000001     1 0000000C 0\n" +
		"1    lo              ff02000000000000000000000000001     1 0000000C 0\n" +
		"1\n" +
		"x    lo              ff020000000000000000000000000001     1 0000000C 0\n" +
		"1    lo              ff020000000000000000000000000001     -1 0000000C 0\n"
	rows, err := ParseIGMP6([]byte(data), "igmp6")
	if len(rows) != 1 {
		t.Errorf("igmp6: %d rows, want 1", len(rows))
	}
	wantLineErrors(t, err, "igmp6", 2, 3, 4, 5)
}
