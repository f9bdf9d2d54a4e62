package tracer

import (
	"net/netip"
	"testing"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

func TestTimeWaitBookCompletesEnds(t *testing.T) {
	b := newTimeWaitBook()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	local, remote := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.2:80")
	entry := Event{Time: at, Kind: KindState, Old: tcpstate.FinWait2, New: tcpstate.TimeWait, NetNS: 7, Local: local, Remote: remote,
		Sock: 0xffff1, Cgroup: 9001, PID: 42, TID: 43, UID: 1000, Comm: snapshot.CommOf("curl"),
		Flags: FlagOwnerKnown | FlagBornKnown | FlagSummary | FlagTimeWaitDerived, Lifetime: 3 * time.Millisecond}
	b.note(&entry)

	// A reset the timewait socket sends is the closer's; the entry stays
	// for the end.
	reset := Event{Time: at, Kind: KindResetSent, Old: tcpstate.TimeWait, New: tcpstate.TimeWait, NetNS: 7,
		Local: local, Remote: remote, Sock: 0xffff2}
	b.note(&reset)
	if !reset.Has(FlagOwnerKnown) || reset.PID != 42 || reset.TID != 43 || reset.UID != 1000 || reset.Comm != snapshot.CommOf("curl") || reset.Cgroup != 9001 {
		t.Fatalf("timewait socket's reset: %+v", reset)
	}

	// What the kernel sends: the tuple, read from the timewait socket.
	end := Event{Time: at.Add(time.Second), Kind: KindTimeWaitEnd, Old: tcpstate.TimeWait, New: tcpstate.Close, NetNS: 7,
		Local: local, Remote: remote, Sock: 0xffff2}
	other := end
	other.NetNS = 8 // the same tuple in another namespace
	b.note(&other)
	if other.Has(FlagOwnerKnown) || other.PID != 0 {
		t.Fatalf("an end in another namespace took the entry's owner: %+v", other)
	}
	b.note(&end)
	want := end
	want.Sock, want.Cgroup, want.PID, want.TID, want.UID, want.Comm = 0xffff1, 9001, 42, 43, 1000, snapshot.CommOf("curl")
	want.Flags = FlagOwnerKnown | FlagBornKnown | FlagPrevKnown
	want.InState, want.Lifetime = time.Second, time.Second+3*time.Millisecond
	if end != want {
		t.Fatalf("completed end:\n got %+v\nwant %+v", end, want)
	}
	// The entry is used once: a second end (of a later socket whose
	// entry was lost) is not given this one's owner.
	again := Event{Time: at.Add(2 * time.Second), Kind: KindTimeWaitEnd, NetNS: 7, Local: local, Remote: remote}
	b.note(&again)
	if again.Has(FlagOwnerKnown) || again.Has(FlagPrevKnown) {
		t.Fatalf("an entry completed two ends: %+v", again)
	}
}

// Entries whose end never comes are dropped once older than twMaxAge.
func TestTimeWaitBookBounded(t *testing.T) {
	b := newTimeWaitBook()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 8 * minSweep {
		ev := Event{Time: at.Add(time.Duration(i) * time.Millisecond), Kind: KindState, New: tcpstate.TimeWait,
			Local:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(i >> 16), byte(i >> 8)}), uint16(i)),
			Remote: netip.MustParseAddrPort("127.0.0.2:80")}
		b.note(&ev)
	}
	// 524288 entries over 524 s, one per ms: each sweep kept those of the
	// last twMaxAge, and the book never held more than twice that.
	if n := len(b.byTuple); n > 2*int(twMaxAge/time.Millisecond)+1 {
		t.Fatalf("%d entries kept", n)
	}
}
