package top

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tracer"
)

// By is what rows are grouped by: a set of fields.
type By uint8

const (
	ByProcess    By = 1 << iota // process id and name
	ByComm                      // process name: every process of that name
	ByRemote                    // remote address and port
	ByRemotePort                // remote port, any address
	ByLocalPort                 // local port: a server's service
	ByContainer                 // container, pod or systemd unit: all its processes
)

// DefaultBy groups by process and remote: who connects where.
const DefaultBy = ByProcess | ByRemote

var byNames = []struct {
	name string
	by   By
}{
	{"process", ByProcess},
	{"comm", ByComm},
	{"remote", ByRemote},
	{"remote-port", ByRemotePort},
	{"local-port", ByLocalPort},
	{"container", ByContainer},
}

// ByNames are the field names ParseBy takes.
func ByNames() []string {
	names := make([]string, len(byNames))
	for i, n := range byNames {
		names[i] = n.name
	}
	return names
}

// ParseBy takes a comma-separated list of field names. A field another
// includes adds nothing (process includes comm, remote includes
// remote-port).
func ParseBy(s string) (By, error) {
	var by By
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, n := range byNames {
			if strings.EqualFold(name, n.name) {
				by |= n.by
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("--by %q: unknown field %q; want a comma-separated list of %s",
				s, name, strings.Join(ByNames(), ", "))
		}
	}
	if by&ByProcess != 0 {
		by &^= ByComm
	}
	if by&ByRemote != 0 {
		by &^= ByRemotePort
	}
	return by, nil
}

func (b By) String() string {
	var names []string
	for _, n := range byNames {
		if b&n.by != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// key identifies a row: the fields By does not name are zero. It holds no
// pointers, so the index of rows costs the garbage collector nothing.
type key struct {
	addr      [16]byte // remote address (ByRemote)
	comm      snapshot.Comm
	pid       uint32
	container uint32 // a name's number (ByContainer; see containers)
	family    uint16 // the remote address's: 0 when not grouped by it
	rport     uint16 // 0: an ephemeral port ("*")
	lport     uint16 // 0: an ephemeral port ("*")
}

// keyOf is the row key of ev's socket, whose owner runs in container
// (numbered by containers).
func keyOf(ev *tracer.Event, by By, eph snapshot.PortRange, container uint32) key {
	k := key{container: container}
	if by&ByProcess != 0 {
		k.pid = ev.PID
	}
	if by&(ByProcess|ByComm) != 0 {
		k.comm = ev.Comm
	}
	if by&ByRemote != 0 {
		k.addr = ev.Remote.Addr().As16()
		k.family = ev.Family
	}
	if by&(ByRemote|ByRemotePort) != 0 {
		k.rport = ephemeral(eph, ev.Remote.Port())
	}
	if by&ByLocalPort != 0 {
		k.lport = ephemeral(eph, ev.Local.Port())
	}
	return k
}

// remote is the key's remote address, as the event had it.
func (k *key) remote() netip.Addr {
	if k.family == syscall.AF_INET6 {
		return netip.AddrFrom16(k.addr)
	}
	return netip.AddrFrom16(k.addr).Unmap()
}

// ephemeral is p, or 0 ("*") when p is in the ephemeral range: a client's
// port, which a row does not keep apart, so that all the clients of one
// address form one row.
func ephemeral(r snapshot.PortRange, p uint16) uint16 {
	if r.Has(p) {
		return 0
	}
	return p
}
