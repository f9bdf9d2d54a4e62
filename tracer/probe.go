package tracer

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/snapshot"
)

// Hook is one kernel hook socktrace attaches, as ProbeHooks found it.
type Hook struct {
	Name string // the attach point: "tp_btf/timer_start", "tracepoint/syscalls/sys_exit_accept4"
	// Without says what socktrace does not report when the hook does not
	// attach.
	Without string
	// State marks the two forms of the state-change hook: socktrace
	// cannot trace without one of them.
	State bool
	Err   error // nil: it attached
}

// ProbeConfig sets up ProbeHooks.
type ProbeConfig struct {
	// Fail names hooks (by Name, or by the part after its last "/") to
	// report as failed without attaching them: a kernel that lacks them,
	// for tests.
	Fail map[string]bool
}

// Probe is what ProbeHooks found.
type Probe struct {
	Hooks []Hook
	// Tracefs is where tracefs is mounted for the classic hooks; ""
	// when it is not and could not be mounted (TracefsErr says why).
	Tracefs    string
	TracefsErr error
	// MountedTracefs: there was none, so ProbeHooks mounted it on
	// Tracefs, and unmounted it again.
	MountedTracefs bool
	Warnings       []string // what loading said (kallsyms)
}

// ProbeHooks loads socktrace's programs as New does and attaches each hook
// on its own, detaching it at once: every kernel object is closed before
// it returns, and a tracefs it had to mount is unmounted. An error means
// the programs do not load: socktrace cannot trace at all.
func ProbeHooks(cfg ProbeConfig) (*Probe, error) {
	t := &Tracer{}
	spec, err := t.prepare(withDefaults(Config{RingBytes: 1 << 16, Resets: true}))
	if err != nil {
		return nil, err
	}
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		return nil, explainLoad(err, false)
	}
	defer t.objs.Close()
	p := &Probe{}
	o := &t.objs
	tp := func(p *ebpf.Program) func() (link.Link, error) {
		return func() (link.Link, error) {
			return link.AttachTracing(link.TracingOptions{Program: p, AttachType: ebpf.AttachTraceRawTp})
		}
	}
	classic := func(group, name string, prog *ebpf.Program) func() (link.Link, error) {
		return func() (link.Link, error) { return p.classic(group, name, prog) }
	}
	for _, h := range []struct {
		hook   Hook
		attach func() (link.Link, error)
	}{
		{Hook{Name: "tp_btf/inet_sock_set_state", State: true,
			Without: "the classic tracepoint below must do (needs tracefs)"}, tp(o.SetStateBtf)},
		{Hook{Name: "tracepoint/sock/inet_sock_set_state", State: true,
			Without: "no fallback when tp_btf is missing"}, classic("sock", "inet_sock_set_state", o.SetStateTp)},
		{Hook{Name: "tp_btf/timer_start", Without: "TIME_WAIT is not reported"}, tp(o.TimerStart)},
		{Hook{Name: "tp_btf/timer_cancel", Without: "TIME_WAIT is not reported"}, tp(o.TimerCancel)},
		{Hook{Name: "tp_btf/timer_expire_entry", Without: "TIME_WAIT is not reported"}, tp(o.TimerExpireEntry)},
		{Hook{Name: "tracepoint/syscalls/sys_exit_accept4",
			Without: "accepted connections keep their listener's owner"}, classic("syscalls", "sys_exit_accept4", o.Accept4Exit)},
		{Hook{Name: "tracepoint/syscalls/sys_exit_accept",
			Without: "accepted connections keep their listener's owner"}, classic("syscalls", "sys_exit_accept", o.AcceptExit)},
		{Hook{Name: "tp_btf/tcp_send_reset", Without: "resets sent are not reported"}, tp(o.SendReset)},
		{Hook{Name: "tp_btf/tcp_receive_reset", Without: "resets received are not reported"}, tp(o.ReceiveReset)},
		{Hook{Name: "tp_btf/tcp_retransmit_skb", Without: "retransmits are not reported"}, tp(o.RetransmitSkb)},
	} {
		hook := h.hook
		if cfg.fails(hook.Name) {
			hook.Err = errors.New("failed on purpose (SOCKTRACE_CHECK_FAIL_HOOK, for tests)")
		} else if l, err := h.attach(); err != nil {
			hook.Err = err
		} else {
			hook.Err = l.Close()
		}
		p.Hooks = append(p.Hooks, hook)
	}
	p.unmountTracefs()
	p.Warnings = t.warnings
	return p, nil
}

func (c ProbeConfig) fails(name string) bool {
	base := name
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			base = name[i+1:]
			break
		}
	}
	return c.Fail[name] || c.Fail[base]
}

// classic attaches a classic tracepoint, mounting tracefs first if no
// tracefs is mounted, as New does.
func (p *Probe) classic(group, name string, prog *ebpf.Program) (link.Link, error) {
	if p.Tracefs == "" && p.TracefsErr == nil {
		at, err := ensureTracefs()
		p.Tracefs, p.TracefsErr, p.MountedTracefs = at, err, at != ""
		if err == nil && at == "" {
			p.Tracefs = TracefsMounted()
		}
	}
	if p.TracefsErr != nil {
		return nil, p.TracefsErr
	}
	return link.Tracepoint(group, name, prog, nil)
}

// unmountTracefs undoes the mount the probe made: a check leaves the host
// as it found it. The tracepoints are detached by then.
func (p *Probe) unmountTracefs() {
	if p.MountedTracefs {
		if err := unix.Unmount(p.Tracefs, 0); err != nil {
			p.Warnings = append(p.Warnings, fmt.Sprintf("unmount tracefs from %s: %v", p.Tracefs, err))
		}
	}
}

// TracefsMounted is where a tracefs is mounted that the classic hooks
// would use; "" when none is.
func TracefsMounted() string {
	mounts, err := snapshot.ReadMounts("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	return usableTracefs(mounts, isDir)
}
