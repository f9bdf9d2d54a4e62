package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/socktrace/socktrace/internal/metrics"
	"github.com/socktrace/socktrace/internal/netns"
	"github.com/socktrace/socktrace/tracer"
)

type serveOptions struct {
	listen    string
	external  bool
	labels    []string
	maxSeries int
	ringMiB   int
	allNetns  bool
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve TCP metrics for Prometheus from the kernel's events",
		Long: `socktrace serve traces TCP in its network namespace and serves the
counts in Prometheus' text format on /metrics: connects, failed connects
by errno, accepts, closes, resets, retransmits, state transitions (counted
in the kernel), connect and connection durations, smoothed RTT at close,
bytes, events lost, and the sockets in each state (read from the kernel at
each scrape, TIME_WAIT included).

--all-netns traces every network namespace of the host, as trace and top do
without --netns: the containers' and pods' of a node too, each in its own.
The counters and histograms then count them all; the sockets gauge
(socktrace_tcp_sockets) still counts serve's own namespace only, as reading
each namespace's table at every scrape would walk the kernel's socket hash
once per namespace. A close whose event the kernel lost is healed from
serve's namespace's table at each scrape, and from the other namespaces'
in rounds every 30 s: it must be missing from two rounds in a row, so it
is counted within about 90 s.

/healthz answers 200 while the tracer is attached and keeps up with the
kernel's ring buffer, 503 otherwise, and for 10 s after events were lost
to a full ring buffer.

It needs root, or uid 0 with CAP_BPF and CAP_PERFMON (the programs),
CAP_SYSLOG (kernel addresses in /proc/kallsyms: without it no TIME_WAIT)
and CAP_SYS_PTRACE (owners of other processes' sockets older than serve),
as deploy/socktrace.service gives it; socktrace check says what a host
lacks.

Labels never hold a pid, a peer address or an ephemeral port. --label adds
to the per-connection counters an owner's process name (comm), where the
owner runs (container: its pod, container or systemd unit, read once per
process from its cgroup; "none" for a process in none of them, "unknown"
when the event has no owner, as a reset sent for a port nobody listens
on, or its cgroup could not be read), or the service port (the port
a server listens on, outside the ephemeral range); each label keeps at
most --max-series values, and folds the rest into "other", counted by
socktrace_series_dropped_total.`,
		Example: `  socktrace serve                                  # http://127.0.0.1:9464/metrics
  socktrace serve --label comm --label service-port
  socktrace serve --all-netns --label container   # every pod of a node, by pod
  socktrace serve --listen 192.0.2.10:9464 --listen-external`,
		Args:         noArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return usageOf(cmd, err)
			}
			cfg, err := o.config()
			if err != nil {
				return err
			}
			return metrics.Serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	cmd.SetFlagErrorFunc(flagError)
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:9464", "address to serve /metrics and /healthz on (host:port; loopback unless --listen-external)")
	f.BoolVar(&o.external, "listen-external", false, "allow a --listen address that is not loopback: whoever reaches it reads the metrics")
	f.StringSliceVar(&o.labels, "label", nil, "add a label to the per-connection counters: comm, container or service-port (repeat or comma-separate)")
	f.IntVar(&o.maxSeries, "max-series", metrics.DefaultMaxSeries, "distinct values each --label keeps before folding the rest into \"other\"")
	f.IntVar(&o.ringMiB, "ring-mib", 8, "ring buffer size in MiB (a power of two)")
	f.BoolVar(&o.allNetns, "all-netns", false, "trace every network namespace (containers, pods), not only serve's own; the sockets gauge stays serve's namespace's")
	return cmd
}

// check refuses the flags' values pflag cannot: these are mistakes on the
// command line, unlike what config may fail at.
func (o *serveOptions) check() error {
	if err := metrics.CheckListen(o.listen, o.external); err != nil {
		return err
	}
	if err := metrics.CheckLabels(o.labels); err != nil {
		return err
	}
	if o.maxSeries < 1 {
		return fmt.Errorf("--max-series %d: want at least 1", o.maxSeries)
	}
	if o.ringMiB < 1 || o.ringMiB > maxRingMiB || o.ringMiB&(o.ringMiB-1) != 0 {
		return fmt.Errorf("--ring-mib %d: want a power of two from 1 to %d", o.ringMiB, maxRingMiB)
	}
	return nil
}

// config is the server's configuration, of flags check has passed.
func (o *serveOptions) config() (metrics.ServerConfig, error) {
	var cfg metrics.ServerConfig
	// The sockets gauge reads this namespace's socket table; the events
	// are of the same namespace, unless every one is asked for.
	ns, err := netns.Own("/proc")
	if err != nil {
		return cfg, err
	}
	filter := tracer.Filter{NetNS: ns}
	if o.allNetns {
		filter.NetNS = 0
	}
	lo, hi := metrics.EphemeralPorts("/proc")
	cfg = metrics.ServerConfig{
		Listen: o.listen,
		Tracer: tracer.Config{Filter: filter, RingBytes: o.ringMiB << 20, Resets: true},
		Metrics: metrics.Config{Labels: o.labels, MaxSeries: o.maxSeries, EphemeralLow: lo, EphemeralHigh: hi,
			NetNS: ns, Version: version(debug.ReadBuildInfo()), Kernel: metrics.KernelRelease()},
	}
	return cfg, nil
}
