package tracer

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/socktrace/socktrace/internal/nstest"
	"github.com/socktrace/socktrace/snapshot"
)

// The reset reasons socktrace names are the running kernel's: the same
// names, for the same values, as the tracepoint's own format prints.
func TestResetReasonsFromKernel(t *testing.T) {
	nstest.RequireRoot(t)
	names, err := loadResetReasons()
	if err != nil {
		t.Fatal(err)
	}
	tr := &Tracer{reasons: names}
	// print fmt: "...", ..., __print_symbolic(REC->reason, { 0, "NOT_SPECIFIED" }, ...)
	_, reasons, found := bytes.Cut(sendResetFormat(t), []byte("__print_symbolic(REC->reason,"))
	entries := regexp.MustCompile(`\{ (\d+), "(\w+)" \}`).FindAllSubmatch(reasons, -1)
	if !found || len(entries) == 0 {
		t.Fatalf("no reasons in tcp_send_reset's format:\n%s", reasons)
	}
	for _, m := range entries {
		v, _ := strconv.Atoi(string(m[1]))
		if got, want := tr.ResetReason(uint16(v)), string(m[2]); got != want {
			t.Errorf("reason %d: named %q, the tracepoint's format says %q", v, got, want)
		}
	}
}

func sendResetFormat(t *testing.T) []byte {
	t.Helper()
	if _, err := ensureTracefs(); err != nil {
		t.Fatal(err)
	}
	mounts, err := snapshot.ReadMounts("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	format, err := os.ReadFile(filepath.Join(usableTracefs(mounts, isDir), "events/tcp/tcp_send_reset/format"))
	if err != nil {
		t.Fatal(err)
	}
	return format
}

func TestResetReasonFallback(t *testing.T) {
	tr := &Tracer{reasons: []string{"NOT_SPECIFIED", "", "TCP_X"}}
	for code, want := range map[uint16]string{0: "NOT_SPECIFIED", 1: "reason 1", 2: "TCP_X", 3: "reason 3", 65535: "reason 65535"} {
		if got := tr.ResetReason(code); got != want {
			t.Errorf("ResetReason(%d) = %q, want %q", code, got, want)
		}
	}
	if got := (&Tracer{}).ResetReason(0); got != "" {
		t.Errorf("ResetReason without reasons = %q, want \"\"", got)
	}
}
