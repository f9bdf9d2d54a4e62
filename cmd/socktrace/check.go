package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/tracer"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// failHookEnv names hooks (comma-separated) that check reports as failed
// without attaching them: a kernel that lacks them, for tests.
const failHookEnv = "SOCKTRACE_CHECK_FAIL_HOOK"

// Exit codes of socktrace check.
const (
	checkOK         = 0
	checkCannot     = 1
	checkDegraded   = 2
	verdictOK       = "ok: every mode works"
	verdictDegraded = "degraded: socktrace runs, without what the FAIL lines and notes say"
)

// exitCode is an error that ends socktrace with that status and no
// message: the command printed its own.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

type checkOptions struct{ json bool }

func newCheckCmd() *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Say whether this host can run socktrace, and what it would miss",
		Long: `Check the kernel, privileges and every kernel hook socktrace uses: each
hook is attached for real and detached at once, and nothing is left
behind (a tracefs check had to mount is unmounted again).

Exit status: 0 when every mode works, 1 when socktrace cannot trace at
all, 2 when it runs degraded (the lines marked FAIL say what is missing).

` + failHookEnv + `=NAME[,NAME] reports those hooks as failed without
attaching them: for tests of the degraded verdict.`,
		Args:         noArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			fail := failHooks(os.Getenv(failHookEnv))
			r := runCheck(fail)
			if err := r.unknownHooks(fail); err != nil {
				return err
			}
			var err error
			if o.json {
				err = r.writeJSON(cmd.OutOrStdout())
			} else {
				err = r.writeText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if r.Exit != checkOK {
				return exitCode(r.Exit)
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(flagError)
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as one JSON object")
	return cmd
}

func failHooks(env string) map[string]bool {
	fail := map[string]bool{}
	for name := range strings.SplitSeq(env, ",") {
		if name = strings.TrimSpace(name); name != "" {
			fail[name] = true
		}
	}
	return fail
}

// unknownHooks refuses a test knob that names no hook: it would test
// nothing.
func (r *checkReport) unknownHooks(fail map[string]bool) error {
	if len(r.Hooks) == 0 {
		return nil // nothing loaded: no names to check against
	}
	for name := range fail {
		known := false
		for _, h := range r.Hooks {
			known = known || h.Name == name || h.Name[strings.LastIndexByte(h.Name, '/')+1:] == name
		}
		if !known {
			return fmt.Errorf("%s: no hook is named %q; the hooks are listed by socktrace check", failHookEnv, name)
		}
	}
	return nil
}

// checkReport is what check found: its JSON is the --json output.
type checkReport struct {
	Kernel     string      `json:"kernel"`
	BTF        bool        `json:"btf"`
	Lockdown   string      `json:"lockdown"`
	Privileges privileges  `json:"privileges"`
	Tracefs    string      `json:"tracefs"`
	Hooks      []checkHook `json:"hooks"`
	Notes      []string    `json:"notes,omitempty"`
	Error      string      `json:"error,omitempty"` // why nothing loads
	Verdict    string      `json:"verdict"`
	Exit       int         `json:"exit"`
}

type checkHook struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Without string `json:"without"`
}

type privileges struct {
	Root        bool `json:"root"`
	CapBPF      bool `json:"cap_bpf"`
	CapPerfmon  bool `json:"cap_perfmon"`
	CapSysAdmin bool `json:"cap_sys_admin"`
	// CapSyslog shows kernel addresses in /proc/kallsyms, which
	// TIME_WAIT needs (kptr_restrict hides them otherwise).
	CapSyslog bool `json:"cap_syslog"`
	// CapSysPtrace reads other processes' /proc/PID/fd: the owners of
	// sockets older than socktrace.
	CapSysPtrace bool `json:"cap_sys_ptrace"`
}

func (p privileges) enough() bool { return p.CapSysAdmin || p.CapBPF && p.CapPerfmon }

func runCheck(fail map[string]bool) *checkReport {
	r := &checkReport{Kernel: kernelRelease(), Lockdown: lockdown(), Privileges: readPrivileges("/proc/self/status")}
	if p := r.Privileges; p.enough() && !p.CapSysPtrace {
		r.Notes = append(r.Notes, "without CAP_SYS_PTRACE the owners of other processes' sockets older than socktrace are unknown")
	}
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	r.BTF = err == nil
	before := tracer.TracefsMounted()
	probe, err := tracer.ProbeHooks(tracer.ProbeConfig{Fail: fail})
	switch {
	case err != nil:
		r.Error = err.Error()
		r.Tracefs = tracefsLine(before, nil)
	default:
		r.Tracefs = tracefsLine(before, probe)
		r.Notes = append(r.Notes, probe.Warnings...)
		for _, h := range probe.Hooks {
			c := checkHook{Name: h.Name, OK: h.Err == nil, Without: h.Without}
			if h.Err != nil {
				c.Error = h.Err.Error()
			}
			r.Hooks = append(r.Hooks, c)
		}
	}
	r.Exit, r.Verdict = verdict(r, probe)
	return r
}

// verdict: socktrace traces when the programs load and one form of the
// state hook attaches; every mode works when every other hook attaches
// too, and the timer hooks have their kernel addresses.
func verdict(r *checkReport, probe *tracer.Probe) (int, string) {
	if probe == nil {
		return checkCannot, "cannot trace: " + r.Error
	}
	state, degraded := false, len(r.Notes) > 0
	for _, h := range probe.Hooks {
		switch {
		case h.State && h.Err == nil:
			state = true
		case !h.State && h.Err != nil:
			degraded = true
		}
	}
	switch {
	case !state:
		return checkCannot, "cannot trace: no form of inet_sock_set_state attaches"
	case degraded:
		return checkDegraded, verdictDegraded
	}
	return checkOK, verdictOK
}

func tracefsLine(before string, probe *tracer.Probe) string {
	switch {
	case before != "":
		return "mounted on " + before
	case probe == nil:
		return "not mounted (socktrace mounts it on /sys/kernel/tracing at start, which needs CAP_SYS_ADMIN)"
	case probe.TracefsErr != nil:
		return "not mounted, and cannot be: " + probe.TracefsErr.Error()
	case probe.MountedTracefs:
		return "not mounted, mountable: socktrace mounts it on " + probe.Tracefs + " at start (check mounted and unmounted it)"
	}
	return "not mounted (no classic hook was tried)"
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// lockdown is the kernel's lockdown mode, the bracketed word of
// /sys/kernel/security/lockdown ("none [integrity] confidentiality").
// Under confidentiality the kernel refuses BPF reads of kernel memory,
// which socktrace's programs need; under integrity kprobes and fentry are
// refused, which socktrace does not use. securityfs is mounted for the
// read when it is not, and unmounted again, as tracefs is.
func lockdown() string {
	const dir = "/sys/kernel/security"
	var fs unix.Statfs_t
	mounted := unix.Statfs(dir, &fs) == nil && fs.Type == unix.SECURITYFS_MAGIC
	if !mounted {
		if err := unix.Mount("securityfs", dir, "securityfs", 0, ""); err != nil {
			return "unknown: securityfs is not mounted on " + dir + ", and could not be (needs CAP_SYS_ADMIN)"
		}
		defer func() { _ = unix.Unmount(dir, 0) }()
	}
	data, err := os.ReadFile(dir + "/lockdown")
	if errors.Is(err, os.ErrNotExist) {
		return "none (this kernel has no lockdown LSM)"
	}
	if err != nil {
		return "unknown: " + err.Error()
	}
	s := string(data)
	if i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']'); i >= 0 && j > i {
		return s[i+1 : j]
	}
	return strings.TrimSpace(s)
}

// readPrivileges reads the effective capabilities (CapEff, a hex mask)
// from a /proc/PID/status file.
func readPrivileges(path string) privileges {
	p := privileges{Root: os.Geteuid() == 0}
	data, err := os.ReadFile(path)
	if err != nil {
		return p
	}
	for line := range strings.Lines(string(data)) {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		eff, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return p
		}
		has := func(c int) bool { return eff&(1<<c) != 0 }
		p.CapBPF, p.CapPerfmon, p.CapSysAdmin = has(unix.CAP_BPF), has(unix.CAP_PERFMON), has(unix.CAP_SYS_ADMIN)
		p.CapSyslog, p.CapSysPtrace = has(unix.CAP_SYSLOG), has(unix.CAP_SYS_PTRACE)
	}
	return p
}

func (p privileges) String() string {
	var caps []string
	for _, c := range []struct {
		has  bool
		name string
	}{{p.CapBPF, "CAP_BPF"}, {p.CapPerfmon, "CAP_PERFMON"}, {p.CapSysAdmin, "CAP_SYS_ADMIN"},
		{p.CapSyslog, "CAP_SYSLOG"}, {p.CapSysPtrace, "CAP_SYS_PTRACE"}} {
		if c.has {
			caps = append(caps, c.name)
		}
	}
	who := "not root"
	if p.Root {
		who = "root"
	}
	s := who + ", effective " + strings.Join(caps, " ")
	if len(caps) == 0 {
		s = who + ", none of CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_SYSLOG CAP_SYS_PTRACE"
	}
	if !p.enough() {
		s += ": tracing needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)"
	}
	return s
}

func (r *checkReport) writeText(w io.Writer) error {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-12s %s\n", k, render.Safe(v)) }
	line("kernel", r.Kernel)
	line("BTF", map[bool]string{true: "/sys/kernel/btf/vmlinux present", false: "missing: socktrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y"}[r.BTF])
	line("lockdown", r.Lockdown)
	line("privileges", r.Privileges.String())
	line("tracefs", r.Tracefs)
	if len(r.Hooks) > 0 {
		b.WriteString("hooks\n")
	}
	for _, h := range r.Hooks {
		if h.OK {
			fmt.Fprintf(&b, "  ok    %-38s without it: %s\n", h.Name, h.Without)
			continue
		}
		fmt.Fprintf(&b, "  FAIL  %-38s %s\n        %-38s %s\n", h.Name, render.Safe(h.Error), "", "without it: "+h.Without)
	}
	for _, n := range r.Notes {
		line("note", n)
	}
	line("verdict", r.Verdict)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *checkReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
