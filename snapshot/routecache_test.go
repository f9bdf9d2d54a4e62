package snapshot

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadRouteCache(t *testing.T) {
	rows, err := ReadRouteCache(filepath.Join(tablesDir, "proc", "net"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 8 {
		t.Fatalf("got %d routes, want 8", len(rows))
	}
	a := netip.MustParseAddr
	want := CachedRoute{Iface: "va", Dest: a("10.50.0.9"), Gateway: a("10.9.0.2"), Source: a("10.9.0.1"),
		SpecDst: a("10.9.0.1"), Flags: RTFGateway, Use: 1, MTU: 1500, Window: 1000, IRTT: 30, TOS: 0x10, HHRef: -1}
	if rows[2] != want {
		t.Errorf("route 3 = %+v\nwant %+v", rows[2], want)
	}
	if r := rows[6]; r.Iface != "averylonginterf" || r.Flags != 0x000B0005 || r.Source != a("0.0.0.0") {
		t.Errorf("route 7 = %+v", r)
	}
}

// Since Linux 3.6 the file is its header alone: no rows, no error.
func TestRouteCacheOfThisKernel(t *testing.T) {
	data, err := os.ReadFile("/proc/net/rt_cache")
	if err != nil {
		t.Skip(err)
	}
	rows, err := ParseRouteCache(data, "/proc/net/rt_cache")
	if err != nil || len(rows) != 0 {
		t.Errorf("got %d rows, %v; want none", len(rows), err)
	}
}

func TestRouteCacheMalformed(t *testing.T) {
	header := "Iface\tDestination\tGateway \tFlags\t\tRefCnt\tUse\tMetric\tSource\t\tMTU\tWindow\tIRTT\tTOS\tHHRef\tHHUptod\tSpecDst\n"
	good := "lo\t0100090A\t0100090A\t80000000\t0\t3\t0\t0200090A\t0\t0\t0\t00\t-1\t0\t0100090A\n"
	data := header + good +
		"lo\t0100090A\t0100090A\t80000000\t0\t3\t0\t0200090A\t0\t0\t0\tZZ\t-1\t0\t0100090A\n" +
		"lo\t0100090A\t0100090A\t80000000\t0\t3\t0\t0200090A\t0\t0\t0\t00\t-1\t0\n" +
		"lo\t0100090\n" + good
	rows, err := ParseRouteCache([]byte(data), "rt_cache")
	if len(rows) != 2 {
		t.Errorf("got %d rows, want the 2 good ones", len(rows))
	}
	wantLineErrors(t, err, "rt_cache", 3, 4, 5)

	// Linux 2.0's layout, which no kernel that runs socktrace prints.
	old := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tSource\t\tMTU\tWindow\tIRTT\tHH\tARP\n"
	if _, err := ParseRouteCache([]byte(old), "rt_cache"); err == nil || !strings.Contains(err.Error(), "layout") {
		t.Errorf("Linux 2.0 layout: %v, want an error naming the layout", err)
	}
}
