package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// RouteNamesConfig says where RouteNames looks names up.
type RouteNamesConfig struct {
	HostsFile    string        // "/etc/hosts" when empty
	NetworksFile string        // "/etc/networks" when empty
	Timeout      time.Duration // per reverse DNS lookup; 2 s when zero
	// NoDNS stops at the files, the way a host without a resolver behaves;
	// tests use it so their answers don't depend on the network.
	NoDNS bool
}

// RouteNames names route destinations and gateways the way netstat -r
// does: hosts through the hosts file and then reverse DNS (glibc's
// gethostbyaddr with "hosts: files dns"), networks through the networks
// file (getnetbyaddr with "networks: files"). Answers, including "no name",
// are cached, so a table with many routes through one gateway asks once.
type RouteNames struct {
	cfg      RouteNamesConfig
	hosts    map[netip.Addr]string
	networks map[uint32]string
	cache    map[netip.Addr]string
	resolver *net.Resolver
}

// NewRouteNames reads the hosts and networks files. A missing file just
// means no names from it, as for glibc.
func NewRouteNames(cfg RouteNamesConfig) *RouteNames {
	if cfg.HostsFile == "" {
		cfg.HostsFile = "/etc/hosts"
	}
	if cfg.NetworksFile == "" {
		cfg.NetworksFile = "/etc/networks"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	n := &RouteNames{
		cfg:      cfg,
		hosts:    map[netip.Addr]string{},
		networks: map[uint32]string{},
		cache:    map[netip.Addr]string{},
		resolver: &net.Resolver{PreferGo: true},
	}
	if data, err := os.ReadFile(cfg.HostsFile); err == nil {
		parseHostsFile(data, n.hosts)
	}
	if data, err := os.ReadFile(cfg.NetworksFile); err == nil {
		parseNetworksFile(data, n.networks)
	}
	return n
}

// Host returns the name of a host address, or "" when it has none.
func (n *RouteNames) Host(a netip.Addr) string {
	a = a.Unmap()
	if name, ok := n.hosts[a]; ok {
		return name
	}
	if name, ok := n.cache[a]; ok {
		return name
	}
	name := ""
	if !n.cfg.NoDNS {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
		names, err := n.resolver.LookupAddr(ctx, a.String())
		cancel()
		if err == nil && len(names) > 0 {
			name = strings.TrimSuffix(names[0], ".")
		}
	}
	n.cache[a] = name
	return name
}

// Network returns the name of an IPv4 network number from the networks
// file, or "" when it has none.
func (n *RouteNames) Network(a netip.Addr) string {
	if !a.Is4() {
		return ""
	}
	b := a.As4()
	return n.networks[uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])]
}

// parseHostsFile keeps, for each address, the first name of the first line
// that lists it: that is the h_name gethostbyaddr returns.
func parseHostsFile(data []byte, dst map[netip.Addr]string) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		a = a.WithZone("").Unmap()
		if _, ok := dst[a]; !ok {
			dst[a] = f[1]
		}
	}
}

// parseNetworksFile reads "name number [aliases]" lines. glibc pads a
// number with fewer than four parts with ".0" parts before converting it,
// so "loopback 127" is the network 127.0.0.0.
func parseNetworksFile(data []byte, dst map[uint32]string) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		num, ok := parseNetworkNumber(f[1])
		if !ok {
			continue
		}
		if _, dup := dst[num]; !dup {
			dst[num] = f[0]
		}
	}
}

func parseNetworkNumber(s string) (uint32, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return 0, false
	}
	var v uint32
	for i := 0; i < 4; i++ {
		var p uint64
		if i < len(parts) {
			x, err := parseDec([]byte(parts[i]), 8)
			if err != nil {
				return 0, false
			}
			p = x
		}
		v = v<<8 | uint32(p)
	}
	return v, true
}
