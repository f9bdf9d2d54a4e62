// Package tcpstate names the kernel's TCP socket states
// (include/net/tcp_states.h) as netstat prints them. The kernel keeps UDP
// and raw sockets in two of the same states (ESTABLISHED, CLOSE), so a
// snapshot row of any Internet protocol carries one, and so does every
// tracer event.
package tcpstate

import (
	"fmt"
	"slices"
	"strings"
)

// State is a kernel TCP state, numbered as the kernel numbers it.
type State uint8

const (
	Established State = 1 + iota
	SynSent
	SynRecv
	FinWait1
	FinWait2
	TimeWait
	Close
	CloseWait
	LastAck
	Listen
	Closing
)

// netstat's names, indexed by State.
var names = [...]string{
	"", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
	"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
}

// String is netstat's name of s, or UNKNOWN.
func (s State) String() string {
	if s == 0 || int(s) >= len(names) {
		return "UNKNOWN"
	}
	return names[s]
}

// Names are the names Parse takes, in the kernel's order.
func Names() []string { return slices.Clone(names[1:]) }

// Parse takes a netstat state name, in any case.
func Parse(name string) (State, error) {
	for i, n := range names {
		if i > 0 && strings.EqualFold(n, name) {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("unknown TCP state %q (want one of %s)", name, strings.Join(names[1:], ", "))
}
