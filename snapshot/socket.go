// Package snapshot reads the kernel's socket tables and the names that go
// with them from a proc tree: /proc/net/{tcp,udp,raw,unix,...}, the socket
// owners behind /proc/<pid>/fd, and the user, service and host names netstat
// prints. Every reader takes its root as a parameter, so tests use committed
// fixture trees and later work can read another namespace's /proc/<pid>/net.
package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/socktrace/socktrace/tcpstate"
)

// Proto is the table an Internet socket was read from.
type Proto uint8

// The Internet socket tables under /proc/net. Each covers both families: the
// IPv6 half is the file with the 6 suffix.
const (
	TCP Proto = iota + 1
	UDP
	UDPLite
	Raw
)

// String returns the table's base name, as in /proc/net/<name>.
func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case UDPLite:
		return "udplite"
	case Raw:
		return "raw"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Socket is one row of /proc/net/{tcp,tcp6,udp,udp6,udplite,udplite6,raw,raw6}.
// Tables hold up to hundreds of thousands of rows: the small fields are
// grouped to keep the struct at 120 bytes.
type Socket struct {
	Proto Proto
	V6    bool           // read from the IPv6 file; IPv4-mapped addresses stay IPv6
	State tcpstate.State // UDP and raw sockets use ESTABLISHED and CLOSE
	// Timer is the kernel's timer_active: 0 none, 1 retransmit, 2 keepalive,
	// 3 TIME_WAIT, 4 zero window probe. TimerTicks is the time left in
	// USER_HZ (1/100 s) ticks.
	Timer       uint8
	UID         uint32
	Local       netip.AddrPort
	Remote      netip.AddrPort
	SendQ       uint64
	RecvQ       uint64
	TimerTicks  uint64
	Retransmits uint64
	Timeout     uint64 // unanswered probes (tcp) or 0
	Inode       uint64 // 0 for TIME_WAIT and other sockets without a file
}

// TimewaitSock reports whether s is a timewait socket (the kernel's
// struct inet_timewait_sock, all a connection keeps after its full socket
// is freed), whatever its substate: TIME_WAIT, or FIN_WAIT2 for an orphan
// whose own FIN was acknowledged before its peer's FIN came. Only those
// run the TIME_WAIT timer; an orphan that stays a full socket in FIN_WAIT2
// (tcp_fin_timeout longer than TIME_WAIT) runs the keepalive timer, and
// its inode is 0 too.
func (s *Socket) TimewaitSock() bool { return s.Proto == TCP && s.Timer == timerTimeWait }

// timerTimeWait is Socket.Timer of a timewait socket.
const timerTimeWait = 3

// ParseError is a line of a /proc table that could not be parsed. Readers
// skip such lines and return the rows they could read together with all
// parse errors joined, so one bad line never hides the rest of the table.
type ParseError struct {
	File string
	Line int // 1-based, counting the header
	Err  error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("read %s line %d: %v", e.File, e.Line, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ReadTCP reads /proc/net/tcp and /proc/net/tcp6 under netDir (for example
// "/proc/net", or "/proc/<pid>/net" for another process's namespace). A
// missing tcp6 file (IPv6 disabled) is not an error. Malformed lines are
// skipped and reported as *ParseError values joined into the error, next to
// the rows that did parse.
func ReadTCP(netDir string) ([]Socket, error) {
	return ReadInet(netDir, TCP, IPv4|IPv6, nil)
}

// Family selects the IPv4 table, the IPv6 table, or both.
type Family uint8

// The two halves of each Internet socket table.
const (
	IPv4 Family = 1 << iota
	IPv6
)

// ReadInet appends the rows of one protocol's tables under netDir to dst,
// for the families in fam. See ReadTCP for how errors are reported.
func ReadInet(netDir string, p Proto, fam Family, dst []Socket) ([]Socket, error) {
	var errs []error
	for _, v6 := range []bool{false, true} {
		if v6 && fam&IPv6 == 0 || !v6 && fam&IPv4 == 0 {
			continue
		}
		name := p.String()
		if v6 {
			name += "6"
		}
		var err error
		dst, err = readInetFile(filepath.Join(netDir, name), p, v6, dst)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return dst, errors.Join(errs...)
}

// ParseInet parses the contents of one /proc/net Internet socket table
// (header line included) and appends its rows to dst. file names the table
// in errors.
func ParseInet(data []byte, file string, p Proto, v6 bool, dst []Socket) ([]Socket, error) {
	ip := inetParser{file: file, proto: p, v6: v6}
	dst = ip.lines(data, dst)
	return dst, errors.Join(ip.errs...)
}

// inetParser parses a table a chunk of whole lines at a time.
type inetParser struct {
	file   string
	proto  Proto
	v6     bool
	lineNo int
	errs   []error
}

func (ip *inetParser) lines(data []byte, dst []Socket) []Socket {
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		ip.lineNo++
		if ip.lineNo == 1 || len(bytes.TrimSpace(line)) == 0 {
			continue // header
		}
		s, err := parseInetLine(line, ip.proto, ip.v6)
		if err != nil {
			ip.errs = append(ip.errs, &ParseError{File: ip.file, Line: ip.lineNo, Err: err})
			continue
		}
		dst = append(dst, s)
	}
	return dst
}

// readInetFile reads and parses one table. The kernel takes about as long
// to generate the text as we take to parse it, so a reader goroutine keeps
// the kernel busy on one CPU while this one parses.
func readInetFile(path string, p Proto, v6 bool, dst []Socket) ([]Socket, error) {
	f, err := os.Open(path)
	if err != nil {
		return dst, err
	}
	defer f.Close()
	const nbuf, bufSize = 4, 256 << 10
	free := make(chan []byte, nbuf)
	for range nbuf {
		free <- make([]byte, bufSize)
	}
	chunks := make(chan []byte, nbuf)
	var readErr error
	go func() {
		defer close(chunks)
		for {
			buf := <-free
			n, err := f.Read(buf)
			if n > 0 {
				chunks <- buf[:n]
			} else {
				free <- buf
			}
			if err != nil {
				if err != io.EOF {
					readErr = fmt.Errorf("read %s: %w", path, err)
				}
				return
			}
		}
	}()
	ip := inetParser{file: path, proto: p, v6: v6}
	var carry []byte // a line cut across two reads
	for c := range chunks {
		data := c
		if len(carry) > 0 {
			carry = append(carry, c...)
			data = carry
		}
		end := bytes.LastIndexByte(data, '\n') + 1
		dst = ip.lines(data[:end], dst)
		rest := data[end:]
		if len(carry) > 0 {
			carry = carry[:copy(carry, rest)]
		} else {
			carry = append(carry, rest...)
		}
		free <- c[:cap(c)]
	}
	dst = ip.lines(carry, dst)
	if readErr != nil {
		ip.errs = append(ip.errs, readErr)
	}
	return dst, errors.Join(ip.errs...)
}

// parseInetLine parses one row, like
//
//	0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 ...
//
// The kernel prints addresses as the raw 32-bit words of the address in host
// byte order, and everything else in hex except uid, timeout and inode.
func parseInetLine(line []byte, p Proto, v6 bool) (Socket, error) {
	s := Socket{Proto: p, V6: v6}
	f := fields{b: line}
	if sl := f.next(); len(sl) < 2 || sl[len(sl)-1] != ':' {
		return s, errors.New("missing slot number")
	}
	var err error
	if s.Local, err = parseHexAddrPort(f.next(), v6); err != nil {
		return s, fmt.Errorf("local address: %w", err)
	}
	if s.Remote, err = parseHexAddrPort(f.next(), v6); err != nil {
		return s, fmt.Errorf("remote address: %w", err)
	}
	st, err := parseHex(f.next(), 8)
	if err != nil {
		return s, fmt.Errorf("state: %w", err)
	}
	s.State = tcpstate.State(st)
	if s.SendQ, s.RecvQ, err = parseHexPair(f.next()); err != nil {
		return s, fmt.Errorf("queues: %w", err)
	}
	var tr uint64
	if tr, s.TimerTicks, err = parseHexPair(f.next()); err != nil {
		return s, fmt.Errorf("timer: %w", err)
	}
	if tr > 0xff {
		return s, errors.New("timer: out of range")
	}
	s.Timer = uint8(tr)
	if s.Retransmits, err = parseHex(f.next(), 64); err != nil {
		return s, fmt.Errorf("retransmits: %w", err)
	}
	uid, err := parseDec(f.next(), 32)
	if err != nil {
		return s, fmt.Errorf("uid: %w", err)
	}
	s.UID = uint32(uid)
	if s.Timeout, err = parseDec(f.next(), 64); err != nil {
		return s, fmt.Errorf("timeout: %w", err)
	}
	if s.Inode, err = parseDec(f.next(), 64); err != nil {
		return s, fmt.Errorf("inode: %w", err)
	}
	return s, nil
}

func parseHexAddrPort(b []byte, v6 bool) (netip.AddrPort, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, errors.New("no port")
	}
	hexAddr, hexPort := b[:i], b[i+1:]
	port, err := parseHex(hexPort, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port: %w", err)
	}
	words := 1
	if v6 {
		words = 4
	}
	if len(hexAddr) != 8*words {
		return netip.AddrPort{}, fmt.Errorf("address %q: want %d hex digits", hexAddr, 8*words)
	}
	var raw [16]byte
	for w := 0; w < words; w++ {
		v, err := parseHex(hexAddr[8*w:8*w+8], 32)
		if err != nil {
			return netip.AddrPort{}, err
		}
		binary.NativeEndian.PutUint32(raw[4*w:], uint32(v))
	}
	var a netip.Addr
	if v6 {
		a = netip.AddrFrom16(raw)
	} else {
		a = netip.AddrFrom4([4]byte(raw[:4]))
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// readProcFile reads a whole proc file. /proc/net tables are generated as
// they are read, so their size is unknown up front; a large buffer makes the
// kernel fill many rows per read.
func readProcFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 0, 256<<10)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, fmt.Errorf("read %s: %w", path, err)
		}
	}
}
