package snapshot

import (
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

const tablesDir = "testdata/tables"

func TestReadRoutes(t *testing.T) {
	rows, err := ReadRoutes(filepath.Join(tablesDir, "proc", "net"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 {
		t.Fatalf("got %d routes, want 7", len(rows))
	}
	// ip route add 10.60.0.0/16 via 10.9.0.2 metric 5 advmss 1300 window 1000
	want := Route{Iface: "va", Dest: netip.MustParseAddr("10.60.0.0"), Gateway: netip.MustParseAddr("10.9.0.2"),
		Mask: netip.MustParseAddr("255.255.0.0"), Flags: RTFUp | RTFGateway, Metric: 5, MSS: 1340, Window: 1000}
	if rows[3] != want {
		t.Errorf("route 4 = %+v\nwant %+v", rows[3], want)
	}
	if r := rows[1]; r.Iface != "*" || r.Flags != RTFUp|RTFReject {
		t.Errorf("unreachable route = %+v, want iface * and flags U|REJECT", r)
	}
}

func TestReadRoutes6(t *testing.T) {
	rows, err := ReadRoutes6(filepath.Join(tablesDir, "proc", "net"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 15 {
		t.Fatalf("got %d routes, want 15", len(rows))
	}
	want := Route6{Dest: netip.MustParsePrefix("fd00:77::/48"), Source: netip.MustParsePrefix("::/0"),
		NextHop: netip.MustParseAddr("fd00:9::2"), Metric: 7, RefCnt: 2, Flags: RTFUp | RTFGateway, Iface: "va"}
	if rows[2] != want {
		t.Errorf("route 3 = %+v\nwant %+v", rows[2], want)
	}
	if rows[5].Metric != 0xffffffff || rows[5].Flags != RTFReject|RTFNoNextHop {
		t.Errorf("default reject route = %+v", rows[5])
	}
}

// A malformed line costs that line only, and the error says where it is.
func TestRoutesMalformed(t *testing.T) {
	dir := filepath.Join(tablesDir, "bad")
	rows, err := ReadRoutes(dir)
	if len(rows) != 2 || rows[1].Metric != 5 {
		t.Errorf("got %+v, want the two good routes", rows)
	}
	wantLineErrors(t, err, filepath.Join(dir, "route"), 3)

	rows6, err := ReadRoutes6(dir)
	if len(rows6) != 2 || rows6[1].Iface != "lo" {
		t.Errorf("got %+v, want the two good routes", rows6)
	}
	wantLineErrors(t, err, filepath.Join(dir, "ipv6_route"), 2, 3)
}

// wantLineErrors checks that err holds exactly one *ParseError per given
// line of file.
func wantLineErrors(t *testing.T, err error, file string, lines ...int) {
	t.Helper()
	var got []int
	for _, e := range unjoin(err) {
		var pe *ParseError
		if !errors.As(e, &pe) {
			t.Errorf("error %v is not a *ParseError", e)
			continue
		}
		if pe.File != file {
			t.Errorf("error names %s, want %s", pe.File, file)
		}
		if !strings.Contains(pe.Error(), file) {
			t.Errorf("error text %q does not name the file", pe.Error())
		}
		got = append(got, pe.Line)
	}
	if len(got) != len(lines) {
		t.Fatalf("errors on lines %v, want %v (err: %v)", got, lines, err)
	}
	for i := range got {
		if got[i] != lines[i] {
			t.Errorf("errors on lines %v, want %v", got, lines)
		}
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestRouteNames(t *testing.T) {
	n := NewRouteNames(RouteNamesConfig{
		HostsFile:    filepath.Join(tablesDir, "hosts"),
		NetworksFile: filepath.Join(tablesDir, "networks"),
		NoDNS:        true,
	})
	cases := []struct {
		got, want string
	}{
		{n.Host(netip.MustParseAddr("10.9.0.2")), "averyveryverylonghostname.example.org"},
		{n.Host(netip.MustParseAddr("10.9.0.3")), "gw3"},
		{n.Host(netip.MustParseAddr("10.9.0.4")), ""},
		{n.Network(netip.MustParseAddr("10.60.0.0")), "testnet"}, // "testnet 10.60": glibc pads to 10.60.0.0
		{n.Network(netip.MustParseAddr("10.50.0.0")), "verylongnetworkname-abcdefghij"},
		{n.Network(netip.MustParseAddr("10.0.0.0")), ""},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: got %q, want %q", i, c.got, c.want)
		}
	}
}

func FuzzParseRoutes(f *testing.F) {
	for _, name := range []string{"proc/net/route", "bad/route"} {
		f.Add(readFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseRoutes(data, "route")
		checkParsed(t, len(rows), err, data)
	})
}

func FuzzParseRoutes6(f *testing.F) {
	for _, name := range []string{"proc/net/ipv6_route", "bad/ipv6_route"} {
		f.Add(readFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseRoutes6(data, "ipv6_route")
		checkParsed(t, len(rows), err, data)
	})
}

func readFixture(f *testing.F, name string) []byte {
	b, err := readProcFile(filepath.Join(tablesDir, name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// checkParsed holds for every parser: rows plus bad lines never outnumber
// the lines, and every error is a *ParseError.
func checkParsed(t *testing.T, rows int, err error, data []byte) {
	lines := strings.Count(string(data), "\n") + 1
	errs := unjoin(err)
	if rows+len(errs) > lines {
		t.Fatalf("%d rows and %d errors from %d lines", rows, len(errs), lines)
	}
	for _, e := range errs {
		var pe *ParseError
		if !errors.As(e, &pe) {
			t.Fatalf("error %v is not a *ParseError", e)
		}
	}
}
