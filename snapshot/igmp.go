package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
)

// Membership is a multicast group an interface has joined, as
// /proc/net/igmp and /proc/net/igmp6 list it.
type Membership struct {
	Iface string
	// Users counts the holders of the membership: sockets that joined
	// the group, and the kernel itself for the groups every interface
	// joins (all-hosts, all-nodes). netstat calls it RefCnt.
	Users int
	Group netip.Addr
}

// ReadIGMP reads the interfaces' IPv4 group memberships.
func ReadIGMP(netDir string) ([]Membership, error) {
	return readNetFile(netDir, "igmp", ParseIGMP)
}

// ReadIGMP6 reads the interfaces' IPv6 group memberships.
func ReadIGMP6(netDir string) ([]Membership, error) {
	return readNetFile(netDir, "igmp6", ParseIGMP6)
}

// ParseIGMP parses the contents of /proc/net/igmp: a header, then for each
// interface with IPv4 a line naming it and a line for each of its groups:
//
//	Idx	Device    : Count Querier	Group    Users Timer	Reporter
//	1	lo        :     1      V3
//					010000E0     1 0:00000000		0
//
// The group is the address's bytes in memory order, printed as a number
// in hex: E0 00 00 01, 224.0.0.1, on a little-endian machine. A group line
// whose interface line could not be read is bad too: it has no interface.
func ParseIGMP(data []byte, file string) ([]Membership, error) {
	var rows []Membership
	var errs []error
	iface := ""
	lineNo := 0
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		lineNo++
		if lineNo == 1 || len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var err error
		if line[0] != '\t' {
			iface, err = parseIGMPIface(line)
		} else {
			var m Membership
			m, err = parseIGMPGroup(line, iface)
			if err == nil {
				rows = append(rows, m)
			}
		}
		if err != nil {
			errs = append(errs, &ParseError{File: file, Line: lineNo, Err: err})
		}
	}
	return rows, errors.Join(errs...)
}

// parseIGMPIface reads an interface line, "1\tlo        :     1      V3".
// Interface names hold no ':' (the kernel refuses them).
func parseIGMPIface(line []byte) (string, error) {
	idx, rest, ok := bytes.Cut(line, []byte{'\t'})
	if !ok {
		return "", errors.New("no tab after the interface index")
	}
	if _, err := parseDec(idx, 32); err != nil {
		return "", fmt.Errorf("interface index: %w", err)
	}
	name, _, ok := bytes.Cut(rest, []byte{':'})
	name = bytes.TrimRight(name, " ")
	if !ok || len(name) == 0 {
		return "", errors.New("no interface name")
	}
	return string(name), nil
}

// parseIGMPGroup reads a group line, "\t\t\t\t010000E0     1 0:00000000\t\t0".
func parseIGMPGroup(line []byte, iface string) (Membership, error) {
	if iface == "" {
		return Membership{}, errors.New("group line without an interface line")
	}
	f := fields{b: line}
	group, err := parseRouteAddr(f.next())
	if err != nil {
		return Membership{}, fmt.Errorf("group: %w", err)
	}
	users, err := parseDec(f.next(), 31)
	if err != nil {
		return Membership{}, fmt.Errorf("users: %w", err)
	}
	return Membership{Iface: iface, Users: int(users), Group: group}, nil
}

// ParseIGMP6 parses the contents of /proc/net/igmp6, a line per group and
// no header:
//
//	1    lo              ff020000000000000000000000000001     1 0000000C 0
//
// interface index and name, group, users, flags and timer.
func ParseIGMP6(data []byte, file string) ([]Membership, error) {
	return parseRows(data, file, 0, parseIGMP6Line)
}

func parseIGMP6Line(line []byte) (Membership, error) {
	f := fields{b: line}
	if _, err := parseDec(f.next(), 32); err != nil {
		return Membership{}, fmt.Errorf("interface index: %w", err)
	}
	iface := f.next()
	if len(iface) == 0 {
		return Membership{}, errors.New("missing interface")
	}
	group, err := parseAddr6(f.next())
	if err != nil {
		return Membership{}, fmt.Errorf("group: %w", err)
	}
	users, err := parseDec(f.next(), 31)
	if err != nil {
		return Membership{}, fmt.Errorf("users: %w", err)
	}
	return Membership{Iface: string(iface), Users: int(users), Group: group}, nil
}
