// Package deploy holds the systemd unit and the Kubernetes DaemonSet for
// socktrace serve; its tests check them against the socktrace built here.
package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
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

// unitCapabilities are the capabilities the unit's serve runs with: its
// bounding set, less what its sandboxing options take away
// (systemd.exec(5): ProtectKernelLogs= drops CAP_SYSLOG,
// ProtectKernelModules= CAP_SYS_MODULE, ProtectClock= CAP_SYS_TIME and
// CAP_WAKE_ALARM, PrivateDevices= CAP_MKNOD and CAP_SYS_RAWIO).
func unitCapabilities(t *testing.T) []string {
	data, err := os.ReadFile("socktrace.service")
	if err != nil {
		t.Fatal(err)
	}
	takes := map[string][]string{
		"ProtectKernelLogs=yes":    {"CAP_SYSLOG"},
		"ProtectKernelModules=yes": {"CAP_SYS_MODULE"},
		"ProtectClock=yes":         {"CAP_SYS_TIME", "CAP_WAKE_ALARM"},
		"PrivateDevices=yes":       {"CAP_MKNOD", "CAP_SYS_RAWIO"},
	}
	var caps []string
	taken := map[string]bool{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "CapabilityBoundingSet="); ok {
			caps = strings.Fields(v)
		}
		for _, c := range takes[line] {
			taken[c] = true
		}
	}
	var left []string
	for _, c := range caps {
		if !taken[c] {
			left = append(left, c)
		}
	}
	return left
}

// daemonSetCapabilities are the capabilities the DaemonSet adds (it drops
// all others), as CAP_ names.
func daemonSetCapabilities(t *testing.T) []string {
	data, err := os.ReadFile("daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "add: ["); ok {
			var caps []string
			for _, c := range strings.Split(strings.TrimSuffix(strings.TrimSpace(v), "]"), ",") {
				caps = append(caps, "CAP_"+strings.TrimSpace(c))
			}
			return caps
		}
	}
	t.Fatal("daemonset.yaml adds no capabilities")
	return nil
}

// The unit's serve, with only the capabilities systemd leaves it, starts
// and traces in full: healthy, and not a warning (TIME_WAIT needs kernel
// addresses that only CAP_SYSLOG shows).
func TestUnitServesWithItsCapabilities(t *testing.T) {
	serveConfined(t, build(t), unitCommand(t)[1:], unitCapabilities(t))
}

// unitCommand is the unit's ExecStart, split at spaces (it has no quotes).
func unitCommand(t *testing.T) []string {
	data, err := os.ReadFile("socktrace.service")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
			if f := strings.Fields(v); len(f) >= 2 && f[1] == "serve" {
				return f
			}
		}
	}
	t.Fatal("socktrace.service: no ExecStart of socktrace serve")
	return nil
}

// The DaemonSet's command, with only the capabilities it adds, starts and
// traces in full.
func TestDaemonSetServesWithItsCapabilities(t *testing.T) {
	cmd := daemonSetCommand(t)
	serveConfined(t, build(t), cmd[1:], daemonSetCapabilities(t))
}

// serveConfined runs bin with args in a fresh network namespace, as root
// with only caps, after mounting tracefs as the unit's ExecStartPre does
// (ip netns exec gives the command a mount namespace of its own), and
// fails unless /healthz answers 200 with nothing said on stderr but the
// serving line.
func serveConfined(t *testing.T, bin string, args, caps []string) {
	ns := nstest.New(t)
	set := "-all"
	for _, c := range caps {
		set += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	script := `mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing; exec setpriv --bounding-set="$0" "$@"`
	cmd := ns.Command("sh", append([]string{"-c", script, set, bin}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
	}()
	port := "9464"
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--listen="); ok {
			_, port, _ = strings.Cut(v, ":")
		}
	}
	status := ""
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && status != "200"; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve %q with %v exited: %v; stderr:\n%s", args, caps, err, stderr.String())
		default:
		}
		status = healthStatus(ns, "127.0.0.1:"+port)
	}
	if status != "200" {
		t.Fatalf("serve %q with %v: /healthz %q after 30s; stderr:\n%s", args, caps, status, stderr.String())
	}
	for line := range strings.Lines(stderr.String()) {
		if !strings.HasPrefix(line, "socktrace: serving ") {
			t.Errorf("serve %q with %v said: %s", args, caps, strings.TrimSpace(line))
		}
	}
}

// healthStatus is the status code of GET /healthz at addr in ns, "" if
// none came.
func healthStatus(ns *nstest.NS, addr string) string {
	var status string
	_ = ns.InThread(func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "GET /healthz HTTP/1.0\r\n\r\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if f := strings.Fields(line); err == nil && len(f) >= 2 {
			status = f[1]
		}
		return nil
	})
	return status
}
