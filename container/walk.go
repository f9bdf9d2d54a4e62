package container

import (
	"io/fs"
	"path/filepath"
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
// "/"), found once; "" when it is not.
func (r *Resolver) cgroupMount() string {
	if r.cgroupRoot != "" {
		return r.cgroupRoot
	}
	mounts, err := snapshot.ReadMounts(r.proc + "/self/mountinfo")
	if err != nil {
		return ""
	}
	for _, m := range mounts {
		if m.FSType == "cgroup2" && m.Root == "/" {
			r.cgroupRoot = m.Point
			break
		}
	}
	return r.cgroupRoot
}
