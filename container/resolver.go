package container

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Config sets up a Resolver. The zero value reads the host's /proc and
// /var/log/pods.
type Config struct {
	ProcRoot string // default "/proc"
	// CgroupRoot is where the cgroup v2 hierarchy is mounted, to name the
	// cgroup of an owner that is gone by its id. Default: the first
	// cgroup2 mount in ProcRoot/self/mountinfo.
	CgroupRoot string
	// PodLogs is the kubelet's log directory, whose entries are named
	// NAMESPACE_NAME_UID: the only place a node keeps a pod's name
	// without a runtime API. Default "/var/log/pods".
	PodLogs string
}

// Resolver finds where processes run, caching by process and by cgroup
// path, so that an event costs a look at a slot (or a map lookup) and
// /proc/PID/cgroup is read once per process (and again only after
// recheckAfter, when it is asked again).
type Resolver struct {
	proc, podLogs string
	byPID         map[pidKey]pidEntry
	recent        [recentSlots]recentEntry // byPID's latest entries, by pid
	byPath        map[string]*Info         // by /proc/PID/cgroup content
	pods          map[string]string        // pod UID → namespace/name
	podsRead      time.Time
	cgroupRoot    string            // "" until found; see Config
	cgroupDir     *os.File          // the hierarchy held open, when reached through another process
	byID          map[uint64]*Info  // by cgroup id, once named
	cgroupPaths   map[uint64]string // cgroup id → path, as the last walk found them
	walked        time.Time         // when the last walk of the hierarchy was
}

// recent answers again for the processes just asked about without hashing
// a key: a stream of events has a few owners at a time. A slot holds what
// byPID holds for its key, the latest, so it answers as byPID would.
const (
	recentBits  = 6
	recentSlots = 1 << recentBits
)

type recentEntry struct {
	key   pidKey
	info  *Info
	until time.Time // read + recheckAfter: Before is cheaper than Sub
}

func recentSlot(pid uint32) int { return int((uint64(pid) * 0x9E3779B97F4A7C15) >> (64 - recentBits)) }

// A pid is only a process's name while it lives: the kernel reuses it.
// Keying on the comm too re-reads when a pid comes back as another
// program; the recheck catches the rest (the same program, or a process
// moved to another cgroup).
type pidKey struct {
	pid  uint32
	comm [16]byte
}

type pidEntry struct {
	info *Info // nil: no cgroup known (the process was gone)
	read time.Time
}

// Bounds on the caches: a host runs fewer processes with sockets, and
// fewer cgroups, than this; past it the cache starts over.
const (
	maxPIDs  = 16384
	maxPaths = 4096
)

// recheckAfter is how long a process's cgroup is trusted before it is read
// again; podRescan is how often at most the pod log directory is listed for
// a pod it did not name.
const (
	recheckAfter = 10 * time.Second
	podRescan    = 10 * time.Second
)

// NewResolver returns an empty Resolver.
func NewResolver(cfg Config) *Resolver {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.PodLogs == "" {
		cfg.PodLogs = "/var/log/pods"
	}
	r := &Resolver{proc: cfg.ProcRoot, podLogs: cfg.PodLogs, cgroupRoot: cfg.CgroupRoot,
		byPID: make(map[pidKey]pidEntry), byPath: make(map[string]*Info),
		pods: make(map[string]string), byID: make(map[uint64]*Info)}
	// Found now, while the process that started socktrace (whose mount
	// namespace may be the one with the hierarchy) is still there.
	r.cgroupMount()
	return r
}

// Lookup is where process pid, named comm, runs, as of now (the time of
// the event asking, so that the hot path reads no clock); nil when it is
// not known (pid 0, or the process is gone without having been looked up).
// cgroup is its cgroup v2 id as the kernel read it (0: not known): it
// names the cgroup of a process that is gone before it was looked up.
// The result is shared: do not modify it.
func (r *Resolver) Lookup(pid uint32, cgroup uint64, comm [16]byte, now time.Time) *Info {
	// The process's own /proc/PID/cgroup first: on a hybrid v1/v2 host its
	// v1 lines may name a container that its v2 cgroup ("/") does not.
	in := r.lookupPID(pid, comm, now)
	if in.Name() != "" || cgroup == 0 {
		return in
	}
	if c := r.ofCgroup(cgroup, now); c != nil {
		return c
	}
	return in
}

func (r *Resolver) lookupPID(pid uint32, comm [16]byte, now time.Time) *Info {
	if pid == 0 {
		return nil
	}
	k := pidKey{pid, comm}
	slot := &r.recent[recentSlot(pid)]
	if slot.key == k && now.Before(slot.until) {
		return slot.info
	}
	e, ok := r.byPID[k]
	if !ok || now.Sub(e.read) >= recheckAfter {
		e = r.reread(k, e, ok, now)
	}
	*slot = recentEntry{k, e.info, e.read.Add(recheckAfter)}
	return e.info
}

// reread reads k's cgroup again; was is what byPID had, if ok.
func (r *Resolver) reread(k pidKey, was pidEntry, ok bool, now time.Time) pidEntry {
	info := r.read(k.pid, now)
	if info == nil && ok {
		info = was.info // gone since: it was there
	}
	if !ok && len(r.byPID) >= maxPIDs {
		clear(r.byPID)
		r.recent = [recentSlots]recentEntry{}
	}
	e := pidEntry{info: info, read: now}
	r.byPID[k] = e
	return e
}

func (r *Resolver) read(pid uint32, now time.Time) *Info {
	data, err := os.ReadFile(r.proc + "/" + strconv.FormatUint(uint64(pid), 10) + "/cgroup")
	if err != nil {
		return nil
	}
	return r.ofPath(string(data), now)
}

// ofPath is the Info of a /proc/PID/cgroup content, parsed once per
// content: processes in the same cgroups share it. A pod the
// log directory did not name yet is looked for again, at most every
// podRescan: a pod's directory is made as it starts.
func (r *Resolver) ofPath(path string, now time.Time) *Info {
	if in, ok := r.byPath[path]; ok && (in.PodUID == "" || in.Pod != "") {
		return in
	}
	in := parseFile(path)
	if in.PodUID != "" {
		in.Pod = r.podName(in.PodUID, now)
		in.settle()
	}
	if len(r.byPath) >= maxPaths {
		clear(r.byPath)
	}
	r.byPath[path] = &in
	return &in
}

func (r *Resolver) podName(uid string, now time.Time) string {
	if name, ok := r.pods[uid]; ok {
		return name
	}
	if !r.podsRead.IsZero() && now.Sub(r.podsRead) < podRescan {
		return ""
	}
	r.podsRead = now
	r.pods = readPodLogs(r.podLogs)
	return r.pods[uid]
}

// readPodLogs maps pod UIDs to "namespace/name" from the kubelet's log
// directory names, NAMESPACE_NAME_UID. Neither a namespace nor a pod name
// may hold an underscore (both are DNS names), so the split is exact.
func readPodLogs(dir string) map[string]string {
	pods := make(map[string]string)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return pods
	}
	for _, e := range entries {
		parts := strings.Split(e.Name(), "_")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || !isUID(parts[2]) {
			continue
		}
		pods[parts[2]] = parts[0] + "/" + parts[1]
	}
	return pods
}
