package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
)

// Unix socket flags and states as /proc/net/unix prints them
// (include/linux/net.h: __SO_ACCEPTCON and socket_state).
const (
	UnixAcceptCon = 1 << 16 // listening

	UnixFree          = 0
	UnixUnconnected   = 1
	UnixConnecting    = 2
	UnixConnected     = 3
	UnixDisconnecting = 4
)

// UnixSocket is one row of /proc/net/unix.
type UnixSocket struct {
	RefCount uint64
	Protocol uint64 // always 0 on Linux
	Flags    uint64
	Type     uint16 // SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5
	State    uint8  // UnixFree … UnixDisconnecting
	Inode    uint64
	// Path is the bound name: a file path, "@name" for the abstract
	// namespace, or empty. It comes from whoever bound the socket.
	Path string
	// UID owns the socket. Only sock_diag tells it (UIDKnown);
	// /proc/net/unix has no such column.
	UID      uint32
	UIDKnown bool
}

// Listening reports whether the socket is a listener, the way netstat
// decides it: unconnected with the accept flag.
func (u UnixSocket) Listening() bool {
	return u.State == UnixUnconnected && u.Flags&UnixAcceptCon != 0
}

// ReadUnix reads /proc/net/unix under netDir: for fixture trees, other
// namespaces' /proc/<pid>/net, and kernels without unix_diag. Prefer
// Diag.ReadUnix for the caller's own namespace. The kernel prints a bound
// name raw, so a name holding a newline adds a line of its own: lines
// that are not rows to the byte are refused and reported as in ReadTCP,
// never turned into rows; a name made to hold a whole row still adds one.
func ReadUnix(netDir string) ([]UnixSocket, error) {
	path := filepath.Join(netDir, "unix")
	data, err := readProcFile(path)
	if err != nil {
		return nil, err
	}
	return ParseUnix(data, path)
}

// ParseUnix parses the contents of /proc/net/unix, header included.
func ParseUnix(data []byte, file string) ([]UnixSocket, error) {
	return parseTable(data, file, parseUnixLine)
}

// errNotUnixRow is the error for a line that is not a row as the kernel
// prints them: in a live /proc, the rest of a name that held a newline.
var errNotUnixRow = errors.New("not a socket row (the rest of a name holding a newline?)")

// parseUnixLine parses one row exactly as unix_seq_show prints it,
// "%pK: %08X %08X %08X %04X %02X %5lu" and, for a bound socket, a space
// and the name:
//
//	000000001bbc89ac: 00000002 00000000 00010000 0001 01 12345 /run/x.sock
//
// Anything else is refused whole: a lax parser would turn the text after
// a newline in a name into a row.
func parseUnixLine(line []byte) (UnixSocket, error) {
	var u UnixSocket
	// %pK: the pointer's width, hashed or zeros.
	colon := bytes.IndexByte(line, ':')
	if (colon != 16 && colon != 8) || !hexDigits(line[:colon], 'a') {
		return u, fmt.Errorf("socket address: %w", errNotUnixRow)
	}
	rest := line[colon+1:]
	var v [5]uint64
	for i, width := range [...]int{8, 8, 8, 4, 2} {
		if len(rest) < 1+width || rest[0] != ' ' || !hexDigits(rest[1:1+width], 'A') {
			return u, fmt.Errorf("%s: want %d hex digits: %w", unixFields[i], width, errNotUnixRow)
		}
		v[i], _ = parseHex(rest[1:1+width], 64)
		rest = rest[1+width:]
	}
	u.RefCount, u.Protocol, u.Flags, u.Type, u.State = v[0], v[1], v[2], uint16(v[3]), uint8(v[4])
	inode, rest, ok := cutInode(rest)
	if !ok {
		return u, fmt.Errorf("inode: %w", errNotUnixRow)
	}
	var err error
	if u.Inode, err = parseDec(inode, 64); err != nil {
		return u, fmt.Errorf("inode: %w", err)
	}
	if len(rest) > 0 {
		if len(rest) < 2 || rest[0] != ' ' {
			return u, fmt.Errorf("path: %w", errNotUnixRow)
		}
		u.Path = string(rest[1:])
	}
	return u, nil
}

var unixFields = [...]string{"refcount", "protocol", "flags", "type", "state"}

// cutInode cuts " %5lu" off the front of b: a space, then the digits
// right-aligned in five columns.
func cutInode(b []byte) (inode, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != ' ' {
		return nil, nil, false
	}
	b = b[1:]
	pad := 0
	for pad < len(b) && b[pad] == ' ' {
		pad++
	}
	end := pad
	for end < len(b) && b[end] >= '0' && b[end] <= '9' {
		end++
	}
	if digits := end - pad; digits == 0 || pad != max(5-digits, 0) {
		return nil, nil, false
	}
	return b[pad:end], b[end:], true
}

// hexDigits reports whether b is all hex digits, with letters from a
// ('A' for %X, 'a' for a hashed %p).
func hexDigits(b []byte, a byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < a || c > a+5) {
			return false
		}
	}
	return len(b) > 0
}
