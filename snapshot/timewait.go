package snapshot

import "math"

// TimeWaits holds the TCP sockets in TIME_WAIT of a dump apart from its
// other rows (Diag.TimeWaits), by family: under churn they are most of a
// dump, and here an IPv4 one takes 20 bytes, where a Socket takes 120 with
// pointers that the garbage collector scans.
type TimeWaits struct {
	V4 []TimeWait4
	V6 []TimeWait6 // IPv6 sockets, IPv4-mapped addresses too
}

// TimeWait4 is an IPv4 socket in TIME_WAIT: what its Socket holds, as a
// timewait socket has no queues, no file and no other timer.
type TimeWait4 struct {
	Local, Remote [4]byte
	LPort, RPort  uint16
	UID           uint32
	TimerTicks    uint32 // the time left, in USER_HZ (1/100 s) ticks
}

// TimeWait6 is an IPv6 socket in TIME_WAIT.
type TimeWait6 struct {
	Local, Remote [16]byte
	LPort, RPort  uint16
	UID           uint32
	TimerTicks    uint32
}

// Reset empties t, keeping its room.
func (t *TimeWaits) Reset() { t.V4, t.V6 = t.V4[:0], t.V6[:0] }

// Len is how many sockets t holds.
func (t *TimeWaits) Len() int { return len(t.V4) + len(t.V6) }

// add puts s, a socket in TIME_WAIT, in t.
func (t *TimeWaits) add(s *Socket) {
	ticks := uint32(min(s.TimerTicks, math.MaxUint32))
	if s.V6 {
		t.V6 = append(t.V6, TimeWait6{Local: s.Local.Addr().As16(), Remote: s.Remote.Addr().As16(),
			LPort: s.Local.Port(), RPort: s.Remote.Port(), UID: s.UID, TimerTicks: ticks})
		return
	}
	t.V4 = append(t.V4, TimeWait4{Local: s.Local.Addr().As4(), Remote: s.Remote.Addr().As4(),
		LPort: s.Local.Port(), RPort: s.Remote.Port(), UID: s.UID, TimerTicks: ticks})
}
