package netstat

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/snapshot"
)

// names implements render.Names with netstat's rules: each kind of name
// can be turned off on its own (--numeric-hosts, --numeric-ports,
// --numeric-users; -n turns off all three), the files are read only when a
// name is needed, and host lookups are cached with a deadline.
type names struct {
	ctx                                      context.Context
	etcRoot                                  string
	numericHosts, numericPorts, numericUsers bool
	hosts                                    snapshot.HostResolver

	usersOnce    sync.Once
	users        map[uint32]string
	servicesOnce sync.Once
	services     snapshot.Services
}

func newNames(ctx context.Context, o *Options) *names {
	return &names{
		ctx:          ctx,
		etcRoot:      o.etcRoot(),
		numericHosts: o.NumericHosts,
		numericPorts: o.NumericPorts,
		numericUsers: o.NumericUsers,
		// A reverse lookup that takes longer than this is not worth
		// stalling the table for: the address prints instead.
		hosts: snapshot.HostResolver{Timeout: 500 * time.Millisecond},
	}
}

// Host returns a name, "[::]" for the IPv6 wildcard as netstat prints it in
// name mode, or "" for the numeric form. The IPv4 wildcard stays 0.0.0.0.
func (n *names) Host(a netip.Addr) string {
	if n.numericHosts || a.Is4In6() {
		return ""
	}
	if a.IsUnspecified() {
		if a.Is6() {
			return "[::]"
		}
		return ""
	}
	// PTR records are chosen by whoever controls the reverse zone.
	return render.Safe(n.hosts.Name(n.ctx, a))
}

// prefetch resolves every address of rows at once, so that a table with
// many peers waits for one lookup timeout instead of one per peer.
func (n *names) prefetch(rows []snapshot.Socket) {
	if n.numericHosts {
		return
	}
	addrs := make([]netip.Addr, 0, 2*len(rows))
	for i := range rows {
		addrs = append(addrs, rows[i].Local.Addr(), rows[i].Remote.Addr())
	}
	n.prefetchAddrs(addrs)
}

// prefetchAddrs resolves addrs at once; wildcards and IPv4-mapped
// addresses are never looked up.
func (n *names) prefetchAddrs(addrs []netip.Addr) {
	if n.numericHosts {
		return
	}
	kept := addrs[:0]
	for _, a := range addrs {
		if !a.IsUnspecified() && !a.Is4In6() {
			kept = append(kept, a)
		}
	}
	n.hosts.Prefetch(n.ctx, kept)
}

func (n *names) Service(p snapshot.Proto, port uint16) string {
	if n.numericPorts {
		return ""
	}
	n.servicesOnce.Do(func() {
		n.services = snapshot.ReadServices(filepath.Join(n.etcRoot, "services"), filepath.Join(n.etcRoot, "protocols"))
	})
	return n.services.Lookup(p, port)
}

func (n *names) User(uid uint32) string {
	if n.numericUsers {
		return ""
	}
	n.usersOnce.Do(func() {
		// No passwd file means numbers, as getpwuid failing does in netstat.
		n.users, _ = snapshot.ReadUsers(filepath.Join(n.etcRoot, "passwd"))
	})
	return n.users[uid]
}
