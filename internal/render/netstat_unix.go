package render

import (
	"io"
	"strconv"

	"github.com/socktrace/socktrace/snapshot"
)

// UnixHeader writes the title and column header of the unix socket table.
func (n *Netstat) UnixHeader(w io.Writer, all, listening bool) error {
	b := n.buf[:0]
	b = append(b, "Active UNIX domain sockets "...)
	b = appendScope(b, all, listening)
	b = append(b, "\nProto RefCnt Flags       Type       State         I-Node  "...)
	if n.Programs {
		b = append(b, ' ')
		b = appendLeft(b, "PID/Program name", progWidth)
	}
	return endRow(w, &n.buf, append(b, " Path"...))
}

var unixTypes = [...]string{1: "STREAM", 2: "DGRAM", 3: "RAW", 4: "RDM", 5: "SEQPACKET"}

// UnixTypeName is netstat's Type column.
func UnixTypeName(u *snapshot.UnixSocket) string {
	if int(u.Type) < len(unixTypes) && unixTypes[u.Type] != "" {
		return unixTypes[u.Type]
	}
	return "UNKNOWN"
}

// UnixStateName is netstat's State column.
func UnixStateName(u *snapshot.UnixSocket) string {
	switch u.State {
	case snapshot.UnixFree:
		return "FREE"
	case snapshot.UnixUnconnected:
		if u.Flags&snapshot.UnixAcceptCon != 0 {
			return "LISTENING"
		}
		return ""
	case snapshot.UnixConnecting:
		return "CONNECTING"
	case snapshot.UnixConnected:
		return "CONNECTED"
	case snapshot.UnixDisconnecting:
		return "DISCONNECTING"
	}
	return "UNKNOWN"
}

// UnixFlags is netstat's Flags column, like "[ ACC ]".
func UnixFlags(u *snapshot.UnixSocket) string {
	f := "[ "
	if u.Flags&(1<<16) != 0 {
		f += "ACC "
	}
	if u.Flags&(1<<17) != 0 {
		f += "W "
	}
	if u.Flags&(1<<18) != 0 {
		f += "N "
	}
	return f + "]"
}

// UnixRow writes one unix socket.
func (n *Netstat) UnixRow(w io.Writer, u *snapshot.UnixSocket) error {
	b := n.buf[:0]
	b = appendLeft(b, pick(u.Protocol == 0, "unix", "??"), 5)
	b = append(b, ' ')
	b = appendLeft(b, strconv.FormatUint(u.RefCount, 10), 6)
	b = append(b, ' ')
	b = appendLeft(b, UnixFlags(u), 11)
	b = append(b, ' ')
	b = appendLeft(b, UnixTypeName(u), 10)
	b = append(b, ' ')
	b = appendLeft(b, UnixStateName(u), 13)
	b = append(b, ' ')
	b = appendLeft(b, strconv.FormatUint(u.Inode, 10), 8)
	if n.Programs {
		o, prog := n.ownerOf(u.Inode)
		b = appendProgram(b, o.PID, prog)
	}
	b = append(b, ' ')
	b = AppendSafe(b, u.Path)
	return endRow(w, &n.buf, b)
}
