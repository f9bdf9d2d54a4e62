package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// testNetNS is the network namespace of event's events: serve's own in
// the tests that heal.
const testNetNS = 4026531840

func event(kind tracer.Kind, old, new tcpstate.State, local, remote string) tracer.Event {
	ev := tracer.Event{Kind: kind, Old: old, New: new, Family: syscall.AF_INET, NetNS: testNetNS,
		Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote),
		Time: time.Now(), Flags: tracer.FlagOwnerKnown}
	copy(ev.Comm[:], "client")
	return ev
}

// A connection's life, as the tracer reports it in table mode, counted;
// the transitions between are the kernel's counts.
func TestApplyCountsAConnection(t *testing.T) {
	var kernel tracer.Transitions
	kernel[tcpstate.FinWait2][tcpstate.TimeWait] = 1
	kernel[tcpstate.Established][tcpstate.CloseWait] = 1
	m := New(Config{EphemeralLow: 32768, EphemeralHigh: 60999,
		Transitions: func() (tracer.Transitions, error) { return kernel, nil }})
	const c, s = "127.0.0.1:40000", "127.0.0.1:8080"
	for _, ev := range []tracer.Event{
		event(tracer.KindState, tcpstate.Close, tcpstate.SynSent, c, s),
		withPrev(event(tracer.KindState, tcpstate.SynSent, tcpstate.Established, c, s), 80*time.Microsecond),
		event(tracer.KindAccept, tcpstate.Established, tcpstate.Established, s, c),
		withSummary(event(tracer.KindState, tcpstate.FinWait2, tcpstate.TimeWait, c, s)),
		withSummary(event(tracer.KindState, tcpstate.LastAck, tcpstate.Close, s, c)),
		withErr(event(tracer.KindState, tcpstate.SynSent, tcpstate.Close, "127.0.0.1:40001", "127.0.0.1:9"), syscall.ECONNREFUSED),
		{Kind: tracer.KindLost, Lost: tracer.Lost{RingFull: 3, Recursion: 2}},
		event(tracer.KindTimeWaitEnd, tcpstate.TimeWait, tcpstate.Close, c, s),
	} {
		m.Apply(&ev)
	}
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"connects", testutil.ToFloat64(m.connects.WithLabelValues("ipv4")), 1},
		{"accepts", testutil.ToFloat64(m.accepts.WithLabelValues("ipv4")), 1},
		{"closes", testutil.ToFloat64(m.closes.WithLabelValues("ipv4")), 2},
		{"refused", testutil.ToFloat64(m.failures.WithLabelValues("ipv4", "ECONNREFUSED")), 1},
		{"sent bytes", testutil.ToFloat64(m.sent.WithLabelValues()), 200},
		{"lost ring", testutil.ToFloat64(m.lostRing), 3},
		{"lost recursion", testutil.ToFloat64(m.lostRecursion), 2},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.connDurationVec); n != 2 {
		t.Errorf("%d connection duration series, want client and server", n)
	}
	got := transitionCounts(t, m)
	for k, want := range map[string]float64{"ESTABLISHED>CLOSE_WAIT": 1, "FIN_WAIT2>TIME_WAIT": 1, "TIME_WAIT>CLOSE": 1, "SYN_SENT>CLOSE": 0} {
		if n, ok := got[k]; !ok || n != want {
			t.Errorf("transitions %s = %v (shown %v), want %v", k, n, ok, want)
		}
	}
	if len(got) != len(usual) {
		t.Errorf("%d transitions shown, want the %d usual ones: %v", len(got), len(usual), got)
	}
}

// transitionCounts is what m's transitions collector shows, by "FROM>TO".
func transitionCounts(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.transitions)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			l := mt.GetLabel()
			got[l[0].GetValue()+">"+l[1].GetValue()] = mt.GetCounter().GetValue()
		}
	}
	return got
}

// Counters never go back: once the tracer is closed, a scrape shows the
// kernel's last counts.
func TestTransitionsKeptAfterClose(t *testing.T) {
	var kernel tracer.Transitions
	kernel[tcpstate.Close][tcpstate.SynSent] = 7
	var err error
	m := New(Config{Transitions: func() (tracer.Transitions, error) { return kernel, err }})
	before := transitionCounts(t, m)["CLOSE>SYN_SENT"]
	err = errors.New("closed")
	kernel = tracer.Transitions{}
	if got := transitionCounts(t, m)["CLOSE>SYN_SENT"]; before != 7 || got != 7 {
		t.Errorf("CLOSE->SYN_SENT %v before the tracer closed, %v after; want 7 both times", before, got)
	}
}

func withPrev(ev tracer.Event, d time.Duration) tracer.Event {
	ev.Flags |= tracer.FlagPrevKnown
	ev.InState = d
	return ev
}

func withSummary(ev tracer.Event) tracer.Event {
	ev.Flags |= tracer.FlagSummary | tracer.FlagBornKnown
	ev.BytesSent, ev.BytesReceived, ev.SRTT, ev.Lifetime = 100, 50, 40*time.Microsecond, time.Millisecond
	return ev
}

func withErr(ev tracer.Event, e syscall.Errno) tracer.Event {
	ev.Err = e
	return ev
}

// resets_sent_total shows every reason the kernel names at 0 once the
// tracer is loaded, so that increase() sees the first reset of each; a
// kernel without reasons shows "unknown"; with opt-in labels nothing is
// made before it happens, as for the other counters.
func TestResetReasonsPrecreated(t *testing.T) {
	kernel := []string{"NOT_SPECIFIED", "NO_SOCKET", "TCP_STATE", "MAX"}
	named := func(code uint16) string {
		if int(code) < len(kernel) {
			return kernel[code]
		}
		return fmt.Sprintf("reason %d", code)
	}
	for _, c := range []struct {
		what   string
		cfg    Config
		names  func(uint16) string
		reset  bool // one reset, NO_SOCKET, sent
		series map[string]float64
	}{
		{"named", Config{ResetReason: named}, named, true, map[string]float64{"NOT_SPECIFIED": 0, "NO_SOCKET": 1, "TCP_STATE": 0}},
		{"no enum", Config{}, func(uint16) string { return "" }, true, map[string]float64{"unknown": 1}},
		{"labelled", Config{ResetReason: named, Labels: []string{LabelComm}}, named, false, map[string]float64{}},
	} {
		m := New(c.cfg)
		m.PrecreateResets(c.names)
		if c.reset {
			ev := event(tracer.KindResetSent, tcpstate.Established, tcpstate.Established, "127.0.0.1:80", "127.0.0.1:40000")
			ev.Reason = 1
			m.Apply(&ev)
		}
		got := map[string]float64{}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(m.resetsSent)
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			for _, mt := range f.GetMetric() {
				got[mt.GetLabel()[0].GetValue()] = mt.GetCounter().GetValue()
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.series) {
			t.Errorf("%s: resets_sent_total %v, want %v", c.what, got, c.series)
		}
	}
}

// A scrape shows what the agent itself costs: its memory, CPU time and
// goroutines, as Prometheus' Go and process collectors read them.
func TestAgentMetrics(t *testing.T) {
	families, err := New(Config{}).Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if m := f.GetMetric(); len(m) == 1 {
			got[f.GetName()] = m[0].GetGauge().GetValue() + m[0].GetCounter().GetValue()
		}
	}
	for _, name := range []string{"process_resident_memory_bytes", "go_goroutines", "go_memstats_heap_alloc_bytes"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v, want more than 0", name, got[name])
		}
	}
	if _, ok := got["process_cpu_seconds_total"]; !ok {
		t.Error("no process_cpu_seconds_total")
	}
}

// Past --max-series values, a label folds into "other" and counts it.
func TestLabelsFoldPastTheCap(t *testing.T) {
	m := New(Config{Labels: []string{LabelComm}, MaxSeries: 2})
	for i := range 5 {
		ev := event(tracer.KindState, tcpstate.Close, tcpstate.SynSent, fmt.Sprintf("127.0.0.1:%d", 40000+i), "127.0.0.1:80")
		ev.Comm = snapshot.Comm{}
		copy(ev.Comm[:], fmt.Sprintf("proc%d", i))
		m.Apply(&ev)
	}
	if got := testutil.ToFloat64(m.connects.WithLabelValues("ipv4", "other")); got != 3 {
		t.Errorf("connects folded into other = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.droppedVec.WithLabelValues(LabelComm)); got != 3 {
		t.Errorf("series_dropped_total = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.connects.WithLabelValues("ipv4", "proc0")); got != 1 {
		t.Errorf("proc0's connects = %v, want 1", got)
	}
}

// A connection missing from two socket tables in a row, with no event
// since, was closed: the close whose event was lost is counted.
func TestHealLostClose(t *testing.T) {
	m := New(Config{NetNS: testNetNS})
	ev := event(tracer.KindState, tcpstate.Close, tcpstate.SynSent, "127.0.0.1:40000", "127.0.0.1:80")
	ev.Time = time.Now().Add(-time.Second)
	m.Apply(&ev)
	m.open.heal(m.netns, nil, time.Now(), m.healed)
	if got := testutil.ToFloat64(m.closes.WithLabelValues("ipv4")); got != 0 {
		t.Fatalf("healed after one missing table: closes = %v", got)
	}
	m.open.heal(m.netns, nil, time.Now(), m.healed)
	if got := testutil.ToFloat64(m.closes.WithLabelValues("ipv4")); got != 1 {
		t.Errorf("closes = %v after two missing tables, want 1", got)
	}
	if got := testutil.ToFloat64(m.healed); got != 1 {
		t.Errorf("closes_healed_total = %v, want 1", got)
	}
}

// accept() may return a child reset while it waited in the accept queue:
// its close came first, and the accept must not open it again, or healing
// would count its close twice.
func TestAcceptOfClosedChild(t *testing.T) {
	m := New(Config{NetNS: testNetNS})
	const s, c = "127.0.0.1:8080", "127.0.0.1:40000"
	for _, ev := range []tracer.Event{
		event(tracer.KindState, tcpstate.SynRecv, tcpstate.Close, s, c),
		event(tracer.KindAccept, tcpstate.Close, tcpstate.Close, s, c),
	} {
		ev.Time = time.Now().Add(-time.Second)
		m.Apply(&ev)
	}
	m.open.heal(m.netns, nil, time.Now(), m.healed)
	m.open.heal(m.netns, nil, time.Now(), m.healed)
	if got := testutil.ToFloat64(m.closes.WithLabelValues("ipv4")); got != 1 {
		t.Errorf("closes = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.accepts.WithLabelValues("ipv4")); got != 1 {
		t.Errorf("accepts = %v, want 1", got)
	}
}

// Healing goes by the socket table: a connection it holds is never healed
// however quiet, and one it lacks is healed at the second table in a row
// without it.
func TestHealByTheTable(t *testing.T) {
	m := New(Config{NetNS: testNetNS})
	const held, flickers, gone = "127.0.0.1:40000", "127.0.0.1:40001", "127.0.0.1:40002"
	for _, c := range []string{held, flickers, gone} {
		ev := event(tracer.KindState, tcpstate.Close, tcpstate.SynSent, c, "127.0.0.1:80")
		ev.Time = time.Now().Add(-time.Second)
		m.Apply(&ev)
	}
	row := func(local string) snapshot.Socket {
		return snapshot.Socket{Proto: snapshot.TCP, State: tcpstate.Established,
			Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort("127.0.0.1:80")}
	}
	other := row("127.0.0.1:40003") // a connection serve did not see open
	for i, c := range []struct {
		rows   []snapshot.Socket
		closes float64
	}{
		{[]snapshot.Socket{row(held), other}, 0},
		{[]snapshot.Socket{row(held), row(flickers), other}, 1},
		{[]snapshot.Socket{row(held)}, 1},
		{[]snapshot.Socket{row(held)}, 2},
		{[]snapshot.Socket{row(held)}, 2},
	} {
		m.open.heal(m.netns, c.rows, time.Now(), m.healed)
		if got := testutil.ToFloat64(m.closes.WithLabelValues("ipv4")); got != c.closes {
			t.Errorf("after table %d: closes = %v, want %v", i+1, got, c.closes)
		}
	}
	if n := len(m.open.conns); n != 1 {
		t.Errorf("%d connections still open, want 1 (%s)", n, held)
	}
}

// The same tuple in two network namespaces is two connections: each ends
// in the role and series of its own opening. A connection of another
// namespace is never healed by serve's own socket table.
func TestSameTupleInTwoNamespaces(t *testing.T) {
	m := New(Config{NetNS: testNetNS})
	const c, s = "127.0.0.1:40000", "127.0.0.1:8080"
	for _, ns := range []uint32{testNetNS, testNetNS + 1} {
		open := event(tracer.KindState, tcpstate.Close, tcpstate.SynSent, c, s)
		open.NetNS, open.Flags = ns, open.Flags|tracer.FlagBornKnown
		open.Time = time.Now().Add(-time.Second)
		m.Apply(&open)
	}
	m.open.heal(m.netns, nil, time.Now(), m.healed)
	m.open.heal(m.netns, nil, time.Now(), m.healed)
	if got := testutil.ToFloat64(m.healed); got != 1 {
		t.Errorf("closes_healed_total = %v after two tables without the tuple, want 1 (only serve's namespace's)", got)
	}
	end := withSummary(event(tracer.KindState, tcpstate.FinWait2, tcpstate.TimeWait, c, s))
	end.NetNS = testNetNS + 1
	m.Apply(&end)
	if got := testutil.ToFloat64(m.closes.WithLabelValues("ipv4")); got != 2 {
		t.Errorf("closes = %v, want 2: one healed, one ended", got)
	}
	if got := histogramCount(t, m.connDuration[roleClient]); got != 1 {
		t.Errorf("%v client connection durations, want 1: the other namespace's connection was still known", got)
	}
}

// histogramCount is the number of observations in o, a histogram.
func histogramCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var d dto.Metric
	if err := o.(prometheus.Metric).Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetHistogram().GetSampleCount()
}

func TestApplyAllocatesNothing(t *testing.T) {
	m := New(Config{Labels: []string{LabelComm, LabelContainer, LabelServicePort}, EphemeralLow: 32768, EphemeralHigh: 60999,
		Container: fakeContainers{}.name})
	evs := connectionEvents()
	for i := range evs {
		m.Apply(&evs[i])
	}
	if n := testing.AllocsPerRun(100, func() {
		for i := range evs {
			m.Apply(&evs[i])
		}
	}); n != 0 {
		t.Errorf("Apply allocates %v times per connection, want 0", n)
	}
}

// fakeContainers names the container of a pid, as a container.Resolver
// would from its cache: "" for a process in none; a pid it lacks is one
// whose cgroup could not be read.
type fakeContainers map[uint32]string

func (f fakeContainers) name(pid uint32, _ uint64, _ snapshot.Comm, _ time.Time) (string, bool) {
	name, ok := f[pid]
	return name, ok
}

// The container label is the owner's container, "none" for a process in
// none, "unknown" without an owner or when its cgroup could not be read,
// and past --max-series values folds into "other", counted; "none" and
// "unknown" are never folded.
func TestContainerLabel(t *testing.T) {
	names := fakeContainers{10: "docker:0123456789ab", 11: "ns/web", 12: "cri-o:fedcba987654", 13: "nginx.service", 14: ""}
	m := New(Config{Labels: []string{LabelContainer}, MaxSeries: 2, Container: names.name})
	for i, pid := range []uint32{10, 11, 10, 12, 13, 0, 14, 15} {
		ev := event(tracer.KindState, tcpstate.Close, tcpstate.SynSent, fmt.Sprintf("127.0.0.1:%d", 40000+i), "127.0.0.1:80")
		ev.PID = pid
		if pid == 0 {
			ev.Flags &^= tracer.FlagOwnerKnown
		}
		m.Apply(&ev)
	}
	for _, c := range []struct {
		container string
		want      float64
	}{{"docker:0123456789ab", 2}, {"ns/web", 1}, {"other", 2}, {"none", 1}, {"unknown", 2}} {
		if got := testutil.ToFloat64(m.connects.WithLabelValues("ipv4", c.container)); got != c.want {
			t.Errorf("connects of container %q = %v, want %v", c.container, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.droppedVec.WithLabelValues(LabelContainer)); got != 2 {
		t.Errorf("series_dropped_total{label=container} = %v, want 2", got)
	}
	// A connection's end counts in the series of its opening, whoever
	// the close event names.
	end := withSummary(event(tracer.KindState, tcpstate.LastAck, tcpstate.Close, "127.0.0.1:40000", "127.0.0.1:80"))
	end.PID = 13
	m.Apply(&end)
	if got := testutil.ToFloat64(m.closes.WithLabelValues("ipv4", "docker:0123456789ab")); got != 1 {
		t.Errorf("closes of docker:0123456789ab = %v, want 1", got)
	}
}

// With every opt-in label, the labels are in one order: comm, container,
// service_port.
func TestLabelOrder(t *testing.T) {
	m := New(Config{Labels: []string{LabelServicePort, LabelContainer, LabelComm}, EphemeralLow: 32768, EphemeralHigh: 60999,
		Container: fakeContainers{7: "podman:abc"}.name})
	ev := event(tracer.KindAccept, tcpstate.Established, tcpstate.Established, "127.0.0.1:8080", "127.0.0.1:40000")
	ev.PID = 7
	m.Apply(&ev)
	if got := testutil.ToFloat64(m.accepts.WithLabelValues("ipv4", "client", "podman:abc", "8080")); got != 1 {
		t.Errorf("accepts{comm=client,container=podman:abc,service_port=8080} = %v, want 1", got)
	}
}

func connectionEvents() []tracer.Event {
	const c, s = "127.0.0.1:40000", "127.0.0.1:8080"
	return []tracer.Event{
		event(tracer.KindState, tcpstate.Close, tcpstate.SynSent, c, s),
		event(tracer.KindState, tcpstate.Listen, tcpstate.SynRecv, s, c),
		withPrev(event(tracer.KindState, tcpstate.SynSent, tcpstate.Established, c, s), 80*time.Microsecond),
		event(tracer.KindState, tcpstate.SynRecv, tcpstate.Established, s, c),
		event(tracer.KindAccept, tcpstate.Established, tcpstate.Established, s, c),
		event(tracer.KindState, tcpstate.Established, tcpstate.FinWait1, c, s),
		event(tracer.KindState, tcpstate.Established, tcpstate.CloseWait, s, c),
		event(tracer.KindState, tcpstate.CloseWait, tcpstate.LastAck, s, c),
		event(tracer.KindState, tcpstate.FinWait1, tcpstate.FinWait2, c, s),
		withSummary(event(tracer.KindState, tcpstate.FinWait2, tcpstate.TimeWait, c, s)),
		withSummary(event(tracer.KindState, tcpstate.LastAck, tcpstate.Close, s, c)),
	}
}

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr     string
		external bool
		ok       bool
	}{
		{"127.0.0.1:9464", false, true},
		{"[::1]:9464", false, true},
		{"localhost:9464", false, true},
		{"0.0.0.0:9464", false, false},
		{":9464", false, false},
		{"192.0.2.1:9464", false, false},
		{"192.0.2.1:9464", true, true},
		{"127.0.0.1", false, false},
		{"127.0.0.1:99999", false, false},
	} {
		if err := CheckListen(c.addr, c.external); (err == nil) != c.ok {
			t.Errorf("CheckListen(%q, %v) = %v, want ok %v", c.addr, c.external, err, c.ok)
		}
	}
}

func TestCheckLabels(t *testing.T) {
	for _, c := range []struct {
		labels []string
		want   string // in the error; "" for none
	}{
		{[]string{"comm", "service-port"}, ""},
		{[]string{"container", "service_port"}, ""},
		{[]string{"pid"}, "want comm, container or service-port"},
		{[]string{"container", "container"}, "given twice"},
		{[]string{"comm", "comm"}, "given twice"},
	} {
		err := CheckLabels(c.labels)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckLabels(%q) = %v, want %q", c.labels, err, c.want)
		}
	}
}

// /healthz is 503 until the tracer is attached.
func TestHealthBeforeAttach(t *testing.T) {
	rec := httptest.NewRecorder()
	(&server{}).health(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("healthz before attach: %d, want 503", rec.Code)
	}
}

// The scrape with 10,000 series the issue bounds (under 50 ms): one comm
// label at its cap, every series counted once.
func BenchmarkScrape10kSeries(b *testing.B) {
	m := New(Config{Labels: []string{LabelComm}, MaxSeries: 10000})
	ev := event(tracer.KindAccept, tcpstate.Established, tcpstate.Established, "127.0.0.1:80", "127.0.0.1:40000")
	for i := range 10000 {
		ev.Comm = snapshot.Comm{}
		copy(ev.Comm[:], fmt.Sprintf("p%d", i))
		m.Apply(&ev)
	}
	// One accepts_total series per comm, made on its first accept.
	var buf bytes.Buffer
	b.ResetTimer()
	for b.Loop() {
		buf.Reset()
		families, err := m.Registry().Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, f := range families {
			if err := enc.Encode(f); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/scrape")
}

func BenchmarkApplyConnection(b *testing.B) {
	benchmarkApply(b, Config{EphemeralLow: 32768, EphemeralHigh: 60999})
}

// Every opt-in label on: the per-event cost of finding the series.
func BenchmarkApplyConnectionLabelled(b *testing.B) {
	benchmarkApply(b, Config{Labels: []string{LabelComm, LabelContainer, LabelServicePort},
		EphemeralLow: 32768, EphemeralHigh: 60999, Container: fakeContainers{0: "docker:0123456789ab"}.name})
}

func benchmarkApply(b *testing.B, cfg Config) {
	m := New(cfg)
	evs := connectionEvents()
	b.ReportAllocs()
	for b.Loop() {
		for i := range evs {
			m.Apply(&evs[i])
		}
	}
}

// /healthz is 503 while serve cannot be trusted to count everything: not
// attached, behind the ring, or losing events to a full ring lately.
func TestHealthOf(t *testing.T) {
	never := time.Duration(1 << 62)
	for _, tc := range []struct {
		attached, pending bool
		behind, sinceLoss time.Duration
		want              int
	}{
		{false, false, 0, never, http.StatusServiceUnavailable},
		{true, false, 0, never, http.StatusOK},
		{true, true, time.Second, never, http.StatusOK},
		{true, true, 3 * time.Second, never, http.StatusServiceUnavailable},
		{true, false, 0, 2 * time.Second, http.StatusServiceUnavailable},
		{true, false, 0, 11 * time.Second, http.StatusOK},
	} {
		if got, msg := healthOf(tc.attached, tc.pending, tc.behind, tc.sinceLoss); got != tc.want {
			t.Errorf("attached %v, pending %v, behind %v, lost %v ago: %d %q, want %d",
				tc.attached, tc.pending, tc.behind, tc.sinceLoss, got, msg, tc.want)
		}
	}
}
