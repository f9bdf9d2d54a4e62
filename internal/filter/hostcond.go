package filter

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// hostCond is what src, dst, sport and dport compare with, ss's aafilter:
// a port and addresses, or a unix path pattern.
type hostCond struct {
	port    int      // -1: any
	family  int      // the kernel's family test: the first address's, or 0
	addrs   []prefix // the first is the one the kernel tests; ss tests all
	unix    bool
	pattern string // unix: a glob on the socket's path
}

// hostCond reads [FAMILY:]ADDR[/LEN][:PORT] after src or dst, or
// [FAMILY:][:]PORT after sport or dport, as ss's parse_hostcond does,
// quirks included: after sport and dport the whole word is the port, so
// "*:22" is any port there.
func (p *parser) hostCond(t token, isPort bool) (*hostCond, error) {
	s := t.text
	fam := p.pref
	for _, f := range []struct {
		prefix string
		family int
	}{{"unix:", unix.AF_UNIX}, {"inet:", unix.AF_INET}, {"inet6:", unix.AF_INET6}} {
		if strings.HasPrefix(s, f.prefix) {
			fam, s = f.family, s[len(f.prefix):]
			break
		}
	}
	for _, other := range []string{"link:", "netlink:", "vsock:"} {
		if strings.HasPrefix(s, other) {
			return nil, p.errorf(t, "%s: socktrace lists no %s sockets", quote(t.text), strings.TrimSuffix(other, ":"))
		}
	}
	h := &hostCond{port: -1}
	if fam == unix.AF_UNIX {
		h.unix, h.pattern = true, s
	} else if err := p.inetCond(h, t, s, fam, isPort); err != nil {
		return nil, err
	}
	// A family, named or preferred, restricts the whole listing and
	// becomes the family the next conditions are read in (filter_af_set).
	if fam != 0 {
		p.family, p.pref = fam, fam
	}
	return h, nil
}

func (p *parser) inetCond(h *hostCond, t token, s string, fam int, isPort bool) error {
	addr, port := s, ""
	havePort := false
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return p.errorf(t, "%s: an IPv6 address in [ has no ]", quote(t.text))
		}
		addr, port, havePort = s[1:end], s[end+1:], true
	case strings.HasPrefix(s, "*"):
		addr, port, havePort = "*", s[1:], true
	default:
		from := strings.IndexByte(s, '/')
		if i := strings.LastIndexByte(s[max(from, 0):], ':'); i >= 0 {
			i += max(from, 0)
			addr, port, havePort = s[:i], s[i:], true
		}
	}
	if isPort {
		port, havePort = addr, true
		if !strings.HasPrefix(s, "[") {
			port = s
		}
	}
	if havePort && port != "" {
		port = strings.TrimPrefix(port, ":")
		if port != "" && port[0] != '*' {
			n, err := p.port(t, port)
			if err != nil {
				return err
			}
			h.port = n
		}
	}
	if isPort || addr == "" || addr[0] == '*' {
		return nil
	}
	if pfx, ok := parsePrefix(addr, fam); ok {
		h.family, h.addrs = pfx.family, []prefix{pfx}
		return nil
	}
	h.addrs = p.resolve(addr, fam)
	if len(h.addrs) == 0 {
		what := quote(t.text)
		switch {
		case strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "["):
			return p.errorf(t, "%s is not an address: an IPv6 address goes in brackets, as [::1] or [::1]:22", what)
		case addr != s:
			what += ": " + quote(addr)
		}
		return p.errorf(t, "%s is not an address, a prefix (ADDR/LEN) or a host name that resolves", what)
	}
	h.family = h.addrs[0].family
	return nil
}

// port reads a port number (C's strtol, so 0x1bb is 443) or a service name.
func (p *parser) port(t token, s string) (int, error) {
	if n, ok := cInt(s); ok {
		return n, nil
	}
	if p.cfg.Service == nil {
		return 0, p.errorf(t, "%s is not a port number", quote(s))
	}
	n, err := p.cfg.Service(s)
	if err != nil {
		return 0, p.errorf(t, "%s is not a port number or a service name: %v", quote(s), err)
	}
	return n, nil
}

// resolve looks a host name up as ss does: in fam, or in IPv4 and then
// IPv6 when no family was named.
func (p *parser) resolve(name string, fam int) []prefix {
	hosts := p.cfg.Hosts
	if hosts == nil {
		hosts = systemHosts
	}
	var out []prefix
	for _, f := range []int{unix.AF_INET, unix.AF_INET6} {
		if fam != 0 && fam != f {
			continue
		}
		for _, a := range hosts(name, f) {
			pf := prefix{family: f, addr: a.As16(), bits: 128}
			if f == unix.AF_INET {
				if !a.Unmap().Is4() {
					continue
				}
				pf = prefix{family: f, bits: 32}
				a4 := a.Unmap().As4()
				copy(pf.addr[:], a4[:])
			} else if !a.Is6() {
				continue
			}
			out = append(out, pf)
		}
	}
	return out
}

// systemHosts resolves with the pure-Go resolver (hosts file, then DNS),
// within a few seconds. Names of digits and dots are read as the C library
// reads them (inet_aton), without asking anyone.
func systemHosts(name string, family int) []netip.Addr {
	if name == "" || strings.ContainsAny(name, ":%/ ") {
		return nil
	}
	if a, digits, ok := atonIPv4(name); digits {
		if ok && family == unix.AF_INET {
			return []netip.Addr{netip.AddrFrom4(a)}
		}
		return nil
	}
	network := "ip4"
	if family == unix.AF_INET6 {
		network = "ip6"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, name)
	if err != nil {
		return nil
	}
	return addrs
}
