package tracer

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/snapshot"
)

// tracefsDir is where socktrace mounts tracefs when none is mounted: the
// kernel's own mount point for it (since 4.1).
const tracefsDir = "/sys/kernel/tracing"

// ensureTracefs makes the classic tracepoints' ids readable: cilium/ebpf
// reads them from tracefs (events/GROUP/NAME/id); tp_btf and raw
// tracepoints don't need it. A fresh Debian machine has none mounted, and
// neither has the fresh sysfs that ip netns exec gives a command.
// It mounts tracefs only when cilium/ebpf would find none, and returns
// where it mounted it ("" when one was there already).
//
// cilium/ebpf looks the path up once per process, at its first classic
// tracepoint, and keeps the answer, a failure included: this must run
// before the first link.Tracepoint. It reads mountinfo only once too, as
// the process starts (package rlimit's init creates a map, which looks
// for a BPF token among the mounts), so a tracefs mounted later is found
// only where it also checks without mountinfo: /sys/kernel/tracing.
func ensureTracefs() (mounted string, err error) {
	mounts, err := snapshot.ReadMounts("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find tracefs: %w", err)
	}
	if usableTracefs(mounts, isDir) != "" {
		return "", nil
	}
	if err := unix.Mount("nodev", tracefsDir, "tracefs", 0, ""); err != nil {
		return "", fmt.Errorf("mount tracefs on %s: %w", tracefsDir, err)
	}
	return tracefsDir, nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// usableTracefs is the tracefs cilium/ebpf (v0.22.0, internal/tracefs)
// reads tracepoint ids from, or "" if it would find none. It takes the
// first tracefs mounted whole (root "/"), wherever that is; a bind mount
// of a directory inside tracefs does not count. Without one, the tracing
// directory of a debugfs mounted whole, which the kernel fills by
// mounting tracefs there when it is first looked at.
func usableTracefs(mounts []snapshot.Mount, isDir func(string) bool) string {
	for _, m := range mounts {
		if m.FSType == "tracefs" && m.Root == "/" {
			return m.Point
		}
	}
	for _, m := range mounts {
		if m.FSType == "debugfs" && m.Root == "/" {
			if p := filepath.Join(m.Point, "tracing"); isDir(p) {
				return p
			}
		}
	}
	return ""
}
