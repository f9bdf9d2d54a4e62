package main

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// batchScheduling puts every thread of this process under SCHED_BATCH, at
// the nice value it has. The streaming modes read the kernel's ring buffer
// in batches and may be a few milliseconds late; what they must not do is
// preempt the traffic they trace each time the ring wakes them. Under
// SCHED_BATCH a wakeup waits for the running task's slice to end instead,
// with the same share of the CPU as before.
// Threads the Go runtime starts later are cloned from these, and inherit
// the policy. A thread whose policy was chosen by the user (chrt) is left
// alone, and so is any failure: the policy only makes tracing cheaper.
func batchScheduling() {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil || attr.Policy != unix.SCHED_NORMAL {
			continue
		}
		attr.Policy = unix.SCHED_BATCH
		_ = unix.SchedSetAttr(tid, attr, 0)
	}
}
