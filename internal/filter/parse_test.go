package filter

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/snapshot"

	"github.com/socktrace/socktrace/tcpstate"
)

// testConfig resolves two names and two services, without asking anyone.
func testConfig() Config {
	return Config{
		Hosts: func(name string, family int) []netip.Addr {
			hosts := map[string][]string{
				"localhost": {"127.0.0.1"},
				"twohomed":  {"10.0.0.1", "10.0.0.2", "fd00::1"},
			}
			var out []netip.Addr
			for _, s := range hosts[name] {
				a := netip.MustParseAddr(s)
				if a.Is4() == (family == unix.AF_INET) {
					out = append(out, a)
				}
			}
			return out
		},
		Service: func(name string) (int, error) {
			switch name {
			case "ssh":
				return 22, nil
			case "https":
				return 443, nil
			}
			return 0, errors.New("not in /etc/services")
		},
		Ephemeral: snapshot.DefaultPortRange,
	}
}

func TestParseGrouping(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		// and and or bind equally, from the left: ss's grammar, which
		// its man page does not say.
		{"sport = :22 or sport = :80 and dport = :5000", "((sport = 22 | sport = 80) & dport = 5000)"},
		{"sport = :22 and sport = :80 or dport = :5000", "((sport = 22 & sport = 80) | dport = 5000)"},
		{"sport = :22 || sport = :80 && dport = :5000", "((sport = 22 | sport = 80) & dport = 5000)"},
		{"sport = :22 | sport = :80 & dport = :5000", "((sport = 22 | sport = 80) & dport = 5000)"},
		{"sport = :22 or ( sport = :80 and dport = :5000 )", "(sport = 22 | (sport = 80 & dport = 5000))"},
		// Side by side is and, at the same level.
		{"sport = :22 dport = :5000 or autobound", "((sport = 22 & dport = 5000) | autobound)"},
		// not takes one condition or parenthesis.
		{"! sport = :22 or sport = :80", "(!sport = 22 | sport = 80)"},
		{"not ( sport = :22 or sport = :80 )", "!(sport = 22 | sport = 80)"},
		{"! ! autobound", "!!autobound"},
		{"not autobound autobound", "(!autobound & autobound)"},
		// Operators: > is "not <=", < "not >=", != "not =".
		{"sport > :1024", "!sport <= 1024"},
		{"sport gt :1024", "!sport <= 1024"},
		{"dport < :1024", "!dport >= 1024"},
		{"dport lt 1024", "!dport >= 1024"},
		{"sport >= :1024", "sport >= 1024"},
		{"sport ge :1024", "sport >= 1024"},
		{"sport geq :1024", "sport >= 1024"},
		{"sport <= :1024", "sport <= 1024"},
		{"sport le :1024", "sport <= 1024"},
		{"sport leq :1024", "sport <= 1024"},
		{"sport != :22", "!sport = 22"},
		{"sport ne :22", "!sport = 22"},
		{"sport neq :22", "!sport = 22"},
		{"sport == :22", "sport = 22"},
		{"sport eq :22", "sport = 22"},
		{"sport :22", "sport = 22"},
		{"sport 22", "sport = 22"},
		{"sport = :ssh", "sport = 22"},
		{"dport = inet::https", "dport = 443"},
		{"sport = 0x16", "sport = 22"}, // strtol, base 0
		{"sport = 026", "sport = 22"},
		{"sport = *:22", "sport = *"}, // after sport the whole word is the port
		{"sport = :*", "sport = *"},
		{"sport = :-1", "sport = *"},
		// Addresses.
		{"dst 10.0.0.0/8", "dst 10.0.0.0/8"},
		{"dst = 10.0.0.1:80", "dst 10.0.0.1/32:80"},
		{"dst 10/8", "dst 10.0.0.0/8"},
		{"dst 127.1", "dst 127.1.0.0/32"}, // iproute2 reads 127.1 as 127.1.0.0
		{"dst 10.0.0.0/255.255.0.0", "dst 10.0.0.0/16"},
		{"src [::1]", "src [::1]/128"},
		{"src [::1]:8443", "src [::1]/128:8443"},
		{"src [fd00::/64]", "src [fd00::]/64"},
		{"src fd00::/64", "src [fd00::]/64"},
		{"src fd00::1/128:443", "src [fd00::1]/128:443"},
		{"src *", "src *"},
		{"src *:22", "src *:22"},
		{"src :22", "src *:22"},
		{"dst default", "dst *"},
		{"dst localhost", "dst 127.0.0.1/32"},
		{"dst twohomed", "dst 10.0.0.1/32,10.0.0.2/32,[fd00::1]/128"},
		{"dst twohomed:ssh", "dst 10.0.0.1/32,10.0.0.2/32,[fd00::1]/128:22"},
		{`dst 10.0.0.1\:80`, "dst 10.0.0.1/32:80"}, // a backslash takes the next byte as it is
		{`dst \`, "dst *"},                         // and alone is the empty word
		{"( dport = :443 or sport = :443 )", "(dport = 443 | sport = 443)"},
		// socktrace's conditions.
		{"pid = 42", "pid = 42"},
		{"pid 42", "pid = 42"},
		{"pid != 42", "!pid = 42"},
		{"uid >= 1000", "uid >= 1000"},
		{"comm = nginx", `comm = "nginx"`},
		{"comm != nginx", `!comm = "nginx"`},
		{"container = docker:0123456789ab", `container = "docker:0123456789ab"`},
		{"container != default/web-0", `!container = "default/web-0"`},
		{"netns = 4026531840", "netns = 4026531840"},
		{"error = econnrefused", "error = ECONNREFUSED"},
		{"error = aborted", "error = aborted"},
		{"lifetime > 10ms", "lifetime > 10ms"},
		{"lifetime <= 1.5s", "lifetime <= 1.5s"},
	} {
		f, err := Parse(strings.Fields(tc.expr), testConfig())
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := f.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.expr, got, tc.want)
		}
	}
}

// A word is what it is however the arguments are split: one argument or
// many read alike, as in ss.
func TestParseOneArgument(t *testing.T) {
	many, err := Parse([]string{"(", "dport", "=", ":443", "or", "sport", "=", ":443", ")"}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	one, err := Parse([]string{"( dport = :443\tor sport = :443 )"}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if many.String() != one.String() {
		t.Errorf("%s != %s", many, one)
	}
}

func TestParseStates(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want StateSet
		expr string
	}{
		{nil, 0, ""},
		{[]string{"state", "established"}, set(tcpstate.Established), ""},
		{[]string{"state", "ESTABLISHED"}, set(tcpstate.Established), ""},
		{[]string{"state", "listening", "state", "time-wait"}, set(tcpstate.Listen, tcpstate.TimeWait), ""},
		{[]string{"exclude", "listening"}, AllStates &^ set(tcpstate.Listen), ""},
		{[]string{"excl", "listening"}, AllStates &^ set(tcpstate.Listen), ""},
		{[]string{"exclude", "listening", "state", "listening"}, AllStates, ""},
		{[]string{"state", "listening", "exclude", "listening"}, 0, ""},
		{[]string{"state", "connected"}, AllStates &^ set(tcpstate.Close, tcpstate.Listen), ""},
		{[]string{"state", "synchronized"}, AllStates &^ set(tcpstate.Close, tcpstate.Listen, tcpstate.SynSent), ""},
		{[]string{"state", "bucket"}, set(tcpstate.SynRecv, tcpstate.TimeWait), ""},
		{[]string{"state", "big"}, AllStates &^ set(tcpstate.SynRecv, tcpstate.TimeWait), ""},
		{[]string{"state", "closed"}, set(tcpstate.Close), ""},
		{[]string{"state", "close"}, set(tcpstate.Close), ""},
		{[]string{"state", "unconnected"}, set(tcpstate.Close), ""},
		{[]string{"state", "syn-rcv"}, set(tcpstate.SynRecv), ""},
		{[]string{"state", "time-wait", "dst", "10.0.0.0/8"}, set(tcpstate.TimeWait), "dst 10.0.0.0/8"},
	} {
		f, err := Parse(tc.args, testConfig())
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if f.States != tc.want || f.String() != tc.expr {
			t.Errorf("%q: states %#x %q, want %#x %q", tc.args, f.States, f, tc.want, tc.expr)
		}
	}
}

// Every mistake is an Error pointing at the word at fault.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		col    int
		caret  string
		substr string
	}{
		{[]string{"(", ")"}, 3, "  ^", `")" is not a condition`},
		{[]string{"sport = :22 and"}, 16, "               ^", "the expression ends"},
		{[]string{"and", "sport", "=", ":22"}, 1, "^^^", `"and" is not a condition`},
		{[]string{"( sport = :22"}, 1, "^", `"(" is not closed`},
		{[]string{"sport = :22 )"}, 13, "            ^", `no "(" before it`},
		{[]string{"sport"}, 6, "     ^", "sport needs a value"},
		{[]string{"sport = = :22"}, 9, "        ^", `not "="`},
		{[]string{"dst != 10.0.0.1"}, 5, "    ^^", `dst needs a value here, not "!="`},
		{[]string{"dst ::1"}, 5, "    ^^^", "brackets"},
		{[]string{"src [fd00::]/64"}, 5, "    ^^^^^^^^^^^", `"/64" is not a port number`},
		{[]string{"sport = :nosuch"}, 9, "        ^^^^^^^", "not in /etc/services"},
		{[]string{"sport = :70000x"}, 9, "        ^^^^^^^", "not a port number"},
		{[]string{"dst 10.0.0.256"}, 5, "    ^^^^^^^^^^", "not an address"},
		{[]string{"dst any/8"}, 5, "    ^^^^^", "not an address"},
		{[]string{"dst [::1"}, 5, "    ^^^^", "no ]"},
		{[]string{"src link:eth0"}, 5, "    ^^^^^^^^^", "no link sockets"},
		{[]string{"10.0.0.1"}, 1, "^^^^^^^^", "not a condition"},
		{[]string{"SPORT = :22"}, 1, "^^^^^", "not a condition"}, // keywords are lower case
		{[]string{"dev", "=", "lo"}, 1, "^^^", "does not filter by dev"},
		{[]string{"fwmark = 1"}, 1, "^^^^^^", "does not filter by fwmark"},
		{[]string{"container > abc"}, 1, "^^^^^^^^^", "= or !="},
		{[]string{"pid = x"}, 7, "      ^", "whole number"},
		{[]string{"pid = 0"}, 7, "      ^", "whole number"},
		{[]string{"comm > x"}, 1, "^^^^", "= or !="},
		{[]string{"error = EWHAT"}, 9, "        ^^^^^", "errno name"},
		{[]string{"lifetime > 10"}, 12, "           ^^", "duration"},
		{[]string{"lifetime > -1s"}, 12, "           ^^^", "duration"},
		{[]string{"state"}, 1, "^^^^^", "needs a state"},
		{[]string{"state", "estab"}, 7, "      ^^^^^", `"estab" is not a state`},
		{[]string{"state", "listening", "exclude", "bogus"}, 25, "                        ^^^^^", `"bogus" is not a state`},
		{[]string{"state", "listening", "sport", "=", "x"}, 25, "                        ^", `"x" is not a port`},
	} {
		_, err := Parse(tc.args, testConfig())
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("%q: got %v, want a filter error", tc.args, err)
			continue
		}
		if fe.Pos+1 != tc.col || !strings.Contains(fe.Msg, tc.substr) {
			t.Errorf("%q: got column %d %q, want column %d and %q", tc.args, fe.Pos+1, fe.Msg, tc.col, tc.substr)
		}
		lines := strings.Split(fe.Caret(func(s string) string { return s }), "\n")
		if len(lines) != 2 || lines[0] != strings.Join(tc.args, " ") || lines[1] != tc.caret {
			t.Errorf("%q: caret\n%s\nwant\n%s\n%s", tc.args, fe.Caret(func(s string) string { return s }), strings.Join(tc.args, " "), tc.caret)
		}
		if want := fmt.Sprintf("filter column %d: ", tc.col); !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: message %q: want one line starting %q", tc.args, err.Error(), want)
		}
	}
}

// A mode that cannot decide a condition says so where it is used.
func TestParseUnavailable(t *testing.T) {
	cfg := testConfig()
	cfg.Unavailable = map[string]string{"lifetime": "a snapshot has no lifetimes; use -c or trace"}
	_, err := Parse([]string{"sport = :22 or lifetime > 1s"}, cfg)
	var fe *Error
	if !errors.As(err, &fe) || fe.Pos != 15 || !strings.Contains(fe.Msg, "use -c or trace") {
		t.Fatalf("got %v", err)
	}
}

// A family named in a condition restricts the listing to it and is the
// family the next conditions are read in, as in ss.
func TestParseFamily(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		pref    int
		family  int
		wantErr bool
	}{
		{"dst 127.0.0.1", 0, 0, false},
		{"dst inet:127.0.0.1", 0, unix.AF_INET, false},
		{"sport = inet6::22", 0, unix.AF_INET6, false},
		{"src unix:/run/*", 0, unix.AF_UNIX, false},
		{"dst [::1] or dst inet:10.0.0.1", 0, unix.AF_INET, false},
		{"dst inet6:[::1] or dst 127.0.0.1", 0, 0, true}, // read as IPv6 now
		{"dst 127.0.0.1", unix.AF_INET, unix.AF_INET, false},
		{"dst 127.0.0.1", unix.AF_INET6, 0, true},
		{"sport = :22", unix.AF_INET6, unix.AF_INET6, false},
		{"src /run/*", unix.AF_UNIX, unix.AF_UNIX, false},
		{"autobound", unix.AF_INET, 0, false}, // no address: no family
	} {
		cfg := testConfig()
		cfg.Family = tc.pref
		f, err := Parse(strings.Fields(tc.expr), cfg)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s (-%d): %v", tc.expr, tc.pref, err)
			continue
		}
		if err == nil && f.Family != tc.family {
			t.Errorf("%s (-%d): family %d, want %d", tc.expr, tc.pref, f.Family, tc.family)
		}
	}
}

// Nesting is bounded, so no input can exhaust the stack.
func TestParseDepth(t *testing.T) {
	deep := strings.Repeat("( ", maxDepth+1) + "autobound" + strings.Repeat(" )", maxDepth+1)
	if _, err := Parse([]string{deep}, testConfig()); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("got %v", err)
	}
	ok := strings.Repeat("! ", maxDepth) + "autobound"
	if _, err := Parse([]string{ok}, testConfig()); err != nil {
		t.Errorf("%d nots: %v", maxDepth, err)
	}
}
