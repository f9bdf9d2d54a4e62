package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PortRange is the kernel's ephemeral port range
// (net.ipv4.ip_local_port_range), from which connect() picks local ports:
// a peer's port in it is a client's, not a service's.
type PortRange struct{ Low, High uint16 }

// DefaultPortRange is the kernel's default range.
var DefaultPortRange = PortRange{32768, 60999}

// Has reports whether p is in the range.
func (r PortRange) Has(p uint16) bool { return p >= r.Low && p <= r.High }

// ReadPortRange reads the range of the caller's network namespace (the
// sysctl is per namespace) under procRoot.
func ReadPortRange(procRoot string) (PortRange, error) {
	path := filepath.Join(procRoot, "sys/net/ipv4/ip_local_port_range")
	b, err := os.ReadFile(path)
	if err != nil {
		return PortRange{}, err
	}
	text := strings.TrimSpace(string(b))
	f := strings.Fields(text)
	if len(f) != 2 {
		return PortRange{}, fmt.Errorf("%s: %q is not two port numbers", path, text)
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 16)
	hi, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || lo > hi {
		return PortRange{}, fmt.Errorf("%s: %q is not a port range", path, text)
	}
	return PortRange{uint16(lo), uint16(hi)}, nil
}
