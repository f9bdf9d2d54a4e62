package table

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/socktrace/socktrace/snapshot"
)

// writeProc writes a fake /proc/<pid> with its comm (the kernel ends it
// with a newline) and cmdline (NUL-separated arguments).
func writeProc(t *testing.T, root string, pid int, comm, cmdline string) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(comm+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmdline"), []byte(cmdline), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestProgram(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, 100, "python3", "/usr/local/bin/python3.12\x00/srv/app.py\x00")
	writeProc(t, root, 101, "srv", "./srv\x00--port\x008080\x00")
	writeProc(t, root, 102, "kworker/0:1", "")
	// pid 300 is now another process than the one the event saw.
	writeProc(t, root, 300, "bash", "/bin/bash\x00")
	writeProc(t, root, 104, "python3", "/usr/bin/python3\x00")
	java := snapshot.Owner{PID: 400, Comm: snapshot.CommOf("java")}
	tbl := New(Config{ProcRoot: root,
		Seed: snapshot.Owners{ByInode: map[uint64]snapshot.Owner{42: java}, Programs: map[snapshot.Owner]string{java: "jenkins"}}})

	tests := []struct {
		name  string
		owner snapshot.Owner
		want  string
	}{
		{"argv[0]'s base name when comm matches", snapshot.Owner{PID: 100, Comm: snapshot.CommOf("python3")}, "python3.12"},
		{"a relative argv[0] as it is", snapshot.Owner{PID: 101, Comm: snapshot.CommOf("srv")}, "./srv"},
		{"the task name without a cmdline (kernel thread)", snapshot.Owner{PID: 102, Comm: snapshot.CommOf("kworker/0:1")}, "kworker/0:1"},
		{"the task name when the process is gone", snapshot.Owner{PID: 200, Comm: snapshot.CommOf("nginx")}, "nginx"},
		{"the task name when the pid is reused", snapshot.Owner{PID: 300, Comm: snapshot.CommOf("sshd")}, "sshd"},
		{"the task name when the process has another", snapshot.Owner{PID: 104, Comm: snapshot.CommOf("NetWorker")}, "NetWorker"},
		{"the seed's program, without reading /proc", snapshot.Owner{PID: 400, Comm: snapshot.CommOf("java")}, "jenkins"},
		{"the task name for an unknown owner", snapshot.Owner{}, ""},
	}
	for _, tt := range tests {
		if got := tbl.Program(tt.owner); got != tt.want {
			t.Errorf("%s: Program(%d/%s) = %q, want %q", tt.name, tt.owner.PID, tt.owner.Comm, got, tt.want)
		}
	}

	// Names are cached: a process that exits, or whose pid is reused,
	// keeps the name it had.
	if err := os.RemoveAll(filepath.Join(root, "100")); err != nil {
		t.Fatal(err)
	}
	writeProc(t, root, 200, "nginx", "/usr/sbin/nginx-debug\x00")
	writeProc(t, root, 300, "sshd", "/usr/sbin/sshd-session\x00")
	for _, tt := range tests {
		if got := tbl.Program(tt.owner); got != tt.want {
			t.Errorf("%s, cached: Program(%d/%s) = %q, want %q", tt.name, tt.owner.PID, tt.owner.Comm, got, tt.want)
		}
	}
}

func TestProgramCacheBounded(t *testing.T) {
	p := newPrograms(t.TempDir())
	for pid := range maxPrograms + 10 {
		p.name(snapshot.Owner{PID: uint32(pid + 1), Comm: snapshot.CommOf("w")})
		if len(p.names) > maxPrograms {
			t.Fatalf("after %d owners the cache holds %d names, want at most %d", pid+1, len(p.names), maxPrograms)
		}
	}
}
