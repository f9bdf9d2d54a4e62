package main

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Every thread the process has, and every thread it starts later, runs
// under SCHED_BATCH at the nice value it had.
func TestBatchScheduling(t *testing.T) {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0) // the raw syscall: 20 - nice
	if err != nil {
		t.Fatal(err)
	}
	before := threads(t)
	batchScheduling()
	t.Cleanup(func() { setPolicy(t, unix.SCHED_NORMAL) })
	// Goroutines locked to their threads, parked: beyond the idle threads
	// it has, the runtime must start one for each. They exit locked, so
	// their threads end with them.
	const locked = 8
	ready, release := make(chan struct{}), make(chan struct{})
	for range locked {
		go func() {
			runtime.LockOSThread()
			ready <- struct{}{}
			<-release
		}()
	}
	for range locked {
		<-ready
	}
	defer close(release)
	after := threads(t)
	if !slices.ContainsFunc(after, func(tid int) bool { return !slices.Contains(before, tid) }) {
		t.Fatalf("threads before %v, after locking %d goroutines %v: the runtime started none", before, locked, after)
	}
	for _, tid := range after {
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			t.Fatalf("thread %d: %v", tid, err)
		}
		if attr.Policy != unix.SCHED_BATCH {
			t.Errorf("thread %d: policy %d, want SCHED_BATCH (%d)", tid, attr.Policy, unix.SCHED_BATCH)
		}
		if int(attr.Nice) != 20-prio {
			t.Errorf("thread %d: nice %d, want %d", tid, attr.Nice, 20-prio)
		}
	}
}

// threads lists this process's thread ids.
func threads(t *testing.T) []int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var tids []int
	for _, task := range tasks {
		if tid, err := strconv.Atoi(task.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}

// setPolicy gives every thread the policy, for the tests that run after.
func setPolicy(t *testing.T, policy uint32) {
	for _, tid := range threads(t) {
		if attr, err := unix.SchedGetAttr(tid, 0); err == nil {
			attr.Policy = policy
			_ = unix.SchedSetAttr(tid, attr, 0)
		}
	}
}
