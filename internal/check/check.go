// Package check is socktrace check: whether this host can run socktrace,
// and what it would miss. Every kernel hook is attached for real and
// detached at once, because only the kernel says which ones it has and
// whether this process may use them.
package check

import (
	"fmt"
	"os"
	"strings"

	"github.com/socktrace/socktrace/tracer"
)

// Exit statuses of socktrace check, and the verdicts that come with the
// first and the last.
const (
	ExitOK          = 0
	ExitCannot      = 1
	ExitDegraded    = 2
	VerdictOK       = "ok: every mode works"
	VerdictDegraded = "degraded: socktrace runs, without what the FAIL lines and notes say"
)

// Config is what to check.
type Config struct {
	// Fail names hooks to report as failed without attaching them, as on
	// a kernel that lacks them: for tests of the degraded verdict. A hook
	// is named in full (tp_btf/tcp_retransmit_skb) or by its last part.
	Fail map[string]bool
}

// Report is what check found: its JSON is the --json output.
type Report struct {
	Kernel     string     `json:"kernel"`
	BTF        bool       `json:"btf"`
	Lockdown   string     `json:"lockdown"`
	Privileges Privileges `json:"privileges"`
	Tracefs    string     `json:"tracefs"`
	Hooks      []Hook     `json:"hooks"`
	Notes      []string   `json:"notes,omitempty"`
	Error      string     `json:"error,omitempty"` // why nothing loads
	Verdict    string     `json:"verdict"`
	Exit       int        `json:"exit"` // the status socktrace check ends with
}

// Hook is one kernel hook, attached or not.
type Hook struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Without string `json:"without"`
}

// Run checks this host. It refuses a Config.Fail name that no hook has:
// it would test nothing.
func Run(c Config) (*Report, error) {
	r := &Report{Kernel: kernelRelease(), Lockdown: lockdown(), Privileges: readPrivileges("/proc/self/status")}
	if p := r.Privileges; p.enough() && !p.CapSysPtrace {
		r.Notes = append(r.Notes, "without CAP_SYS_PTRACE the owners of other processes' sockets older than socktrace are unknown")
	}
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	r.BTF = err == nil
	before := tracer.TracefsMounted()
	probe, err := tracer.ProbeHooks(tracer.ProbeConfig{Fail: c.Fail})
	switch {
	case err != nil:
		r.Error = err.Error()
		r.Tracefs = tracefsLine(before, nil)
	default:
		r.Tracefs = tracefsLine(before, probe)
		r.Notes = append(r.Notes, probe.Warnings...)
		for _, h := range probe.Hooks {
			hook := Hook{Name: h.Name, OK: h.Err == nil, Without: h.Without}
			if h.Err != nil {
				hook.Error = h.Err.Error()
			}
			r.Hooks = append(r.Hooks, hook)
		}
	}
	r.Exit, r.Verdict = verdict(r, probe)
	if err := r.unknownHooks(c.Fail); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Report) unknownHooks(fail map[string]bool) error {
	if len(r.Hooks) == 0 {
		return nil // nothing loaded: no names to check against
	}
	for name := range fail {
		known := false
		for _, h := range r.Hooks {
			known = known || h.Name == name || h.Name[strings.LastIndexByte(h.Name, '/')+1:] == name
		}
		if !known {
			return fmt.Errorf("no hook is named %q; the hooks are listed by socktrace check", name)
		}
	}
	return nil
}

// verdict: socktrace traces when the programs load and one form of the
// state hook attaches; every mode works when every other hook attaches
// too, and the timer hooks have their kernel addresses.
func verdict(r *Report, probe *tracer.Probe) (int, string) {
	if probe == nil {
		return ExitCannot, "cannot trace: " + r.Error
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
		return ExitCannot, "cannot trace: no form of inet_sock_set_state attaches"
	case degraded:
		return ExitDegraded, VerdictDegraded
	}
	return ExitOK, VerdictOK
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
