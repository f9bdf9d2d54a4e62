package top

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Column is what --sort orders rows by, largest first.
type Column uint8

const (
	SortConnects Column = iota
	SortAccepts
	SortFailed
	SortResets // sent and received
	SortResetsSent
	SortResetsReceived
	SortRetransmits
	SortSynSent
	SortSynRecv
	SortTimeWait
	SortConnectP50
	SortConnectP99
	SortLifetimeP50
	SortLifetimeP99
	SortBytesSent
	SortBytesReceived
)

// columnNames are --sort's names, indexed by Column: the JSON fields'.
var columnNames = [...]string{
	"connects", "accepts", "failed", "resets", "resets_sent", "resets_received", "retransmits",
	"syn_sent", "syn_recv", "time_wait", "connect_p50", "connect_p99", "lifetime_p50", "lifetime_p99",
	"bytes_sent", "bytes_received",
}

func (c Column) String() string { return columnNames[c] }

// ParseColumn takes a column's name, in any case, with - or _ between
// words, and with or without the JSON field's _us.
func ParseColumn(s string) (Column, error) {
	name := strings.TrimSuffix(strings.ReplaceAll(strings.ToLower(s), "-", "_"), "_us")
	for i, n := range columnNames {
		if name == n {
			return Column(i), nil
		}
	}
	return 0, fmt.Errorf("--sort %q: want one of %s", s, strings.Join(columnNames[:], ", "))
}

func (c Column) value(r *Row) int64 {
	switch c {
	case SortAccepts:
		return int64(r.Accepts)
	case SortFailed:
		return int64(r.Failed)
	case SortResets:
		return int64(r.ResetsSent + r.ResetsReceived)
	case SortResetsSent:
		return int64(r.ResetsSent)
	case SortResetsReceived:
		return int64(r.ResetsReceived)
	case SortRetransmits:
		return int64(r.Retransmits)
	case SortSynSent:
		return int64(r.SynSent)
	case SortSynRecv:
		return int64(r.SynRecv)
	case SortTimeWait:
		return int64(r.TimeWait)
	case SortConnectP50:
		return r.ConnectP50
	case SortConnectP99:
		return r.ConnectP99
	case SortLifetimeP50:
		return r.LifetimeP50
	case SortLifetimeP99:
		return r.LifetimeP99
	case SortBytesSent:
		return int64(r.BytesSent)
	case SortBytesReceived:
		return int64(r.BytesReceived)
	}
	return int64(r.Connects)
}

// Sort orders the rows by c, largest first, then by their group; the
// other row comes last.
func (rep *Report) Sort(c Column) {
	rows := rep.Rows
	slices.SortFunc(rows, func(x, y Row) int {
		if x.Other != y.Other {
			return cmp.Compare(boolInt(x.Other), boolInt(y.Other))
		}
		if d := cmp.Compare(c.value(&y), c.value(&x)); d != 0 {
			return d
		}
		return compareGroups(&x, &y)
	})
	rep.Groups = len(rows)
	if len(rows) > 0 && rows[len(rows)-1].Other {
		rep.Groups--
	}
}

// First is rep with its first n rows (all when n is 0), and the other row.
func (rep *Report) First(n int) Report {
	r := *rep
	if n <= 0 || n >= r.Groups {
		return r
	}
	r.Rows = r.Rows[:n:n]
	if last := rep.Rows[len(rep.Rows)-1]; last.Other {
		r.Rows = append(r.Rows, last)
	}
	return r
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func compareGroups(x, y *Row) int {
	return cmp.Or(
		strings.Compare(x.Container, y.Container),
		bytes.Compare(x.Comm[:], y.Comm[:]),
		cmp.Compare(x.PID, y.PID),
		x.Remote.Compare(y.Remote),
		cmp.Compare(x.RemotePort, y.RemotePort),
		cmp.Compare(x.LocalPort, y.LocalPort))
}

// shown is how many rows First kept, the other row aside.
func (rep *Report) shown() int {
	n := len(rep.Rows)
	if n > 0 && rep.Rows[n-1].Other {
		n--
	}
	return n
}

// ColumnNames are the names ParseColumn takes.
func ColumnNames() []string { return columnNames[:] }
