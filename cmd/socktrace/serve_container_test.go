package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/socktrace/socktrace/internal/nstest"
)

// serve --label container labels a connection's counters with where its
// owner runs: a server in a docker container accepts, a client in a CRI-O
// container connects, each in a cgroup named as its runtime names it; a
// real scrape of /metrics holds both.
func TestServeLabelsContainers(t *testing.T) {
	nstest.RequireRoot(t)
	root := cgroup2Root(t)
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	server, client := "docker-"+id+".scope", "crio-"+id+".scope"
	base := testCgroups(t, root, server, client)
	ns := nstest.New(t)
	srv := startServe(t, ns, "--label", "container")
	srv.waitHealthy(t)

	sp := ns.StartPeer(t, "cgroup-peer", "server")
	sp.Expect("ready")
	moveToCgroup(t, filepath.Join(base, server), sp.PID)
	sp.Send("go")
	port := sp.Expect("port")
	cp := ns.StartPeer(t, "cgroup-peer", "client")
	cp.Expect("ready")
	moveToCgroup(t, filepath.Join(base, client), cp.PID)
	cp.Send("go 127.0.0.1:" + port)
	cp.Expect("done")

	srv.waitCounters(t, []counterWant{
		{"socktrace_tcp_accepts_total", map[string]string{"family": "ipv4", "container": "docker:0123456789ab"}, 1},
		{"socktrace_tcp_connects_total", map[string]string{"family": "ipv4", "container": "cri-o:0123456789ab"}, 1},
	})
	srv.stopWithin(t, time.Second)
}

// counterWant is a counter's value a test waits for.
type counterWant struct {
	metric string
	labels map[string]string
	n      float64
}

// waitCounters scrapes serve until every counter has its value, for up to
// 10 s, and fails with the wrong ones and the scrape's lines of them.
func (s *serveRun) waitCounters(t *testing.T, want []counterWant) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		body, err := get(s.client, "http://"+s.addr+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.LegacyValidation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("scrape is not valid: %v", err)
		}
		var wrong []string
		names := map[string]bool{}
		for _, w := range want {
			names[w.metric] = true
			if got := counterValue(families[w.metric], w.labels); got != w.n {
				wrong = append(wrong, fmt.Sprintf("%s%v = %v, want %v", w.metric, w.labels, got, w.n))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s\nthe scrape's lines of them:\n%s", strings.Join(wrong, "\n"), grepLines(body, slices.Collect(maps.Keys(names))...))
		}
	}
}

// counterValue is the value of f's counter with exactly these labels; -1
// when there is none.
func counterValue(f *dto.MetricFamily, labels map[string]string) float64 {
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		return m.GetCounter().GetValue()
	}
	return -1
}

// grepLines is text's lines that begin with one of the prefixes.
func grepLines(text string, prefixes ...string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				b.WriteString(line)
				break
			}
		}
	}
	return b.String()
}
