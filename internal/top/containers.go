package top

import (
	"time"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tracer"
)

// Containers names where a process runs: its container, pod or systemd
// unit, "" when none is known. It is asked per event with --by container,
// so it must answer from a cache, without allocating.
type Containers interface {
	Name(pid uint32, cgroup uint64, comm snapshot.Comm, now time.Time) string
}

// Resolver names containers with the container package's Resolver, which
// reads a process's cgroup once and caches it by process and by cgroup.
type Resolver struct{ R *container.Resolver }

// Name is where pid, of cgroup v2 id cgroup, runs, as of now.
func (r Resolver) Name(pid uint32, cgroup uint64, comm snapshot.Comm, now time.Time) string {
	return r.R.Lookup(pid, cgroup, comm, now).Name()
}

// containerNames numbers the names Containers gives, so that a row's key
// holds a number, not a string (the key stays pointer-free). Number 0 is
// "": no resolver, or no container known.
type containerNames struct {
	ids   map[string]uint32
	names []string
}

// maxContainerNames bounds the names numbered: past it, an event whose
// owner runs in a new one counts in the other row. A host runs far fewer
// containers and units, even over a long run.
const maxContainerNames = 1 << 16

func newContainerNames() containerNames {
	return containerNames{ids: map[string]uint32{"": 0}, names: []string{""}}
}

// id is name's number; false: no room for a new one.
func (c *containerNames) id(name string) (uint32, bool) {
	if id, ok := c.ids[name]; ok {
		return id, true
	}
	if len(c.names) >= maxContainerNames {
		return 0, false
	}
	id := uint32(len(c.names))
	c.ids[name] = id
	c.names = append(c.names, name)
	return id, true
}

// containerOf numbers where ev's owner runs; false: no room for its name.
func (a *Aggregator) containerOf(ev *tracer.Event) (uint32, bool) {
	if a.containers == nil || ev.PID == 0 {
		return 0, true
	}
	return a.names.id(a.containers.Name(ev.PID, ev.Cgroup, ev.Comm, ev.Time))
}
