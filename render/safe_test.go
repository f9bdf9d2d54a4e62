package render

import "testing"

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
