package top

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PortRange is the kernel's ephemeral port range, from which connect()
// picks local ports: a peer's port in it is a client's, and a row shows it
// as "*" so that all the clients of one address form one row.
type PortRange struct{ Low, High uint16 }

// DefaultPortRange is the kernel's default net.ipv4.ip_local_port_range.
var DefaultPortRange = PortRange{32768, 60999}

// PortRangePath is where the kernel publishes the range (for the caller's
// network namespace; the sysctl is per namespace).
const PortRangePath = "/proc/sys/net/ipv4/ip_local_port_range"

// ReadPortRange reads the range from path (PortRangePath).
func ReadPortRange(path string) (PortRange, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return PortRange{}, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return PortRange{}, fmt.Errorf("%s: %q is not two port numbers", path, strings.TrimSpace(string(b)))
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 16)
	hi, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || lo > hi {
		return PortRange{}, fmt.Errorf("%s: %q is not a port range", path, strings.TrimSpace(string(b)))
	}
	return PortRange{uint16(lo), uint16(hi)}, nil
}

// port is p, or 0 ("*") when p is ephemeral.
func (r PortRange) port(p uint16) uint16 {
	if p >= r.Low && p <= r.High {
		return 0
	}
	return p
}
