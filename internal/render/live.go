package render

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/snapshot"
	"golang.org/x/sys/unix"
)

// Live is what the live table (-c) adds to a socket row: an owner from the
// tracer, and for a connection that is gone, how it ended.
type Live struct {
	Owner    snapshot.Owner // PID 0: unknown
	Program  string         // Owner's program name
	Gone     bool
	Lifetime time.Duration // for a gone row; 0 when its birth was not seen
	Err      syscall.Errno // why a connect failed or a connection was reset
	Aborted  bool          // a connect the caller closed before any answer came
	Healed   bool          // gone without a close event: the kernel lost it
	// Container is where Owner runs (JSON "container"); nil: not known.
	Container *container.Info
}

// aborted names a connect the caller closed before any answer came: the
// summary counts it among the failed by this name, and its row says so.
const aborted = "aborted"

// reason is why a gone row ended, by the name the summary counts it under;
// "" when it simply closed.
func (l *Live) reason() string {
	switch {
	case l.Err != 0:
		return unix.ErrnoName(l.Err)
	case l.Aborted:
		return aborted
	}
	return ""
}

// LiveRow writes one row of the live table: netstat's columns, and for a
// gone connection a note after them, "(gone, lived 3.2ms, ECONNREFUSED)".
// The State column of a gone row is the last state it was in.
func (n *Netstat) LiveRow(w io.Writer, s *snapshot.Socket, l *Live) error {
	b := n.appendInetRow(n.buf[:0], s, l.Owner, l.Program)
	if l.Gone {
		b = appendGone(append(b, ' '), l)
	}
	return endRow(w, &n.buf, b)
}

// GoneRowFrom writes a gone row from line, the row LiveRow printed for the
// connection while it lived (with its newline), which differs from the gone
// row only by the note: a TIME_WAIT row that ended is formatted once.
func (n *Netstat) GoneRowFrom(w io.Writer, line []byte, l *Live) error {
	b := append(n.buf[:0], line[:len(line)-1]...)
	b = appendGone(append(b, ' '), l)
	return endRow(w, &n.buf, b)
}

func appendGone(b []byte, l *Live) []byte {
	b = append(b, "(gone"...)
	if l.Lifetime > 0 {
		b = append(b, ", lived "...)
		b = appendDuration(b, l.Lifetime)
	}
	if r := l.reason(); r != "" {
		b = append(b, ", "...)
		b = append(b, r...)
	}
	if l.Healed {
		b = append(b, ", close not seen"...)
	}
	return append(b, ')')
}

// LiveJSON writes one row of the live table as JSON: the snapshot row's
// fields, and for a gone connection "gone": true with its lifetime and
// error.
func (n *Netstat) LiveJSON(w io.Writer, s *snapshot.Socket, l *Live) error {
	row := n.socketJSON(s)
	ownerJSON(&row, l.Owner, l.Program)
	row.Container = JSONText(l.Container.Name())
	row.ContainerID = JSONText(l.Container.ContainerID())
	if l.Gone {
		row.Gone = true
		row.LifetimeNS = int64(l.Lifetime)
		row.Healed = l.Healed
		row.Error = l.reason()
	}
	return writeJSON(w, &row)
}

// Summary is the line after each live table: what happened during the
// interval, and the states that pile up under churn.
type Summary struct {
	Time                      time.Time // end of the interval
	Connects, Accepts, Closes uint64
	Failed                    map[syscall.Errno]uint64 // failed connects by reason; 0: aborted by the caller
	// Resets sent (for a socket, or for a packet no socket took) and
	// received, and segments sent again.
	ResetsSent, ResetsReceived, Retransmits uint64
	SynSent, SynRecv                        int
	TimeWait                                int
	Lost                                    uint64 // events the kernel could not deliver
	Healed                                  uint64 // rows ended without their close event
}

// SummaryLine writes s as one line of text. Once per table: clarity wins
// over the appends the per-row paths use.
func SummaryLine(w io.Writer, s *Summary) error {
	healed := ""
	if s.Healed > 0 {
		healed = fmt.Sprintf(", %d rows healed", s.Healed)
	}
	_, err := fmt.Fprintf(w, "-- %s: %d connects, %d accepts, %d closes, %s; %d resets sent, %d received, %d retransmits; now %d SYN_SENT, %d SYN_RECV, %d TIME_WAIT; %d events lost%s\n",
		s.Time.Format("15:04:05"), s.Connects, s.Accepts, s.Closes, appendFailed(nil, s.Failed),
		s.ResetsSent, s.ResetsReceived, s.Retransmits, s.SynSent, s.SynRecv, s.TimeWait, s.Lost, healed)
	return err
}

// appendFailed writes "N failed" and the reasons, "(ECONNREFUSED 2, ...)".
func appendFailed(b []byte, failed map[syscall.Errno]uint64) []byte {
	reasons := failureReasons(failed)
	var total uint64
	for _, r := range reasons {
		total += r.count
	}
	b = strconv.AppendUint(b, total, 10)
	b = append(b, " failed"...)
	for i, r := range reasons {
		b = append(b, pick(i == 0, " (", ", ")...)
		b = append(b, r.name...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, r.count, 10)
	}
	if len(reasons) > 0 {
		b = append(b, ')')
	}
	return b
}

type failure struct {
	name  string
	count uint64
}

// failureReasons names the reasons, sorted by name for a stable line.
func failureReasons(failed map[syscall.Errno]uint64) []failure {
	out := make([]failure, 0, len(failed))
	for errno, n := range failed {
		name := aborted
		if errno != 0 {
			name = unix.ErrnoName(errno)
		}
		out = append(out, failure{name, n})
	}
	slices.SortFunc(out, func(a, b failure) int { return strings.Compare(a.name, b.name) })
	return out
}

// SummaryJSON writes s as one JSON object: {"summary": true, ...}.
func SummaryJSON(w io.Writer, s *Summary) error {
	failed := map[string]uint64{}
	for _, r := range failureReasons(s.Failed) {
		failed[r.name] = r.count
	}
	return writeJSON(w, &struct {
		Summary        bool              `json:"summary"`
		Time           string            `json:"time"`
		Connects       uint64            `json:"connects"`
		Accepts        uint64            `json:"accepts"`
		Closes         uint64            `json:"closes"`
		Failed         map[string]uint64 `json:"failed"`
		ResetsSent     uint64            `json:"resets_sent"`
		ResetsReceived uint64            `json:"resets_received"`
		Retransmits    uint64            `json:"retransmits"`
		SynSent        int               `json:"syn_sent"`
		SynRecv        int               `json:"syn_recv"`
		TimeWait       int               `json:"time_wait"`
		Lost           uint64            `json:"lost"`
		Healed         uint64            `json:"healed"`
	}{true, string(AppendJSONTime(nil, s.Time)), s.Connects, s.Accepts, s.Closes, failed,
		s.ResetsSent, s.ResetsReceived, s.Retransmits, s.SynSent, s.SynRecv, s.TimeWait, s.Lost, s.Healed})
}
