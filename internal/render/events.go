package render

import (
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
	"golang.org/x/sys/unix"
)

// EventHeader is the column header of the event log.
const EventHeader = "TIME            PID     COMM            PROTO LOCAL                  REMOTE                 TRANSITION              DETAIL\n"

// EventHeaderExtended is the column header of the event log with -e: a
// CONTAINER column after COMM.
const EventHeaderExtended = "TIME            PID     COMM            CONTAINER           PROTO LOCAL                  REMOTE                 TRANSITION              DETAIL\n"

// containerColumn is the CONTAINER column's width. Pod names are often
// longer: they are not cut, a long one pushes the line along.
const containerColumn = 20

// EventName is the JSON "event" value: connect, state, close, accept,
// timewait_end, reset_sent, reset_received, retransmit or lost.
func EventName(ev *tracer.Event) string {
	switch {
	case ev.Kind == tracer.KindAccept:
		return "accept"
	case ev.Kind == tracer.KindTimeWaitEnd:
		return "timewait_end"
	case ev.Kind == tracer.KindResetSent:
		return "reset_sent"
	case ev.Kind == tracer.KindResetReceived:
		return "reset_received"
	case ev.Kind == tracer.KindRetransmit:
		return "retransmit"
	case ev.Kind == tracer.KindLost:
		return "lost"
	case ev.Old == tcpstate.Close && ev.New == tcpstate.SynSent:
		return "connect"
	case ev.New == tcpstate.Close:
		return "close"
	}
	return "state"
}

// EventFormatter renders events as event-log lines or NDJSON. It keeps
// state that makes formatting cheap, so one formatter serves one stream.
type EventFormatter struct {
	// ResetReason names a reset's reason, as the tracer's ResetReason
	// does; "" leaves it out. nil: "reason N".
	ResetReason func(code uint16) string
	// Containers names where each event's owner runs: the "container"
	// field in JSON, and the CONTAINER column with Extended. nil: neither.
	Containers *container.Resolver
	// Extended adds the CONTAINER column to text lines (trace -e).
	Extended bool
	clock    clockCache
	parts    *lineParts // allocated at the first line
}

func (f *EventFormatter) reason(ev *tracer.Event) string {
	if f.ResetReason == nil {
		return "reason " + strconv.Itoa(int(ev.Reason))
	}
	return f.ResetReason(ev.Reason)
}

// onSocket reports whether ev happened to a socket without changing its
// state: a reset or a retransmit. Its Old and New are both the state.
func onSocket(ev *tracer.Event) bool {
	return ev.Kind == tracer.KindResetSent || ev.Kind == tracer.KindResetReceived || ev.Kind == tracer.KindRetransmit
}

func (f *EventFormatter) lineParts() *lineParts {
	if f.parts == nil {
		f.parts = new(lineParts)
	}
	return f.parts
}

// AppendText appends one event-log line. Names are escaped (Safe).
func (f *EventFormatter) AppendText(b []byte, ev *tracer.Event) []byte {
	start := len(b)
	b = f.clock.appendText(b, ev.Time)
	b = pad(b, start, 16)
	b = f.lineParts().owner(b, ev, false, appendTextWho)
	if f.Extended {
		b = appendTextContainer(b, f.container(ev))
	}
	b = f.lineParts().where(b, ev, false, appendTextWhere)
	col := len(b)
	b = appendTransition(b, ev)
	b = pad(b, col, 24)
	if onSocket(ev) {
		b = f.appendSocketDetail(b, ev)
	} else {
		b = appendDetail(b, ev)
	}
	for len(b) > start && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return append(b, '\n')
}

// appendTextWho appends the PID and COMM columns.
func appendTextWho(b []byte, ev *tracer.Event) []byte {
	col := len(b)
	if ev.Has(tracer.FlagOwnerKnown) {
		b = appendUint(b, uint64(ev.PID))
		b = pad(b, col, 8)
		col = len(b)
		b = AppendSafe(b, commString(&ev.Comm))
	} else {
		b = append(b, '-')
		b = pad(b, col, 8)
		col = len(b)
		b = append(b, '-')
	}
	// Escaped, a name may be wider than its column, or hold wide runes;
	// every other column is ASCII.
	return padCut(b, col, 16)
}

// container is where ev's owner runs; nil when no owner is known.
func (f *EventFormatter) container(ev *tracer.Event) *container.Info {
	if f.Containers == nil || !ev.Has(tracer.FlagOwnerKnown) {
		return nil
	}
	return f.Containers.Lookup(ev.PID, ev.Cgroup, ev.Comm, ev.Time)
}

// appendTextContainer appends the CONTAINER column: "-" when not known.
func appendTextContainer(b []byte, in *container.Info) []byte {
	col := len(b)
	if name := in.Name(); name != "" {
		b = AppendSafe(b, name)
	} else {
		b = append(b, '-')
	}
	return padFrom(b, displayWidth(b[col:]), containerColumn)
}

// appendJSONContainer appends the "container" field ("" when not known)
// and, for a process in a container, "container_id".
func appendJSONContainer(b []byte, in *container.Info) []byte {
	b = append(b, `,"container":`...)
	b = AppendJSONString(b, in.Name())
	if id := in.ContainerID(); id != "" {
		b = append(b, `,"container_id":`...)
		b = AppendJSONString(b, id)
	}
	return b
}

// appendTextWhere appends the PROTO, LOCAL and REMOTE columns.
func appendTextWhere(b []byte, ev *tracer.Event) []byte {
	col := len(b)
	b = append(b, ev.Proto()...)
	b = pad(b, col, 6)
	col = len(b)
	b = appendTextAddrPort(b, ev.Local)
	b = pad(b, col, 23)
	col = len(b)
	b = appendTextAddrPort(b, ev.Remote)
	return pad(b, col, 23)
}

// appendTextAddrPort writes port 0 as netstat does, "*": a listener's
// remote is "0.0.0.0:*" or "[::]:*", as the tables show it. JSON keeps the
// number, which parses as an address and port.
func appendTextAddrPort(b []byte, ap netip.AddrPort) []byte {
	if ap.Port() != 0 {
		return appendAddrPort(b, ap)
	}
	a := ap.Addr()
	if a.Is4() {
		b = appendAddr(b, a)
	} else {
		b = append(b, '[')
		b = appendAddr(b, a)
		b = append(b, ']')
	}
	return append(b, ":*"...)
}

func appendTransition(b []byte, ev *tracer.Event) []byte {
	if ev.Kind == tracer.KindAccept || onSocket(ev) {
		return append(b, EventName(ev)...)
	}
	b = append(b, ev.Old.String()...)
	b = append(b, "->"...)
	return append(b, ev.New.String()...)
}

func appendDetail(b []byte, ev *tracer.Event) []byte {
	if ev.Err != 0 {
		b = append(b, unix.ErrnoName(ev.Err)...)
		b = append(b, ' ')
	}
	switch {
	case ev.Kind == tracer.KindTimeWaitEnd && ev.Has(tracer.FlagExpired):
		b = append(b, "expired"...)
	case ev.Kind == tracer.KindTimeWaitEnd:
		b = append(b, "reused or killed"...)
	case ev.Has(tracer.FlagTimeWaitFinWait2):
		b = append(b, "awaiting the peer's FIN (netstat: FIN_WAIT2)"...)
	}
	if ev.Has(tracer.FlagPrevKnown) && ev.Kind != tracer.KindAccept {
		b = appendSep(b)
		b = append(b, "after "...)
		b = appendDuration(b, ev.InState)
	}
	if ev.Has(tracer.FlagSummary) {
		b = appendSep(b)
		if ev.Has(tracer.FlagBornKnown) {
			b = append(b, "lived "...)
			b = appendDuration(b, ev.Lifetime)
			b = append(b, ", "...)
		}
		b = append(b, "sent "...)
		b = strconv.AppendUint(b, ev.BytesSent, 10)
		b = append(b, " B, received "...)
		b = strconv.AppendUint(b, ev.BytesReceived, 10)
		b = append(b, " B, rtt "...)
		b = appendDuration(b, ev.SRTT)
		b = append(b, ", retrans "...)
		b = strconv.AppendUint(b, uint64(ev.Retrans), 10)
	}
	return b
}

// appendSocketDetail appends why a reset was sent, and the state the
// socket was in: none for a reset of a packet that found no socket.
func (f *EventFormatter) appendSocketDetail(b []byte, ev *tracer.Event) []byte {
	if ev.Kind == tracer.KindResetSent {
		b = AppendSafe(b, f.reason(ev))
	}
	if ev.New != 0 {
		b = appendSep(b)
		b = append(b, "in "...)
		b = append(b, ev.New.String()...)
	}
	return b
}

func appendSep(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] != ' ' {
		b = append(b, ", "...)
	}
	return b
}

// appendDuration prints whole us below 1 ms, ms to the us below 1 s, and
// s to the ms above: each unit past us with three decimals, what people
// compare connection times in. Under -c churn every gone row has one, so
// it is integer arithmetic; the rare exact half (rounded as the float's
// binary value says) and negative values go to strconv.
func appendDuration(b []byte, d time.Duration) []byte {
	switch {
	case d < 0:
	case d < time.Millisecond:
		if r := d % time.Microsecond; 2*r != time.Microsecond {
			return append(appendFixed(b, rounded(d, time.Microsecond), 0), "us"...)
		}
	case d < time.Second:
		if r := d % time.Microsecond; 2*r != time.Microsecond {
			return append(appendFixed(b, rounded(d, time.Microsecond), 3), "ms"...)
		}
	default:
		if r := d % time.Millisecond; 2*r != time.Millisecond {
			return append(appendFixed(b, rounded(d, time.Millisecond), 3), 's')
		}
	}
	return appendDurationFloat(b, d)
}

// rounded is d in units, rounded to the nearest (never a half).
func rounded(d, unit time.Duration) uint64 {
	q := d / unit
	if 2*(d%unit) > unit {
		q++
	}
	return uint64(q)
}

// appendFixed appends v with its last decimals digits after a point.
func appendFixed(b []byte, v uint64, decimals int) []byte {
	if decimals == 0 {
		return appendUint(b, v)
	}
	scale := uint64(10)
	for i := 1; i < decimals; i++ {
		scale *= 10
	}
	b = appendUint(b, v/scale)
	b = append(b, '.')
	return appendDigits(b, v%scale, decimals)
}

func appendDurationFloat(b []byte, d time.Duration) []byte {
	switch {
	case d < time.Millisecond:
		b = strconv.AppendFloat(b, float64(d)/float64(time.Microsecond), 'f', 0, 64)
		return append(b, "us"...)
	case d < time.Second:
		b = strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 3, 64)
		return append(b, "ms"...)
	}
	b = strconv.AppendFloat(b, d.Seconds(), 'f', 3, 64)
	return append(b, 's')
}

// pad appends spaces until the ASCII column that started at start is width
// wide, and always one space after it. Only the name column can hold
// multibyte runes, and counting runes in every column was dear.
func pad(b []byte, start, width int) []byte { return padFrom(b, len(b)-start, width) }

// spaces is the widest column's padding.
const spaces = "                        "

// padFrom pads a column n display columns wide.
func padFrom(b []byte, n, width int) []byte {
	if k := width - 1 - n; k > 0 {
		b = append(b, spaces[:min(k, len(spaces))]...)
	}
	return append(b, ' ')
}

// commString views a Comm as a string without allocating.
func commString(c *snapshot.Comm) string {
	n := 0
	for n < len(c) && c[n] != 0 {
		n++
	}
	return unsafeString(c[:n])
}

// AppendJSON appends one NDJSON object: docs/DESIGN.md's event contract, plus
// the detail fields. Field names and the punctuation between them are
// appended as one constant each: a line per event, every append counts.
func (f *EventFormatter) AppendJSON(b []byte, ev *tracer.Event) []byte {
	b = append(b, `{"time":"`...)
	b = f.clock.appendJSON(b, ev.Time)
	b = append(b, `","event":"`...)
	b = append(b, EventName(ev)...)
	if ev.Kind == tracer.KindLost {
		b = append(b, `","lost":`...)
		b = appendUint(b, ev.Lost.Total())
		b = append(b, `,"lost_ring_full":`...)
		b = appendUint(b, ev.Lost.RingFull)
		b = append(b, `,"lost_recursion":`...)
		b = appendUint(b, ev.Lost.Recursion)
		return append(b, "}\n"...)
	}
	b = f.lineParts().owner(b, ev, true, appendJSONWho)
	if f.Containers != nil {
		b = appendJSONContainer(b, f.container(ev))
	}
	b = f.lineParts().where(b, ev, true, appendJSONWhere)
	b = append(b, `","old_state":"`...)
	b = append(b, ev.Old.String()...)
	b = append(b, `","new_state":"`...)
	b = append(b, ev.New.String()...)
	b = append(b, `","error":"`...)
	if ev.Err != 0 {
		b = append(b, unix.ErrnoName(ev.Err)...)
	}
	b = append(b, '"')
	if uidKnown(ev) {
		b = append(b, `,"uid":`...)
		b = appendUint(b, uint64(ev.UID))
	}
	b = append(b, `,"inode":`...)
	b = appendUint(b, ev.Inode)
	b = f.lineParts().id(b, ev, appendJSONID)
	if ev.Kind == tracer.KindResetSent {
		if name := f.reason(ev); name != "" {
			b = append(b, `,"reason":`...)
			b = AppendJSONString(b, name)
		}
	}
	return appendJSONDetail(b, ev)
}

// uidKnown reports whether ev has its socket's uid. A timewait socket keeps
// none: its end, or a reset it sends, has one only from the TIME_WAIT entry
// (FlagPrevKnown, FlagOwnerKnown), which a socket older than socktrace
// never had. A reset for a packet that found no socket has no socket.
func uidKnown(ev *tracer.Event) bool {
	switch {
	case ev.Kind == tracer.KindTimeWaitEnd:
		return ev.Has(tracer.FlagPrevKnown)
	case ev.Kind == tracer.KindResetSent && ev.Sock == 0:
		return false
	case ev.Kind == tracer.KindResetSent && ev.New == tcpstate.TimeWait:
		return ev.Has(tracer.FlagOwnerKnown)
	}
	return true
}

// appendJSONWho appends the fields from pid to comm.
func appendJSONWho(b []byte, ev *tracer.Event) []byte {
	b = append(b, `","pid":`...)
	b = appendUint(b, uint64(ev.PID))
	b = append(b, `,"tid":`...)
	b = appendUint(b, uint64(ev.TID))
	b = append(b, `,"comm":`...)
	if ev.Has(tracer.FlagOwnerKnown) {
		return AppendJSONString(b, commString(&ev.Comm))
	}
	return append(b, `""`...)
}

// appendJSONWhere appends the fields from proto to remote's value.
func appendJSONWhere(b []byte, ev *tracer.Event) []byte {
	b = append(b, `,"proto":"`...)
	b = append(b, ev.Proto()...)
	b = append(b, `","local":"`...)
	b = appendAddrPort(b, ev.Local)
	b = append(b, `","remote":"`...)
	return appendAddrPort(b, ev.Remote)
}

func appendJSONID(b []byte, ev *tracer.Event) []byte {
	b = append(b, `,"netns":`...)
	b = appendUint(b, uint64(ev.NetNS))
	b = append(b, `,"sock":"0x`...)
	b = appendHex(b, ev.Sock)
	return append(b, '"')
}

func appendJSONDetail(b []byte, ev *tracer.Event) []byte {
	if ev.Has(tracer.FlagPrevKnown) && ev.Kind != tracer.KindAccept {
		b = append(b, `,"in_state_ns":`...)
		b = appendUint(b, uint64(ev.InState))
	}
	if ev.Has(tracer.FlagBornKnown) && (ev.Has(tracer.FlagSummary) || ev.Kind == tracer.KindTimeWaitEnd) {
		b = append(b, `,"lifetime_ns":`...)
		b = appendUint(b, uint64(ev.Lifetime))
	}
	if ev.Has(tracer.FlagSummary) {
		b = append(b, `,"bytes_sent":`...)
		b = appendUint(b, ev.BytesSent)
		b = append(b, `,"bytes_received":`...)
		b = appendUint(b, ev.BytesReceived)
		b = append(b, `,"srtt_us":`...)
		b = appendUint(b, uint64(ev.SRTT/time.Microsecond))
		b = append(b, `,"retrans":`...)
		b = appendUint(b, uint64(ev.Retrans))
	}
	if ev.Has(tracer.FlagTimeWaitFinWait2) {
		b = append(b, `,"awaiting_fin":true`...)
	}
	if ev.Kind == tracer.KindTimeWaitEnd {
		if ev.Has(tracer.FlagExpired) {
			b = append(b, `,"reason":"expired"`...)
		} else {
			b = append(b, `,"reason":"reused"`...)
		}
	}
	return append(b, "}\n"...)
}

// appendHex appends v in lowercase hexadecimal, as strconv.AppendUint(b,
// v, 16). Kernel addresses have all 16 digits.
func appendHex(b []byte, v uint64) []byte {
	var d [16]byte
	for i := range d {
		d[15-i] = hexDigits[(v>>(4*i))&0xf]
	}
	n := 15
	for n > 0 && v>>(4*n) == 0 {
		n--
	}
	return append(b, d[15-n:]...)
}

const hexDigits = "0123456789abcdef"

// unsafeString views b as a string; b must not change while it is used.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
