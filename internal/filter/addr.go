package filter

import (
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"
)

// prefix is an address condition: family, address and how many leading
// bits count. Family 0 with no bits matches any address ("default", "*").
type prefix struct {
	family int // unix.AF_INET, unix.AF_INET6 or 0
	addr   [16]byte
	bits   int
}

// parsePrefix is iproute2's get_prefix_1: ADDR[/LEN] in family fam (0:
// either), where LEN is a number or a dotted netmask.
func parsePrefix(s string, fam int) (prefix, bool) {
	name, length, slash := strings.Cut(s, "/")
	p, any, ok := parseAddr(name, fam)
	if !ok {
		return p, false
	}
	max := 0
	switch p.family {
	case unix.AF_INET:
		max = 32
	case unix.AF_INET6:
		max = 128
	}
	p.bits = max
	if any {
		p.bits = 0
	}
	if !slash {
		return p, true
	}
	if any {
		return p, false
	}
	n, ok := parseNetmask(length)
	if !ok || int(n) > max {
		return p, false
	}
	p.bits = int(n)
	return p, true
}

// parseAddr is get_addr_1: "default", "all" and "any" are every address
// of fam; a name with a colon is IPv6; anything else is IPv4 in iproute2's
// own dotted form, where missing parts are zero (10.8 is 10.8.0.0).
func parseAddr(s string, fam int) (p prefix, any bool, ok bool) {
	switch s {
	case "default", "all", "any":
		return prefix{family: fam}, true, true
	}
	if strings.Contains(s, ":") {
		p.family = unix.AF_INET6
		if fam != 0 && fam != unix.AF_INET6 || strings.Contains(s, "%") {
			return p, false, false
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() {
			return p, false, false
		}
		p.addr = a.As16()
		return p, false, true
	}
	p.family = unix.AF_INET
	if fam != 0 && fam != unix.AF_INET {
		return p, false, false
	}
	a, ok := parseIPv4(s)
	copy(p.addr[:], a[:])
	return p, false, ok
}

// parseIPv4 is get_addr_ipv4: up to four parts of strtoul, each at most 255.
func parseIPv4(s string) ([4]byte, bool) {
	var a [4]byte
	for i := 0; i < 4; i++ {
		n, rest, ok, overflow := cNumber(s)
		if !ok || overflow || n > 255 {
			return a, false
		}
		a[i] = byte(n)
		if rest == "" {
			return a, true
		}
		if i == 3 || rest[0] != '.' {
			return a, false
		}
		s = rest[1:]
	}
	return a, true
}

// parseNetmask is get_netmask: a prefix length, or a dotted netmask whose
// ones are contiguous (255.255.0.0 is 16).
func parseNetmask(s string) (uint32, bool) {
	if n, ok := cUint(s); ok {
		return n, true
	}
	p, _, ok := parseAddr(s, unix.AF_INET)
	if !ok || p.family != unix.AF_INET {
		return 0, false
	}
	mask := uint32(p.addr[0])<<24 | uint32(p.addr[1])<<16 | uint32(p.addr[2])<<8 | uint32(p.addr[3])
	host := ^mask
	if host&(host+1) != 0 {
		return 0, false
	}
	bits := uint32(0)
	for ; mask != 0; mask <<= 1 {
		bits++
	}
	return bits, true
}

// match reports whether the first bits of a and b agree.
func bitsMatch(a, b []byte, bits int) bool {
	for i := 0; bits > 0; i++ {
		if i >= len(a) || i >= len(b) {
			return false
		}
		m := byte(0xff)
		if bits < 8 {
			m = 0xff << (8 - bits)
		}
		if (a[i]^b[i])&m != 0 {
			return false
		}
		bits -= 8
	}
	return true
}

// atonIPv4 is how the C library reads a host name made of digits and dots
// (inet_aton, reached when iproute2's own form failed): one to four parts
// of strtoul, the last filling the rest of the 32 bits, so "2130706433" is
// 127.0.0.1. ok is false when s is not digits and dots at all.
func atonIPv4(s string) (a [4]byte, digits bool, ok bool) {
	if s == "" || strings.Trim(s, "0123456789.") != "" || strings.HasSuffix(s, ".") {
		return a, false, false
	}
	var parts []uint64
	for _, f := range strings.Split(s, ".") {
		n, rest, ok, overflow := cNumber(f)
		if !ok || rest != "" || overflow {
			return a, true, false
		}
		parts = append(parts, n)
	}
	if len(parts) > 4 {
		return a, true, false
	}
	var v uint64
	for i, n := range parts[:len(parts)-1] {
		if n > 255 {
			return a, true, false
		}
		v |= n << (24 - 8*i)
	}
	last := parts[len(parts)-1]
	if last >= 1<<(32-8*(len(parts)-1)) {
		return a, true, false
	}
	v |= last
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}, true, true
}
