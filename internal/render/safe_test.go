package render

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

func TestSafe(t *testing.T) {
	cases := []struct{ in, want string }{
		{"nginx", "nginx"},
		{"", ""},
		{"a\x1b[31mred", `a\x1b[31mred`},
		{"tab\there", `tab\x09here`},
		{"nl\n", `nl\x0a`},
		{"del\x7f", `del\x7f`},
		{`back\slash`, `back\\slash`},
		{"caf\u00e9", "caf\u00e9"},
		{"c1\u009b", `c1\xc2\x9b`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"\xc3", `\xc3`},
		{"m\u202en", `m\xe2\x80\xaen`},           // right-to-left override
		{"\u200bzw", `\xe2\x80\x8bzw`},           // zero-width space
		{"bom\ufeff", `bom\xef\xbb\xbf`},         // zero-width no-break space
		{"nb\u00a0sp", `nb\xc2\xa0sp`},           // no-break space
		{"pu\ue000", `pu\xee\x80\x80`},           // private use
		{"tag\U000e0041", `tag\xf3\xa0\x81\x81`}, // a tag character
		{"\u65e5\u672c", "\u65e5\u672c"},         // printable: as is
	}
	for _, c := range cases {
		if got := Safe(c.in); got != c.want {
			t.Errorf("Safe(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSafeCleanDoesNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { _ = Safe("systemd-resolve") })
	if n != 0 {
		t.Fatalf("Safe on a clean name allocated %v times", n)
	}
}

func TestAppendJSONString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"nginx", `"nginx"`},
		{"q\"b\\", `"q\"b\\"`},
		{"esc\x1b", `"esc\u001b"`},
		{"c1\u009b", `"c1\u009b"`},
		{"m\u202en", `"m\u202en"`},
		{"\u200bzw", `"\u200bzw"`},
		{"tag\U000e0041", `"tag\udb40\udc41"`},
		{"bad\xff", `"bad\ufffd"`},
		{"caf\u00e9", "\"caf\u00e9\""},
	}
	for _, c := range cases {
		got := string(AppendJSONString(nil, c.in))
		if got != c.want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", c.in, got, c.want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("AppendJSONString(%q) = %s: not JSON: %v", c.in, got, err)
		}
	}
}

// Every JSON writer spells a name from outside as AppendJSONString does:
// U+202E and the C1 controls escaped, where encoding/json writes them raw.
func TestJSONWritersEscapeNames(t *testing.T) {
	const name = "a\u202eb\u009bc<&>"
	want := string(AppendJSONString(nil, name))
	owner := snapshot.Owner{PID: 9, Comm: snapshot.CommOf(name)}
	tcp := snapshot.Socket{Proto: snapshot.TCP, State: tcpstate.Listen, Inode: 7,
		Local: netip.MustParseAddrPort("127.0.0.1:80"), Remote: netip.MustParseAddrPort("0.0.0.0:0")}
	n := Netstat{Names: fakeNames{}, Programs: true, Owners: snapshot.Owners{
		ByInode: map[uint64]snapshot.Owner{7: owner}, Programs: map[snapshot.Owner]string{owner: name}}}
	for _, c := range []struct {
		what   string
		write  func(w *bytes.Buffer) error
		fields []string
	}{
		{"InetJSON", func(w *bytes.Buffer) error { return n.InetJSON(w, &tcp) }, []string{"program", "comm"}},
		{"LiveJSON", func(w *bytes.Buffer) error { return n.LiveJSON(w, &tcp, &Live{Owner: owner, Program: name}) }, []string{"program", "comm"}},
		{"UnixJSON", func(w *bytes.Buffer) error {
			return n.UnixJSON(w, &snapshot.UnixSocket{Type: 1, Inode: 7, Path: name})
		}, []string{"program", "comm", "path", "local"}},
		{"InterfacesJSON", func(w *bytes.Buffer) error {
			return InterfacesJSON(w, []snapshot.Interface{{Name: name, Link: snapshot.Link{Flags: 1}}}, InterfaceOptions{})
		}, []string{"iface"}},
		{"RoutesJSON", func(w *bytes.Buffer) error {
			return RoutesJSON(w, []snapshot.Route{{Iface: name, Flags: snapshot.RTFUp}})
		}, []string{"iface"}},
		{"Routes6JSON", func(w *bytes.Buffer) error { return Routes6JSON(w, []snapshot.Route6{{Iface: name}}) }, []string{"iface"}},
	} {
		var b bytes.Buffer
		if err := c.write(&b); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		var row map[string]any
		if err := json.Unmarshal(b.Bytes(), &row); err != nil {
			t.Fatalf("%s: not JSON: %q: %v", c.what, b.String(), err)
		}
		for _, f := range c.fields {
			if !strings.Contains(b.String(), `"`+f+`":`+want) || row[f] != name {
				t.Errorf("%s: %s is not %s in %q", c.what, f, want, b.String())
			}
		}
	}
}
