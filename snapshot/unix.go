package snapshot

import (
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
}

// Listening reports whether the socket is a listener, the way netstat
// decides it: unconnected with the accept flag.
func (u UnixSocket) Listening() bool {
	return u.State == UnixUnconnected && u.Flags&UnixAcceptCon != 0
}

// ReadUnix reads /proc/net/unix under netDir. Malformed lines are reported
// as in ReadTCP.
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

// parseUnixLine parses
//
//	0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/x.sock
func parseUnixLine(line []byte) (UnixSocket, error) {
	var u UnixSocket
	f := fields{b: line}
	if num := f.next(); len(num) < 2 || num[len(num)-1] != ':' {
		return u, errors.New("missing socket address")
	}
	var err error
	if u.RefCount, err = parseHex(f.next(), 64); err != nil {
		return u, fmt.Errorf("refcount: %w", err)
	}
	if u.Protocol, err = parseHex(f.next(), 64); err != nil {
		return u, fmt.Errorf("protocol: %w", err)
	}
	if u.Flags, err = parseHex(f.next(), 64); err != nil {
		return u, fmt.Errorf("flags: %w", err)
	}
	typ, err := parseHex(f.next(), 16)
	if err != nil {
		return u, fmt.Errorf("type: %w", err)
	}
	u.Type = uint16(typ)
	st, err := parseHex(f.next(), 8)
	if err != nil {
		return u, fmt.Errorf("state: %w", err)
	}
	u.State = uint8(st)
	if u.Inode, err = parseDec(f.next(), 64); err != nil {
		return u, fmt.Errorf("inode: %w", err)
	}
	u.Path = string(f.rest())
	return u, nil
}
