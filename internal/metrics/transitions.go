package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// transitionCollector is socktrace_tcp_state_transitions_total{from,to}:
// the kernel counts every state change, sent as an event or not, and a
// TIME_WAIT's end comes from its timer as an event, counted here.
type transitionCollector struct {
	desc         *prometheus.Desc
	read         func() (tracer.Transitions, error)
	timeWaitEnds atomic.Uint64
	mu           sync.Mutex
	last         tracer.Transitions // the last read: counts never go back
}

func newTransitionCollector(read func() (tracer.Transitions, error)) *transitionCollector {
	return &transitionCollector{read: read, desc: prometheus.NewDesc(namespace+"_tcp_state_transitions_total",
		"TCP state changes, counted by the kernel; TIME_WAIT is derived, its end counted as TIME_WAIT to CLOSE.",
		[]string{"from", "to"}, nil)}
}

func (c *transitionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// usual is the transitions a TCP socket makes in Linux. They are shown
// from the start, at 0, so that Prometheus' increase() sees the first one
// happen; any other pair is shown once it happened.
var usual = [...][2]tcpstate.State{
	{tcpstate.Close, tcpstate.SynSent}, {tcpstate.Close, tcpstate.Listen},
	{tcpstate.Listen, tcpstate.SynRecv}, {tcpstate.Listen, tcpstate.Close},
	{tcpstate.SynSent, tcpstate.Established}, {tcpstate.SynSent, tcpstate.Close},
	{tcpstate.SynRecv, tcpstate.Established}, {tcpstate.SynRecv, tcpstate.Close},
	{tcpstate.Established, tcpstate.FinWait1}, {tcpstate.Established, tcpstate.CloseWait},
	{tcpstate.Established, tcpstate.Close},
	{tcpstate.FinWait1, tcpstate.FinWait2}, {tcpstate.FinWait1, tcpstate.Closing},
	{tcpstate.FinWait1, tcpstate.Close},
	{tcpstate.FinWait2, tcpstate.TimeWait}, {tcpstate.FinWait2, tcpstate.Close},
	{tcpstate.Closing, tcpstate.TimeWait}, {tcpstate.Closing, tcpstate.Close},
	{tcpstate.CloseWait, tcpstate.LastAck}, {tcpstate.CloseWait, tcpstate.Close},
	{tcpstate.LastAck, tcpstate.Close}, {tcpstate.TimeWait, tcpstate.Close},
}

// Collect shows the usual pairs, and any other that happened.
func (c *transitionCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.read != nil {
		// Before the tracer is attached and after it is closed there is
		// nothing to read: the last counts stand.
		if counts, err := c.read(); err == nil {
			c.last = counts
		}
	}
	counts := c.last
	c.mu.Unlock()
	counts[tcpstate.TimeWait][tcpstate.Close] += c.timeWaitEnds.Load()
	var shown [states][states]bool
	for _, p := range usual {
		shown[p[0]][p[1]] = true
	}
	for from := tcpstate.Established; int(from) < states; from++ {
		for to := tcpstate.Established; int(to) < states; to++ {
			if n := counts.Count(from, to); n > 0 || shown[from][to] {
				ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), from.String(), to.String())
			}
		}
	}
}
