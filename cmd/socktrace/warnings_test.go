package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// What the tracer could not set up is said in one form by every mode:
// "socktrace: warning: ...". Under -c, a proc root whose one process has a
// malformed net/tcp makes the tracer warn that older sockets' owners are
// unknown.
func TestLiveWarningForm(t *testing.T) {
	ns := nstest.New(t)
	root := t.TempDir()
	for _, l := range [][2]string{{"/proc/self", "self"}, {"/proc/self/ns/net", "1/ns/net"}} {
		link := filepath.Join(root, l[1])
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(l[0], link); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "1", "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	tcp := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: garbage\n"
	if err := os.WriteFile(filepath.Join(root, "1", "net", "tcp"), []byte(tcp), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := ns.Peer("socktrace-table", "--proc-root", root, "-tnc", "1")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("socktrace -tnc: %v\n%s", err, errOut.String())
	}
	const want = "socktrace: warning: owners of sockets older than socktrace are unknown: "
	if !strings.Contains(errOut.String(), "\n"+want) && !strings.HasPrefix(errOut.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
	}
}
