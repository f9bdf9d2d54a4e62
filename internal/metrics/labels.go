package metrics

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tracer"
)

// roleUnknown: a connection whose opening serve did not see (older than
// serve, or its event lost). Its service port is unknown.
const roleUnknown = roles

// Label values that are not a process name or a port.
const (
	valueOther   = "other"   // folded: the label had MaxSeries values
	valueNone    = "none"    // no service port (ephemeral, or the role is unknown); no container (a host process)
	valueUnknown = "unknown" // no owner known, or where it runs
)

// CheckLabels rejects a label serve does not offer, with what to do.
func CheckLabels(labels []string) error {
	seen := map[string]bool{}
	for _, l := range labels {
		if l == "service-port" {
			l = LabelServicePort
		}
		switch l {
		case LabelComm, LabelContainer, LabelServicePort:
		default:
			return fmt.Errorf("--label %q: want comm, container or service-port", l)
		}
		if seen[l] {
			return fmt.Errorf("--label %s: given twice", l)
		}
		seen[l] = true
	}
	return nil
}

// The opt-in labels, in the order they follow a metric's own labels; a
// bit each in seriesKey.other.
const (
	optComm = iota
	optContainer
	optPort
	opts
)

var optNames = [opts]string{LabelComm, LabelContainer, LabelServicePort}

// seriesKey is one combination of opt-in label values; zero fields for a
// label not asked for.
type seriesKey struct {
	comm      snapshot.Comm
	container string // the resolver's string, shared, not a copy
	port      uint16
	other     uint8 // bit 1<<optX: label X folded into "other"
}

// labeller finds the series of an event's opt-in label values, folding
// values past the cap into "other".
type labeller struct {
	m          *Metrics
	names      []string
	on         [opts]bool
	container  func(pid uint32, cgroup uint64, comm snapshot.Comm, at time.Time) (string, bool)
	max        int
	lo, hi     uint16
	base       *series // the only series without opt-in labels
	comms      map[snapshot.Comm]struct{}
	containers map[string]struct{}
	ports      map[uint16]struct{}
	series     map[seriesKey]*series
	dropped    [opts]prometheus.Counter
}

func newLabeller(cfg Config) *labeller {
	l := &labeller{max: cfg.MaxSeries, lo: cfg.EphemeralLow, hi: cfg.EphemeralHigh, container: cfg.Container,
		comms: map[snapshot.Comm]struct{}{}, containers: map[string]struct{}{}, ports: map[uint16]struct{}{},
		series: map[seriesKey]*series{}}
	for _, name := range cfg.Labels {
		switch name {
		case LabelComm:
			l.on[optComm] = true
		case LabelContainer:
			l.on[optContainer] = true
		case LabelServicePort, "service-port":
			l.on[optPort] = true
		}
	}
	if l.on[optContainer] && l.container == nil {
		r := container.NewResolver(container.Config{})
		l.container = func(pid uint32, cgroup uint64, comm snapshot.Comm, at time.Time) (string, bool) {
			in := r.Lookup(pid, cgroup, comm, at)
			return in.Name(), in != nil
		}
	}
	for i, on := range l.on {
		if on {
			l.names = append(l.names, optNames[i])
		}
	}
	return l
}

// of returns the event's series; role says which port is the service's.
func (l *labeller) of(ev *tracer.Event, role int) *series {
	if len(l.names) == 0 {
		return l.base
	}
	var k seriesKey
	owner := ev.Has(tracer.FlagOwnerKnown)
	if l.on[optComm] && owner {
		k.comm = ev.Comm
	}
	if !capped(l, &k, optComm, l.comms, k.comm, snapshot.Comm{}) {
		k.comm = snapshot.Comm{}
	}
	if l.on[optContainer] && owner {
		// The resolver caches by process: /proc/PID/cgroup is read
		// once per process, not per event.
		name, known := l.container(ev.PID, ev.Cgroup, ev.Comm, ev.Time)
		switch {
		case name != "":
			k.container = name
		case known:
			k.container = valueNone // no container names "none"
		}
	}
	if k.container != valueNone && !capped(l, &k, optContainer, l.containers, k.container, "") {
		k.container = ""
	}
	if l.on[optPort] {
		k.port = l.servicePort(ev, role)
	}
	if !capped(l, &k, optPort, l.ports, k.port, 0) {
		k.port = 0
	}
	s := l.series[k]
	if s == nil {
		s = l.m.newSeries(l.values(k))
		l.series[k] = s
	}
	return s
}

// capped reports whether label opt may keep value v (one it has, or one
// more under the cap); if not, it marks k folded and counts the drop. The
// zero value (unknown, none) is always kept: it is one series at most.
func capped[V comparable](l *labeller, k *seriesKey, opt int, seen map[V]struct{}, v, zero V) bool {
	if !l.on[opt] || v == zero {
		return true
	}
	if _, ok := seen[v]; ok {
		return true
	}
	if len(seen) < l.max {
		seen[v] = struct{}{}
		return true
	}
	k.other |= 1 << opt
	l.dropped[opt].Inc()
	return false
}

// servicePort is the port the connection's service listens on: the local
// one for a server, the remote one for a client; 0 when that is in the
// ephemeral range, where a port names a connection, not a service.
func (l *labeller) servicePort(ev *tracer.Event, role int) uint16 {
	var p uint16
	switch role {
	case roleServer:
		p = ev.Local.Port()
	case roleClient:
		p = ev.Remote.Port()
	}
	if p >= l.lo && p <= l.hi {
		return 0
	}
	return p
}

func (l *labeller) values(k seriesKey) []string {
	var v []string
	if l.on[optComm] {
		switch {
		case k.other&(1<<optComm) != 0:
			v = append(v, valueOther)
		case k.comm == snapshot.Comm{}:
			v = append(v, valueUnknown)
		default:
			v = append(v, render.Safe(k.comm.String()))
		}
	}
	if l.on[optContainer] {
		switch {
		case k.other&(1<<optContainer) != 0:
			v = append(v, valueOther)
		case k.container == "":
			v = append(v, valueUnknown)
		default:
			v = append(v, render.Safe(k.container))
		}
	}
	if l.on[optPort] {
		switch {
		case k.other&(1<<optPort) != 0:
			v = append(v, valueOther)
		case k.port == 0:
			v = append(v, valueNone)
		default:
			v = append(v, strconv.Itoa(int(k.port)))
		}
	}
	return v
}

// series holds the counter handles of one combination of opt-in label
// values, each resolved once, so that counting an event is an atomic add.
type series struct {
	m                                                  *Metrics
	vals                                               []string
	connects, accepts, closes, resetsReceived, retrans [2]prometheus.Counter
	sent, received                                     prometheus.Counter
	failures                                           map[uint32]prometheus.Counter // family<<16 | errno
	resetsSent                                         map[uint16]prometheus.Counter
}

func (m *Metrics) newSeries(vals []string) *series {
	return &series{m: m, vals: vals, failures: map[uint32]prometheus.Counter{}, resetsSent: map[uint16]prometheus.Counter{}}
}

// get returns the series' counter of vec for family fam (-1: vec has no
// family label), made on first use: a label value's series exist only
// for what happened to it.
func (s *series) get(c *prometheus.Counter, vec *prometheus.CounterVec, fam int) prometheus.Counter {
	if *c == nil {
		vals := s.vals
		if fam >= 0 {
			vals = append([]string{familyNames[fam]}, s.vals...)
		}
		*c = vec.WithLabelValues(vals...)
	}
	return *c
}

func (s *series) connect(f int)       { s.get(&s.connects[f], s.m.connects, f).Inc() }
func (s *series) accept(f int)        { s.get(&s.accepts[f], s.m.accepts, f).Inc() }
func (s *series) close(f int)         { s.get(&s.closes[f], s.m.closes, f).Inc() }
func (s *series) resetReceived(f int) { s.get(&s.resetsReceived[f], s.m.resetsReceived, f).Inc() }
func (s *series) retransmit(f int)    { s.get(&s.retrans[f], s.m.retrans, f).Inc() }

func (s *series) bytes(sent, received uint64) {
	s.get(&s.sent, s.m.sent, -1).Add(float64(sent))
	s.get(&s.received, s.m.received, -1).Add(float64(received))
}

// commonErrnos are the failures a connect usually ends with; their series
// exist from the start, so that the first failure counts in increase().
var commonErrnos = []syscall.Errno{0, syscall.ECONNREFUSED, syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ECONNRESET}

func (s *series) precreate() {
	for f := range familyNames {
		for _, c := range []struct {
			c   *prometheus.Counter
			vec *prometheus.CounterVec
		}{{&s.connects[f], s.m.connects}, {&s.accepts[f], s.m.accepts}, {&s.closes[f], s.m.closes},
			{&s.resetsReceived[f], s.m.resetsReceived}, {&s.retrans[f], s.m.retrans}} {
			s.get(c.c, c.vec, f)
		}
		for _, e := range commonErrnos {
			s.failureCounter(f, e)
		}
	}
	s.get(&s.sent, s.m.sent, -1)
	s.get(&s.received, s.m.received, -1)
}

func (s *series) failure(fam int, errno syscall.Errno) { s.failureCounter(fam, errno).Inc() }

func (s *series) failureCounter(fam int, errno syscall.Errno) prometheus.Counter {
	k := uint32(fam)<<16 | uint32(errno&0xffff)
	c := s.failures[k]
	if c == nil {
		c = s.m.failures.WithLabelValues(append([]string{familyNames[fam], errnoName(errno)}, s.vals...)...)
		s.failures[k] = c
	}
	return c
}

func errnoName(e syscall.Errno) string {
	if e == 0 {
		return "aborted"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return "errno " + strconv.Itoa(int(e))
}

func (s *series) resetSent(code uint16) { s.resetSentCounter(code, s.m.reasonNames).Inc() }

func (s *series) resetSentCounter(code uint16, names func(uint16) string) prometheus.Counter {
	c := s.resetsSent[code]
	if c == nil {
		name := ""
		if names != nil {
			name = names(code)
		}
		if name == "" {
			name = valueUnknown
		}
		c = s.m.resetsSent.WithLabelValues(append([]string{name}, s.vals...)...)
		s.resetsSent[code] = c
	}
	return c
}

// precreateResets makes the series of every reason a reset can be sent
// for, as names (the tracer's ResetReason) has them: the values of the
// kernel's enum sk_rst_reason, dense from 0 and ended by MAX, which is
// none; "reason N" is a value past them. A kernel without the enum gives
// no names, and every reset the reason "unknown".
func (s *series) precreateResets(names func(uint16) string) {
	for code := range 1 << 16 {
		name := names(uint16(code))
		if name == "MAX" || strings.HasPrefix(name, "reason ") {
			return
		}
		s.resetSentCounter(uint16(code), names)
		if name == "" {
			return
		}
	}
}
