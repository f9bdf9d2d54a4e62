package tracer

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// seed learns the owners of sockets that existed before the tracer: every
// TCP socket's inode, and every listening port, in every network namespace
// that a process is in. Listeners also go into the kernel's map, so a
// connection accepted by an old listener is attributed in the kernel, before
// accept() returns.
func (t *Tracer) seed(procRoot string) error {
	owners, err := snapshot.ReadOwners(procRoot)
	if err != nil && !errors.Is(err, snapshot.ErrNotAllOwners) {
		return err
	}
	t.seeded = owners
	var errs []error
	for netns, pid := range namespaces(procRoot) {
		socks, err := snapshot.ReadTCP(filepath.Join(procRoot, strconv.Itoa(pid), "net"))
		if err != nil {
			errs = append(errs, err) // rows that parsed are still returned
		}
		for _, s := range socks {
			o, ok := owners.ByInode[s.Inode]
			if !ok || s.Inode == 0 {
				continue
			}
			t.owners.byInode[s.Inode] = o
			if s.State == tcpstate.Listen {
				t.addListener(netns, s.Local.Port(), o)
			}
		}
	}
	return errors.Join(errs...)
}

func (t *Tracer) addListener(netns uint32, port uint16, o snapshot.Owner) {
	t.owners.byListener[listenKey{netns, port}] = o
	key := socktraceListenKey{Netns: netns, Port: port}
	var val socktraceListenVal
	val.Owner.Pid = o.PID
	val.Owner.Tid = o.PID
	for i, c := range o.Comm {
		val.Owner.Comm[i] = int8(c)
	}
	// NoExist: a listener the kernel saw being created knows better.
	_ = t.objs.Listeners.Update(key, val, ebpf.UpdateNoExist)
}

// namespaces maps each network namespace inode to one process inside it.
func namespaces(procRoot string) map[uint32]int {
	ns := make(map[uint32]int)
	entries, _ := os.ReadDir(procRoot)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(procRoot, e.Name(), "ns", "net"), &st) != nil {
			continue
		}
		if _, seen := ns[uint32(st.Ino)]; !seen {
			ns[uint32(st.Ino)] = pid
		}
	}
	return ns
}
