package top

import (
	"net/netip"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

func halfOpen(local, remote string) snapshot.Socket {
	return snapshot.Socket{Proto: snapshot.TCP, State: tcpstate.SynRecv,
		Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote)}
}

// Sockets in SYN_RECV count on their listener's owner's row for one
// interval, filtered as events are; a listener closed, or older than top,
// leaves them on a row of no process.
func TestHalfOpen(t *testing.T) {
	a := NewAggregator(Options{}, t0)
	srv := newSock(7, "server", "127.0.0.1:8080", "0.0.0.0:0", 0x10)
	other := newSock(8, "other", "127.0.0.1:9090", "0.0.0.0:0", 0x20)
	feed(a, srv.event(tracer.KindState, tcpstate.Close, tcpstate.Listen, 0),
		other.event(tracer.KindState, tcpstate.Close, tcpstate.Listen, 0))
	socks := []snapshot.Socket{
		halfOpen("127.0.0.1:8080", "127.0.0.1:40001"),
		halfOpen("127.0.0.1:8080", "127.0.0.1:40002"),
		halfOpen("127.0.0.1:9090", "127.0.0.1:40003"),
		halfOpen("127.0.0.1:7070", "127.0.0.1:40004"), // a listener top never saw
	}
	a.HalfOpen(socks, srv.netns, &tracer.Filter{})
	rep := interval(a, time.Second)
	if r := rowOf(t, rep, "7 server 127.0.0.1:*"); r.SynRecv != 2 || r.LocalPort != 8080 {
		t.Errorf("server's row: %d SYN_RECV on port %d, want 2 on 8080", r.SynRecv, r.LocalPort)
	}
	if r := rowOf(t, rep, "- - 127.0.0.1:*"); r.SynRecv != 1 {
		t.Errorf("unknown listener's row: %d SYN_RECV, want 1", r.SynRecv)
	}
	if rep.Totals.SynRecv != 4 {
		t.Errorf("totals: %d SYN_RECV, want 4", rep.Totals.SynRecv)
	}

	// The next interval counts what is read then: a filter on the port,
	// and the listener on 9090 closed.
	feed(a, other.event(tracer.KindState, tcpstate.Listen, tcpstate.Close, 1500*time.Millisecond))
	a.HalfOpen(socks, srv.netns, &tracer.Filter{Expr: filter.PortEither(9090)})
	rep = interval(a, 2*time.Second)
	if len(rep.Rows) != 1 || rep.Totals.SynRecv != 1 {
		t.Fatalf("rows %+v; want one of no process with 1 SYN_RECV", rep.Rows)
	}
	if r := rowOf(t, rep, "- - 127.0.0.1:*"); r.SynRecv != 1 {
		t.Errorf("closed listener's half-open socket: %d SYN_RECV, want 1", r.SynRecv)
	}
	// Nothing read: nothing counted, and no row left.
	rep = interval(a, 3*time.Second)
	if rep.Totals.SynRecv != 0 || len(rep.Rows) != 0 {
		t.Errorf("an interval without a read: rows %+v", rep.Rows)
	}
}
