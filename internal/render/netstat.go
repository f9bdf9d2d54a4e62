package render

import (
	"io"
	"net/netip"
	"strconv"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// Names turns numbers into the names netstat prints. Each method returns ""
// when there is no name or numeric output was asked for; the renderer then
// prints the number.
type Names interface {
	Host(a netip.Addr) string
	Service(p snapshot.Proto, port uint16) string
	User(uid uint32) string
}

// Netstat writes netstat's socket tables byte for byte as net-tools 2.10
// prints them: users compare the two, so the layout is netstat's printf
// widths rather than a table library's. Columns are not realigned to fit
// long values; netstat does not do that either.
type Netstat struct {
	Names    Names
	Wide     bool // -W: never cut addresses
	Extend   bool // -e: User and Inode columns
	Programs bool // -p: PID/Program name column
	Timers   bool // -o: Timer column
	// Owners is the process holding each socket, by inode, and its
	// program name, for Programs.
	Owners snapshot.Owners

	buf, scratch []byte // reused for every row
}

// The columns' widths in netstat: addresses are cut to fit 23 columns
// (22 plus the colon) unless -W is given; "PID/Program name" is cut to 19
// bytes and padded to 20.
const (
	addrShort  = 22
	addrColumn = 23
	progWidth  = 20
)

// InetHeader writes the title and column header of the Internet table.
func (n *Netstat) InetHeader(w io.Writer, all, listening bool) error {
	b := n.buf[:0]
	b = append(b, "Active Internet connections "...)
	b = appendScope(b, all, listening)
	b = append(b, "\nProto Recv-Q Send-Q Local Address           Foreign Address         State      "...)
	if n.Extend {
		b = append(b, " User       Inode     "...)
	}
	if n.Programs {
		b = append(b, ' ')
		b = appendLeft(b, "PID/Program name", progWidth)
	}
	if n.Timers {
		b = append(b, " Timer"...)
	}
	return endRow(w, &n.buf, b)
}

func appendScope(b []byte, all, listening bool) []byte {
	switch {
	case all:
		return append(b, "(servers and established)"...)
	case listening:
		return append(b, "(only servers)"...)
	}
	return append(b, "(w/o servers)"...)
}

// ProtoLabel is netstat's name for the table a socket came from.
func ProtoLabel(s *snapshot.Socket) string {
	switch s.Proto {
	case snapshot.TCP:
		return pick(s.V6, "tcp6", "tcp")
	case snapshot.UDP:
		return pick(s.V6, "udp6", "udp")
	case snapshot.UDPLite:
		return pick(s.V6, "udpl6", "udpl")
	case snapshot.Raw:
		return pick(s.V6, "raw6", "raw")
	}
	return "?"
}

func pick(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

// StateName is the State column for an Internet socket: TCP state names,
// ESTABLISHED or nothing for UDP, the number for raw sockets.
func StateName(s *snapshot.Socket) string {
	switch s.Proto {
	case snapshot.TCP:
		if s.State == 0 {
			return "" // netstat's name table starts with an empty name
		}
		return s.State.String()
	case snapshot.Raw:
		return strconv.Itoa(int(s.State))
	}
	switch s.State {
	case tcpstate.Established:
		return "ESTABLISHED"
	case tcpstate.Close:
		return ""
	}
	return "UNKNOWN"
}

// InetRow writes one Internet socket.
func (n *Netstat) InetRow(w io.Writer, s *snapshot.Socket) error {
	o, prog := n.ownerOf(s.Inode)
	b := n.appendInetRow(n.buf[:0], s, o, prog)
	return endRow(w, &n.buf, b)
}

// ownerOf is the process holding a socket's file and its program name; PID
// 0 when unknown.
func (n *Netstat) ownerOf(inode uint64) (snapshot.Owner, string) {
	if inode == 0 {
		return snapshot.Owner{}, ""
	}
	o := n.Owners.ByInode[inode]
	return o, n.Owners.Programs[o]
}

// appendInetRow appends one Internet socket's columns, without the newline;
// owner's PID is 0 when unknown.
func (n *Netstat) appendInetRow(b []byte, s *snapshot.Socket, owner snapshot.Owner, program string) []byte {
	// netstat prints into fixed buffers: 128 bytes for tcp, 64 for the others.
	limit := 63
	if s.Proto == snapshot.TCP {
		limit = 127
	}
	if s.Proto == snapshot.UDP || s.Proto == snapshot.UDPLite {
		b = appendLeft(b, ProtoLabel(s), 5)
		b = append(b, ' ')
	} else {
		b = appendLeft(b, ProtoLabel(s), 4)
		b = append(b, ' ', ' ')
	}
	b = appendRight(b, s.RecvQ, 6)
	b = append(b, ' ')
	b = appendRight(b, s.SendQ, 6)
	b = append(b, ' ')
	b = n.appendAddrColumn(b, s.Proto, s.Local, limit)
	b = n.appendAddrColumn(b, s.Proto, s.Remote, limit)
	b = appendLeft(b, StateName(s), 11)
	if n.Extend {
		b = n.appendUser(b, s.UID)
		b = appendLeftUint(b, s.Inode, 10)
	}
	if n.Programs {
		b = appendProgram(b, owner.PID, program)
	}
	if n.Timers {
		b = append(b, ' ')
		b = appendTimer(b, s)
	}
	return b
}

// appendAddrColumn writes an address column and the space after it.
func (n *Netstat) appendAddrColumn(b []byte, p snapshot.Proto, a netip.AddrPort, limit int) []byte {
	start := len(b)
	b = n.appendAddr(b, p, a, limit)
	return append(appendSpaces(b, addrColumn-(len(b)-start)), ' ')
}

// appendAddr writes "host:port" the way netstat's addr_do_one does: when
// the pair is longer than 22 bytes and -W is off, the port keeps at most 18
// bytes and the host is cut to fill the rest.
func (n *Netstat) appendAddr(b []byte, p snapshot.Proto, a netip.AddrPort, limit int) []byte {
	start := len(b)
	b = n.appendHost(b, a.Addr())
	hostLen := len(b) - start
	b = append(b, ':')
	if a.Port() == 0 {
		b = append(b, '*')
	} else if name := n.Names.Service(p, a.Port()); name != "" {
		b = append(b, name...)
	} else {
		b = appendUint(b, uint64(a.Port()))
	}
	if n.Wide || len(b)-start-1 <= addrShort {
		return b[:start+min(len(b)-start, limit)]
	}
	// Too long: cut both, in scratch space, as the cut depends on both.
	n.scratch = append(n.scratch[:0], b[start:]...)
	host, port := n.scratch[:hostLen], n.scratch[hostLen+1:]
	portLen := min(len(port), addrShort-4)
	hostLen = min(addrShort-portLen, len(host))
	b = append(b[:start], host[:hostLen]...)
	b = append(b, ':')
	return append(b, port[:portLen]...)
}

// appendHost writes netstat's address text: names when resolved, "[::]"
// for the IPv6 wildcard in name mode, and inet_ntop's form otherwise.
func (n *Netstat) appendHost(b []byte, a netip.Addr) []byte {
	if a.Is4In6() {
		// netstat prints IPv4-mapped addresses in dotted form and never
		// finds a name for them.
		return a.Unmap().AppendTo(b)
	}
	if name := n.Names.Host(a); name != "" {
		return append(b, name...)
	}
	return appendAddr(b, a)
}

func (n *Netstat) appendUser(b []byte, uid uint32) []byte {
	b = append(b, ' ')
	if name := n.Names.User(uid); name != "" {
		b = appendLeft(b, Safe(name), 10)
	} else {
		b = appendLeftUint(b, uint64(uid), 10)
	}
	return append(b, ' ')
}

// appendProgram writes " pid/program", cut to 19 bytes like netstat's
// buffer, padded to 20, or "-" when the owner is unknown (pid 0). What is
// left after the cut is escaped if it needs to be, and escaping widens it
// up to fourfold: it is then fitted to the same 19 columns at a whole
// escape (padCut), so the columns after it stay in place.
func appendProgram(b []byte, pid uint32, program string) []byte {
	b = append(b, ' ')
	if pid == 0 {
		return appendLeft(b, "-", progWidth)
	}
	start := len(b)
	b = strconv.AppendUint(b, uint64(pid), 10)
	b = append(b, '/')
	b = append(b, program...)
	if len(b)-start > progWidth-1 {
		b = b[:start+progWidth-1]
	}
	// Escape after netstat's cut, so the cut never splits an escape.
	if name := string(b[start:]); !isClean(name) {
		return padCut(AppendSafe(b[:start], name), start, progWidth)
	}
	return appendSpaces(b, progWidth-(len(b)-start))
}

// appendTimer writes netstat's Timer column: kind (time left in seconds /
// retransmits / unanswered probes).
func appendTimer(b []byte, s *snapshot.Socket) []byte {
	secs := float64(s.TimerTicks) / 100 // /proc/net prints USER_HZ ticks
	retr, probes := s.Retransmits, s.Timeout
	if s.Proto != snapshot.TCP {
		retr = 0 // netstat does not show it for udp and raw
	}
	t := int(s.Timer)
	switch {
	case t == 0:
		b = append(b, "off (0.00"...)
		return appendTimerTail(b, retr, probes)
	case s.Proto == snapshot.TCP && t <= 4:
		b = append(b, [...]string{"", "on", "keepalive", "timewait", "probe"}[t]...)
	case s.Proto != snapshot.TCP && t <= 2:
		b = append(b, "on"...)
		b = strconv.AppendInt(b, int64(t), 10)
	default:
		b = append(b, "unkn-"...)
		b = strconv.AppendInt(b, int64(t), 10)
	}
	b = append(b, " ("...)
	b = strconv.AppendFloat(b, secs, 'f', 2, 64)
	return appendTimerTail(b, retr, probes)
}

func appendTimerTail(b []byte, retr, probes uint64) []byte {
	b = append(b, '/')
	b = strconv.AppendUint(b, retr, 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, probes, 10)
	return append(b, ')')
}

// The table's columns are padded a run of spaces at a time: under -c churn
// every connection is a row, and a space per append was a tenth of it.

func appendLeft(b []byte, s string, width int) []byte {
	return appendSpaces(append(b, s...), width-len(s))
}

func appendLeftUint(b []byte, v uint64, width int) []byte {
	start := len(b)
	b = appendUint(b, v)
	return appendSpaces(b, width-(len(b)-start))
}

func appendRight(b []byte, v uint64, width int) []byte {
	return appendUint(appendSpaces(b, width-decimalLen(v)), v)
}

// endRow ends the row in b with a newline, keeps b in *buf for the next
// row to reuse, and writes it to w.
func endRow(w io.Writer, buf *[]byte, b []byte) error {
	b = append(b, '\n')
	*buf = b
	_, err := w.Write(b)
	return err
}

// appendSpaces appends n spaces, none when n <= 0.
func appendSpaces(b []byte, n int) []byte {
	for n > len(spaces) {
		b = append(b, spaces...)
		n -= len(spaces)
	}
	if n > 0 {
		b = append(b, spaces[:n]...)
	}
	return b
}
