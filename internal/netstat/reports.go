package netstat

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/snapshot"
)

// ReportOptions are the options of netstat's reports that list no
// sockets: the routing table (-r), the interfaces (-i) and the statistics
// (-s). Unlike the socket tables', they take the flags as given: -s alone
// is IPv4's statistics of every protocol.
type ReportOptions struct {
	ProcRoot     string // "/proc" when empty; a fixture tree in tests
	NumericHosts bool
	FIB, Cache   bool     // -F, -C: -r's forwarding information base (the default), routing cache
	Extend       int      // -e, -ee
	All          bool     // -a: -i lists interfaces that are down too
	Inet6        bool     // -6 / --inet6: -s for IPv6
	Families     []string // named by -4, -6, -x, -A and the like, in netstat's names, in order
	TCP          bool     // -s -t
	SCTP         bool     // -s -S
	UDP          bool     // -s -u
	UDPLite      bool     // -s -U
	Raw          bool     // -s -w
	JSON         bool

	// RouteNames says where -r looks names up; the zero value means the
	// system's files and DNS.
	RouteNames snapshot.RouteNamesConfig
	// Links reads interface flags and MTUs for -i; nil means ioctls in the
	// caller's network namespace.
	Links snapshot.LinkReader
	// Again is a report after the first under -c: -i's title, as netstat
	// prints it, is not repeated.
	Again bool
}

func (o *ReportOptions) netDir() string { return netDir(o.ProcRoot) }

// Routes prints the kernel routing table (-r): one table for each
// family named (by -4, -6, -A and the like), in their order, repeats too,
// as netstat does; IPv4 when none is; -t, -u and the like change nothing.
// For each, the FIB, or with -C the routing cache, or with -FC both.
// A family without routes is refused in its turn, in netstat's words,
// after the tables of the families before it. Rows that parse are
// printed even when others do not; the returned error then names the bad
// lines.
func Routes(w io.Writer, o *ReportOptions) error {
	families := o.Families
	if len(families) == 0 {
		families = []string{"inet"}
	}
	ro := render.RouteOptions{Extend: o.Extend}
	if !o.NumericHosts && !o.JSON {
		ro.Names = snapshot.NewRouteNames(o.RouteNames)
	}
	fib := o.FIB || !o.Cache
	var errs []error
	for _, f := range families {
		switch {
		case f == "inet" && fib:
			errs = append(errs, routes4(w, o, ro))
		case f == "inet6" && fib:
			errs = append(errs, routes6(w, o, ro))
		}
		switch {
		case f == "inet" && o.Cache:
			errs = append(errs, routeCache4(w, o, ro))
		case f == "inet6" && o.Cache:
			errs = append(errs, routeCache6(w, o, ro))
		case f != "inet" && f != "inet6":
			return errors.Join(append(errs, o.noRoutes(f))...)
		}
	}
	return errors.Join(errs...)
}

// routeCache4 prints the IPv4 routing cache, and routeCache6 the IPv6
// one, netstat's -C.
func routeCache4(w io.Writer, o *ReportOptions, ro render.RouteOptions) error {
	rows, err := snapshot.ReadRouteCache(o.netDir())
	return printRoutes(w, o, ro, rows, err, render.RouteCacheJSON, render.RouteCache)
}

func routeCache6(w io.Writer, o *ReportOptions, ro render.RouteOptions) error {
	rows, err := readRoutes6(o)
	return printRoutes(w, o, ro, rows, err, render.Routes6CacheJSON, render.Routes6Cache)
}

// noRoutes is netstat's answer to -r for a family socktrace has no
// routing table for. Unix, Econet and Ash have no routes, and netstat has
// no Bluetooth (exit status 3). The others have routing tables of their
// own in /proc, which netstat prints: where they are missing (the
// family's module is not loaded), its complaints, exit status 1, every
// line on stderr in the order netstat prints them on a terminal.
func (o *ReportOptions) noRoutes(family string) error {
	switch family {
	case "unix", "ec", "ash":
		return Refusal{Msg: fmt.Sprintf("No routing for address family `%s'.", family), Status: 3}
	case "bluetooth":
		return Refusal{Msg: "Address family `bluetooth' not supported.", Status: 3}
	}
	r := familyRoutes[family]
	for _, f := range r.files {
		if path := filepath.Join(o.netDir(), f); exists(path) {
			return Refusal{Msg: fmt.Sprintf("socktrace: -r: %s (%s) is not shown: socktrace has no routing table for address family `%s'",
				r.what, path, family), Status: 1}
		}
	}
	return Refusal{Msg: r.missing, Status: 1}
}

// familyRoutes are the routing tables netstat prints and socktrace does
// not: the files they are read from, and netstat's words where none is.
var familyRoutes = map[string]struct {
	what    string
	files   []string
	missing string
}{
	"ipx": {"IPX routing", []string{"ipx/route", "ipx_route"},
		"No such file or directory\nIPX routing not in file /proc/net/ipx/route or /proc/net/ipx_route found."},
	"ax25": {"AX.25 routing", []string{"ax25_route"},
		"/proc/net/ax25_route: No such file or directory\nAX.25 not configured in this system."},
	"netrom": {"NET/ROM routing", []string{"nr_nodes"},
		"/proc/net/nr_nodes: No such file or directory\n/proc/net/nr_neigh: No such file or directory\nNET/ROM not configured in this system."},
	"ddp": {"AppleTalk routing", []string{"atalk_route"},
		"Error opening /proc/net/atalk_route: No such file or directory\nDDP (AppleTalk) not configured on this system."},
	"x25": {"X.25 routing", []string{"x25/route"}, "X.25 not configured in this system."},
	"rose": {"ROSE routing", []string{"rose_nodes"},
		"/proc/net/rose_nodes: No such file or directory\nROSE not configured in this system."},
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// routes4 prints the IPv4 table, and routes6 the IPv6 one, if any row
// could be read.
func routes4(w io.Writer, o *ReportOptions, ro render.RouteOptions) error {
	rows, err := snapshot.ReadRoutes(o.netDir())
	return printRoutes(w, o, ro, rows, err, render.RoutesJSON, render.Routes)
}

func routes6(w io.Writer, o *ReportOptions, ro render.RouteOptions) error {
	rows, err := readRoutes6(o)
	return printRoutes(w, o, ro, rows, err, render.Routes6JSON, render.Routes6)
}

// readRoutes6 reads /proc/net/ipv6_route, the FIB and the cache alike;
// its absence means IPv6 is off.
func readRoutes6(o *ReportOptions) ([]snapshot.Route6, error) {
	rows, err := snapshot.ReadRoutes6(o.netDir())
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("%w: IPv6 is not configured on this system", err)
	}
	return rows, err
}

// printRoutes prints rows as JSON or as text, if any could be read; err
// (the lines that did not parse) is returned with what printing returns.
func printRoutes[R any](w io.Writer, o *ReportOptions, ro render.RouteOptions, rows []R, err error,
	asJSON func(io.Writer, []R) error, asText func(io.Writer, []R, render.RouteOptions) error) error {
	if rows == nil && err != nil {
		return err
	}
	if o.JSON {
		return errors.Join(err, asJSON(w, rows))
	}
	return errors.Join(err, asText(w, rows, ro))
}

// Interfaces prints the interface table (-i), or with -e netstat's
// ifconfig-style listing.
func Interfaces(w io.Writer, o *ReportOptions) error {
	links := o.Links
	if links == nil {
		l, err := snapshot.OpenIoctlLinks()
		if err != nil {
			return err
		}
		defer l.Close()
		links = l
	}
	ifaces, err := snapshot.ListInterfaces(o.netDir(), links)
	ifo := render.InterfaceOptions{All: o.All, Extend: o.Extend, Again: o.Again}
	if o.JSON {
		return errors.Join(err, render.InterfacesJSON(w, ifaces, ifo))
	}
	if o.Extend > 0 {
		// Without IPv6 there is no if_inet6, and no inet6 lines to print.
		addrs, aerr := snapshot.ReadIfInet6(o.netDir())
		if !errors.Is(aerr, fs.ErrNotExist) {
			err = errors.Join(err, aerr)
		}
		ifo.Addrs6 = addrs
	}
	return errors.Join(err, render.Interfaces(w, ifaces, ifo))
}

// Stats prints per-protocol statistics (-s): IPv4 by default, IPv6 with
// -6.
func Stats(w io.Writer, o *ReportOptions) error {
	// The flags are as given (the command line refuses -s -4 -6). No
	// protocol, or all four, means all, which also shows SCTP.
	v6 := o.Inet6
	so := render.StatsOptions{Raw: o.Raw, TCP: o.TCP, UDP: o.UDP, SCTP: o.SCTP}
	if o.TCP == o.UDP && o.UDP == o.UDPLite && o.UDPLite == o.Raw && o.Raw == o.SCTP {
		so = render.StatsOptions{Raw: true, TCP: true, UDP: true, SCTP: true}
	}
	dir := o.netDir()
	snmp, err := snapshot.ReadSNMP(dir)
	errs := []error{err}
	if v6 {
		snmp6, err := snapshot.ReadSNMP6(dir)
		errs = append(errs, err)
		var tcp []snapshot.StatGroup
		for _, g := range snmp {
			if strings.HasPrefix(g.Name, "Tcp") {
				tcp = append(tcp, g)
			}
		}
		if o.JSON {
			errs = append(errs, render.StatsJSON(w, append(snmp6, tcp...), true, so))
		} else {
			errs = append(errs, render.Stats6(w, snmp6, snmp, so))
		}
		return errors.Join(errs...)
	}
	groups := snmp
	// /proc/net/netstat and the SCTP counters are optional, as for netstat.
	ext, err := snapshot.ReadNetstat(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	groups = append(groups, ext...)
	sctp, err := snapshot.ReadSCTPStats(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
		groups = append(groups, sctp)
	}
	if o.JSON {
		errs = append(errs, render.StatsJSON(w, groups, false, so))
	} else {
		errs = append(errs, render.Stats(w, groups, so))
	}
	return errors.Join(errs...)
}
