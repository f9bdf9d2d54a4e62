package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/socktrace/socktrace/internal/netstat"
	"github.com/socktrace/socktrace/internal/render"
)

func TestNetstatArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		// Any prefix that names one option, as getopt_long takes it.
		{[]string{"--prog"}, []string{"--programs"}},
		{[]string{"--program"}, []string{"--programs"}},
		{[]string{"--progr"}, []string{"--programs"}},
		{[]string{"--numeric-h"}, []string{"--numeric-hosts"}},
		{[]string{"--list"}, []string{"--listening"}},
		{[]string{"--li"}, []string{"--listening"}}, // not socktrace's --linger
		{[]string{"--ext"}, []string{"--extend"}},
		{[]string{"--vers"}, []string{"--version"}},
		{[]string{"--sy"}, []string{"--symbolic"}},
		{[]string{"--h"}, []string{"--help"}},
		// Family options share what getopt_long returns: not ambiguous.
		{[]string{"--ine"}, []string{"--protocol=inet"}},
		{[]string{"--inet6"}, []string{"--protocol=inet6"}},
		{[]string{"--ip"}, []string{"--protocol=ip"}},
		{[]string{"--ap"}, []string{"--protocol=appletalk"}},
		{[]string{"--unix"}, []string{"--protocol=unix"}},
		{[]string{"--tcpi"}, []string{"--tcpip"}},
		// Short options, clusters, -A's list glued or apart.
		{[]string{"-tulpn"}, []string{"--tcp", "--udp", "--listening", "--programs", "--numeric"}},
		{[]string{"-x46"}, []string{"--unix", "--inet", "--inet6"}},
		{[]string{"-A", "inet,unix"}, []string{"--protocol=inet,unix"}},
		{[]string{"-tAinet6"}, []string{"--tcp", "--protocol=inet6"}},
		{[]string{"--protocol=inet6"}, []string{"--protocol=inet6"}},
		{[]string{"--proto", "ip,tcpip,econet"}, []string{"--protocol=ip,tcpip,econet"}},
		{[]string{"-dtd"}, []string{"--tcp"}}, // netstat ignores -d
		// -c and its interval, socktrace's own.
		{[]string{"-tnc2"}, []string{"--tcp", "--numeric", "--continuous=2"}},
		{[]string{"-c", "2"}, []string{"--continuous=2"}},
		{[]string{"-c=3"}, []string{"--continuous=3"}},
		{[]string{"-c60"}, []string{"--continuous=60"}},
		{[]string{"-c", "-1"}, []string{"--continuous=-1"}}, // a bad interval, said so by pflag
		{[]string{"--contin", "5"}, []string{"--continuous=5"}},
		{[]string{"--continuous=5"}, []string{"--continuous=5"}},
		{[]string{"-c4x"}, []string{"--continuous", "--inet", "--unix"}},
		{[]string{"-ctn", "2"}, []string{"--continuous", "--tcp", "--numeric", "2"}},
		{[]string{"-c", "-4"}, []string{"--continuous", "--inet"}},
		// Reading ends at -V, -h and -Z, as netstat's does.
		{[]string{"-V", "--bogus"}, []string{"--version"}},
		{[]string{"-tVk"}, []string{"--tcp", "--version"}},
		{[]string{"-h", "-V"}, []string{"--help"}},
		{[]string{"-Z", "--bogus"}, []string{"--context"}},
		// Arguments that are not options, and socktrace's own options.
		{[]string{"extra", "-t"}, []string{"extra", "--tcp"}},
		{[]string{"--", "-V"}, []string{"--", "-V"}},
		{[]string{"-"}, []string{"-"}},
		{[]string{"--json", "--linger", "10s", "--linger=1s"}, []string{"--json", "--linger", "10s", "--linger=1s"}},
		{[]string{"--proc-root", "/x", "-t"}, []string{"--proc-root", "/x", "--tcp"}},
	} {
		got, err := netstatArgs(tc.args)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, %v; want %q", tc.args, got, err, tc.want)
		}
	}
}

// What netstat refuses while reading its command line is refused in its
// words: getopt's complaint and the usage, exit status 3, or netstat's
// own refusal, exit status 1.
func TestNetstatArgsRefused(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		first  string // the first line printed
		status int
	}{
		{[]string{"--num"}, "socktrace: option '--num' is ambiguous; possibilities: '--numeric' '--numeric-hosts' '--numeric-ports' '--numeric-users'", 3},
		{[]string{"--numeric-"}, "socktrace: option '--numeric-' is ambiguous; possibilities: '--numeric-hosts' '--numeric-ports' '--numeric-users'", 3},
		{[]string{"--in"}, "socktrace: option '--in' is ambiguous; possibilities: '--inet' '--interfaces'", 3},
		{[]string{"--ro"}, "socktrace: option '--ro' is ambiguous; possibilities: '--rose' '--route'", 3},
		{[]string{"--un"}, "socktrace: option '--un' is ambiguous; possibilities: '--unix' '--unix'", 3},
		{[]string{"--t=1"}, "socktrace: option '--t=1' is ambiguous; possibilities: '--tcpip' '--tcp' '--timers'", 3},
		{[]string{"--cont=2"}, "socktrace: option '--cont=2' is ambiguous; possibilities: '--continuous' '--context'", 3},
		{[]string{"--lin"}, "socktrace: unrecognized option '--lin'", 3},
		{[]string{"--bogus=1"}, "socktrace: unrecognized option '--bogus=1'", 3},
		{[]string{"--NUMERIC"}, "socktrace: unrecognized option '--NUMERIC'", 3},
		{[]string{"--tcp=1"}, "socktrace: option '--tcp' doesn't allow an argument", 3},
		{[]string{"--ine=1"}, "socktrace: option '--inet' doesn't allow an argument", 3},
		{[]string{"--numeric-hosts="}, "socktrace: option '--numeric-hosts' doesn't allow an argument", 3},
		{[]string{"--protocol"}, "socktrace: option '--protocol' requires an argument", 3},
		{[]string{"-k"}, "socktrace: invalid option -- 'k'", 3},
		{[]string{"-t9"}, "socktrace: invalid option -- '9'", 3},
		{[]string{"-\xc3\xa9"}, `socktrace: invalid option -- '\xc3'`, 3},
		{[]string{"-tA"}, "socktrace: option requires an argument -- 'A'", 3},
		{[]string{"-?"}, "usage: socktrace [-vWeenNcCF] [<Af>] -r         socktrace {-V|--version|-h|--help}", 3},
		{[]string{"-A", "foo"}, "Unknown address family `foo'.", 1},
		{[]string{"-A", "inet,foo"}, "Unknown address family `foo'.", 1},
		{[]string{"-A", ""}, "Unknown address family `'.", 1},
		{[]string{"--protocol=inet,"}, "Unknown address family `'.", 1},
		{[]string{"-A", "INET"}, "Unknown address family `INET'.", 1},
		{[]string{"-At"}, "Unknown address family `t'.", 1},
		{[]string{"-A", "-t"}, "Unknown address family `-t'.", 1},
		{[]string{"--protocol", "--tcp"}, "Unknown address family `--tcp'.", 1},
		// The first refusal wins, as netstat exits at it.
		{[]string{"-A", "foo", "--bogus"}, "Unknown address family `foo'.", 1},
		{[]string{"--bogus", "-A", "foo"}, "socktrace: unrecognized option '--bogus'", 3},
		{[]string{"-k", "-V"}, "socktrace: invalid option -- 'k'", 3},
	} {
		_, err := netstatArgs(tc.args)
		var r netstat.Refusal
		if !errors.As(err, &r) {
			t.Errorf("%q: %v, want a refusal", tc.args, err)
			continue
		}
		if first, _, _ := strings.Cut(r.Msg, "\n"); first != tc.first || r.Status != tc.status {
			t.Errorf("%q: %q, status %d; want %q, status %d", tc.args, first, r.Status, tc.first, tc.status)
		}
		if tc.status == 3 && !strings.HasSuffix(r.Msg, netstatUsage) {
			t.Errorf("%q: no usage after the complaint:\n%s", tc.args, r.Msg)
		}
	}
}

// runNetstat runs the real netstat with args, followed by -V so that a
// command line it reads to the end prints its version and exits without
// reading a table. ok is false when there is no netstat.
func runNetstat(t testing.TB, args []string) (stderr string, status int, ok bool) {
	path, err := exec.LookPath("netstat")
	if err != nil {
		return "", 0, false
	}
	// -c with -- before -V lists tables forever: the deadline ends it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append(slices.Clone(args), "-V")...)
	cmd.Args[0] = "netstat" // getopt names the program by argv[0]
	cmd.Env = []string{"LC_ALL=C"}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		return "", 0, true
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		t.Fatalf("netstat %q: %v", args, err)
	}
	// socktrace escapes the bytes of an argument that print as nothing.
	lines := strings.Split(strings.ReplaceAll(errOut.String(), "netstat", "socktrace"), "\n")
	for i := range lines {
		lines[i] = render.Safe(lines[i])
	}
	return strings.Join(lines, "\n"), status, true
}

// asNetstat is what netstatArgs makes of args, printed as main prints it:
// stderr and the exit status.
func asNetstat(args []string) (tokens []string, stderr string, status int) {
	tokens, err := netstatArgs(append(slices.Clone(args), "-V"))
	if err == nil && slices.Contains(tokens, "--context") {
		err = contextRefusal() // what the command answers -Z with
	}
	if err == nil {
		return tokens, "", 0
	}
	var b bytes.Buffer
	status = report(&b, err)
	return nil, b.String(), status
}

// The real netstat reads the same command lines alike: it takes and
// refuses the same ones, with the same words and exit status.
func TestNetstatArgsLikeNetstat(t *testing.T) {
	for _, line := range []string{
		"--prog", "--program", "--numeric-h", "--list", "--ext", "--ine", "--ip",
		"--num", "--in", "--ro", "--un", "--uni", "--=x", "--t=1", "--tc=1", "--tcp=1", "--ine=1",
		"--protocol", "--protocol --tcp", "--proto=inet,unix", "--protocol=", "-A", "-tA",
		"-A inet,unix", "-Ainet6", "-A ip6,appletalk,econet,ash,tcpip", "-A foo --bogus",
		"--bogus -A foo", "-k -V", "-t9", "-?", "--bogus", "--bogus=1", "--NUMERIC", "-Z --bogus",
		"--bogus -Z", "-d", "-tulpn", "-rnCF", "-gN", "-S", "-2f", "extra -t",
		"-- -k", "- -t", "--co", "--vers", "--ver", "--lin", "--li", "--ax", "--sc", "--sy",
	} {
		args := strings.Fields(line)
		want, wantStatus, ok := runNetstat(t, args)
		if !ok {
			t.Skip("no netstat")
		}
		_, got, status := asNetstat(args)
		if got != want || status != wantStatus {
			t.Errorf("%q: status %d, stderr\n%s\nnetstat: status %d, stderr\n%s", line, status, got, wantStatus, want)
		}
	}
}

// The command line reader never panics, never takes what netstat refuses
// and never refuses what it takes, word for word, but where socktrace
// means to differ: -c's interval, its own long options, and more than 255
// bytes of address family names, which netstat drops in part.
func FuzzNetstatArgs(f *testing.F) {
	for _, s := range []string{
		"--num", "--prog\n-A\ninet,unix", "-tnc2", "--=x", "-A\n", "--protocol=ip6", "-c\n-4",
		"--linger\n1s", "-é", "--\n-V", "-Z", "-?", "--tcpip", "-c=3", "--json=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			return // not a command line: no argument holds a NUL
		}
		args := strings.Split(s, "\n")
		tokens, stderr, status := asNetstat(args)
		if status == 0 {
			var o netstatOptions
			fs := pflag.NewFlagSet("socktrace", pflag.ContinueOnError)
			o.addFlags(fs)
			fs.BoolP("help", "h", false, "")
			fs.SetOutput(&bytes.Buffer{})
			if err := fs.Parse(tokens); err != nil && !ownExtension(tokens) {
				t.Fatalf("%q: the flag set refuses %q: %v", args, tokens, err)
			}
		}
		// netstat 2.10 prints an internal error for --tcpip, and its
		// usage for -h, where socktrace has its own help.
		if ownExtension(tokens) || slices.Contains(tokens, "--tcpip") || slices.Contains(tokens, "--help") ||
			strings.Contains(stderr, "Too much address family") {
			return
		}
		want, wantStatus, ok := runNetstat(t, args)
		if ok && (stderr != want || status != wantStatus) {
			t.Fatalf("%q: status %d, stderr\n%s\nnetstat: status %d, stderr\n%s", args, status, stderr, wantStatus, want)
		}
	})
}

// ownExtension reports whether tokens use what socktrace adds to
// netstat's command line: -c's interval, its own long options.
func ownExtension(tokens []string) bool {
	for _, tok := range tokens {
		name, _, _ := strings.Cut(strings.TrimPrefix(tok, "--"), "=")
		if _, own := ownLongOptions[name]; own || strings.HasPrefix(tok, "--continuous=") {
			return true
		}
	}
	return false
}

// Each flag of the root command is one netstatArgs reads: netstat's, or
// socktrace's own. A flag added to neither list could not be given.
func TestEveryFlagIsRead(t *testing.T) {
	newRootCmd().Flags().VisitAll(func(f *pflag.Flag) {
		if _, own := ownLongOptions[f.Name]; own {
			return
		}
		for _, o := range netstatLongOptions {
			if o.name == f.Name {
				return
			}
		}
		t.Errorf("--%s is neither netstat's option nor in ownLongOptions: netstatArgs refuses it", f.Name)
	})
}
