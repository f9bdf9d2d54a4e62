package container

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/socktrace/socktrace/snapshot"
)

// walkEvery bounds how often the cgroup hierarchy is walked again for an
// id the last walk did not find: a cgroup removed since its process acted
// is never found, and each of its events would walk again.
const walkEvery = time.Second

// ofCgroup is where the processes of cgroup v2 id run: a cgroup's id is
// the inode of its directory in the hierarchy, for as long as the cgroup
// lives (kernfs never reuses one within a boot). nil when the cgroup is
// gone or the hierarchy cannot be read.
func (r *Resolver) ofCgroup(id uint64, now time.Time) *Info {
	if in, ok := r.byID[id]; ok {
		return in
	}
	path, ok := r.cgroupPaths[id]
	if !ok && (r.walked.IsZero() || now.Sub(r.walked) >= walkEvery) {
		r.walked = now
		r.cgroupPaths = r.walkCgroups()
		path, ok = r.cgroupPaths[id]
	}
	if !ok {
		return nil
	}
	if len(r.byID) >= maxPaths {
		clear(r.byID)
	}
	in := r.ofPath("0::"+path+"\n", now)
	r.byID[id] = in
	return in
}

// walkCgroups maps the id of every cgroup in the v2 hierarchy, up to
// maxPaths of them, to its path as /proc/PID/cgroup gives it.
func (r *Resolver) walkCgroups() map[uint64]string {
	paths := make(map[uint64]string)
	root := r.cgroupMount()
	if root == "" {
		return paths
	}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if len(paths) >= maxPaths {
			return filepath.SkipAll
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if rel, err := filepath.Rel(root, p); ok && err == nil {
			paths[st.Ino] = filepath.Clean("/" + rel)
		}
		return nil
	})
	return paths
}

// cgroupMount is where the cgroup v2 hierarchy is mounted (whole: root
// "/"), found once; "" when it is not. A process that "ip netns exec"
// started has a mount namespace and a sysfs of its own, with nothing
// mounted under it: the hierarchy is then reached in the mount namespace
// of an ancestor (the shell ip netns exec ran from) or of init, through
// /proc/PID/root, and held open, as that process may end.
func (r *Resolver) cgroupMount() string {
	if r.cgroupRoot != "" {
		return r.cgroupRoot
	}
	if p := cgroup2Point(r.proc + "/self/mountinfo"); p != "" {
		r.cgroupRoot = p
		return p
	}
	for _, pid := range r.ancestors() {
		p := cgroup2Point(fmt.Sprintf("%s/%d/mountinfo", r.proc, pid))
		if p == "" {
			continue
		}
		if dir, err := os.Open(fmt.Sprintf("%s/%d/root%s", r.proc, pid, p)); err == nil {
			r.cgroupDir = dir
			// The trailing slash follows the magic link.
			r.cgroupRoot = fmt.Sprintf("/proc/self/fd/%d/", dir.Fd())
			break
		}
	}
	return r.cgroupRoot
}

// cgroup2Point is where a mountinfo file has the cgroup v2 hierarchy
// mounted whole; "" when nowhere.
func cgroup2Point(mountinfo string) string {
	mounts, err := snapshot.ReadMounts(mountinfo)
	if err != nil {
		return ""
	}
	for _, m := range mounts {
		if m.FSType == "cgroup2" && m.Root == "/" {
			return m.Point
		}
	}
	return ""
}

// ancestors are this process's parent, its parent's, and so on up to
// init, nearest first (at most 32).
func (r *Resolver) ancestors() []int {
	var pids []int
	for pid := os.Getppid(); pid > 1 && len(pids) < 32; {
		pids = append(pids, pid)
		data, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", r.proc, pid))
		if err != nil {
			break
		}
		// "PID (COMM) STATE PPID ...": comm may hold spaces and
		// parentheses, so the fields start after the last ')'.
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(f) < 2 {
			break
		}
		if pid, err = strconv.Atoi(f[1]); err != nil {
			break
		}
	}
	return append(pids, 1)
}
