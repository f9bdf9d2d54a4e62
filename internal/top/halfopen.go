package top

import (
	"syscall"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// A half-open connection (SYN received, SYN-ACK sent, the final ACK not yet
// come) is a request socket (TCP_NEW_SYN_RECV) since Linux 4.4: the kernel
// sets its state without inet_sock_set_state, and no tracepoint reports it
// while it waits. A full socket is in SYN_RECV only while that ACK is
// processed, or, under TCP Fast Open, until it comes. So SYN_RECV is read
// from the kernel's socket table (sock_diag lists request sockets as
// SYN_RECV), as -c reads it, and each is counted on the row of its
// listener's owner, known from the listener's CLOSE->LISTEN.

// listenKey is a listener's identity as a request socket shows it.
type listenKey struct {
	netns uint32
	port  uint16
}

// maxListeners bounds the listeners remembered: a host has far fewer.
const maxListeners = 1 << 16

// listen remembers or forgets a listener's owner.
func (a *Aggregator) listen(ev *tracer.Event) {
	k := listenKey{ev.NetNS, ev.Local.Port()}
	if ev.New != tcpstate.Listen {
		delete(a.listeners, k)
		return
	}
	if _, ok := a.listeners[k]; ok || len(a.listeners) < maxListeners {
		a.listeners[k] = ev.Owner()
	}
}

// HalfOpen counts socks in SYN_RECV, read from namespace netns, on their
// listeners' owners' rows for the interval that ends next; those f does
// not select are left out. A listener older than top has no known owner.
func (a *Aggregator) HalfOpen(socks []snapshot.Socket, netns uint32, f *tracer.Filter) {
	for i := range socks {
		s := &socks[i]
		if s.State != tcpstate.SynRecv {
			continue
		}
		ev := tracer.Event{Kind: tracer.KindState, Old: tcpstate.Listen, New: tcpstate.SynRecv,
			Family: syscall.AF_INET, Local: s.Local, Remote: s.Remote, NetNS: netns}
		if s.V6 {
			ev.Family = syscall.AF_INET6
		}
		o := a.listeners[listenKey{netns, s.Local.Port()}]
		ev.PID, ev.Comm = o.PID, o.Comm
		if o.PID != 0 {
			ev.Flags |= tracer.FlagOwnerKnown
		}
		if f != nil && !f.Match(&ev, &a.sock) {
			continue
		}
		a.rows[a.rowOf(&ev)].synRecv++
	}
}
