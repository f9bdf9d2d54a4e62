package tracer

import (
	"syscall"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// Filter selects events. The kernel applies it where it can (before an event
// is queued); Match applies it again in userspace, where owners the kernel
// did not know have been resolved.
type Filter struct {
	PID    uint32           // owner's process id; 0: any
	Comm   string           // owner's task name, exact; "": any
	Port   uint16           // local or remote port; 0: any
	States []tcpstate.State // old or new state is one of these; empty: any
	Family uint16           // syscall.AF_INET or syscall.AF_INET6; 0: any
	NetNS  uint32           // network namespace inode; 0: any
}

// Restricts reports whether the filter selects less than every event.
func (f *Filter) Restricts() bool {
	return f.PID != 0 || f.Comm != "" || f.Port != 0 || len(f.States) > 0 || f.Family != 0 || f.NetNS != 0
}

func (f *Filter) stateMask() uint32 {
	var m uint32
	for _, s := range f.States {
		m |= 1 << s
	}
	return m
}

// Match reports whether ev passes the filter. Lost-event reports always do.
func (f *Filter) Match(ev *Event) bool {
	if ev.Kind == KindLost {
		return true
	}
	if f.NetNS != 0 && ev.NetNS != f.NetNS {
		return false
	}
	if f.Family != 0 && ev.Family != f.Family {
		return false
	}
	if f.Port != 0 && ev.Local.Port() != f.Port && ev.Remote.Port() != f.Port {
		return false
	}
	if m := f.stateMask(); m != 0 && m&(1<<ev.Old|1<<ev.New) == 0 {
		return false
	}
	if f.PID != 0 && ev.PID != f.PID {
		return false
	}
	if f.Comm != "" && !commEquals(ev.Comm, f.Comm) {
		return false
	}
	return true
}

// commEquals compares without converting Comm to a string (no allocation).
func commEquals(c snapshot.Comm, s string) bool {
	if len(s) >= len(c) {
		s = s[:len(c)-1] // the kernel keeps 15 bytes and a NUL
	}
	for i := 0; i < len(s); i++ {
		if c[i] != s[i] {
			return false
		}
	}
	return len(s) == len(c)-1 || c[len(s)] == 0
}

// FamilyOf maps -4/-6 to a Filter.Family.
func FamilyOf(only4, only6 bool) uint16 {
	switch {
	case only4 && !only6:
		return syscall.AF_INET
	case only6 && !only4:
		return syscall.AF_INET6
	}
	return 0
}
