package conntrack

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	ctnetlink "github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// EventKind says what happened to a flow.
type EventKind uint8

// The events Events reports.
const (
	EventNew     EventKind = iota + 1 // the flow's first packet left the host
	EventDestroy                      // the kernel forgot the flow
)

// Event is a NAT flow born or destroyed.
type Event struct {
	Kind EventKind
	Time time.Time // when it was read
	Flow Flow      // a destroy event's has no timeout and no TCP state
}

// ErrOverrun is returned by Next when the kernel dropped events because the
// socket's buffer was full: how many is not known.
var ErrOverrun = errors.New("conntrack events lost: the socket's buffer overflowed")

// ErrBadEvent is returned by Next for an event it could not decode; the
// stream goes on after it.
var ErrBadEvent = errors.New("conntrack event lost: cannot decode it")

// The multicast groups of nfnetlink (enum nfnetlink_groups). Updates are
// left out: a flow's state is re-read with every dump.
const (
	groupNew     = 1 // NFNLGRP_CONNTRACK_NEW
	groupDestroy = 3 // NFNLGRP_CONNTRACK_DESTROY
)

// eventBuffer is the socket buffer asked for: the kernel sends every
// tracked flow's birth and death, NATed or not, and drops what does not
// fit while the reader is busy.
const eventBuffer = 8 << 20

// Events reads the kernel's conntrack events in the caller's network
// namespace and returns those of NAT flows.
type Events struct {
	nl      *netlink.Conn
	pending []netlink.Message
	closed  atomic.Bool
}

// Listen subscribes to the births and deaths of flows. Flows created
// before any listener existed may have no destroy event: with
// net.netfilter.nf_conntrack_events at its default (2), the kernel
// prepares a flow for events only while someone listens.
func Listen() (*Events, error) {
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, classify(err)
	}
	setBuffer(nl)
	for _, g := range []uint32{groupNew, groupDestroy} {
		if err := nl.JoinGroup(g); err != nil {
			nl.Close()
			return nil, classify(err)
		}
	}
	return &Events{nl: nl}, nil
}

// setBuffer enlarges the receive buffer past net.core.rmem_max when
// allowed (SO_RCVBUFFORCE needs CAP_NET_ADMIN, which Listen needs anyway);
// a smaller buffer only makes overruns likelier, and they are reported.
func setBuffer(nl *netlink.Conn) {
	raw, err := nl.SyscallConn()
	if err == nil {
		var serr error
		err = raw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, eventBuffer)
		})
		if err == nil && serr == nil {
			return
		}
	}
	_ = nl.SetReadBuffer(eventBuffer)
}

// Next blocks until the next NAT flow's event and stores it in ev. It
// returns ErrOverrun once for each overflow of the socket and ErrBadEvent
// for each event it cannot decode (reading goes on after both), and
// net.ErrClosed after Close.
func (e *Events) Next(ev *Event) error {
	for {
		for len(e.pending) > 0 {
			m := e.pending[0]
			e.pending = e.pending[1:]
			if ok, err := decodeEvent(m, ev); ok || err != nil {
				return err
			}
		}
		msgs, err := e.nl.Receive()
		switch {
		case e.closed.Load():
			return net.ErrClosed
		case errors.Is(err, unix.ENOBUFS):
			return ErrOverrun
		case err != nil:
			return fmt.Errorf("read conntrack events: %w", err)
		}
		ev.Time = time.Now()
		e.pending = msgs
	}
}

// decodeEvent decodes m into ev, and reports whether it is a NAT flow's
// birth or death.
func decodeEvent(m netlink.Message, ev *Event) (bool, error) {
	var c ctnetlink.Event
	if err := c.Unmarshal(m); err != nil {
		return false, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if c.Flow == nil {
		return false, nil
	}
	switch c.Type {
	case ctnetlink.EventNew:
		ev.Kind = EventNew
	case ctnetlink.EventDestroy:
		ev.Kind = EventDestroy
	default:
		return false, nil
	}
	ev.Flow = fromNetlink(c.Flow)
	return ev.Flow.NAT(), nil
}

// Close stops the stream; a Next blocked in reading returns net.ErrClosed.
func (e *Events) Close() error {
	e.closed.Store(true)
	return e.nl.Close()
}

// EventsOff reports whether net.netfilter.nf_conntrack_events is 0 in the
// caller's network namespace: the kernel then sends no event at all.
func EventsOff() bool {
	b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_events")
	return err == nil && string(bytes.TrimSpace(b)) == "0"
}
