package netstat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// Sockets prints the Internet and unix socket tables o asks for, once.
// Tables that cannot be read, or only in part, are reported on stderr; the
// rows that could be read are printed regardless.
func Sockets(ctx context.Context, w io.Writer, stderr io.Writer, o *Options) error {
	names := newNames(ctx, o)
	r := printer(names, o)

	// The owner scan is the slow part of -p: run it while the tables parse.
	type ownersResult struct {
		owners snapshot.Owners
		err    error
	}
	// A filter on pid or comm needs them too.
	needOwners := o.Programs || o.needsOwners()
	ownersDone := make(chan ownersResult, 1)
	if needOwners {
		go func() {
			owners, err := snapshot.ReadOwners(o.Proc())
			ownersDone <- ownersResult{owners, err}
		}()
	}
	waitOwners := func() {
		if !needOwners || r.Owners.ByInode != nil {
			return
		}
		res := <-ownersDone
		r.Owners = res.owners
		if r.Owners.ByInode == nil {
			r.Owners.ByInode = map[uint64]snapshot.Owner{}
		}
		if !o.Programs {
			return
		}
		if errors.Is(res.err, snapshot.ErrNotAllOwners) && !o.JSON {
			printOwnerNote(stderr, res.owners.ByInode, os.Getpid())
		} else if res.err != nil {
			fmt.Fprintf(stderr, "socktrace: -p: %v\n", res.err)
		}
	}

	inet, unixTable := o.tables()
	if inet {
		// Only -o prints the counters that need tcp_info to be exact.
		rows := o.ReadInet(stderr, nil, snapshot.Diag{TCPInfo: o.Timers})
		if o.needsOwners() {
			waitOwners()
		}
		rows = o.filterInet(o.NewRowFilter(stderr, r.Owners.ByInode), rows)
		names.prefetch(rows)
		waitOwners()
		if !o.JSON {
			if err := r.InetHeader(w, o.ShowsAll(), o.Listening && !o.ShowsAll()); err != nil {
				return err
			}
		}
		// SCTP's rows come after TCP's, as in netstat.
		tcp := 0
		for tcp < len(rows) && rows[tcp].Proto == snapshot.TCP {
			tcp++
		}
		if err := o.printInetRows(w, r, rows[:tcp]); err != nil {
			return err
		}
		if err := o.filteredSCTP(w, r, stderr); err != nil {
			return err
		}
		if err := o.printInetRows(w, r, rows[tcp:]); err != nil {
			return err
		}
	}
	if o.Groups {
		if err := o.PrintGroups(w, stderr); err != nil {
			return err
		}
	}
	if unixTable {
		rows := o.ReadUnix(stderr)
		waitOwners()
		if err := o.PrintUnix(w, r, rows); err != nil {
			return err
		}
	}
	waitOwners()
	return o.OtherFamilies(stderr)
}

func (o *Options) printInetRows(w io.Writer, r *render.Netstat, rows []snapshot.Socket) error {
	for i := range rows {
		var err error
		if o.JSON {
			err = r.InetJSON(w, &rows[i])
		} else {
			err = r.InetRow(w, &rows[i])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// filteredSCTP prints the SCTP rows, unless filter words were given: a
// multi-homed association has no one tuple for them to test, so they
// leave the SCTP table out, and say so when it was asked for by name.
func (o *Options) filteredSCTP(w io.Writer, r *render.Netstat, stderr io.Writer) error {
	if o.Filter == nil {
		return o.PrintSCTP(w, r, stderr)
	}
	if o.SCTP && o.Named && !o.sctpNoted {
		o.sctpNoted = true
		fmt.Fprintln(stderr, "socktrace: filter words leave out SCTP sockets: an association has no one tuple for them to test")
	}
	return nil
}

// PrintSCTP prints the SCTP rows of the Internet table: the endpoints
// with -l or -a, the associations without -l. netstat reads the one file
// of each, which lists sockets of both families, only for IPv4: -6 alone
// lists none. A missing file (the sctp module is not loaded) is refused
// when SCTP was named, as netstat refuses it, exit status 1; with -v the
// listing of every table says so, once for each file.
func (o *Options) PrintSCTP(w io.Writer, r *render.Netstat, stderr io.Writer) error {
	if !o.SCTP || !o.Inet4 {
		return nil
	}
	dir := o.netDir()
	if o.All || o.Listening {
		eps, err := snapshot.ReadSCTPEndpoints(dir)
		if errors.Is(err, fs.ErrNotExist) {
			if err := o.noSCTP(stderr); err != nil {
				return err
			}
		}
		o.reportReadError(stderr, ignoreMissing(err))
		for i := range eps {
			if o.JSON {
				err = r.SCTPEndpointJSON(w, &eps[i])
			} else {
				err = r.SCTPEndpointRow(w, &eps[i], o.SCTPNumeric)
			}
			if err != nil {
				return err
			}
		}
	}
	if o.All || !o.Listening {
		assocs, err := snapshot.ReadSCTPAssocs(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return o.noSCTP(stderr)
		}
		o.reportReadError(stderr, err)
		for i := range assocs {
			if o.JSON {
				err = r.SCTPAssocJSON(w, &assocs[i])
			} else {
				err = r.SCTPAssocRow(w, &assocs[i], o.SCTPNumeric)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// PrintGroups prints the interfaces' multicast group memberships (-g):
// netstat's title, then IPv4's groups and IPv6's, of the families asked
// for. Groups are named as hosts (the hosts file, then DNS) unless the
// hosts are numeric. A missing /proc/net/igmp is refused as netstat
// refuses it; a missing igmp6 (no IPv6) has no groups.
func (o *Options) PrintGroups(w, stderr io.Writer) error {
	if !o.JSON {
		if err := render.GroupsHeader(w); err != nil {
			return err
		}
	}
	var names render.RouteNamer
	if !o.NumericHosts && !o.JSON {
		names = snapshot.NewRouteNames(snapshot.RouteNamesConfig{
			HostsFile:    filepath.Join(o.etcRoot(), "hosts"),
			NetworksFile: filepath.Join(o.etcRoot(), "networks"),
		})
	}
	var rows []snapshot.Membership
	if o.Inet4 {
		v4, err := snapshot.ReadIGMP(o.netDir())
		if errors.Is(err, fs.ErrNotExist) {
			if err := o.missing("AF INET (igmp)", stderr); err != nil {
				return err
			}
		}
		o.reportReadError(stderr, ignoreMissing(err))
		rows = v4
	}
	if o.Inet6 {
		v6, err := snapshot.ReadIGMP6(o.netDir())
		o.reportReadError(stderr, ignoreMissing(err))
		rows = append(rows, v6...)
	}
	if o.JSON {
		return render.GroupsJSON(w, rows)
	}
	return render.Groups(w, rows, names)
}

// noSCTP is netstat's answer to a missing SCTP table.
func (o *Options) noSCTP(stderr io.Writer) error {
	return o.missing("AF INET (sctp)", stderr)
}

// missing is netstat's answer to a missing table of the Internet family
// named what: refused if named (exit status 1), said so with -v in the
// listing of every table, passed over in silence for a family named
// without a protocol.
func (o *Options) missing(what string, stderr io.Writer) error {
	msg := fmt.Sprintf("socktrace: no support for `%s' on this system.", what)
	switch {
	case o.NoProto:
	case o.Named:
		return Refusal{Msg: msg, Status: 1}
	case o.Verbose:
		fmt.Fprintln(stderr, msg)
	}
	return nil
}

func ignoreMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// otherFamilies are the address families netstat 2.10 lists sockets of and
// socktrace does not, in netstat's order, each with the /proc files whose
// presence says its kernel module is loaded.
var otherFamilies = []struct {
	name, label string
	files       []string
}{
	{"ipx", "AF IPX", []string{"ipx/socket", "ipx"}},
	{"ax25", "AF AX25", []string{"ax25"}},
	{"x25", "AF X25", []string{"x25"}},
	{"netrom", "AF NETROM", []string{"nr"}},
	{"rose", "AF ROSE", []string{"rose"}},
}

// OtherFamilies answers for o.Others and o.Bluetooth, after the other
// tables, as netstat answers where their kernel module is not loaded: a
// family named is refused, exit status 1; the listing of every table
// passes over them, and says so with -v. Where the module is loaded, and
// netstat would list the sockets, socktrace says that it does not.
func (o *Options) OtherFamilies(stderr io.Writer) error {
	for _, f := range otherFamilies {
		if !slices.Contains(o.Others, f.name) {
			continue
		}
		path := o.loaded(f.files)
		notListed := fmt.Sprintf("socktrace: %s sockets (%s) are not listed: socktrace has no table for them", f.label, path)
		noSupport := fmt.Sprintf("socktrace: no support for `%s' on this system.", f.label)
		switch {
		case path != "" && o.Named:
			return Refusal{Msg: notListed, Status: 1}
		case path != "":
			fmt.Fprintln(stderr, notListed)
		case o.Named:
			return Refusal{Msg: noSupport, Status: 1}
		case o.Verbose:
			fmt.Fprintln(stderr, noSupport)
		}
	}
	if o.Bluetooth {
		return Refusal{Msg: "socktrace: feature `AF BLUETOOTH' not supported.\n" +
			"socktrace lists no Bluetooth sockets, as Debian's netstat 2.10, built without them, lists none", Status: 1}
	}
	return nil
}

// loaded returns the first of files, under the network directory, that
// exists, or "".
func (o *Options) loaded(files []string) string {
	for _, f := range files {
		path := filepath.Join(o.netDir(), f)
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	return ""
}

// ReadUnix reads the unix sockets, reporting on stderr what it could not.
// The live system's own namespace comes from sock_diag, where each
// socket's name is an attribute of its own message; /proc/net/unix prints
// names raw, and a name can hold a newline and a whole made-up row.
// Fixture trees and kernels without unix_diag read the text, whose reader
// refuses every line that is not a row to the byte, but cannot refuse a
// made-up row that is one: that is said once.
func (o *Options) ReadUnix(stderr io.Writer) []snapshot.UnixSocket {
	if o.ThisSystem() {
		rows, err := snapshot.Diag{}.ReadUnix()
		if err == nil {
			return rows
		}
		if !o.unixProcNoted {
			o.unixProcNoted = true
			fmt.Fprintf(stderr, "socktrace: unix sockets from /proc/net/unix (%v), where a socket's name can add a row that does not exist\n", err)
		}
	}
	rows, err := snapshot.ReadUnix(o.netDir())
	o.reportReadError(stderr, err)
	return rows
}

// PrintUnix prints the unix socket table. Owners a filter tests are r's.
func (o *Options) PrintUnix(w io.Writer, r *render.Netstat, rows []snapshot.UnixSocket) error {
	if !o.JSON {
		if err := r.UnixHeader(w, o.ShowsAll(), o.Listening && !o.ShowsAll()); err != nil {
			return err
		}
	}
	rf := o.rowFilter(r.Owners.ByInode)
	for i := range rows {
		u := &rows[i]
		if !rf.Unix(u) {
			continue
		}
		var err error
		if o.JSON {
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

// ReadInet reads the Internet tables o asks for into rows[:0], reporting
// on stderr what it could not. d sets the sock_diag dump of TCP; the /proc
// fallback ignores it.
func (o *Options) ReadInet(stderr io.Writer, rows []snapshot.Socket, d snapshot.Diag) []snapshot.Socket {
	var fam snapshot.Family
	if o.Inet4 {
		fam |= snapshot.IPv4
	}
	if o.Inet6 {
		fam |= snapshot.IPv6
	}
	var protos []snapshot.Proto
	for _, p := range []struct {
		on    bool
		proto snapshot.Proto
	}{{o.TCP, snapshot.TCP}, {o.UDP, snapshot.UDP}, {o.UDPLite, snapshot.UDPLite}, {o.Raw, snapshot.Raw}} {
		if p.on {
			protos = append(protos, p.proto)
		}
	}
	netDir := o.netDir()
	// A dump in some states only, or with TIME_WAIT apart, brings none of
	// the pile among the rows.
	timeWait := d.TimeWaits == nil && (d.States == 0 || d.States&(1<<tcpstate.TimeWait) != 0)
	n := 0
	for _, p := range protos {
		n += snapshot.CountInet(netDir, p, fam, timeWait)
	}
	// Room for sockets opened between counting and reading.
	rows = slices.Grow(rows[:0], n+n/16+16)
	if d.TimeWaits != nil && o.TCP {
		// Grown by append instead, a pile's worth would be allocated
		// and copied again and again as the pile fills. (Most
		// timewait sockets are IPv4.)
		tw := snapshot.CountTimeWait(netDir)
		d.TimeWaits.V4 = slices.Grow(d.TimeWaits.V4, tw+tw/16)
	}
	for _, p := range protos {
		var err error
		rows, err = o.readInet(p, fam, rows, d)
		o.reportReadError(stderr, err)
	}
	return rows
}

// readInet appends one protocol's rows to dst. TCP in the live system's
// own namespace comes from sock_diag, which costs the kernel less than
// printing /proc/net/tcp; fixture trees, the other tables and kernels
// without inet_diag/tcp_diag read the /proc text. Both see the namespace of
// this process, so they list the same sockets.
func (o *Options) readInet(p snapshot.Proto, fam snapshot.Family, dst []snapshot.Socket, d snapshot.Diag) ([]snapshot.Socket, error) {
	if o.ThisSystem() && p == snapshot.TCP {
		n := len(dst)
		rows, err := d.ReadInet(p, fam, dst)
		if err == nil {
			return rows, nil
		}
		dst = rows[:n]
	}
	return snapshot.ReadInet(o.netDir(), p, fam, dst)
}

// filterInet keeps the rows netstat shows for -a/-l, or the state words
// choose, and that pass the filter.
func (o *Options) filterInet(rf *RowFilter, rows []snapshot.Socket) []snapshot.Socket {
	if o.All && o.Filter == nil {
		return rows
	}
	kept := rows[:0]
	for i := range rows {
		if rf.Inet(&rows[i]) {
			kept = append(kept, rows[i])
		}
	}
	return kept
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
