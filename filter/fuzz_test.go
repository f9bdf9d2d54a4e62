package filter

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: every input ends in a filter or in one Error, a line that
// points into the expression; nothing panics, and a filter evaluates.
// Arguments are separated by NUL bytes, which no argument can hold.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"state\x00established\x00( dport = :443 or sport = :443 )",
		"sport = :22 or sport = :80 and dport = :5000",
		"! ( src [fd00::/64]:https or dst 10/8 ) autobound",
		"dst twohomed:ssh pid = 1 comm = x uid >= 0 lifetime > 1ms error = EPIPE",
		`dst \ src *:\:22 sport = *:22`,
		"exclude\x00listening\x00src unix:/run/*",
		"sport > :0x1bb dport < :-1 dst 127.1/255.0.0.0",
		"( ( (",
	} {
		f.Add(seed)
	}
	socks := []*Socket{listen4, listenAny, client4, server4, bound4, client6, mapped, timewait}
	f.Fuzz(func(t *testing.T, in string) {
		args := strings.Split(in, "\x00")
		flt, err := Parse(args, testConfig())
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("%q: %T %v", in, err, err)
			}
			msg := err.Error()
			if msg == "" || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("%q: error is not one line: %q", in, msg)
			}
			if fe.Pos < 0 || fe.End < fe.Pos || fe.End > len(fe.Expr) {
				t.Fatalf("%q: error at %d-%d of %d bytes", in, fe.Pos, fe.End, len(fe.Expr))
			}
			_ = fe.Caret(func(s string) string { return s })
			return
		}
		for _, s := range socks {
			flt.Match(s)
		}
		_ = flt.String()
	})
}
