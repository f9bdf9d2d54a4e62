package snapshot

import (
	"bytes"
	"fmt"
	"net/netip"
)

// Routing cache flags (linux/in_route.h) that netstat -rC shows, besides
// the RTF ones of the FIB.
const (
	RTCFDead        = 0x00000001
	RTCFOnLink      = 0x00000004
	RTCFNotify      = 0x00010000
	RTCFDirectDst   = 0x00020000
	RTCFTProxy      = 0x00080000
	RTCFFast        = 0x00200000
	RTCFMasq        = 0x00400000
	RTCFSNAT        = 0x00800000
	RTCFDoRedirect  = 0x01000000
	RTCFDirectSrc   = 0x04000000
	RTCFDNAT        = 0x08000000
	RTCFBroadcast   = 0x10000000
	RTCFMulticast   = 0x20000000
	RTCFReject      = 0x40000000
	RTCFLocal       = 0x80000000
	routeCacheLabel = "SpecDst"
)

// CachedRoute is one row of /proc/net/rt_cache, the IPv4 routing cache.
// Linux 3.6 removed the cache: since, the file holds its header line and
// no row.
type CachedRoute struct {
	Iface                 string
	Dest, Gateway, Source netip.Addr
	SpecDst               netip.Addr
	Flags                 uint32
	RefCnt, Use, Metric   int64
	MTU, Window, IRTT     int64
	TOS, HHRef, HHUptod   int64
}

// ReadRouteCache reads the IPv4 routing cache.
func ReadRouteCache(netDir string) ([]CachedRoute, error) {
	return readNetFile(netDir, "rt_cache", ParseRouteCache)
}

// ParseRouteCache parses the contents of /proc/net/rt_cache in the layout
// of Linux 2.2 to 3.5, the only one its header may name: a header line,
// then rows like
//
//	eth0	0100000A	0100000A	80000000	0	3	0	0200000A	0	0	0	00	-1	0	0100000A
//
// interface, destination, gateway, flags in hex, refcnt, use, metric,
// source, MTU, window, IRTT, TOS in hex, HHRef, HHUptod, specific
// destination; addresses as in /proc/net/route.
func ParseRouteCache(data []byte, file string) ([]CachedRoute, error) {
	header, _ := cutLine(data)
	if len(bytes.TrimSpace(data)) > 0 && !bytes.Contains(header, []byte(routeCacheLabel)) {
		return nil, fmt.Errorf("%s: header %q: not the layout of Linux 2.2 and later", file, bytes.TrimSpace(header))
	}
	return parseTable(data, file, parseRouteCacheLine)
}

func parseRouteCacheLine(line []byte) (CachedRoute, error) {
	var r CachedRoute
	f := fields{b: line}
	s, err := parseRouteStart(&f)
	if err != nil {
		return r, err
	}
	r.Iface, r.Dest, r.Gateway, r.Flags = s.Iface, s.Dest, s.Gateway, s.Flags
	r.RefCnt, r.Use, r.Metric = s.RefCnt, s.Use, s.Metric
	if r.Source, err = parseRouteAddr(f.next()); err != nil {
		return r, fmt.Errorf("source: %w", err)
	}
	if err := parseSignedFields(&f, []namedInt{{"mtu", &r.MTU}, {"window", &r.Window}, {"irtt", &r.IRTT}}); err != nil {
		return r, err
	}
	tos, err := parseHex(f.next(), 8)
	if err != nil {
		return r, fmt.Errorf("tos: %w", err)
	}
	r.TOS = int64(tos)
	if err := parseSignedFields(&f, []namedInt{{"hhref", &r.HHRef}, {"hhuptod", &r.HHUptod}}); err != nil {
		return r, err
	}
	if r.SpecDst, err = parseRouteAddr(f.next()); err != nil {
		return r, fmt.Errorf("specdst: %w", err)
	}
	return r, nil
}
