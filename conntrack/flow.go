// Package conntrack reads the NATed connections of the kernel's connection
// tracking over netlink (ctnetlink, through github.com/ti-mo/conntrack): a
// dump of the table (Conn), the stream of flows born and destroyed
// (Events), and the table behind -M -c that joins the two (Table).
//
// It is what netstat -M became: net-tools read /proc/net/ip_masquerade,
// which Linux 2.4 replaced by connection tracking.
package conntrack

import (
	"net/netip"
	"time"

	ctnetlink "github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// Flow is one connection as the kernel tracks it: the tuple of its first
// packet (Orig) and the tuple replies are expected with (Reply). NAT is the
// difference between the two: after source NAT (masquerading) replies come
// back to the translated source, Reply.Dst.
type Flow struct {
	ID          uint32 // the kernel's id of the entry, unique among live ones
	Proto       uint8  // IPPROTO_TCP, IPPROTO_UDP, ...
	Orig, Reply Tuple
	// Timeout is what is left before the kernel forgets an idle flow; 0
	// in destroy events, which carry none.
	Timeout  time.Duration
	TCPState uint8 // enum tcp_conntrack; meaningful for TCP only
	HasState bool  // TCPState was sent: TCP flows, except in destroy events
	Status   uint32
	Mark     uint32
	Zone     uint16
	// Start and Stop are the kernel's timestamps of the flow's birth and
	// death (Stop in destroy events), sent only when
	// net.netfilter.nf_conntrack_timestamp is on.
	Start, Stop time.Time
}

// Tuple is one direction of a flow. Protocols without ports have port 0;
// ICMP queries have an identifier instead, which NAT translates as it does
// a port.
type Tuple struct {
	Src, Dst           netip.Addr
	SrcPort, DstPort   uint16
	ICMPID             uint16
	ICMPType, ICMPCode uint8
}

// Kernel status bits (enum ip_conntrack_status): the kernel sets
// IPS_SRC_NAT or IPS_DST_NAT when NAT changed the reply tuple, so they say
// whether the flow is translated, not merely whether a NAT rule saw it.
const (
	statusSeenReply = 1 << 1
	statusAssured   = 1 << 2
	statusSrcNAT    = 1 << 4
	statusDstNAT    = 1 << 5
)

// SNAT reports whether the flow's source is translated (masquerading).
func (f *Flow) SNAT() bool { return f.Status&statusSrcNAT != 0 }

// DNAT reports whether the flow's destination is translated (port
// forwarding).
func (f *Flow) DNAT() bool { return f.Status&statusDstNAT != 0 }

// NAT reports whether the flow is translated at all: the flows -M lists.
func (f *Flow) NAT() bool { return f.SNAT() || f.DNAT() }

// SeenReply reports whether a packet came back; without one conntrack -L
// marks the flow [UNREPLIED].
func (f *Flow) SeenReply() bool { return f.Status&statusSeenReply != 0 }

// Assured reports whether the kernel will keep the flow when its table is
// full ([ASSURED] in conntrack -L).
func (f *Flow) Assured() bool { return f.Status&statusAssured != 0 }

// HasPorts reports whether the flow's protocol has ports in its tuples.
func (f *Flow) HasPorts() bool {
	switch f.Proto {
	case unix.IPPROTO_TCP, unix.IPPROTO_UDP, unix.IPPROTO_UDPLITE, unix.IPPROTO_SCTP, unix.IPPROTO_DCCP:
		return true
	}
	return false
}

// IsICMP reports whether the flow is an ICMP or ICMPv6 query.
func (f *Flow) IsICMP() bool {
	return f.Proto == unix.IPPROTO_ICMP || f.Proto == unix.IPPROTO_ICMPV6
}

// TranslatedSource is where the source was translated to (the router's
// address and port), when SNAT.
func (f *Flow) TranslatedSource() (addr netip.Addr, port uint16, ok bool) {
	return f.Reply.Dst, f.Reply.DstPort, f.SNAT()
}

// TranslatedDestination is where the destination was translated to (the
// host a port is forwarded to), when DNAT.
func (f *Flow) TranslatedDestination() (addr netip.Addr, port uint16, ok bool) {
	return f.Reply.Src, f.Reply.SrcPort, f.DNAT()
}

// tcpStates are the kernel's names of enum tcp_conntrack, as conntrack -L
// prints them.
var tcpStates = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

// State is the TCP flow's state by the kernel's name (conntrack's states,
// not the socket's: FIN_WAIT, not FIN_WAIT1), or "" when it has none.
func (f *Flow) State() string {
	if !f.HasState || f.Proto != unix.IPPROTO_TCP {
		return ""
	}
	if int(f.TCPState) < len(tcpStates) {
		return tcpStates[f.TCPState]
	}
	return "UNKNOWN"
}

// key identifies a flow across dumps and events: the kernel's id alone may
// be reused once a flow is freed, its original tuple may come back later
// in another flow.
type key struct {
	id   uint32
	zone uint16
	orig Tuple
}

func (f *Flow) key() key { return key{f.ID, f.Zone, f.Orig} }

// fromNetlink converts the library's flow into a Flow.
func fromNetlink(c *ctnetlink.Flow) Flow {
	f := Flow{
		ID:      c.ID,
		Proto:   c.TupleOrig.Proto.Protocol,
		Orig:    tupleFromNetlink(&c.TupleOrig),
		Reply:   tupleFromNetlink(&c.TupleReply),
		Timeout: time.Duration(c.Timeout) * time.Second,
		Status:  uint32(c.Status),
		Mark:    c.Mark,
		Zone:    c.Zone,
		Start:   c.Timestamp.Start,
		Stop:    c.Timestamp.Stop,
	}
	if tcp := c.ProtoInfo.TCP; tcp != nil {
		f.TCPState, f.HasState = tcp.State, true
	}
	return f
}

func tupleFromNetlink(t *ctnetlink.Tuple) Tuple {
	return Tuple{
		Src:      t.IP.SourceAddress,
		Dst:      t.IP.DestinationAddress,
		SrcPort:  t.Proto.SourcePort,
		DstPort:  t.Proto.DestinationPort,
		ICMPID:   t.Proto.ICMPID,
		ICMPType: t.Proto.ICMPType,
		ICMPCode: t.Proto.ICMPCode,
	}
}
