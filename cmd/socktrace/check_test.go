package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

func checkCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(append([]string{"check"}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.Execute()
	return out.String(), err
}

// On this kernel every hook attaches: check says so, exits 0, and leaves
// no program, link or map behind, nor the tracefs mount it may make.
func TestCheckThisKernel(t *testing.T) {
	nstest.RequireRoot(t)
	t.Setenv(failHookEnv, "")
	objects := bpfObjects(t)
	out, err := checkCmd(t)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if n := bpfObjects(t); n != objects {
		t.Errorf("%d BPF objects open after check, %d before", n, objects)
	}
	for _, want := range []string{"kernel ", "BTF          /sys/kernel/btf/vmlinux present", "lockdown     " + lockdownNow(t) + "\n",
		"privileges   root, effective CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_SYSLOG CAP_SYS_PTRACE\n",
		"ok    tp_btf/inet_sock_set_state", "ok    tracepoint/sock/inet_sock_set_state",
		"ok    tp_btf/timer_start", "ok    tp_btf/timer_cancel", "ok    tp_btf/timer_expire_entry",
		"ok    tracepoint/syscalls/sys_exit_accept4", "ok    tracepoint/syscalls/sys_exit_accept",
		"ok    tp_btf/tcp_send_reset", "ok    tp_btf/tcp_receive_reset", "ok    tp_btf/tcp_retransmit_skb",
		"verdict      " + verdictOK} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a hook failed:\n%s", out)
	}
}

// A hook the kernel lacks (made to fail by the test knob) gives the
// degraded verdict, exit 2, and says what is missing; without the state
// hook in either form socktrace cannot trace: exit 1.
func TestCheckDegraded(t *testing.T) {
	nstest.RequireRoot(t)
	t.Setenv(failHookEnv, "tp_btf/tcp_retransmit_skb")
	out, err := checkCmd(t, "--json")
	var code exitCode
	if !errors.As(err, &code) || code != checkDegraded {
		t.Fatalf("exit %v, want %d\n%s", err, checkDegraded, out)
	}
	var r checkReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if r.Exit != checkDegraded || r.Verdict != verdictDegraded {
		t.Errorf("verdict %q exit %d", r.Verdict, r.Exit)
	}
	for _, h := range r.Hooks {
		if h.OK == (h.Name == "tp_btf/tcp_retransmit_skb") {
			t.Errorf("hook %+v", h)
		}
		if h.Name == "tp_btf/tcp_retransmit_skb" && h.Without != "retransmits are not reported" {
			t.Errorf("without %q", h.Without)
		}
	}

	t.Setenv(failHookEnv, "inet_sock_set_state")
	out, err = checkCmd(t)
	if !errors.As(err, &code) || code != checkCannot {
		t.Fatalf("exit %v, want %d\n%s", err, checkCannot, out)
	}
	if !strings.Contains(out, "verdict      cannot trace: no form of inet_sock_set_state attaches") {
		t.Errorf("verdict:\n%s", out)
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

// With CAP_BPF and CAP_PERFMON alone socktrace traces, degraded: kernel
// addresses are hidden from it (no TIME_WAIT) and other processes'
// /proc/PID/fd are closed to it. check says both, and exits 2.
func TestCheckWithoutSyslogAndPtrace(t *testing.T) {
	nstest.RequireRoot(t)
	// kallsyms_show_value(): without CAP_SYSLOG, addresses show only when
	// kptr_restrict is 0 and perf_event_paranoid at most 1.
	if sysctl(t, "kernel/kptr_restrict") == "0" && sysctlInt(t, "kernel/perf_event_paranoid") <= 1 {
		t.Fatal("kernel addresses are shown to every process here (kptr_restrict 0, perf_event_paranoid <= 1): this test would check nothing")
	}
	child := nstest.Child("socktrace-table", "check")
	cmd := exec.Command("setpriv", append([]string{"--bounding-set=-all,+bpf,+perfmon", child.Path}, child.Args[1:]...)...)
	cmd.Env = append(child.Env, failHookEnv+"=")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != checkDegraded {
		t.Fatalf("exit %v, want %d\n%s", err, checkDegraded, out)
	}
	for _, want := range []string{"privileges   root, effective CAP_BPF CAP_PERFMON\n",
		"note         without CAP_SYS_PTRACE the owners",
		"note         /proc/kallsyms hides kernel addresses from socktrace: TIME_WAIT is not reported",
		"verdict      " + verdictDegraded} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

// A test knob that names no hook is refused: it would test nothing.
func TestCheckUnknownFailHook(t *testing.T) {
	nstest.RequireRoot(t)
	t.Setenv(failHookEnv, "bogus")
	out, err := checkCmd(t)
	if err == nil || !strings.Contains(err.Error(), `no hook is named "bogus"`) {
		t.Errorf("check with %s=bogus: %v\n%s", failHookEnv, err, out)
	}
}

func sysctl(t *testing.T, name string) string {
	data, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func sysctlInt(t *testing.T, name string) int {
	n, err := strconv.Atoi(sysctl(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return n
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
