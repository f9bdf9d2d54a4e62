package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

// oddName holds U+202E (RIGHT-TO-LEFT OVERRIDE, which makes a terminal
// show what follows reversed) and U+009B (the C1 control CSI, which
// starts an escape sequence on some terminals): 10 bytes, so the kernel's
// 15-byte comm keeps it whole.
const oddName = "st\u202eodd\u009b"

const oddPort = 7070

// oddNamed re-executes itself through a symlink named oddName in the
// directory args[0], so that its comm and its argv[0] are that name. It
// then holds a TCP listener with one connection to itself and a unix
// listener, and prints "ready". On "connect" it makes one more
// connection and prints "connected"; it ends when stdin closes.
func oddNamed(args []string) error {
	link := filepath.Join(args[0], oddName)
	if filepath.Base(os.Args[0]) != oddName {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		if err := os.Symlink(self, link); err != nil {
			return err
		}
		return syscall.Exec(link, append([]string{link}, os.Args[1:]...), os.Environ())
	}
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", oddPort))
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ux, err := net.Listen("unix", "@odd-name")
	if err != nil {
		return err
	}
	defer ux.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func() error {
		c, err := net.Dial("tcp4", l.Addr().String())
		conns = append(conns, c)
		return err
	}
	if err := dial(); err != nil {
		return err
	}
	fmt.Println("ready")
	var line string
	for {
		if _, err := fmt.Scanln(&line); err != nil {
			return nil
		}
		if err := dial(); err != nil {
			return err
		}
		fmt.Println("connected")
	}
}

// A process whose name holds U+202E and a C1 control shows it escaped,
// as \u202e and \u009b, in every JSON mode: -tanp, -xap, -tanpc and trace.
// Each line still parses, and gives the exact name back.
func TestJSONEscapesNames(t *testing.T) {
	ns := nstest.New(t)
	p := ns.StartPeer(t, "odd-named", t.TempDir())
	p.Expect("ready")

	for _, args := range [][]string{{"-tanp", "--json"}, {"-xap", "--json"}} {
		out, err := ns.Peer("socktrace-table", args...).Output()
		if err != nil {
			t.Fatalf("socktrace %q: %v", args, err)
		}
		checkOddJSON(t, strings.Join(args, " "), out, p.PID, "program")
	}

	live := ns.Peer("socktrace-table", "-tanpc", "--json")
	var liveOut bytes.Buffer
	live.Stdout = &liveOut
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	_ = live.Process.Signal(os.Interrupt)
	if err := live.Wait(); err != nil {
		t.Fatalf("socktrace -tanpc --json: %v", err)
	}
	checkOddJSON(t, "-tanpc --json", liveOut.Bytes(), p.PID, "program")

	run := startTrace(t, &traceOptions{json: true, ringMiB: 1,
		latency: 50 * time.Millisecond, port: oddPort, netns: filepath.Join("/run/netns", ns.Name)})
	p.Send("connect")
	p.Expect("connected")
	waitOutput(t, &run.out, `"event":"accept"`, 5*time.Second, "no accept traced")
	if err := run.stop(); err != nil {
		t.Fatalf("trace: %v", err)
	}
	checkOddJSON(t, "trace --json", []byte(run.out.String()), p.PID, "comm")
}

// checkOddJSON checks the lines of out about pid: the name is escaped,
// and what parses back is oddName, in field and in "comm".
func checkOddJSON(t *testing.T, mode string, out []byte, pid int, field string) {
	t.Helper()
	rows := 0
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var row map[string]any
		if err := json.Unmarshal(line, &row); err != nil {
			t.Fatalf("%s: not JSON: %q: %v", mode, line, err)
		}
		if row["pid"] != float64(pid) {
			continue
		}
		rows++
		if bytes.Contains(line, []byte("\u202e")) || bytes.Contains(line, []byte("\u009b")) {
			t.Errorf("%s: the name is written raw: %q", mode, line)
		}
		lower := strings.ToLower(string(line))
		if !strings.Contains(lower, `st\u202eodd\u009b`) {
			t.Errorf("%s: no escaped name in %q", mode, line)
		}
		for _, f := range []string{field, "comm"} {
			if row[f] != oddName {
				t.Errorf("%s: %s %q, want %q", mode, f, row[f], oddName)
			}
		}
	}
	if rows == 0 {
		t.Errorf("%s: no row of pid %d:\n%s", mode, pid, out)
	}
}
