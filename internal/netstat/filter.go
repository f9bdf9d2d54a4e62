package netstat

import (
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// RowFilter tests the tables' rows against Options.Filter, with the facts
// the filter asks for read once per table: the owners for pid and comm,
// the kernel's autobound sockets, the namespace.
type RowFilter struct {
	o       *Options
	owners  map[uint64]snapshot.Owner
	unbound map[[2]netip.AddrPort]bool // nil: not asked, or not known
	netns   uint32
	now     time.Time     // for container lookups
	sock    filter.Socket // scratch, reused
}

// Conn is what the live table knows of a connection besides its row.
type Conn struct {
	Owner    snapshot.Owner // PID 0: not known
	Lifetime time.Duration  // how long it lived, or has lived so far
	Born     bool           // Lifetime is known
	Err      string         // how it ended: an errno name, "aborted", or ""
}

// needsOwners reports whether the filter tests owners, or where they run,
// which the tables then read even without -p.
func (o *Options) needsOwners() bool {
	return o.Filter != nil && o.Filter.Uses()&(filter.FactOwner|filter.FactContainer) != 0
}

// NewRowFilter reads what the filter needs besides the rows: the kernel
// is asked which sockets it counts as autobound (on this system only: a
// fixture tree's sockets are taken as bound by bind() exactly when they
// listen). owners are the socket owners by inode, for pid and comm.
func (o *Options) NewRowFilter(stderr io.Writer, owners map[uint64]snapshot.Owner) *RowFilter {
	rf := o.rowFilter(owners)
	if o.Filter == nil || o.Filter.Uses()&filter.FactBind == 0 || !o.ThisSystem() {
		return rf
	}
	rf.unbound = map[[2]netip.AddrPort]bool{}
	d := snapshot.Diag{Autobound: true}
	for _, p := range []struct {
		on    bool
		proto snapshot.Proto
	}{{o.TCP, snapshot.TCP}, {o.UDP, snapshot.UDP}, {o.UDPLite, snapshot.UDPLite}} {
		if !p.on {
			continue
		}
		rows, err := d.ReadInet(p.proto, snapshot.IPv4|snapshot.IPv6, nil)
		if err != nil {
			o.reportReadError(stderr, err)
		}
		for _, s := range rows {
			rf.unbound[[2]netip.AddrPort{s.Local, s.Remote}] = true
		}
	}
	return rf
}

// rowFilter is a RowFilter without the kernel's autobound sockets: enough
// for unix sockets.
func (o *Options) rowFilter(owners map[uint64]snapshot.Owner) *RowFilter {
	rf := &RowFilter{o: o, owners: owners, now: time.Now()}
	if o.Filter == nil {
		return rf
	}
	rf.netns = o.netnsInode()
	if o.Filter.Uses()&filter.FactContainer != 0 && o.containers == nil {
		o.containers = container.NewResolver(container.Config{ProcRoot: o.Proc()})
	}
	return rf
}

// netnsInode is the namespace the tables are read in.
func (o *Options) netnsInode() uint32 {
	fi, err := os.Stat(filepath.Join(o.Proc(), "self/ns/net"))
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint32(st.Ino)
	}
	return 0
}

// Inet reports whether an Internet row is listed: by the state words if
// any were given, else by -a/-l as netstat does; then by the expression.
func (rf *RowFilter) Inet(s *snapshot.Socket) bool {
	if !rf.state(s) {
		return false
	}
	if rf.o.Filter == nil {
		return true
	}
	rf.inetSocket(s)
	if o, ok := rf.owners[s.Inode]; ok && s.Inode != 0 {
		rf.setOwner(o)
	}
	return rf.o.Filter.Match(&rf.sock)
}

// Conn is Inet for a row of the live table, with what the table knows.
func (rf *RowFilter) Conn(s *snapshot.Socket, c Conn) bool {
	if !rf.state(s) {
		return false
	}
	if rf.o.Filter == nil {
		return true
	}
	rf.inetSocket(s)
	rf.setOwner(c.Owner)
	rf.sock.Lifetime, rf.sock.HasLifetime, rf.sock.Err = c.Lifetime, c.Born, c.Err
	return rf.o.Filter.Match(&rf.sock)
}

func (rf *RowFilter) state(s *snapshot.Socket) bool {
	if f := rf.o.Filter; f != nil && f.States != 0 {
		return f.States.Has(s.State)
	}
	return rf.o.Shows(s)
}

// inetSocket sets the scratch socket to what the row says.
func (rf *RowFilter) inetSocket(s *snapshot.Socket) {
	rf.sock = filter.Socket{
		Family: unix.AF_INET, Local: s.Local, Remote: s.Remote,
		UID: s.UID, HasUID: true, Netns: rf.netns,
	}
	if s.V6 {
		rf.sock.Family = unix.AF_INET6
	}
	if rf.unbound != nil {
		rf.sock.PortLocked = !rf.unbound[[2]netip.AddrPort{s.Local, s.Remote}]
	} else {
		rf.sock.PortLocked = s.State == tcpstate.Listen
	}
}

// Unix is Inet for a unix socket. Its state, in ss's terms, is LISTEN for
// a listener, ESTABLISHED when connected or connecting, CLOSE otherwise.
func (rf *RowFilter) Unix(u *snapshot.UnixSocket) bool {
	o := rf.o
	if o.Filter != nil && o.Filter.States != 0 {
		if !o.Filter.States.Has(unixState(u)) {
			return false
		}
	} else if !o.All && u.Listening() != o.Listening {
		return false
	}
	if o.Filter == nil {
		return true
	}
	rf.sock = filter.Socket{Family: unix.AF_UNIX, LocalPath: u.Path, UID: u.UID, HasUID: u.UIDKnown, Netns: rf.netns}
	if ow, ok := rf.owners[u.Inode]; ok && u.Inode != 0 {
		rf.setOwner(ow)
	}
	return o.Filter.Match(&rf.sock)
}

// setOwner gives the scratch socket its owner, and where the owner runs
// when the filter asks.
func (rf *RowFilter) setOwner(o snapshot.Owner) {
	rf.sock.PID, rf.sock.Comm = o.PID, o.Comm
	if rf.o.containers != nil {
		rf.sock.Container = rf.o.containers.Lookup(o.PID, 0, o.Comm, rf.now)
	}
}

func unixState(u *snapshot.UnixSocket) tcpstate.State {
	switch {
	case u.Listening():
		return tcpstate.Listen
	case u.State == snapshot.UnixConnected || u.State == snapshot.UnixConnecting:
		return tcpstate.Established
	}
	return tcpstate.Close
}

// ShowsAll reports whether the tables list sockets in every state, as -a
// does: the state words choose them then. Titles say so.
func (o *Options) ShowsAll() bool { return o.All || o.Filter != nil && o.Filter.States != 0 }

// tables reports which tables the filter leaves: a family it names
// leaves out the other tables.
func (o *Options) tables() (inet, unixTable bool) {
	inet, unixTable = o.Inet(), o.Unix
	if o.Filter == nil || o.Filter.Family == 0 {
		return inet, unixTable
	}
	if o.Filter.Family == unix.AF_UNIX {
		return false, unixTable
	}
	return inet, false
}
