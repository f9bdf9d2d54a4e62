package tracer

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
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
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find tracefs: %w", err)
	}
	defer f.Close()
	mounts, err := parseMountinfo(f)
	if err != nil {
		return "", fmt.Errorf("find tracefs: /proc/self/mountinfo: %w", err)
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

// mount is what socktrace needs of one line of /proc/PID/mountinfo.
type mount struct {
	root   string // the directory of the filesystem that is mounted
	point  string // where it is mounted
	fsType string
}

// parseMountinfo reads the format proc(5) gives for /proc/PID/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
//
// The root and the mount point are the 4th and 5th fields; a variable
// number of optional fields (master:1) ends at "-", and the filesystem
// type follows it.
func parseMountinfo(r io.Reader) ([]mount, error) {
	var mounts []mount
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) {
			return nil, fmt.Errorf("line %d: not a mountinfo line: %q", n, sc.Text())
		}
		mounts = append(mounts, mount{root: unescapeMount(f[3]), point: unescapeMount(f[4]), fsType: f[sep+1]})
	}
	return mounts, sc.Err()
}

// unescapeMount undoes the kernel's escaping of a path in mountinfo:
// space, tab, newline and backslash are written as \ and three octal
// digits.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// usableTracefs is the tracefs cilium/ebpf (v0.22.0, internal/tracefs)
// reads tracepoint ids from, or "" if it would find none. It takes the
// first tracefs mounted whole (root "/"), wherever that is; a bind mount
// of a directory inside tracefs does not count. Without one, the tracing
// directory of a debugfs mounted whole, which the kernel fills by
// mounting tracefs there when it is first looked at.
func usableTracefs(mounts []mount, isDir func(string) bool) string {
	for _, m := range mounts {
		if m.fsType == "tracefs" && m.root == "/" {
			return m.point
		}
	}
	for _, m := range mounts {
		if m.fsType == "debugfs" && m.root == "/" {
			if p := filepath.Join(m.point, "tracing"); isDir(p) {
				return p
			}
		}
	}
	return ""
}
