package metrics

import (
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// connKey is a connection's tuple in its network namespace, as events and
// socket table rows both carry it: the same tuple, 127.0.0.1's above all,
// is in use in many namespaces at once.
type connKey struct {
	local, remote [16]byte
	lport, rport  uint16
	netns         uint32
	v6            bool
}

func eventKey(ev *tracer.Event) connKey {
	return connKey{local: ev.Local.Addr().As16(), remote: ev.Remote.Addr().As16(),
		lport: ev.Local.Port(), rport: ev.Remote.Port(), netns: ev.NetNS, v6: ev.Family == syscall.AF_INET6}
}

// rowKey is the key of a row of namespace netns's socket table.
func rowKey(s *snapshot.Socket, netns uint32) connKey {
	return connKey{local: s.Local.Addr().As16(), remote: s.Remote.Addr().As16(),
		lport: s.Local.Port(), rport: s.Remote.Port(), netns: netns, v6: s.V6}
}

// openConn is a connection serve saw open and not yet end.
type openConn struct {
	s      *series
	last   int64  // time of its last event, ns
	seen   uint32 // the last socket table that held it (openConns.tables, or a round's)
	pid    uint32 // its owner at its opening, 0 if not known: a process in its namespace
	role   uint8
	fam    uint8
	misses uint8 // scrapes in a row whose socket table lacked it
}

// maxOpen bounds the connections remembered; past it, new ones are counted
// but not healed and their duration is not observed.
const maxOpen = 1 << 20

// openConns are the connections serve saw open, by tuple: for the role and
// series of their end, and to heal a close whose event the kernel lost.
// Apply's goroutine and scrapes share it.
type openConns struct {
	mu     sync.Mutex
	conns  map[connKey]openConn
	tables uint32 // socket tables heal has read
}

func newOpenConns() *openConns { return &openConns{conns: map[connKey]openConn{}} }

func (o *openConns) add(ev *tracer.Event, role int, s *series) {
	o.mu.Lock()
	if len(o.conns) < maxOpen {
		c := openConn{s: s, last: ev.Time.UnixNano(), role: uint8(role), fam: uint8(familyOf(ev))}
		if ev.Has(tracer.FlagOwnerKnown) {
			c.pid = ev.PID
		}
		o.conns[eventKey(ev)] = c
	}
	o.mu.Unlock()
}

func (o *openConns) remove(ev *tracer.Event) (role int, s *series, known bool) {
	k := eventKey(ev)
	o.mu.Lock()
	c, ok := o.conns[k]
	if ok {
		delete(o.conns, k)
	}
	o.mu.Unlock()
	return int(c.role), c.s, ok
}

func (o *openConns) roleOf(ev *tracer.Event) int {
	o.mu.Lock()
	c, ok := o.conns[eventKey(ev)]
	o.mu.Unlock()
	if !ok {
		return roleUnknown
	}
	return int(c.role)
}

// heal ends the connections of namespace netns that two of its socket
// tables in a row lacked, with no event since the first began: the kernel
// lost their close (it skips a nested program run under load). They count
// as closed, so closes_total catches up instead of ever going back. The
// connections of other namespaces are left as they are.
func (o *openConns) heal(netns uint32, rows []snapshot.Socket, began time.Time, healed prometheus.Counter) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.conns) == 0 {
		return
	}
	o.tables++
	o.markLocked(netns, rows, o.tables)
	at := began.UnixNano()
	for k, c := range o.conns {
		if k.netns == netns {
			o.judge(k, c, c.seen == o.tables, at, healed)
		}
	}
}

// markLocked marks the connections of namespace netns that its table rows
// hold as seen in table id. They are marked in place: a set of the rows,
// as large as the open connections, would be allocated at every table.
func (o *openConns) markLocked(netns uint32, rows []snapshot.Socket, id uint32) {
	for i := range rows {
		k := rowKey(&rows[i], netns)
		if c, ok := o.conns[k]; ok {
			c.seen = id
			o.conns[k] = c
		}
	}
}

// judge counts one more socket table of c's namespace, begun at at: c was
// in it (seen), or had an event since it began, or it misses one more. At
// two misses in a row its close was lost, and it is healed.
func (o *openConns) judge(k connKey, c openConn, seen bool, at int64, healed prometheus.Counter) {
	if seen || c.last >= at {
		if c.misses != 0 {
			c.misses = 0
			o.conns[k] = c
		}
		return
	}
	if c.misses++; c.misses < 2 {
		o.conns[k] = c
		return
	}
	delete(o.conns, k)
	c.s.close(int(c.fam))
	healed.Inc()
}

// minScrapeGap: scrapes closer than this share one read of the socket
// table (two Prometheus servers scraping at once).
const minScrapeGap = 500 * time.Millisecond

// socketCollector is socktrace_tcp_sockets{state}: the kernel's socket
// table counted at scrape time, so that it is true whatever events were
// lost, TIME_WAIT included.
type socketCollector struct {
	m      *Metrics
	desc   *prometheus.Desc
	clock  func() time.Time
	netDir string
	mu     sync.Mutex
	rows   []snapshot.Socket
	count  [states]float64
	err    error
	read   time.Time
}

func newSocketCollector(m *Metrics) *socketCollector {
	// sock_diag answers for the calling thread's namespace, and so does
	// thread-self/net (self/net is the leader thread's).
	return &socketCollector{m: m, clock: time.Now, netDir: "/proc/thread-self/net",
		desc: prometheus.NewDesc(namespace+"_tcp_sockets", "TCP sockets by state in serve's own network namespace, also with --all-netns (the other namespaces' are not read), from the kernel (sock_diag, and sockstat for TIME_WAIT) at scrape time.", []string{"state"}, nil)}
}

func (c *socketCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *socketCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.read) >= minScrapeGap {
		c.refresh()
	}
	if c.err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, c.err)
		return
	}
	for s := tcpstate.Established; s <= tcpstate.Closing; s++ {
		if s != tcpstate.Close {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, c.count[s], s.String())
		}
	}
}

// liveStates are the states a dump asks for: all but TIME_WAIT, whose
// pile under churn would be most of the rows (the kernel still walks it,
// but sends none of it). A timewait socket is matched by its substate, so
// those in FIN_WAIT2 come.
const liveStates = (1<<(tcpstate.Closing+1) - 1<<tcpstate.Established) &^ (1 << tcpstate.TimeWait)

func (c *socketCollector) refresh() {
	began := c.clock()
	c.read = time.Now()
	c.rows, c.err = snapshot.Diag{States: liveStates}.ReadInet(snapshot.TCP, snapshot.IPv4|snapshot.IPv6, c.rows[:0])
	if c.err != nil {
		return
	}
	c.count = [states]float64{}
	finWait2 := 0 // timewait sockets in their FIN_WAIT2 substate
	for i := range c.rows {
		r := &c.rows[i]
		if int(r.State) < states {
			c.count[r.State]++
		}
		if r.TimewaitSock() {
			finWait2++
		}
	}
	c.m.open.heal(c.m.netns, c.rows, began, c.m.healed)
	// sockstat's tw counts every timewait socket, the FIN_WAIT2 ones
	// too. The two reads are not one moment: under churn the difference
	// can be off by the sockets that changed between them.
	tw, err := snapshot.ReadTimewaitSocks(c.netDir)
	if err != nil {
		c.err = fmt.Errorf("count TIME_WAIT: %w", err)
		return
	}
	c.count[tcpstate.TimeWait] = float64(max(tw-finWait2, 0))
}
