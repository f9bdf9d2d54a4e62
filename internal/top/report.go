package top

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/snapshot"
)

// Failure is a count of failed connects with one reason.
type Failure struct {
	Reason uint16 // an errno; Aborted or OtherReason
	Count  uint64
}

// maxReasons bounds the reasons a row keeps apart per interval.
const maxReasons = 6

const (
	// Aborted: the connect's own process closed it before any answer.
	Aborted uint16 = 0
	// OtherReason sums up the reasons past maxReasons in one row.
	OtherReason uint16 = 0xffff
)

func reasonOf(err syscall.Errno) uint16 {
	if err >= syscall.Errno(OtherReason) {
		return OtherReason - 1
	}
	return uint16(err)
}

// ReasonName is a reason's name: an errno's (ECONNREFUSED), "aborted" or
// "other".
func ReasonName(r uint16) string {
	switch r {
	case Aborted:
		return "aborted"
	case OtherReason:
		return "other"
	}
	if name := unix.ErrnoName(syscall.Errno(r)); name != "" {
		return name
	}
	return "errno " + strconv.Itoa(int(r))
}

// Row is one group's interval. Durations are in microseconds, -1 when the
// interval had none.
type Row struct {
	Other bool // the events whose group found no room (--max-keys)
	PID   uint32
	Comm  snapshot.Comm
	// Container is where the row's process runs (grouped by process), or
	// the row's container (grouped by it); "" when none is known.
	Container  string
	Remote     netip.Addr // zero when not grouped by it
	RemotePort uint16     // 0: ephemeral ("*"), or not grouped by it
	// LocalPort is the local port of all the row's sockets, or 0 when
	// ephemeral or several.
	LocalPort                               uint16
	Connects, Accepts, Failed               uint64
	Failures                                []Failure // by count, then name
	ResetsSent, ResetsReceived, Retransmits uint64
	SynSent, SynRecv, TimeWait              int // now
	ConnectP50, ConnectP99                  int64
	LifetimeP50, LifetimeP99                int64
	BytesSent, BytesReceived                uint64
}

// Totals are the host's: every row's, the other row's included.
type Totals struct {
	Connects, Accepts, Failed               uint64
	ResetsSent, ResetsReceived, Retransmits uint64
	SynSent, SynRecv, TimeWait              int    // now
	Lost                                    uint64 // events the kernel could not deliver
	OtherEvents                             uint64 // events counted in the other row
	Untracked                               uint64 // sockets past the bound of those tracked, since start
}

// Report is one interval.
type Report struct {
	End      time.Time
	Interval time.Duration
	By       By
	MaxKeys  int
	Rows     []Row // sorted by Sort; the other row last
	Groups   int   // the rows, the other row aside (First may keep fewer)
	Totals   Totals
}

// Interval ends the interval at end: rep gets every row that counted
// something or owns a socket now, and the totals. The next interval starts
// with counts at zero and only the rows that own a socket, so that a busy
// interval's rows leave room for the next one's. rep's slices are reused.
func (a *Aggregator) Interval(rep *Report, end time.Time) {
	a.open.sweepDue(end)
	*rep = Report{End: end, Interval: end.Sub(a.start), By: a.by, MaxKeys: a.maxKeys, Rows: rep.Rows[:0],
		Totals: Totals{Lost: a.lost, OtherEvents: a.otherEvents, Untracked: a.open.untracked}}
	for i := range a.rows {
		r := &a.rows[i]
		if !r.used || (r.c == counts{} && r.synSent == 0 && r.synRecv == 0 && r.timeWait == 0) {
			a.retire(int32(i))
			continue
		}
		rep.Rows = append(rep.Rows, a.report(r, i == otherRow))
		rep.Totals.add(&rep.Rows[len(rep.Rows)-1])
		r.synRecv = 0 // read again for the next interval
		if r.synSent == 0 && r.timeWait == 0 && i != otherRow {
			a.retire(int32(i))
		} else {
			a.restart(int32(i))
		}
	}
	a.lost, a.otherEvents, a.start = 0, 0, end
}

func (a *Aggregator) report(r *row, other bool) Row {
	out := Row{Other: other, PID: r.key.pid, Comm: r.key.comm, RemotePort: r.key.rport,
		Connects: r.c.connects, Accepts: r.c.accepts, Failed: r.c.failed,
		ResetsSent: r.c.resetsSent, ResetsReceived: r.c.resetsReceived, Retransmits: r.c.retransmits,
		SynSent: int(r.synSent), SynRecv: int(r.synRecv), TimeWait: int(r.timeWait), BytesSent: r.c.bytesSent, BytesReceived: r.c.bytesReceived}
	if a.by&ByRemote != 0 {
		out.Remote = r.key.remote()
	}
	out.Container = a.names.names[r.key.container]
	if a.by&ByContainer == 0 {
		out.Container = a.names.names[r.container]
	}
	out.LocalPort = r.key.lport
	if a.by&ByLocalPort == 0 && r.lports == 1 {
		out.LocalPort = r.lport
	}
	out.ConnectP50, out.ConnectP99 = percentiles(r.connectTimes)
	out.LifetimeP50, out.LifetimeP99 = percentiles(r.lifetime)
	for _, f := range r.fails {
		if f.Count > 0 {
			out.Failures = append(out.Failures, f)
		}
	}
	slices.SortFunc(out.Failures, func(x, y Failure) int {
		if x.Count != y.Count {
			return cmp.Compare(y.Count, x.Count)
		}
		return strings.Compare(ReasonName(x.Reason), ReasonName(y.Reason))
	})
	return out
}

func percentiles(h *hist) (p50, p99 int64) {
	v50, ok := h.quantile(0.50)
	if !ok {
		return -1, -1
	}
	v99, _ := h.quantile(0.99)
	return int64(v50), int64(v99)
}

func (t *Totals) add(r *Row) {
	t.Connects += r.Connects
	t.Accepts += r.Accepts
	t.Failed += r.Failed
	t.ResetsSent += r.ResetsSent
	t.ResetsReceived += r.ResetsReceived
	t.Retransmits += r.Retransmits
	t.SynSent += r.SynSent
	t.SynRecv += r.SynRecv
	t.TimeWait += r.TimeWait
}

// restart zeroes a row's interval counts; it keeps its sockets.
// The other row is restarted, never retired.
func (a *Aggregator) restart(i int32) {
	r := &a.rows[i]
	r.c, r.fails, r.lports = counts{}, [maxReasons]Failure{}, 0
	for _, h := range []**hist{&r.connectTimes, &r.lifetime} {
		if *h != nil {
			(*h).reset()
		}
	}
}

// retire frees a row that owns nothing; the other row stays.
func (a *Aggregator) retire(i int32) {
	r := &a.rows[i]
	if !r.used || i == otherRow {
		return
	}
	for _, h := range []*hist{r.connectTimes, r.lifetime} {
		if h != nil {
			h.reset()
			a.spare = append(a.spare, h)
		}
	}
	delete(a.index, r.key)
	*r = row{}
	a.free = append(a.free, i)
}
