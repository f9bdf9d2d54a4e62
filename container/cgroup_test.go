package container

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	id1 = "3f4e1b2c5d6a7980aabbccddeeff00112233445566778899aabbccddeeff0011"
	uid = "1d2c3b4a-5e6f-4789-8abc-def012345678"
)

// uidUnderscored is uid as the systemd cgroup driver writes it into a
// slice name.
var uidUnderscored = strings.ReplaceAll(uid, "-", "_")

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		want       Info
		shown      string
	}{
		{"docker systemd driver", "/system.slice/docker-" + id1 + ".scope",
			Info{Runtime: "docker", ID: id1}, "docker:3f4e1b2c5d6a"},
		{"docker cgroupfs driver", "/docker/" + id1,
			Info{Runtime: "docker", ID: id1}, "docker:3f4e1b2c5d6a"},
		{"containerd in a pod", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidUnderscored + ".slice/cri-containerd-" + id1 + ".scope",
			Info{Runtime: "containerd", ID: id1, PodUID: uid}, uid},
		{"guaranteed pod", "/kubepods.slice/kubepods-pod" + uidUnderscored + ".slice/cri-containerd-" + id1 + ".scope",
			Info{Runtime: "containerd", ID: id1, PodUID: uid}, uid},
		{"cri-o", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidUnderscored + ".slice/crio-" + id1 + ".scope",
			Info{Runtime: "cri-o", ID: id1, PodUID: uid}, uid},
		{"cri-o's monitor is no container", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidUnderscored + ".slice/crio-conmon-" + id1 + ".scope",
			Info{PodUID: uid}, uid},
		{"podman", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id1 + ".scope",
			Info{Runtime: "podman", ID: id1}, "podman:3f4e1b2c5d6a"},
		{"podman's monitor", "/machine.slice/libpod-conmon-" + id1 + ".scope",
			Info{Unit: "libpod-conmon-" + id1 + ".scope"}, "libpod-conmon-" + id1 + ".scope"},
		{"pod under cgroupfs", "/kubepods/burstable/pod" + uid + "/" + id1,
			Info{ID: id1, PodUID: uid}, uid},
		{"seen from another cgroup namespace", "/../../system.slice/docker-" + id1 + ".scope",
			Info{Runtime: "docker", ID: id1}, "docker:3f4e1b2c5d6a"},
		{"systemd service", "/system.slice/nginx.service", Info{Unit: "nginx.service"}, "nginx.service"},
		{"user session", "/user.slice/user-1000.slice/session-3.scope", Info{Unit: "session-3.scope"}, "session-3.scope"},
		{"init", "/init.scope", Info{Unit: "init.scope"}, "init.scope"},
		{"root cgroup", "/", Info{}, ""},
		{"short id is no container", "/system.slice/docker-abc.scope", Info{Unit: "docker-abc.scope"}, "docker-abc.scope"},
		{"malformed pod uid", "/kubepods.slice/kubepods-podnotauid.slice", Info{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parse(tc.path)
			tc.want.settle()
			if got != tc.want {
				t.Errorf("parse(%q) = %+v, want %+v", tc.path, got, tc.want)
			}
			if s := got.Name(); s != tc.shown {
				t.Errorf("Name() = %q, want %q", s, tc.shown)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"v2", "0::/system.slice/nginx.service\n", "nginx.service"},
		{"hybrid prefers unified", "12:memory:/docker/" + id1 + "\n1:name=systemd:/system.slice/a.service\n0::/system.slice/b.service\n", "b.service"},
		{"hybrid, unified at the root", "4:memory:/docker/" + id1 + "\n1:name=systemd:/docker/" + id1 + "\n0::/\n", "docker:3f4e1b2c5d6a"},
		{"v1 controllers only", "12:memory:/docker/" + id1 + "\n", "docker:3f4e1b2c5d6a"},
		{"empty", "", ""},
		{"garbage", "nonsense\n", ""},
	} {
		in := parseFile(tc.data)
		if got := in.Name(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestContainerID(t *testing.T) {
	in := &Info{Runtime: "containerd", ID: id1, PodUID: uid}
	in.settle()
	if got := in.ContainerID(); got != "containerd://"+id1 {
		t.Errorf("ContainerID = %q", got)
	}
	var none *Info
	if none.Name() != "" || none.ContainerID() != "" {
		t.Error("nil Info has a name")
	}
}

// fixture is a proc tree and a kubelet log directory.
type fixture struct{ proc, pods string }

func newFixture(t testing.TB) *fixture {
	dir := t.TempDir()
	f := &fixture{proc: filepath.Join(dir, "proc"), pods: filepath.Join(dir, "pods")}
	for _, d := range []string{
		"kube-system_coredns-5d78c9869d-x2x7q_" + uid,
		"default_web-0_2e4d6f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
		"not_a_pod_dir",
		"bad_uid_123",
	} {
		if err := os.MkdirAll(filepath.Join(f.pods, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) setCgroup(t testing.TB, pid int, path string) {
	dir := filepath.Join(f.proc, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte("0::"+path+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func comm(s string) (c [16]byte) {
	copy(c[:], s)
	return c
}

func TestResolverNamesPodsFromLogDirectory(t *testing.T) {
	f := newFixture(t)
	f.setCgroup(t, 10, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"+uidUnderscored+".slice/cri-containerd-"+id1+".scope")
	other := "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	f.setCgroup(t, 11, "/kubepods.slice/kubepods-pod"+strings.ReplaceAll(other, "-", "_")+".slice/cri-containerd-"+id1+".scope")
	r := NewResolver(Config{ProcRoot: f.proc, PodLogs: f.pods})
	now := time.Unix(1000, 0)
	if got := r.Lookup(10, 0, comm("coredns"), now).Name(); got != "kube-system/coredns-5d78c9869d-x2x7q" {
		t.Errorf("pod with a log directory: %q", got)
	}
	if got := r.Lookup(11, 0, comm("x"), now).Name(); got != other {
		t.Errorf("pod without a log directory: %q, want its UID", got)
	}
	// The pod's directory appears as it starts: found at the next rescan.
	if err := os.Mkdir(filepath.Join(f.pods, "prod_api-7_"+other), 0o755); err != nil {
		t.Fatal(err)
	}
	later := now.Add(recheckAfter + podRescan)
	if got := r.Lookup(11, 0, comm("x"), later).Name(); got != "prod/api-7" {
		t.Errorf("after the rescan: %q", got)
	}
}

func TestResolverCaches(t *testing.T) {
	f := newFixture(t)
	f.setCgroup(t, 20, "/system.slice/nginx.service")
	r := NewResolver(Config{ProcRoot: f.proc, PodLogs: f.pods})
	now := time.Unix(1000, 0)
	first := r.Lookup(20, 0, comm("nginx"), now)
	if first.Name() != "nginx.service" {
		t.Fatalf("got %q", first.Name())
	}
	// Within the recheck the file is not read again: a change to it is
	// not seen, and a lookup reads nothing.
	f.setCgroup(t, 20, "/system.slice/docker-"+id1+".scope")
	if got := r.Lookup(20, 0, comm("nginx"), now.Add(time.Second)); got != first {
		t.Errorf("re-read within the recheck: %+v", got)
	}
	// A pid that comes back as another program is read again at once.
	if got := r.Lookup(20, 0, comm("redis"), now.Add(time.Second)).Name(); got != "docker:3f4e1b2c5d6a" {
		t.Errorf("reused pid: %q", got)
	}
	// The same program after the recheck is read again too.
	f.setCgroup(t, 20, "/system.slice/sshd.service")
	if got := r.Lookup(20, 0, comm("nginx"), now.Add(recheckAfter)).Name(); got != "sshd.service" {
		t.Errorf("after the recheck: %q", got)
	}
	// A process gone since keeps what was read while it lived.
	if err := os.RemoveAll(filepath.Join(f.proc, "20")); err != nil {
		t.Fatal(err)
	}
	if got := r.Lookup(20, 0, comm("nginx"), now.Add(3*recheckAfter)).Name(); got != "sshd.service" {
		t.Errorf("after exit: %q", got)
	}
	if got := r.Lookup(21, 0, comm("nginx"), now); got != nil {
		t.Errorf("unknown pid: %+v", got)
	}
	if got := r.Lookup(0, 0, comm(""), now); got != nil {
		t.Errorf("pid 0: %+v", got)
	}
}

// Processes whose answers share a slot of the recent ones each get their
// own; and when the cache starts over, so do the recent ones: a process is
// read again, as it would be without them.
func TestResolverRecent(t *testing.T) {
	f := newFixture(t)
	a := uint32(40)
	b := a + 1
	for recentSlot(b) != recentSlot(a) {
		b++
	}
	f.setCgroup(t, int(a), "/system.slice/nginx.service")
	f.setCgroup(t, int(b), "/system.slice/redis.service")
	r := NewResolver(Config{ProcRoot: f.proc, PodLogs: f.pods})
	now := time.Unix(1000, 0)
	for range 3 {
		if got := r.Lookup(a, 0, comm("nginx"), now).Name(); got != "nginx.service" {
			t.Fatalf("pid %d: %q", a, got)
		}
		if got := r.Lookup(b, 0, comm("redis"), now).Name(); got != "redis.service" {
			t.Fatalf("pid %d, in the same slot: %q", b, got)
		}
	}
	// Others fill the cache, b's slot left alone, and one more makes it
	// start over.
	f.setCgroup(t, int(b), "/system.slice/sshd.service")
	for pid, n := uint32(100000), len(r.byPID); n <= maxPIDs; pid++ {
		if recentSlot(pid) != recentSlot(b) {
			r.Lookup(pid, 0, comm("x"), now)
			n++
		}
	}
	if got := r.Lookup(b, 0, comm("redis"), now).Name(); got != "sshd.service" {
		t.Errorf("after the cache started over: %q, not read again", got)
	}
}

func TestResolverBounded(t *testing.T) {
	f := newFixture(t)
	r := NewResolver(Config{ProcRoot: f.proc, PodLogs: f.pods})
	now := time.Unix(1000, 0)
	for pid := uint32(1); pid <= maxPIDs+10; pid++ {
		r.Lookup(pid, 0, comm("x"), now)
	}
	if n := len(r.byPID); n > maxPIDs {
		t.Errorf("%d pids cached, bound %d", n, maxPIDs)
	}
}

func TestLookupAllocatesNothingWhenCached(t *testing.T) {
	f := newFixture(t)
	f.setCgroup(t, 30, "/system.slice/nginx.service")
	r := NewResolver(Config{ProcRoot: f.proc, PodLogs: f.pods})
	now := time.Unix(1000, 0)
	c := comm("nginx")
	r.Lookup(30, 0, c, now)
	if n := testing.AllocsPerRun(100, func() { r.Lookup(30, 0, c, now) }); n != 0 {
		t.Errorf("%v allocations per cached lookup", n)
	}
}

// mkInode makes the directory path and returns its inode.
func mkInode(t *testing.T, path string) uint64 {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// A process gone before it was looked up is named by its cgroup id, the
// inode of its cgroup's directory, found by a walk of the hierarchy; a
// live process's own cgroup file comes first.
func TestResolverByCgroupID(t *testing.T) {
	f := newFixture(t)
	root := t.TempDir()
	docker := mkInode(t, filepath.Join(root, "system.slice", "docker-"+id1+".scope"))
	r := NewResolver(Config{ProcRoot: f.proc, PodLogs: f.pods, CgroupRoot: root})
	now := time.Unix(1000, 0)
	if got := r.Lookup(70, docker, comm("curl"), now).Name(); got != "docker:3f4e1b2c5d6a" {
		t.Fatalf("gone process in docker's cgroup: %q", got)
	}
	// A cgroup made since the last walk is found by the next, at most
	// every walkEvery.
	unit := mkInode(t, filepath.Join(root, "system.slice", "cron.service"))
	if got := r.Lookup(72, unit, comm("job"), now.Add(walkEvery/2)); got != nil {
		t.Errorf("walked again within %v: %+v", walkEvery, got)
	}
	if got := r.Lookup(72, unit, comm("job"), now.Add(walkEvery)).Name(); got != "cron.service" {
		t.Errorf("after %v: %q", walkEvery, got)
	}
	// Named once, kept: the directory may go with its cgroup.
	if err := os.Remove(filepath.Join(root, "system.slice", "docker-"+id1+".scope")); err != nil {
		t.Fatal(err)
	}
	if got := r.Lookup(71, docker, comm("curl"), now.Add(3*walkEvery)).Name(); got != "docker:3f4e1b2c5d6a" {
		t.Errorf("after the cgroup went: %q", got)
	}
	// A live process's own file wins: on a hybrid host its v1 lines may
	// name what its v2 cgroup does not.
	f.setCgroup(t, 73, "/system.slice/nginx.service")
	if got := r.Lookup(73, unit, comm("nginx"), now.Add(walkEvery)).Name(); got != "nginx.service" {
		t.Errorf("live process: %q", got)
	}
}

// A process that "ip netns exec" started has a sysfs of its own with no
// cgroup2 under it: the hierarchy is found in init's mount namespace,
// through /proc/1/root.
func TestResolverFindsInitsCgroupMount(t *testing.T) {
	f := newFixture(t)
	write := func(path, data string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(f.proc, "self", "mountinfo"), "22 28 0:21 / /sys rw - sysfs sysfs rw\n")
	write(filepath.Join(f.proc, "1", "mountinfo"), "22 28 0:21 / /sys rw - sysfs sysfs rw\n"+
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
	docker := mkInode(t, filepath.Join(f.proc, "1", "root", "sys", "fs", "cgroup", "unified", "system.slice", "docker-"+id1+".scope"))
	r := NewResolver(Config{ProcRoot: f.proc, PodLogs: f.pods})
	if got := r.Lookup(80, docker, comm("curl"), time.Unix(1000, 0)).Name(); got != "docker:3f4e1b2c5d6a" {
		t.Errorf("gone process, hierarchy through /proc/1/root: %q", got)
	}
}
