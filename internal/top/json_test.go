package top

import (
	"encoding/json"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each row is one object with the fields, counts for the interval;
// a field the rows are not grouped by, or a percentile with no sample, is
// null; names are escaped; the summary object follows.
func TestJSON(t *testing.T) {
	a := NewAggregator(Options{MaxKeys: 2}, t0)
	c := newSock(100, "cli\x1b[2Jent\u202e", "10.0.0.1:40000", "10.0.0.2:8080", 0x1000)
	s := newSock(200, "server", "10.0.0.2:8080", "10.0.0.1:40000", 0x2000)
	x := newSock(300, "third", "10.0.0.1:40001", "10.0.0.3:80", 0x3000)
	feed(a, c.connect(0), c.established(0, 80*time.Microsecond), s.accept(0),
		c.ends(time.Millisecond, time.Millisecond, 5, 7, true), s.ends(time.Millisecond, time.Millisecond, 7, 5, false),
		x.connect(0), x.failed(0, syscall.ECONNREFUSED))
	rep := interval(a, time.Second)
	out := string(AppendJSON(nil, rep))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 3 rows and a summary:\n%s", len(lines), out)
	}
	if strings.ContainsAny(out, "\x1b\u202e") {
		t.Errorf("a name is not escaped: %q", out)
	}
	var objs []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		objs = append(objs, m)
	}
	fields := []string{"interval_end", "pid", "comm", "remote", "local_port", "connects", "accepts",
		"failed", "resets_sent", "resets_received", "retransmits", "syn_sent", "syn_recv", "time_wait",
		"connect_p50_us", "connect_p99_us", "lifetime_p50_us", "lifetime_p99_us", "bytes_sent", "bytes_received"}
	for _, m := range objs[:3] {
		for _, f := range fields {
			if _, ok := m[f]; !ok {
				t.Errorf("row %v lacks %q", m, f)
			}
		}
	}
	end := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)
	if !end.MatchString(objs[0]["interval_end"].(string)) {
		t.Errorf("interval_end %q is not RFC 3339 with nine digits", objs[0]["interval_end"])
	}
	cli := objs[0]
	if cli["comm"] != "cli\x1b[2Jent\u202e" || cli["pid"] != 100.0 || cli["remote"] != "10.0.0.2:8080" ||
		cli["connects"] != 1.0 || cli["time_wait"] != 1.0 || cli["bytes_sent"] != 5.0 ||
		cli["connect_p50_us"] != 80.0 || cli["local_port"] != 0.0 {
		t.Errorf("client row %v", cli)
	}
	srv := objs[1]
	if srv["remote"] != "10.0.0.1:*" || srv["accepts"] != 1.0 || srv["local_port"] != 8080.0 ||
		srv["connect_p50_us"] != nil || srv["lifetime_p50_us"] == nil {
		t.Errorf("server row %v", srv)
	}
	other := objs[2]
	if other["other"] != true || other["pid"] != nil || other["comm"] != nil || other["remote"] != nil ||
		other["failed"].(map[string]any)["ECONNREFUSED"] != 1.0 {
		t.Errorf("other row %v", other)
	}
	sum := objs[3]
	if sum["summary"] != true || sum["connects"] != 2.0 || sum["accepts"] != 1.0 || sum["failed"] != 1.0 ||
		sum["time_wait"] != 1.0 || sum["lost"] != 0.0 || sum["other_events"] != 2.0 ||
		sum["interval_ns"] != 1e9 || sum["by"] != "process,remote" || sum["interval_end"] != cli["interval_end"] {
		t.Errorf("summary %v", sum)
	}

	// Grouped by remote port only: the rest is null.
	a = NewAggregator(Options{By: ByRemotePort}, t0)
	feed(a, c.connect(0))
	var m map[string]any
	line, _, _ := strings.Cut(string(AppendJSON(nil, interval(a, time.Second))), "\n")
	if err := json.Unmarshal([]byte(line), &m); err != nil || m["pid"] != nil || m["comm"] != nil || m["remote"] != "*:8080" {
		t.Errorf("--by remote-port: %s (%v)", line, err)
	}
}
