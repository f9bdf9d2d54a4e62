package render

import (
	"encoding/json"
	"testing"
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
