package tracer

import (
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// raw lays out k exactly as the kernel writes it into the ring buffer.
func raw(k *socktraceEvent) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(k)), eventSize)
}

func kernelEvent() *socktraceEvent {
	k := &socktraceEvent{
		TsNs: 5_000_000_000, Sk: 0xffff888012345678, StateNs: 1500, LifetimeNs: 2_000_000,
		BytesSent: 10, BytesReceived: 20, Inode: 4242, Netns: 4026531840,
		Pid: 100, Tid: 101, Uid: 1000, SrttUs: 35, Retrans: 2,
		Sport: 40000, Dport: 443, Family: syscall.AF_INET6, Error: uint16(syscall.ECONNREFUSED),
		Kind: uint8(KindState), Oldstate: uint8(tcpstate.SynSent), Newstate: uint8(tcpstate.Close),
		Flags: uint8(FlagOwnerKnown | FlagSummary),
	}
	copy(k.Saddr[:], netip.MustParseAddr("fd00::1").AsSlice())
	copy(k.Daddr[:], netip.MustParseAddr("2001:db8::2").AsSlice())
	for i, c := range "curl" {
		k.Comm[i] = int8(c)
	}
	return k
}

func TestDecode(t *testing.T) {
	var ev Event
	if err := decode(raw(kernelEvent()), 1_000, &ev); err != nil {
		t.Fatal(err)
	}
	want := Event{
		Time: time.Unix(0, 5_000_001_000), Kind: KindState, Flags: FlagOwnerKnown | FlagSummary,
		Old: tcpstate.SynSent, New: tcpstate.Close, Family: syscall.AF_INET6,
		Local:  netip.MustParseAddrPort("[fd00::1]:40000"),
		Remote: netip.MustParseAddrPort("[2001:db8::2]:443"),
		PID:    100, TID: 101, UID: 1000, Comm: snapshot.CommOf("curl"),
		Sock: 0xffff888012345678, Inode: 4242, NetNS: 4026531840,
		InState: 1500, Lifetime: 2 * time.Millisecond, BytesSent: 10, BytesReceived: 20,
		SRTT: 35 * time.Microsecond, Retrans: 2, Err: syscall.ECONNREFUSED,
	}
	if ev != want {
		t.Errorf("decode:\n got %+v\nwant %+v", ev, want)
	}
	if ev.Proto() != "tcp6" || ev.Comm.String() != "curl" {
		t.Errorf("proto %q comm %q", ev.Proto(), ev.Comm.String())
	}
}

func TestDecodeIPv4(t *testing.T) {
	k := kernelEvent()
	k.Family = syscall.AF_INET
	k.Saddr = [16]uint8{127, 0, 0, 1, 0xff, 0xff} // bytes past the 4th are not read
	k.Daddr = [16]uint8{10, 1, 2, 3}
	var ev Event
	if err := decode(raw(k), 0, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Local.String() != "127.0.0.1:40000" || ev.Remote.String() != "10.1.2.3:443" || ev.Proto() != "tcp" {
		t.Errorf("got %v %v %s", ev.Local, ev.Remote, ev.Proto())
	}
}

// An event without a close summary is sent as the struct's head only: what
// lies past the record (here a summary that is not the event's) is not read.
func TestDecodeHeadOnly(t *testing.T) {
	k := kernelEvent()
	k.Flags = uint8(FlagOwnerKnown)
	var ev Event
	if err := decode(raw(k)[:eventHeadSize], 0, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.BytesSent != 0 || ev.BytesReceived != 0 || ev.SRTT != 0 || ev.Retrans != 0 {
		t.Errorf("summary read past a head-only record: %+v", ev)
	}
	if ev.Inode != 4242 || ev.Comm.String() != "curl" || ev.Remote.String() != "[2001:db8::2]:443" {
		t.Errorf("head fields: %+v", ev)
	}
	if err := decode(raw(k)[:eventHeadSize-1], 0, &ev); err == nil {
		t.Error("a record shorter than the head decoded")
	}
}

func TestDecodeRejects(t *testing.T) {
	var ev Event
	// kernelEvent has a close summary: its record must be whole.
	if err := decode(raw(kernelEvent())[:eventSize-1], 0, &ev); err == nil {
		t.Error("short record decoded")
	}
	k := kernelEvent()
	for _, kind := range []uint8{0, uint8(KindLost), 99} {
		k.Kind = kind
		if err := decode(raw(k), 0, &ev); err == nil {
			t.Errorf("kind %d decoded: the kernel sends no such kind", kind)
		}
	}
}

// A reset carries its reason in what was padding: the head keeps its size.
func TestDecodeReset(t *testing.T) {
	k := kernelEvent()
	k.Kind, k.Flags, k.Reason = uint8(KindResetSent), uint8(FlagOwnerKnown), 12
	k.Oldstate, k.Newstate = uint8(tcpstate.Close), uint8(tcpstate.Close)
	var ev Event
	if err := decode(raw(k)[:eventHeadSize], 0, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != KindResetSent || ev.Reason != 12 || ev.Old != tcpstate.Close || ev.New != tcpstate.Close || ev.PID != 100 {
		t.Errorf("reset decoded as %+v", ev)
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	b := raw(kernelEvent())
	var ev Event
	if n := testing.AllocsPerRun(1000, func() { _ = decode(b, 0, &ev) }); n != 0 {
		t.Errorf("decode allocated %v times per event", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	r := raw(kernelEvent())
	var ev Event
	b.ReportAllocs()
	for b.Loop() {
		if err := decode(r, 0, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	ev := Event{Kind: KindState, Old: tcpstate.SynSent, New: tcpstate.Established, Family: syscall.AF_INET,
		Flags: FlagOwnerKnown, Local: netip.MustParseAddrPort("10.0.0.1:5000"), Remote: netip.MustParseAddrPort("10.0.0.2:80"),
		PID: 7, Comm: snapshot.CommOf("nginx"), NetNS: 3}
	cases := []struct {
		f    Filter
		expr string
		want bool
	}{
		{Filter{}, "", true},
		{Filter{}, "( sport = :80 or dport = :80 )", true},
		{Filter{}, "( sport = :5000 or dport = :5000 )", true},
		{Filter{}, "( sport = :81 or dport = :81 )", false},
		{Filter{}, "pid = 7", true},
		{Filter{}, "pid = 8", false},
		{Filter{}, "comm = nginx", true},
		{Filter{}, "comm = ngin", false},
		{Filter{}, "comm = nginx2", false},
		{Filter{}, "state syn-sent", true},
		{Filter{}, "state established", true},
		{Filter{}, "state time-wait state closed", false},
		{Filter{}, "dst 10.0.0.0/8 and not src 10.0.0.2", true},
		{Filter{}, "dst inet6:*", false},
		{Filter{Family: syscall.AF_INET6}, "", false},
		{Filter{Family: syscall.AF_INET}, "src inet6:*", false},
		{Filter{NetNS: 3}, "", true},
		{Filter{NetNS: 4}, "", false},
	}
	for _, c := range cases {
		if c.expr != "" {
			var err error
			if c.f.Expr, err = filter.Parse(strings.Fields(c.expr), filter.Config{}); err != nil {
				t.Fatal(err)
			}
		}
		var s filter.Socket
		if got := c.f.Match(&ev, &s); got != c.want {
			t.Errorf("%+v %q: got %v, want %v", c.f, c.expr, got, c.want)
		}
	}
}

func TestOwnerBook(t *testing.T) {
	b := newOwnerBook()
	nginx := snapshot.Owner{PID: 10, Comm: snapshot.CommOf("nginx")}
	b.byInode[555] = nginx
	b.byListener[listenKey{netns: 1, port: 80}] = snapshot.Owner{PID: 20, Comm: snapshot.CommOf("haproxy")}

	// An old socket with its file: owner by inode, and remembered.
	ev := Event{Kind: KindState, Sock: 0xa, Inode: 555, NetNS: 1,
		Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.MustParseAddrPort("10.0.0.9:4000"),
		Old: tcpstate.Established, New: tcpstate.CloseWait}
	b.resolve(&ev)
	if !ev.Has(FlagOwnerKnown) || ev.PID != 10 || ev.Comm != nginx.Comm {
		t.Fatalf("by inode: %+v", ev)
	}
	// Later, orphaned (no inode) and with the local port already zeroed.
	ev = Event{Kind: KindState, Sock: 0xa, NetNS: 1, Old: tcpstate.LastAck, New: tcpstate.Close,
		Local: netip.MustParseAddrPort("10.0.0.1:0"), Remote: netip.MustParseAddrPort("10.0.0.9:4000")}
	b.resolve(&ev)
	if ev.PID != 10 || ev.Local.Port() != 80 {
		t.Fatalf("remembered: pid %d local %v", ev.PID, ev.Local)
	}
	if _, ok := b.bySock[0xa]; ok {
		t.Error("closed socket still remembered")
	}
	// A passive socket of an old listener, not accepted yet.
	ev = Event{Kind: KindState, Sock: 0xb, NetNS: 1, Old: tcpstate.Listen, New: tcpstate.SynRecv,
		Local: netip.MustParseAddrPort("10.0.0.1:80")}
	b.resolve(&ev)
	if ev.PID != 20 {
		t.Errorf("by listener: pid %d", ev.PID)
	}
	// The kernel's owner wins.
	ev = Event{Kind: KindState, Sock: 0xc, Inode: 555, Flags: FlagOwnerKnown, PID: 30}
	b.resolve(&ev)
	if ev.PID != 30 {
		t.Errorf("kernel owner overridden: pid %d", ev.PID)
	}
	// A timewait socket on the listener's port is not the listener's.
	ev = Event{Kind: KindTimeWaitEnd, Sock: 0xe, NetNS: 1, Old: tcpstate.TimeWait, New: tcpstate.Close,
		Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.MustParseAddrPort("10.0.0.9:4001")}
	b.resolve(&ev)
	if ev.Has(FlagOwnerKnown) {
		t.Errorf("TIME_WAIT end given its listener's owner: pid %d", ev.PID)
	}
	// Nor is a reset that a timewait socket sends, or one for a packet
	// that found no socket, on the listener's port but not its address.
	for _, ev := range []Event{
		{Kind: KindResetSent, Sock: 0xf, NetNS: 1, Old: tcpstate.TimeWait, New: tcpstate.TimeWait,
			Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.MustParseAddrPort("10.0.0.9:4002")},
		{Kind: KindResetSent, NetNS: 1, Local: netip.MustParseAddrPort("10.0.0.2:80"),
			Remote: netip.MustParseAddrPort("10.0.0.9:4003")},
	} {
		b.resolve(&ev)
		if ev.Has(FlagOwnerKnown) {
			t.Errorf("reset of %v in %v given its listener's owner: pid %d", ev.Local, ev.New, ev.PID)
		}
	}
	// Unknown stays unknown.
	ev = Event{Kind: KindState, Sock: 0xd, Inode: 999, NetNS: 2, Local: netip.MustParseAddrPort("10.0.0.1:80")}
	b.resolve(&ev)
	if ev.Has(FlagOwnerKnown) {
		t.Errorf("invented an owner: %+v", ev)
	}
}

func TestKernelSymbols(t *testing.T) {
	path := t.TempDir() + "/kallsyms"
	data := "ffffffff81000000 T _text\n" +
		"ffffffff82006070 t tw_timer_handler\n" +
		"0000000000000000 t tcp_write_timer\n" + // hidden by kptr_restrict
		"ffffffffc0000000 t tw_timer_handler_x\t[mod]\n" +
		"garbage\n"
	if err := writeFile(path, data); err != nil {
		t.Fatal(err)
	}
	got, hidden, err := kernelSymbols(path, "tw_timer_handler", "tcp_write_timer")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["tw_timer_handler"] != 0xffffffff82006070 || !hidden {
		t.Errorf("got %x, hidden %v; want tw_timer_handler's address, and tcp_write_timer's hidden", got, hidden)
	}
}

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o644) }

// Userspace's check of an event allocates nothing: it runs on every event
// the kernel lets through.
func TestFilterMatchAllocatesNothing(t *testing.T) {
	ev := Event{Kind: KindState, Old: tcpstate.SynSent, New: tcpstate.Close, Family: syscall.AF_INET6,
		Flags: FlagOwnerKnown | FlagBornKnown, Local: netip.MustParseAddrPort("[fd00::1]:5000"),
		Remote: netip.MustParseAddrPort("[fd00::2]:80"), PID: 7, Comm: snapshot.CommOf("nginx"),
		Err: syscall.ECONNREFUSED, Lifetime: time.Millisecond}
	expr, err := filter.Parse(strings.Fields("state syn-sent ( dport = :80 or src fd00::/64 ) and not autobound "+
		"or comm = nginx and error = ECONNREFUSED and lifetime < 1s and uid = 0"), filter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := Filter{NetNS: 0, Expr: expr}
	var sock filter.Socket
	if !f.Match(&ev, &sock) {
		t.Fatal("the event should pass")
	}
	if n := testing.AllocsPerRun(1000, func() { f.Match(&ev, &sock) }); n != 0 {
		t.Errorf("Match allocates %v times per event", n)
	}
}
