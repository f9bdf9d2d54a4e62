package table

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"github.com/socktrace/socktrace/snapshot"
)

// A socket outlives its owner when the owner hands it on and exits: a
// server that forks a child and exits, a process that passed the fd over a
// unix socket. The kernel names a socket's owner once, by the process that
// connected, listened or accepted, so its events keep naming the one that
// exited. netstat names a process that holds it, and so must the table.

// maxExited bounds the owners Reown remembers as exited; it forgets them
// all when full, which costs at most one more /proc/*/fd pass.
const maxExited = 4096

// exits is what Reown keeps between calls.
type exits struct {
	procRoot string
	// exited holds owners found exited whose rows were looked up: a row
	// whose socket no process holds keeps its owner, and must not bring
	// a /proc/*/fd pass every table.
	exited map[snapshot.Owner]struct{}
	alive  map[snapshot.Owner]bool // scratch for one call
	rows   []*Conn                 // scratch: the rows whose owner exited
}

func newExits(procRoot string) *exits {
	return &exits{procRoot: procRoot, exited: make(map[snapshot.Owner]struct{}),
		alive: make(map[snapshot.Owner]bool)}
}

// Reown gives each live row whose owner has exited the process that holds
// its socket now, found in one pass over /proc/*/fd for all of them. Only
// rows with a file can have a holder; the pass is made only when an owner
// of such a row exited since the last call. Later events of the socket,
// which name the exited owner, leave the holder in place.
func (t *Table) Reown() error {
	x := t.exits
	clear(x.alive)
	rows := x.rows[:0]
	for _, c := range t.order {
		o := c.Owner
		if o.PID == 0 || c.Socket.Inode == 0 {
			continue
		}
		if _, done := x.exited[o]; done {
			continue
		}
		alive, checked := x.alive[o]
		if !checked {
			alive = processRuns(x.procRoot, o)
			x.alive[o] = alive
		}
		if !alive {
			rows = append(rows, c)
		}
	}
	x.rows = rows
	if len(rows) == 0 {
		return nil
	}
	owners, err := snapshot.ReadOwners(x.procRoot)
	if errors.Is(err, snapshot.ErrNotAllOwners) {
		err = nil // the rows of processes it could not read keep their owner
	}
	if len(x.exited) >= maxExited {
		clear(x.exited)
	}
	for _, c := range rows {
		x.exited[c.Owner] = struct{}{}
		h, ok := owners.ByInode[c.Socket.Inode]
		if !ok || h == c.Owner {
			continue
		}
		if c.kernelOwner.PID == 0 {
			c.kernelOwner = c.Owner
		}
		c.Owner, c.Cgroup = h, 0
		t.programs.learn(h, owners.Programs[h])
	}
	clear(rows)
	return err
}

// processRuns says whether o's process still runs: its pid is not free,
// reaped or a zombie's, nor taken by a process of another name.
func processRuns(procRoot string, o snapshot.Owner) bool {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.FormatUint(uint64(o.PID), 10), "stat"))
	if err != nil {
		return false
	}
	// "pid (comm) state ...": comm may hold spaces and parentheses, so it
	// ends at the last ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open || end+2 >= len(b) {
		return false
	}
	state := b[end+2]
	return state != 'Z' && state != 'X' && snapshot.CommOf(string(b[open+1:end])) == o.Comm
}
