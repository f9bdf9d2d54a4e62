// Package table is socktrace's live connection table: the TCP sockets of one
// network namespace, seeded from a snapshot, kept current by tracer events,
// and healed against a fresh snapshot before each print.
//
// A snapshot alone misses every connection born and gone between two looks;
// events alone drift when the kernel skips one (recursion misses). The table
// takes rows, queues and states from the snapshot, and from the events what
// the snapshot cannot see: owners, connections that are already gone, and
// why they ended.
package table

import (
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// Key identifies a connection: events and snapshot rows meet on it. The
// kernel address in events is not in /proc, and the inode is 0 once a
// socket loses its file, so the tuple is the key. Listeners in a
// SO_REUSEPORT group share a tuple; their inode tells them apart.
type Key struct {
	Local, Remote [16]byte
	LPort, RPort  uint16
	V6            bool
	//lint:ignore U1000 named, not _: a blank field would make == and map hashing go field by field
	_pad  [3]byte // no implicit padding: the key hashes as one block of memory
	Inode uint64  // listeners only
}

func keyOf(v6 bool, local, remote netip.AddrPort, inode uint64) Key {
	k := Key{Local: local.Addr().As16(), Remote: remote.Addr().As16(),
		LPort: local.Port(), RPort: remote.Port(), V6: v6}
	if k.RPort == 0 {
		k.Inode = inode
	}
	return k
}

// addrs is the key's tuple as netip values: IPv4 unmapped, as snapshot
// rows and events carry it.
func (k Key) addrs() (local, remote netip.AddrPort) {
	l, r := netip.AddrFrom16(k.Local), netip.AddrFrom16(k.Remote)
	if !k.V6 {
		l, r = l.Unmap(), r.Unmap()
	}
	return netip.AddrPortFrom(l, k.LPort), netip.AddrPortFrom(r, k.RPort)
}

func eventKey(ev *tracer.Event) Key {
	return keyOf(ev.Family == syscall.AF_INET6, ev.Local, ev.Remote, ev.Inode)
}

func socketKey(s *snapshot.Socket) Key {
	return keyOf(s.V6, s.Local, s.Remote, s.Inode)
}

// Conn is one connection: its latest row and what the events added.
type Conn struct {
	Socket snapshot.Socket // the last snapshot row, or built from events
	Owner  snapshot.Owner  // as the tracer attributed it (PID 0: unknown)
	// Cgroup is the owner's cgroup v2 id as the kernel read it (0: not
	// known): where the owner ran, once it is gone.
	Cgroup uint64
	Born   time.Time // zero: older than socktrace, or its opening was lost

	// Set once the connection is gone.
	Gone    bool
	GoneAt  time.Time
	Err     syscall.Errno // why a connect failed or a connection was reset
	Aborted bool          // a connect the caller closed before any answer came
	Healed  bool          // gone from the kernel without a close event (lost)
	Expired bool          // a TIME_WAIT that ran out (not reused or killed)

	// kernelOwner is the owner the kernel names in the socket's events
	// when Reown found it exited and gave the row the socket's holder:
	// events that name it do not take the row back.
	kernelOwner snapshot.Owner

	key       Key       // set while the live index holds it
	lastEvent time.Time // the newest event applied to it
	seen      uint32    // the last snapshot generation that listed it
	missedAt  time.Time // the last snapshot, if it did not list it
	healedAt  time.Time // when reconciliation ended it
}

// Lifetime is how long a gone connection lived, or 0 when its birth was not
// seen.
func (c *Conn) Lifetime() time.Duration {
	if c.Born.IsZero() || !c.Gone {
		return 0
	}
	return c.GoneAt.Sub(c.Born)
}

// Counts are what happened during one interval.
type Counts struct {
	Connects, Accepts, Closes uint64
	Failed                    map[syscall.Errno]uint64 // failed connects by reason (0: closed by the caller)
	// Resets the kernel sent (for a socket, or for a packet no socket
	// took) and received, and segments sent again.
	ResetsSent, ResetsReceived, Retransmits uint64
	Lost                                    uint64 // events the kernel could not deliver
	Healed                                  uint64 // rows ended by reconciliation
}

// Table holds one namespace's TCP connections. It is not safe for
// concurrent use.
type Table struct {
	live liveIndex // every live connection but those in TIME_WAIT
	tw   *timeWaits
	// gone holds the connections that ended since the last Sweep, in the
	// order they ended; a tuple may be reused within one interval, so a
	// map would lose one of them.
	gone []*Conn
	// closedSince: when each tuple that ended since the snapshot began
	// (SnapshotBegins) ended, so that the snapshot, which may have read the
	// socket before the close, does not bring the connection back to life.
	closedSince map[Key]time.Time
	snapAt      time.Time // when the snapshot being read began; zero: none
	// healed: rows ended by reconciliation until the next Sweep, so a
	// close event that comes late completes the row instead of doubling it.
	healed map[Key]*Conn

	seed     map[uint64]snapshot.Owner // owners of older sockets, by inode
	programs *programs
	exits    *exits
	gen      uint32 // snapshots reconciled; wraps after years of tables
	prevSnap time.Time
	prevFull time.Time // the last snapshot with TIME_WAIT sockets
	asked    []Key     // the pile rows the snapshot being read looks up
	order    []*Conn   // live rows in the last snapshot's order, then newer ones
	lost     []*Conn   // scratch for Reconcile: rows to heal
	counts   Counts
	// free holds rows Sweep forgot, for reuse: under churn two rows are
	// born and gone per connection, and allocating each costs the
	// garbage collector's work too. allocs counts the rows taken since
	// the last Sweep: no more than that are kept.
	free   []*Conn
	allocs int
}

// Config sets up a Table.
type Config struct {
	// Seed is the owners of sockets older than the tracer, and their
	// program names (snapshot.ReadOwners); may be empty.
	Seed snapshot.Owners
	// ProcRoot is where program names and socket holders are read;
	// default "/proc".
	ProcRoot string
}

// New returns an empty table.
func New(cfg Config) *Table {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	t := &Table{
		live:        newLiveIndex(),
		tw:          newTimeWaits(),
		closedSince: make(map[Key]time.Time),
		healed:      make(map[Key]*Conn),
		seed:        cfg.Seed.ByInode,
		programs:    newPrograms(cfg.ProcRoot),
		exits:       newExits(cfg.ProcRoot),
		counts:      Counts{Failed: map[syscall.Errno]uint64{}},
	}
	for o, name := range cfg.Seed.Programs {
		t.programs.learn(o, name)
	}
	return t
}

// Counts returns the interval's counters so far.
func (t *Table) Counts() *Counts { return &t.counts }

// States counts the live rows in the states that pile up under churn. A
// timewait socket still awaiting the peer's FIN is shown as FIN_WAIT2 (as
// netstat shows it), so it is not counted as TIME_WAIT.
func (t *Table) States() (synSent, synRecv, timeWait int) {
	for _, c := range t.order {
		switch c.Socket.State {
		case tcpstate.SynSent:
			synSent++
		case tcpstate.SynRecv:
			synRecv++
		}
	}
	return synSent, synRecv, t.tw.len() - t.tw.finWait2
}

func clearCounts(m map[syscall.Errno]uint64) map[syscall.Errno]uint64 {
	clear(m)
	return m
}

// maxFree bounds the rows kept for reuse.
const maxFree = 1 << 16

// alloc returns an empty row, reused if one is free.
func (t *Table) alloc() *Conn {
	t.allocs++
	n := len(t.free)
	if n == 0 {
		return &Conn{}
	}
	c := t.free[n-1]
	t.free = t.free[:n-1]
	*c = Conn{}
	return c
}

// release takes a row the table is done with: one Sweep forgot, or a
// client's whose copy went to the pile. A healed row may stay in healed a
// while longer, for a late close event, so it is left to the garbage
// collector.
func (t *Table) release(c *Conn) {
	if !c.Healed && len(t.free) < maxFree {
		t.free = append(t.free, c)
	}
}

// shrink gives back, at the end of a Sweep, the room that the last
// interval did not need: free rows beyond those it took, and room in
// slices and the live index that grew under a burst of churn. gone is how many rows the
// interval's gone list held.
func (t *Table) shrink(gone int) {
	if keep := min(len(t.free), t.allocs); keep < len(t.free) {
		clear(t.free[keep:])
		t.free = t.free[:keep]
	}
	t.free = shrunk(t.free, t.allocs)
	t.allocs = 0
	t.gone = shrunk(t.gone, gone)
	t.order = shrunk(t.order, len(t.order))
	t.live.rows.shrink()
}

// minRoom is the capacity, in elements, that shrunk leaves alone.
const minRoom = 1024

// shrunk is s, moved to a smaller array if it has more than four times the
// room that the last interval needed: a slice keeps the capacity of its
// peak otherwise, and after a burst of churn that is a TIME_WAIT pile's
// worth. Half the new room is free, so a slice whose need stays is not
// moved again.
func shrunk[S ~[]E, E any](s S, needed int) S {
	if cap(s) <= minRoom || cap(s) <= 4*needed {
		return s
	}
	return append(make(S, 0, max(2*needed, len(s))), s...)
}

// Size is about how many bytes the table holds: its rows, the TIME_WAIT
// pile, their indexes and the room kept for reuse. Maps count by their
// entries. A caller that keeps the table for long compares it with its
// peak, to give memory back once a TIME_WAIT pile has drained.
func (t *Table) Size() int {
	const ptr = int(unsafe.Sizeof(&Conn{}))
	rows := t.live.len() + len(t.gone) + len(t.free) + len(t.healed)
	n := rows*int(unsafe.Sizeof(Conn{})) + (cap(t.gone)+cap(t.free)+cap(t.order))*ptr
	n += t.live.rows.size()
	n += (len(t.closedSince) + len(t.healed)) * int(unsafe.Sizeof(Key{})+unsafe.Sizeof(time.Time{}))
	return n + t.tw.size()
}
