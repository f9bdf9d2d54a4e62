package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/internal/live"
	"github.com/socktrace/socktrace/internal/netstat"
	"github.com/socktrace/socktrace/tracer"
)

// netstatOptions are the root command's flags, with netstat's meanings.
type netstatOptions struct {
	tcp, udp, udplite, raw, unix bool
	sctp                         bool
	groups                       bool // -g: multicast group memberships
	all, listening               bool
	numeric                      bool
	numericHosts, numericPorts   bool
	numericUsers                 bool
	programs, timers, wide       bool
	extend                       int
	inet4, inet6                 bool
	verbose                      bool
	route, interfaces, stats     bool
	masquerade                   bool
	continuous                   int // seconds between tables; 0: once
	linger                       time.Duration
	json                         bool
	version                      bool
	context                      bool // -Z: SELinux contexts, which socktrace does not show
	l2cap, rfcomm                bool // Bluetooth, which Debian's netstat 2.10 has no table for
	symbolic                     bool // -N: numeric hosts in -r, as netstat's "resolve hardware names" is
	cache, fib                   bool // -r: the routing cache, the FIB
	tcpip                        bool // --tcpip, which selects nothing in netstat 2.10

	// families are the address families named by -4, -6, -x, -A and
	// --inet and the like, in netstat's names ("ip" is "inet"), in order,
	// repeats kept: -r prints a table for each, and netstat's refusals
	// list them so. inet4, inet6 and unix say whether they are among them.
	families []string

	procRoot string // "/proc"; hidden flag for fixture tests
	etcRoot  string // "/etc"

	filter []string       // ss's filter words after the options
	expr   *filter.Filter // and as read
}

func (o *netstatOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVarP(&o.tcp, "tcp", "t", false, "TCP sockets")
	fs.BoolVarP(&o.udp, "udp", "u", false, "UDP sockets")
	fs.BoolVarP(&o.udplite, "udplite", "U", false, "UDP-Lite sockets")
	fs.BoolVarP(&o.raw, "raw", "w", false, "raw sockets")
	fs.BoolVarP(&o.sctp, "sctp", "S", false, "SCTP sockets")
	fs.BoolVarP(&o.groups, "groups", "g", false, "multicast group memberships (with -c, every interval)")
	o.addFamilyFlag(fs, "unix", "x", "unix domain sockets")
	fs.VarP(protocolValue{o}, "protocol", "A", "address `families`, comma-separated: inet, inet6, unix (netstat's other names too)")

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
	o.addFamilyFlag(fs, "inet", "4", "IPv4 only")
	o.addFamilyFlag(fs, "inet6", "6", "IPv6 only")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "list each malformed /proc line (up to 10 a file), not only the first; say which tables the kernel lacks")
	fs.BoolVarP(&o.route, "route", "r", false, "kernel routing table")
	fs.BoolVarP(&o.fib, "fib", "F", false, "with -r: the forwarding information base (the default)")
	fs.BoolVarP(&o.cache, "cache", "C", false, "with -r: the routing cache instead (empty since Linux 3.6); -FC: both")
	fs.BoolVarP(&o.symbolic, "symbolic", "N", false, "netstat's \"resolve hardware names\": numeric hosts with -r, numeric SCTP addresses")
	fs.BoolVarP(&o.interfaces, "interfaces", "i", false, "interface table")
	fs.BoolVarP(&o.stats, "statistics", "s", false, "per-protocol statistics")
	fs.BoolVarP(&o.masquerade, "masquerade", "M", false, "NATed connections, from connection tracking (netstat's /proc/net/ip_masquerade is gone since Linux 2.4; needs root)")
	fs.VarP(numberFlag(&o.continuous, 1, maxInterval, fmt.Sprintf("want a whole number of seconds from 1 to %d", maxInterval)),
		"continuous", "c", "print the table every `secs` seconds (default 1), with the TCP connections born and gone in between (kernel tracer; needs root)")
	fs.Lookup("continuous").NoOptDefVal = "1"
	fs.DurationVar(&o.linger, "linger", 0, "with -c: keep showing gone connections this long (default: in one table)")
	fs.BoolVar(&o.json, "json", false, "one JSON object per row")
	fs.BoolVarP(&o.version, "version", "V", false, "print the version and exit")
	fs.BoolVarP(&o.context, "context", "Z", false, "SELinux security contexts (not shown by socktrace)")
	fs.BoolVar(&o.tcpip, "tcpip", false, "nothing, as in netstat 2.10 (-A tcpip is IPv4)")
	fs.BoolVarP(&o.l2cap, "l2cap", "2", false, "Bluetooth L2CAP sockets (refused, as by Debian's netstat)")
	fs.BoolVarP(&o.rfcomm, "rfcomm", "f", false, "Bluetooth RFCOMM sockets (refused, as by Debian's netstat)")
	for _, name := range []string{"tcpip", "l2cap", "rfcomm"} {
		_ = fs.MarkHidden(name)
	}
	fs.StringVar(&o.procRoot, "proc-root", "/proc", "proc file system to read")
	fs.StringVar(&o.etcRoot, "etc-root", "/etc", "directory with passwd, services, protocols")
	_ = fs.MarkHidden("proc-root")
	_ = fs.MarkHidden("etc-root")
}

// addFamilyFlag adds a boolean flag that names an address family. Its
// long name is netstat's name of the family.
func (o *netstatOptions) addFamilyFlag(fs *pflag.FlagSet, name, short, usage string) {
	fs.VarP(familyValue{o, name}, name, short, usage)
	fs.Lookup(name).NoOptDefVal = "true"
}

// addFamily records that an address family was named.
func (o *netstatOptions) addFamily(name string) {
	o.families = append(o.families, name)
	switch name {
	case "inet":
		o.inet4 = true
	case "inet6":
		o.inet6 = true
	case "unix":
		o.unix = true
	}
}

// socketOptions are the socket tables' options, with netstat's defaulting:
// an address family without a protocol means all Internet protocols, a
// protocol without a family means both families, and a command line that
// names no table asks for every table. -r, -i and -s take the flags as
// given (reportOptions): netstat -rt is the IPv4 routing table, as -r is.
func (o *netstatOptions) socketOptions() netstat.Options {
	so := netstat.Options{
		TCP: o.tcp, SCTP: o.sctp, UDP: o.udp, UDPLite: o.udplite, Raw: o.raw, Unix: o.unix, Groups: o.groups,
		Inet4: o.inet4, Inet6: o.inet6,
		All: o.all, Listening: o.listening,
		Programs: o.programs, Timers: o.timers, Wide: o.wide, Extend: o.extend > 0,
		JSON: o.json, Verbose: o.verbose, ProcRoot: o.procRoot, EtcRoot: o.etcRoot,

		NumericHosts: o.numeric || o.numericHosts,
		NumericPorts: o.numeric || o.numericPorts,
		NumericUsers: o.numeric || o.numericUsers,
		Bluetooth:    o.l2cap || o.rfcomm || slices.Contains(o.families, "bluetooth"),
		SCTPNumeric:  o.numeric || o.numericHosts || o.numericPorts || o.numericUsers || o.symbolic,
	}
	for _, f := range otherFamilies {
		if slices.Contains(o.families, f) {
			so.Others = append(so.Others, f)
		}
	}
	if (so.Inet4 || so.Inet6) && !so.Inet() {
		so.TCP, so.SCTP, so.UDP, so.UDPLite, so.Raw = true, true, true, true, true
		so.NoProto = true
	}
	if (so.Inet() || so.Groups) && !so.Inet4 && !so.Inet6 {
		so.Inet4, so.Inet6 = true, true
	}
	so.Named = so.Inet() || so.Groups || so.Unix || len(so.Others) > 0 || so.Bluetooth
	if !so.Named {
		so.TCP, so.SCTP, so.UDP, so.UDPLite, so.Raw, so.Unix = true, true, true, true, true, true
		so.Inet4, so.Inet6 = true, true
		so.Others = otherFamilies
	}
	return so
}

// otherFamilies are the address families netstat lists sockets of and
// socktrace has no table for, in netstat's names.
var otherFamilies = []string{"ipx", "ax25", "x25", "netrom", "rose"}

// maxInterval is the longest -c interval, a day, in seconds. Longer is
// more likely a typo (milliseconds meant?) than a wish, and a day keeps
// time.Duration(secs)*time.Second far from overflowing: past 9.2e9
// seconds it turns negative, a panic in NewTicker and a busy loop in
// time.After.
const maxInterval = 24 * 60 * 60

// checkArgs checks what pflag cannot: that --linger, if given, is positive
// and goes with -c (a given 0 would read as "linger not at all", which is
// the default without the flag), and takes the arguments left
// (intervalArgs gave -c its interval) as the filter words.
func (o *netstatOptions) checkArgs(fs *pflag.FlagSet) error {
	args := fs.Args()
	if fs.Changed("linger") && (o.linger <= 0 || o.continuous == 0) {
		return usageError{"--linger takes a positive duration, and needs -c", "socktrace"}
	}
	// A number first, elsewhere than right after a bare -c, is still its
	// interval ("-ct 2", "-tn 2 -c"), as it always was here: no filter
	// starts with a number.
	if len(args) > 0 && o.continuous == 1 {
		if secs, err := strconv.Atoi(args[0]); err == nil && secs >= 1 && secs <= maxInterval {
			o.continuous = secs
			args = args[1:]
		}
	}
	o.filter = args
	if len(args) == 0 {
		return nil
	}
	if o.route || o.interfaces || o.stats || o.masquerade {
		return usageError{fmt.Sprintf("unexpected argument %q: filter words go with the socket tables, not -r, -i, -s or -M", args[0]), "socktrace"}
	}
	so := o.socketOptions()
	if !so.Inet() && !so.Unix {
		return usageError{fmt.Sprintf("unexpected argument %q: filter words go with the socket tables, and none is listed", args[0]), "socktrace"}
	}
	var err error
	o.expr, err = o.filterEnv(&so).parse(args)
	return err
}

// filterEnv is what the filter words are read with: the family -4, -6
// or -x names, and the service names of the protocols listed.
func (o *netstatOptions) filterEnv(so *netstat.Options) filterEnv {
	fam := 0
	switch {
	case so.Inet() && so.Inet4 && !so.Inet6 && !so.Unix:
		fam = unix.AF_INET
	case so.Inet() && so.Inet6 && !so.Inet4 && !so.Unix:
		fam = unix.AF_INET6
	case so.Unix && !so.Inet():
		fam = unix.AF_UNIX
	}
	env := filterEnv{
		family: fam, tcp: so.TCP, udp: so.UDP || so.UDPLite,
		etcRoot: so.EtcRoot, procRoot: so.Proc(),
	}
	// -c's table knows how its connections ended and how long they lived.
	if o.continuous == 0 {
		env.unavailable = map[string]string{
			"error":    "a table lists the sockets there are; how one ended is known to -c and trace",
			"lifetime": "a table lists the sockets there are; how long one lived is known to -c and trace",
		}
	}
	return env
}

func (o *netstatOptions) reportOptions() *netstat.ReportOptions {
	return &netstat.ReportOptions{
		ProcRoot:     o.procRoot,
		NumericHosts: o.numeric || o.numericHosts || o.symbolic,
		Cache:        o.cache,
		FIB:          o.fib,
		Extend:       o.extend,
		All:          o.all,
		Inet6:        o.inet6,
		Families:     o.families,
		TCP:          o.tcp,
		SCTP:         o.sctp,
		UDP:          o.udp,
		UDPLite:      o.udplite,
		Raw:          o.raw,
		JSON:         o.json,
	}
}

// checkModes rejects what netstat refuses before it prints anything: two
// of -r, -i, -s and -M (its usage), and -s with any families but inet or
// inet6 alone, in netstat's words (on stderr, where netstat prints them on
// stdout). -r refuses a family in turn (netstat.Routes).
func (o *netstatOptions) checkModes() error {
	modes := 0
	for _, m := range []bool{o.route, o.interfaces, o.stats, o.masquerade} {
		if m {
			modes++
		}
	}
	families := strings.Join(o.families, ",")
	switch {
	case modes > 1:
		return usageRefusal("")
	case o.masquerade && o.linger > 0:
		return usageError{"--linger is for the TCP table's -c; -M -c lists each gone flow once", "socktrace"}
	case o.stats && families != "" && families != "inet" && families != "inet6":
		return netstat.Refusal{Msg: "socktrace: No statistics support for specified address family: " + families, Status: 1}
	}
	return nil
}

// runLive prints the live table until ctx ends, and at exit what the
// kernel delivered and lost.
func runLive(ctx context.Context, e *live.Engine, stdout, stderr io.Writer) error {
	defer e.Close()
	batchScheduling()
	if err := e.Run(ctx, stdout, stderr); err != nil && !readerGone(err) {
		return err
	}
	// The table is of this namespace; the tracer's filter is always set.
	reportLoss(stderr, e.Stats(), true)
	return nil
}

// run prints the requested tables once, or every -c seconds until ctx ends.
func (o *netstatOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	if err := o.checkModes(); err != nil {
		return err
	}
	if o.tcpip {
		fmt.Fprintln(stderr, "socktrace: --tcpip selects nothing, as in netstat 2.10; -A tcpip is IPv4")
	}
	if o.masquerade {
		so := o.socketOptions()
		err := netstat.Masquerade(ctx, stdout, stderr, &so, time.Duration(o.continuous)*time.Second)
		if readerGone(err) {
			return nil
		}
		return err
	}
	sockets := !o.route && !o.interfaces && !o.stats
	so := o.socketOptions()
	so.Filter = o.expr
	if o.continuous > 0 && sockets && so.TCP {
		e, err := live.New(ctx, live.Config{Tables: so,
			Interval: time.Duration(o.continuous) * time.Second, Linger: o.linger})
		if err == nil {
			return runLive(ctx, e, stdout, stderr)
		}
		if errors.Is(err, tracer.ErrPrivileges) {
			err = errors.New("the kernel tracer needs root (CAP_BPF and CAP_PERFMON)")
		}
		fmt.Fprintf(stderr, "socktrace: -c polls, as netstat does: %v; connections born and gone between two tables are not shown\n", err)
	}
	w := bufio.NewWriterSize(stdout, 64<<10)
	ro := o.reportOptions()
	for ; ; ro.Again = true {
		var err error
		switch {
		case o.route:
			err = o.tableError(netstat.Routes(w, ro))
		case o.interfaces:
			err = o.tableError(netstat.Interfaces(w, ro))
		case o.stats:
			err = o.tableError(netstat.Stats(w, ro))
		default:
			err = netstat.Sockets(ctx, w, stderr, &so)
		}
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if readerGone(err) {
			return nil
		}
		// netstat -sc prints the statistics once and exits: -c
		// repeats only tables.
		if err != nil || o.continuous <= 0 || o.stats {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Duration(o.continuous) * time.Second):
		}
	}
}

// tableError is what the -r, -i and -s tables return: the errors of
// reading them, as netstat.ErrorLines words them. main prints an error
// after "socktrace: ", so the lines after the first get it here.
type tableError struct {
	err   error
	lines []string
}

func (o *netstatOptions) tableError(err error) error {
	if err == nil {
		return nil
	}
	lines := netstat.ErrorLines(err, o.verbose)
	var r netstat.Refusal
	if !errors.As(err, &r) {
		return &tableError{err, lines}
	}
	// A refused family ends -r: the errors of reading the tables before
	// it come first, then netstat's words.
	var out []string
	for _, l := range lines {
		if l != r.Msg {
			out = append(out, "socktrace: "+l)
		}
	}
	r.Msg = strings.Join(append(out, r.Msg), "\n")
	return r
}

func (e *tableError) Error() string { return strings.Join(e.lines, "\nsocktrace: ") }
func (e *tableError) Unwrap() error { return e.err }
