package conntrack

import (
	"errors"
	"fmt"

	ctnetlink "github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// ErrNoConntrack is returned when the kernel has no connection tracking to
// ask: no netfilter netlink at all, or no conntrack subsystem on it.
var ErrNoConntrack = errors.New("the kernel has no connection tracking over netlink")

// ErrPrivileges is returned when the kernel refuses to show connection
// tracking: nfnetlink takes requests and event subscriptions only from
// CAP_NET_ADMIN in the network namespace's user namespace.
var ErrPrivileges = errors.New("reading the kernel's connection tracking needs CAP_NET_ADMIN; run as root")

// Conn asks the kernel's connection tracking, in the caller's network
// namespace, for its flows.
type Conn struct {
	nl *ctnetlink.Conn
}

// Dial opens a netlink socket to the connection tracking of the caller's
// network namespace.
func Dial() (*Conn, error) {
	nl, err := ctnetlink.Dial(nil)
	if err != nil {
		return nil, classify(err)
	}
	return &Conn{nl: nl}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return c.nl.Close() }

// NATFlows appends the translated flows (SNAT or DNAT) to dst, in the
// kernel's hash order.
func (c *Conn) NATFlows(dst []Flow) ([]Flow, error) {
	// The dump's filter on status bits needs Linux 5.15 and matches all
	// bits of a mask, not any: the flows are filtered here instead.
	flows, err := c.nl.Dump(nil)
	if err != nil {
		return dst, classify(err)
	}
	for i := range flows {
		if f := fromNetlink(&flows[i]); f.NAT() {
			dst = append(dst, f)
		}
	}
	return dst, nil
}

// classify turns what the kernel answers when it cannot or will not show
// its flows into ErrNoConntrack or ErrPrivileges, with the detail kept.
func classify(err error) error {
	switch {
	case errors.Is(err, unix.EPROTONOSUPPORT):
		// socket(AF_NETLINK, ..., NETLINK_NETFILTER) without nfnetlink.
		return fmt.Errorf("%w (no netfilter netlink, CONFIG_NETFILTER_NETLINK)", ErrNoConntrack)
	case errors.Is(err, unix.EINVAL):
		// nfnetlink answers a request for a subsystem nobody registered,
		// once loading its module failed, with EINVAL; a plain dump has
		// nothing else the kernel could find invalid.
		return fmt.Errorf("%w (nf_conntrack_netlink is not loaded: modprobe nf_conntrack_netlink)", ErrNoConntrack)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return ErrPrivileges
	}
	return fmt.Errorf("conntrack: %w", err)
}
