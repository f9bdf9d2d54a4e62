package render

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/snapshot"
)

// tablesFixture is the fixture tree shared with snapshot's tests; its
// netstat/ directory holds real netstat output over the same files (see
// regen.sh there).
const tablesFixture = "../../snapshot/testdata/tables"

func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tablesFixture, "netstat", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fixtureNames() *snapshot.RouteNames {
	return snapshot.NewRouteNames(snapshot.RouteNamesConfig{
		HostsFile:    filepath.Join(tablesFixture, "hosts"),
		NetworksFile: filepath.Join(tablesFixture, "networks"),
		NoDNS:        true,
	})
}

// diffLines reports the first differing line, which says more than two
// whole tables.
func diffLines(t *testing.T, got, want string) {
	t.Helper()
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("line %d:\n got %q\nwant %q\n\nwhole output:\n%s", i+1, gl, wl, got)
		}
	}
}

func TestRoutesMatchNetstat(t *testing.T) {
	netDir := filepath.Join(tablesFixture, "proc", "net")
	v4, err := snapshot.ReadRoutes(netDir)
	if err != nil {
		t.Fatal(err)
	}
	v6, err := snapshot.ReadRoutes6(netDir)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		golden string
		v6     bool
		opts   RouteOptions
	}{
		{"rn", false, RouteOptions{}},
		{"rne", false, RouteOptions{Extend: 1}},
		{"rnee", false, RouteOptions{Extend: 2}},
		// netstat keeps two bits of its -e count: -eeee is -e.
		{"rne", false, RouteOptions{Extend: 4}},
		{"rn", false, RouteOptions{Extend: 5}},
		{"rnee", false, RouteOptions{Extend: 6}},
		{"r", false, RouteOptions{Names: fixtureNames()}},
		{"6rn", true, RouteOptions{}},
		{"6r", true, RouteOptions{Names: fixtureNames()}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d", c.golden, c.opts.Extend), func(t *testing.T) {
			var err error
			var buf bytes.Buffer
			if c.v6 {
				err = Routes6(&buf, v6, c.opts)
			} else {
				err = Routes(&buf, v4, c.opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			diffLines(t, buf.String(), golden(t, c.golden))
		})
	}
}

func TestRouteFlags(t *testing.T) {
	cases := []struct {
		flags    uint32
		v4, v6   string
		describe string
	}{
		{0x0003, "UG", "UG", "gateway"},
		{0x0205, "!H", "U!H", "reject host: IPv4 replaces U with !"},
		{0x80200001, "Uol", "Un", "local: IPv6 shows only no-next-hop"},
		{0x00200200, "!o", "!n", "IPv6 default reject"},
	}
	for _, c := range cases {
		if got := RouteFlags(c.flags); got != c.v4 {
			t.Errorf("%s: RouteFlags(%#x) = %q, want %q", c.describe, c.flags, got, c.v4)
		}
		if got := Route6Flags(c.flags); got != c.v6 {
			t.Errorf("%s: Route6Flags(%#x) = %q, want %q", c.describe, c.flags, got, c.v6)
		}
	}
}

func TestRoutesJSON(t *testing.T) {
	rows, err := snapshot.ParseRoutes([]byte("Iface\tDestination\n"+
		"va\t00003C0A\t0200090A\t0003\t0\t0\t5\t0000FFFF\t1340\t1000\t0\n"+
		"va\t00003D0A\t0200090A\t0002\t0\t0\t5\t0000FFFF\t0\t0\t0\n"), "route")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := RoutesJSON(&buf, rows); err != nil {
		t.Fatal(err)
	}
	want := `{"family":"inet","destination":"10.60.0.0","gateway":"10.9.0.2","genmask":"255.255.0.0","flags":"UG","metric":5,"ref":0,"use":0,"iface":"va","mss":1340,"window":1000,"irtt":0}` + "\n"
	if buf.String() != want {
		t.Errorf("got %s\nwant %s(the route without U must be left out, as netstat leaves it out)", buf.String(), want)
	}
}

func TestRouteCacheMatchesNetstat(t *testing.T) {
	netDir := filepath.Join(tablesFixture, "proc", "net")
	v4, err := snapshot.ReadRouteCache(netDir)
	if err != nil {
		t.Fatal(err)
	}
	v6, err := snapshot.ReadRoutes6(netDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		golden string
		v6     bool
		opts   RouteOptions
	}{
		{"rC", false, RouteOptions{Names: fixtureNames()}},
		{"rnC", false, RouteOptions{}},
		{"rCe", false, RouteOptions{Names: fixtureNames(), Extend: 1}},
		{"rCee", false, RouteOptions{Names: fixtureNames(), Extend: 2}},
		{"rnCee", false, RouteOptions{Extend: 2}},
		{"6rC", true, RouteOptions{Names: fixtureNames()}},
		{"6rnC", true, RouteOptions{}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			var buf bytes.Buffer
			if c.v6 {
				err = Routes6Cache(&buf, v6, c.opts)
			} else {
				err = RouteCache(&buf, v4, c.opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			diffLines(t, buf.String(), golden(t, c.golden))
		})
	}
	// -eee: the title alone, as for the FIB.
	var buf bytes.Buffer
	if err := RouteCache(&buf, v4, RouteOptions{Extend: 3}); err != nil || buf.String() != "Kernel IP routing cache\n" {
		t.Errorf("-eee: %q, %v; want the title alone", buf.String(), err)
	}
}

func TestRouteCacheJSON(t *testing.T) {
	rows := []snapshot.CachedRoute{{Iface: "va", Dest: netip.MustParseAddr("10.50.0.9"), Gateway: netip.MustParseAddr("10.9.0.2"),
		Source: netip.MustParseAddr("10.9.0.1"), SpecDst: netip.MustParseAddr("10.9.0.1"), Flags: snapshot.RTFGateway,
		Use: 1, MTU: 1500, TOS: 0x10, HHRef: -1}}
	var buf bytes.Buffer
	if err := RouteCacheJSON(&buf, rows); err != nil {
		t.Fatal(err)
	}
	want := `{"family":"inet","cache":true,"source":"10.9.0.1","destination":"10.50.0.9","gateway":"10.9.0.2","flags":"G","metric":0,"ref":0,"use":1,"iface":"va","mss":1500,"window":0,"irtt":0,"tos":16,"hhref":-1,"hhuptod":0,"specdst":"10.9.0.1"}` + "\n"
	if buf.String() != want {
		t.Errorf("got %s\nwant %s", buf.String(), want)
	}
}
