package tracer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// reasonPrefix starts every name of enum sk_rst_reason; the tracepoint's
// own output leaves it out, and so does socktrace.
const reasonPrefix = "SK_RST_REASON_"

// maxReason bounds the table of names: the kernel's values are small and
// dense, and event.reason is 16 bits.
const maxReason = 1 << 16

// errNoReasons: the kernel is older than enum sk_rst_reason (6.10), and
// tcp_send_reset has no reason to give.
var errNoReasons = errors.New("the kernel has no enum sk_rst_reason (before 6.10): resets sent carry no reason")

// loadResetReasons names the kernel's reset reasons from its BTF, indexed
// by value. The enum grows between kernel versions, with values inserted
// in the middle, so a table compiled into socktrace would misname them.
func loadResetReasons() ([]string, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("read reset reasons: %w", err)
	}
	var enum *btf.Enum
	if err := spec.TypeByName("sk_rst_reason", &enum); err != nil {
		if errors.Is(err, btf.ErrNotFound) {
			return nil, errNoReasons
		}
		return nil, fmt.Errorf("read reset reasons: %w", err)
	}
	var names []string
	for _, v := range enum.Values {
		if v.Value >= maxReason {
			continue
		}
		for uint64(len(names)) <= v.Value {
			names = append(names, "")
		}
		names[v.Value] = strings.TrimPrefix(v.Name, reasonPrefix)
	}
	return names, nil
}

// ResetReason names a KindResetSent event's Reason as the running kernel
// does (NO_SOCKET, TCP_ABORT_ON_CLOSE, ...), "reason N" for a value it
// has no name for, or "" when the kernel gives resets no reason (before
// 6.10) or the tracer was not set up with Config.Resets.
func (t *Tracer) ResetReason(code uint16) string {
	if t.reasons == nil {
		return ""
	}
	if int(code) < len(t.reasons) && t.reasons[code] != "" {
		return t.reasons[code]
	}
	return "reason " + strconv.Itoa(int(code))
}
