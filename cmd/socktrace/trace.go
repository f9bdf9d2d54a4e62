package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/socktrace/socktrace/internal/eventlog"
	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/internal/netns"
	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type traceOptions struct {
	json    bool
	extend  bool
	pid     uint32
	comm    string
	port    uint16
	states  []string
	only4   bool
	only6   bool
	netns   string
	debug   bool
	classic bool
	ringMiB int
	latency time.Duration
	profile string   // --cpuprofile
	filter  []string // the filter words after the options
}

func newTraceCmd() *cobra.Command {
	o := &traceOptions{}
	cmd := &cobra.Command{
		Use:   "trace [state STATE | exclude STATE]... [EXPRESSION]",
		Short: "Stream every TCP state change as it happens",
		Long:  traceHelp(),
		Example: `  socktrace trace                      # everything
  socktrace trace --port 443           # one port, local or remote
  socktrace trace --state SYN_SENT     # connects that are slow or failing
  socktrace trace --state TIME_WAIT -4 # TIME_WAIT churn over IPv4
  socktrace trace --comm nginx --json  # NDJSON for one program
  socktrace trace state syn-sent dst 10.0.0.0/8
                                       # connects to 10/8 as they start and end
  socktrace trace '( dport = :443 or sport = :443 )' and not comm = curl`,
		Args:         cobra.ArbitraryArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, stop, err := prepare(cmd, o, args, o.config)
			if err != nil {
				return err
			}
			defer stop()
			return streamTrace(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o, cfg)
		},
	}
	cmd.SetFlagErrorFunc(flagError)
	f := cmd.Flags()
	addProfileFlag(f, &o.profile)
	f.BoolVar(&o.json, "json", false, "print one JSON object per event (NDJSON)")
	f.BoolVarP(&o.extend, "extend", "e", false, "add a CONTAINER column: the pod, container or systemd unit of the owner (JSON always has it)")
	addTracerFlags(f, o)
	return cmd
}

// addTracerFlags adds the flags of every command that runs the tracer: the
// filters, and how the ring buffer is read.
func addTracerFlags(f *pflag.FlagSet, o *traceOptions) {
	f.Var(numberFlag(&o.pid, 1, maxPID, fmt.Sprintf("want a process id from 1 to %d", maxPID)),
		"pid", "only sockets owned by this process id")
	f.StringVar(&o.comm, "comm", "", "only sockets owned by processes with this name (as in /proc/PID/comm)")
	f.Var(numberFlag(&o.port, 1, 65535, "want a port number from 1 to 65535"),
		"port", "only connections with this local or remote port")
	f.StringSliceVar(&o.states, "state", nil, "only transitions from or to these states (comma-separated, e.g. SYN_SENT,TIME_WAIT; names above)")
	f.BoolVarP(&o.only4, "inet", "4", false, "only IPv4 (with -6 as well: both, as without either)")
	f.BoolVarP(&o.only6, "inet6", "6", false, "only IPv6 (with -4 as well: both)")
	f.StringVar(&o.netns, "netns", "", `only this network namespace: a name from "ip netns", a path (/run/netns/NAME, /proc/PID/ns/net) or its inode number`)
	f.BoolVar(&o.debug, "debug", false, "show the kernel verifier's full log if loading fails")
	f.IntVar(&o.ringMiB, "ring-mib", 8, "ring buffer size in MiB (a power of two); larger absorbs longer bursts")
	f.DurationVar(&o.latency, "latency", 50*time.Millisecond, "longest time an event may wait in the ring buffer before it is printed")
	f.BoolVar(&o.classic, "classic-tracepoint", false, "use the classic sock:inet_sock_set_state tracepoint instead of tp_btf")
	_ = f.MarkHidden("classic-tracepoint")
}

// maxPID is the largest process id: the kernel's pid_max is at most
// PID_MAX_LIMIT, 4194304 on 64-bit kernels, and ids are below it.
const maxPID = 4<<20 - 1

// maxRingMiB is the largest ring buffer: the kernel takes its size as
// max_entries, a u32 byte count that must be a power of two and page
// aligned (kernel/bpf/ringbuf.c), so 2 GiB is the most; 4096 MiB wraps
// to 0.
const maxRingMiB = 2048

func (o *traceOptions) config() (tracer.Config, error) {
	cfg := tracer.Config{Debug: o.debug, Classic: o.classic, Latency: o.latency, Resets: true}
	if o.ringMiB < 1 || o.ringMiB > maxRingMiB || o.ringMiB&(o.ringMiB-1) != 0 {
		return cfg, fmt.Errorf("--ring-mib %d: want a power of two from 1 to %d", o.ringMiB, maxRingMiB)
	}
	if o.latency <= 0 {
		return cfg, fmt.Errorf("--latency %v: want a positive duration such as 50ms", o.latency)
	}
	cfg.RingBytes = o.ringMiB << 20
	if len(o.comm) > 15 {
		return cfg, fmt.Errorf("--comm %q: the kernel keeps only 15 bytes of a process name", o.comm)
	}
	expr, err := o.flagFilter()
	if err != nil {
		return cfg, err
	}
	env := filterEnv{family: familyOf(o.only4, o.only6, false), tcp: true, etcRoot: "/etc", procRoot: "/proc"}
	words, err := env.parse(o.filter)
	if err != nil {
		return cfg, err
	}
	cfg.Filter = tracer.Filter{Family: tracer.FamilyOf(o.only4, o.only6), Expr: expr.And(words)}
	ns, err := netnsFilter(o.netns)
	cfg.Filter.NetNS = ns
	return cfg, err
}

// flagFilter is the filter the flags ask for: --port, --pid, --comm and
// --state are shorthands for filter words.
func (o *traceOptions) flagFilter() (*filter.Filter, error) {
	var f *filter.Filter
	if o.port != 0 {
		f = f.And(filter.PortEither(o.port))
	}
	if o.pid != 0 {
		f = f.And(filter.OwnerPID(o.pid))
	}
	if o.comm != "" {
		f = f.And(filter.OwnerComm(o.comm))
	}
	var states filter.StateSet
	for _, s := range o.states {
		name := strings.TrimSpace(s)
		if name == "" {
			return nil, fmt.Errorf("--state %q: an empty name in the list; want names such as SYN_SENT,TIME_WAIT", strings.Join(o.states, ","))
		}
		st, err := tcpstate.Parse(name)
		if err != nil {
			return nil, fmt.Errorf("--state: %w", err)
		}
		states |= 1 << st
	}
	if states != 0 {
		f = f.And(filter.InStates(states))
	}
	return f, nil
}

// netnsFilter is --netns as the tracer's filter; 0, any namespace, when
// the flag is not given.
func netnsFilter(s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	ns, err := netns.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("--netns %s: %w; %s", s, err, netnsForms)
	}
	return ns, nil
}

// noArgs rejects arguments as the root command does, with the hint.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", args[0]), cmd.CommandPath()}
	}
	return nil
}

// prepare does what every command that runs the tracer does first: it
// takes the filter words, builds the command's config (an empty filter
// flag or a bad value is a usage error), and starts --cpuprofile, which
// runs until stop.
func prepare[C any](cmd *cobra.Command, o *traceOptions, args []string, config func() (C, error)) (cfg C, stop func(), err error) {
	o.filter = args
	if err := emptyFilter(cmd, "comm", "state", "netns"); err != nil {
		return cfg, nil, err
	}
	if cfg, err = config(); err != nil {
		return cfg, nil, usageOf(cmd, err)
	}
	stop, err = cpuProfile(o.profile)
	return cfg, stop, err
}

// emptyFilter rejects a filter flag given an empty value ("--comm $NAME"
// with NAME unset), which would otherwise quietly trace everything.
func emptyFilter(cmd *cobra.Command, names ...string) error {
	for _, name := range names {
		if f := cmd.Flags().Lookup(name); f.Changed && emptyValue(f.Value) {
			return usageError{fmt.Sprintf("--%s: empty; leave the flag out to trace everything", name), cmd.CommandPath()}
		}
	}
	return nil
}

func emptyValue(v pflag.Value) bool {
	if list, ok := v.(pflag.SliceValue); ok {
		return len(list.GetSlice()) == 0
	}
	return v.String() == ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

const netnsForms = `want a name from "ip netns", a path such as /run/netns/NAME or /proc/PID/ns/net, or an inode number`

func runTrace(ctx context.Context, stdout, stderr io.Writer, o *traceOptions) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	return streamTrace(ctx, stdout, stderr, o, cfg)
}

// streamTrace prints the events of a tracer set up as cfg (o.config()'s)
// until ctx ends.
func streamTrace(ctx context.Context, stdout, stderr io.Writer, o *traceOptions, cfg tracer.Config) error {
	tr, err := tracer.New(cfg)
	if err != nil {
		return err
	}
	defer tr.Close()
	batchScheduling()
	render.WriteWarnings(stderr, tr.Warnings())
	o.warnFilters(stderr, cfg.Filter)
	if ctx.Err() == nil { // not interrupted while loading
		fmt.Fprintln(stderr, "socktrace: tracing TCP state changes, resets and retransmits; Ctrl-C to stop")
	}
	stop := context.AfterFunc(ctx, tr.Stop)
	defer stop()

	err = eventlog.Stream(tr, stdout, stderr, eventlog.Options{JSON: o.json, Extended: o.extend})
	reportLoss(stderr, tr.Stats(), cfg.Filter.Restricts())
	if readerGone(err) {
		return nil
	}
	return err
}

// warnFilters warns of a filter that nothing can match now: a --pid no
// process has, a --netns inode no namespace has. It does not refuse them:
// such a process or namespace may come.
func (o *traceOptions) warnFilters(stderr io.Writer, f tracer.Filter) {
	if o.pid != 0 && !fileExists(fmt.Sprintf("/proc/%d", o.pid)) {
		fmt.Fprintf(stderr, "socktrace: warning: no process %d is running: nothing to show until one has that id\n", o.pid)
	}
	if netns.IsInode(o.netns) && !netns.Exists("/proc", uint64(f.NetNS)) {
		fmt.Fprintf(stderr, "socktrace: warning: no network namespace with inode %d is in /run/netns or used by a process: nothing to show unless one is\n", f.NetNS)
	}
}

// reportLoss is the summary at exit: what was delivered, and what the
// kernel lost. filtered says the tracer had filters, which host-wide
// recursion misses do not honour; it then also says how many events the
// kernel sent, of which userspace's part of the filter took out the rest.
func reportLoss(stderr io.Writer, st tracer.Stats, filtered bool) {
	fmt.Fprintf(stderr, "socktrace: %d events, %d lost (%d ring buffer full, %d recursion misses)\n",
		st.Delivered, st.Lost.Total(), st.Lost.RingFull, st.Lost.Recursion)
	if filtered {
		fmt.Fprintf(stderr, "socktrace: the kernel sent %d events; the filter took out %d of them in userspace\n",
			st.Sent, st.Sent-min(st.Sent, st.Delivered))
	}
	if st.Lost.Recursion > 0 && filtered {
		fmt.Fprintln(stderr, "socktrace: recursion misses are counted host-wide: some may be events your filters would have dropped")
	}
	if st.TimerMisses > 0 {
		fmt.Fprintf(stderr, "socktrace: timer hooks skipped %d runs: some TIME_WAIT entries or ends may be missing\n", st.TimerMisses)
	}
}
