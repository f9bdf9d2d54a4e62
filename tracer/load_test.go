package tracer

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
)

func TestExplainLoad(t *testing.T) {
	ve := &ebpf.VerifierError{Cause: syscall.EACCES, Log: []string{"0: (79) r1 = *(u64 *)(r1 +0)", "R1 invalid mem access 'scalar'", "processed 1 insns"}}
	short := explainLoad(ve, false).Error()
	if strings.Contains(short, "\n") || !strings.Contains(short, "--debug") {
		t.Errorf("without --debug: %q", short)
	}
	if full := explainLoad(ve, true).Error(); !strings.Contains(full, "processed 1 insns") || !strings.Contains(full, "\n") {
		t.Errorf("with --debug, no full log: %q", full)
	}
	if err := explainLoad(syscall.EPERM, false); !errors.Is(err, ErrPrivileges) {
		t.Errorf("EPERM: %v", err)
	}
}
