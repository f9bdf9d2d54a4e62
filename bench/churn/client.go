package churn

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// connectTimeout bounds one connect(). On loopback a connect normally
// completes inside the syscall; it only waits when the server's accept
// queue overflowed and the SYN must be retransmitted (after 1 s).
const connectTimeout = 2 * time.Second

// ClientConfig says what the clients connect to and for how long.
type ClientConfig struct {
	// Addrs are the server addresses; client i starts at Addrs[i%len] and
	// each connection moves on to the next address.
	Addrs []netip.Addr
	// Port is the server port.
	Port int
	// Clients is the number of concurrent connect loops; 0 means 4.
	Clients int
	// Duration bounds the run; it must be positive.
	Duration time.Duration
	// MaxConns stops the run after this many connection attempts; 0 means
	// no cap (Duration still bounds the run).
	MaxConns int64
	// Rate paces the clients to about this many connections per second in
	// all; 0 means as fast as possible.
	Rate float64
	// Reset closes each connection with SO_LINGER 0: the client aborts it
	// with a RST instead of a FIN, the server's read fails with
	// ECONNRESET, and no TIME_WAIT is left on either side.
	Reset bool
}

// Result is what a client run did.
type Result struct {
	Conns   int64         // connections opened and closed by the client
	Failed  int64         // socket or connect errors
	Elapsed time.Duration // wall time of the run
	// FirstErr is the first error seen, nil when Failed is 0.
	FirstErr error
}

// Rate is completed connections per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Conns) / r.Elapsed.Seconds()
}

// RunClients opens and closes connections until ctx is done, Duration has
// passed or MaxConns attempts were made. Each connection is closed by the
// client right after connect() returns, so the client side ends in
// TIME_WAIT (or, with Reset, is aborted).
func RunClients(ctx context.Context, cfg ClientConfig) (Result, error) {
	if len(cfg.Addrs) == 0 {
		return Result{}, errors.New("run clients: no address")
	}
	for _, a := range cfg.Addrs {
		if !a.Is4() {
			return Result{}, fmt.Errorf("run clients: %s: only IPv4 addresses are supported", a)
		}
	}
	if cfg.Duration <= 0 {
		return Result{}, errors.New("run clients: duration must be positive")
	}
	clients := cfg.Clients
	if clients <= 0 {
		clients = 4
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	var (
		stop     atomic.Bool
		stopped  atomic.Int64 // when Duration or ctx ended the run, in ns since start
		attempts atomic.Int64
		conns    atomic.Int64
		failed   atomic.Int64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	// A flag read per connection is cheaper than selecting on ctx.Done().
	go func() {
		<-ctx.Done()
		stopped.Store(int64(time.Since(start)))
		stop.Store(true)
	}()
	fail := func(err error) {
		failed.Add(1)
		errOnce.Do(func() { firstErr = err })
	}
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One sockaddr per target and goroutine: unix.Connect writes
			// the raw form into it, so it must not be shared.
			sas := make([]unix.SockaddrInet4, len(cfg.Addrs))
			for j, a := range cfg.Addrs {
				sas[j] = unix.SockaddrInet4{Addr: a.As4(), Port: cfg.Port}
			}
			next := i
			// Each loop keeps its share of Rate on its own schedule, so
			// pacing costs no shared state.
			var interval time.Duration
			if cfg.Rate > 0 {
				interval = time.Duration(float64(clients) / cfg.Rate * float64(time.Second))
			}
			due := time.Now()
			for !stop.Load() {
				if interval > 0 {
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
					due = due.Add(interval)
				}
				if cfg.MaxConns > 0 && attempts.Add(1) > cfg.MaxConns {
					return
				}
				sa := &sas[next%len(sas)]
				next++
				if err := connectClose(sa, cfg.Reset); err != nil {
					fail(err)
					// Out of ephemeral ports (EADDRNOTAVAIL) or a full
					// accept queue: let the server and the TIME_WAIT reuse
					// catch up instead of spinning on the error.
					runtime.Gosched()
					continue
				}
				conns.Add(1)
			}
		}()
	}
	wg.Wait()
	// A connect() caught by the deadline can hold its loop for up to
	// connectTimeout; the rate is over the run's window, not that tail.
	elapsed := time.Since(start)
	if s := time.Duration(stopped.Load()); s > 0 && s < elapsed {
		elapsed = s
	}
	return Result{
		Conns:    conns.Load(),
		Failed:   failed.Load(),
		Elapsed:  elapsed,
		FirstErr: firstErr,
	}, nil
}

var connectTimeval = unix.NsecToTimeval(connectTimeout.Nanoseconds())

// abort is SO_LINGER 0: close() sends a RST and frees the socket.
var abort = unix.Linger{Onoff: 1, Linger: 0}

// connectClose makes one connection and closes it first, with a RST when
// reset is set.
func connectClose(sa *unix.SockaddrInet4, reset bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	// SO_SNDTIMEO bounds a blocking connect(); without it a lost SYN would
	// hold the loop through every SYN retry (over two minutes).
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &connectTimeval); err != nil {
		return fmt.Errorf("setsockopt SO_SNDTIMEO: %w", err)
	}
	// With a send timeout set, a signal (Go's preemption signal too)
	// interrupts connect() with EINTR instead of restarting it; calling it
	// again waits for the same handshake and reports EISCONN once done.
	for {
		err = unix.Connect(fd, sa)
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.EISCONN {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("connect %d.%d.%d.%d:%d: %w", sa.Addr[0], sa.Addr[1], sa.Addr[2], sa.Addr[3], sa.Port, err)
	}
	if reset {
		if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &abort); err != nil {
			return fmt.Errorf("setsockopt SO_LINGER: %w", err)
		}
	}
	return nil
}
