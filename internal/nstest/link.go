package nstest

import (
	"os/exec"
	"testing"
)

// Link joins namespaces a and b with a veth pair: aName in a with the
// address aAddr ("192.0.2.1/24"), bName in b with bAddr, both up. The pair
// is made in place (ip's netns arguments), never in the caller's namespace,
// and goes with either namespace.
func Link(t testing.TB, a *NS, aName, aAddr string, b *NS, bName, bAddr string) {
	t.Helper()
	run(t, exec.Command("ip", "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name))
	for _, end := range []struct {
		ns         *NS
		name, addr string
	}{{a, aName, aAddr}, {b, bName, bAddr}} {
		run(t, end.ns.Command("ip", "addr", "add", end.addr, "dev", end.name))
		run(t, end.ns.Command("ip", "link", "set", end.name, "up"))
	}
}

// Run runs a command in the namespace and fails t if it fails.
func (ns *NS) Run(t testing.TB, name string, args ...string) {
	t.Helper()
	run(t, ns.Command(name, args...))
}

func run(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
}
