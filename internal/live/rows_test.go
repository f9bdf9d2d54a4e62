package live

import (
	"bytes"
	"context"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/filter"
	"github.com/socktrace/socktrace/internal/netstat"
	"github.com/socktrace/socktrace/internal/table"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// pileTest is a live table with no kernel behind it: events are applied by
// hand and printInet prints what -tanc would.
type pileTest struct {
	t   *testing.T
	e   *Engine
	now time.Time
}

func newPileTest(t *testing.T, o netstat.Options) *pileTest {
	o.TCP, o.Inet4, o.NumericHosts, o.NumericPorts, o.NumericUsers = true, true, true, true, true
	e := &Engine{cfg: Config{Tables: o}, tr: &tracer.Tracer{}, tbl: table.New(table.Config{ProcRoot: t.TempDir()})}
	e.t = &e.cfg.Tables
	e.r = netstat.NewPrinter(context.Background(), e.t)
	e.varies = ages(o.Filter)
	return &pileTest{t: t, e: e, now: e.tr.Clock()}
}

// closeFirst applies a client connection from port that closes first and
// enters TIME_WAIT.
func (p *pileTest) closeFirst(port uint16) {
	p.apply(port, tracer.KindState, tcpstate.Close, tcpstate.SynSent, 0)
	p.apply(port, tracer.KindState, tcpstate.FinWait2, tcpstate.TimeWait, 0)
}

// expire applies the end of port's timewait socket.
func (p *pileTest) expire(port uint16) {
	p.apply(port, tracer.KindTimeWaitEnd, tcpstate.TimeWait, tcpstate.Close, tracer.FlagExpired)
}

func (p *pileTest) apply(port uint16, kind tracer.Kind, old, new tcpstate.State, flags tracer.Flag) {
	p.now = p.now.Add(time.Millisecond)
	ev := tracer.Event{Time: p.now, Kind: kind, Old: old, New: new, Family: syscall.AF_INET,
		Local:  netip.MustParseAddrPort("127.0.0.1:" + itoa(port)),
		Remote: netip.MustParseAddrPort("127.0.0.1:9511"), PID: 42, TID: 42, Comm: snapshot.CommOf("churn"),
		Flags: tracer.FlagOwnerKnown | tracer.FlagBornKnown | flags, Lifetime: time.Millisecond}
	p.e.tbl.Apply(&ev)
}

func itoa(port uint16) string { return strconv.Itoa(int(port)) }

// table prints a table and sweeps as -c does after it, and returns its rows
// for port: the live ones and the gone ones.
func (p *pileTest) table(port uint16) (live, gone []string) {
	var text tableText
	var out bytes.Buffer
	p.e.rf, p.e.now = p.e.t.NewRowFilter(&out, nil), p.now
	if err := p.e.printInet(&text, &out); err != nil {
		p.t.Fatal(err)
	}
	if err := text.writeTo(&out); err != nil {
		p.t.Fatal(err)
	}
	p.e.tbl.Sweep(p.now, p.e.cfg.Linger)
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.Contains(line, "127.0.0.1:"+itoa(port)+" ") {
			continue
		}
		if strings.Contains(line, "gone") {
			gone = append(gone, line)
		} else {
			live = append(live, line)
		}
	}
	return live, gone
}

// A TIME_WAIT row is printed in every table while its timewait socket
// lives, then once as gone with the same columns and the gone note, then
// no more; a row that entered and ended between two tables is printed
// gone once; rows the options hide stay hidden when gone.
func TestLivePrintsTimeWaitPile(t *testing.T) {
	p := newPileTest(t, netstat.Options{All: true})
	p.closeFirst(40001)
	p.closeFirst(40002)
	first, _ := p.table(40001)
	if len(first) != 1 || !strings.Contains(first[0], "TIME_WAIT") {
		t.Fatalf("first table: rows for :40001 %q, want one TIME_WAIT row", first)
	}
	if again, gone := p.table(40001); len(again) != 1 || again[0] != first[0] || gone != nil {
		t.Errorf("second table: rows %q, gone %q; want the same TIME_WAIT row, none gone", again, gone)
	}
	p.expire(40001)
	p.closeFirst(40003)
	p.expire(40003)
	live, gone := p.table(40001)
	if live != nil || len(gone) != 1 || !strings.HasPrefix(gone[0], first[0]+" ") {
		t.Errorf("after expiry: rows %q, gone %q; want only %q with a gone note", live, gone, first[0])
	}
	if live, gone := p.table(40001); live != nil || gone != nil {
		t.Errorf("the table after: rows %q, gone %q; want none", live, gone)
	}
	if live, gone := p.table(40002); len(live) != 1 || gone != nil {
		t.Errorf("the other row: %q, gone %q; want it still in TIME_WAIT", live, gone)
	}
	// Both in one interval: never printed live, gone once.
	p.closeFirst(40004)
	p.expire(40004)
	if live, gone := p.table(40004); live != nil || len(gone) != 1 || !strings.Contains(gone[0], "TIME_WAIT") {
		t.Errorf("born and gone in one interval: rows %q, gone %q; want one gone TIME_WAIT row", live, gone)
	}

	hidden := newPileTest(t, netstat.Options{Listening: true})
	hidden.closeFirst(40001)
	hidden.table(40001)
	hidden.expire(40001)
	if live, gone := hidden.table(40001); live != nil || gone != nil {
		t.Errorf("-l: rows %q, gone %q; want none", live, gone)
	}
}

// A filter chooses the rows, live and gone alike; one on lifetime sees a
// TIME_WAIT row as it ages, past the line the last table cached for it.
func TestLiveFilterRows(t *testing.T) {
	parse := func(expr string) *filter.Filter {
		f, err := filter.Parse(strings.Fields(expr), filter.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	p := newPileTest(t, netstat.Options{All: true, Filter: parse("sport = :40001")})
	p.closeFirst(40001)
	p.closeFirst(40002)
	if live, _ := p.table(40001); len(live) != 1 {
		t.Errorf("sport = :40001: rows %q, want its TIME_WAIT row", live)
	}
	if live, gone := p.table(40002); live != nil || gone != nil {
		t.Errorf("sport = :40001: rows of :40002 %q %q, want none", live, gone)
	}
	p.expire(40001)
	p.expire(40002)
	if _, gone := p.table(40001); len(gone) != 1 {
		t.Errorf("sport = :40001: gone rows %q, want one", gone)
	}

	old := newPileTest(t, netstat.Options{All: true, Filter: parse("lifetime > 1s")})
	old.closeFirst(40001)
	if live, _ := old.table(40001); live != nil {
		t.Errorf("lifetime > 1s: a row of 2ms listed: %q", live)
	}
	old.now = old.now.Add(2 * time.Second)
	if live, _ := old.table(40001); len(live) != 1 {
		t.Errorf("lifetime > 1s: the row 2s old not listed: %q", live)
	}
}
