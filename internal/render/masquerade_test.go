package render

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/conntrack"
	"github.com/socktrace/socktrace/snapshot"
	"golang.org/x/sys/unix"
)

type masqNames struct{ numeric bool }

func (n masqNames) Host(a netip.Addr) string {
	if !n.numeric && a == netip.MustParseAddr("198.51.100.2") {
		return "server.example"
	}
	return ""
}

func (n masqNames) Service(p snapshot.Proto, port uint16) string {
	if !n.numeric && p == snapshot.TCP && port == 80 {
		return "http"
	}
	return ""
}

func (masqNames) User(uint32) string { return "" }

// masqRow is a masqueraded TCP flow: 192.0.2.2:40000 to 198.51.100.2:80,
// its source translated to 198.51.100.1:41000.
func masqRow() conntrack.Row {
	ip := netip.MustParseAddr
	return conntrack.Row{Flow: conntrack.Flow{
		ID:       99,
		Proto:    unix.IPPROTO_TCP,
		Orig:     conntrack.Tuple{Src: ip("192.0.2.2"), Dst: ip("198.51.100.2"), SrcPort: 40000, DstPort: 80},
		Reply:    conntrack.Tuple{Src: ip("198.51.100.2"), Dst: ip("198.51.100.1"), SrcPort: 80, DstPort: 41000},
		Timeout:  7199 * time.Second,
		TCPState: 3, HasState: true,
		Status: 1<<1 | 1<<2 | 1<<4, // seen reply, assured, SNAT
		Mark:   42,
	}}
}

func TestMasqueradeText(t *testing.T) {
	icmp := conntrack.Row{Flow: conntrack.Flow{
		Proto:   unix.IPPROTO_ICMP,
		Orig:    conntrack.Tuple{Src: netip.MustParseAddr("192.0.2.2"), Dst: netip.MustParseAddr("198.51.100.2"), ICMPID: 51, ICMPType: 8},
		Reply:   conntrack.Tuple{Src: netip.MustParseAddr("198.51.100.2"), Dst: netip.MustParseAddr("198.51.100.1"), ICMPID: 3},
		Timeout: 29 * time.Second,
		Status:  1 << 4,
	}}
	gone := masqRow()
	gone.Gone, gone.Lifetime, gone.Timeout = true, 3210*time.Millisecond, 0
	healed := masqRow()
	healed.Gone, healed.Healed, healed.Timeout = true, true, 0
	dnat := masqRow()
	dnat.Status = 1 << 5
	dnat.Reply.Dst, dnat.Reply.DstPort, dnat.Reply.SrcPort = netip.MustParseAddr("192.0.2.2"), 40000, 8080

	for _, tc := range []struct {
		name string
		m    Masquerade
		row  conntrack.Row
		want string
	}{
		{"names", Masquerade{Names: masqNames{}}, masqRow(),
			"tcp 119:59.00 192.0.2.2            server.example       40000 -> http (41000)\n"},
		{"numeric", Masquerade{Names: masqNames{numeric: true}}, masqRow(),
			"tcp 119:59.00 192.0.2.2            198.51.100.2         40000 -> 80 (41000)\n"},
		{"dnat shows the new destination port", Masquerade{Names: masqNames{numeric: true}}, dnat,
			"tcp 119:59.00 192.0.2.2            198.51.100.2         40000 -> 80 (8080)\n"},
		{"icmp", Masquerade{Names: masqNames{numeric: true}}, icmp,
			"icmp  0:29.00 192.0.2.2            198.51.100.2         id 51 -> type 8 (id 3)\n"},
		{"gone", Masquerade{Names: masqNames{numeric: true}}, gone,
			"tcp   0:00.00 192.0.2.2            198.51.100.2         40000 -> 80 (41000) (gone, lived 3.210s)\n"},
		{"healed", Masquerade{Names: masqNames{numeric: true}}, healed,
			"tcp   0:00.00 192.0.2.2            198.51.100.2         40000 -> 80 (41000) (gone, destroy not seen)\n"},
		{"extend", Masquerade{Names: masqNames{numeric: true}, Extend: true}, masqRow(),
			"tcp 119:59.00 ESTABLISHED 42         192.0.2.2            198.51.100.2         40000 -> 80 (41000)      " +
				"192.0.2.2:40000->198.51.100.2:80             198.51.100.2:80->198.51.100.1:41000\n"},
		{"extend icmp", Masquerade{Names: masqNames{numeric: true}, Extend: true}, icmp,
			"icmp  0:29.00 -           0          192.0.2.2            198.51.100.2         id 51 -> type 8 (id 3)   " +
				"192.0.2.2->198.51.100.2 type 8 code 0 id 51  198.51.100.2->198.51.100.1 type 0 code 0 id 3\n"},
	} {
		var b bytes.Buffer
		if err := tc.m.Row(&b, &tc.row); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, b.String(), tc.want)
		}
	}
}

// The header's columns start where the rows' do: netstat's header, and
// with -e the added columns over theirs.
func TestMasqueradeHeader(t *testing.T) {
	for _, extend := range []bool{false, true} {
		m := Masquerade{Names: masqNames{numeric: true}, Extend: extend}
		var b bytes.Buffer
		row := masqRow()
		if err := m.Header(&b); err != nil {
			t.Fatal(err)
		}
		if err := m.Row(&b, &row); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(b.String(), "\n")
		if lines[0] != "IP masquerading entries" {
			t.Errorf("title %q", lines[0])
		}
		if !extend && lines[1] != "prot   expire source               destination          ports" {
			t.Errorf("header %q is not netstat's", lines[1])
		}
		for _, col := range []string{"source", "destination", "ports", "state", "mark", "original", "reply"} {
			i := strings.Index(lines[1], col)
			if i < 0 {
				continue
			}
			if i > 0 && lines[2][i-1] != ' ' || lines[2][i] == ' ' {
				t.Errorf("extend %v: column %q at %d does not start a field of %q", extend, col, i, lines[2])
			}
		}
	}
}

func TestMasqueradeJSON(t *testing.T) {
	row := masqRow()
	row.Gone, row.Lifetime = true, 2*time.Second
	var b bytes.Buffer
	if err := MasqueradeRowJSON(&b, &row); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	for k, want := range map[string]any{
		"proto": "tcp", "expire_s": 7199.0, "source": "192.0.2.2:40000", "destination": "198.51.100.2:80",
		"translated_source": "198.51.100.1:41000", "state": "ESTABLISHED", "mark": 42.0, "id": 99.0,
		"seen_reply": true, "assured": true, "gone": true, "lifetime_ns": 2e9,
	} {
		if got[k] != want {
			t.Errorf("%s: got %v, want %v", k, got[k], want)
		}
	}
	if _, ok := got["translated_destination"]; ok {
		t.Errorf("an SNAT flow has a translated destination: %s", b.String())
	}
	reply := got["reply"].(map[string]any)
	if reply["src"] != "198.51.100.2:80" || reply["dst"] != "198.51.100.1:41000" {
		t.Errorf("reply %v", reply)
	}
	if _, ok := reply["icmp_type"]; ok {
		t.Errorf("a TCP tuple has ICMP fields: %v", reply)
	}
}

func TestMasqueradeSummary(t *testing.T) {
	s := conntrack.Summary{Time: time.Date(2026, 12, 6, 20, 48, 20, 5, time.Local), New: 3, Destroyed: 2, Flows: 5, Lost: 1, Healed: 1}
	var b bytes.Buffer
	if err := MasqueradeSummaryLine(&b, &s); err != nil {
		t.Fatal(err)
	}
	if want := "-- 20:48:20: 3 new, 2 destroyed; now 5 NAT flows; 1 events lost, 1 rows healed\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := MasqueradeSummaryJSON(&b, &s); err != nil {
		t.Fatal(err)
	}
	want := `{"summary":true,"time":"` + s.Time.UTC().Format("2006-01-02T15:04:05") + `.000000005Z","new":3,"destroyed":2,"flows":5,"lost":1,"healed":1}` + "\n"
	if b.String() != want {
		t.Errorf("got %s, want %s", b.String(), want)
	}
}
