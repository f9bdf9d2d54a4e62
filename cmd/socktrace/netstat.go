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

	procRoot string // "/proc"; hidden flag for fixture tests
	etcRoot  string // "/etc"
}

func (o *netstatOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVarP(&o.tcp, "tcp", "t", false, "TCP sockets")
	fs.BoolVarP(&o.udp, "udp", "u", false, "UDP sockets")
	fs.BoolVarP(&o.udplite, "udplite", "U", false, "UDP-Lite sockets")
	fs.BoolVarP(&o.raw, "raw", "w", false, "raw sockets")
	fs.BoolVarP(&o.unix, "unix", "x", false, "unix domain sockets")
	fs.BoolVarP(&o.all, "all", "a", false, "listening and non-listening sockets (default: connected only)")
	fs.BoolVarP(&o.listening, "listening", "l", false, "only listening sockets")
	fs.BoolVarP(&o.numeric, "numeric", "n", false, "don't resolve names (hosts, ports, users)")
	fs.BoolVar(&o.numericHosts, "numeric-hosts", false, "don't resolve host names")
	fs.BoolVar(&o.numericPorts, "numeric-ports", false, "don't resolve port names")
	fs.BoolVar(&o.numericUsers, "numeric-users", false, "don't resolve user names")
	fs.BoolVarP(&o.programs, "programs", "p", false, "show the PID/Program name owning each socket")
	fs.CountVarP(&o.extend, "extend", "e", "more information (User, Inode); twice for -r/-i extras")
	fs.BoolVarP(&o.timers, "timers", "o", false, "show socket timers")
	fs.BoolVarP(&o.wide, "wide", "W", false, "don't truncate addresses")
	fs.BoolVarP(&o.inet4, "inet", "4", false, "IPv4 only")
	fs.BoolVarP(&o.inet6, "inet6", "6", false, "IPv6 only")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "be verbose: report unreadable tables and lines")
	fs.BoolVarP(&o.route, "route", "r", false, "kernel routing table")
	fs.BoolVarP(&o.interfaces, "interfaces", "i", false, "interface table")
	fs.BoolVarP(&o.stats, "statistics", "s", false, "per-protocol statistics")
	fs.VarP(numberFlag(&o.continuous, 1, maxInterval, fmt.Sprintf("want a whole number of seconds from 1 to %d", maxInterval)),
		"continuous", "c", "print the table every `secs` seconds (default 1), with the TCP connections born and gone in between (kernel tracer; needs root)")
	fs.Lookup("continuous").NoOptDefVal = "1"
	fs.DurationVar(&o.linger, "linger", 0, "with -c: keep showing gone connections this long (default: in one table)")
	fs.BoolVar(&o.json, "json", false, "one JSON object per row")
	fs.StringVar(&o.procRoot, "proc-root", "/proc", "proc file system to read")
	fs.StringVar(&o.etcRoot, "etc-root", "/etc", "directory with passwd, services, protocols")
	_ = fs.MarkHidden("proc-root")
	_ = fs.MarkHidden("etc-root")
}

// normalize applies netstat's defaulting: an address family without a
// protocol means all Internet protocols, a protocol without a family means
// both families. It reports whether any table was asked for by name.
func (o *netstatOptions) normalize() (named bool) {
	anyInet := o.tcp || o.udp || o.udplite || o.raw
	if (o.inet4 || o.inet6 || o.stats) && !anyInet {
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
	if len(args) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", args[0]), "socktrace"}
	}
	return nil
}

func (o *netstatOptions) tableOptions() tableOptions {
	return tableOptions{
		procRoot:     o.procRoot,
		numericHosts: o.numeric || o.numericHosts,
		numericPorts: o.numeric || o.numericPorts,
		numericUsers: o.numeric || o.numericUsers,
		extend:       o.extend,
		all:          o.all,
		verbose:      o.verbose,
		wide:         o.wide,
		inet4:        o.inet4,
		inet6:        o.inet6,
		tcp:          o.tcp,
		udp:          o.udp,
		udplite:      o.udplite,
		raw:          o.raw,
		json:         o.json,
	}
}

// run prints the requested tables once, or every -c seconds until ctx ends.
func (o *netstatOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	modes := 0
	for _, m := range []bool{o.route, o.interfaces, o.stats} {
		if m {
			modes++
		}
	}
	if modes > 1 {
		return usageError{"-r, -i and -s cannot be combined", "socktrace"}
	}
	named := o.normalize()
	if o.continuous > 0 && modes == 0 && (!named || o.tcp) {
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
			err = runRoutes(w, o.tableOptions())
		case o.interfaces:
			err = runInterfaces(w, o.tableOptions())
		case o.stats:
			err = runStats(w, o.tableOptions())
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
		m   map[uint64]snapshot.Owner
		err error
	}
	ownersDone := make(chan ownersResult, 1)
	if o.programs {
		go func() {
			m, err := snapshot.ReadOwners(o.procRoot)
			ownersDone <- ownersResult{m, err}
		}()
	}
	waitOwners := func() {
		if !o.programs || r.Owners != nil {
			return
		}
		res := <-ownersDone
		r.Owners = res.m
		if r.Owners == nil {
			r.Owners = map[uint64]snapshot.Owner{}
		}
		if errors.Is(res.err, snapshot.ErrNotAllOwners) && !o.json {
			printOwnerNote(stderr, len(res.m) == 0)
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
		rows, err := snapshot.ReadUnix(netDir)
		reportReadError(stderr, err)
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
		reportReadError(stderr, err)
	}
	return rows
}

// readInet appends one protocol's rows to dst. TCP in the live system's
// own namespace comes from sock_diag, which costs the kernel a third of
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

// printOwnerNote prints netstat's note when -p could not see every process.
func printOwnerNote(w io.Writer, none bool) {
	if none {
		fmt.Fprintf(w, "(No info could be read for \"-p\": geteuid()=%d but you should be root.)\n", os.Geteuid())
		return
	}
	fmt.Fprint(w, "(Not all processes could be identified, non-owned process info\n"+
		" will not be shown, you would have to be root to see it all.)\n")
}

// reportReadError prints table errors on stderr; the rows that could be
// read are printed regardless.
func reportReadError(w io.Writer, err error) {
	if err == nil {
		return
	}
	fmt.Fprintf(w, "socktrace: %v\n", err)
}
