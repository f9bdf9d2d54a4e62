package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
)

// DevStats is one row of /proc/net/dev: an interface's counters.
type DevStats struct {
	Name string

	RxBytes, RxPackets, RxErrors, RxDropped, RxFIFO, RxFrame, RxCompressed, RxMulticast  uint64
	TxBytes, TxPackets, TxErrors, TxDropped, TxFIFO, Collisions, TxCarrier, TxCompressed uint64
}

// ReadNetDev reads netDir/dev. Malformed lines are skipped and reported as
// *ParseError values joined into the error, next to the rows that did
// parse.
func ReadNetDev(netDir string) ([]DevStats, error) {
	return readNetFile(netDir, "dev", ParseNetDev)
}

// ParseNetDev parses the contents of /proc/net/dev: two header lines, then
//
//	eth0: 47550364    1714    0    0    0     0          0         0   155886    1383    0    0    0     0       0          0
//
// with receive then transmit counters, in the layout every kernel since
// 2.2 prints (the one with the "compressed" columns).
func ParseNetDev(data []byte, file string) ([]DevStats, error) {
	return parseRows(data, file, 2, parseNetDevLine)
}

func parseNetDevLine(line []byte) (DevStats, error) {
	var s DevStats
	// Interface names cannot contain ':' (dev_valid_name), so the first
	// colon ends the name even when the counter follows without a space.
	name, rest, ok := bytes.Cut(line, []byte{':'})
	name = bytes.TrimSpace(name)
	if !ok || len(name) == 0 {
		return s, errors.New("missing interface name")
	}
	s.Name = string(name)
	f := fields{b: rest}
	for i, dst := range []*uint64{
		&s.RxBytes, &s.RxPackets, &s.RxErrors, &s.RxDropped, &s.RxFIFO, &s.RxFrame, &s.RxCompressed, &s.RxMulticast,
		&s.TxBytes, &s.TxPackets, &s.TxErrors, &s.TxDropped, &s.TxFIFO, &s.Collisions, &s.TxCarrier, &s.TxCompressed,
	} {
		v, err := parseDec(f.next(), 64)
		if err != nil {
			return s, fmt.Errorf("counter %d: %w", i+1, err)
		}
		*dst = v
	}
	return s, nil
}

// IfAddr6 is one row of /proc/net/if_inet6: an IPv6 address of an
// interface.
type IfAddr6 struct {
	Addr      netip.Addr
	PrefixLen int
	Scope     int // IPV6_ADDR_* scope bits as the kernel prints them
	Iface     string
}

// ReadIfInet6 reads netDir/if_inet6. See ReadNetDev for errors.
func ReadIfInet6(netDir string) ([]IfAddr6, error) {
	return readNetFile(netDir, "if_inet6", ParseIfInet6)
}

// ParseIfInet6 parses the contents of /proc/net/if_inet6, which has no
// header:
//
//	fe8000000000000000fc00fffe000001 02 40 20 80     eth0
//
// address, ifindex, prefix length, scope and flags in hex, then the device.
func ParseIfInet6(data []byte, file string) ([]IfAddr6, error) {
	return parseRows(data, file, 0, parseIfInet6Line)
}

func parseIfInet6Line(line []byte) (IfAddr6, error) {
	var a IfAddr6
	f := fields{b: line}
	var err error
	if a.Addr, err = parseAddr6(f.next()); err != nil {
		return a, fmt.Errorf("address: %w", err)
	}
	if _, err := parseHex(f.next(), 32); err != nil {
		return a, fmt.Errorf("ifindex: %w", err)
	}
	plen, err := parseHex(f.next(), 8)
	if err != nil {
		return a, fmt.Errorf("prefix length: %w", err)
	}
	scope, err := parseHex(f.next(), 16)
	if err != nil {
		return a, fmt.Errorf("scope: %w", err)
	}
	if _, err := parseHex(f.next(), 32); err != nil {
		return a, fmt.Errorf("flags: %w", err)
	}
	iface := f.next()
	if len(iface) == 0 {
		return a, errors.New("missing interface")
	}
	a.PrefixLen, a.Scope, a.Iface = int(plen), int(scope), string(iface)
	return a, nil
}

// Link is what the kernel reports about an interface through the
// SIOCGIF* ioctls: the parts of netstat -i that /proc/net/dev lacks.
type Link struct {
	Flags      uint16 // ifr_flags is a short: IFF_LOWER_UP and above are not in it
	MTU        int
	HWType     int      // ARPHRD_*, -1 when unknown
	HWAddr     [16]byte // sa_data and the two bytes after it, as netstat copies them
	TxQueueLen int      // -1 when unknown
	// ifmap: device resources, set only for old ISA-style hardware.
	MemStart, MemEnd uint64
	BaseAddr         uint16
	IRQ, DMA         uint8

	HasIPv4                          bool
	Addr, Netmask, Broadcast, PtPDst netip.Addr
}

// LinkReader looks up links in one network namespace.
type LinkReader interface {
	// Link returns the link called name: an interface or an IPv4 label
	// such as "eth0:1".
	Link(name string) (Link, error)
	// Labels lists the names that carry IPv4 addresses, labels included
	// (SIOCGIFCONF). netstat lists them next to /proc/net/dev's names.
	Labels() ([]string, error)
}

// Interface is one row of netstat -i: a name, its counters when
// /proc/net/dev has them (IPv4 labels have none), and its link.
type Interface struct {
	Name  string
	Stats *DevStats
	Link  Link
}

// ListInterfaces merges netDir/dev with the links of links in netstat's
// order. An interface whose link cannot be read (it went away in between)
// is left out and its error joined into the returned one.
func ListInterfaces(netDir string, links LinkReader) ([]Interface, error) {
	stats, err := ReadNetDev(netDir)
	errs := []error{err}
	var names []string
	for _, s := range stats {
		names = append(names, s.Name)
	}
	labels, err := links.Labels()
	if err != nil {
		errs = append(errs, err)
	}
	var out []Interface
	for _, name := range SortInterfaceNames(append(names, labels...)) {
		l, err := links.Link(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		ifc := Interface{Name: name, Link: l}
		for i := range stats {
			if stats[i].Name == name {
				ifc.Stats = &stats[i]
				break
			}
		}
		out = append(out, ifc)
	}
	return out, errors.Join(errs...)
}

// SortInterfaceNames orders names as net-tools does, dropping repeats: each
// name is inserted into a list kept sorted by ifaceNameCmp, searching from
// the end. ifaceNameCmp is not a strict order (two different numbers never
// compare equal), so the result can depend on the input order, exactly as
// netstat's does.
func SortInterfaceNames(in []string) []string {
	var out []string
next:
	for _, name := range in {
		i := len(out)
		for i > 0 {
			c := ifaceNameCmp(out[i-1], name)
			if c == 0 {
				continue next
			}
			if c < 0 {
				break
			}
			i--
		}
		out = append(out, "")
		copy(out[i+1:], out[i:])
		out[i] = name
	}
	return out
}

// ifaceNameCmp is net-tools' nstrcmp: strcmp, except that where the two
// names first differ inside a run of digits the whole numbers are compared,
// so eth2 sorts before eth10.
func ifaceNameCmp(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(a) && i == len(b) {
		return 0
	}
	ca, cb := at(a, i), at(b, i)
	if !isDigit(ca) {
		return int(ca) - int(cb)
	}
	if !isDigit(cb) {
		return -1
	}
	// Back up to the start of the digit run; the common prefix is the same
	// in both names, so b's digits run back exactly as far.
	j := i
	for j > 0 && isDigit(a[j-1]) {
		j--
	}
	if atoiPrefix(a[j:]) > atoiPrefix(b[j:]) {
		return 1
	}
	return -1
}

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// atoiPrefix is atoi on the leading digits of s, saturating instead of
// overflowing.
func atoiPrefix(s string) uint64 {
	var v uint64
	for i := 0; i < len(s) && isDigit(s[i]); i++ {
		if v > (1<<63)/10 {
			return 1 << 63
		}
		v = v*10 + uint64(s[i]-'0')
	}
	return v
}
