package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/socktrace/socktrace/tcpstate"
)

// SCTPEndpoint is an SCTP socket's endpoint, a row of /proc/net/sctp/eps:
// the local addresses and port it is bound to. Sockets of both families
// are listed, in the one file.
type SCTPEndpoint struct {
	State tcpstate.State // the socket's: SCTP keeps it in TCP's numbers
	Port  uint16
	UID   uint32
	Inode uint64
	Addrs []netip.Addr
}

// SCTPAssoc is an SCTP association, a row of /proc/net/sctp/assocs: a
// multi-homed connection, each end with its own addresses.
type SCTPAssoc struct {
	State        tcpstate.State // its socket's
	SendQ, RecvQ uint64
	UID          uint32
	Inode        uint64
	LocalPort    uint16
	RemotePort   uint16
	Local        []netip.Addr
	Remote       []netip.Addr
}

// ReadSCTPEndpoints reads netDir/sctp/eps, which exists while the kernel
// has SCTP (the sctp module loaded).
func ReadSCTPEndpoints(netDir string) ([]SCTPEndpoint, error) {
	return readNetFile(filepath.Join(netDir, "sctp"), "eps", ParseSCTPEndpoints)
}

// ReadSCTPAssocs reads netDir/sctp/assocs.
func ReadSCTPAssocs(netDir string) ([]SCTPAssoc, error) {
	return readNetFile(filepath.Join(netDir, "sctp"), "assocs", ParseSCTPAssocs)
}

// ParseSCTPEndpoints parses the contents of /proc/net/sctp/eps: a header,
// then rows of endpoint and socket pointers, socket type, state, hash
// bucket, port, uid, inode and the local addresses, each followed by a
// space:
//
//	ffff8880 ffff8881 2   10  29   9999      0 41501 10.9.0.1 10.9.0.5
func ParseSCTPEndpoints(data []byte, file string) ([]SCTPEndpoint, error) {
	return parseTable(data, file, parseSCTPEndpoint)
}

func parseSCTPEndpoint(line []byte) (SCTPEndpoint, error) {
	var e SCTPEndpoint
	f := fields{b: line}
	for range 3 { // endpoint, socket, type
		if len(f.next()) == 0 {
			return e, errEmpty
		}
	}
	state, err := parseSCTPState(f.next())
	if err != nil {
		return e, err
	}
	f.next() // hash bucket
	v := make([]uint64, 3)
	for i, p := range []struct {
		name string
		bits uint
	}{{"port", 16}, {"uid", 32}, {"inode", 64}} {
		if v[i], err = parseDec(f.next(), p.bits); err != nil {
			return e, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	e.State, e.Port, e.UID, e.Inode = state, uint16(v[0]), uint32(v[1]), v[2]
	e.Addrs, err = parseSCTPAddrs(f.b)
	return e, err
}

// ParseSCTPAssocs parses the contents of /proc/net/sctp/assocs: a header,
// then rows of association and socket pointers, socket type, socket
// state, association state, hash bucket, association id, send and receive
// queues, uid, inode, local and remote ports, the local addresses, "<->",
// the remote ones (the primary path's marked with "*"), then after a tab
// counters that netstat does not show:
//
//	ffff8880 ffff8881 1   1   3  9       2        5      100    1000 41510 36000    22  *10.0.0.1 <-> *10.0.0.2 	   30000 ...
func ParseSCTPAssocs(data []byte, file string) ([]SCTPAssoc, error) {
	return parseTable(data, file, parseSCTPAssoc)
}

func parseSCTPAssoc(line []byte) (SCTPAssoc, error) {
	var a SCTPAssoc
	line, _, _ = bytes.Cut(line, []byte{'\t'})
	head, remote, ok := bytes.Cut(line, []byte("<->"))
	if !ok {
		return a, errors.New("no <-> between the local and remote addresses")
	}
	f := fields{b: head}
	for range 3 { // association, socket, type
		if len(f.next()) == 0 {
			return a, errEmpty
		}
	}
	state, err := parseSCTPState(f.next())
	if err != nil {
		return a, err
	}
	for range 3 { // association state, hash bucket, association id
		if len(f.next()) == 0 {
			return a, errEmpty
		}
	}
	v := make([]uint64, 6)
	for i, p := range []struct {
		name string
		bits uint
	}{{"send queue", 63}, {"receive queue", 63}, {"uid", 32}, {"inode", 64}, {"local port", 16}, {"remote port", 16}} {
		if v[i], err = parseDec(f.next(), p.bits); err != nil {
			return a, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	a.State, a.SendQ, a.RecvQ, a.UID, a.Inode = state, v[0], v[1], uint32(v[2]), v[3]
	a.LocalPort, a.RemotePort = uint16(v[4]), uint16(v[5])
	if a.Local, err = parseSCTPAddrs(f.b); err != nil {
		return a, fmt.Errorf("local %w", err)
	}
	if a.Remote, err = parseSCTPAddrs(remote); err != nil {
		return a, fmt.Errorf("remote %w", err)
	}
	return a, nil
}

// parseSCTPState reads a socket state, which netstat names as TCP's.
func parseSCTPState(b []byte) (tcpstate.State, error) {
	v, err := parseDec(b, 8)
	if err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	return tcpstate.State(v), nil
}

// parseSCTPAddrs reads a list of addresses: IPv4 dotted, IPv6 as eight
// groups of four hex digits, the primary one marked with "*".
func parseSCTPAddrs(b []byte) ([]netip.Addr, error) {
	var addrs []netip.Addr
	f := fields{b: b}
	for tok := f.next(); len(tok) > 0; tok = f.next() {
		a, err := netip.ParseAddr(string(bytes.TrimPrefix(tok, []byte{'*'})))
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("address %q", tok)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}
