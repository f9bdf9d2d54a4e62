package check

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Privileges are the capabilities socktrace uses, as this process has
// them.
type Privileges struct {
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

func (p Privileges) enough() bool { return p.CapSysAdmin || p.CapBPF && p.CapPerfmon }

func (p Privileges) String() string {
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

// readPrivileges reads the effective capabilities (CapEff, a hex mask)
// from a /proc/PID/status file.
func readPrivileges(path string) Privileges {
	p := Privileges{Root: os.Geteuid() == 0}
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
