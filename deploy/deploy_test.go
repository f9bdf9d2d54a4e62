// Package deploy holds the systemd unit and the Kubernetes DaemonSet for
// socktrace serve; its tests check them against the socktrace built here.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build builds socktrace into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "socktrace")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/socktrace")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// The unit passes systemd-analyze verify, with ExecStart pointing at a
// binary built here (verify wants it to exist).
func TestSystemdUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not installed (apt-get install systemd)")
	}
	unit, err := os.ReadFile("socktrace.service")
	if err != nil {
		t.Fatal(err)
	}
	bin := build(t)
	copyPath := filepath.Join(t.TempDir(), "socktrace.service")
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/socktrace", bin)
	if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", copyPath).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// daemonSetCommand is the container's command in the DaemonSet: the list
// items under "command:". A line-based read: the file is ours, and a YAML
// library for one list would be a dependency for nothing else.
func daemonSetCommand(t *testing.T) []string {
	data, err := os.ReadFile("daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cmd []string
	indent := -1
	for line := range strings.Lines(string(data)) {
		trimmed := strings.TrimSpace(line)
		depth := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case trimmed == "command:":
			indent = depth
		case indent >= 0 && depth > indent && strings.HasPrefix(trimmed, "- "):
			cmd = append(cmd, strings.Trim(strings.TrimPrefix(trimmed, "- "), `"'`))
		case indent >= 0 && trimmed != "":
			indent = -1
		}
	}
	if len(cmd) < 2 || cmd[1] != "serve" {
		t.Fatalf("DaemonSet command %q: want socktrace serve and its flags", cmd)
	}
	return cmd
}

// Every flag of the DaemonSet's command is one socktrace serve knows.
func TestDaemonSetFlagsExist(t *testing.T) {
	cmd := daemonSetCommand(t)
	bin := build(t)
	help, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "Usage:\n  socktrace serve") {
		t.Fatalf("socktrace serve --help: %v:\n%s", err, help)
	}
	for _, arg := range cmd[2:] {
		name, _, _ := strings.Cut(arg, "=")
		if !strings.HasPrefix(name, "-") {
			continue
		}
		if !strings.Contains(string(help), name+" ") && !strings.Contains(string(help), name+"=") {
			t.Errorf("serve --help has no %s", name)
		}
	}
}
