package tracer

import (
	"fmt"

	"github.com/socktrace/socktrace/tcpstate"
)

// Transitions counts state changes by their states: [from][to]. An entry
// into TIME_WAIT counts as from->TIME_WAIT; a TIME_WAIT's end is not in
// it (it comes as a KindTimeWaitEnd event).
type Transitions [16][16]uint64

// Count is how many from->to changes there were.
func (c *Transitions) Count(from, to tcpstate.State) uint64 {
	if int(from) >= len(c) || int(to) >= len(c[0]) {
		return 0
	}
	return c[from][to]
}

// Transitions reads the kernel's counts of every state change of the
// sockets the filter's netns and family let through, sent or not. They
// are counted only with Config.Transitions; a nested run the kernel
// skipped (Stats' Lost.Recursion) is not counted. Safe to call while
// another goroutine reads events, not after Close.
func (t *Tracer) Transitions() (Transitions, error) {
	var sum Transitions
	var perCPU []socktraceTransitionCounts
	if err := t.objs.Transitions.Lookup(uint32(0), &perCPU); err != nil {
		return sum, fmt.Errorf("read the kernel's transition counts: %w", err)
	}
	for i := range perCPU {
		for from := range sum {
			for to := range sum[from] {
				sum[from][to] += perCPU[i].Count[from][to]
			}
		}
	}
	return sum, nil
}
