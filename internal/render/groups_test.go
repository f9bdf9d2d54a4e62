package render

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/socktrace/socktrace/snapshot"
)

func TestGroupsMatchNetstat(t *testing.T) {
	netDir := filepath.Join(tablesFixture, "proc", "net")
	v4, err := snapshot.ReadIGMP(netDir)
	if err != nil {
		t.Fatal(err)
	}
	v6, err := snapshot.ReadIGMP6(netDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		golden string
		names  RouteNamer
	}{{"g", fixtureNames()}, {"gn", nil}} {
		var b bytes.Buffer
		if err := GroupsHeader(&b); err != nil {
			t.Fatal(err)
		}
		if err := Groups(&b, append(v4, v6...), tc.names); err != nil {
			t.Fatal(err)
		}
		diffLines(t, b.String(), golden(t, tc.golden))
	}
}

// Interface and host names come from outside: they are escaped.
func TestGroupsEscaped(t *testing.T) {
	rows := []snapshot.Membership{{Iface: "ev\x1bil", Users: 1, Group: netip.MustParseAddr("224.0.0.9")}}
	var b bytes.Buffer
	if err := Groups(&b, rows, namesOf{"224.0.0.9": "a\u202eb"}); err != nil {
		t.Fatal(err)
	}
	if want := `ev\x1bil        1      a\xe2\x80\xaeb` + "\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := GroupsJSON(&b, rows); err != nil {
		t.Fatal(err)
	}
	if want := `{"family":"inet","iface":"ev\u001bil","refcnt":1,"group":"224.0.0.9"}` + "\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// namesOf names the addresses it lists.
type namesOf map[string]string

func (n namesOf) Host(a netip.Addr) string    { return n[a.String()] }
func (n namesOf) Network(a netip.Addr) string { return "" }
