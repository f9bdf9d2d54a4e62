package render

import (
	"io"
	"net/netip"
	"strconv"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// SCTP sockets are rows of the Internet table, laid out apart: an
// association is multi-homed, so netstat writes one line per address,
// the first with the ports and the state, the others under it. Addresses
// are never cut, and ports are never named (netstat looks services up for
// tcp, udp and raw only). The User, Inode, PID/Program name and Timer
// columns end the last line.

// SCTPEndpointRow writes an SCTP endpoint as netstat -S -l does. numeric
// is netstat's rule for SCTP addresses: any of -n, --numeric-hosts,
// --numeric-ports, --numeric-users and -N prints them as numbers.
func (n *Netstat) SCTPEndpointRow(w io.Writer, e *snapshot.SCTPEndpoint, numeric bool) error {
	b := n.buf[:0]
	for i, a := range e.Addrs {
		if i == 0 {
			b = append(b, "sctp                "...)
		} else {
			b = append(b, "\n                    "...)
		}
		start := len(b)
		b = n.appendSCTPAddr(b, a, numeric)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(e.Port), 10)
		b = appendSpaces(b, 47-(len(b)-start))
		b = append(b, ' ')
		b = appendLeft(b, pick(i == 0, sctpStateName(e.State), ""), 11)
	}
	b = n.appendSCTPTail(b, e.UID, e.Inode)
	n.buf = b
	_, err := w.Write(b)
	return err
}

// SCTPAssocRow writes an SCTP association as netstat -S does: its local
// and remote addresses side by side, as many lines as the longer list.
func (n *Netstat) SCTPAssocRow(w io.Writer, a *snapshot.SCTPAssoc, numeric bool) error {
	b := n.buf[:0]
	for i := 0; i < len(a.Local) || i < len(a.Remote); i++ {
		if i == 0 {
			b = append(b, "sctp  "...)
			b = appendRight(b, a.RecvQ, 6)
			b = append(b, ' ')
			b = appendRight(b, a.SendQ, 6)
			b = append(b, ' ')
		} else {
			b = append(b, "\n                    "...)
		}
		b = n.appendSCTPEnd(b, a.Local, i, a.LocalPort, numeric)
		b = append(b, ' ')
		b = n.appendSCTPEnd(b, a.Remote, i, a.RemotePort, numeric)
		b = append(b, ' ')
		b = appendLeft(b, pick(i == 0, sctpStateName(a.State), ""), 11)
	}
	b = n.appendSCTPTail(b, a.UID, a.Inode)
	n.buf = b
	_, err := w.Write(b)
	return err
}

// appendSCTPEnd writes the i-th address of one end of an association in
// 23 columns, with the port on the first line; blanks past the end of
// the list.
func (n *Netstat) appendSCTPEnd(b []byte, addrs []netip.Addr, i int, port uint16, numeric bool) []byte {
	start := len(b)
	if i < len(addrs) {
		b = n.appendSCTPAddr(b, addrs[i], numeric)
		if i == 0 {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(port), 10)
		}
	}
	return appendSpaces(b, addrColumn-(len(b)-start))
}

func (n *Netstat) appendSCTPAddr(b []byte, a netip.Addr, numeric bool) []byte {
	if !numeric {
		if name := n.Names.Host(a); name != "" {
			return append(b, name...)
		}
	}
	return a.AppendTo(b)
}

// appendSCTPTail writes the columns after the state, and the newline.
func (n *Netstat) appendSCTPTail(b []byte, uid uint32, inode uint64) []byte {
	if n.Extend {
		b = n.appendUser(b, uid)
		b = appendLeftUint(b, inode, 10)
	}
	if n.Programs {
		o, prog := n.ownerOf(inode)
		b = appendProgram(b, o.PID, prog)
	}
	if n.Timers {
		b = append(b, ' ') // netstat has no timer for SCTP: an empty one
	}
	return append(b, '\n')
}

// sctpStateName is netstat's name of an SCTP socket's state: TCP's names,
// nothing for 0, UNKNOWN(n) past them.
func sctpStateName(s tcpstate.State) string {
	if s == 0 {
		return ""
	}
	if s > tcpstate.Closing {
		return "UNKNOWN(" + strconv.Itoa(int(s)) + ")"
	}
	return s.String()
}

// SCTPEndpointJSON writes an endpoint as one JSON line: local is the
// first address and the port, local_addrs every address.
func (n *Netstat) SCTPEndpointJSON(w io.Writer, e *snapshot.SCTPEndpoint) error {
	row := sctpJSON{SocketJSON: SocketJSON{Proto: "sctp", State: sctpStateName(e.State), UID: &e.UID, Inode: e.Inode}}
	row.Local, row.LocalAddrs = sctpEndJSON(e.Addrs, e.Port)
	n.sctpUserJSON(&row, e.UID, e.Inode)
	return writeJSON(w, &row)
}

// SCTPAssocJSON writes an association as one JSON line.
func (n *Netstat) SCTPAssocJSON(w io.Writer, a *snapshot.SCTPAssoc) error {
	row := sctpJSON{SocketJSON: SocketJSON{Proto: "sctp", RecvQ: a.RecvQ, SendQ: a.SendQ,
		State: sctpStateName(a.State), UID: &a.UID, Inode: a.Inode}}
	row.Local, row.LocalAddrs = sctpEndJSON(a.Local, a.LocalPort)
	var remote JSONText
	remote, row.RemoteAddrs = sctpEndJSON(a.Remote, a.RemotePort)
	row.Remote = string(remote)
	n.sctpUserJSON(&row, a.UID, a.Inode)
	return writeJSON(w, &row)
}

// sctpJSON is an SCTP row under --json: a socket's fields, and each end's
// addresses.
type sctpJSON struct {
	SocketJSON
	LocalAddrs  []string `json:"local_addrs"`
	RemoteAddrs []string `json:"remote_addrs,omitempty"`
}

func sctpEndJSON(addrs []netip.Addr, port uint16) (JSONText, []string) {
	list := make([]string, len(addrs))
	for i, a := range addrs {
		list[i] = a.String()
	}
	if len(addrs) == 0 {
		return "", list
	}
	return JSONText(netip.AddrPortFrom(addrs[0], port).String()), list
}

func (n *Netstat) sctpUserJSON(row *sctpJSON, uid uint32, inode uint64) {
	if n.Names != nil {
		row.User = JSONText(n.Names.User(uid))
	}
	n.owner(&row.SocketJSON, inode)
}
