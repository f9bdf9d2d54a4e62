// Package netstat prints net-tools netstat's tables, read from /proc and
// sock_diag: the socket tables (-t -u -U -w -x) once, and the reports
// that list no sockets, routes (-r), interfaces (-i) and statistics (-s);
// and the masquerading table (-M), read from connection tracking.
// The live table (package live) reads and prints its rows the same way.
package netstat

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/snapshot"
)

// Options say which sockets the tables list and how they print them, with
// netstat's defaults already applied: a command line that names no table
// asks for all of them, so every table listed must be set here.
type Options struct {
	TCP, UDP, UDPLite, Raw bool // the Internet tables
	SCTP                   bool // also an Internet table, after TCP's
	Inet4, Inet6           bool // their families
	Unix                   bool // the unix socket table
	Groups                 bool // -g: the multicast group memberships, after the Internet table

	All       bool // -a: listening and connected sockets
	Listening bool // -l: only listening ones; neither: only connected ones

	NumericHosts, NumericPorts, NumericUsers bool
	Programs                                 bool // -p: PID/Program name
	Timers                                   bool // -o
	Wide                                     bool // -W: addresses never cut
	Extend                                   bool // -e: User and Inode
	JSON                                     bool // one object per row

	Verbose bool // list each malformed /proc line (up to 10 a file)

	// SCTPNumeric prints SCTP addresses as numbers: netstat's SCTP code
	// does for any of -n, --numeric-hosts, --numeric-ports,
	// --numeric-users and -N.
	SCTPNumeric bool
	// NoProto says a family was named without a protocol (-4 alone),
	// which asks for every protocol: netstat then passes over a missing
	// SCTP table without a word.
	NoProto bool

	// Named says the command line named a table (netstat's flag_arg): a
	// table that cannot be read is then refused, where the listing of
	// every table passes over it, and says so with -v.
	Named bool
	// Others are the address families asked for whose sockets socktrace
	// has no table for, in netstat's names: ipx, ax25, x25, netrom, rose.
	Others []string
	// Bluetooth is asked for (-2, -f, -A bluetooth): Debian's netstat
	// 2.10 is built without it.
	Bluetooth bool

	// Filter is ss's filter words after the options; nil: none. Its
	// state words, if any, choose the states instead of -a/-l.
	Filter *filter.Filter

	ProcRoot string // "/proc" when empty; a fixture tree in tests
	EtcRoot  string // "/etc" when empty: passwd, services, protocols

	unixProcNoted bool                // the note that unix sockets come from /proc/net/unix was printed
	containers    *container.Resolver // for a filter on containers, kept from one -c table to the next
	sctpNoted     bool                // the note that a filter leaves SCTP out was printed
}

// Inet reports whether any Internet table is asked for.
func (o *Options) Inet() bool { return o.TCP || o.SCTP || o.UDP || o.UDPLite || o.Raw }

// Proc is the proc file system the tables are read from.
func (o *Options) Proc() string {
	if o.ProcRoot == "" {
		return "/proc"
	}
	return o.ProcRoot
}

func (o *Options) etcRoot() string {
	if o.EtcRoot == "" {
		return "/etc"
	}
	return o.EtcRoot
}

func (o *Options) netDir() string { return netDir(o.ProcRoot) }

// netDir is where procRoot keeps the network tables; "" is /proc.
func netDir(procRoot string) string {
	if procRoot == "" {
		procRoot = "/proc"
	}
	return filepath.Join(procRoot, "net")
}

// ThisSystem reports whether the tables are this system's, not a fixture
// tree's: only then can sock_diag stand in for /proc.
func (o *Options) ThisSystem() bool { return filepath.Clean(o.Proc()) == "/proc" }

// Shows reports whether netstat shows s under -a/-l: TCP servers are the
// sockets without a remote port, UDP and raw ones those without a remote
// address.
func (o *Options) Shows(s *snapshot.Socket) bool {
	if o.All {
		return true
	}
	var server bool
	if s.Proto == snapshot.TCP {
		server = s.Remote.Port() == 0
	} else {
		server = s.Remote.Addr().IsUnspecified()
	}
	return server == o.Listening
}

// NewPrinter returns the printer of o's rows: netstat's columns, and
// netstat's names unless o asks for numbers. Host names are looked up
// until ctx ends.
func NewPrinter(ctx context.Context, o *Options) *render.Netstat {
	return printer(newNames(ctx, o), o)
}

func printer(names *names, o *Options) *render.Netstat {
	return &render.Netstat{Names: names, Wide: o.Wide, Extend: o.Extend,
		Programs: o.Programs, Timers: o.Timers}
}

// reportReadError prints the errors of reading /proc tables on stderr,
// one line each (ErrorLines); the rows that could be read are printed
// regardless.
func (o *Options) reportReadError(w io.Writer, err error) {
	for _, line := range ErrorLines(err, o.Verbose) {
		fmt.Fprintf(w, "socktrace: %s\n", line)
	}
}
