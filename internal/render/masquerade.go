package render

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/socktrace/socktrace/conntrack"
	"github.com/socktrace/socktrace/snapshot"
	"golang.org/x/sys/unix"
)

// Masquerade writes the -M table of NATed flows in net-tools netstat's
// masquerading columns: prot, expire (minutes:seconds.hundredths left),
// source and destination hosts, and "sport -> dport (translated port)".
// netstat read them from /proc/net/ip_masquerade, gone since Linux 2.4;
// here they come from connection tracking. With Extend, the kernel's state
// and mark go where netstat -ee put its sequence columns, and the original
// and reply tuples follow the ports.
type Masquerade struct {
	Names  Names
	Extend bool

	buf []byte
}

// The columns' widths, netstat's %-20s for hosts; with Extend, the ports
// and the original tuple are padded so that the next column lines up for
// IPv4 flows.
const (
	masqHostWidth  = 20
	masqStateWidth = 11
	masqMarkWidth  = 10
	masqPortsWidth = 24
	masqTupleWidth = 44 // "255.255.255.255:65535->255.255.255.255:65535"
)

// Header writes the title and the column header. netstat prints neither
// when there is no flow.
func (m *Masquerade) Header(w io.Writer) error {
	b := append(m.buf[:0], "IP masquerading entries\nprot   expire "...)
	if m.Extend {
		b = appendLeft(b, "state", masqStateWidth+1)
		b = appendLeft(b, "mark", masqMarkWidth+1)
	}
	b = appendLeft(b, "source", masqHostWidth+1)
	b = appendLeft(b, "destination", masqHostWidth+1)
	if m.Extend {
		b = appendLeft(b, "ports", masqPortsWidth+1)
		b = appendLeft(b, "original", masqTupleWidth+1)
		b = append(b, "reply"...)
	} else {
		b = append(b, "ports"...)
	}
	return endRow(w, &m.buf, b)
}

// Row writes one flow; a gone one ends with "(gone, lived 3.2s)".
func (m *Masquerade) Row(w io.Writer, r *conntrack.Row) error {
	f := &r.Flow
	b := appendLeft(m.buf[:0], MasqueradeProto(f), 4)
	b = appendExpire(b, f.Timeout)
	b = append(b, ' ')
	if m.Extend {
		b = appendLeft(b, dash(f.State()), masqStateWidth)
		b = append(b, ' ')
		b = appendLeftUint(b, uint64(f.Mark), masqMarkWidth)
		b = append(b, ' ')
	}
	b = m.appendHostColumn(b, f.Orig.Src)
	b = m.appendHostColumn(b, f.Orig.Dst)
	start := len(b)
	b = m.appendPorts(b, f)
	if m.Extend {
		b = appendSpaces(b, masqPortsWidth-(len(b)-start))
		b = append(b, ' ')
		start = len(b)
		b = AppendTuple(b, f, &f.Orig)
		b = appendSpaces(b, masqTupleWidth-(len(b)-start))
		b = append(b, ' ')
		b = AppendTuple(b, f, &f.Reply)
	}
	if r.Gone {
		b = appendMasqGone(append(b, ' '), r)
	}
	return endRow(w, &m.buf, b)
}

// MasqueradeProto is the prot column: netstat's lowercase protocol names,
// with a 6 for IPv6 flows as in its socket tables, or the number.
func MasqueradeProto(f *conntrack.Flow) string {
	v6 := f.Orig.Src.Is6()
	switch f.Proto {
	case unix.IPPROTO_TCP:
		return pick(v6, "tcp6", "tcp")
	case unix.IPPROTO_UDP:
		return pick(v6, "udp6", "udp")
	case unix.IPPROTO_UDPLITE:
		return pick(v6, "udpl6", "udpl")
	case unix.IPPROTO_ICMP:
		return "icmp"
	case unix.IPPROTO_ICMPV6:
		return "icmp6"
	case unix.IPPROTO_SCTP:
		return "sctp"
	case unix.IPPROTO_DCCP:
		return "dccp"
	case unix.IPPROTO_GRE:
		return "gre"
	case unix.IPPROTO_ESP:
		return "esp"
	}
	return strconv.Itoa(int(f.Proto))
}

// appendExpire writes netstat's expire column, "%3d:%02d.%02d": minutes,
// seconds and hundredths left. The kernel gives whole seconds.
func appendExpire(b []byte, d time.Duration) []byte {
	hundredths := uint64(max(d, 0) / (10 * time.Millisecond))
	minutes := hundredths / 6000
	b = appendRight(b, minutes, 3)
	b = append(b, ':')
	b = appendDigits(b, hundredths/100%60, 2)
	b = append(b, '.')
	return appendDigits(b, hundredths%100, 2)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// appendHostColumn writes a host, named unless numeric output was asked
// for, padded to netstat's 20 columns (never cut), and a space.
func (m *Masquerade) appendHostColumn(b []byte, a netip.Addr) []byte {
	start := len(b)
	if name := m.Names.Host(a); name != "" {
		b = append(b, name...)
	} else {
		b = appendAddr(b, a)
	}
	return append(appendSpaces(b, masqHostWidth-(len(b)-start)), ' ')
}

// appendPorts writes "sport -> dport (port)": the original ports, and the
// port translated, the source's for SNAT (masquerading), else the
// destination's. ICMP queries show their identifier, which NAT translates
// as a port, and their type; protocols without ports a "-".
func (m *Masquerade) appendPorts(b []byte, f *conntrack.Flow) []byte {
	switch {
	case f.IsICMP():
		b = append(b, "id "...)
		b = appendUint(b, uint64(f.Orig.ICMPID))
		b = append(b, " -> type "...)
		b = appendUint(b, uint64(f.Orig.ICMPType))
		b = append(b, " (id "...)
		b = appendUint(b, uint64(f.Reply.ICMPID))
		return append(b, ')')
	case !f.HasPorts():
		return append(b, '-')
	}
	translated := f.Reply.SrcPort
	if _, port, ok := f.TranslatedSource(); ok {
		translated = port
	}
	b = m.appendService(b, f, f.Orig.SrcPort)
	b = append(b, " -> "...)
	b = m.appendService(b, f, f.Orig.DstPort)
	b = append(b, " ("...)
	b = m.appendService(b, f, translated)
	return append(b, ')')
}

func (m *Masquerade) appendService(b []byte, f *conntrack.Flow, port uint16) []byte {
	var p snapshot.Proto
	switch f.Proto {
	case unix.IPPROTO_TCP:
		p = snapshot.TCP
	case unix.IPPROTO_UDP:
		p = snapshot.UDP
	case unix.IPPROTO_UDPLITE:
		p = snapshot.UDPLite
	}
	if p != 0 {
		if name := m.Names.Service(p, port); name != "" {
			return append(b, name...)
		}
	}
	return appendUint(b, uint64(port))
}

// AppendTuple writes one direction of a flow, always numeric:
// "192.0.2.2:41234->198.51.100.2:80", IPv6 in brackets; an ICMP query's
// as "192.0.2.2->198.51.100.2 type 8 code 0 id 51"; without ports the
// addresses alone.
func AppendTuple(b []byte, f *conntrack.Flow, t *conntrack.Tuple) []byte {
	if !f.HasPorts() {
		b = appendAddr(b, t.Src)
		b = append(b, "->"...)
		b = appendAddr(b, t.Dst)
		if f.IsICMP() {
			b = append(b, " type "...)
			b = appendUint(b, uint64(t.ICMPType))
			b = append(b, " code "...)
			b = appendUint(b, uint64(t.ICMPCode))
			b = append(b, " id "...)
			b = appendUint(b, uint64(t.ICMPID))
		}
		return b
	}
	b = netip.AddrPortFrom(t.Src, t.SrcPort).AppendTo(b)
	b = append(b, "->"...)
	return netip.AddrPortFrom(t.Dst, t.DstPort).AppendTo(b)
}

func appendMasqGone(b []byte, r *conntrack.Row) []byte {
	b = append(b, "(gone"...)
	if r.Lifetime > 0 {
		b = append(b, ", lived "...)
		b = appendDuration(b, r.Lifetime)
	}
	if r.Healed {
		b = append(b, ", destroy not seen"...)
	}
	return append(b, ')')
}

// MasqueradeJSON is one -M row under --json. Addresses are numeric,
// "addr:port" with IPv6 in brackets (port 0 for protocols without ports).
type MasqueradeJSON struct {
	Proto       string `json:"proto"`
	ExpireS     uint64 `json:"expire_s"`
	Source      string `json:"source"`      // the original source
	Destination string `json:"destination"` // the original destination
	// Where NAT translated the source to (SNAT, masquerading) and the
	// destination to (DNAT); empty when not translated.
	TranslatedSource      string    `json:"translated_source,omitempty"`
	TranslatedDestination string    `json:"translated_destination,omitempty"`
	State                 string    `json:"state,omitempty"` // TCP's, by the kernel's names
	Mark                  uint32    `json:"mark"`
	Zone                  uint16    `json:"zone"`
	ID                    uint32    `json:"id"`
	SeenReply             bool      `json:"seen_reply"`
	Assured               bool      `json:"assured"`
	Original              TupleJSON `json:"original"`
	Reply                 TupleJSON `json:"reply"`

	// Live table (-M -c) rows of flows that are gone.
	Gone       bool  `json:"gone,omitempty"`
	LifetimeNS int64 `json:"lifetime_ns,omitempty"`
	Healed     bool  `json:"healed,omitempty"` // gone without a destroy event
}

// TupleJSON is one direction of a flow; ICMP queries add their fields.
type TupleJSON struct {
	Src      string  `json:"src"`
	Dst      string  `json:"dst"`
	ICMPType *uint8  `json:"icmp_type,omitempty"`
	ICMPCode *uint8  `json:"icmp_code,omitempty"`
	ICMPID   *uint16 `json:"icmp_id,omitempty"`
}

// MasqueradeRowJSON writes r as one JSON line.
func MasqueradeRowJSON(w io.Writer, r *conntrack.Row) error {
	f := &r.Flow
	row := MasqueradeJSON{
		Proto:       MasqueradeProto(f),
		ExpireS:     uint64(f.Timeout / time.Second),
		Source:      netip.AddrPortFrom(f.Orig.Src, f.Orig.SrcPort).String(),
		Destination: netip.AddrPortFrom(f.Orig.Dst, f.Orig.DstPort).String(),
		State:       f.State(),
		Mark:        f.Mark,
		Zone:        f.Zone,
		ID:          f.ID,
		SeenReply:   f.SeenReply(),
		Assured:     f.Assured(),
		Original:    tupleJSON(f, &f.Orig),
		Reply:       tupleJSON(f, &f.Reply),
		Gone:        r.Gone,
		LifetimeNS:  int64(r.Lifetime),
		Healed:      r.Healed,
	}
	if a, p, ok := f.TranslatedSource(); ok {
		row.TranslatedSource = netip.AddrPortFrom(a, p).String()
	}
	if a, p, ok := f.TranslatedDestination(); ok {
		row.TranslatedDestination = netip.AddrPortFrom(a, p).String()
	}
	return writeJSON(w, &row)
}

func tupleJSON(f *conntrack.Flow, t *conntrack.Tuple) TupleJSON {
	j := TupleJSON{
		Src: netip.AddrPortFrom(t.Src, t.SrcPort).String(),
		Dst: netip.AddrPortFrom(t.Dst, t.DstPort).String(),
	}
	if f.IsICMP() {
		typ, code, id := t.ICMPType, t.ICMPCode, t.ICMPID
		j.ICMPType, j.ICMPCode, j.ICMPID = &typ, &code, &id
	}
	return j
}

// MasqueradeSummaryLine writes the line after each -M -c table.
func MasqueradeSummaryLine(w io.Writer, s *conntrack.Summary) error {
	healed := ""
	if s.Healed > 0 {
		healed = fmt.Sprintf(", %d rows healed", s.Healed)
	}
	_, err := fmt.Fprintf(w, "-- %s: %d new, %d destroyed; now %d NAT flows; %d events lost%s\n",
		s.Time.Format("15:04:05"), s.New, s.Destroyed, s.Flows, s.Lost, healed)
	return err
}

// MasqueradeSummaryJSON writes s as one JSON object: {"summary": true, ...}.
func MasqueradeSummaryJSON(w io.Writer, s *conntrack.Summary) error {
	return writeJSON(w, &struct {
		Summary   bool   `json:"summary"`
		Time      string `json:"time"`
		New       uint64 `json:"new"`
		Destroyed uint64 `json:"destroyed"`
		Flows     int    `json:"flows"`
		Lost      uint64 `json:"lost"`
		Healed    uint64 `json:"healed"`
	}{true, string(AppendJSONTime(nil, s.Time)), s.New, s.Destroyed, s.Flows, s.Lost, s.Healed})
}
