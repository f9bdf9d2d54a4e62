package main

import (
	"os"
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
	batchScheduling()
	done := make(chan struct{})
	for range 4 { // goroutines that block in syscalls make the runtime start threads
		go func() {
			var ts = unix.Timespec{Nsec: 20e6}
			_ = unix.Nanosleep(&ts, nil)
			done <- struct{}{}
		}()
	}
	for range 4 {
		<-done
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
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
	if len(tasks) < 2 {
		t.Errorf("%d threads: the test needs the runtime's threads to mean anything", len(tasks))
	}
}
