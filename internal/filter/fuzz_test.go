package filter

import (
	"errors"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/snapshot"
)

// FuzzParse: every input ends in a filter or in one Error, a line that
// points into the expression; nothing panics, a filter evaluates, and its
// kernel program lets through every socket the filter passes, and no other
// when it says it is exact.
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
		"pid = 1 or not ( comm = x and sport > :1 ) netns = 4026531840",
	} {
		f.Add(seed)
	}
	owned := *client4
	owned.PID, owned.Comm, owned.Netns = 1, snapshot.CommOf("x"), 4026531840
	socks := []*Socket{listen4, listenAny, client4, server4, bound4, client6, mapped, timewait, &owned}
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
		prog := flt.Program()
		for _, s := range socks {
			pass, err := prog.run(s)
			if err != nil {
				t.Fatalf("%q: program %s: %v", in, prog, err)
			}
			if flt.Match(s) && !pass {
				t.Fatalf("%q (%s): program %s drops %v->%v, which the filter passes", in, flt, prog, s.Local, s.Remote)
			}
			exact := prog.ExactOwnerless
			if s.PID != 0 {
				exact = prog.Exact
			}
			if exact && (flt.Family == 0 || s.Family == flt.Family) && flt.Match(s) != pass {
				t.Fatalf("%q (%s): program %s, called exact, passes %v->%v: %v, the filter: %v", in, flt, prog, s.Local, s.Remote, pass, !pass)
			}
		}
	})
}
