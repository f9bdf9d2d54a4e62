package snapshot

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// Layout of the kernel's unix_diag structs (include/uapi/linux/unix_diag.h).
const (
	// struct unix_diag_req: family, protocol (u8), pad (u16), states, ino,
	// show, cookie[2] (u32).
	sizeofUnixDiagReq = 24
	// struct unix_diag_msg: family, type, state, pad (u8), ino, cookie[2]
	// (u32).
	sizeofUnixDiagMsg = 16

	// Attribute types: the enum starts at 0 with UNIX_DIAG_NAME.
	unixDiagName  = 0 // sun_path, exactly as bound
	unixDiagPeer  = 2 // the peer's inode (u32)
	unixDiagIcons = 3 // a listener's pending connections: their peers' inodes
	unixDiagUID   = 7 // the owner's uid (u32)

	udiagShowName  = 0x01
	udiagShowPeer  = 0x04
	udiagShowIcons = 0x08
	udiagShowUID   = 0x40

	// sk_state values of unix sockets (include/net/tcp_states.h).
	tcpEstablished = 1
	tcpListen      = 10
)

// ReadUnix reads the unix sockets of the caller's network namespace from
// sock_diag, as the rows /proc/net/unix would show. It is the reader to
// prefer: /proc/net/unix prints a bound name raw, so a name holding a
// newline and the text of a row adds that row, and no reader of the text
// can tell it from a real one. Here a name is an attribute of its own
// socket's message. The fields of Diag apply to Internet sockets only.
//
// Two things are derived rather than read. RefCount: sock_diag sends no
// reference count, so it is counted as /proc shows it for a socket no
// system call is using: one for the socket, one for the socket table, one
// for each socket that holds this one as its peer (the two ends of a
// connection hold each other, a datagram server is held by each client
// connected to it). Pending connections: a connection a listener has not
// accepted yet is a socket with no file (inode 0), which sock_diag skips
// and /proc lists as CONNECTING with the listener's type and name; its
// row is made from the listener's UNIX_DIAG_ICONS. What is not seen: the
// reference a system call holds while it runs, and the half-made socket
// (type 0, DISCONNECTING, inode 0) of a connect() waiting for room in a
// full backlog.
func (d Diag) ReadUnix() ([]UnixSocket, error) {
	fd, err := openDiag()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var req [unix.SizeofNlMsghdr + sizeofUnixDiagReq]byte
	putDiagHeader(req[:], unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP, unix.AF_UNIX)
	r := req[unix.SizeofNlMsghdr:]
	r[0] = unix.AF_UNIX
	ne := binary.NativeEndian
	ne.PutUint32(r[4:], ^uint32(0)) // every state
	ne.PutUint32(r[12:], udiagShowName|udiagShowPeer|udiagShowIcons|udiagShowUID)
	if err := sendDiag(fd, req[:]); err != nil {
		return nil, err
	}
	var rows []unixDiagRow
	err = receiveDump(fd, make([]byte, diagBufSize), unix.AF_UNIX, func(msg []byte) error {
		row, err := parseUnixDiagMsg(msg)
		if err != nil {
			return err
		}
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return unixRows(rows), nil
}

// unixDiagRow is one socket of a dump, with what RefCount and the pending
// connections' rows are derived from.
type unixDiagRow struct {
	UnixSocket
	peer    uint32   // the peer's inode; 0: none, or one with no file
	pending []uint32 // a listener's unaccepted connections: their peers' inodes
}

// parseUnixDiagMsg reads one struct unix_diag_msg and its attributes.
func parseUnixDiagMsg(m []byte) (unixDiagRow, error) {
	var r unixDiagRow
	if len(m) < sizeofUnixDiagMsg {
		return r, fmt.Errorf("sock_diag: short unix message (%d bytes)", len(m))
	}
	if m[0] != unix.AF_UNIX {
		return r, fmt.Errorf("sock_diag: unexpected family %d in a unix dump", m[0])
	}
	ne := binary.NativeEndian
	u := &r.UnixSocket
	u.Type = uint16(m[1])
	u.Inode = uint64(ne.Uint32(m[4:]))
	// /proc/net/unix's State and Flags, as unix_seq_show derives them from
	// sk_state for a socket with a file, which every dumped one has.
	u.State = UnixUnconnected
	switch m[2] {
	case tcpListen:
		u.Flags = UnixAcceptCon
	case tcpEstablished:
		u.State = UnixConnected
	}
	attrs := m[sizeofUnixDiagMsg:]
	if name := diagAttr(attrs, unixDiagName); name != nil {
		u.Path = unixPath(name)
	}
	if uid := diagAttr(attrs, unixDiagUID); len(uid) >= 4 {
		u.UID, u.UIDKnown = ne.Uint32(uid), true
	}
	if peer := diagAttr(attrs, unixDiagPeer); len(peer) >= 4 {
		r.peer = ne.Uint32(peer)
	}
	if icons := diagAttr(attrs, unixDiagIcons); len(icons) >= 4 {
		r.pending = make([]uint32, len(icons)/4)
		for i := range r.pending {
			r.pending[i] = ne.Uint32(icons[4*i:])
		}
	}
	return r, nil
}

// unixPath is a bound name as /proc/net/unix prints it: a file path
// without its terminating NUL, an abstract name as "@" and the name, any
// NUL in it as "@" too (as netstat and ss show them).
func unixPath(name []byte) string {
	if len(name) == 0 {
		return ""
	}
	if name[0] != 0 {
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		return string(name)
	}
	b := bytes.ReplaceAll(name, []byte{0}, []byte{'@'})
	return string(b)
}

// unixRows turns a dump into rows: RefCount counted from the peers, and
// the listeners' pending connections added after their listener.
func unixRows(dump []unixDiagRow) []UnixSocket {
	held := make(map[uint32]uint64, len(dump))
	npending := 0
	for i := range dump {
		if p := dump[i].peer; p != 0 {
			held[p]++
		}
		// A pending connection holds its connecting peer.
		for _, p := range dump[i].pending {
			if p != 0 {
				held[p]++
			}
		}
		npending += len(dump[i].pending)
	}
	rows := make([]UnixSocket, 0, len(dump)+npending)
	for i := range dump {
		u := dump[i].UnixSocket
		u.RefCount = 2 + held[uint32(u.Inode)]
		rows = append(rows, u)
		for _, p := range dump[i].pending {
			// Held by the socket table and, until it closes, the peer
			// that connected.
			e := UnixSocket{RefCount: 2, Type: u.Type, State: UnixConnecting, Path: u.Path}
			if p != 0 {
				e.RefCount++
			}
			rows = append(rows, e)
		}
	}
	return rows
}
