package tracer

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

const cntRingbufFull = socktraceCounterCNT_RINGBUF_FULL

// prepare checks the kernel, and writes the configuration into the
// collection spec before it is loaded.
func (t *Tracer) prepare(cfg Config) (*ebpf.CollectionSpec, error) {
	if err := checkPrivileges(); err != nil {
		return nil, err
	}
	if _, err := btf.LoadKernelSpec(); err != nil {
		return nil, fmt.Errorf("this kernel has no BTF (%w): socktrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y", err)
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	_ = rlimit.RemoveMemlock()
	spec, err := loadSocktrace()
	if err != nil {
		return nil, fmt.Errorf("load embedded BPF object: %w", err)
	}
	spec.Maps["events"].MaxEntries = uint32(cfg.RingBytes)

	syms, hidden, err := kernelSymbols("/proc/kallsyms", "tw_timer_handler", "tcp_write_timer")
	switch {
	case err != nil:
		t.warnf("%v", err)
	case syms["tw_timer_handler"] == 0 && hidden:
		t.warnf("/proc/kallsyms hides kernel addresses from socktrace: TIME_WAIT is not reported; run it with CAP_SYSLOG, as root has")
	case syms["tw_timer_handler"] == 0:
		t.warnf("tw_timer_handler not in /proc/kallsyms: TIME_WAIT is not reported")
	}
	f := cfg.Filter
	prog, start, startOwnerless := f.program()
	vars := map[string]any{
		"tw_timer_handler_addr":  syms["tw_timer_handler"],
		"tcp_write_timer_addr":   syms["tcp_write_timer"],
		"wakeup_bytes":           uint64(cfg.RingBytes / 4),
		"filter_netns":           f.NetNS,
		"filter_states":          f.stateMask(),
		"filter_family":          f.family(),
		"filter_prog":            prog,
		"filter_start":           start,
		"filter_start_ownerless": startOwnerless,
		"table_only":             boolByte(cfg.TableOnly),
		"with_resets":            boolByte(cfg.Resets),
		"table_connect_times":    boolByte(cfg.ConnectTimes),
		"table_summary":          boolByte(cfg.Summaries),
		"count_transitions":      boolByte(cfg.Transitions),
	}
	for name, v := range vars {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	return spec, nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// attach hooks every program. Only the state-change hook is required; the
// others add detail, and a failure there is a warning.
func (t *Tracer) attach(cfg Config) error {
	o := &t.objs
	stateProg, err := t.attachSetState(cfg.Classic)
	if err != nil {
		return err
	}
	t.lossProgs = append(t.lossProgs, stateProg)

	for _, p := range []*ebpf.Program{o.TimerStart, o.TimerCancel, o.TimerExpireEntry} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			t.warnf("attach timer hooks: %v: TIME_WAIT is not reported", err)
			break
		}
		t.links = append(t.links, l)
		t.timerProgs = append(t.timerProgs, p)
	}

	if cfg.Resets {
		t.attachResets()
	}
	if err := t.tracefs(); err != nil {
		t.warnf("%v: accepted connections keep their listener's owner", err)
		return nil
	}
	for name, p := range map[string]*ebpf.Program{"sys_exit_accept4": o.Accept4Exit, "sys_exit_accept": o.AcceptExit} {
		l, err := link.Tracepoint("syscalls", name, p, nil)
		if err != nil {
			t.warnf("attach syscalls:%s: %v: accepted connections keep their listener's owner", name, err)
			continue
		}
		t.links = append(t.links, l)
		t.lossProgs = append(t.lossProgs, p)
	}
	return nil
}

// attachResets hooks the reset and retransmit tracepoints, tp_btf only: they
// add detail, like the timer hooks, and a kernel without tp_btf reports the
// rest through the classic state hook.
func (t *Tracer) attachResets() {
	o := &t.objs
	for _, h := range []struct {
		name, what string
		prog       *ebpf.Program
	}{
		{"tcp_send_reset", "resets sent", o.SendReset},
		{"tcp_receive_reset", "resets received", o.ReceiveReset},
		{"tcp_retransmit_skb", "retransmits", o.RetransmitSkb},
	} {
		l, err := link.AttachTracing(link.TracingOptions{Program: h.prog, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			t.warnf("attach tp_btf/%s: %v: %s are not reported", h.name, err, h.what)
			continue
		}
		t.links = append(t.links, l)
		t.lossProgs = append(t.lossProgs, h.prog)
	}
}

// attachSetState prefers tp_btf (a typed socket, no tracefs) and falls back
// to the classic tracepoint.
func (t *Tracer) attachSetState(classic bool) (*ebpf.Program, error) {
	o := &t.objs
	var btfErr error
	if !classic {
		l, err := link.AttachTracing(link.TracingOptions{Program: o.SetStateBtf, AttachType: ebpf.AttachTraceRawTp})
		if err == nil {
			t.links = append(t.links, l)
			return o.SetStateBtf, nil
		}
		btfErr = err
	}
	if err := t.tracefs(); err != nil {
		return nil, joinAttachErr(btfErr, err)
	}
	l, err := link.Tracepoint("sock", "inet_sock_set_state", o.SetStateTp, nil)
	if err != nil {
		return nil, joinAttachErr(btfErr, err)
	}
	if btfErr != nil {
		t.warnf("tp_btf/inet_sock_set_state: %v: using the classic tracepoint", btfErr)
	}
	t.links = append(t.links, l)
	return o.SetStateTp, nil
}

// tracefs makes sure tracefs is mounted for the classic tracepoints, and
// says so when socktrace had to mount it: the mount outlives socktrace.
func (t *Tracer) tracefs() error {
	at, err := ensureTracefs()
	if at != "" {
		t.warnf("tracefs was not mounted: mounted it on %s for the classic tracepoints (umount %s undoes it)", at, at)
	}
	return err
}

func joinAttachErr(btfErr, err error) error {
	if btfErr != nil {
		return fmt.Errorf("attach inet_sock_set_state: tp_btf: %v; tracepoint: %w", btfErr, err)
	}
	return fmt.Errorf("attach inet_sock_set_state: %w", err)
}

// explainLoad turns a load failure into one line that says what to do.
func explainLoad(err error, debug bool) error {
	var ve *ebpf.VerifierError
	switch {
	case errors.As(err, &ve) && debug:
		return fmt.Errorf("the kernel's verifier rejected socktrace's program: %+v", ve)
	case errors.As(err, &ve):
		return fmt.Errorf("the kernel's verifier rejected socktrace's program: %v (rerun with --debug for the full verifier log)", ve)
	case errors.Is(err, os.ErrPermission) && debug:
		return fmt.Errorf("%w: %v", ErrPrivileges, err)
	case errors.Is(err, os.ErrPermission):
		return ErrPrivileges
	}
	return fmt.Errorf("load BPF programs: %w", err)
}
