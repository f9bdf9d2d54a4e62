package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/socktrace/socktrace/internal/nstest"
)

// The workload of TestServeWithPrometheus: connects that succeed, and
// connects to a closed port, refused.
const (
	serveConnects = 20
	serveRefused  = 7
)

// serve and the workload run in one namespace, Prometheus in another,
// joined by a veth pair: Prometheus' own connection to serve is then no
// connect where serve counts, so the counters' differences are exactly
// the workload's.
func TestServeWithPrometheus(t *testing.T) {
	prom := prometheusBinary(t)
	a, b := nstest.New(t), nstest.New(t)
	nstest.Link(t, a, "st-serve", "192.0.2.1/24", b, "st-prom", "192.0.2.2/24")
	srv := startServe(t, a, "--listen", "192.0.2.1:9464", "--listen-external")
	srv.waitHealthy(t)
	api := startPrometheus(t, prom, b, "192.0.2.1:9464")

	attached := time.Now()
	api.waitScrapeAfter(t, attached)
	before := time.Now()
	a.Peer("serve-workload", strconv.Itoa(serveConnects), strconv.Itoa(serveRefused)).Run()
	// Events wait in the ring buffer up to the tracer's latency (50ms).
	after := time.Now().Add(200 * time.Millisecond)
	api.waitScrapeAfter(t, after)
	api.waitScrapeAfter(t, time.Now())
	at := time.Now()

	for _, c := range []struct {
		query string
		want  float64
	}{
		{`socktrace_tcp_connects_total{family="ipv4"}`, serveConnects + serveRefused},
		{`socktrace_tcp_connect_failures_total{family="ipv4",errno="ECONNREFUSED"}`, serveRefused},
		{`socktrace_tcp_connect_duration_seconds_count`, serveConnects},
		{`socktrace_tcp_connection_duration_seconds_count{role="client"}`, serveConnects},
		// Counted by the kernel, of transitions serve's tracer never sends.
		{`socktrace_tcp_state_transitions_total{from="CLOSE",to="SYN_SENT"}`, serveConnects + serveRefused},
		{`socktrace_tcp_state_transitions_total{from="SYN_SENT",to="ESTABLISHED"}`, serveConnects},
		{`socktrace_tcp_state_transitions_total{from="SYN_SENT",to="CLOSE"}`, serveRefused},
	} {
		got := api.value(t, c.query, at) - api.value(t, c.query, before)
		if got != c.want {
			t.Errorf("%s grew by %v during the workload, want %v", c.query, got, c.want)
		}
	}
	// Prometheus' own scrapes are accepted too.
	for _, q := range []string{`socktrace_tcp_accepts_total{family="ipv4"}`, `socktrace_tcp_connection_duration_seconds_count{role="server"}`} {
		if got := api.value(t, q, at) - api.value(t, q, before); got < serveConnects {
			t.Errorf("%s grew by %v, want at least %d", q, got, serveConnects)
		}
	}
	srv.stopWithin(t, time.Second)
}

// serve --all-netns counts the connects of other network namespaces than
// its own: a workload in each of two. Other tests' connects count too, so
// the workload's are told by its process name.
func TestServeAllNetns(t *testing.T) {
	t.Parallel()
	own, b, c := nstest.New(t), nstest.New(t), nstest.New(t)
	srv := startServe(t, own, "--all-netns", "--label", "comm")
	srv.waitHealthy(t)
	const name = "allnetns-load"
	for _, ns := range []*nstest.NS{b, c} {
		if err := ns.PeerAs(t, name, "serve-workload", strconv.Itoa(serveConnects), strconv.Itoa(serveRefused)).Run(); err != nil {
			t.Fatal(err)
		}
	}
	srv.waitCounters(t, []counterWant{
		{"socktrace_tcp_connects_total", map[string]string{"family": "ipv4", "comm": name}, 2 * (serveConnects + serveRefused)},
		{"socktrace_tcp_connect_failures_total", map[string]string{"family": "ipv4", "errno": "ECONNREFUSED", "comm": name}, 2 * serveRefused},
		{"socktrace_tcp_accepts_total", map[string]string{"family": "ipv4", "comm": name}, 2 * serveConnects},
	})
	srv.stopWithin(t, time.Second)
}

// A scrape during start-up gets valid output, /healthz turns 200 once the
// tracer is attached, and SIGTERM ends serve within a second.
func TestServeStartAndStop(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	srv := startServe(t, ns)
	client := nsClient(ns)
	var scraped bool
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if !scraped {
			if body, err := get(client, "http://127.0.0.1:9464/metrics"); err == nil {
				parser := expfmt.NewTextParser(model.LegacyValidation)
				families, err := parser.TextToMetricFamilies(strings.NewReader(body))
				if err != nil {
					t.Fatalf("a scrape during start-up is not valid: %v\n%s", err, body)
				}
				if _, ok := families["socktrace_build_info"]; !ok {
					t.Fatalf("no socktrace_build_info in the first scrape:\n%s", body)
				}
				scraped = true
			}
		}
		if resp, err := client.Get("http://127.0.0.1:9464/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && scraped {
				checkResetReasons(t, client)
				srv.stopWithin(t, time.Second)
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("serve was not healthy within 30s; stderr %q", srv.stderr.String())
}

// checkResetReasons wants resets_sent_total at 0 for reasons the kernel
// names, before any reset: increase() then sees the first one.
func checkResetReasons(t *testing.T, client *http.Client) {
	t.Helper()
	body, err := get(client, "http://127.0.0.1:9464/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range []string{"NO_SOCKET", "TCP_ABORT_ON_CLOSE", "TCP_STATE"} {
		if got := counterValue(families["socktrace_tcp_resets_sent_total"], map[string]string{"reason": reason}); got != 0 {
			t.Errorf("socktrace_tcp_resets_sent_total{reason=%q} = %v once attached, want 0", reason, got)
		}
	}
}

type serveRun struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	client *http.Client
	addr   string
	done   chan error
}

func startServe(t *testing.T, ns *nstest.NS, args ...string) *serveRun {
	t.Helper()
	s := &serveRun{stderr: &lockedBuffer{}, client: nsClient(ns), addr: "127.0.0.1:9464", done: make(chan error, 1)}
	for i, a := range args {
		if a == "--listen" {
			s.addr = args[i+1]
		}
	}
	s.cmd = ns.Peer("socktrace-table", append([]string{"serve"}, args...)...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
	return s
}

func (s *serveRun) waitHealthy(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := s.client.Get("http://" + s.addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("serve was not healthy within 30s; stderr %q", s.stderr.String())
}

// stopWithin sends SIGTERM and wants serve gone, with status 0, within d:
// the tracer detaches at once.
func (s *serveRun) stopWithin(t *testing.T, d time.Duration) {
	t.Helper()
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM; stderr %q", err, s.stderr.String())
		}
		t.Logf("serve exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(d):
		t.Errorf("serve still running %v after SIGTERM", d)
	}
}

// nsClient is an HTTP client whose connections are made in ns.
func nsClient(ns *nstest.NS) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialIn(ns, network, addr)
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// dialIn connects from a thread that joined ns; the socket stays in ns.
func dialIn(ns *nstest.NS, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.InThread(func() error {
		var err error
		c, err = net.DialTimeout(network, addr, 5*time.Second)
		return err
	})
	return c, err
}

func get(c *http.Client, u string) (string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", u, resp.Status)
	}
	return string(b), err
}

// prometheusBinary is Debian's prometheus (apt-get install prometheus).
func prometheusBinary(t *testing.T) string {
	t.Helper()
	nstest.RequireRoot(t)
	p, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv(nstest.RequireEnv) != "" {
			t.Fatal("no prometheus binary: apt-get install prometheus")
		}
		t.Skip("no prometheus binary: apt-get install prometheus")
	}
	return p
}

type promAPI struct {
	client *http.Client
	base   string
}

// startPrometheus runs a Prometheus server of its own in ns, scraping
// target every second, with its storage in a temporary directory.
func startPrometheus(t *testing.T, bin string, ns *nstest.NS, target string) *promAPI {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: socktrace\n    static_configs:\n      - targets: ['%s']\n", target)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd := ns.Command(bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:9090")
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	api := &promAPI{client: nsClient(ns), base: "http://127.0.0.1:9090"}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := get(api.client, api.base+"/-/ready"); err == nil {
			return api
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready within 30s: %s", stderr.String())
		}
	}
}

// query runs an instant query at time at and returns its one sample.
func (p *promAPI) query(q string, at time.Time) (model.SamplePair, error) {
	v := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64)}}
	body, err := get(p.client, p.base+"/api/v1/query?"+v.Encode())
	if err != nil {
		return model.SamplePair{}, err
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result model.Vector `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return model.SamplePair{}, fmt.Errorf("%s: %w: %s", q, err, body)
	}
	if len(r.Data.Result) != 1 {
		return model.SamplePair{}, fmt.Errorf("%s: %d series, want 1: %s", q, len(r.Data.Result), body)
	}
	s := r.Data.Result[0]
	return model.SamplePair{Timestamp: s.Timestamp, Value: s.Value}, nil
}

func (p *promAPI) value(t *testing.T, q string, at time.Time) float64 {
	t.Helper()
	s, err := p.query(q, at)
	if err != nil {
		t.Fatal(err)
	}
	return float64(s.Value)
}

// waitScrapeAfter waits until Prometheus holds a scrape of serve taken
// after t0.
func (p *promAPI) waitScrapeAfter(t *testing.T, t0 time.Time) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var s model.SamplePair
		if s, err = p.query(`timestamp(socktrace_build_info)`, time.Now()); err == nil && float64(s.Value) > float64(t0.UnixNano())/1e9 {
			return
		}
	}
	t.Fatalf("no scrape after %v within 30s (%v)", t0.Format(time.StampMilli), err)
}

// serveWorkload connects args[0] times to a listener of its own, closing
// each connection first, and args[1] times to a closed port.
func serveWorkload(args []string) error {
	if len(args) != 2 {
		return errors.New("serve-workload: want CONNECTS REFUSED")
	}
	n, _ := strconv.Atoi(args[0])
	m, _ := strconv.Atoi(args[1])
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			_, _ = io.Copy(io.Discard, c) // until the client's FIN
			c.Close()
		}
		served <- nil
	}()
	for range n {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		c.Close()
	}
	if err := <-served; err != nil {
		return err
	}
	for range m {
		if c, err := net.Dial("tcp4", "127.0.0.1:1"); err == nil {
			c.Close()
			return errors.New("a connect to port 1 succeeded")
		}
	}
	return nil
}

// After a quiet spell serve is still healthy when an event comes: the
// event waits in the ring up to the tracer's latency, which is no reader
// lagging behind.
func TestServeHealthyAfterQuiet(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	srv := startServe(t, ns)
	srv.waitHealthy(t)
	time.Sleep(2*time.Second + 500*time.Millisecond)
	// serve's own listener takes the connection: an accept, a close.
	c, err := dialIn(ns, "tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for range 40 {
		resp, err := srv.client.Get("http://" + srv.addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz %d %q right after a quiet spell", resp.StatusCode, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
