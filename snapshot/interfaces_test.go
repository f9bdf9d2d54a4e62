package snapshot

import (
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadNetDev(t *testing.T) {
	rows, err := ReadNetDev(filepath.Join(tablesDir, "proc", "net"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
	}
	if want := []string{"lo", "vb", "va", "tun0"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
}

func TestNetDevMalformed(t *testing.T) {
	dir := filepath.Join(tablesDir, "bad")
	rows, err := ReadNetDev(dir)
	want := []DevStats{
		{Name: "lo", RxBytes: 1, RxPackets: 2, RxErrors: 3, RxDropped: 4, RxFIFO: 5, RxFrame: 6, RxCompressed: 7, RxMulticast: 8,
			TxBytes: 9, TxPackets: 10, TxErrors: 11, TxDropped: 12, TxFIFO: 13, Collisions: 14, TxCarrier: 15, TxCompressed: 16},
		{Name: "vb", RxBytes: 17, RxPackets: 2, RxErrors: 3, RxDropped: 4, RxFIFO: 5, RxFrame: 6, RxCompressed: 7, RxMulticast: 8,
			TxBytes: 9, TxPackets: 10, TxErrors: 11, TxDropped: 12, TxFIFO: 13, Collisions: 14, TxCarrier: 15, TxCompressed: 16},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got %+v\nwant %+v", rows, want)
	}
	wantLineErrors(t, err, filepath.Join(dir, "dev"), 4, 5)
}

func TestReadIfInet6(t *testing.T) {
	rows, err := ReadIfInet6(filepath.Join(tablesDir, "proc", "net"))
	if err != nil {
		t.Fatal(err)
	}
	want := IfAddr6{Addr: netip.MustParseAddr("::1"), PrefixLen: 128, Scope: 0x10, Iface: "lo"}
	found := false
	for _, r := range rows {
		found = found || r == want
	}
	if !found || len(rows) != 4 {
		t.Errorf("got %+v, want 4 addresses with %+v", rows, want)
	}
}

func TestSortInterfaceNames(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"lo", "eth10", "eth2", "eth0", "eth2"}, []string{"eth0", "eth2", "eth10", "lo"}},
		{[]string{"va", "lo", "vb", "va:1", "lo"}, []string{"lo", "va", "va:1", "vb"}},
		// nstrcmp ranks a digit before the end of a name, so netstat lists
		// br0 before br when br comes last.
		{[]string{"br-1", "br0", "br"}, []string{"br-1", "br0", "br"}},
	}
	for _, c := range cases {
		if got := SortInterfaceNames(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("SortInterfaceNames(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// fakeLinks stands in for the ioctls.
type fakeLinks struct {
	links  map[string]Link
	labels []string
}

func (f fakeLinks) Link(name string) (Link, error) {
	l, ok := f.links[name]
	if !ok {
		return l, errors.New("no such device")
	}
	return l, nil
}

func (f fakeLinks) Labels() ([]string, error) { return f.labels, nil }

func TestListInterfaces(t *testing.T) {
	links := fakeLinks{
		links: map[string]Link{
			"lo": {MTU: 65536}, "tun0": {MTU: 1500}, "va": {MTU: 1500}, "va:1": {MTU: 1500},
		},
		labels: []string{"lo", "va", "va:1"},
	}
	got, err := ListInterfaces(filepath.Join(tablesDir, "proc", "net"), links)
	var names []string
	for _, i := range got {
		names = append(names, i.Name)
		if (i.Stats == nil) != (i.Name == "va:1") {
			t.Errorf("%s: stats %v; only the label has none", i.Name, i.Stats)
		}
	}
	if want := []string{"lo", "tun0", "va", "va:1"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names %v, want %v (vb vanished)", names, want)
	}
	if err == nil {
		t.Error("the vanished vb must be reported")
	}
}

func FuzzParseNetDev(f *testing.F) {
	f.Add(readFixture(f, "proc/net/dev"))
	f.Add(readFixture(f, "bad/dev"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseNetDev(data, "dev")
		checkParsed(t, len(rows), err, data)
	})
}

func FuzzParseIfInet6(f *testing.F) {
	f.Add(readFixture(f, "proc/net/if_inet6"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseIfInet6(data, "if_inet6")
		checkParsed(t, len(rows), err, data)
	})
}

// The comparator is netstat's and not a strict order, so odd names can
// even be listed twice, as netstat would list them; but none is lost, and
// a name given twice in a row is listed once.
func FuzzSortInterfaceNames(f *testing.F) {
	f.Add("eth10", "eth2", "lo")
	f.Add("0", " ", "0")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		if strings.ContainsRune(a+b+c, 0) {
			t.Skip("interface names are C strings")
		}
		got := SortInterfaceNames([]string{a, b, c, c})
		if len(got) > 3 {
			t.Fatalf("%q kept a repeat of %q", got, c)
		}
		seen := map[string]bool{}
		for _, n := range got {
			seen[n] = true
		}
		if !seen[a] || !seen[b] || !seen[c] {
			t.Fatalf("names lost: %q from %q %q %q", got, a, b, c)
		}
	})
}
