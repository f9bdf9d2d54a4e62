package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

var fixtureArgs = []string{"--proc-root", "../../snapshot/testdata/proc", "--etc-root", "../../snapshot/testdata/etc"}

func runRoot(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(append(append([]string{}, fixtureArgs...), args...))
	cmd.SetOut(&o)
	cmd.SetErr(&e)
	err = cmd.ExecuteContext(ctx)
	return o.String(), e.String(), err
}

func TestNetstatFixture(t *testing.T) {
	out, errOut, err := runRoot(context.Background(), "-tanp")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"tcp        0      0 0.0.0.0:80              0.0.0.0:*               LISTEN      100/sshd            \n",
		"tcp      100      0 127.0.0.1:22            127.0.0.1:47456         ESTABLISHED 100/sshd            \n",
		"tcp        0      0 127.0.0.1:47456         127.0.0.1:22            TIME_WAIT   -                   \n",
		"tcp6       0      0 127.0.0.1:22            127.0.0.1:54321         ESTABLISHED -                   \n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The fixture's bad line is reported, and the rest still printed.
	if !strings.Contains(errOut, "tcp line 5") {
		t.Errorf("stderr %q does not report the bad line", errOut)
	}
}

// A usage error is one line saying what is wrong, then the hint; cobra's
// usage block is not printed.
func TestNetstatUsageErrors(t *testing.T) {
	const hint = "\nTry 'socktrace --help' for more information."
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-k"}, "unknown shorthand flag: 'k' in -k"},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"-r", "-i"}, "-r, -i and -s cannot be combined"},
		{[]string{"-ri"}, "-r, -i and -s cannot be combined"},
		{[]string{"-s", "-r"}, "-r, -i and -s cannot be combined"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-c", "2", "3"}, `unexpected argument "3"`},
		{[]string{"--linger", "5s"}, "--linger takes a positive duration, and needs -c"},
	} {
		out, errOut, err := runRoot(context.Background(), tc.args...)
		if err == nil || err.Error() != tc.want+hint {
			t.Errorf("%q: error %q, want %q", tc.args, err, tc.want+hint)
		}
		if out != "" || errOut != "" {
			t.Errorf("%q: printed %q, %q besides the error", tc.args, out, errOut)
		}
	}
	err := execute("trace", "--bogus")
	if want := "unknown flag: --bogus\nTry 'socktrace trace --help' for more information."; err == nil || err.Error() != want {
		t.Errorf("trace --bogus: error %q, want %q", err, want)
	}
}

func TestNetstatContinuousStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	out, _, err := runRoot(ctx, "-tn", "-c", "1")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "Active Internet connections"); n < 2 {
		t.Errorf("printed %d tables in 1.5s with -c 1, want 2", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("-c kept running %v after cancel", d)
	}
}

func TestNetstatJSON(t *testing.T) {
	out, _, err := runRoot(context.Background(), "-tanp", "--json")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"proto":"tcp","recv_q":100,"send_q":0,"local":"127.0.0.1:22","remote":"127.0.0.1:47456","state":"ESTABLISHED","uid":1000,"inode":9975,"pid":100,"program":"sshd","comm":"sshd"}`
	if !strings.Contains(out, want+"\n") {
		t.Errorf("no line %s in:\n%s", want, out)
	}
	if strings.Contains(out, "Active") {
		t.Error("--json printed a table header")
	}
}
