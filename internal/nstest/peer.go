package nstest

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineTimeout bounds every wait for a peer's line, so a peer that hangs
// fails the test instead of stalling it.
const lineTimeout = 10 * time.Second

// Peer is a started peer process, steered line by line: it prints what it
// did, and reads the test's go-ahead before each step whose timing matters.
type Peer struct {
	t     testing.TB
	role  string
	PID   int
	in    io.WriteCloser
	lines chan string
	wait  func() error // cmd.Wait, once
}

// StartPeer starts role (see Peer and RunPeer) in the namespace. It is
// killed when t ends.
func (ns *NS) StartPeer(t testing.TB, role string, args ...string) *Peer {
	t.Helper()
	return startPeer(t, ns.Peer(role, args...), role)
}

// StartPeerAs is StartPeer under another name (see PeerAs).
func (ns *NS) StartPeerAs(t testing.TB, name, role string, args ...string) *Peer {
	t.Helper()
	return startPeer(t, ns.PeerAs(t, name, role, args...), role)
}

func startPeer(t testing.TB, cmd *exec.Cmd, role string) *Peer {
	t.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start peer %s: %v", role, err)
	}
	p := &Peer{t: t, role: role, PID: cmd.Process.Pid, in: in, lines: make(chan string, 16), wait: sync.OnceValue(cmd.Wait)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Process.Kill()
		_ = p.wait()
	})
	return p
}

// Wait waits for the peer to exit by itself and reaps it: its pid and
// /proc/PID are gone once Wait returns.
func (p *Peer) Wait() error { return p.wait() }

// Expect reads the peer's next line, which must start with word, and
// returns the rest.
func (p *Peer) Expect(word string) string {
	p.t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("peer %s (%d) ended before printing %q", p.role, p.PID, word)
		}
		rest, found := strings.CutPrefix(line, word)
		if !found {
			p.t.Fatalf("peer %s (%d): got %q, want %s...", p.role, p.PID, line, word)
		}
		return strings.TrimSpace(rest)
	case <-time.After(lineTimeout):
		p.t.Fatalf("peer %s (%d): no %q within %v", p.role, p.PID, word, lineTimeout)
	}
	return ""
}

// Next reads the peer's next line, whatever it is.
func (p *Peer) Next() string {
	p.t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("peer %s (%d) ended", p.role, p.PID)
		}
		return line
	case <-time.After(lineTimeout):
		p.t.Fatalf("peer %s (%d): no line within %v", p.role, p.PID, lineTimeout)
	}
	return ""
}

// Send writes one line to the peer.
func (p *Peer) Send(line string) {
	p.t.Helper()
	if _, err := fmt.Fprintln(p.in, line); err != nil {
		p.t.Fatalf("peer %s (%d): send %q: %v", p.role, p.PID, line, err)
	}
}
