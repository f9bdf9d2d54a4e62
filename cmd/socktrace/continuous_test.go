package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// digits are the numbers in a table, which change from one table to the
// next (counters, ports, times).
var digits = regexp.MustCompile(`[0-9]+`)

// shape is output with runs of blanks squeezed and numbers as #, without
// the live table's summary lines, which are socktrace's own.
func shape(out []byte) []string {
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		l = digits.ReplaceAllString(strings.Join(strings.Fields(l), " "), "#")
		if l != "" && !strings.HasPrefix(l, "-- ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// Under -c each table repeats what netstat repeats, titles and headers
// alike (-i's title only once), and -s prints once and exits 0, as
// netstat -sc does. netstat runs for two tables; socktrace until it has
// printed as many lines, and the two are compared.
func TestContinuousLikeNetstat(t *testing.T) {
	tables := tablesNS(t)
	// The unix tables run in a namespace of their own: netstat opens unix
	// sockets (-r to ask nscd for names, -i for its ioctls), which they
	// would list while the other runs go on.
	unix := nstest.New(t)
	for _, c := range []string{"-tc", "-tanc", "-c", "-ic", "-iac", "-iec", "-rc", "-rnc", "-6 -rnc", "-4 -6 -rnc",
		"-sc", "-s -6 -c", "-xc", "-uc", "-uac"} {
		t.Run(strings.ReplaceAll(c, " ", "_"), func(t *testing.T) {
			t.Parallel()
			args := strings.Fields(c)
			ns := tables
			if c == "-c" || c == "-xc" {
				ns = unix
			}
			nc := ns.Command("netstat", args...)
			w := exec.Command("timeout", append([]string{"-s", "INT", "1.5"}, nc.Args...)...)
			want, err := w.Output()
			var exit *exec.ExitError
			wantEnd := err == nil
			if !wantEnd && (!errors.As(err, &exit) || exit.ExitCode() != 124) {
				t.Fatalf("netstat %s: %v", c, err)
			}
			out := filepath.Join(t.TempDir(), "out")
			var stderr lockedBuffer
			cmd := ns.Peer("socktrace-table", args...)
			cmd.Stderr = &stderr
			gotEnd := runUntilLines(t, cmd, out, len(shape(want)))
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if gotEnd != wantEnd {
				t.Errorf("socktrace ended by itself: %v; netstat: %v", gotEnd, wantEnd)
			}
			wl, gl := shape(want), shape(got)
			if !wantEnd {
				gl = gl[:min(len(gl), len(wl))]
			}
			if !slices.Equal(wl, gl) {
				t.Errorf("differs from netstat:\n--- netstat\n%s\n--- socktrace\n%s\n--- its stderr\n%s",
					strings.Join(wl, "\n"), strings.Join(gl, "\n"), stderr.String())
			}
		})
	}
}

// runUntilLines runs cmd with its output to the file out until it ends
// by itself (reported true; a failure fails t) or has printed n lines of
// shape and not ended within a second, when it is sent SIGINT.
func runUntilLines(t *testing.T, cmd *exec.Cmd, out string, n int) (byItself bool) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The deadline is long: with every kernel test running in parallel, a
	// tracer's start (program load and verification) can take seconds.
	for deadline := time.Now().Add(60 * time.Second); ; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("socktrace: %v", err)
			}
			return true
		case <-time.After(20 * time.Millisecond):
		}
		if b, _ := os.ReadFile(out); len(shape(b)) >= n || time.Now().After(deadline) {
			break
		}
	}
	// A mode that prints once (-sc) may have written its last line but
	// not yet exited: give it a moment to end by itself.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("socktrace: %v", err)
		}
		return true
	case <-time.After(time.Second):
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("socktrace after SIGINT: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("socktrace still running 10s after SIGINT")
	}
	return false
}
