package render

import (
	"encoding/json"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

func comm(s string) snapshot.Comm {
	var c snapshot.Comm
	copy(c[:15], s)
	return c
}

func closeEvent() tracer.Event {
	return tracer.Event{
		Time: time.Date(2026, 11, 22, 10, 1, 2, 123456789, time.UTC), Kind: tracer.KindState,
		Flags: tracer.FlagOwnerKnown | tracer.FlagPrevKnown | tracer.FlagBornKnown | tracer.FlagSummary,
		Old:   tcpstate.SynSent, New: tcpstate.Close, Family: syscall.AF_INET6,
		Local:  netip.MustParseAddrPort("[fd00::1]:40000"),
		Remote: netip.MustParseAddrPort("[2001:db8::2]:443"),
		PID:    4242, TID: 4243, UID: 1000, Comm: comm("curl"), Sock: 0xffff8880deadbeef, Inode: 77, NetNS: 4026531840,
		InState: 1500 * time.Microsecond, Lifetime: 1500 * time.Microsecond,
		BytesSent: 0, BytesReceived: 0, SRTT: 0, Err: syscall.ECONNREFUSED,
	}
}

func TestEventJSONContract(t *testing.T) {
	ev := closeEvent()
	line := new(EventFormatter).AppendJSON(nil, &ev)
	if !strings.HasSuffix(string(line), "}\n") || strings.Count(string(line), "\n") != 1 {
		t.Fatalf("not one line: %q", line)
	}
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", line, err)
	}
	want := map[string]any{
		"time": "2026-11-22T10:01:02.123456789Z", "event": "close", "pid": 4242.0, "tid": 4243.0,
		"comm": "curl", "proto": "tcp6", "local": "[fd00::1]:40000", "remote": "[2001:db8::2]:443",
		"old_state": "SYN_SENT", "new_state": "CLOSE", "error": "ECONNREFUSED", "uid": 1000.0,
		"inode": 77.0, "netns": 4026531840.0, "sock": "0xffff8880deadbeef", "in_state_ns": 1.5e6,
		"lifetime_ns": 1.5e6, "bytes_sent": 0.0, "bytes_received": 0.0, "srtt_us": 0.0, "retrans": 0.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want exactly %d", got, len(want))
	}
}

func TestEventNames(t *testing.T) {
	cases := []struct {
		ev   tracer.Event
		want string
	}{
		{tracer.Event{Kind: tracer.KindState, Old: tcpstate.Close, New: tcpstate.SynSent}, "connect"},
		{tracer.Event{Kind: tracer.KindState, Old: tcpstate.SynSent, New: tcpstate.Established}, "state"},
		{tracer.Event{Kind: tracer.KindState, Old: tcpstate.FinWait2, New: tcpstate.TimeWait}, "state"},
		{tracer.Event{Kind: tracer.KindState, Old: tcpstate.LastAck, New: tcpstate.Close}, "close"},
		{tracer.Event{Kind: tracer.KindAccept}, "accept"},
		{tracer.Event{Kind: tracer.KindTimeWaitEnd}, "timewait_end"},
		{tracer.Event{Kind: tracer.KindResetSent, Old: tcpstate.Close, New: tcpstate.Close}, "reset_sent"},
		{tracer.Event{Kind: tracer.KindResetReceived, Old: tcpstate.SynSent, New: tcpstate.SynSent}, "reset_received"},
		{tracer.Event{Kind: tracer.KindRetransmit, Old: tcpstate.Established, New: tcpstate.Established}, "retransmit"},
		{tracer.Event{Kind: tracer.KindLost}, "lost"},
	}
	for _, c := range cases {
		if got := EventName(&c.ev); got != c.want {
			t.Errorf("%+v: %s, want %s", c.ev, got, c.want)
		}
	}
}

func TestLostJSON(t *testing.T) {
	ev := tracer.Event{Time: time.Unix(0, 0), Kind: tracer.KindLost, Lost: tracer.Lost{RingFull: 3, Recursion: 4}}
	var got map[string]any
	if err := json.Unmarshal(new(EventFormatter).AppendJSON(nil, &ev), &got); err != nil {
		t.Fatal(err)
	}
	if got["event"] != "lost" || got["lost"] != 7.0 || got["lost_ring_full"] != 3.0 || got["lost_recursion"] != 4.0 {
		t.Errorf("got %v", got)
	}
}

// A process can name itself anything: escape sequences must not reach the
// terminal, and JSON must stay valid.
func TestHostileCommIsEscaped(t *testing.T) {
	ev := closeEvent()
	ev.Comm = comm("x\x1b]0;pwn\x07\n")
	text := string(new(EventFormatter).AppendText(nil, &ev))
	if strings.ContainsAny(text[:len(text)-1], "\x1b\x07\n") {
		t.Errorf("raw control characters in %q", text)
	}
	// Escaped, it is wider than its column: cut, and marked. JSON has it
	// whole.
	if !strings.Contains(text, ` x\x1b]0;pwn+    tcp6 `) {
		t.Errorf("escaped name missing from %q", text)
	}
	js := new(EventFormatter).AppendJSON(nil, &ev)
	var got map[string]any
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatalf("invalid JSON %q: %v", js, err)
	}
	if got["comm"] != "x\x1b]0;pwn\x07\n" {
		t.Errorf("comm round-trip: %q", got["comm"])
	}
	if strings.ContainsAny(string(js[:len(js)-1]), "\x1b\x07\n") {
		t.Errorf("raw control characters in JSON %q", js)
	}
}

func TestEventText(t *testing.T) {
	ev := closeEvent()
	ev.Time = time.Date(2026, 11, 22, 10, 1, 2, 123456789, time.Local)
	got := string(new(EventFormatter).AppendText(nil, &ev))
	want := "10:01:02.123456 4242    curl            tcp6  [fd00::1]:40000        [2001:db8::2]:443      SYN_SENT->CLOSE         " +
		"ECONNREFUSED after 1.500ms, lived 1.500ms, sent 0 B, received 0 B, rtt 0us, retrans 0\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	// A name takes its column by display width, as a terminal shows it:
	// multibyte runes one column, wide runes two, combining marks none;
	// an escaped name wider than the column is cut at a whole escape or
	// rune, and "+" says so.
	for _, c := range []struct{ comm, want string }{
		{"nginx-ü", "nginx-ü         "},
		{"数据库服务", "数据库服务      "},
		{"cafe\u0301", "cafe\u0301            "},
		{"\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b", `\x1b\x1b\x1b+   `},
		{`ab\cd\ef\gh\ij`, `ab\\cd\\ef\\gh+ `},
		{"\xff\xff\xff数据", `\xff\xff\xff数+ `},
		{"\xff\xff\xffa数据", `\xff\xff\xffa+  `},
	} {
		ev.Comm = comm(c.comm)
		want := "10:01:02.123456 4242    " + c.want + "tcp6  [fd00::1]:40000"
		if got := string(new(EventFormatter).AppendText(nil, &ev)); !strings.HasPrefix(got, want) {
			t.Errorf("name %q:\n got %q\nwant %q...", c.comm, got, want)
		}
	}
	ev.Flags &^= tracer.FlagOwnerKnown
	if got := string(new(EventFormatter).AppendText(nil, &ev)); !strings.HasPrefix(got, "10:01:02.123456 -       -               tcp6") {
		t.Errorf("unknown owner: %q", got)
	}
	// A listener's remote is netstat's "*" port, in IPv6 in trace's
	// brackets.
	listen := tracer.Event{Time: ev.Time, Kind: tracer.KindState, Flags: tracer.FlagOwnerKnown,
		Old: tcpstate.Close, New: tcpstate.Listen, Family: syscall.AF_INET, PID: 7, Comm: comm("srv"),
		Local: netip.MustParseAddrPort("127.0.0.1:8080"), Remote: netip.MustParseAddrPort("0.0.0.0:0")}
	listen6 := listen
	listen6.Family, listen6.Local, listen6.Remote = syscall.AF_INET6, netip.MustParseAddrPort("[::]:22"), netip.MustParseAddrPort("[::]:0")
	for _, c := range []struct {
		ev   tracer.Event
		want string
	}{
		{listen, "10:01:02.123456 7       srv             tcp   127.0.0.1:8080         0.0.0.0:*              CLOSE->LISTEN\n"},
		{listen6, "10:01:02.123456 7       srv             tcp6  [::]:22                [::]:*                 CLOSE->LISTEN\n"},
	} {
		if got := string(new(EventFormatter).AppendText(nil, &c.ev)); got != c.want {
			t.Errorf("listener:\n got %q\nwant %q", got, c.want)
		}
	}
	tw := tracer.Event{Time: ev.Time, Kind: tracer.KindTimeWaitEnd, Flags: tracer.FlagOwnerKnown | tracer.FlagPrevKnown | tracer.FlagExpired,
		Old: tcpstate.TimeWait, New: tcpstate.Close, Family: syscall.AF_INET, PID: 1, Comm: comm("a"),
		Local: netip.MustParseAddrPort("127.0.0.1:5"), Remote: netip.MustParseAddrPort("127.0.0.1:6"), InState: 60 * time.Second}
	if got := string(new(EventFormatter).AppendText(nil, &tw)); !strings.HasSuffix(got, "TIME_WAIT->CLOSE        expired, after 60.000s\n") {
		t.Errorf("timewait end: %q", got)
	}
}

// The exact lines, so that a faster formatter prints what the contract and
// earlier versions printed, byte for byte: a hostile comm (control
// characters, quote, backslash) over IPv6, an IPv4 transition with and
// without a known owner, TIME_WAIT ends, and a loss report.
func TestEventJSONExact(t *testing.T) {
	hostile := closeEvent()
	hostile.Comm = comm("x\x1b]0;\"pwn\x07\\\n")
	state := stateEvent()
	unowned := stateEvent()
	unowned.Flags &^= tracer.FlagOwnerKnown
	unowned.Comm = snapshot.Comm{}
	expired := stateEvent()
	expired.Kind, expired.Old, expired.New = tracer.KindTimeWaitEnd, tcpstate.TimeWait, tcpstate.Close
	expired.Flags = tracer.FlagOwnerKnown | tracer.FlagPrevKnown | tracer.FlagBornKnown | tracer.FlagExpired
	expired.InState, expired.Lifetime = 60*time.Second, 60*time.Second+5*time.Millisecond
	expired.Time = expired.Time.Add(time.Second)
	reused := expired
	reused.Flags &^= tracer.FlagExpired
	older := reused // a TIME_WAIT older than socktrace: no entry, no owner, no uid
	older.Flags, older.PID, older.TID, older.UID, older.Comm = 0, 0, 0, 0, snapshot.Comm{}
	lost := tracer.Event{Time: time.Date(2026, 11, 22, 10, 1, 4, 5, time.UTC), Kind: tracer.KindLost,
		Lost: tracer.Lost{RingFull: 3, Recursion: 40}}
	var f EventFormatter // one formatter: its cached time prefix must follow the seconds
	checkJSON(t, &f, []eventLine{
		{hostile,
			"{\"time\":\"2026-11-22T10:01:02.123456789Z\",\"event\":\"close\",\"pid\":4242,\"tid\":4243,\"comm\":\"x\\u001b]0;\\\"pwn\\u0007\\\\\\u000a\",\"proto\":\"tcp6\",\"local\":\"[fd00::1]:40000\",\"remote\":\"[2001:db8::2]:443\",\"old_state\":\"SYN_SENT\",\"new_state\":\"CLOSE\",\"error\":\"ECONNREFUSED\",\"uid\":1000,\"inode\":77,\"netns\":4026531840,\"sock\":\"0xffff8880deadbeef\",\"in_state_ns\":1500000,\"lifetime_ns\":1500000,\"bytes_sent\":0,\"bytes_received\":0,\"srtt_us\":0,\"retrans\":0}\n"},
		{state,
			"{\"time\":\"2026-11-22T10:01:02.123456789Z\",\"event\":\"state\",\"pid\":4242,\"tid\":4250,\"comm\":\"churn\",\"proto\":\"tcp\",\"local\":\"127.0.0.1:40000\",\"remote\":\"127.0.0.3:9511\",\"old_state\":\"SYN_SENT\",\"new_state\":\"ESTABLISHED\",\"error\":\"\",\"uid\":0,\"inode\":123456,\"netns\":4026532283,\"sock\":\"0xffff8880deadbeef\",\"in_state_ns\":21000}\n"},
		{unowned,
			"{\"time\":\"2026-11-22T10:01:02.123456789Z\",\"event\":\"state\",\"pid\":4242,\"tid\":4250,\"comm\":\"\",\"proto\":\"tcp\",\"local\":\"127.0.0.1:40000\",\"remote\":\"127.0.0.3:9511\",\"old_state\":\"SYN_SENT\",\"new_state\":\"ESTABLISHED\",\"error\":\"\",\"uid\":0,\"inode\":123456,\"netns\":4026532283,\"sock\":\"0xffff8880deadbeef\",\"in_state_ns\":21000}\n"},
		{expired,
			"{\"time\":\"2026-11-22T10:01:03.123456789Z\",\"event\":\"timewait_end\",\"pid\":4242,\"tid\":4250,\"comm\":\"churn\",\"proto\":\"tcp\",\"local\":\"127.0.0.1:40000\",\"remote\":\"127.0.0.3:9511\",\"old_state\":\"TIME_WAIT\",\"new_state\":\"CLOSE\",\"error\":\"\",\"uid\":0,\"inode\":123456,\"netns\":4026532283,\"sock\":\"0xffff8880deadbeef\",\"in_state_ns\":60000000000,\"lifetime_ns\":60005000000,\"reason\":\"expired\"}\n"},
		{reused,
			"{\"time\":\"2026-11-22T10:01:03.123456789Z\",\"event\":\"timewait_end\",\"pid\":4242,\"tid\":4250,\"comm\":\"churn\",\"proto\":\"tcp\",\"local\":\"127.0.0.1:40000\",\"remote\":\"127.0.0.3:9511\",\"old_state\":\"TIME_WAIT\",\"new_state\":\"CLOSE\",\"error\":\"\",\"uid\":0,\"inode\":123456,\"netns\":4026532283,\"sock\":\"0xffff8880deadbeef\",\"in_state_ns\":60000000000,\"lifetime_ns\":60005000000,\"reason\":\"reused\"}\n"},
		{older,
			"{\"time\":\"2026-11-22T10:01:03.123456789Z\",\"event\":\"timewait_end\",\"pid\":0,\"tid\":0,\"comm\":\"\",\"proto\":\"tcp\",\"local\":\"127.0.0.1:40000\",\"remote\":\"127.0.0.3:9511\",\"old_state\":\"TIME_WAIT\",\"new_state\":\"CLOSE\",\"error\":\"\",\"inode\":123456,\"netns\":4026532283,\"sock\":\"0xffff8880deadbeef\",\"reason\":\"reused\"}\n"},
		{lost,
			"{\"time\":\"2026-11-22T10:01:04.000000005Z\",\"event\":\"lost\",\"lost\":43,\"lost_ring_full\":3,\"lost_recursion\":40}\n"},
	})
}

// eventLine is an event and the exact line a formatter writes for it.
type eventLine struct {
	ev   tracer.Event
	want string
}

// checkJSON checks the line f.AppendJSON writes for each event, in order,
// so that f's state carries from one to the next.
func checkJSON(t *testing.T, f *EventFormatter, lines []eventLine) {
	t.Helper()
	for i, c := range lines {
		if got := string(f.AppendJSON(nil, &c.ev)); got != c.want {
			t.Errorf("%d: got\n%s\nwant\n%s", i, got, c.want)
		}
	}
}

func TestAppendEventAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 1024)
	fm := &EventFormatter{ResetReason: func(uint16) string { return "TCP_STATE" }}
	sent, _, _, retransmit := resetEvents()
	for _, ev := range []tracer.Event{closeEvent(), stateEvent(), sent, retransmit} {
		for name, f := range map[string]func([]byte, *tracer.Event) []byte{"text": fm.AppendText, "json": fm.AppendJSON} {
			if n := testing.AllocsPerRun(200, func() { buf = f(buf[:0], &ev) }); n != 0 {
				t.Errorf("%s %s: %v allocations per event", ev.Proto(), name, n)
			}
		}
	}
}

func BenchmarkAppendEventJSON(b *testing.B) {
	benchAppend(b, closeEvent(), (*EventFormatter).AppendJSON)
}

func BenchmarkAppendEventText(b *testing.B) {
	benchAppend(b, closeEvent(), (*EventFormatter).AppendText)
}

func BenchmarkAppendEventJSON4(b *testing.B) {
	benchAppend(b, stateEvent(), (*EventFormatter).AppendJSON)
}

func BenchmarkAppendEventText4(b *testing.B) {
	benchAppend(b, stateEvent(), (*EventFormatter).AppendText)
}

// benchAppend formats ev over and over with one formatter, as a stream does.
func benchAppend(b *testing.B, ev tracer.Event, format func(*EventFormatter, []byte, *tracer.Event) []byte) {
	buf := make([]byte, 0, 1024)
	var f EventFormatter
	b.ReportAllocs()
	for b.Loop() {
		buf = format(&f, buf[:0], &ev)
	}
}

// stateEvent is a churn connection's SYN_SENT->ESTABLISHED over IPv4:
// most of the lines socktrace trace prints under load.
func stateEvent() tracer.Event {
	return tracer.Event{
		Time: time.Date(2026, 11, 22, 10, 1, 2, 123456789, time.UTC), Kind: tracer.KindState,
		Flags: tracer.FlagOwnerKnown | tracer.FlagPrevKnown | tracer.FlagBornKnown,
		Old:   tcpstate.SynSent, New: tcpstate.Established, Family: syscall.AF_INET,
		Local:  netip.MustParseAddrPort("127.0.0.1:40000"),
		Remote: netip.MustParseAddrPort("127.0.0.3:9511"),
		PID:    4242, TID: 4250, Comm: comm("churn"), Sock: 0xffff8880deadbeef, Inode: 123456, NetNS: 4026532283,
		InState: 21 * time.Microsecond, Lifetime: 21 * time.Microsecond,
	}
}

// A TIME_WAIT entered before the peer's FIN says so: netstat lists the
// timewait socket as FIN_WAIT2 until the FIN comes.
func TestEventAwaitingFin(t *testing.T) {
	ev := closeEvent()
	ev.Time = time.Date(2026, 11, 22, 10, 1, 2, 123456789, time.Local)
	ev.Old, ev.New, ev.Err = tcpstate.FinWait2, tcpstate.TimeWait, 0
	ev.Flags |= tracer.FlagTimeWaitDerived | tracer.FlagTimeWaitFinWait2
	text := string(new(EventFormatter).AppendText(nil, &ev))
	if !strings.Contains(text, "FIN_WAIT2->TIME_WAIT    awaiting the peer's FIN (netstat: FIN_WAIT2), after 1.500ms, lived") {
		t.Errorf("text: %q", text)
	}
	var got map[string]any
	if err := json.Unmarshal(new(EventFormatter).AppendJSON(nil, &ev), &got); err != nil {
		t.Fatal(err)
	}
	if got["awaiting_fin"] != true || got["new_state"] != "TIME_WAIT" {
		t.Errorf("JSON: awaiting_fin %v, new_state %v", got["awaiting_fin"], got["new_state"])
	}
	ev.Flags &^= tracer.FlagTimeWaitFinWait2
	if js := new(EventFormatter).AppendJSON(nil, &ev); strings.Contains(string(js), "awaiting_fin") {
		t.Errorf("awaiting_fin without the flag: %s", js)
	}
}

// resetEvents are a client's abort (a reset it sends after its close, and
// one its peer receives), a reset for a SYN to a closed port (no socket, no
// owner) and a retransmit.
func resetEvents() (sent, received, noSocket, retransmit tracer.Event) {
	sent = stateEvent()
	sent.Kind, sent.Old, sent.New, sent.Reason = tracer.KindResetSent, tcpstate.Close, tcpstate.Close, 16
	sent.Flags = tracer.FlagOwnerKnown
	received = stateEvent()
	received.Kind, received.Old, received.New = tracer.KindResetReceived, tcpstate.Established, tcpstate.Established
	received.Flags, received.PID, received.TID, received.Comm = tracer.FlagOwnerKnown, 7, 7, comm("srv")
	received.Local, received.Remote = received.Remote, received.Local
	noSocket = tracer.Event{Time: sent.Time, Kind: tracer.KindResetSent, Family: syscall.AF_INET, Reason: 1,
		Local: netip.MustParseAddrPort("127.0.0.1:9"), Remote: netip.MustParseAddrPort("127.0.0.1:40001"), NetNS: 4026532283}
	retransmit = stateEvent()
	retransmit.Kind, retransmit.Old, retransmit.New = tracer.KindRetransmit, tcpstate.Established, tcpstate.Established
	retransmit.Flags = tracer.FlagOwnerKnown
	return sent, received, noSocket, retransmit
}

// kernelReasons stands for the running kernel's names.
func kernelReasons(code uint16) string {
	return map[uint16]string{1: "NO_SOCKET", 16: "TCP_DISCONNECT_WITH_DATA"}[code]
}

func TestResetText(t *testing.T) {
	sent, received, noSocket, retransmit := resetEvents()
	f := EventFormatter{ResetReason: kernelReasons}
	for _, c := range []struct {
		ev   tracer.Event
		want string
	}{
		{sent, "4242    churn           tcp   127.0.0.1:40000        127.0.0.3:9511         reset_sent              TCP_DISCONNECT_WITH_DATA, in CLOSE\n"},
		{received, "7       srv             tcp   127.0.0.3:9511         127.0.0.1:40000        reset_received          in ESTABLISHED\n"},
		{noSocket, "-       -               tcp   127.0.0.1:9            127.0.0.1:40001        reset_sent              NO_SOCKET\n"},
		{retransmit, "4242    churn           tcp   127.0.0.1:40000        127.0.0.3:9511         retransmit              in ESTABLISHED\n"},
	} {
		if got := string(f.AppendText(nil, &c.ev)); got[16:] != c.want {
			t.Errorf("got\n%q\nwant\n%q", got[16:], c.want)
		}
	}
	// Without names, the number; with a reason the kernel does not give,
	// nothing.
	if got := string(new(EventFormatter).AppendText(nil, &sent)); !strings.HasSuffix(got, "reset_sent              reason 16, in CLOSE\n") {
		t.Errorf("unnamed reason: %q", got)
	}
	f.ResetReason = func(uint16) string { return "" }
	if got := string(f.AppendText(nil, &sent)); !strings.HasSuffix(got, "reset_sent              in CLOSE\n") {
		t.Errorf("no reason: %q", got)
	}
}

func TestResetJSONExact(t *testing.T) {
	sent, received, noSocket, retransmit := resetEvents()
	f := EventFormatter{ResetReason: kernelReasons}
	checkJSON(t, &f, []eventLine{
		{sent,
			"{\"time\":\"2026-11-22T10:01:02.123456789Z\",\"event\":\"reset_sent\",\"pid\":4242,\"tid\":4250,\"comm\":\"churn\",\"proto\":\"tcp\",\"local\":\"127.0.0.1:40000\",\"remote\":\"127.0.0.3:9511\",\"old_state\":\"CLOSE\",\"new_state\":\"CLOSE\",\"error\":\"\",\"uid\":0,\"inode\":123456,\"netns\":4026532283,\"sock\":\"0xffff8880deadbeef\",\"reason\":\"TCP_DISCONNECT_WITH_DATA\"}\n"},
		{received,
			"{\"time\":\"2026-11-22T10:01:02.123456789Z\",\"event\":\"reset_received\",\"pid\":7,\"tid\":7,\"comm\":\"srv\",\"proto\":\"tcp\",\"local\":\"127.0.0.3:9511\",\"remote\":\"127.0.0.1:40000\",\"old_state\":\"ESTABLISHED\",\"new_state\":\"ESTABLISHED\",\"error\":\"\",\"uid\":0,\"inode\":123456,\"netns\":4026532283,\"sock\":\"0xffff8880deadbeef\"}\n"},
		{noSocket,
			"{\"time\":\"2026-11-22T10:01:02.123456789Z\",\"event\":\"reset_sent\",\"pid\":0,\"tid\":0,\"comm\":\"\",\"proto\":\"tcp\",\"local\":\"127.0.0.1:9\",\"remote\":\"127.0.0.1:40001\",\"old_state\":\"UNKNOWN\",\"new_state\":\"UNKNOWN\",\"error\":\"\",\"inode\":0,\"netns\":4026532283,\"sock\":\"0x0\",\"reason\":\"NO_SOCKET\"}\n"},
		{retransmit,
			"{\"time\":\"2026-11-22T10:01:02.123456789Z\",\"event\":\"retransmit\",\"pid\":4242,\"tid\":4250,\"comm\":\"churn\",\"proto\":\"tcp\",\"local\":\"127.0.0.1:40000\",\"remote\":\"127.0.0.3:9511\",\"old_state\":\"ESTABLISHED\",\"new_state\":\"ESTABLISHED\",\"error\":\"\",\"uid\":0,\"inode\":123456,\"netns\":4026532283,\"sock\":\"0xffff8880deadbeef\"}\n"},
	})
	// A timewait socket's reset has a uid only from its TIME_WAIT entry,
	// as its owner.
	tw := noSocket
	tw.Sock, tw.Old, tw.New = 0xffff8880deadbeef, tcpstate.TimeWait, tcpstate.TimeWait
	if got := string(f.AppendJSON(nil, &tw)); strings.Contains(got, `"uid"`) {
		t.Errorf("timewait socket's reset without an owner has a uid: %s", got)
	}
	tw.Flags, tw.PID, tw.UID = tracer.FlagOwnerKnown, 3, 1000
	if got := string(f.AppendJSON(nil, &tw)); !strings.Contains(got, `"uid":1000,`) {
		t.Errorf("timewait socket's reset with an owner has no uid: %s", got)
	}
}
