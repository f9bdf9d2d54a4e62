package top

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/socktrace/socktrace/internal/render"
)

// Text renders reports as a header line and a table. Rates are per second
// of the interval; SYN_SENT, SYN_RECV and TIME_WAIT are counts now.
type Text struct {
	buf bytes.Buffer
}

// dataHeader are the columns after the group's, with whether each is a
// number (right-aligned).
var dataHeader = []string{"CONN/s", "ACC/s", "FAIL/s", "REASONS", "RST-OUT/s", "RST-IN/s", "RETX/s",
	"SYN_SENT", "SYN_RECV", "TIME_WAIT", "CONN-P50", "CONN-P99", "LIFE-P50", "LIFE-P99", "RECV/s", "SENT/s"}

// Lines renders rep, each line cut to width display columns (0: not cut).
// A table is a few dozen lines once an interval: clarity wins over
// allocations here.
func (t *Text) Lines(rep *Report, width int) ([]string, error) {
	lines := []string{headerLine(rep)}
	t.buf.Reset()
	if err := t.table(rep); err != nil {
		return nil, err
	}
	for line := range strings.Lines(t.buf.String()) {
		lines = append(lines, strings.TrimRight(line, " \n"))
	}
	if width > 0 {
		for i, l := range lines {
			if twwidth.Width(l) > width {
				lines[i] = twwidth.Truncate(l, width)
			}
		}
	}
	return lines, nil
}

func (t *Text) table(rep *Report) error {
	keyCols := groupHeader(rep.By)
	header := append(append([]string{}, keyCols...), dataHeader...)
	align := make([]tw.Align, len(header))
	for i := range align {
		align[i] = tw.AlignLeft
		if i >= len(keyCols) && header[i] != "REASONS" {
			align[i] = tw.AlignRight
		}
	}
	tab := tablewriter.NewTable(&t.buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: " ", Overwrite: true}),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithTrimSpace(tw.Off),
	)
	tab.Header(header)
	for i := range rep.Rows {
		if err := tab.Append(rowCells(rep, &rep.Rows[i])); err != nil {
			return fmt.Errorf("render top table: %w", err)
		}
	}
	if err := tab.Render(); err != nil {
		return fmt.Errorf("render top table: %w", err)
	}
	return nil
}

func groupHeader(by By) []string {
	var h []string
	if by&ByProcess != 0 {
		h = append(h, "PID")
	}
	if by&(ByProcess|ByComm) != 0 {
		h = append(h, "COMM")
	}
	if by&(ByProcess|ByContainer) != 0 {
		h = append(h, "CONTAINER")
	}
	if by&ByRemote != 0 {
		h = append(h, "REMOTE")
	}
	if by&ByRemotePort != 0 {
		h = append(h, "RPORT")
	}
	if by&ByLocalPort != 0 {
		h = append(h, "LPORT")
	}
	return h
}

// groupCells are the row's group, escaped: a process name is chosen by
// whoever started the process.
func groupCells(by By, r *Row) []string {
	var c []string
	if by&ByProcess != 0 {
		c = append(c, pidText(r.PID))
	}
	if by&(ByProcess|ByComm) != 0 {
		c = append(c, commText(r))
	}
	if by&(ByProcess|ByContainer) != 0 {
		c = append(c, containerText(r))
	}
	if by&ByRemote != 0 {
		c = append(c, RemoteText(r))
	}
	if by&ByRemotePort != 0 {
		c = append(c, portText(r.RemotePort))
	}
	if by&ByLocalPort != 0 {
		c = append(c, portText(r.LocalPort))
	}
	if r.Other {
		for i := range c {
			c[i] = ""
		}
		c[0] = "other"
	}
	return c
}

func rowCells(rep *Report, r *Row) []string {
	d := rep.Interval
	c := groupCells(rep.By, r)
	return append(c,
		rate(r.Connects, d), rate(r.Accepts, d), rate(r.Failed, d), reasons(r.Failures, d),
		rate(r.ResetsSent, d), rate(r.ResetsReceived, d), rate(r.Retransmits, d),
		strconv.Itoa(r.SynSent), strconv.Itoa(r.SynRecv), strconv.Itoa(r.TimeWait),
		micros(r.ConnectP50), micros(r.ConnectP99), micros(r.LifetimeP50), micros(r.LifetimeP99),
		byteRate(r.BytesReceived, d), byteRate(r.BytesSent, d))
}

func pidText(pid uint32) string {
	if pid == 0 {
		return "-" // no owner known, as in the event log
	}
	return strconv.FormatUint(uint64(pid), 10)
}

func commText(r *Row) string {
	if s := r.Comm.String(); s != "" {
		return render.Safe(s)
	}
	return "-"
}

// containerText is escaped: cgroup and pod names are chosen by whoever
// made them.
func containerText(r *Row) string {
	if r.Container == "" {
		return "-"
	}
	return render.Safe(r.Container)
}

func portText(p uint16) string {
	if p == 0 {
		return "*"
	}
	return strconv.Itoa(int(p))
}

// RemoteText is the row's remote as addr:port, the port "*" when
// ephemeral, the address "*" when not grouped by it.
func RemoteText(r *Row) string {
	if !r.Remote.IsValid() {
		return "*:" + portText(r.RemotePort)
	}
	if r.Remote.Is6() {
		return "[" + r.Remote.String() + "]:" + portText(r.RemotePort)
	}
	return r.Remote.String() + ":" + portText(r.RemotePort)
}

// reasons are the two most frequent, and how many more kinds there were.
func reasons(fs []Failure, d time.Duration) string {
	var b strings.Builder
	for i, f := range fs {
		if i == 2 {
			fmt.Fprintf(&b, " +%d", len(fs)-2)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ReasonName(f.Reason))
		b.WriteByte(' ')
		b.WriteString(rate(f.Count, d))
	}
	return b.String()
}

// perSecond is n over the interval d.
func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return float64(n)
	}
	return float64(n) / d.Seconds()
}

// rate is a count per second, to one decimal below 100 and whole above
// (and without the decimal when it is 0).
func rate(n uint64, d time.Duration) string {
	r := perSecond(n, d)
	if r >= 100 {
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strings.TrimSuffix(strconv.FormatFloat(r, 'f', 1, 64), ".0")
}

// byteRate is bytes per second in powers of 1024 (K, M, G, T).
func byteRate(n uint64, d time.Duration) string {
	r := perSecond(n, d)
	units := "KMGT"
	if r < 1024 {
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	u := -1
	for r >= 1024 && u < len(units)-1 {
		r /= 1024
		u++
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + units[u:u+1]
}

// micros is a duration in microseconds as a human reads it, "-" for none.
func micros(us int64) string {
	d := time.Duration(us) * time.Microsecond
	switch {
	case us < 0:
		return "-"
	case d < time.Millisecond:
		return strconv.FormatInt(us, 10) + "us"
	case d < time.Second:
		return strconv.FormatFloat(float64(us)/1e3, 'f', 2, 64) + "ms"
	case d < 100*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	case d < 100*time.Minute:
		return strconv.FormatFloat(d.Minutes(), 'f', 1, 64) + "m"
	}
	return strconv.FormatFloat(d.Hours(), 'f', 1, 64) + "h"
}

// headerLine is the host's interval, as -c's summary line says it.
func headerLine(rep *Report) string {
	t, d := &rep.Totals, rep.Interval
	var b strings.Builder
	fmt.Fprintf(&b, "socktrace top %s (%s, by %s): %s connects/s, %s accepts/s, %s failed/s, %s resets sent/s, %s received/s, %s retransmits/s; now %d SYN_SENT, %d SYN_RECV, %d TIME_WAIT; %d events lost",
		rep.End.Format("15:04:05"), d.Round(time.Millisecond), rep.By,
		rate(t.Connects, d), rate(t.Accepts, d), rate(t.Failed, d),
		rate(t.ResetsSent, d), rate(t.ResetsReceived, d), rate(t.Retransmits, d),
		t.SynSent, t.SynRecv, t.TimeWait, t.Lost)
	if t.OtherEvents > 0 {
		fmt.Fprintf(&b, "; %d events in other (--max-keys %d)", t.OtherEvents, rep.MaxKeys)
	}
	if t.Untracked > 0 {
		fmt.Fprintf(&b, "; %d sockets not counted in SYN_SENT or TIME_WAIT (too many to track)", t.Untracked)
	}
	if n := rep.shown(); rep.Groups > n {
		fmt.Fprintf(&b, "; top %d of %d rows", n, rep.Groups)
	}
	return b.String()
}
