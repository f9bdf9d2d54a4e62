package check

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/internal/nstest"
)

// bpfObjects counts this process's BPF programs, links and maps: the
// fds that point at them.
func bpfObjects(t *testing.T) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); strings.HasPrefix(target, "anon_inode:bpf") {
			n++
		}
	}
	return n
}

// On this kernel every hook attaches: check says so, and leaves no
// program, link or map behind, nor the tracefs mount it may make.
func TestRunThisKernel(t *testing.T) {
	nstest.RequireRoot(t)
	objects := bpfObjects(t)
	r, err := Run(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if n := bpfObjects(t); n != objects {
		t.Errorf("%d BPF objects open after check, %d before", n, objects)
	}
	if r.Exit != ExitOK {
		t.Errorf("exit %d, want %d", r.Exit, ExitOK)
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"kernel ", "BTF          /sys/kernel/btf/vmlinux present", "lockdown     " + lockdownNow(t) + "\n",
		"privileges   root, effective CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_SYSLOG CAP_SYS_PTRACE\n",
		"ok    tp_btf/inet_sock_set_state", "ok    tracepoint/sock/inet_sock_set_state",
		"ok    tp_btf/timer_start", "ok    tp_btf/timer_cancel", "ok    tp_btf/timer_expire_entry",
		"ok    tracepoint/syscalls/sys_exit_accept4", "ok    tracepoint/syscalls/sys_exit_accept",
		"ok    tp_btf/tcp_send_reset", "ok    tp_btf/tcp_receive_reset", "ok    tp_btf/tcp_retransmit_skb",
		"verdict      " + VerdictOK} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a hook failed:\n%s", out)
	}
}

func TestReadPrivileges(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		capEff string
		bpf    bool
		enough bool
	}{
		{"000001ffffffffff", true, true},
		{"000000c000000000", true, true}, // CAP_BPF (39) and CAP_PERFMON (38) alone
		{"0000008000000000", true, false},
		{"0000000000000000", false, false},
	} {
		path := filepath.Join(dir, "status")
		if err := os.WriteFile(path, []byte("Name:\tx\nCapEff:\t"+tc.capEff+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		p := readPrivileges(path)
		if p.CapBPF != tc.bpf || p.enough() != tc.enough {
			t.Errorf("CapEff %s: %+v enough %v", tc.capEff, p, p.enough())
		}
	}
}

// lockdownNow is the kernel's lockdown mode, read as check reads it but
// through a securityfs of the test's own mount namespace (unshare), so
// that the test relies on no mount of the host's.
func lockdownNow(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("unshare", "-m", "sh", "-c",
		"mount -t securityfs securityfs /sys/kernel/security 2>/dev/null; cat /sys/kernel/security/lockdown").Output()
	if err != nil {
		t.Fatalf("read the lockdown mode: %v", err)
	}
	s := string(out)
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		t.Fatalf("lockdown file %q: no mode in brackets", s)
	}
	return s[i+1 : j]
}
