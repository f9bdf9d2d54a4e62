package render

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"

	"github.com/socktrace/socktrace/snapshot"
)

// RouteNamer names route addresses. Host and Network return "" when an
// address has no name. *snapshot.RouteNames implements it.
type RouteNamer interface {
	Host(netip.Addr) string
	Network(netip.Addr) string
}

// RouteOptions are the netstat options the routing tables read.
type RouteOptions struct {
	Extend int        // -e count
	Names  RouteNamer // nil prints numbers, as -n does
}

// The IPv4 table's headers, by layout (see routeLayout).
var routeHeads = layoutHeads{
	layoutMSS:    "Destination     Gateway         Genmask         Flags   MSS Window  irtt Iface",
	layoutMetric: "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface",
	layoutFull:   "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface    MSS   Window irtt",
}

const route6Head = "Destination                    Next Hop                   Flag Met Ref  Use If"

// Routes prints the IPv4 routing table as netstat -r does. Rows without
// RTF_UP are left out, as netstat leaves them out.
func Routes(w io.Writer, rows []snapshot.Route, o RouteOptions) error {
	bw := bufio.NewWriter(w)
	layout := printRouteHead(bw, "Kernel IP routing table", o.Extend, &routeHeads)
	if layout == layoutNone {
		return flushTable(bw)
	}
	for _, r := range rows {
		if r.Flags&snapshot.RTFUp == 0 {
			continue
		}
		dst, gw, mask := routeNames(r, o.Names)
		flags := RouteFlags(r.Flags)
		iface := Safe(r.Iface)
		reject := r.Flags&snapshot.RTFReject != 0
		switch {
		case layout == layoutMSS && reject:
			fmt.Fprintf(bw, "%-15s -               %-15s %-5s     - -          - -\n", dst, mask, flags)
		case layout == layoutMSS:
			fmt.Fprintf(bw, "%-15s %-15s %-15s %-5s %5d %-5d %6d %s\n", dst, gw, mask, flags, r.MSS, r.Window, r.IRTT, iface)
		case layout == layoutMetric && reject:
			fmt.Fprintf(bw, "%-15s -               %-15s %-5s %-6d -  %7d -\n", dst, mask, flags, r.Metric, r.Use)
		case layout == layoutMetric:
			fmt.Fprintf(bw, "%-15s %-15s %-15s %-5s %-6d %-2d %7d %s\n", dst, gw, mask, flags, r.Metric, r.RefCnt, r.Use, iface)
		case reject:
			fmt.Fprintf(bw, "%-15s -               %-15s %-5s %-6d -  %7d -        -     -      -\n", dst, mask, flags, r.Metric, r.Use)
		default:
			fmt.Fprintf(bw, "%-15s %-15s %-15s %-5s %-6d %-3d %6d %-6.6s   %-5d %-6d %d\n",
				dst, gw, mask, flags, r.Metric, r.RefCnt, r.Use, iface, r.MSS, r.Window, r.IRTT)
		}
	}
	return flushTable(bw)
}

// The IPv4 tables' layouts, numbered as netstat numbers them.
const (
	layoutNone   = 0 // the title alone
	layoutMetric = 1 // Metric, Ref, Use
	layoutMSS    = 2 // MSS, Window, irtt
	layoutFull   = 3 // both
)

// layoutHeads are an IPv4 table's headers, by layout; layoutNone has none.
type layoutHeads [layoutFull + 1]string

// printRouteHead prints an IPv4 table's title, then the header of the
// layout -e asks for, which it returns: with layoutNone, netstat prints
// the title and nothing else.
func printRouteHead(bw *bufio.Writer, title string, extend int, heads *layoutHeads) int {
	fmt.Fprintln(bw, title)
	layout := routeLayout(extend)
	if layout != layoutNone {
		fmt.Fprintln(bw, heads[layout])
	}
	return layout
}

// routeLayout is the layout netstat gives -r with extend times -e: it
// counts -e from 1, swaps 1 and 2 (so no -e shows MSS and -e Metric), and
// keeps the count's two low bits, so -eee has no table and -eeee is -e.
func routeLayout(extend int) int {
	switch extend {
	case 0:
		return layoutMSS
	case 1:
		return layoutMetric
	}
	return (extend + 1) & 3
}

// The IPv4 routing cache's headers, by layout.
var cacheHeads = layoutHeads{
	layoutMSS:    "Source          Destination     Gateway         Flags   MSS Window  irtt Iface",
	layoutMetric: "Source          Destination     Gateway         Flags Metric Ref    Use Iface",
	layoutFull:   "Source          Destination     Gateway         Flags Metric Ref    Use Iface    MSS   Window irtt  TOS HHRef HHUptod     SpecDst",
}

// RouteCache prints the IPv4 routing cache as netstat -rC does. Since
// Linux 3.6 there is no cache, and it prints the title and header alone.
func RouteCache(w io.Writer, rows []snapshot.CachedRoute, o RouteOptions) error {
	bw := bufio.NewWriter(w)
	layout := printRouteHead(bw, "Kernel IP routing cache", o.Extend, &cacheHeads)
	if layout == layoutNone {
		return flushTable(bw)
	}
	for _, r := range rows {
		src, dst, gw := cacheName(r.Source, o.Names), cacheName(r.Dest, o.Names), cacheName(r.Gateway, o.Names)
		flags, iface := routeCacheFlags(r.Flags), Safe(r.Iface)
		switch layout {
		case layoutMSS:
			fmt.Fprintf(bw, "%-15s %-15s %-15s %-5s %5d %-5d %6d %s\n", src, dst, gw, flags, r.MTU, r.Window, r.IRTT, iface)
		case layoutMetric:
			fmt.Fprintf(bw, "%-15s %-15s %-15s %-5s %-6d %-2d %7d %s\n", src, dst, gw, flags, r.Metric, r.RefCnt, r.Use, iface)
		default:
			// netstat reads the TOS, printed in hex, as a decimal:
			// printed back in hex, it reads the same.
			fmt.Fprintf(bw, "%-15s %-15s %-15s %-5s %-6d %-3d %6d %-6.6s   %-5d %-6d %-5d %-3X %-3d   %-3d %15s\n",
				src, dst, gw, flags, r.Metric, r.RefCnt, r.Use, iface, r.MTU, r.Window, r.IRTT,
				r.TOS, r.HHRef, r.HHUptod, cacheName(r.SpecDst, o.Names))
		}
	}
	return flushTable(bw)
}

// cacheName is netstat's name of an address in the routing cache: 0.0.0.0
// stays a number, others are named as a host when their first byte is not
// 0 (netstat tests the host bits of 255.255.255.0 on the address in
// network order, which on a little-endian machine is its first byte), as
// a network otherwise. Names are not cut.
func cacheName(a netip.Addr, names RouteNamer) string {
	if names == nil || a.IsUnspecified() {
		return a.String()
	}
	name := names.Network(a)
	if a.As4()[0] != 0 {
		name = names.Host(a)
	}
	return Safe(orNumeric(name, a.String()))
}

// routeCacheFlags decodes a cached route's flags into netstat's letters.
func routeCacheFlags(f uint32) string {
	var b []byte
	if f&snapshot.RTFGateway != 0 {
		b = append(b, 'G')
	}
	if f&snapshot.RTFReject != 0 {
		b = append(b[:0], '!')
	}
	return string(appendLetters(b, f, []flagLetter{
		{snapshot.RTFReinstate, "R"}, {snapshot.RTFDynamic, "D"}, {snapshot.RTFModified, "M"},
		{snapshot.RTCFDead, "-"}, {snapshot.RTCFOnLink, "o"}, {snapshot.RTCFNotify, "n"},
		{snapshot.RTCFDirectDst, "d"}, {snapshot.RTCFTProxy, "t"}, {snapshot.RTCFFast, "f"},
		{snapshot.RTCFMasq, "q"}, {snapshot.RTCFSNAT, "Ns"}, {snapshot.RTCFDoRedirect, "r"},
		{snapshot.RTCFDirectSrc, "i"}, {snapshot.RTCFDNAT, "Nd"}, {snapshot.RTCFBroadcast, "b"},
		{snapshot.RTCFMulticast, "m"}, {snapshot.RTCFReject, "#"}, {snapshot.RTCFLocal, "l"},
	}))
}

// flagLetter is a route flag and netstat's letters for it.
type flagLetter struct {
	bit    uint32
	letter string
}

// appendLetters appends the letters of the flags set in f, in the order
// netstat prints them, which is the order of letters.
func appendLetters(b []byte, f uint32, letters []flagLetter) []byte {
	for _, l := range letters {
		if f&l.bit != 0 {
			b = append(b, l.letter...)
		}
	}
	return b
}

// routeNames returns the destination, gateway and genmask columns. netstat
// names a destination as a network unless it has host bits set or is a
// host route, calls 0.0.0.0 "default" only as a destination, and cuts every
// column to 15 bytes, -W or not.
func routeNames(r snapshot.Route, names RouteNamer) (dst, gw, mask string) {
	mask = r.Mask.String()
	dst, gw = r.Dest.String(), r.Gateway.String()
	if names != nil {
		d, m := r.Dest.As4(), r.Mask.As4()
		host := r.Flags&snapshot.RTFHost != 0
		for i := range d {
			host = host || d[i]&^m[i] != 0
		}
		switch {
		case r.Dest.IsUnspecified():
			dst = "default"
		case host:
			dst = orNumeric(names.Host(r.Dest), dst)
		default:
			dst = orNumeric(names.Network(r.Dest), dst)
		}
		if !r.Gateway.IsUnspecified() {
			gw = orNumeric(names.Host(r.Gateway), gw)
		}
	}
	return cut(Safe(dst), 15), cut(Safe(gw), 15), mask
}

func orNumeric(name, numeric string) string {
	if name == "" {
		return numeric
	}
	return name
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// RouteFlags decodes IPv4 route flags into netstat's letters. A reject
// route shows "!" in place of U and G.
func RouteFlags(f uint32) string {
	var b []byte
	if f&snapshot.RTFUp != 0 {
		b = append(b, 'U')
	}
	if f&snapshot.RTFGateway != 0 {
		b = append(b, 'G')
	}
	if f&snapshot.RTFReject != 0 {
		b = append(b[:0], '!')
	}
	return string(appendLetters(b, f, []flagLetter{
		{snapshot.RTFHost, "H"}, {snapshot.RTFReinstate, "R"}, {snapshot.RTFDynamic, "D"},
		{snapshot.RTFModified, "M"}, {snapshot.RTFDefault, "d"}, {snapshot.RTFAllOnLink, "a"},
		{snapshot.RTFAddrConf, "c"}, {snapshot.RTFNoNextHop, "o"}, {snapshot.RTFExpires, "e"},
		{snapshot.RTFCache, "c"}, {snapshot.RTFFlow, "f"}, {snapshot.RTFPolicy, "p"},
		{snapshot.RTFLocal, "l"}, {snapshot.RTFMTU, "u"}, {snapshot.RTFWindow, "w"},
		{snapshot.RTFIRTT, "i"},
	}))
}

// Route6Flags decodes IPv6 route flags into netstat's letters.
func Route6Flags(f uint32) string {
	return string(appendLetters(nil, f, []flagLetter{
		{snapshot.RTFUp, "U"}, {snapshot.RTFReject, "!"}, {snapshot.RTFGateway, "G"},
		{snapshot.RTFHost, "H"}, {snapshot.RTFDefault, "D"}, {snapshot.RTFAddrConf, "A"},
		{snapshot.RTFCache, "C"}, {snapshot.RTFAllOnLink, "a"}, {snapshot.RTFExpires, "e"},
		{snapshot.RTFModified, "m"}, {snapshot.RTFNoNextHop, "n"}, {snapshot.RTFFlow, "f"},
	}))
}

// Routes6 prints the IPv6 routing table as netstat -6 -r does. netstat
// prints every row, cached routes excepted, and ignores -e here.
func Routes6(w io.Writer, rows []snapshot.Route6, o RouteOptions) error {
	return routes6(w, rows, o, false)
}

// Routes6Cache prints the IPv6 routing cache as netstat -6 -rC does: the
// cached routes (RTF_CACHE) /proc/net/ipv6_route lists. Linux 4.15 moved
// them (exceptions of a route: a lowered PMTU, a redirect) out of the
// tree that file walks, so the table is empty since.
func Routes6Cache(w io.Writer, rows []snapshot.Route6, o RouteOptions) error {
	return routes6(w, rows, o, true)
}

func routes6(w io.Writer, rows []snapshot.Route6, o RouteOptions, cache bool) error {
	bw := bufio.NewWriter(w)
	if cache {
		fmt.Fprintln(bw, "Kernel IPv6 routing cache")
	} else {
		fmt.Fprintln(bw, "Kernel IPv6 routing table")
	}
	fmt.Fprintln(bw, route6Head)
	for _, r := range rows {
		if (r.Flags&snapshot.RTFCache != 0) != cache {
			continue
		}
		dst := fmt.Sprintf("%s/%d", route6Name(r.Dest.Addr(), o.Names), r.Dest.Bits())
		fmt.Fprintf(bw, "%-30s %-26s %-4s %-3d %-1d %6d %s\n", dst, route6Name(r.NextHop, o.Names),
			Route6Flags(r.Flags), int32(r.Metric), int32(r.RefCnt), int32(r.Use), Safe(r.Iface))
	}
	return flushTable(bw)
}

// route6Name is netstat's IPv6 address naming: without -n the unspecified
// address is "[::]" and others go through getnameinfo, which falls back to
// the number.
func route6Name(a netip.Addr, names RouteNamer) string {
	if names == nil {
		return a.String()
	}
	if a.IsUnspecified() {
		return "[::]"
	}
	return Safe(orNumeric(names.Host(a), a.String()))
}

// RouteJSON is one IPv4 route as printed by --json.
type RouteJSON struct {
	Family      string   `json:"family"`
	Destination string   `json:"destination"`
	Gateway     string   `json:"gateway"`
	Genmask     string   `json:"genmask"`
	Flags       string   `json:"flags"`
	Metric      int64    `json:"metric"`
	Ref         int64    `json:"ref"`
	Use         int64    `json:"use"`
	Iface       JSONText `json:"iface"`
	MSS         int64    `json:"mss"`
	Window      int64    `json:"window"`
	IRTT        int64    `json:"irtt"`
}

// Route6JSON is one IPv6 route as printed by --json.
type Route6JSON struct {
	Family      string   `json:"family"`
	Destination string   `json:"destination"`
	NextHop     string   `json:"next_hop"`
	Flags       string   `json:"flags"`
	Metric      int32    `json:"metric"`
	Ref         uint32   `json:"ref"`
	Use         uint32   `json:"use"`
	Iface       JSONText `json:"iface"`
	Cache       bool     `json:"cache,omitempty"` // -C: a cached route
}

// RoutesJSON prints one object per IPv4 route that netstat would show.
// Addresses are always numeric: JSON is for programs.
func RoutesJSON(w io.Writer, rows []snapshot.Route) error {
	enc := newJSONEncoder(w)
	for _, r := range rows {
		if r.Flags&snapshot.RTFUp == 0 {
			continue
		}
		err := enc.Encode(RouteJSON{
			Family: "inet", Destination: r.Dest.String(), Gateway: r.Gateway.String(),
			Genmask: r.Mask.String(), Flags: RouteFlags(r.Flags), Metric: r.Metric,
			Ref: r.RefCnt, Use: r.Use, Iface: JSONText(r.Iface), MSS: r.MSS, Window: r.Window, IRTT: r.IRTT,
		})
		if err != nil {
			return fmt.Errorf("write route: %w", err)
		}
	}
	return nil
}

// Routes6JSON prints one object per IPv6 route that netstat would show.
func Routes6JSON(w io.Writer, rows []snapshot.Route6) error {
	return routes6JSON(w, rows, false)
}

// Routes6CacheJSON prints one object per cached IPv6 route.
func Routes6CacheJSON(w io.Writer, rows []snapshot.Route6) error {
	return routes6JSON(w, rows, true)
}

func routes6JSON(w io.Writer, rows []snapshot.Route6, cache bool) error {
	enc := newJSONEncoder(w)
	for _, r := range rows {
		if (r.Flags&snapshot.RTFCache != 0) != cache {
			continue
		}
		err := enc.Encode(Route6JSON{
			Family: "inet6", Destination: r.Dest.String(), NextHop: r.NextHop.String(),
			Flags: Route6Flags(r.Flags), Metric: int32(r.Metric), Ref: r.RefCnt, Use: r.Use, Iface: JSONText(r.Iface),
			Cache: cache,
		})
		if err != nil {
			return fmt.Errorf("write route: %w", err)
		}
	}
	return nil
}

// CachedRouteJSON is one cached IPv4 route as printed by --json.
type CachedRouteJSON struct {
	Family      string   `json:"family"`
	Cache       bool     `json:"cache"`
	Source      string   `json:"source"`
	Destination string   `json:"destination"`
	Gateway     string   `json:"gateway"`
	Flags       string   `json:"flags"`
	Metric      int64    `json:"metric"`
	Ref         int64    `json:"ref"`
	Use         int64    `json:"use"`
	Iface       JSONText `json:"iface"`
	MSS         int64    `json:"mss"`
	Window      int64    `json:"window"`
	IRTT        int64    `json:"irtt"`
	TOS         int64    `json:"tos"`
	HHRef       int64    `json:"hhref"`
	HHUptod     int64    `json:"hhuptod"`
	SpecDst     string   `json:"specdst"`
}

// RouteCacheJSON prints one object per cached IPv4 route.
func RouteCacheJSON(w io.Writer, rows []snapshot.CachedRoute) error {
	enc := newJSONEncoder(w)
	for _, r := range rows {
		err := enc.Encode(CachedRouteJSON{
			Family: "inet", Cache: true, Source: r.Source.String(), Destination: r.Dest.String(),
			Gateway: r.Gateway.String(), Flags: routeCacheFlags(r.Flags), Metric: r.Metric, Ref: r.RefCnt,
			Use: r.Use, Iface: JSONText(r.Iface), MSS: r.MTU, Window: r.Window, IRTT: r.IRTT, TOS: r.TOS,
			HHRef: r.HHRef, HHUptod: r.HHUptod, SpecDst: r.SpecDst.String(),
		})
		if err != nil {
			return fmt.Errorf("write route: %w", err)
		}
	}
	return nil
}

// flushTable writes out a table printed into a bufio.Writer, whose error is
// sticky, so the printing code need not check every line.
func flushTable(bw *bufio.Writer) error {
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
