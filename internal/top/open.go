package top

import (
	"time"

	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// openSocks are the sockets now in SYN_SENT or TIME_WAIT, each with its
// row, so that a row counts the sockets it owns in those states. A connect
// is known by its socket's address until its next transition. A TIME_WAIT
// is known by its namespace and tuple: the kernel reports its end from the
// timewait socket, which has another address and no owner.
//
// Both maps are bounded: an entry whose end was lost (the kernel skipped a
// run) is swept once past the longest its state lasts, at the latest one
// sweepEvery after, so that the counts shown are not stale; past maxOpen
// sockets new ones are counted as untracked instead.
type openSocks struct {
	connecting map[uint64]openSock
	waiting    map[tupleKey]openSock
	swept      int   // how many both held after the last sweep
	sweptAt    int64 // when, Unix ns
	max        int
	untracked  uint64
	end        ended // told of each socket that leaves
}

type openSock struct {
	row   int32
	until int64 // Unix ns: past it, the socket's end was lost
}

// tupleKey is a timewait socket's identity. Pointer-free, as the keys of a
// TIME_WAIT pile should be: the garbage collector does not scan them.
type tupleKey struct {
	local, remote [16]byte
	lport, rport  uint16
	netns         uint32
}

func tupleOf(ev *tracer.Event) tupleKey {
	return tupleKey{local: ev.Local.Addr().As16(), remote: ev.Remote.Addr().As16(),
		lport: ev.Local.Port(), rport: ev.Remote.Port(), netns: ev.NetNS}
}

const (
	// maxOpen bounds the sockets tracked. A namespace holds at most
	// net.ipv4.tcp_max_tw_buckets timewait sockets.
	maxOpen = 1 << 19
	// minSweep: below it the maps are not swept.
	minSweep = 1 << 16
	// A connect lasts at most tcp_syn_retries' backoff (127 s with the
	// default 6). A TIME_WAIT lasts TCP_TIMEWAIT_LEN, 60 s, which the
	// timer wheel may stretch by an eighth, plus slack for the event; one
	// entered before the peer's FIN first waits up to tcp_fin_timeout for
	// it. Older entries lost their end.
	maxConnecting = 10 * time.Minute
	maxTimeWait   = 69500 * time.Millisecond
	maxFinWait    = 150 * time.Second
	// sweepEvery bounds how long an entry whose end was lost is counted
	// past its deadline.
	sweepEvery = 10 * time.Second
)

func newOpenSocks(max int, end ended) *openSocks {
	return &openSocks{connecting: make(map[uint64]openSock), waiting: make(map[tupleKey]openSock),
		max: max, end: end}
}

func (o *openSocks) len() int { return len(o.connecting) + len(o.waiting) }

// ended is told of each socket that leaves the maps: its row and state.
type ended func(row int32, s tcpstate.State)

// room reports whether one more socket may be tracked, sweeping first when
// the maps have doubled since the last sweep, so that sweeping costs a
// constant per socket.
func (o *openSocks) room(now time.Time) bool {
	if n := o.len(); n >= minSweep && n >= 2*o.swept {
		o.sweep(now)
	}
	if o.len() < o.max {
		return true
	}
	o.untracked++
	return false
}

func (o *openSocks) sweep(now time.Time) {
	t := now.UnixNano()
	for k, s := range o.connecting {
		if t > s.until {
			delete(o.connecting, k)
			o.end(s.row, tcpstate.SynSent)
		}
	}
	for k, s := range o.waiting {
		if t > s.until {
			delete(o.waiting, k)
			o.end(s.row, tcpstate.TimeWait)
		}
	}
	o.swept, o.sweptAt = o.len(), t
}

// sweepDue sweeps when the last sweep is sweepEvery old: called once an
// interval, so its cost is one pass over the maps every sweepEvery.
func (o *openSocks) sweepDue(now time.Time) {
	if now.UnixNano()-o.sweptAt >= int64(sweepEvery) {
		o.sweep(now)
	}
}

// connect tracks a connecting socket; false: no room.
func (o *openSocks) connect(sock uint64, row int32, now time.Time) bool {
	o.endConnect(sock) // a connect whose end was lost, at the same address
	if !o.room(now) {
		return false
	}
	o.connecting[sock] = openSock{row, now.Add(maxConnecting).UnixNano()}
	return true
}

func (o *openSocks) endConnect(sock uint64) {
	if s, ok := o.connecting[sock]; ok {
		delete(o.connecting, sock)
		o.end(s.row, tcpstate.SynSent)
	}
}

// enterTimeWait tracks a TIME_WAIT; false: no room.
func (o *openSocks) enterTimeWait(ev *tracer.Event, row int32) bool {
	k := tupleOf(ev)
	if s, ok := o.waiting[k]; ok { // an end that was lost
		delete(o.waiting, k)
		o.end(s.row, tcpstate.TimeWait)
	}
	if !o.room(ev.Time) {
		return false
	}
	last := maxTimeWait
	if ev.Has(tracer.FlagTimeWaitFinWait2) {
		last = maxFinWait
	}
	o.waiting[k] = openSock{row, ev.Time.Add(last).UnixNano()}
	return true
}

func (o *openSocks) endTimeWait(ev *tracer.Event) {
	k := tupleOf(ev)
	if s, ok := o.waiting[k]; ok {
		delete(o.waiting, k)
		o.end(s.row, tcpstate.TimeWait)
	}
}
