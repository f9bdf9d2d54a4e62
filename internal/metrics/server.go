package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tracer"
)

// ServerConfig is socktrace serve.
type ServerConfig struct {
	Listen string // host:port; see CheckListen
	// Tracer is the tracer's configuration; Serve sets what the metrics
	// need (TableOnly and what goes with it, Resets, Transitions).
	Tracer  tracer.Config
	Metrics Config
	// Started, if set, is called once the tracer is attached (tests).
	Started func()
}

// healthyLag is how long the reader may go without catching up with the
// ring buffer before /healthz says it is behind.
const healthyLag = 2 * time.Second

// shutdownGrace bounds how long serve waits for scrapes in flight at exit.
const shutdownGrace = 300 * time.Millisecond

// CheckListen refuses an address other hosts could reach unless external
// is set: the metrics tell anyone who reads them what this host talks to.
func CheckListen(addr string, external bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: want host:port, such as 127.0.0.1:9464", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("--listen %q: want a port number from 0 to 65535", addr)
	}
	if external || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--listen %q is not a loopback address: other hosts could read the metrics; add --listen-external if that is meant", addr)
}

// Serve answers /metrics and /healthz on cfg.Listen from the moment it is
// listening, attaches the tracer, and counts its events until ctx ends.
// Then it detaches at once, counts what was queued, and returns.
func Serve(ctx context.Context, cfg ServerConfig, stderr io.Writer) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	s := &server{}
	cfg.Metrics.ResetReason = s.resetReason
	cfg.Metrics.Clock = s.clock
	cfg.Metrics.Transitions = s.transitions
	m := New(cfg.Metrics)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/healthz", s.health)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	fmt.Fprintf(stderr, "socktrace: serving /metrics and /healthz on http://%s\n", ln.Addr())

	// Only what the metrics count is sent; the kernel counts the
	// transitions between.
	tc := &cfg.Tracer
	tc.TableOnly, tc.ConnectTimes, tc.Summaries, tc.Resets, tc.Transitions = true, true, true, true, true
	tr, err := tracer.New(cfg.Tracer)
	if err != nil {
		return err
	}
	defer s.close(tr)
	render.WriteWarnings(stderr, tr.Warnings())
	m.PrecreateResets(tr.ResetReason)
	s.attach(tr)
	if cfg.Started != nil {
		cfg.Started()
	}
	if cfg.Tracer.Filter.NetNS == 0 {
		// Every namespace is traced: the scrapes heal only serve's own.
		hctx, cancel := context.WithCancel(ctx)
		healed := make(chan struct{})
		go func() {
			defer close(healed)
			m.HealNamespaces(hctx)
		}()
		// A round in progress ends before serve returns.
		defer func() {
			cancel()
			<-healed
		}()
	}
	read := make(chan error, 1)
	go func() { read <- s.read(m) }()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go s.watchDrained(watchCtx)
	select {
	case <-ctx.Done():
		s.stop()
		return <-read
	case err := <-read:
		s.stop()
		return fmt.Errorf("read kernel events: %w", err)
	case err := <-served:
		s.stop()
		<-read
		return fmt.Errorf("serve http: %w", err)
	}
}

// server is the tracer's state as /healthz and the metrics see it.
type server struct {
	mu       sync.Mutex
	tr       *tracer.Tracer // nil until attached and after Close
	attached atomic.Bool
	caughtUp atomic.Int64 // when the reader last found the ring empty, ns
	lostAt   atomic.Int64 // when the kernel last lost events to a full ring, ns
}

func (s *server) attach(tr *tracer.Tracer) {
	s.mu.Lock()
	s.tr = tr
	s.mu.Unlock()
	s.caughtUp.Store(time.Now().UnixNano())
	s.attached.Store(true)
}

func (s *server) stop() {
	s.attached.Store(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tr != nil {
		s.tr.Stop()
	}
}

func (s *server) close(tr *tracer.Tracer) {
	s.attached.Store(false)
	s.mu.Lock()
	s.tr = nil
	s.mu.Unlock()
	tr.Close()
}

// read counts events until the tracer stops and has returned what was
// queued.
func (s *server) read(m *Metrics) error {
	tr := s.tr
	var ev tracer.Event
	for {
		err := tr.Next(&ev)
		if errors.Is(err, tracer.ErrStopped) {
			return nil
		}
		if err != nil {
			return err
		}
		m.Apply(&ev)
		if ev.Kind == tracer.KindLost && ev.Lost.RingFull > 0 {
			s.lostAt.Store(time.Now().UnixNano())
		}
		if !tr.Behind() {
			s.caughtUp.Store(time.Now().UnixNano())
		}
	}
}

// drainedEvery is how often serve looks whether the ring is empty.
const drainedEvery = 250 * time.Millisecond

// watchDrained notes when the ring is empty: the reader notes it only
// after an event, so after a quiet spell the first event, waiting its
// few milliseconds in the ring, looked like a reader seconds behind.
func (s *server) watchDrained(ctx context.Context) {
	every(ctx, drainedEvery, func() {
		s.mu.Lock()
		if s.tr != nil && !s.tr.Pending() {
			s.caughtUp.Store(time.Now().UnixNano())
		}
		s.mu.Unlock()
	})
}

// health is 200 while the tracer is attached and its reader keeps up with
// the ring buffer, 503 otherwise (starting, stopping, behind, or losing
// events to a full ring buffer).
func (s *server) health(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	attached := s.tr != nil && s.attached.Load()
	pending := attached && s.tr.Pending()
	s.mu.Unlock()
	now := time.Now()
	status, msg := healthOf(attached, pending, now.Sub(time.Unix(0, s.caughtUp.Load())), now.Sub(time.Unix(0, s.lostAt.Load())))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// lossMemory is how long /healthz says 503 after the ring buffer was full:
// the tracer reports losses about once a second.
const lossMemory = 10 * time.Second

// healthOf is /healthz's answer: behind is how long the reader has not
// caught up with the ring, sinceLoss how long ago events were last lost to
// a full ring buffer.
func healthOf(attached, pending bool, behind, sinceLoss time.Duration) (int, string) {
	switch {
	case !attached:
		return http.StatusServiceUnavailable, "not attached"
	case pending && behind >= healthyLag:
		return http.StatusServiceUnavailable, "behind the ring buffer for " + behind.Round(time.Millisecond).String()
	case sinceLoss < lossMemory:
		return http.StatusServiceUnavailable, "events lost to a full ring buffer " + sinceLoss.Round(time.Second).String() +
			" ago (see socktrace_events_lost_total; a larger --ring-mib helps)"
	}
	return http.StatusOK, "ok"
}

func (s *server) resetReason(code uint16) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tr == nil {
		return ""
	}
	return s.tr.ResetReason(code)
}

func (s *server) transitions() (tracer.Transitions, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tr == nil {
		return tracer.Transitions{}, errors.New("not attached")
	}
	return s.tr.Transitions()
}

func (s *server) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tr == nil {
		return time.Now()
	}
	return s.tr.Clock()
}

// KernelRelease is uname -r.
func KernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// EphemeralPorts is this network namespace's local port range
// (net.ipv4.ip_local_port_range), or the kernel's default.
func EphemeralPorts(procRoot string) (lo, hi uint16) {
	r, err := snapshot.ReadPortRange(procRoot)
	if err != nil {
		r = snapshot.DefaultPortRange
	}
	return r.Low, r.High
}
