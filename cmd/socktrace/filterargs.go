package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/internal/netns"
	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/snapshot"
)

// filterEnv is what a mode gives the filter language: the family the
// command line named, which protocols' service names a port may be, and
// where the system's files are.
type filterEnv struct {
	family      int  // unix.AF_INET for -4, AF_INET6 for -6, AF_UNIX for -x alone; 0 for none or several
	tcp, udp    bool // service names are looked up for these
	etcRoot     string
	procRoot    string
	unavailable map[string]string // conditions this mode cannot decide, and why
}

// config is the filter.Config for the environment.
func (e filterEnv) config() filter.Config {
	etc := e.etcRoot
	if etc == "" {
		etc = "/etc"
	}
	ports := snapshot.ReadServicePorts(filepath.Join(etc, "services"))
	return filter.Config{
		Family:      e.family,
		Service:     serviceLookup(ports, e.tcp, e.udp),
		Netns:       netnsOf,
		Unavailable: e.unavailable,
		Ephemeral:   ephemeralPorts(e.procRoot),
	}
}

// parseFilter reads the filter words after the options. A mistake comes
// back as a filterError, which shows the expression and where it is.
func (e filterEnv) parse(args []string) (*filter.Filter, error) {
	if len(args) == 0 {
		return nil, nil
	}
	f, err := filter.Parse(args, e.config())
	var fe *filter.Error
	if errors.As(err, &fe) {
		return nil, filterError{fe}
	}
	return f, err
}

// filterError is a filter mistake as printed: the message, then the
// expression, escaped, with carets under the word at fault.
type filterError struct{ e *filter.Error }

func (e filterError) Error() string {
	return e.e.Error() + "\n  " + strings.ReplaceAll(e.e.Caret(render.Safe), "\n", "\n  ")
}

func (e filterError) Unwrap() error { return e.e }

// serviceLookup reads a port's service name as ss does: in the tables of
// the protocols listed, and a name two of them give different ports is
// refused.
func serviceLookup(ports snapshot.ServicePorts, tcp, udp bool) func(string) (int, error) {
	return func(name string) (int, error) {
		t, inTCP := ports.TCP[name]
		u, inUDP := ports.UDP[name]
		inTCP, inUDP = inTCP && tcp, inUDP && udp
		switch {
		case inTCP && inUDP && t != u:
			return 0, fmt.Errorf("ambiguous: %d/tcp, %d/udp in /etc/services", t, u)
		case inTCP:
			return int(t), nil
		case inUDP:
			return int(u), nil
		}
		return 0, errors.New("not a service in /etc/services")
	}
}

// netnsOf reads netns = NAME as --netns reads its value.
func netnsOf(s string) (uint32, error) {
	ns, err := netns.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("%w; %s", err, netnsForms)
	}
	return ns, nil
}

// ephemeralPorts is the namespace's ip_local_port_range, which ss's
// autobound tests against; ss's own fallback when it cannot be read.
func ephemeralPorts(procRoot string) snapshot.PortRange {
	r, err := snapshot.ReadPortRange(procRoot)
	if err != nil {
		return snapshot.PortRange{Low: 1024, High: 4999}
	}
	return r
}

// familyOf is ss's preferred family: the one -4, -6 or -x names, when
// only one of them is given. (ss takes the last; netstat lists both for
// -4 -6, and so does socktrace, so there is none to prefer.)
func familyOf(inet4, inet6, unixOnly bool) int {
	switch {
	case inet4 && !inet6 && !unixOnly:
		return unix.AF_INET
	case inet6 && !inet4 && !unixOnly:
		return unix.AF_INET6
	case unixOnly && !inet4 && !inet6:
		return unix.AF_UNIX
	}
	return 0
}

// filterHelp explains the filter words, for each command's --help.
const filterHelp = `Filter, after the options, in ss's language (iproute2's ss(8)):
  [state STATE | exclude STATE]... [EXPRESSION]
  STATE: established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait,
    closed, close-wait, last-ack, listening, closing; or a group: all,
    connected, synchronized, bucket, big
  EXPRESSION: conditions joined by and (&, &&), or (|, ||), not (!) and
    parentheses; two conditions side by side are joined by and
    src ADDR, dst ADDR    [inet:|inet6:]ADDR[/LEN][:PORT], "*" for any,
                          IPv6 in brackets: [::1]:22, a host name resolves
    sport OP PORT, dport OP PORT
                          OP: = == eq != ne neq > gt < lt >= ge geq <= le leq
                          PORT: :22, :ssh (from /etc/services)
    autobound             the kernel chose the local port
    pid = N, uid = N, comm = NAME, netns = INODE|NAME
    container = NAME      where the owner runs, as socktrace names it (a
                          pod, runtime:id, a systemd unit), or a container
                          id (12 digits or more)
    error = ECONNREFUSED, lifetime > 10ms   (how a connection ended)
  As in ss, "and" and "or" bind equally, from the left:
    sport = :22 or sport = :80 and dport = :5000
  is (sport = :22 or sport = :80) and dport = :5000; write the parentheses
  (quoted for the shell) to mean the other grouping.`
