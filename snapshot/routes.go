package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Route flags as the kernel prints them in /proc/net/route and
// /proc/net/ipv6_route (linux/route.h, linux/ipv6_route.h).
const (
	RTFUp        = 0x0001
	RTFGateway   = 0x0002
	RTFHost      = 0x0004
	RTFReinstate = 0x0008
	RTFDynamic   = 0x0010
	RTFModified  = 0x0020
	RTFMTU       = 0x0040
	RTFWindow    = 0x0080
	RTFIRTT      = 0x0100
	RTFReject    = 0x0200
	RTFDefault   = 0x00010000
	RTFAllOnLink = 0x00020000
	RTFAddrConf  = 0x00040000
	RTFNoNextHop = 0x00200000
	RTFExpires   = 0x00400000
	RTFCache     = 0x01000000
	RTFFlow      = 0x02000000
	RTFPolicy    = 0x04000000
	RTFLocal     = 0x80000000
)

// Route is one row of /proc/net/route: an IPv4 FIB entry of the main table.
type Route struct {
	Iface   string
	Dest    netip.Addr
	Gateway netip.Addr
	Mask    netip.Addr
	Flags   uint32
	RefCnt  int64
	Use     int64
	Metric  int64
	MSS     int64 // the "MTU" column: the route's advmss + 40, 0 when unset
	Window  int64
	IRTT    int64
}

// Route6 is one row of /proc/net/ipv6_route.
type Route6 struct {
	Dest    netip.Prefix
	Source  netip.Prefix
	NextHop netip.Addr
	Metric  uint32 // netstat prints it as a signed int: 0xffffffff is -1
	RefCnt  uint32
	Use     uint32
	Flags   uint32
	Iface   string
}

// ReadRoutes reads the IPv4 routing table from netDir/route. Malformed
// lines are skipped and reported as *ParseError values joined into the
// error, next to the rows that did parse.
func ReadRoutes(netDir string) ([]Route, error) {
	return readNetFile(netDir, "route", ParseRoutes)
}

// ParseRoutes parses the contents of /proc/net/route, header included.
func ParseRoutes(data []byte, file string) ([]Route, error) {
	return parseTable(data, file, parseRouteLine)
}

// parseRouteLine parses one row, like
//
//	eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0
//
// Addresses are the raw __be32 printed with %08X, so on a little-endian
// machine the hex digits come out byte-reversed.
func parseRouteLine(line []byte) (Route, error) {
	f := fields{b: line}
	r, err := parseRouteStart(&f)
	if err != nil {
		return r, err
	}
	if r.Mask, err = parseRouteAddr(f.next()); err != nil {
		return r, fmt.Errorf("mask: %w", err)
	}
	for _, p := range []namedInt{{"mtu", &r.MSS}, {"window", &r.Window}, {"irtt", &r.IRTT}} {
		tok := f.next()
		if len(tok) == 0 && p.name == "irtt" {
			break // netstat accepts rows without IRTT, as 2.0 kernels printed them
		}
		if *p.dst, err = parseSigned(tok); err != nil {
			return r, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return r, nil
}

// parseRouteStart parses the columns /proc/net/route and rt_cache both
// begin with: interface, destination, gateway, flags, refcnt, use and
// metric.
func parseRouteStart(f *fields) (Route, error) {
	var r Route
	iface := f.next()
	if len(iface) == 0 {
		return r, errors.New("missing interface")
	}
	r.Iface = string(iface)
	var err error
	if r.Dest, err = parseRouteAddr(f.next()); err != nil {
		return r, fmt.Errorf("destination: %w", err)
	}
	if r.Gateway, err = parseRouteAddr(f.next()); err != nil {
		return r, fmt.Errorf("gateway: %w", err)
	}
	flags, err := parseHex(f.next(), 32)
	if err != nil {
		return r, fmt.Errorf("flags: %w", err)
	}
	r.Flags = uint32(flags)
	err = parseSignedFields(f, []namedInt{{"refcnt", &r.RefCnt}, {"use", &r.Use}, {"metric", &r.Metric}})
	return r, err
}

// namedInt is a decimal field of a row and where it goes.
type namedInt struct {
	name string
	dst  *int64
}

func parseSignedFields(f *fields, want []namedInt) error {
	for _, p := range want {
		v, err := parseSigned(f.next())
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		*p.dst = v
	}
	return nil
}

func parseRouteAddr(b []byte) (netip.Addr, error) {
	if len(b) != 8 {
		return netip.Addr{}, fmt.Errorf("bad address %q", b)
	}
	v, err := parseHex(b, 32)
	if err != nil {
		return netip.Addr{}, err
	}
	var a [4]byte
	binary.NativeEndian.PutUint32(a[:], uint32(v))
	return netip.AddrFrom4(a), nil
}

// parseSigned parses a decimal that may be negative: the kernel prints some
// route and statistics fields with %d.
func parseSigned(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	v, err := parseDec(b, 63)
	if neg {
		return -int64(v), err
	}
	return int64(v), err
}

// ReadRoutes6 reads the IPv6 routing table from netDir/ipv6_route. A
// missing file (IPv6 disabled) is returned as an error wrapping
// fs.ErrNotExist; malformed lines are reported as in ReadRoutes.
func ReadRoutes6(netDir string) ([]Route6, error) {
	return readNetFile(netDir, "ipv6_route", ParseRoutes6)
}

// ParseRoutes6 parses the contents of /proc/net/ipv6_route, which has no
// header line.
func ParseRoutes6(data []byte, file string) ([]Route6, error) {
	return parseRows(data, file, 0, parseRoute6Line)
}

// parseRoute6Line parses one row, like
//
//	fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
//
// destination, prefix length, source, source prefix length, next hop, then
// metric, refcnt, use and flags in hex, then the device.
func parseRoute6Line(line []byte) (Route6, error) {
	var r Route6
	f := fields{b: line}
	var err error
	if r.Dest, err = parsePrefix6(f.next(), f.next()); err != nil {
		return r, fmt.Errorf("destination: %w", err)
	}
	if r.Source, err = parsePrefix6(f.next(), f.next()); err != nil {
		return r, fmt.Errorf("source: %w", err)
	}
	if r.NextHop, err = parseAddr6(f.next()); err != nil {
		return r, fmt.Errorf("next hop: %w", err)
	}
	for _, p := range []struct {
		name string
		dst  *uint32
	}{{"metric", &r.Metric}, {"refcnt", &r.RefCnt}, {"use", &r.Use}, {"flags", &r.Flags}} {
		v, err := parseHex(f.next(), 32)
		if err != nil {
			return r, fmt.Errorf("%s: %w", p.name, err)
		}
		*p.dst = uint32(v)
	}
	iface := f.next()
	if len(iface) == 0 {
		return r, errors.New("missing interface")
	}
	r.Iface = string(iface)
	return r, nil
}

func parseAddr6(b []byte) (netip.Addr, error) {
	if len(b) != 32 {
		return netip.Addr{}, fmt.Errorf("bad address %q", b)
	}
	var a [16]byte
	for i := range a {
		v, err := parseHex(b[2*i:2*i+2], 8)
		if err != nil {
			return netip.Addr{}, err
		}
		a[i] = byte(v)
	}
	return netip.AddrFrom16(a), nil
}

func parsePrefix6(addr, plen []byte) (netip.Prefix, error) {
	a, err := parseAddr6(addr)
	if err != nil {
		return netip.Prefix{}, err
	}
	n, err := parseHex(plen, 8)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("prefix length: %w", err)
	}
	if n > 128 {
		return netip.Prefix{}, fmt.Errorf("prefix length %d out of range", n)
	}
	return netip.PrefixFrom(a, int(n)), nil
}
