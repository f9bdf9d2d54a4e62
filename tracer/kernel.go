package tracer

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// kernelSymbols finds the addresses of the given functions in /proc/kallsyms.
// Missing names are absent from the result; addresses read as 0 when
// kptr_restrict hides them from this process (without CAP_SYSLOG), and are
// dropped too: hidden says so.
func kernelSymbols(path string, names ...string) (found map[string]uint64, hidden bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, fmt.Errorf("read kernel symbols: %w", err)
	}
	defer f.Close()
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	found = make(map[string]uint64, len(names))
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(found) < len(names) {
		// "ffffffff82006070 t tw_timer_handler" (modules add "\t[mod]")
		addr, rest, ok := strings.Cut(sc.Text(), " ")
		if !ok || len(rest) < 3 || (rest[0] != 't' && rest[0] != 'T') {
			continue
		}
		name := rest[2:]
		if !want[name] {
			continue
		}
		a, err := strconv.ParseUint(addr, 16, 64)
		if err == nil && a != 0 {
			found[name] = a
		}
		hidden = hidden || (err == nil && a == 0)
	}
	if err := sc.Err(); err != nil {
		return nil, false, fmt.Errorf("read kernel symbols: %w", err)
	}
	return found, hidden, nil
}

// ErrPrivileges is returned by New when the process may not load BPF
// programs.
var ErrPrivileges = errors.New("tracing needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): run socktrace as root (sudo)")

// checkPrivileges fails early and clearly, instead of with the first map
// creation's EPERM.
func checkPrivileges() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil // let the load itself tell
	}
	has := func(c int) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(unix.CAP_SYS_ADMIN) || has(unix.CAP_BPF) && has(unix.CAP_PERFMON) {
		return nil
	}
	if unix.Geteuid() == 0 {
		// sudo would not help: root's capabilities were taken away.
		return rootWithoutCaps{}
	}
	return ErrPrivileges
}

// rootWithoutCaps is ErrPrivileges for a root process whose capability
// bounding set (a container's, a unit's, setpriv's) leaves them out.
type rootWithoutCaps struct{}

func (rootWithoutCaps) Error() string {
	return "tracing needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), which this root process lacks: its capability bounding set leaves them out; give it those two"
}

func (rootWithoutCaps) Is(target error) bool { return target == ErrPrivileges }
