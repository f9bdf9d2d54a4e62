package snapshot

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// ReadUsers parses a passwd file (normally /etc/passwd) into uid → name.
// When a uid appears twice the first line wins, as with getpwuid.
func ReadUsers(path string) (map[uint32]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseUsers(data), nil
}

// ParseUsers parses passwd lines, ignoring the ones it cannot read.
func ParseUsers(data []byte) map[uint32]string {
	users := make(map[uint32]string)
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		parts := bytes.SplitN(line, []byte(":"), 4)
		if len(parts) < 4 || len(parts[0]) == 0 || parts[0][0] == '#' {
			continue
		}
		uid, err := parseDec(parts[2], 32)
		if err != nil {
			continue
		}
		if _, dup := users[uint32(uid)]; !dup {
			users[uint32(uid)] = string(parts[0])
		}
	}
	return users
}

// Services maps port numbers to names per protocol, from /etc/services
// (tcp, udp) and /etc/protocols (raw sockets, whose "port" is the IP
// protocol number).
type Services struct {
	TCP, UDP, Raw map[uint16]string
}

// ReadServices reads the services and protocols files. A missing file
// leaves its maps empty: names then print as numbers, as in netstat.
func ReadServices(servicesPath, protocolsPath string) Services {
	s := Services{TCP: map[uint16]string{}, UDP: map[uint16]string{}, Raw: map[uint16]string{}}
	if data, err := os.ReadFile(servicesPath); err == nil {
		s.parseServices(data)
	}
	if data, err := os.ReadFile(protocolsPath); err == nil {
		s.parseProtocols(data)
	}
	return s
}

// ParseServices parses services and protocols file contents.
func ParseServices(services, protocols []byte) Services {
	s := Services{TCP: map[uint16]string{}, UDP: map[uint16]string{}, Raw: map[uint16]string{}}
	s.parseServices(services)
	s.parseProtocols(protocols)
	return s
}

// parseServices reads "name port/proto aliases # comment" lines. netstat
// keeps its service list newest-first, so a later line for the same port
// wins; the same here.
func (s Services) parseServices(data []byte) {
	eachConfigLine(data, func(f *fields) {
		name, port, proto, ok := serviceLine(f)
		if !ok {
			return
		}
		switch string(proto) {
		case "tcp":
			s.TCP[port] = string(name)
		case "udp":
			s.UDP[port] = string(name)
		}
	})
}

// serviceLine reads the start of a services line, "name port/proto"; f is
// left at the aliases. ok is false if the line has no such start.
func serviceLine(f *fields) (name []byte, port uint16, proto []byte, ok bool) {
	name, pp := f.next(), f.next()
	slash := bytes.IndexByte(pp, '/')
	if len(name) == 0 || slash < 0 {
		return nil, 0, nil, false
	}
	n, err := parseDec(pp[:slash], 16)
	if err != nil {
		return nil, 0, nil, false
	}
	return name, uint16(n), pp[slash+1:], true
}

// parseProtocols reads "name number aliases" lines; the first line for a
// number wins, as with getprotobynumber.
func (s Services) parseProtocols(data []byte) {
	eachConfigLine(data, func(f *fields) {
		name, num := f.next(), f.next()
		n, err := parseDec(num, 16)
		if len(name) == 0 || err != nil {
			return
		}
		if _, dup := s.Raw[uint16(n)]; !dup {
			s.Raw[uint16(n)] = string(name)
		}
	})
}

// Lookup returns the service name for port under p, or "" when none.
func (s Services) Lookup(p Proto, port uint16) string {
	switch p {
	case TCP:
		return s.TCP[port]
	case UDP, UDPLite:
		return s.UDP[port]
	case Raw:
		return s.Raw[port]
	}
	return ""
}

// HostResolver turns addresses into host names by reverse lookup (hosts
// file, then DNS), with a deadline per lookup and a cache, so that a dead
// name server costs at most Timeout once per address.
type HostResolver struct {
	Resolver *net.Resolver // nil: the pure-Go resolver
	Timeout  time.Duration // 0: 1 s

	mu    sync.Mutex
	cache map[netip.Addr]string
}

// Name returns the first name for a, or "" when it has none (or the
// lookup failed or timed out).
func (r *HostResolver) Name(ctx context.Context, a netip.Addr) string {
	r.mu.Lock()
	name, ok := r.cache[a]
	r.mu.Unlock()
	if ok {
		return name
	}
	res := r.Resolver
	if res == nil {
		res = &net.Resolver{PreferGo: true}
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	names, err := res.LookupAddr(ctx, a.Unmap().String())
	cancel()
	if err == nil && len(names) > 0 {
		name = strings.TrimSuffix(names[0], ".")
	}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = make(map[netip.Addr]string)
	}
	r.cache[a] = name
	r.mu.Unlock()
	return name
}

// Prefetch resolves addrs concurrently (at most 16 at a time), so a table
// with many peers waits for one timeout, not one per peer.
func (r *HostResolver) Prefetch(ctx context.Context, addrs []netip.Addr) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	seen := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if seen[a] {
			continue
		}
		seen[a] = true
		sem <- struct{}{}
		wg.Go(func() {
			r.Name(ctx, a)
			<-sem
		})
	}
	wg.Wait()
}
