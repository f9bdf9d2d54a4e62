package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/socktrace/socktrace/tcpstate"
	"golang.org/x/sys/unix"
)

// Diag reads Internet sockets from the kernel's sock_diag netlink interface
// (NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY): the rows /proc/net/tcp would
// show, as binary structs. The kernel spends less time on them than on
// printing /proc/net/tcp{,6}, and nothing is parsed from text. Netlink only sees the caller's network namespace, which is
// what /proc/net shows too; other namespaces need the /proc reader on
// /proc/<pid>/net.
type Diag struct {
	// TCPInfo also asks for each TCP socket's struct tcp_info. Without it
	// the kernel reports one counter, idiag_retrans, whose meaning follows
	// the timer (retransmits while the retransmit timer runs, unanswered
	// probes under the keepalive and zero window timers, 0 without a
	// timer), so Retransmits and Timeout can differ from /proc's in the
	// rare rows where the other counter is not 0. With it both are exact,
	// at the price of a socket lock and ~4× the bytes per socket.
	TCPInfo bool
	// States, if not 0, limits a dump to the sockets in these states
	// (bits 1<<tcpstate.Established … 1<<tcpstate.Closing). A timewait socket is
	// matched by its substate (TIME_WAIT, or FIN_WAIT2 when the peer's FIN
	// never came). Any filter but listeners-only still walks the whole
	// established hash, timewait sockets included; listeners only
	// (1<<tcpstate.Listen) skips it and costs next to nothing.
	States uint32
	// Autobound limits a dump to the sockets whose local port bind() did
	// not choose: a passive child, a timewait socket, a connect's picked
	// port (inet_diag's INET_DIAG_BC_AUTO, the kernel's half of ss's
	// "autobound"). No table says it otherwise.
	Autobound bool
	// TimeWaits, if not nil, takes the TCP sockets in TIME_WAIT of a dump
	// (not those in its FIN_WAIT2 substate) instead of the rows.
	TimeWaits *TimeWaits
}

// Layout of the kernel's structs (include/uapi/linux/inet_diag.h). x/sys
// has no Go types for them; they are read by offset with length checks.
const (
	sizeofDiagReq       = 56 // struct inet_diag_req_v2
	sizeofDiagReqCompat = 60 // struct inet_diag_req, the legacy request
	sizeofBytecode      = sizeofRtAttr + 4
	sizeofDiagMsg       = 72 // struct inet_diag_msg
	sizeofRtAttr        = 4

	// Offsets in struct inet_diag_msg: family, state, timer, retrans (u8),
	// then struct inet_diag_sockid (sport, dport (be16), src, dst (be32[4]),
	// if, cookie[2]), expires, rqueue, wqueue, uid, inode (u32).
	offSport   = 4
	offDport   = 6
	offSrc     = 8
	offDst     = 24
	offExpires = 52
	offRqueue  = 56
	offWqueue  = 60
	offUID     = 64
	offInode   = 68

	inetDiagInfo = 2 // INET_DIAG_INFO: struct tcp_info

	// The legacy request's message type for TCP (TCPDIAG_GETSOCK), and
	// the offset of idiag_states in its struct inet_diag_req: family,
	// src_len, dst_len, ext (u8), struct inet_diag_sockid, states, dbs.
	tcpDiagGetSock  = 18
	offCompatStates = 52

	// An INET_DIAG_REQ_BYTECODE attribute holding one struct
	// inet_diag_bc_op {INET_DIAG_BC_AUTO, yes 4, no 8}: yes runs off the
	// program's end (keep), no past it (drop).
	inetDiagReqBytecode = 1
	inetDiagBCAuto      = 6

	// TCP_ESTABLISHED … TCP_CLOSING. Bit 13 (TCP_BOUND_INACTIVE, 6.7+) would
	// add bound but unhashed sockets, which /proc/net/tcp never lists.
	diagStates = 0xffe

	// 32 KB is the largest batch the kernel puts in one dump message.
	diagBufSize = 64 << 10
)

// ErrDiagProto is returned for tables sock_diag cannot dump (raw sockets
// need a filter on the protocol number that /proc/net/raw does not need).
var ErrDiagProto = errors.New("sock_diag: protocol not supported")

// ReadInet appends the rows of one protocol's tables to dst, for the
// families in fam, in the same form as the /proc reader's: IPv4 rows
// before IPv6 rows, as /proc/net/tcp comes before tcp6. TCP of both
// families takes one walk of the kernel's tables, not one per family. On
// error dst holds whatever was read before; callers that fall back to
// /proc should cut it back.
func (d Diag) ReadInet(p Proto, fam Family, dst []Socket) ([]Socket, error) {
	return d.readInet(p, fam, dst, tcpDiagGetSock)
}

// readInet is ReadInet with the message type of the one-walk TCP request
// (tcpDiagGetSock; tests give one the kernel refuses).
func (d Diag) readInet(p Proto, fam Family, dst []Socket, compatType uint16) ([]Socket, error) {
	ipproto, ok := diagProto(p)
	if !ok {
		return dst, ErrDiagProto
	}
	fd, err := openDiag()
	if err != nil {
		return dst, err
	}
	defer unix.Close(fd)
	buf := make([]byte, diagBufSize)
	if p == TCP && fam&(IPv4|IPv6) == IPv4|IPv6 {
		// Each dump walks the whole established hash, which every
		// namespace shares, and skips the other family's sockets: the
		// legacy request (inet_diag_req, served by
		// inet_diag_dump_compat) asks for AF_UNSPEC, both families in
		// one walk. A kernel that refuses it answers before any row
		// (EOPNOTSUPP without inet_diag's compat handler, EINVAL for a
		// message type it does not know): then one dump per family.
		dr := diagDump{proto: p, seq: uint32(compatType), compatType: compatType, timeWaits: d.TimeWaits}
		n := len(dst)
		rows, err := dr.dumpBoth(fd, buf, dst, d)
		if err == nil || dr.rows > 0 {
			return rows, err
		}
		dst = rows[:n]
	}
	for _, f := range []struct {
		fam    Family
		family uint8
	}{{IPv4, unix.AF_INET}, {IPv6, unix.AF_INET6}} {
		if fam&f.fam == 0 {
			continue
		}
		dr := diagDump{proto: p, seq: uint32(f.family), timeWaits: d.TimeWaits}
		if err := dr.request(fd, f.family, ipproto, d); err != nil {
			return dst, err
		}
		if dst, err = dr.receive(fd, buf, dst); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func diagProto(p Proto) (uint8, bool) {
	switch p {
	case TCP:
		return unix.IPPROTO_TCP, true
	case UDP:
		return unix.IPPROTO_UDP, true
	case UDPLite:
		return unix.IPPROTO_UDPLITE, true
	}
	return 0, false
}

// diagDump is one dump: its request and the parsing of its replies.
type diagDump struct {
	proto      Proto
	seq        uint32
	timeWaits  *TimeWaits // Diag.TimeWaits
	compatType uint16     // the legacy request's message type, 0 for v2
	v6         []Socket   // a legacy dump's IPv6 rows, until its end
	rows       int        // the sockets received
}

// dumpBoth dumps the TCP sockets of both families in one walk, with the
// legacy request, and appends them to dst, IPv4 rows first. Within a
// family the rows come in the kernel's walk order, as a dump of that
// family alone returns them.
func (dr *diagDump) dumpBoth(fd int, buf []byte, dst []Socket, d Diag) ([]Socket, error) {
	if err := dr.requestCompat(fd, d); err != nil {
		return dst, err
	}
	dst, err := dr.receive(fd, buf, dst)
	return append(dst, dr.v6...), err
}

func (dr *diagDump) request(fd int, family, ipproto uint8, d Diag) error {
	var buf [unix.SizeofNlMsghdr + sizeofDiagReq + sizeofBytecode]byte
	req := d.putBytecode(buf[:], sizeofDiagReq)
	putDiagHeader(req, unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP, dr.seq)
	r := req[unix.SizeofNlMsghdr:]
	r[0], r[1] = family, ipproto
	r[2] = dr.ext(d)
	binary.NativeEndian.PutUint32(r[4:], d.states())
	return sendDiag(fd, req)
}

// requestCompat sends the legacy request (struct inet_diag_req), whose
// protocol is its message type and whose dump takes no family.
func (dr *diagDump) requestCompat(fd int, d Diag) error {
	var buf [unix.SizeofNlMsghdr + sizeofDiagReqCompat + sizeofBytecode]byte
	req := d.putBytecode(buf[:], sizeofDiagReqCompat)
	putDiagHeader(req, dr.compatType, unix.NLM_F_DUMP, dr.seq)
	r := req[unix.SizeofNlMsghdr:]
	r[3] = dr.ext(d)
	binary.NativeEndian.PutUint32(r[offCompatStates:], d.states())
	return sendDiag(fd, req)
}

// putBytecode writes d's INET_DIAG_REQ_BYTECODE attribute, if any, after a
// request body of size body in buf, and returns the request's bytes.
func (d Diag) putBytecode(buf []byte, body int) []byte {
	req := buf[:unix.SizeofNlMsghdr+body]
	if !d.Autobound {
		return req
	}
	req = buf[:unix.SizeofNlMsghdr+body+sizeofBytecode]
	attr := req[unix.SizeofNlMsghdr+body:]
	ne := binary.NativeEndian
	ne.PutUint16(attr[0:], sizeofBytecode)
	ne.PutUint16(attr[2:], inetDiagReqBytecode)
	attr[4], attr[5] = inetDiagBCAuto, 4
	ne.PutUint16(attr[6:], 8)
	return req
}

// ext is the request's idiag_ext: which attributes to add to each row.
func (dr *diagDump) ext(d Diag) uint8 {
	if d.TCPInfo && dr.proto == TCP {
		return 1 << (inetDiagInfo - 1)
	}
	return 0
}

func (d Diag) states() uint32 {
	if d.States != 0 {
		return d.States
	}
	return diagStates
}

func (dr *diagDump) receive(fd int, buf []byte, dst []Socket) ([]Socket, error) {
	err := receiveDump(fd, buf, dr.seq, func(msg []byte) error {
		s, err := parseDiagMsg(msg, dr.proto)
		if err != nil {
			return err
		}
		dr.rows++
		switch {
		case dr.timeWaits != nil && dr.proto == TCP && s.State == tcpstate.TimeWait:
			dr.timeWaits.add(&s)
		case dr.compatType != 0 && s.V6:
			dr.v6 = append(dr.v6, s)
		default:
			dst = append(dst, s)
		}
		return nil
	})
	return dst, err
}

// parseDiagBatch appends the sockets of one received batch of netlink
// messages to dst (see eachDiagMsg).
func parseDiagBatch(b []byte, seq uint32, p Proto, dst []Socket) ([]Socket, bool, error) {
	done, err := eachDiagMsg(b, seq, func(msg []byte) error {
		s, err := parseDiagMsg(msg, p)
		if err != nil {
			return err
		}
		dst = append(dst, s)
		return nil
	})
	return dst, done, err
}

// openDiag opens a NETLINK_SOCK_DIAG socket.
func openDiag() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, fmt.Errorf("sock_diag socket: %w", err)
	}
	return fd, nil
}

// putDiagHeader writes the netlink header of a request of type typ that
// fills req.
func putDiagHeader(req []byte, typ, flags uint16, seq uint32) {
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], typ)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|flags)
	ne.PutUint32(req[8:], seq)
}

func sendDiag(fd int, req []byte) error {
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	return nil
}

// receiveDump reads the replies to one dump request until NLMSG_DONE,
// calling fn with each socket's message.
func receiveDump(fd int, buf []byte, seq uint32, fn func(msg []byte) error) error {
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sock_diag receive: %w", err)
		}
		done, err := eachDiagMsg(buf[:n], seq, fn)
		if err != nil || done {
			return err
		}
		if n == 0 {
			return errors.New("sock_diag receive: end of stream before NLMSG_DONE")
		}
	}
}

// eachDiagMsg calls fn with each socket's message in one received batch of
// netlink messages. It reports done at NLMSG_DONE, and turns NLMSG_ERROR
// into an error. Messages of another sequence number (a stale dump) are
// skipped.
func eachDiagMsg(b []byte, seq uint32, fn func(msg []byte) error) (bool, error) {
	for len(b) >= unix.SizeofNlMsghdr {
		typ, msgSeq, msg, rest, err := nextMsg(b)
		if err != nil {
			return false, err
		}
		b = rest
		if msgSeq != seq {
			continue
		}
		switch typ {
		case unix.NLMSG_DONE:
			return true, diagErrno(msg, "dump")
		case unix.NLMSG_ERROR:
			if err := diagErrno(msg, "request"); err != nil {
				return false, err
			}
			return false, errors.New("sock_diag: unexpected ack")
		case unix.SOCK_DIAG_BY_FAMILY, tcpDiagGetSock:
			// A legacy dump's rows come with its request's type.
			if err := fn(msg); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

// diagErrno reads the int that starts NLMSG_DONE and NLMSG_ERROR payloads:
// 0 or a negative errno.
func diagErrno(msg []byte, what string) error {
	if len(msg) < 4 {
		return nil
	}
	if e := int32(binary.NativeEndian.Uint32(msg)); e < 0 {
		return fmt.Errorf("sock_diag %s: %w", what, unix.Errno(-e))
	}
	return nil
}

// nextMsg splits the first netlink message off b (at least a header long):
// its type, sequence number and payload, and what follows it.
func nextMsg(b []byte) (typ uint16, seq uint32, msg, rest []byte, err error) {
	ne := binary.NativeEndian
	l := int(ne.Uint32(b[0:]))
	if l < unix.SizeofNlMsghdr || l > len(b) {
		return 0, 0, nil, nil, fmt.Errorf("sock_diag: bad message length %d", l)
	}
	return ne.Uint16(b[4:]), ne.Uint32(b[8:]), b[unix.SizeofNlMsghdr:l], b[min(nlmAlign(l), len(b)):], nil
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// parseDiagMsg turns one struct inet_diag_msg (and its attributes) into the
// row /proc/net would print for the same socket.
func parseDiagMsg(m []byte, p Proto) (Socket, error) {
	if len(m) < sizeofDiagMsg {
		return Socket{}, fmt.Errorf("sock_diag: short message (%d bytes)", len(m))
	}
	ne, be := binary.NativeEndian, binary.BigEndian
	s := Socket{Proto: p, State: tcpstate.State(m[1]), Timer: m[2]}
	switch m[0] {
	case unix.AF_INET:
		s.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m[offSrc:])), be.Uint16(m[offSport:]))
		s.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m[offDst:])), be.Uint16(m[offDport:]))
	case unix.AF_INET6:
		s.V6 = true
		s.Local = netip.AddrPortFrom(netip.AddrFrom16([16]byte(m[offSrc:])), be.Uint16(m[offSport:]))
		s.Remote = netip.AddrPortFrom(netip.AddrFrom16([16]byte(m[offDst:])), be.Uint16(m[offDport:]))
	default:
		return s, fmt.Errorf("sock_diag: unexpected family %d", m[0])
	}
	// idiag_expires is in ms; /proc prints USER_HZ (1/100 s) ticks.
	s.TimerTicks = uint64(ne.Uint32(m[offExpires:])) / 10
	s.RecvQ = uint64(ne.Uint32(m[offRqueue:]))
	s.SendQ = uint64(ne.Uint32(m[offWqueue:]))
	s.UID = ne.Uint32(m[offUID:])
	s.Inode = uint64(ne.Uint32(m[offInode:]))
	if p == TCP && s.State == tcpstate.Listen {
		// inet_diag reports a listener's backlog limit as its send queue
		// (ss prints it); /proc/net/tcp prints write_seq - snd_una, 0.
		s.SendQ = 0
	}
	switch retrans := uint64(m[3]); s.Timer {
	case 1:
		s.Retransmits = retrans
	case 2, 4:
		s.Timeout = retrans
	}
	if info := diagAttr(m[sizeofDiagMsg:], inetDiagInfo); len(info) >= 4 {
		// struct tcp_info starts state, ca_state, retransmits, probes (u8).
		s.Retransmits, s.Timeout = uint64(info[2]), uint64(info[3])
	}
	return s, nil
}

// diagAttr returns the payload of the first attribute of type typ, or nil.
func diagAttr(b []byte, typ uint16) []byte {
	ne := binary.NativeEndian
	for len(b) >= sizeofRtAttr {
		l := int(ne.Uint16(b[0:]))
		if l < sizeofRtAttr || l > len(b) {
			return nil
		}
		if ne.Uint16(b[2:]) == typ {
			return b[sizeofRtAttr:l]
		}
		b = b[min(nlmAlign(l), len(b)):]
	}
	return nil
}
