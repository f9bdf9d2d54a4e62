package top

import (
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

var t0 = time.Date(2026, 12, 6, 20, 48, 19, 0, time.UTC)

// sock is a synthetic socket: the events a test feeds for it.
type sock struct {
	pid           uint32
	comm          string
	local, remote netip.AddrPort
	addr          uint64 // kernel address
	netns         uint32
}

func newSock(pid uint32, comm, local, remote string, addr uint64) sock {
	return sock{pid: pid, comm: comm, local: netip.MustParseAddrPort(local),
		remote: netip.MustParseAddrPort(remote), addr: addr, netns: 4026531840}
}

func (s sock) event(kind tracer.Kind, old, new tcpstate.State, at time.Duration) tracer.Event {
	fam := uint16(syscall.AF_INET)
	if s.local.Addr().Is6() {
		fam = syscall.AF_INET6
	}
	return tracer.Event{Time: t0.Add(at), Kind: kind, Old: old, New: new, Family: fam,
		Local: s.local, Remote: s.remote, PID: s.pid, TID: s.pid, Comm: snapshot.CommOf(s.comm),
		Sock: s.addr, NetNS: s.netns, Flags: tracer.FlagOwnerKnown}
}

func (s sock) connect(at time.Duration) tracer.Event {
	e := s.event(tracer.KindState, tcpstate.Close, tcpstate.SynSent, at)
	e.Flags |= tracer.FlagBornKnown
	return e
}

func (s sock) established(at, latency time.Duration) tracer.Event {
	e := s.event(tracer.KindState, tcpstate.SynSent, tcpstate.Established, at)
	e.Flags |= tracer.FlagPrevKnown | tracer.FlagBornKnown
	e.InState, e.Lifetime = latency, latency
	return e
}

func (s sock) failed(at time.Duration, err syscall.Errno) tracer.Event {
	e := s.event(tracer.KindState, tcpstate.SynSent, tcpstate.Close, at)
	e.Flags |= tracer.FlagBornKnown | tracer.FlagSummary
	e.Err = err
	return e
}

// ends is the socket's close, as table mode with summaries sends it: into
// TIME_WAIT for the side that closed first, else to CLOSE.
func (s sock) ends(at, lifetime time.Duration, sent, received uint64, timeWait bool) tracer.Event {
	e := s.event(tracer.KindState, tcpstate.LastAck, tcpstate.Close, at)
	if timeWait {
		e.Old, e.New = tcpstate.FinWait2, tcpstate.TimeWait
		e.Flags |= tracer.FlagTimeWaitDerived
	}
	e.Flags |= tracer.FlagBornKnown | tracer.FlagSummary
	e.Lifetime, e.BytesSent, e.BytesReceived = lifetime, sent, received
	return e
}

// timeWaitEnd is as the kernel reads it from the timewait socket: the
// tuple, another address, no owner.
func (s sock) timeWaitEnd(at time.Duration) tracer.Event {
	e := s.event(tracer.KindTimeWaitEnd, tcpstate.TimeWait, tcpstate.Close, at)
	e.PID, e.TID, e.Comm, e.Flags, e.Sock = 0, 0, snapshot.Comm{}, tracer.FlagExpired, s.addr+1
	return e
}

func (s sock) accept(at time.Duration) tracer.Event {
	return s.event(tracer.KindAccept, tcpstate.Established, tcpstate.Established, at)
}

func feed(a *Aggregator, evs ...tracer.Event) {
	for i := range evs {
		a.Add(&evs[i])
	}
}

func interval(a *Aggregator, end time.Duration) *Report {
	rep := &Report{}
	a.Interval(rep, t0.Add(end))
	rep.Sort(SortConnects)
	return rep
}

// rowOf finds the row whose group reads like want ("pid comm remote").
func rowOf(t *testing.T, rep *Report, want string) *Row {
	t.Helper()
	for i := range rep.Rows {
		if r := &rep.Rows[i]; groupText(rep.By, r) == want {
			return r
		}
	}
	var have []string
	for i := range rep.Rows {
		have = append(have, groupText(rep.By, &rep.Rows[i]))
	}
	t.Fatalf("no row %q; rows: %q", want, have)
	return nil
}

// groupText leaves out the CONTAINER column that grouping by process adds:
// containers_test.go tests it.
func groupText(by By, r *Row) string {
	c := groupCells(by, r)
	if by&(ByProcess|ByContainer) == ByProcess {
		c = append(c[:2], c[3:]...)
	}
	return strings.Join(c, " ")
}

// A client connects three times to a server, closing first each time:
// its row counts the connects, their latency and its sockets in
// TIME_WAIT, which leave the row as their ends come; the server's row
// counts the accepts, its clients' ports shown as "*".
func TestClientAndServerRows(t *testing.T) {
	a := NewAggregator(Options{}, t0)
	var clients []sock
	for i, lat := range []time.Duration{100 * time.Microsecond, 200 * time.Microsecond, 300 * time.Microsecond} {
		port := 40000 + i
		c := newSock(100, "client", "10.0.0.1:"+strconv.Itoa(port), "10.0.0.2:8080", uint64(0x1000+i*0x100))
		s := newSock(200, "server", "10.0.0.2:8080", "10.0.0.1:"+strconv.Itoa(port), uint64(0x9000+i*0x100))
		clients = append(clients, c)
		at := time.Duration(i) * time.Millisecond
		feed(a, c.connect(at), c.established(at+lat, lat), s.accept(at+lat),
			c.ends(at+time.Millisecond, time.Millisecond, 5, 7, true),
			s.ends(at+time.Millisecond, 900*time.Microsecond, 7, 5, false))
	}
	rep := interval(a, time.Second)
	cli := rowOf(t, rep, "100 client 10.0.0.2:8080")
	if cli.Connects != 3 || cli.Accepts != 0 || cli.Failed != 0 || cli.SynSent != 0 || cli.TimeWait != 3 ||
		cli.BytesSent != 15 || cli.BytesReceived != 21 || cli.LocalPort != 0 {
		t.Errorf("client row %+v", *cli)
	}
	if cli.ConnectP50 < 175 || cli.ConnectP50 > 225 || cli.ConnectP99 < 262 || cli.ConnectP99 > 338 {
		t.Errorf("client connect p50 %dus, p99 %dus: want 200us and 300us within 1/8", cli.ConnectP50, cli.ConnectP99)
	}
	if cli.LifetimeP50 < 875 || cli.LifetimeP50 > 1125 {
		t.Errorf("client lifetime p50 %dus, want 1000us within 1/8", cli.LifetimeP50)
	}
	srv := rowOf(t, rep, "200 server 10.0.0.1:*")
	if srv.Accepts != 3 || srv.Connects != 0 || srv.TimeWait != 0 || srv.LocalPort != 8080 ||
		srv.ConnectP50 != -1 || srv.BytesSent != 21 {
		t.Errorf("server row %+v", *srv)
	}
	if tot := rep.Totals; tot.Connects != 3 || tot.Accepts != 3 || tot.TimeWait != 3 || rep.Interval != time.Second {
		t.Errorf("totals %+v over %v", tot, rep.Interval)
	}

	// Two TIME_WAITs end: the client's row now owns one, and counts
	// nothing else; the server's row, owning nothing, was dropped.
	feed(a, clients[0].timeWaitEnd(2*time.Second), clients[1].timeWaitEnd(2*time.Second))
	rep = interval(a, 2*time.Second)
	if len(rep.Rows) != 1 {
		t.Fatalf("rows %+v, want the client's only", rep.Rows)
	}
	if cli := rowOf(t, rep, "100 client 10.0.0.2:8080"); cli.TimeWait != 1 || cli.Connects != 0 || cli.ConnectP50 != -1 {
		t.Errorf("client row after two ends: %+v", *cli)
	}
	feed(a, clients[2].timeWaitEnd(3*time.Second))
	if rep = interval(a, 3*time.Second); len(rep.Rows) != 0 || rep.Totals.TimeWait != 0 {
		t.Errorf("rows after every end: %+v, totals %+v", rep.Rows, rep.Totals)
	}
	if len(a.index) != 0 {
		t.Errorf("%d rows kept, want none", len(a.index))
	}
}

// A connect counts in SYN_SENT until its end: the row stays while it does,
// and a failure counts by reason, most frequent first.
func TestConnectingAndFailed(t *testing.T) {
	a := NewAggregator(Options{}, t0)
	c := newSock(100, "client", "10.0.0.1:40000", "10.0.0.9:80", 0x1000)
	feed(a, c.connect(0))
	rep := interval(a, time.Second)
	if r := rowOf(t, rep, "100 client 10.0.0.9:80"); r.Connects != 1 || r.SynSent != 1 || rep.Totals.SynSent != 1 {
		t.Errorf("connecting: %+v", *r)
	}
	rep = interval(a, 2*time.Second)
	if r := rowOf(t, rep, "100 client 10.0.0.9:80"); r.Connects != 0 || r.SynSent != 1 {
		t.Errorf("still connecting: %+v", *r)
	}
	feed(a, c.failed(3*time.Second, syscall.ETIMEDOUT))
	for i := range 3 {
		r := newSock(100, "client", "10.0.0.1:"+strconv.Itoa(40001+i), "10.0.0.9:80", uint64(0x2000+i))
		feed(a, r.connect(3*time.Second), r.failed(3*time.Second, syscall.ECONNREFUSED))
	}
	rep = interval(a, 3*time.Second)
	r := rowOf(t, rep, "100 client 10.0.0.9:80")
	if r.Connects != 3 || r.Failed != 4 || r.SynSent != 0 || r.LifetimeP50 != -1 {
		t.Errorf("failed: %+v", *r)
	}
	if got := reasons(r.Failures, time.Second); got != "ECONNREFUSED 3 ETIMEDOUT 1" {
		t.Errorf("reasons %q", got)
	}
}

// A row keeps maxReasons reasons apart; the rest are summed up as other,
// never dropped.
func TestFailureReasonsBounded(t *testing.T) {
	a := NewAggregator(Options{}, t0)
	c := newSock(100, "client", "10.0.0.1:40000", "10.0.0.9:80", 0x1000)
	errs := []syscall.Errno{0, syscall.ECONNREFUSED, syscall.ETIMEDOUT, syscall.EHOSTUNREACH,
		syscall.ENETUNREACH, syscall.ECONNRESET, syscall.EACCES, syscall.EPERM}
	for _, err := range errs {
		feed(a, c.connect(0), c.failed(0, err))
	}
	r := rowOf(t, interval(a, time.Second), "100 client 10.0.0.9:80")
	var sum uint64
	names := map[string]bool{}
	for _, f := range r.Failures {
		sum += f.Count
		names[ReasonName(f.Reason)] = true
	}
	if sum != uint64(len(errs)) || r.Failed != uint64(len(errs)) || len(r.Failures) != maxReasons ||
		!names["aborted"] || !names["other"] || !names["ECONNREFUSED"] {
		t.Errorf("failures %+v (failed %d), want %d in %d reasons", r.Failures, r.Failed, len(errs), maxReasons)
	}
}

// --by: comm sums the pids of a name, remote-port the addresses of a port,
// local-port shows a server's port; an ephemeral port is "*".
func TestGroupBy(t *testing.T) {
	socks := []sock{
		newSock(100, "curl", "10.0.0.1:40000", "10.0.0.2:443", 0x1000),
		newSock(101, "curl", "10.0.0.1:40001", "10.0.0.3:443", 0x2000),
		newSock(102, "wget", "10.0.0.1:40002", "10.0.0.3:80", 0x3000),
		newSock(103, "wget", "[fd00::1]:40003", "[fd00::3]:80", 0x4000),
	}
	for _, tc := range []struct {
		by   string
		want []string // group: connects
	}{
		{"process,remote", []string{"100 curl 10.0.0.2:443: 1", "101 curl 10.0.0.3:443: 1",
			"102 wget 10.0.0.3:80: 1", "103 wget [fd00::3]:80: 1"}},
		{"comm", []string{"curl: 2", "wget: 2"}},
		{"remote-port", []string{"80: 2", "443: 2"}},
		{"remote", []string{"10.0.0.2:443: 1", "10.0.0.3:80: 1", "10.0.0.3:443: 1", "[fd00::3]:80: 1"}},
		{"local-port", []string{"*: 4"}},
		{"comm,remote-port", []string{"curl 443: 2", "wget 80: 2"}},
	} {
		by, err := ParseBy(tc.by)
		if err != nil {
			t.Fatal(err)
		}
		a := NewAggregator(Options{By: by}, t0)
		for _, s := range socks {
			feed(a, s.connect(0))
		}
		rep := interval(a, time.Second)
		var got []string
		for i := range rep.Rows {
			got = append(got, groupText(by, &rep.Rows[i])+": "+strconv.Itoa(int(rep.Rows[i].Connects)))
		}
		if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
			t.Errorf("--by %s: rows %q, want %q", tc.by, got, tc.want)
		}
	}
}

func TestParseBy(t *testing.T) {
	for in, want := range map[string]By{
		"process,remote":     ByProcess | ByRemote,
		"Comm":               ByComm,
		"process,comm":       ByProcess,
		"remote,remote-port": ByRemote,
		" local-port ,comm":  ByLocalPort | ByComm,
	} {
		if got, err := ParseBy(in); err != nil || got != want {
			t.Errorf("ParseBy(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "pid", "process,", "remote;comm"} {
		if _, err := ParseBy(in); err == nil || strings.Contains(err.Error(), "\n") ||
			!strings.Contains(err.Error(), strings.Join(ByNames(), ", ")) {
			t.Errorf("ParseBy(%q): error %v, want one line naming the fields", in, err)
		}
	}
}

// Past MaxKeys rows, events count in the other row, last whatever the
// sort; the header and the totals say so. Rows that own nothing make room
// again at the next interval.
func TestMaxKeysOther(t *testing.T) {
	a := NewAggregator(Options{MaxKeys: 2}, t0)
	for i := range 5 {
		s := newSock(uint32(100+i), "client", "10.0.0.1:"+strconv.Itoa(40000+i), "10.0.0.2:80", uint64(0x1000*(i+1)))
		evs := []tracer.Event{s.connect(0), s.failed(0, syscall.ECONNREFUSED)}
		if i == 4 {
			evs = append(evs, s.connect(0), s.failed(0, syscall.ECONNREFUSED))
		}
		feed(a, evs...)
	}
	rep := interval(a, time.Second)
	if len(rep.Rows) != 3 || rep.Groups != 2 {
		t.Fatalf("rows %+v (groups %d), want two and other", rep.Rows, rep.Groups)
	}
	other := rep.Rows[2]
	if !other.Other || other.Connects != 4 || other.Failed != 4 || rep.Totals.Connects != 6 ||
		rep.Totals.OtherEvents != 8 {
		t.Errorf("other row %+v, totals %+v", other, rep.Totals)
	}
	if got := groupText(rep.By, &other); got != "other  " {
		t.Errorf("other row's group %q", got)
	}
	if h := headerLine(rep); !strings.Contains(h, "8 events in other (--max-keys 2)") {
		t.Errorf("header line %q does not count other's events", h)
	}
	// The next interval has room again: no row owns a socket.
	s := newSock(104, "client", "10.0.0.1:40004", "10.0.0.2:80", 0x5000)
	feed(a, s.connect(0), s.failed(0, syscall.ECONNREFUSED))
	rep = interval(a, 2*time.Second)
	if len(rep.Rows) != 1 || rep.Rows[0].Other || rep.Totals.OtherEvents != 0 {
		t.Errorf("next interval: rows %+v, totals %+v", rep.Rows, rep.Totals)
	}
}

// --sort orders by the column, largest first, ties by group; First keeps
// n rows and the other row.
func TestSortAndFirst(t *testing.T) {
	a := NewAggregator(Options{MaxKeys: 3}, t0)
	add := func(pid uint32, connects, fails int) {
		s := newSock(pid, "c", "10.0.0.1:40000", "10.0.0.2:80", uint64(pid)<<12)
		for range connects {
			feed(a, s.connect(0), s.established(0, time.Millisecond))
		}
		for range fails {
			feed(a, s.connect(0), s.failed(0, syscall.ECONNREFUSED))
		}
	}
	add(1, 1, 3)
	add(2, 5, 0)
	add(3, 1, 3)
	add(4, 9, 9) // past --max-keys: other
	rep := &Report{}
	a.Interval(rep, t0.Add(time.Second))
	order := func() string {
		var pids []string
		for i := range rep.Rows {
			pids = append(pids, strings.Fields(groupText(rep.By, &rep.Rows[i]))[0])
		}
		return strings.Join(pids, " ")
	}
	for _, tc := range []struct {
		col  Column
		want string
	}{
		{SortConnects, "2 1 3 other"},
		{SortFailed, "1 3 2 other"},
		{SortConnectP50, "1 2 3 other"},
	} {
		rep.Sort(tc.col)
		if got := order(); got != tc.want {
			t.Errorf("--sort %v: %s, want %s", tc.col, got, tc.want)
		}
	}
	rep.Sort(SortFailed)
	first := rep.First(1)
	if len(first.Rows) != 2 || first.Rows[0].PID != 1 || !first.Rows[1].Other || first.Groups != 3 {
		t.Errorf("First(1): %+v", first.Rows)
	}
	if h := headerLine(&first); !strings.Contains(h, "top 1 of 3 rows") {
		t.Errorf("header line %q does not say rows were left out", h)
	}
}

func TestParseColumn(t *testing.T) {
	for in, want := range map[string]Column{
		"connects": SortConnects, "TIME_WAIT": SortTimeWait, "time-wait": SortTimeWait,
		"connect_p99_us": SortConnectP99, "resets": SortResets, "bytes-received": SortBytesReceived,
	} {
		if got, err := ParseColumn(in); err != nil || got != want {
			t.Errorf("ParseColumn(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseColumn("speed"); err == nil || !strings.Contains(err.Error(), "connects, accepts") {
		t.Errorf("ParseColumn(speed): %v", err)
	}
	for i, name := range ColumnNames() {
		if Column(i).String() != name {
			t.Errorf("column %d is %q, named %q", i, Column(i), name)
		}
	}
}

// Resets and retransmits count on the row of the socket's owner; a reset
// the kernel sent for a packet no socket took has no owner.
func TestResetsAndRetransmits(t *testing.T) {
	a := NewAggregator(Options{}, t0)
	c := newSock(100, "client", "10.0.0.1:40000", "10.0.0.2:8080", 0x1000)
	s := newSock(200, "server", "10.0.0.2:8080", "10.0.0.1:40000", 0x2000)
	stray := newSock(0, "", "10.0.0.2:9", "10.0.0.1:40001", 0)
	noOwner := stray.event(tracer.KindResetSent, 0, 0, 0)
	noOwner.Flags = 0
	feed(a, c.event(tracer.KindRetransmit, tcpstate.Established, tcpstate.Established, 0),
		c.event(tracer.KindRetransmit, tcpstate.Established, tcpstate.Established, 0),
		c.event(tracer.KindResetSent, tcpstate.Established, tcpstate.Close, 0),
		s.event(tracer.KindResetReceived, tcpstate.Established, tcpstate.Close, 0),
		noOwner)
	rep := interval(a, time.Second)
	if r := rowOf(t, rep, "100 client 10.0.0.2:8080"); r.Retransmits != 2 || r.ResetsSent != 1 || r.ResetsReceived != 0 {
		t.Errorf("client row %+v", *r)
	}
	if r := rowOf(t, rep, "200 server 10.0.0.1:*"); r.ResetsReceived != 1 || r.ResetsSent != 0 {
		t.Errorf("server row %+v", *r)
	}
	if r := rowOf(t, rep, "- - 10.0.0.1:*"); r.ResetsSent != 1 {
		t.Errorf("ownerless row %+v", *r)
	}
	if tot := rep.Totals; tot.ResetsSent != 2 || tot.ResetsReceived != 1 || tot.Retransmits != 2 {
		t.Errorf("totals %+v", tot)
	}
}

// Lost events are the interval's, in the totals.
func TestLost(t *testing.T) {
	a := NewAggregator(Options{}, t0)
	feed(a, tracer.Event{Kind: tracer.KindLost, Lost: tracer.Lost{RingFull: 3, Recursion: 2}})
	if rep := interval(a, time.Second); rep.Totals.Lost != 5 {
		t.Errorf("lost %d, want 5", rep.Totals.Lost)
	}
	if rep := interval(a, 2*time.Second); rep.Totals.Lost != 0 {
		t.Errorf("lost %d in the next interval, want 0", rep.Totals.Lost)
	}
}

// Past the bound of tracked sockets, a connect still counts, but not in
// SYN_SENT, and the totals say how many were not tracked.
func TestOpenSocketsBounded(t *testing.T) {
	a := NewAggregator(Options{}, t0)
	a.open.max = 2
	for i := range 3 {
		s := newSock(100, "client", "10.0.0.1:"+strconv.Itoa(40000+i), "10.0.0.2:80", uint64(0x1000*(i+1)))
		feed(a, s.connect(0))
	}
	rep := interval(a, time.Second)
	if r := rowOf(t, rep, "100 client 10.0.0.2:80"); r.Connects != 3 || r.SynSent != 2 || rep.Totals.Untracked != 1 {
		t.Errorf("row %+v, untracked %d", *r, rep.Totals.Untracked)
	}
}

// A connect whose end of SYN_SENT the kernel skipped leaves SYN_SENT at
// its close; a TIME_WAIT whose end was lost is swept once too old.
func TestLostEndsHeal(t *testing.T) {
	a := NewAggregator(Options{}, t0)
	c := newSock(100, "client", "10.0.0.1:40000", "10.0.0.2:80", 0x1000)
	feed(a, c.connect(0), c.ends(time.Second, time.Second, 0, 0, true))
	rep := interval(a, time.Second)
	if r := rowOf(t, rep, "100 client 10.0.0.2:80"); r.SynSent != 0 || r.TimeWait != 1 {
		t.Errorf("row %+v", *r)
	}
	a.open.sweep(t0.Add(maxTimeWait + 2*time.Second))
	if rep = interval(a, 2*time.Second); len(rep.Rows) != 0 {
		t.Errorf("rows after the sweep: %+v", rep.Rows)
	}
}

// A TIME_WAIT whose end was lost stops counting within sweepEvery of its
// deadline, however few sockets are tracked (the sweep that makes room
// runs only when the maps double).
func TestLostTimeWaitEndLeavesTheCount(t *testing.T) {
	a := NewAggregator(Options{}, t0)
	c := newSock(100, "client", "10.0.0.1:40000", "10.0.0.2:80", 0x1000)
	feed(a, c.connect(0), c.ends(time.Second, time.Second, 0, 0, true))
	var rep Report
	for at := time.Second; at <= 90*time.Second; at += time.Second {
		a.Interval(&rep, t0.Add(at))
	}
	if len(rep.Rows) != 0 || rep.Totals.TimeWait != 0 {
		t.Errorf("90 s after entering TIME_WAIT, still counted: rows %+v, totals %+v", rep.Rows, rep.Totals)
	}
}
