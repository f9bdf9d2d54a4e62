// Command churn opens and closes loopback TCP connections as fast as it can
// for a bounded time, and prints one machine-readable result line, e.g.
//
//	conns=123456 conn_per_s=12345.6 failed=0 ...
//
// Each connection makes exactly ten TCP state transitions (see package
// churn); with -reset, six and two resets. Server and client can run in one process (-role both) or as two.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/bench/churn"
)

// maxDuration keeps every run short: this is a load generator.
const maxDuration = 120 * time.Second

type options struct {
	role      string
	duration  time.Duration
	conns     int64
	clients   int
	acceptors int
	addr      string
	addrs     int
	port      int
	rate      float64
	reset     bool
	remotes   int
}

func main() {
	var o options
	flag.StringVar(&o.role, "role", "both", "server, client, or both in one process")
	flag.DurationVar(&o.duration, "duration", 0, "how long to run (required, at most 120s)")
	flag.Int64Var(&o.conns, "conns", 0, "stop after this many connections (0: no cap)")
	flag.IntVar(&o.clients, "clients", 4, "concurrent connect loops")
	flag.IntVar(&o.acceptors, "acceptors", 2, "accept loops per server address")
	flag.StringVar(&o.addr, "addr", "127.0.0.1", "first server address (loopback IPv4)")
	flag.IntVar(&o.addrs, "addrs", 8, "number of consecutive server addresses from -addr; each one has its own ephemeral port range")
	flag.IntVar(&o.port, "port", 9000, "server port, shared by all addresses")
	flag.Float64Var(&o.rate, "rate", 0, "pace the clients to about this many connections per second (0: max rate)")
	flag.BoolVar(&o.reset, "reset", false, "close each connection with SO_LINGER 0: a RST instead of a FIN, no TIME_WAIT")
	flag.IntVar(&o.remotes, "remotes", 0, "connect to this many consecutive addresses from "+spreadFrom+
		" instead of -addr's, all served by one wildcard listener: as many remote endpoints (0: off)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "churn:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.duration <= 0 || o.duration > maxDuration {
		return fmt.Errorf("-duration must be in (0, %s]", maxDuration)
	}
	addrs, err := addresses(o.addr, o.addrs)
	if err != nil {
		return err
	}
	listen, connect := addrs, addrs
	if o.remotes != 0 {
		if connect, err = spread(o.remotes); err != nil {
			return err
		}
		listen = []netip.Addr{netip.IPv4Unspecified()}
	}
	switch o.role {
	case "server":
		return runServer(ctx, o, listen)
	case "client":
		return runClient(ctx, o, connect)
	case "both":
		return runBoth(ctx, o, listen, connect)
	default:
		return fmt.Errorf("-role %q: want server, client or both", o.role)
	}
}

// addresses returns n consecutive loopback addresses from first. Only
// loopback is allowed: this tool must never send load off the machine.
func addresses(first string, n int) ([]netip.Addr, error) {
	a, err := netip.ParseAddr(first)
	if err != nil {
		return nil, fmt.Errorf("-addr: %w", err)
	}
	if n < 1 || n > 250 {
		return nil, errors.New("-addrs must be in [1, 250]")
	}
	out := make([]netip.Addr, 0, n)
	for range n {
		if !a.Is4() || !a.IsLoopback() {
			return nil, fmt.Errorf("-addr: %s is not an IPv4 loopback address (127.0.0.0/8)", a)
		}
		out = append(out, a)
		a = a.Next()
	}
	return out, nil
}

// spreadFrom is where -remotes' addresses start: away from -addr's
// 127.0.0.x, all of them local (the kernel routes 127.0.0.0/8 to lo).
const spreadFrom = "127.1.0.0"

// maxRemotes bounds -remotes: the addresses are a slice per client loop.
const maxRemotes = 1 << 20

// spread returns n consecutive loopback addresses from spreadFrom.
func spread(n int) ([]netip.Addr, error) {
	if n < 1 || n > maxRemotes {
		return nil, fmt.Errorf("-remotes must be in [1, %d]", maxRemotes)
	}
	out := make([]netip.Addr, 0, n)
	for a := netip.MustParseAddr(spreadFrom); len(out) < n; a = a.Next() {
		out = append(out, a)
	}
	return out, nil
}

func runServer(ctx context.Context, o options, addrs []netip.Addr) error {
	srv, err := churn.Listen(churn.ServerConfig{Addrs: addrs, Port: o.port, Acceptors: o.acceptors})
	if err != nil {
		return err
	}
	cpu0, start := cpuTime(), time.Now()
	srv.Serve()
	fmt.Fprintf(os.Stderr, "churn: listening on %d addresses from %s, port %d\n", len(addrs), addrs[0], srv.Port())
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	<-ctx.Done()
	srv.Close()
	st := srv.Stats()
	fmt.Printf("accepted=%d closed=%d reset=%d failed=%d elapsed_s=%.3f cpu_pct=%.1f\n",
		st.Accepted, st.Closed, st.Reset, st.Failed, time.Since(start).Seconds(), cpuPct(cpu0, start))
	return nil
}

func runClient(ctx context.Context, o options, addrs []netip.Addr) error {
	cpu0, start := cpuTime(), time.Now()
	res, err := churn.RunClients(ctx, clientConfig(o, addrs, o.port))
	if err != nil {
		return err
	}
	reportErr(res)
	fmt.Printf("conns=%d conn_per_s=%.1f failed=%d elapsed_s=%.3f cpu_pct=%.1f\n",
		res.Conns, res.Rate(), res.Failed, res.Elapsed.Seconds(), cpuPct(cpu0, start))
	return nil
}

func runBoth(ctx context.Context, o options, listen, connect []netip.Addr) error {
	srv, err := churn.Listen(churn.ServerConfig{Addrs: listen, Port: o.port, Acceptors: o.acceptors})
	if err != nil {
		return err
	}
	srv.Serve()
	cpu0, start := cpuTime(), time.Now()
	res, err := churn.RunClients(ctx, clientConfig(o, connect, srv.Port()))
	if err != nil {
		srv.Close()
		return err
	}
	// Let the server finish the passive closes of the last connections, so
	// that every counted connection made all ten transitions.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st := srv.Stats(); st.Closed+st.Reset+st.Failed >= res.Conns {
			break
		}
	}
	cpu := cpuPct(cpu0, start)
	srv.Close()
	st := srv.Stats()
	reportErr(res)
	fmt.Printf("conns=%d conn_per_s=%.1f failed=%d accepted=%d server_closed=%d server_reset=%d server_failed=%d elapsed_s=%.3f cpu_pct=%.1f\n",
		res.Conns, res.Rate(), res.Failed, st.Accepted, st.Closed, st.Reset, st.Failed, res.Elapsed.Seconds(), cpu)
	return nil
}

func clientConfig(o options, addrs []netip.Addr, port int) churn.ClientConfig {
	return churn.ClientConfig{
		Addrs: addrs, Port: port, Clients: o.clients,
		Duration: o.duration, MaxConns: o.conns, Rate: o.rate, Reset: o.reset,
	}
}

func reportErr(res churn.Result) {
	if res.FirstErr != nil {
		fmt.Fprintf(os.Stderr, "churn: %d failed connections, first: %v\n", res.Failed, res.FirstErr)
	}
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPct is the CPU used since cpu0 as a percentage of one core. Softirq
// work done on this process's behalf (loopback delivery) is included,
// because the kernel accounts it to the interrupted task.
func cpuPct(cpu0 time.Duration, start time.Time) float64 {
	wall := time.Since(start)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(cpuTime()-cpu0) / float64(wall)
}
