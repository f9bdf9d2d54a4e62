// Package metrics is socktrace serve: the tracer's events counted into
// Prometheus metrics, and the kernel's socket table read at scrape time.
// Label values are bounded by design: never a pid, a peer address or an
// ephemeral port, and the opt-in labels are capped.
package metrics

import (
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/socktrace/socktrace/internal/netns"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

const namespace = "socktrace"

// Config is what the metrics are labelled with.
type Config struct {
	// Labels are the opt-in labels of the per-connection counters:
	// LabelComm, LabelContainer and LabelServicePort.
	Labels []string
	// Container names where a process runs, for LabelContainer: "" for
	// a process in no container, pod or unit, and known false when its
	// cgroup could not be read. It must answer from a cache, as it is
	// asked per event. Default: a container.Resolver of the host's /proc.
	Container func(pid uint32, cgroup uint64, comm snapshot.Comm, at time.Time) (name string, known bool)
	// MaxSeries caps each opt-in label's distinct values; past it, values
	// fold into "other". Default 10000.
	MaxSeries int
	// EphemeralLow and EphemeralHigh are the kernel's local port range
	// (net.ipv4.ip_local_port_range): ports in it are never a label value.
	EphemeralLow, EphemeralHigh uint16
	// ResetReason names a reset's reason; nil or "" gives "unknown".
	ResetReason func(uint16) string
	// Version and Kernel are socktrace_build_info's labels.
	Version, Kernel string
	// NetNS is the inode of serve's own network namespace: the one whose
	// socket table the sockets gauge reads, and whose connections heal
	// at each scrape. Default: the calling thread's.
	NetNS uint32
	// Clock is the events' clock (tracer.Tracer.Clock); default time.Now.
	Clock func() time.Time
	// Transitions reads the kernel's count of each state change
	// (tracer.Tracer.Transitions), at every scrape. Nil, or an error
	// while the tracer is not attached, shows no transitions.
	Transitions func() (tracer.Transitions, error)
}

// The opt-in labels.
const (
	LabelComm        = "comm"
	LabelContainer   = "container"
	LabelServicePort = "service_port"
)

// DefaultMaxSeries is Config.MaxSeries' default.
const DefaultMaxSeries = 10000

// Metrics counts events. Apply is for one goroutine (the tracer's reader);
// scrapes may run at any time.
type Metrics struct {
	cfg   Config
	reg   *prometheus.Registry
	netns uint32 // Config.NetNS

	connects, failures, accepts, closes *prometheus.CounterVec
	resetsSent, resetsReceived, retrans *prometheus.CounterVec
	sent, received                      *prometheus.CounterVec
	connectDuration                     prometheus.Histogram
	connDurationVec                     *prometheus.HistogramVec
	srtt                                prometheus.Histogram
	lostRing, lostRecursion, healed     prometheus.Counter
	droppedVec                          *prometheus.CounterVec
	connDuration                        [roles]prometheus.Observer
	transitions                         *transitionCollector
	labels                              *labeller
	sockets                             *socketCollector
	open                                *openConns
	others                              *otherHealer
	reasonNames                         func(uint16) string
}

const states = int(tcpstate.Closing) + 1

// Connection roles: who opened it.
const (
	roleClient = iota
	roleServer
	roles
)

var roleNames = [roles]string{"client", "server"}

// New registers every metric in a fresh registry.
func New(cfg Config) *Metrics {
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = DefaultMaxSeries
	}
	if cfg.NetNS == 0 {
		// sock_diag answers for the calling thread's namespace.
		cfg.NetNS = netns.Of("/proc/thread-self")
	}
	m := &Metrics{cfg: cfg, reg: prometheus.NewRegistry(), netns: cfg.NetNS, reasonNames: cfg.ResetReason}
	m.labels = newLabeller(cfg)
	m.labels.m = m
	extra := m.labels.names
	fam := append([]string{"family"}, extra...)
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "tcp", Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	m.connects = counter("connects_total", "Connects begun (CLOSE to SYN_SENT).", fam)
	m.failures = counter("connect_failures_total", "Connects that ended in SYN_SENT, by errno (aborted: closed by the caller before an answer).", append([]string{"family", "errno"}, extra...))
	m.accepts = counter("accepts_total", "Connections accept() returned.", fam)
	m.closes = counter("closes_total", "Connections that ended after they were set up, a close whose event the kernel lost included (healed from the socket table).", fam)
	m.resetsSent = counter("resets_sent_total", "Resets sent, by the kernel's reason.", append([]string{"reason"}, extra...))
	m.resetsReceived = counter("resets_received_total", "Resets received.", fam)
	m.retrans = counter("retransmits_total", "Segments sent again.", fam)
	m.sent = counter("sent_bytes_total", "Data bytes sent and acknowledged by connections that ended.", extra)
	m.received = counter("received_bytes_total", "Data bytes received by connections that ended.", extra)
	m.transitions = newTransitionCollector(cfg.Transitions)
	m.reg.MustRegister(m.transitions)
	m.connectDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "tcp",
		Name: "connect_duration_seconds", Help: "Time from SYN_SENT to ESTABLISHED of successful connects.",
		Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10)})
	m.connDurationVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "tcp",
		Name: "connection_duration_seconds", Help: "Lifetime of connections that ended, from SYN_SENT (client) or SYN_RECV (server).",
		Buckets: prometheus.ExponentialBuckets(100e-6, 4, 12)}, []string{"role"})
	m.srtt = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "tcp",
		Name: "srtt_seconds", Help: "Smoothed round-trip time of connections as they ended.",
		Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10)})
	m.reg.MustRegister(m.connectDuration, m.connDurationVec, m.srtt)
	lost := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "events_lost_total",
		Help: "Events the kernel could not deliver: ring_full (ring buffer full) or recursion (a nested program run the kernel skipped)."}, []string{"cause"})
	m.healed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: "tcp", Name: "closes_healed_total",
		Help: "Closes the kernel sent no event for, found missing from the socket table at two scrapes in a row (also in closes_total)."})
	m.droppedVec = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "series_dropped_total",
		Help: "Events whose opt-in label value was folded into \"other\": the label had --max-series distinct values."}, []string{"label"})
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help: "socktrace's version and the running kernel's release."}, []string{"version", "kernel"})
	info.WithLabelValues(cfg.Version, cfg.Kernel).Set(1)
	m.reg.MustRegister(lost, m.healed, m.droppedVec, info)
	// The agent's own memory, CPU and goroutines (go_*, process_*), for
	// those who watch what it costs each host.
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.lostRing, m.lostRecursion = lost.WithLabelValues("ring_full"), lost.WithLabelValues("recursion")
	for i, on := range m.labels.on {
		if on {
			m.labels.dropped[i] = m.droppedVec.WithLabelValues(optNames[i])
		}
	}
	for r := range roles {
		m.connDuration[r] = m.connDurationVec.WithLabelValues(roleNames[r])
	}
	m.open = newOpenConns()
	m.sockets = newSocketCollector(m)
	if cfg.Clock != nil {
		m.sockets.clock = cfg.Clock
	}
	m.others = &otherHealer{open: m.open, healed: m.healed, own: m.netns, clock: m.sockets.clock,
		procRoot: "/proc", began: m.sockets.clock()}
	m.reg.MustRegister(m.sockets)
	if len(extra) == 0 {
		m.labels.base = m.newSeries(nil)
		m.labels.base.precreate()
	}
	return m
}

// PrecreateResets shows resets_sent_total at 0 for every reason names
// (the tracer's ResetReason) knows, so that Prometheus' increase() sees
// the first reset of each, as it sees the other counters' first events.
// Like theirs, only without opt-in labels. The names are known only once
// the tracer is loaded: call it before the first Apply.
func (m *Metrics) PrecreateResets(names func(uint16) string) {
	if m.labels.base != nil {
		m.labels.base.precreateResets(names)
	}
}

// Registry holds every metric, for an HTTP handler.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Apply counts one event. It allocates nothing once the event's series
// exist.
func (m *Metrics) Apply(ev *tracer.Event) {
	switch ev.Kind {
	case tracer.KindLost:
		m.lostRing.Add(float64(ev.Lost.RingFull))
		m.lostRecursion.Add(float64(ev.Lost.Recursion))
	case tracer.KindResetSent:
		m.labels.of(ev, m.open.roleOf(ev)).resetSent(ev.Reason)
	case tracer.KindResetReceived:
		m.labels.of(ev, m.open.roleOf(ev)).resetReceived(familyOf(ev))
	case tracer.KindRetransmit:
		m.labels.of(ev, m.open.roleOf(ev)).retransmit(familyOf(ev))
	case tracer.KindTimeWaitEnd:
		m.transitions.timeWaitEnds.Add(1)
	case tracer.KindAccept:
		// The server's side starts here: the tracer sends no
		// LISTEN->SYN_RECV in table mode.
		s := m.labels.of(ev, roleServer)
		s.accept(familyOf(ev))
		// accept() may return a child reset in the accept queue: its
		// ->CLOSE came first, and it must not open again.
		if ev.New != tcpstate.Close {
			m.open.add(ev, roleServer, s)
		}
	case tracer.KindState:
		m.state(ev)
	}
}

func (m *Metrics) state(ev *tracer.Event) {
	switch {
	case ev.Old == tcpstate.Close && ev.New == tcpstate.SynSent:
		s := m.labels.of(ev, roleClient)
		s.connect(familyOf(ev))
		m.open.add(ev, roleClient, s)
	case ev.Old == tcpstate.SynSent && ev.New == tcpstate.Established:
		if ev.Has(tracer.FlagPrevKnown) {
			m.connectDuration.Observe(ev.InState.Seconds())
		}
	case ev.New == tcpstate.TimeWait:
		m.ended(ev)
	case ev.New == tcpstate.Close:
		switch ev.Old {
		case tcpstate.Listen:
		case tcpstate.SynSent:
			m.open.remove(ev)
			m.labels.of(ev, roleClient).failure(familyOf(ev), ev.Err)
		default:
			m.ended(ev)
		}
	}
}

// ended counts a connection's end: its close, or its entry into
// TIME_WAIT, which carries the summary for the side that closed first.
func (m *Metrics) ended(ev *tracer.Event) {
	role, s, known := m.open.remove(ev)
	if !known {
		role = roleUnknown
		s = m.labels.of(ev, roleUnknown)
	}
	s.close(familyOf(ev))
	if known && ev.Has(tracer.FlagBornKnown) {
		m.connDuration[role].Observe(ev.Lifetime.Seconds())
	}
	if ev.Has(tracer.FlagSummary) {
		s.bytes(ev.BytesSent, ev.BytesReceived)
		if ev.SRTT > 0 {
			m.srtt.Observe(ev.SRTT.Seconds())
		}
	}
}

// Family label values, indexed by familyOf.
var familyNames = [2]string{"ipv4", "ipv6"}

func familyOf(ev *tracer.Event) int {
	if ev.Family == syscall.AF_INET6 {
		return 1
	}
	return 0
}
