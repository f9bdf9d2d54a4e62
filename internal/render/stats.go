package render

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/socktrace/socktrace/snapshot"
)

// StatsOptions choose which of netstat -s's tables print: -w (Ip, Icmp),
// -t (Tcp, TcpExt), -u (Udp), --sctp. netstat turns them all on when none is
// given; groups it has no table for (IcmpMsg, UdpLite, IpExt...) print
// whatever the flags.
type StatsOptions struct {
	Raw, TCP, UDP, SCTP bool
}

// statKind is how netstat prints a counter (statistics.c's enum State),
// plus two flag bits.
type statKind int

const (
	statNumber    statKind = iota // always printed
	statOptNumber                 // printed when not zero
	statForward                   // "Forwarding is %s"
	statInICMP                    // under "ICMP input histogram:", when not zero
	statOutICMP                   // under "ICMP output histogram:", when not zero
	statRTOAlg                    // never printed

	statStatic statKind = 1 << 16 // configuration, not a counter: never printed
	statTitle  statKind = 1 << 17 // opens a histogram
)

// statIndent and statTitles are per kind; a histogram's lines sit deeper.
func statIndent(k statKind) int {
	switch k {
	case statNumber, statOptNumber, statForward:
		return 4
	case statInICMP, statOutICMP:
		return 8
	}
	return 0
}

func statTitleOf(k statKind) string {
	if k == statInICMP {
		return "ICMP input histogram:"
	}
	return "ICMP output histogram:"
}

type statEntry struct {
	name   string
	phrase string // a Printf format with one %d
	kind   statKind
}

type statTable struct {
	name    string
	entries []statEntry
	on      func(StatsOptions) bool
}

func inetTables() []statTable {
	return []statTable{
		{"Ip", ipStats, rawOn}, {"Icmp", icmpStats, rawOn}, {"Tcp", tcpStats, tcpOn},
		{"Udp", udpStats, udpOn}, {"Sctp", sctpStats, sctpOn}, {"TcpExt", tcpExtStats, tcpOn},
	}
}

func inet6Tables() []statTable {
	return []statTable{
		{"Ip6", ip6Stats, rawOn}, {"Icmp6", icmp6Stats, rawOn}, {"Udp6", udp6Stats, udpOn},
		{"Tcp6", tcpStats, tcpOn},
	}
}

func rawOn(o StatsOptions) bool  { return o.Raw }
func tcpOn(o StatsOptions) bool  { return o.TCP }
func udpOn(o StatsOptions) bool  { return o.UDP }
func sctpOn(o StatsOptions) bool { return o.SCTP }

// statPrinter replays netstat's statistics.c. Its output depends on state
// carried from counter to counter and table to table (the indent of an
// unknown counter is that of the line before it), so the printer keeps
// that state across every group of one run.
type statPrinter struct {
	w      io.Writer
	opts   StatsOptions
	tables []statTable
	state  statKind
}

// Stats prints netstat -s for IPv4: the groups of /proc/net/snmp, then
// /proc/net/netstat, then /proc/net/sctp/snmp, in the order given.
func Stats(w io.Writer, groups []snapshot.StatGroup, o StatsOptions) error {
	bw := bufio.NewWriter(w)
	p := &statPrinter{w: bw, opts: o, tables: inetTables()}
	for _, g := range groups {
		p.group(g)
	}
	return flushTable(bw)
}

// Stats6 prints netstat -s -6: the groups of /proc/net/snmp6, then those
// of /proc/net/snmp whose names start with "Tcp" (netstat has no Tcp6
// counters of its own to show).
func Stats6(w io.Writer, snmp6, snmp []snapshot.StatGroup, o StatsOptions) error {
	bw := bufio.NewWriter(w)
	p := &statPrinter{w: bw, opts: o, tables: inet6Tables()}
	for _, g := range snmp6 {
		p.group(g)
	}
	p.tables = inetTables()
	for _, g := range snmp {
		if strings.HasPrefix(g.Name, "Tcp") {
			p.group(g)
		}
	}
	return flushTable(bw)
}

func (p *statPrinter) group(g snapshot.StatGroup) {
	var t *statTable
	for i := range p.tables {
		if p.tables[i].name == g.Name {
			t = &p.tables[i]
		}
	}
	if t == nil {
		// A group netstat has no table for prints its title and every
		// non-zero counter, and leaves the indent state alone.
		fmt.Fprintf(p.w, "%s:\n", Safe(g.Name))
		for _, c := range g.Counters {
			p.counter(nil, c)
		}
		return
	}
	on := t.on(p.opts)
	if on {
		fmt.Fprintf(p.w, "%s:\n", g.Name)
	}
	p.state = statNumber
	if !on {
		return
	}
	for _, c := range g.Counters {
		p.counter(t.entries, c)
	}
}

func (p *statPrinter) counter(entries []statEntry, c snapshot.Counter) {
	e := findStat(entries, c.Name)
	if e == nil {
		if c.Value != 0 {
			fmt.Fprintf(p.w, "%*s%s: %d\n", statIndent(p.state), "", Safe(c.Name), c.Value)
		}
		return
	}
	kind := e.kind
	if kind&statStatic != 0 || e.phrase == "" {
		return
	}
	if kind&statTitle != 0 {
		kind &^= statTitle
		if p.state != kind {
			fmt.Fprintf(p.w, "%*s%s\n", statIndent(p.state), "", statTitleOf(kind))
		}
	}
	line := ""
	switch kind {
	case statOptNumber, statInICMP, statOutICMP:
		if c.Value != 0 {
			line = fmt.Sprintf(e.phrase, c.Value)
		}
	case statNumber:
		line = fmt.Sprintf(e.phrase, c.Value)
	}
	if line != "" {
		fmt.Fprintf(p.w, "%*s%s\n", statIndent(kind), "", line)
	}
	p.state = kind
}

// findStat is glibc's bsearch over a table, step for step. netstat's
// tables are meant to be sorted but are not quite (Forwarding sorts after
// ForwDatagrams, TCPTimeouts after TCPTSReorder...), so some of their
// entries are never found, and netstat prints those counters as unknown
// ("Forwarding: 2"). Replaying the same search reproduces that exactly.
func findStat(entries []statEntry, name string) *statEntry {
	lo, hi := 0, len(entries)
	for lo < hi {
		mid := (lo + hi) / 2
		switch e := &entries[mid]; {
		case name < e.name:
			hi = mid
		case name > e.name:
			lo = mid + 1
		default:
			return e
		}
	}
	return nil
}

// StatJSON is one counter as printed by --json.
type StatJSON struct {
	Proto   string          `json:"proto"`
	Counter string          `json:"counter"`
	Value   json.RawMessage `json:"value"`
}

// StatsJSON prints one object per counter of the groups the same options
// would show as text, zero and configuration values included. proto is the
// group name in lower case ("tcp", "tcpext", "icmp6").
func StatsJSON(w io.Writer, groups []snapshot.StatGroup, v6 bool, o StatsOptions) error {
	tables := inetTables()
	if v6 {
		tables = append(inet6Tables(), tables...)
	}
	enc := newJSONEncoder(w)
	for _, g := range groups {
		shown := true
		for _, t := range tables {
			if t.name == g.Name {
				shown = t.on(o)
			}
		}
		if !shown {
			continue
		}
		for _, c := range g.Counters {
			err := enc.Encode(StatJSON{Proto: strings.ToLower(g.Name), Counter: c.Name, Value: json.RawMessage(c.Text)})
			if err != nil {
				return fmt.Errorf("write counter: %w", err)
			}
		}
	}
	return nil
}
