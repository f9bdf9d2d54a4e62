// Package nstest runs privileged tests in fresh network namespaces, with the
// test binary re-executed as separate client and server processes so that
// anything attributed to a process is really attributed to the right one.
package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// RequireEnv is the variable that turns a privileged test's skip into a
// failure; .ci/run sets it so kernel tests cannot pass by not running.
const RequireEnv = "SOCKTRACE_REQUIRE_BPF"

const roleEnv = "SOCKTRACE_PEER_ROLE"

var nsCounter atomic.Int32

// RequireRoot skips t when not root, or fails it when RequireEnv is set.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("needs root, and %s=1 forbids skipping", RequireEnv)
	}
	t.Skip("needs root (set " + RequireEnv + "=1 to make this a failure)")
}

// NS is a named network namespace with loopback up.
type NS struct {
	Name  string
	Inode uint64 // the namespace's inode, as the kernel's net->ns.inum
}

// New creates a fresh network namespace, removed when t ends.
func New(t testing.TB) *NS {
	t.Helper()
	RequireRoot(t)
	name := fmt.Sprintf("socktrace-%d-%d", os.Getpid(), nsCounter.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	ns := &NS{Name: name}
	if out, err := ns.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v: %s", name, err, out)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join("/run/netns", name), &st); err != nil {
		t.Fatalf("stat netns %s: %v", name, err)
	}
	ns.Inode = st.Ino
	return ns
}

// Command returns a command that runs inside the namespace. ip netns exec
// execs the command in place, so the returned process's pid is the
// command's own.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Peer returns a command that re-runs the current test binary inside the
// namespace as the given role (see RunPeer).
func (ns *NS) Peer(role string, args ...string) *exec.Cmd {
	return ns.peer(testBinary(), role, args...)
}

// PeerAs is Peer under another name: it runs a link named name to the test
// binary, so the process's name (comm, and argv[0]'s base) is name.
func (ns *NS) PeerAs(t testing.TB, name, role string, args ...string) *exec.Cmd {
	t.Helper()
	link := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(testBinary(), link); err != nil {
		t.Fatal(err)
	}
	return ns.peer(link, role, args...)
}

func (ns *NS) peer(bin, role string, args ...string) *exec.Cmd {
	cmd := ns.Command(bin, append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	cmd.Stderr = os.Stderr
	return cmd
}

func testBinary() string {
	self, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return self
}

// RunPeer is called first thing in TestMain: when this process was started
// by Peer it runs the role and exits, otherwise it returns.
func RunPeer(roles map[string]func(args []string) error) {
	role := os.Getenv(roleEnv)
	if role == "" {
		return
	}
	fn, ok := roles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown peer role %q\n", role)
		os.Exit(2)
	}
	// Peer arguments follow the -test.* flags the binary was given.
	var args []string
	for _, a := range os.Args[1:] {
		if !strings.HasPrefix(a, "-test.") {
			args = append(args, a)
		}
	}
	if err := fn(args); err != nil {
		fmt.Fprintf(os.Stderr, "peer %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Child returns a command that runs the test binary again as role, in the
// caller's namespaces, with the caller's stdin, stdout and stderr: for a
// peer that hands its sockets to a process of its own, as a server that
// forks does.
func Child(role string, args ...string) *exec.Cmd {
	cmd := exec.Command(testBinary(), append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd
}
