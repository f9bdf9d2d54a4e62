package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/socktrace/socktrace/internal/netstat"
)

// parseNetstat parses the root command's flags as its RunE does.
func parseNetstat(args ...string) (netstatOptions, []string, error) {
	o, fs, err := parseNetstatFlags(args...)
	return o, fs.Args(), err
}

// parseNetstatFlags is parseNetstat with the flag set, for checkArgs.
func parseNetstatFlags(args ...string) (netstatOptions, *pflag.FlagSet, error) {
	var o netstatOptions
	fs := pflag.NewFlagSet("socktrace", pflag.ContinueOnError)
	o.addFlags(fs)
	args, err := netstatArgs(args)
	if err != nil {
		return o, fs, err
	}
	err = fs.Parse(args)
	return o, fs, err
}

func TestNetstatInterval(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		secs  int
		inet4 bool
		left  []string // arguments that are not flags
	}{
		{args: []string{"-tn"}, secs: 0},
		{args: []string{"-c"}, secs: 1},
		{args: []string{"-tanpc", "--json"}, secs: 1},
		{args: []string{"-c", "2"}, secs: 2},
		{args: []string{"-c2"}, secs: 2},
		{args: []string{"-tnc2"}, secs: 2},
		{args: []string{"-tnc", "10"}, secs: 10},
		{args: []string{"-c=3"}, secs: 3},
		{args: []string{"--continuous", "2"}, secs: 2},
		{args: []string{"--continuous=2"}, secs: 2},
		{args: []string{"-c", "86400"}, secs: 86400},
		{args: []string{"-tnc", "2", "--linger", "10s"}, secs: 2},
		// What netstat reads as flags stays flags.
		{args: []string{"-c4"}, secs: 1, inet4: true},
		{args: []string{"-tnc", "-4"}, secs: 1, inet4: true},
		{args: []string{"-ct", "2"}, secs: 1, left: []string{"2"}},
		{args: []string{"--", "-c", "2"}, left: []string{"-c", "2"}},
	} {
		o, left, err := parseNetstat(tc.args...)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if o.continuous != tc.secs || o.inet4 != tc.inet4 || !slices.Equal(left, tc.left) {
			t.Errorf("%q: -c %d, -4 %v, arguments %q; want -c %d, -4 %v, arguments %q",
				tc.args, o.continuous, o.inet4, left, tc.secs, tc.inet4, tc.left)
		}
	}
}

// A bad value is one line naming the flag, then the hint.
func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-tn", "-c", "10000000000"}, "-c 10000000000: want a whole number of seconds from 1 to 86400"},
		{[]string{"-un", "-c", "9300000000"}, "-c 9300000000: want a whole number of seconds from 1 to 86400"},
		{[]string{"-c", "86401"}, "-c 86401: want a whole number of seconds from 1 to 86400"},
		{[]string{"-c", "0"}, "-c 0: want a whole number of seconds from 1 to 86400"},
		{[]string{"-c", "1.5"}, "-c 1.5: want a whole number of seconds from 1 to 86400"},
		{[]string{"-c", "-1"}, "-c -1: want a whole number of seconds from 1 to 86400"},
		{[]string{"-tnc2x"}, "-c 2x: want a whole number of seconds from 1 to 86400"},
		{[]string{"--linger", "5"}, "--linger 5: want a duration such as 50ms, 10s or 1m30s"},
		{[]string{"--linger=x"}, "--linger x: want a duration such as 50ms, 10s or 1m30s"},
		{[]string{"trace", "--port", "70000"}, "--port 70000: want a port number from 1 to 65535"},
		{[]string{"trace", "--port", "0"}, "--port 0: want a port number from 1 to 65535"},
		{[]string{"trace", "--pid", "-1"}, "--pid -1: want a process id from 1 to 4194303"},
		{[]string{"trace", "--pid", "4194304"}, "--pid 4194304: want a process id from 1 to 4194303"},
		{[]string{"trace", "--ring-mib", "x"}, "--ring-mib x: want a whole number"},
		{[]string{"trace", "--latency", "x"}, "--latency x: want a duration such as 50ms, 10s or 1m30s"},
	} {
		err := execute(tc.args...)
		hint := "Try 'socktrace --help' for more information."
		if tc.args[0] == "trace" {
			hint = "Try 'socktrace trace --help' for more information."
		}
		if err == nil || err.Error() != tc.want+"\n"+hint {
			t.Errorf("%q: error %q, want %q", tc.args, err, tc.want+"\n"+hint)
		}
	}
}

func TestNumberFlag(t *testing.T) {
	var port uint16
	v := numberFlag(&port, 1, 65535, "want a port")
	for _, tc := range []struct {
		in   string
		want uint16 // 0: rejected
	}{
		{"1", 1}, {"443", 443}, {"65535", 65535},
		{"0", 0}, {"65536", 0}, {"-1", 0}, {"0x50", 0}, {"", 0}, {"99999999999999999999", 0},
	} {
		port = 0
		err := v.Set(tc.in)
		if tc.want == 0 && (err == nil || err.Error() != "want a port") {
			t.Errorf("%q: error %v, want %q", tc.in, err, "want a port")
		}
		if tc.want != 0 && (err != nil || port != tc.want) {
			t.Errorf("%q: %d, %v; want %d", tc.in, port, err, tc.want)
		}
	}
}

// --help is parsed by the root command itself (it parses its own flags),
// and must still print the help, and nothing else.
func TestNetstatHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-tn", "-h"}} {
		var out, errOut bytes.Buffer
		cmd := newRootCmd()
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Errorf("%q: %v", args, err)
		}
		if !strings.HasPrefix(out.String(), "socktrace speaks netstat") ||
			!strings.Contains(out.String(), "-c, --continuous secs[=1]") || strings.Contains(out.String(), "Active") {
			t.Errorf("%q: not the help:\n%s", args, out.String())
		}
	}
}

// execute runs the command line args, without the fixture flags runRoot
// adds, which the trace command does not have.
func execute(args ...string) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a command line that is not rejected stops at once
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	return cmd.ExecuteContext(ctx)
}

// -e takes no value: it is given once or twice, and --help says so.
func TestNetstatExtend(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
		left []string
	}{
		{[]string{"-e"}, 1, nil},
		{[]string{"-tne"}, 1, nil},
		{[]string{"-ee"}, 2, nil},
		{[]string{"-e", "-e"}, 2, nil},
		{[]string{"-rnee"}, 2, nil},
		{[]string{"--extend", "--extend"}, 2, nil},
		{[]string{"-e", "2"}, 1, []string{"2"}},
	} {
		o, left, err := parseNetstat(tc.args...)
		if err != nil || o.extend != tc.want || !slices.Equal(left, tc.left) {
			t.Errorf("%q: -e %d, arguments %q, %v; want -e %d, arguments %q", tc.args, o.extend, left, err, tc.want, tc.left)
		}
	}
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"--help"})
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "  -e, --extend") {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) < 3 || f[2] != "more" || !strings.Contains(line, "twice (-ee)") {
		t.Errorf("--help says %q, want -e without a value, repeatable", line)
	}
}

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{nil, false, "(devel)"},
		{&debug.BuildInfo{}, true, "(devel)"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "(devel)"},
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, true, "v1.2.0"},
		{&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20250101120000-abcdef123456+dirty"}}, true, "v0.0.0-20250101120000-abcdef123456+dirty"},
	} {
		if got := version(tc.info, tc.ok); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.info, got, tc.want)
		}
	}
	// -V prints one line and nothing else, with other flags too, as
	// netstat -V does.
	for _, args := range [][]string{{"-V"}, {"--version"}, {"-tV"}, {"-r", "-V"}} {
		out, errOut, err := runRoot(context.Background(), args...)
		if err != nil || errOut != "" || !regexp.MustCompile(`^socktrace \S+\n$`).MatchString(out) {
			t.Errorf("%q: printed %q, %q, error %v; want one line 'socktrace VERSION'", args, out, errOut, err)
		}
	}
}

// A lone number away from a bare -c is its interval too; any other
// argument is refused.
func TestNetstatIntervalElsewhere(t *testing.T) {
	for _, tc := range []struct {
		args []string
		secs int
		err  bool
	}{
		{args: []string{"-ct", "2"}, secs: 2},
		{args: []string{"-tn", "2", "-c"}, secs: 2},
		{args: []string{"-c", "3", "2"}, err: true},
		{args: []string{"-tn", "2"}, err: true},
		{args: []string{"-ct", "0"}, err: true},
		{args: []string{"-ct", "2", "3"}, err: true},
	} {
		o, fs, err := parseNetstatFlags(tc.args...)
		if err == nil {
			err = o.checkArgs(fs)
		}
		if (err != nil) != tc.err || (!tc.err && o.continuous != tc.secs) {
			t.Errorf("%q: -c %d, error %v; want -c %d, error %v", tc.args, o.continuous, err, tc.secs, tc.err)
		}
	}
}

// main prints a refusal as it is, with netstat's exit status; another
// mistake on the command line exits 3, as netstat's do; a failure 1.
func TestReport(t *testing.T) {
	for _, tc := range []struct {
		err    error
		want   string
		status int
	}{
		{netstat.Refusal{Msg: "Unknown address family `x'.", Status: 1}, "Unknown address family `x'.\n", 1},
		{usageRefusal("invalid option -- 'k'"), "socktrace: invalid option -- 'k'\n" + netstatUsage + "\n", 3},
		{usageError{"unexpected argument \"x\"", "socktrace"}, "socktrace: unexpected argument \"x\"\nTry 'socktrace --help' for more information.\n", 3},
		{fmt.Errorf("read routes: %w", os.ErrPermission), "socktrace: read routes: permission denied\n", 1},
	} {
		var b bytes.Buffer
		if status := report(&b, tc.err); status != tc.status || b.String() != tc.want {
			t.Errorf("%v: printed %q, status %d; want %q, status %d", tc.err, b.String(), status, tc.want, tc.status)
		}
	}
}

// Every mistake on a subcommand's command line ends alike: one line saying
// what is wrong, the hint naming that subcommand's --help, and exit status
// 3, whether pflag refused the value or the command did after parsing.
func TestSubcommandUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the first line, after "socktrace: "
	}{
		{[]string{"trace", "--ring-mib", "3"}, "--ring-mib 3: want a power of two from 1 to 2048"},
		{[]string{"trace", "--ring-mib", "x"}, "--ring-mib x: want a whole number"},
		{[]string{"trace", "--latency", "-1s"}, "--latency -1s: want a positive duration such as 50ms"},
		{[]string{"trace", "--port", "0"}, "--port 0: want a port number from 1 to 65535"},
		{[]string{"trace", "--comm", ""}, "--comm: empty; leave the flag out to trace everything"},
		{[]string{"trace", "--comm", "a-name-of-16-byt"}, `--comm "a-name-of-16-byt": the kernel keeps only 15 bytes of a process name`},
		{[]string{"trace", "--state", "BOGUS"}, "--state: unknown TCP state"},
		{[]string{"trace", "--netns", "no-such-netns-x"}, "--netns no-such-netns-x: "},
		{[]string{"top", "--interval", "0s"}, "--interval 0s: want a positive duration such as 1s"},
		{[]string{"top", "--by", "x"}, `--by "x": unknown field "x"`},
		{[]string{"top", "--sort", "x"}, `--sort "x": want one of `},
		{[]string{"top", "--ring-mib", "3"}, "--ring-mib 3: want a power of two from 1 to 2048"},
		{[]string{"top", "--latency", "0s"}, "--latency 0s: want a positive duration such as 50ms"},
		{[]string{"top", "--max-keys", "0"}, "--max-keys 0: want a number of rows from 1 to 1000000"},
		{[]string{"serve", "--ring-mib", "3"}, "--ring-mib 3: want a power of two from 1 to 2048"},
		{[]string{"serve", "--max-series", "0"}, "--max-series 0: want at least 1"},
		{[]string{"serve", "--label", "x"}, `--label "x": want comm, `},
		{[]string{"serve", "--listen", "x"}, `--listen "x": want host:port`},
		{[]string{"serve", "--listen", "192.0.2.1:9464"}, `--listen "192.0.2.1:9464" is not a loopback address`},
		{[]string{"serve", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"check", "--json=x"}, "--json x: want true or false"},
		{[]string{"check", "extra"}, `unexpected argument "extra"`},
	} {
		var b bytes.Buffer
		status := report(&b, execute(tc.args...))
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		hint := "Try 'socktrace " + tc.args[0] + " --help' for more information."
		if status != 3 || len(lines) != 2 || !strings.HasPrefix(lines[0], "socktrace: "+tc.want) || lines[1] != hint {
			t.Errorf("%q: printed %q, status %d; want %q..., then %q, status 3", tc.args, b.String(), status, "socktrace: "+tc.want, hint)
		}
	}
}
