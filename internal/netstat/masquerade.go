package netstat

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/socktrace/socktrace/conntrack"
	"github.com/socktrace/socktrace/internal/render"
)

// Masquerade prints the NATed flows of the kernel's connection tracking
// (-M), once, or every interval until ctx ends (-c): netstat's
// masquerading table, which netstat itself reads from a /proc file gone
// since Linux 2.4. Of o it reads the names (-n and the like), Extend and
// JSON. A kernel without conntrack, or a caller without CAP_NET_ADMIN, is
// an error saying which (conntrack.ErrNoConntrack, ErrPrivileges).
func Masquerade(ctx context.Context, stdout, stderr io.Writer, o *Options, interval time.Duration) error {
	c, err := conntrack.Dial()
	if err != nil {
		return fmt.Errorf("-M: %w", err)
	}
	defer c.Close()
	w := bufio.NewWriterSize(stdout, 64<<10)
	p := masqPrinter{names: newNames(ctx, o), extend: o.Extend, json: o.JSON}
	if interval <= 0 {
		flows, err := c.NATFlows(nil)
		if err != nil {
			return fmt.Errorf("-M: %w", err)
		}
		rows := make([]conntrack.Row, len(flows))
		for i := range flows {
			rows[i].Flow = flows[i]
		}
		return errors.Join(p.rows(w, rows), w.Flush())
	}
	return masqueradeLive(ctx, w, stderr, c, &p, interval)
}

// masqPrinter prints -M's rows and summaries.
type masqPrinter struct {
	names        *names
	extend, json bool
}

// masqueradeLive is -M -c: the subscription to conntrack's events comes
// before the first dump, so a flow born while socktrace starts is in the
// dump or has its event, and each table lists the flows destroyed since
// the previous one.
func masqueradeLive(ctx context.Context, w *bufio.Writer, stderr io.Writer, c *conntrack.Conn, p *masqPrinter, interval time.Duration) error {
	events, err := conntrack.Listen()
	if err != nil {
		return fmt.Errorf("-M: %w", err)
	}
	if conntrack.EventsOff() {
		fmt.Fprintln(stderr, "socktrace: -M -c: net.netfilter.nf_conntrack_events is 0, so the kernel sends no events: flows born and gone between two tables are not shown")
	}
	table := conntrack.NewTable()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readEvents(events, table, stderr)
	}()
	defer wg.Wait()
	defer events.Close()

	var flows []conntrack.Flow
	var rows []conntrack.Row
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		dumped := time.Now()
		flows, err = c.NATFlows(flows[:0])
		if err != nil {
			return fmt.Errorf("-M: %w", err)
		}
		var s conntrack.Summary
		rows, s = table.Rows(flows, dumped, rows[:0])
		s.Time = time.Now()
		err = p.rows(w, rows)
		if err == nil {
			err = p.summary(w, &s)
		}
		if err = errors.Join(err, w.Flush()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// readEvents feeds the table until the stream is closed. Losses are
// counted for the summary; a stream that fails is said once, and the
// table goes on from its dumps alone.
func readEvents(events *conntrack.Events, table *conntrack.Table, stderr io.Writer) {
	var ev conntrack.Event
	for {
		err := events.Next(&ev)
		switch {
		case err == nil:
			table.Apply(&ev)
		case errors.Is(err, conntrack.ErrOverrun), errors.Is(err, conntrack.ErrBadEvent):
			table.Lost()
		case errors.Is(err, net.ErrClosed):
			return
		default:
			fmt.Fprintf(stderr, "socktrace: -M -c: %v; flows born and gone between two tables are no longer shown\n", err)
			return
		}
	}
}

// rows writes the rows, with netstat's title and header unless there are
// none (netstat prints nothing then) or they are JSON.
func (p *masqPrinter) rows(w io.Writer, rows []conntrack.Row) error {
	if p.json {
		for i := range rows {
			if err := render.MasqueradeRowJSON(w, &rows[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if len(rows) == 0 {
		return nil
	}
	addrs := make([]netip.Addr, 0, 2*len(rows))
	for i := range rows {
		addrs = append(addrs, rows[i].Orig.Src, rows[i].Orig.Dst)
	}
	p.names.prefetchAddrs(addrs)
	m := render.Masquerade{Names: p.names, Extend: p.extend}
	if err := m.Header(w); err != nil {
		return err
	}
	for i := range rows {
		if err := m.Row(w, &rows[i]); err != nil {
			return err
		}
	}
	return nil
}

func (p *masqPrinter) summary(w io.Writer, s *conntrack.Summary) error {
	if p.json {
		return render.MasqueradeSummaryJSON(w, s)
	}
	return render.MasqueradeSummaryLine(w, s)
}
