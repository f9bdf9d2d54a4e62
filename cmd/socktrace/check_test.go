package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/internal/check"
	"github.com/socktrace/socktrace/internal/nstest"
)

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

// On this kernel every hook attaches: check exits 0. (What it prints is
// internal/check's TestRunThisKernel.)
func TestCheckThisKernel(t *testing.T) {
	nstest.RequireRoot(t)
	t.Setenv(failHookEnv, "")
	out, err := checkCmd(t)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if !strings.HasSuffix(out, "verdict      "+check.VerdictOK+"\n") {
		t.Errorf("verdict:\n%s", out)
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
	if !errors.As(err, &code) || code != check.ExitDegraded {
		t.Fatalf("exit %v, want %d\n%s", err, check.ExitDegraded, out)
	}
	var r check.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if r.Exit != check.ExitDegraded || r.Verdict != check.VerdictDegraded {
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
	if !errors.As(err, &code) || code != check.ExitCannot {
		t.Fatalf("exit %v, want %d\n%s", err, check.ExitCannot, out)
	}
	if !strings.Contains(out, "verdict      cannot trace: no form of inet_sock_set_state attaches") {
		t.Errorf("verdict:\n%s", out)
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
	if !errors.As(err, &exit) || exit.ExitCode() != check.ExitDegraded {
		t.Fatalf("exit %v, want %d\n%s", err, check.ExitDegraded, out)
	}
	for _, want := range []string{"privileges   root, effective CAP_BPF CAP_PERFMON\n",
		"note         without CAP_SYS_PTRACE the owners",
		"note         /proc/kallsyms hides kernel addresses from socktrace: TIME_WAIT is not reported",
		"verdict      " + check.VerdictDegraded} {
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

// A root whose capability bounding set leaves out CAP_BPF is not told to
// use sudo: it is root already.
func TestCheckRootWithoutCaps(t *testing.T) {
	nstest.RequireRoot(t)
	child := nstest.Child("socktrace-table", "check")
	cmd := exec.Command("setpriv", append([]string{"--bounding-set=-all,+perfmon", child.Path}, child.Args[1:]...)...)
	cmd.Env = append(child.Env, failHookEnv+"=")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "which this root process lacks") || strings.Contains(string(out), "sudo") {
		t.Errorf("want the root told what it lacks, without sudo:\n%s", out)
	}
}
