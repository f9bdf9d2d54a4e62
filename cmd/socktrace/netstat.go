package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/socktrace/socktrace/render"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tracer"
)

// netstatOptions are the root command's flags, with netstat's meanings.
type netstatOptions struct {
	tcp, udp, udplite, raw, unix bool
	all, listening               bool
	numeric                      bool
	numericHosts, numericPorts   bool
	numericUsers                 bool
	programs, timers, wide       bool
	extend                       int
	inet4, inet6                 bool
	verbose                      bool
	route, interfaces, stats     bool
	continuous                   int // seconds between tables; 0: once
	linger                       time.Duration
	json                         bool
	version                      bool

	// families are -4, -6 and -x as given, in netstat's names and in order,
	// repeats kept: what -r and -s refuse is said in these words.
	families []string

	procRoot string // "/proc"; hidden flag for fixture tests
	etcRoot  string // "/etc"

	unixProcNoted bool // the note that -x reads /proc/net/unix was printed
}

func (o *netstatOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVarP(&o.tcp, "tcp", "t", false, "TCP sockets")
	fs.BoolVarP(&o.udp, "udp", "u", false, "UDP sockets")
	fs.BoolVarP(&o.udplite, "udplite", "U", false, "UDP-Lite sockets")
	fs.BoolVarP(&o.raw, "raw", "w", false, "raw sockets")
	o.addFamilyFlag(fs, &o.unix, "unix", "x", "unix domain sockets")
	fs.BoolVarP(&o.all, "all", "a", false, "listening and non-listening sockets (default: connected only)")
	fs.BoolVarP(&o.listening, "listening", "l", false, "only listening sockets")
	fs.BoolVarP(&o.numeric, "numeric", "n", false, "don't resolve names (hosts, ports, users)")
	fs.BoolVar(&o.numericHosts, "numeric-hosts", false, "don't resolve host names")
	fs.BoolVar(&o.numericPorts, "numeric-ports", false, "don't resolve port names")
	fs.BoolVar(&o.numericUsers, "numeric-users", false, "don't resolve user names")
	fs.BoolVarP(&o.programs, "programs", "p", false, "show the PID/Program name owning each socket")
	// The empty `` names no value in --help, where pflag would print
	// "--extend count" as if -e took a number: it is given once or twice.
	fs.CountVarP(&o.extend, "extend", "e", "``more columns (User, Inode); twice (-ee) for more routing columns")
	fs.BoolVarP(&o.timers, "timers", "o", false, "show socket timers")
	fs.BoolVarP(&o.wide, "wide", "W", false, "don't truncate addresses")
	o.addFamilyFlag(fs, &o.inet4, "inet", "4", "IPv4 only")
	o.addFamilyFlag(fs, &o.inet6, "inet6", "6", "IPv6 only")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "list each malformed /proc line (up to 10 a file), not only the first")
	fs.BoolVarP(&o.route, "route", "r", false, "kernel routing table")
	fs.BoolVarP(&o.interfaces, "interfaces", "i", false, "interface table")
	fs.BoolVarP(&o.stats, "statistics", "s", false, "per-protocol statistics")
	fs.VarP(numberFlag(&o.continuous, 1, maxInterval, fmt.Sprintf("want a whole number of seconds from 1 to %d", maxInterval)),
		"continuous", "c", "print the table every `secs` seconds (default 1), with the TCP connections born and gone in between (kernel tracer; needs root)")
	fs.Lookup("continuous").NoOptDefVal = "1"
	fs.DurationVar(&o.linger, "linger", 0, "with -c: keep showing gone connections this long (default: in one table)")
	fs.BoolVar(&o.json, "json", false, "one JSON object per row")
	fs.BoolVarP(&o.version, "version", "V", false, "print the version and exit")
	fs.StringVar(&o.procRoot, "proc-root", "/proc", "proc file system to read")
	fs.StringVar(&o.etcRoot, "etc-root", "/etc", "directory with passwd, services, protocols")
	_ = fs.MarkHidden("proc-root")
	_ = fs.MarkHidden("etc-root")
}

// addFamilyFlag adds a boolean flag that also records, in o.families, that
// its family was named. The flag's long name is netstat's family name.
func (o *netstatOptions) addFamilyFlag(fs *pflag.FlagSet, on *bool, name, short, usage string) {
	fs.VarP(familyFlag(on, name, &o.families), name, short, usage)
	fs.Lookup(name).NoOptDefVal = "true"
}

// normalize applies netstat's defaulting for socket listings: an address
// family without a protocol means all Internet protocols, a protocol
// without a family means both families. It reports whether any table was
// asked for by name. -r, -i and -s take the flags as given: netstat -rt
// is the IPv4 routing table, as -r is.
func (o *netstatOptions) normalize() (named bool) {
	anyInet := o.tcp || o.udp || o.udplite || o.raw
	if (o.inet4 || o.inet6) && !anyInet {
		o.tcp, o.udp, o.udplite, o.raw = true, true, true, true
		anyInet = true
	}
	if anyInet && !o.inet4 && !o.inet6 {
		o.inet4, o.inet6 = true, true
	}
	return anyInet || o.unix
}

// maxInterval is the longest -c interval, a day, in seconds. Longer is
// more likely a typo (milliseconds meant?) than a wish, and a day keeps
// time.Duration(secs)*time.Second far from overflowing: past 9.2e9
// seconds it turns negative, a panic in NewTicker and a busy loop in
// time.After.
const maxInterval = 24 * 60 * 60

// checkArgs checks what pflag cannot: that --linger goes with -c, and that
// no argument is left over (intervalArgs gave -c its interval).
func (o *netstatOptions) checkArgs(args []string) error {
	if o.linger < 0 || (o.linger > 0 && o.continuous == 0) {
		return usageError{"--linger takes a positive duration, and needs -c", "socktrace"}
	}
	// A lone number elsewhere than right after a bare -c is still its
	// interval ("-ct 2", "-tn 2 -c"), as it always was here.
	if len(args) == 1 && o.continuous == 1 {
		if secs, err := strconv.Atoi(args[0]); err == nil && secs >= 1 && secs <= maxInterval {
			o.continuous = secs
			return nil
		}
	}
	if len(args) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", args[0]), "socktrace"}
	}
	return nil
}

func (o *netstatOptions) reportOptions() reportOptions {
	return reportOptions{
		procRoot:     o.procRoot,
		numericHosts: o.numeric || o.numericHosts,
		numericPorts: o.numeric || o.numericPorts,
		numericUsers: o.numeric || o.numericUsers,
		extend:       o.extend,
		all:          o.all,
		verbose:      o.verbose,
		wide:         o.wide,
		inet6:        o.inet6,
		families:     o.families,
		tcp:          o.tcp,
		udp:          o.udp,
		udplite:      o.udplite,
		raw:          o.raw,
		json:         o.json,
	}
}

// checkModes rejects what netstat refuses: two of -r, -i and -s, and the
// address families -r and -s have no table for. netstat's own words come
// first, so that its users recognise them.
func (o *netstatOptions) checkModes() error {
	modes := 0
	for _, m := range []bool{o.route, o.interfaces, o.stats} {
		if m {
			modes++
		}
	}
	switch {
	case modes > 1:
		return usageError{"-r, -i and -s cannot be combined", "socktrace"}
	case o.route && o.unix:
		//lint:ignore ST1005 netstat's own message, capital included
		return errors.New("No routing for address family `unix'; -r shows inet (-4, the default) and inet6 (-6)")
	case o.stats && (o.unix || len(o.families) > 1):
		// netstat takes one family for -s, and no second one, even the same.
		//lint:ignore ST1005 netstat's own message, capital included
		return fmt.Errorf("No statistics support for specified address family: %s; -s takes one of -4 (the default) and -6",
			strings.Join(o.families, ","))
	}
	return nil
}

// run prints the requested tables once, or every -c seconds until ctx ends.
func (o *netstatOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	if err := o.checkModes(); err != nil {
		return err
	}
	sockets := !o.route && !o.interfaces && !o.stats
	named := false
	if sockets {
		named = o.normalize()
	}
	if o.continuous > 0 && sockets && (!named || o.tcp) {
		l, err := o.startLive(ctx, named)
		if err == nil {
			return l.run(ctx, stdout, stderr)
		}
		if errors.Is(err, tracer.ErrPrivileges) {
			err = errors.New("the kernel tracer needs root (CAP_BPF and CAP_PERFMON)")
		}
		fmt.Fprintf(stderr, "socktrace: -c polls, as netstat does: %v; connections born and gone between two tables are not shown\n", err)
	}
	w := bufio.NewWriterSize(stdout, 64<<10)
	for {
		var err error
		switch {
		case o.route:
			err = o.tableError(runRoutes(w, o.reportOptions()))
		case o.interfaces:
			err = o.tableError(runInterfaces(w, o.reportOptions()))
		case o.stats:
			err = o.tableError(runStats(w, o.reportOptions()))
		default:
			err = o.sockets(ctx, w, stderr, named)
		}
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if err != nil || o.continuous <= 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Duration(o.continuous) * time.Second):
		}
	}
}

// sockets prints the Internet and unix socket tables.
func (o *netstatOptions) sockets(ctx context.Context, w io.Writer, stderr io.Writer, named bool) error {
	netDir := filepath.Join(o.procRoot, "net")
	names := newNetstatNames(ctx, o)
	r := &render.Netstat{
		Names: names, Wide: o.wide, Extend: o.extend > 0,
		Programs: o.programs, Timers: o.timers,
	}

	// The owner scan is the slow part of -p: run it while the tables parse.
	type ownersResult struct {
		owners snapshot.Owners
		err    error
	}
	ownersDone := make(chan ownersResult, 1)
	if o.programs {
		go func() {
			owners, err := snapshot.ReadOwners(o.procRoot)
			ownersDone <- ownersResult{owners, err}
		}()
	}
	waitOwners := func() {
		if !o.programs || r.Owners.ByInode != nil {
			return
		}
		res := <-ownersDone
		r.Owners = res.owners
		if r.Owners.ByInode == nil {
			r.Owners.ByInode = map[uint64]snapshot.Owner{}
		}
		if errors.Is(res.err, snapshot.ErrNotAllOwners) && !o.json {
			printOwnerNote(stderr, res.owners.ByInode, os.Getpid())
		} else if res.err != nil {
			fmt.Fprintf(stderr, "socktrace: -p: %v\n", res.err)
		}
	}

	inet := !named || o.tcp || o.udp || o.udplite || o.raw
	if inet {
		// Only -o prints the counters that need tcp_info to be exact.
		rows := o.readInetTables(netDir, named, stderr, nil, snapshot.Diag{TCPInfo: o.timers})
		rows = o.filterInet(rows)
		names.prefetch(rows)
		waitOwners()
		if !o.json {
			if err := r.InetHeader(w, o.all, o.listening); err != nil {
				return err
			}
		}
		for i := range rows {
			var err error
			if o.json {
				err = r.InetJSON(w, &rows[i])
			} else {
				err = r.InetRow(w, &rows[i])
			}
			if err != nil {
				return err
			}
		}
	}
	if !named || o.unix {
		rows := o.readUnix(netDir, stderr)
		waitOwners()
		if err := o.printUnix(w, r, rows); err != nil {
			return err
		}
	}
	waitOwners()
	return nil
}

// printUnix prints the unix socket table.
func (o *netstatOptions) printUnix(w io.Writer, r *render.Netstat, rows []snapshot.UnixSocket) error {
	if !o.json {
		if err := r.UnixHeader(w, o.all, o.listening); err != nil {
			return err
		}
	}
	for i := range rows {
		u := &rows[i]
		if !o.all && u.Listening() != o.listening {
			continue
		}
		var err error
		if o.json {
			err = r.UnixJSON(w, u)
		} else {
			err = r.UnixRow(w, u)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readUnix reads the unix sockets. The live system's own namespace comes
// from sock_diag, where each socket's name is an attribute of its own
// message; /proc/net/unix prints names raw, and a name can hold a newline
// and a whole made-up row. Fixture trees and kernels without unix_diag
// read the text, whose reader refuses every line that is not a row to the
// byte, but cannot refuse a made-up row that is one: that is said once.
func (o *netstatOptions) readUnix(netDir string, stderr io.Writer) []snapshot.UnixSocket {
	if filepath.Clean(o.procRoot) == "/proc" {
		rows, err := snapshot.Diag{}.ReadUnix()
		if err == nil {
			return rows
		}
		if !o.unixProcNoted {
			o.unixProcNoted = true
			fmt.Fprintf(stderr, "socktrace: unix sockets from /proc/net/unix (%v), where a socket's name can add a row that does not exist\n", err)
		}
	}
	rows, err := snapshot.ReadUnix(netDir)
	o.reportReadError(stderr, err)
	return rows
}

// readInetTables reads the Internet tables asked for, or all of them when
// none is named. d sets the sock_diag dump of TCP; the /proc fallback
// ignores it.
func (o *netstatOptions) readInetTables(netDir string, named bool, stderr io.Writer, rows []snapshot.Socket, d snapshot.Diag) []snapshot.Socket {
	var fam snapshot.Family
	if !named || o.inet4 {
		fam |= snapshot.IPv4
	}
	if !named || o.inet6 {
		fam |= snapshot.IPv6
	}
	var protos []snapshot.Proto
	for _, p := range []struct {
		on    bool
		proto snapshot.Proto
	}{{o.tcp, snapshot.TCP}, {o.udp, snapshot.UDP}, {o.udplite, snapshot.UDPLite}, {o.raw, snapshot.Raw}} {
		if p.on || !named {
			protos = append(protos, p.proto)
		}
	}
	n := 0
	for _, p := range protos {
		n += snapshot.CountInet(netDir, p, fam)
	}
	// Room for sockets opened between counting and reading.
	rows = slices.Grow(rows[:0], n+n/16+16)
	for _, p := range protos {
		var err error
		rows, err = o.readInet(netDir, p, fam, rows, d)
		o.reportReadError(stderr, err)
	}
	return rows
}

// readInet appends one protocol's rows to dst. TCP in the live system's
// own namespace comes from sock_diag, which costs the kernel less than
// printing /proc/net/tcp; fixture trees, the other tables and kernels
// without inet_diag/tcp_diag read the /proc text. Both see the namespace of
// this process, so they list the same sockets.
func (o *netstatOptions) readInet(netDir string, p snapshot.Proto, fam snapshot.Family, dst []snapshot.Socket, d snapshot.Diag) ([]snapshot.Socket, error) {
	if filepath.Clean(o.procRoot) == "/proc" && p == snapshot.TCP {
		n := len(dst)
		rows, err := d.ReadInet(p, fam, dst)
		if err == nil {
			return rows, nil
		}
		dst = rows[:n]
	}
	return snapshot.ReadInet(netDir, p, fam, dst)
}

// filterInet keeps the rows netstat shows for -a/-l.
func (o *netstatOptions) filterInet(rows []snapshot.Socket) []snapshot.Socket {
	if o.all {
		return rows
	}
	kept := rows[:0]
	for _, s := range rows {
		if o.shows(&s) {
			kept = append(kept, s)
		}
	}
	return kept
}

// shows reports whether netstat shows s under -a/-l: TCP servers are the
// sockets without a remote port, UDP and raw ones those without a remote
// address.
func (o *netstatOptions) shows(s *snapshot.Socket) bool {
	if o.all {
		return true
	}
	var server bool
	if s.Proto == snapshot.TCP {
		server = s.Remote.Port() == 0
	} else {
		server = s.Remote.Addr().IsUnspecified()
	}
	return server == o.listening
}

// printOwnerNote prints netstat's note when -p could not read every
// process: "No info" when it found no socket of any process, also as root
// without CAP_SYS_PTRACE (geteuid()=0 then), "Not all" when it found some.
// socktrace's own sockets do not count: they come and go while /proc is
// scanned (the sock_diag socket is open during one scan, closed during
// the next), which made the note change from one run, or one -c table, to
// the next.
func printOwnerNote(w io.Writer, owners map[uint64]snapshot.Owner, self int) {
	for _, ow := range owners {
		if int(ow.PID) != self {
			fmt.Fprint(w, "(Not all processes could be identified, non-owned process info\n"+
				" will not be shown, you would have to be root to see it all.)\n")
			return
		}
	}
	fmt.Fprintf(w, "(No info could be read for \"-p\": geteuid()=%d but you should be root.)\n", os.Geteuid())
}
