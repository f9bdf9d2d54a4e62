package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// Ctrl-C and SIGTERM cancel the command's context: the trace must detach,
// print its summary and return without error within a second.
func TestTraceStopsOnCancel(t *testing.T) {
	nstest.RequireRoot(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer // read here while the trace writes
	done := make(chan error, 1)
	go func() {
		done <- runTrace(ctx, &out, &errOut, &traceOptions{ringMiB: 1, latency: 50 * time.Millisecond, port: 1})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errOut.String(), "tracing TCP state changes") {
		if time.Now().After(deadline) {
			t.Fatalf("never started: %q", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("trace returned %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("trace still running a second after cancel")
	}
	t.Logf("stopped in %v", time.Since(start))
	if !regexp.MustCompile(`(?m)^socktrace: \d+ events, \d+ lost \(\d+ ring buffer full, \d+ recursion misses\)$`).MatchString(errOut.String()) {
		t.Errorf("no loss summary in %q", errOut.String())
	}
	if !strings.HasPrefix(out.String(), "TIME ") {
		t.Errorf("no header: %q", out.String())
	}
}

func TestTraceRejectsBadFlags(t *testing.T) {
	for _, o := range []traceOptions{
		{ringMiB: 3, latency: time.Millisecond},
		{ringMiB: 0, latency: time.Millisecond},
		{ringMiB: 4096, latency: time.Millisecond}, // 2^32 bytes: the kernel's u32 wraps to 0
		{ringMiB: 1 << 20, latency: time.Millisecond},
		{ringMiB: 1, latency: 0},
		{ringMiB: 1, latency: time.Millisecond, states: []string{"TIMEWAIT"}},
		{ringMiB: 1, latency: time.Millisecond, comm: "a-name-longer-than-15"},
		{ringMiB: 1, latency: time.Millisecond, netns: "/no/such/ns"},
	} {
		if _, err := o.config(); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: err %v, want a one-line error", o, err)
		}
	}
	for _, mib := range []int{1, 8, 2048} {
		o := traceOptions{ringMiB: mib, latency: time.Millisecond}
		if cfg, err := o.config(); err != nil || cfg.RingBytes != mib<<20 {
			t.Errorf("--ring-mib %d: %d bytes, %v", mib, cfg.RingBytes, err)
		}
	}
}

// The event log reaches stdout while the trace runs, not only at its end:
// a refused connect's two events appear as JSON lines well before the trace
// stops (--latency is 50ms; the bound is generous for a loaded machine).
func TestTraceStreamsJSON(t *testing.T) {
	nstest.RequireRoot(t)
	// A port nobody listens on: connects to it are refused.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- runTrace(ctx, &out, &errOut, &traceOptions{json: true, ringMiB: 1,
			latency: 50 * time.Millisecond, port: uint16(port)})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errOut.String(), "tracing TCP state changes") {
		if time.Now().After(deadline) {
			t.Fatalf("never started: %q", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
		t.Fatalf("port %d accepted a connection", port)
	}
	remote := "127.0.0.1:" + strconv.Itoa(port)
	for deadline = time.Now().Add(5 * time.Second); !strings.Contains(out.String(), `"error":"ECONNREFUSED"`); {
		if time.Now().After(deadline) {
			t.Fatalf("no refused close on stdout while tracing: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("trace returned %v", err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev struct{ Event, Remote, Error string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if ev.Remote != remote {
			t.Errorf("--port %d let through an event with remote %s", port, ev.Remote)
		}
		got = append(got, ev.Event+" "+ev.Error)
	}
	if want := []string{"connect ", "close ECONNREFUSED"}; strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("events %q, want %q", got, want)
	}
}

// lockedBuffer is a bytes.Buffer that one goroutine may read while another
// writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
