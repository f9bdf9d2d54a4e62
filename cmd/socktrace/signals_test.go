package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// Every mode whose reader went away before it wrote (socktrace ... | head,
// with head gone) ends as at Ctrl-C: exit 0, and the live table with its
// loss summary, instead of death by SIGPIPE.
func TestClosedStdout(t *testing.T) {
	ns := nstest.New(t)
	for _, args := range []string{"-tan", "-xa", "-rn", "-i", "-s", "-tanc", "-uac", "top --interval 100ms"} {
		t.Run(strings.ReplaceAll(args, " ", "_"), func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			var stderr lockedBuffer
			cmd := ns.Peer("socktrace-table", strings.Fields(args)...)
			cmd.Stdout, cmd.Stderr = w, &stderr
			err = runFor(t, cmd, 10*time.Second)
			w.Close()
			if err != nil {
				t.Fatalf("exited with %v, want 0; stderr %q", err, stderr.String())
			}
			if (args == "-tanc" || strings.HasPrefix(args, "top")) && !lossSummary.MatchString(stderr.String()) {
				t.Errorf("no loss summary: %q", stderr.String())
			}
		})
	}
}

// runFor runs cmd and waits at most d for it to exit.
func runFor(t *testing.T, cmd *exec.Cmd, d time.Duration) error {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("still running after %v", d)
	}
	return nil
}

// Ctrl-C (SIGINT), SIGTERM and SIGHUP end -c without a table of their own,
// as netstat -c ends: the tables printed are the interval's, then the loss
// summary on stderr.
func TestLiveStopsWithoutExtraTable(t *testing.T) {
	t.Parallel()
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			ns := nstest.New(t)
			run := startLive(t, ns, "-tanc", "60", "--json")
			refusedConnect(t, ns) // an event, for the summary to count
			if tables := run.stopBy(t, sig); len(tables) != 1 {
				t.Errorf("%d tables, want 1: the one at start, none at %v", len(tables), sig)
			}
		})
	}
}

// A hang-up ends trace as Ctrl-C does: the loss summary, exit 0.
func TestTraceHangUp(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	var stderr lockedBuffer
	cmd := ns.Peer("socktrace-table", "trace", "--port", "1")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	waitStarted(t, &stderr)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("trace exited with %v after SIGHUP, want 0; stderr %q", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("trace still running 10s after SIGHUP")
	}
	if !lossSummary.MatchString(stderr.String()) {
		t.Errorf("no loss summary: %q", stderr.String())
	}
}

// Started with SIGHUP ignored (nohup), socktrace keeps it ignored: it goes
// on printing tables after a hang-up.
func TestLiveNohup(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	run := startLiveWith(t, ns, func(cmd *exec.Cmd) *exec.Cmd {
		w := exec.Command("sh", append([]string{"-c", `trap "" HUP; exec "$@"`, "sh"}, cmd.Args...)...)
		w.Env = cmd.Env
		return w
	}, "-tanc", "--json")
	refusedConnect(t, ns)
	if err := run.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	after := len(run.tables(t))
	run.waitTables(t, after+2)
	run.stop(t)
}

// refusedConnect connects to a closed port in ns, from a process there.
func refusedConnect(t *testing.T, ns *nstest.NS) {
	t.Helper()
	sh(t, ns, `(exec 3<>/dev/tcp/127.0.0.1/1) 2>/dev/null; true`)
}
