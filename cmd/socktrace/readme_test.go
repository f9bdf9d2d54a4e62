package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
	"github.com/socktrace/socktrace/internal/render"
)

// The README's examples are output of this test's scenario, run for real:
// TestREADMEExamples checks that every example line has the shape of a
// line socktrace printed, and with -update-readme writes what it printed
// into the README instead.

var updateREADME = flag.Bool("update-readme", false, "rewrite README.md's examples with this run's output")

const readmePath = "../../README.md"

// The README's example blocks start with these lines.
const (
	liveExample  = "$ sudo socktrace -tanpc"
	traceExample = "$ sudo socktrace trace --netns "
	topExample   = "$ sudo socktrace top --netns "
	jsonExample  = "```json"
)

// The scenario's request and response: an HTTP-ish exchange.
const (
	demoRequest  = "GET / HTTP/1.0\r\n\r\n"
	demoResponse = "HTTP/1.0 200 OK\r\n\r\nhello\n"
)

// demoServer listens on 127.0.0.1:8080 and prints "ready"; serves one
// request, waits for the client's FIN, closes and prints "served"; closes
// the listener at a line on stdin and prints "closed".
func demoServer([]string) error {
	l, err := net.Listen("tcp4", "127.0.0.1:8080")
	if err != nil {
		return err
	}
	fmt.Println("ready")
	c, err := l.Accept()
	if err != nil {
		return err
	}
	if _, err := io.ReadFull(c, make([]byte, len(demoRequest))); err != nil {
		return err
	}
	if _, err := io.WriteString(c, demoResponse); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, c)
	c.Close()
	fmt.Println("served")
	return stepAtLine(l.Close, "closed")
}

// demoClient sends the request, reads the response, closes first (its
// side ends in TIME_WAIT) and prints "closed"; at a line on stdin it
// connects to port 9, where nothing listens, and prints "done".
func demoClient([]string) error {
	c, err := net.Dial("tcp4", "127.0.0.1:8080")
	if err != nil {
		return err
	}
	if _, err := io.WriteString(c, demoRequest); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, make([]byte, len(demoResponse))); err != nil {
		return err
	}
	c.Close()
	fmt.Println("closed")
	return stepAtLine(func() error {
		if _, err := net.Dial("tcp4", "127.0.0.1:9"); !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("connect to port 9: %v, want ECONNREFUSED", err)
		}
		return nil
	}, "done")
}

// observer is socktrace run beside the scenario, its output in a file.
type observer struct {
	cmd    *exec.Cmd
	out    string
	stderr lockedBuffer
}

func startObserver(t *testing.T, ns *nstest.NS, args ...string) *observer {
	t.Helper()
	o := &observer{cmd: ns.Peer("socktrace-table", args...), out: t.TempDir() + "/out"}
	f, err := os.Create(o.out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o.cmd.Stdout, o.cmd.Stderr = f, &o.stderr
	if err := o.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = o.cmd.Process.Kill()
		_ = o.cmd.Wait()
	})
	return o
}

func (o *observer) output(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(o.out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor waits until the output (or stderr) holds n of what.
func (o *observer) waitFor(t *testing.T, what string, n int, onStderr bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := o.output(t)
		if onStderr {
			got = o.stderr.String()
		}
		if strings.Count(got, what) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q: %d of %q in 15 s, want %d; stderr %q", o.cmd.Args, strings.Count(got, what), what, n, o.stderr.String())
		}
	}
}

func (o *observer) stop(t *testing.T) string {
	t.Helper()
	_ = o.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- o.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%q: %v; stderr %q", o.cmd.Args, err, o.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%q still running 10 s after SIGINT", o.cmd.Args)
	}
	return o.output(t)
}

// TestREADMEExamples runs the README's scenario in a fresh namespace, a
// server and a client (processes named so) exchanging a request, the
// client closing first, a refused connect, then, after a -c table, the
// listener's close, with `-tanpc`, `trace`, `trace --json` and `top`
// watching. Each line of the
// README's examples must have the shape of a line they printed: the same
// columns, states, transitions and detail fields, with times, pids,
// ephemeral ports, durations and counts masked.
func TestREADMEExamples(t *testing.T) {
	ns := nstest.New(t)
	live := startObserver(t, ns, "-tanpc")
	trace := startObserver(t, ns, "trace", "--netns", ns.Name)
	traceJSON := startObserver(t, ns, "trace", "--json", "--netns", ns.Name)
	// One table, printed when it stops: the whole scenario.
	top := startObserver(t, ns, "top", "--netns", ns.Name, "--interval", "1h")
	trace.waitFor(t, "tracing TCP state changes", 1, true)
	traceJSON.waitFor(t, "tracing TCP state changes", 1, true)
	top.waitFor(t, "counting TCP connections", 1, true)
	// Right after a table, so the scenario is likely all in the next.
	live.waitFor(t, "\n-- ", 1, false)
	live.waitFor(t, "\n-- ", strings.Count(live.output(t), "\n-- ")+1, false)

	srv := ns.StartPeerAs(t, "server", "demo-server")
	srv.Expect("ready")
	cli := ns.StartPeerAs(t, "client", "demo-client")
	cli.Expect("closed")
	srv.Expect("served")
	cli.Send("refuse")
	cli.Expect("done")
	// A table with the refused connect gone, then the listener's close.
	live.waitFor(t, "ECONNREFUSED)", 1, false)
	srv.Send("close")
	srv.Expect("closed")
	trace.waitFor(t, "LISTEN->CLOSE", 1, false)
	traceJSON.waitFor(t, `"old_state":"LISTEN","new_state":"CLOSE"`, 1, false)
	outputs := map[string]string{
		liveExample:  live.stop(t),
		traceExample: trace.stop(t),
		jsonExample:  traceJSON.stop(t),
		topExample:   top.stop(t),
	}

	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	if *updateREADME {
		updated, err := rewriteExamples(string(readme), outputs)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(readmePath, []byte(updated), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for start, out := range outputs {
		lines, err := exampleLines(string(readme), start)
		if err != nil {
			t.Fatal(err)
		}
		compareShapes(t, start, lines, strings.Split(strings.TrimSuffix(out, "\n"), "\n"))
	}
}

// exampleLines is the output lines of the README example whose block
// starts with start: from the line after it to the closing fence.
func exampleLines(readme, start string) ([]string, error) {
	lines := strings.Split(readme, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, start) {
			continue
		}
		for j := i + 1; j < len(lines); j++ {
			if lines[j] == "```" {
				if j == i+1 {
					return nil, fmt.Errorf("README: the example after %q is empty", start)
				}
				return lines[i+1 : j], nil
			}
		}
		return nil, fmt.Errorf("README: the example after %q has no closing fence", start)
	}
	return nil, fmt.Errorf("README: no example starts with %q", start)
}

// compareShapes checks that each README line has the shape of an output
// line.
func compareShapes(t *testing.T, example string, readme, output []string) {
	t.Helper()
	shapeOf := func(l string) (string, error) { return lineShape(example, l) }
	var real []string
	for _, l := range output {
		s, err := shapeOf(l)
		if err != nil {
			t.Fatalf("%s: socktrace printed %q: %v", example, l, err)
		}
		real = append(real, s)
	}
	for _, l := range readme {
		s, err := shapeOf(l)
		if err != nil {
			t.Errorf("README %s: %q: %v", example, l, err)
			continue
		}
		if !slices.Contains(real, s) {
			t.Errorf("README %s: no line socktrace printed has this one's shape:\n  %s\nshape %s\nthe shapes printed:\n  %s",
				example, l, s, strings.Join(real, "\n  "))
		}
	}
}

// lineShape is line as the README test compares it; trailing spaces (the
// tables pad their last column) do not count.
func lineShape(example, line string) (string, error) {
	line = strings.TrimRight(line, " ")
	switch example {
	case liveExample:
		return liveShape(line)
	case traceExample:
		return traceShape(line)
	case topExample:
		return topShape(line)
	}
	return jsonShape(line)
}

var (
	clockRE    = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{6}$`)
	durationRE = regexp.MustCompile(`\b\d+(\.\d+)?(us|ms|s)\b`)
	numberRE   = regexp.MustCompile(`\d+`)
	portRE     = regexp.MustCompile(`:(\d+)$`)
	pidRE      = regexp.MustCompile(`^\d+/`)
	jsonTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)
)

// maskDetail masks durations, then other numbers.
func maskDetail(s string) string {
	return numberRE.ReplaceAllString(durationRE.ReplaceAllString(s, "DUR"), "N")
}

// maskPort masks an ephemeral port (the kernel's default range starts at
// 32768); the scenario's own ports stay.
func maskPort(addr string) string {
	m := portRE.FindStringSubmatch(addr)
	if m == nil {
		return addr
	}
	if port, err := strconv.Atoi(m[1]); err != nil || port < 32768 {
		return addr
	}
	return strings.TrimSuffix(addr, m[1]) + "EPH"
}

// columns cuts line where the header's names start, checking each value
// starts at its column and ends before the next. The last value runs to
// the line's end.
func columns(header, line string, names []string) ([]string, error) {
	var offs []int
	for _, n := range names {
		i := strings.Index(header, n)
		if i < 0 {
			return nil, fmt.Errorf("header %q has no column %q", header, n)
		}
		offs = append(offs, i)
	}
	var out []string
	for i, off := range offs {
		if off >= len(line) {
			break
		}
		end := len(line)
		if i+1 < len(offs) {
			end = min(offs[i+1], len(line))
		}
		v := line[off:end]
		if strings.HasPrefix(v, " ") || off > 0 && line[off-1] != ' ' {
			return nil, fmt.Errorf("column %q does not start at column %d", names[i], off)
		}
		if i+1 < len(offs) && end < len(line) && !strings.HasSuffix(v, " ") {
			return nil, fmt.Errorf("column %q runs into the next", names[i])
		}
		out = append(out, strings.TrimRight(v, " "))
	}
	return out, nil
}

func traceShape(line string) (string, error) {
	header := strings.TrimSuffix(render.EventHeader, "\n")
	if line == header {
		return line, nil
	}
	cols, err := columns(header, line, []string{"TIME", "PID", "COMM", "PROTO", "LOCAL", "REMOTE", "TRANSITION", "DETAIL"})
	if err != nil {
		return "", err
	}
	if len(cols) < 7 || !clockRE.MatchString(cols[0]) || numberRE.ReplaceAllString(cols[1], "") != "" && cols[1] != "-" {
		return "", fmt.Errorf("not a trace line")
	}
	cols[0], cols[1] = "TIME", "PID"
	cols[4], cols[5] = maskPort(cols[4]), maskPort(cols[5])
	if len(cols) == 8 {
		cols[7] = maskDetail(cols[7])
	}
	return strings.Join(cols, " | "), nil
}

// liveHeader is -tanpc's column header.
const liveHeader = "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name"

func liveShape(line string) (string, error) {
	switch {
	case line == liveHeader || line == "Active Internet connections (servers and established)":
		return line, nil
	case strings.HasPrefix(line, "-- "):
		return "-- " + maskDetail(line[3:]), nil
	}
	cols, err := columns(liveHeader, line, []string{"Proto", "Local Address", "Foreign Address", "State", "PID/Program name"})
	if err != nil {
		return "", err
	}
	if len(cols) != 5 {
		return "", fmt.Errorf("not a table row")
	}
	cols[0] = maskDetail(strings.Join(strings.Fields(cols[0]), " "))
	cols[1], cols[2] = maskPort(cols[1]), maskPort(cols[2])
	// The owner, then the note of a gone row, at its own column.
	owner, note, _ := strings.Cut(cols[4], " ")
	cols[4] = pidRE.ReplaceAllString(owner, "PID/")
	if note = strings.TrimLeft(note, " "); note != "" {
		cols = append(cols, fmt.Sprintf("@%d %s", strings.Index(line, note), maskDetail(note)))
	}
	return strings.Join(cols, " | "), nil
}

var (
	topClockRE  = regexp.MustCompile(`^socktrace top \d\d:\d\d:\d\d `)
	topNumberRE = regexp.MustCompile(`\b\d+(\.\d+)?[KMGT]?\b`)
)

// topShape is a top line with its columns' widths, clock, pids, ephemeral
// ports, durations and numbers (rates, counts) masked.
func topShape(line string) (string, error) {
	mask := func(s string) string { return topNumberRE.ReplaceAllString(durationRE.ReplaceAllString(s, "DUR"), "N") }
	switch f := strings.Fields(line); {
	case topClockRE.MatchString(line):
		return mask(topClockRE.ReplaceAllString(line, "socktrace top CLOCK ")), nil
	case len(f) > 0 && f[0] == "PID":
		return strings.Join(f, " "), nil
	case len(f) < 17 || numberRE.ReplaceAllString(f[0], "") != "" && f[0] != "-":
		return "", fmt.Errorf("not a top row")
	default:
		f[0], f[2] = "PID", maskPort(f[2])
		return f[0] + " " + f[1] + " " + f[2] + " " + mask(strings.Join(f[3:], " ")), nil
	}
}

// jsonShape is an object's keys in order, each with its value's type; the
// values that name things (event, states, error, proto) are kept, and the
// time must be RFC 3339 in UTC with nine digits.
func jsonShape(line string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", fmt.Errorf("not a JSON object")
	}
	var parts []string
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", err
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return "", err
		}
		shape := fmt.Sprintf("%s:%T", key, v)
		switch key {
		case "event", "proto", "old_state", "new_state", "error":
			shape = fmt.Sprintf("%s:%v", key, v)
		case "time":
			if s, _ := v.(string); !jsonTimeRE.MatchString(s) {
				return "", fmt.Errorf("time %v is not RFC 3339 in UTC with nine digits", v)
			}
		}
		parts = append(parts, shape)
	}
	return strings.Join(parts, " "), nil
}

// rewriteExamples puts this run's output into the README's examples: the
// -c table that shows the exchange's gone rows, the whole event log, and
// the first connect event's JSON.
func rewriteExamples(readme string, outputs map[string]string) (string, error) {
	for start, out := range outputs {
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		switch start {
		case liveExample:
			if lines = tableWith(lines, "LISTEN", "TIME_WAIT", "LAST_ACK", "ECONNREFUSED"); lines == nil {
				return "", fmt.Errorf("no -c table shows the whole scenario (it fell in two); run again:\n%s", out)
			}
		case jsonExample:
			i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, `"event":"connect"`) })
			if i < 0 {
				return "", fmt.Errorf("no connect event in %q", out)
			}
			lines = lines[i : i+1]
		}
		old, err := exampleLines(readme, start)
		if err != nil {
			return "", err
		}
		oldText := strings.Join(old, "\n") + "\n```"
		if strings.Count(readme, oldText) != 1 {
			return "", fmt.Errorf("README: the example after %q is not unique", start)
		}
		for i, l := range lines {
			lines[i] = strings.TrimRight(l, " ")
		}
		readme = strings.Replace(readme, oldText, strings.Join(lines, "\n")+"\n```", 1)
	}
	return readme, nil
}

// tableWith is the first -c table (title to summary line) that has a line
// with each of what, or nil.
func tableWith(lines []string, what ...string) []string {
	start := 0
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "Active Internet"):
			start = i
		case strings.HasPrefix(l, "-- ") && hasAll(lines[start:i], what):
			return lines[start : i+1]
		}
	}
	return nil
}

func hasAll(lines, what []string) bool {
	for _, w := range what {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, w) }) {
			return false
		}
	}
	return true
}
