// Package container names the container, Kubernetes pod or systemd unit a
// process runs in, from its cgroup (v2), without asking any runtime.
package container

import (
	"strings"
)

// Info is where a process runs. Every string in it comes from outside
// socktrace (cgroup and pod names): escape before printing.
type Info struct {
	// Runtime is the container runtime that named the cgroup: docker,
	// containerd, cri-o or podman; "" outside a container.
	Runtime string
	// ID is the container's id as its runtime gives it (64 hex digits).
	ID string
	// PodUID is the Kubernetes pod's UID, with dashes.
	PodUID string
	// Pod is the pod's "namespace/name", when the kubelet's log
	// directory names it.
	Pod string
	// Unit is the systemd unit (nginx.service, session-2.scope) of a
	// process in no container.
	Unit string

	name, containerID string // Name and ContainerID, made once by settle
}

// Name is how socktrace shows where the process runs: the pod
// (namespace/name, else its UID), else the container (runtime:short id),
// else the systemd unit; "" when none of them is known.
func (in *Info) Name() string {
	if in == nil {
		return ""
	}
	return in.name
}

// ContainerID is "runtime://id", as Kubernetes spells a container's id in
// a pod's status; "" outside a container.
func (in *Info) ContainerID() string {
	if in == nil {
		return ""
	}
	return in.containerID
}

// settle makes Name and ContainerID, once per cgroup rather than per event.
func (in *Info) settle() {
	switch {
	case in.Pod != "":
		in.name = in.Pod
	case in.PodUID != "":
		in.name = in.PodUID
	case in.ID != "":
		in.name = in.Runtime + ":" + shortID(in.ID)
	default:
		in.name = in.Unit
	}
	in.containerID = ""
	if in.ID != "" {
		in.containerID = in.Runtime + "://" + in.ID
	}
}

// shortID is the first 12 digits of an id, as docker ps shows it.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// cgroupPaths lists the process's cgroup paths from the contents of
// /proc/PID/cgroup, the cgroup v2 path ("0::/path") first. On a v1 or
// hybrid host the unified path may be "/" or missing while the systemd
// hierarchy ("name=systemd") or a controller's hierarchy holds the runtime's
// cgroup, so those follow, in that order.
func cgroupPaths(data string) []string {
	var unified, systemd, others []string
	for line := range strings.Lines(data) {
		line = strings.TrimRight(line, "\n")
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		ctrl, path, ok := strings.Cut(rest, ":")
		switch {
		case !ok:
		case id == "0" && ctrl == "":
			unified = append(unified, path)
		case ctrl == "name=systemd":
			systemd = append(systemd, path)
		default:
			others = append(others, path)
		}
	}
	return append(append(unified, systemd...), others...)
}

// parseFile is where a process runs, from the contents of its
// /proc/PID/cgroup: the first of its paths that names anything.
func parseFile(data string) Info {
	for _, p := range cgroupPaths(data) {
		if in := parse(p); in.name != "" {
			return in
		}
	}
	return Info{}
}

// parse derives where a process runs from its cgroup path. The path may
// start with "/.." components when the reader is in another cgroup
// namespace (a pod of its own); only the names of the components count.
func parse(path string) Info {
	var in Info
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if uid, ok := podUID(p); ok {
			in.PodUID = uid
			continue
		}
		if rt, id, ok := runtimeScope(p); ok {
			in.Runtime, in.ID = rt, id
			continue
		}
		// cgroupfs drivers: /docker/<id>, and /kubepods/<qos>/pod<uid>/<id>.
		if i > 0 && isID(p) && in.ID == "" {
			switch {
			case parts[i-1] == "docker":
				in.Runtime, in.ID = "docker", p
			case in.PodUID != "":
				in.ID = p
			}
			continue
		}
		if strings.HasSuffix(p, ".service") || strings.HasSuffix(p, ".scope") {
			in.Unit = p
		}
	}
	if in.ID != "" || in.PodUID != "" {
		in.Unit = ""
	}
	in.settle()
	return in
}

// runtimeScope recognizes a runtime's systemd scope for a container:
// docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope,
// libpod-<id>.scope. crio-conmon-<id> and libpod-conmon-<id> hold the
// runtime's monitor process, not the container, and are not containers.
func runtimeScope(p string) (runtime, id string, ok bool) {
	name, ok := strings.CutSuffix(p, ".scope")
	if !ok {
		return "", "", false
	}
	for _, r := range [...]struct{ prefix, runtime string }{
		{"docker-", "docker"},
		{"cri-containerd-", "containerd"},
		{"crio-", "cri-o"},
		{"libpod-", "podman"},
	} {
		if id, ok := strings.CutPrefix(name, r.prefix); ok && isID(id) {
			return r.runtime, id, true
		}
	}
	return "", "", false
}

// podUID recognizes a pod's cgroup: kubepods-besteffort-pod<uid>.slice
// under the systemd driver, where the kubelet wrote the UID's dashes as
// underscores (a dash separates slice levels), or pod<uid> under
// cgroupfs.
func podUID(p string) (string, bool) {
	if name, ok := strings.CutSuffix(p, ".slice"); ok && strings.HasPrefix(name, "kubepods") {
		i := strings.LastIndex(name, "-pod")
		if i < 0 {
			return "", false
		}
		uid := strings.ReplaceAll(name[i+len("-pod"):], "_", "-")
		return uid, isUID(uid)
	}
	if uid, ok := strings.CutPrefix(p, "pod"); ok && isUID(uid) {
		return uid, true
	}
	return "", false
}

// isID reports whether s is a container id: 64 lowercase hex digits, as
// docker, containerd, CRI-O and podman all make them.
func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// isUID reports whether s is a UUID as Kubernetes makes pod UIDs
// (8-4-4-4-12 lowercase hex digits).
func isUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
