package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// Every mode whose reader went away before it wrote (socktrace ... | head,
// with head gone) ends as at Ctrl-C: exit 0, and the live table with its
// loss summary, instead of death by SIGPIPE.
func TestClosedStdout(t *testing.T) {
	ns := nstest.New(t)
	for _, args := range []string{"-tan", "-xa", "-rn", "-i", "-s", "-tanc", "-uac"} {
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
			if args == "-tanc" && !lossSummary.MatchString(stderr.String()) {
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
