package filter

import (
	"net/netip"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// Socket is what a filter tests: a row of a socket table or an event's
// socket. Fields a mode does not know stay zero, and conditions on them
// are false.
type Socket struct {
	Family        int // unix.AF_INET, unix.AF_INET6 or unix.AF_UNIX
	Local, Remote netip.AddrPort
	LocalPath     string // unix sockets: the socket's name ("@..." abstract), or ""
	PeerPath      string // unix sockets: the peer's name

	// PortLocked is the kernel's SOCK_BINDPORT_LOCK: the local port was
	// chosen by bind(), not picked by the kernel. Listeners have it;
	// accepted sockets and time-wait sockets never do.
	PortLocked bool

	PID         uint32          // the owner; 0: not known
	Comm        snapshot.Comm   // the owner's name
	Container   *container.Info // where the owner runs; nil: not known
	UID         uint32
	HasUID      bool
	Netns       uint32 // the network namespace's inode; 0: not known
	Err         string // how it ended: an errno name, "aborted", or ""
	Lifetime    time.Duration
	HasLifetime bool
}

// Match reports whether s passes the family and the expression (the
// state words are the caller's: a table row has one state, an event two).
//
// ss evaluates an expression twice for an Internet socket, and shows the
// socket only if both say yes: in the kernel, which sock_diag runs as
// bytecode, and again in ss itself. They differ in autobound (the kernel
// asks whether bind() chose the port, ss whether the port is in the
// ephemeral range) and in addresses (the kernel compares families and
// tests only the first address a host name resolved to; ss compares bits
// and tests them all). So does Match.
func (f *Filter) Match(s *Socket) bool {
	if f.Family != 0 && s.Family != f.Family {
		return false
	}
	if f.root == nil || f.root.op == opTrue {
		return true
	}
	if !f.root.eval(s, f, false) {
		return false
	}
	return s.Family == unix.AF_UNIX || f.root.eval(s, f, true)
}

// StateMatch reports whether a socket moving from old to new passes the
// state words: either state will do. A table row passes its state twice.
func (f *Filter) StateMatch(old, new tcpstate.State) bool {
	return f.States == 0 || f.States.Has(old) || f.States.Has(new)
}

type op uint8

const (
	opPred op = iota
	opAnd
	opOr
	opNot
	opTrue  // a condition Within could not decide, where true lets sockets through
	opFalse // and where false does
)

type node struct {
	op   op
	l, r *node
	p    pred
}

func leaf(p pred) *node { return &node{op: opPred, p: p} }
func not(n *node) *node { return &node{op: opNot, l: n} }
func (n *node) eval(s *Socket, f *Filter, kernel bool) bool {
	switch n.op {
	case opAnd:
		return n.l.eval(s, f, kernel) && n.r.eval(s, f, kernel)
	case opOr:
		return n.l.eval(s, f, kernel) || n.r.eval(s, f, kernel)
	case opNot:
		return !n.l.eval(s, f, kernel)
	case opTrue:
		return true
	case opFalse:
		return false
	}
	return n.p.test(s, f, kernel)
}

// pred is one condition. kernel asks for the kernel's reading of it.
type pred interface {
	test(s *Socket, f *Filter, kernel bool) bool
	facts() Facts
	String() string
}

type hostPred struct {
	remote bool
	port   bool // written as sport or dport
	cond   *hostCond
}

func (h *hostPred) test(s *Socket, _ *Filter, kernel bool) bool {
	c := h.cond
	if c.unix || s.Family == unix.AF_UNIX {
		if !c.unix || s.Family != unix.AF_UNIX {
			return false
		}
		if h.remote {
			return fnmatch(c.pattern, s.PeerPath)
		}
		return fnmatch(c.pattern, s.LocalPath)
	}
	ap := s.Local
	if h.remote {
		ap = s.Remote
	}
	if c.port != -1 && c.port != int(ap.Port()) {
		return false
	}
	if kernel {
		return c.kernelMatch(ap.Addr(), s.Family)
	}
	if len(c.addrs) == 0 || c.addrs[0].bits == 0 {
		return true
	}
	data := rawAddr(ap.Addr(), s.Family)
	for _, a := range c.addrs {
		if userMatch(data, s.Family, a) {
			return true
		}
	}
	return false
}

// kernelMatch is inet_diag's hostcond test: the family must be the
// socket's, except that an IPv4 condition matches an IPv4-mapped address.
func (c *hostCond) kernelMatch(a netip.Addr, family int) bool {
	var head prefix
	if len(c.addrs) > 0 {
		head = c.addrs[0]
	} else {
		head.family = c.family
	}
	data := rawAddr(a, family)
	if head.family != 0 && head.family != family {
		mapped := family == unix.AF_INET6 && head.family == unix.AF_INET && a.Is4In6()
		return mapped && bitsMatch(data[12:], head.addr[:4], head.bits)
	}
	if head.bits == 0 {
		return true
	}
	return bitsMatch(data[:], head.addr[:], head.bits)
}

// userMatch is ss's own test (inet2_addr_match): the bits as stored, an
// IPv4 address in the first four bytes, then an IPv4-mapped address's
// IPv4 part again.
func userMatch(data [16]byte, family int, a prefix) bool {
	if bitsMatch(data[:], a.addr[:], a.bits) {
		return true
	}
	if a.family != unix.AF_INET || family != unix.AF_INET6 || !netip.AddrFrom16(data).Is4In6() {
		return false
	}
	tmp := data
	copy(tmp[:4], data[12:])
	return bitsMatch(tmp[:], a.addr[:], a.bits)
}

// rawAddr lays an address out as ss and the kernel hold it: IPv4 in the
// first four bytes of sixteen.
func rawAddr(a netip.Addr, family int) [16]byte {
	var d [16]byte
	if family == unix.AF_INET6 {
		return a.As16()
	}
	a4 := a.Unmap().As4()
	copy(d[:], a4[:])
	return d
}

// portCmp is sport/dport >= or <=. The kernel compares with the port cut
// to 16 bits, ss with the number as typed.
type portCmp struct {
	remote, ge bool
	port       int
}

func (c portCmp) test(s *Socket, _ *Filter, kernel bool) bool {
	if s.Family == unix.AF_UNIX {
		return false
	}
	port := s.Local.Port()
	if c.remote {
		port = s.Remote.Port()
	}
	if kernel {
		if c.ge {
			return port >= uint16(c.port)
		}
		return port <= uint16(c.port)
	}
	if c.ge {
		return int(port) >= c.port
	}
	return int(port) <= c.port
}

// autobound: to the kernel, a port bind() did not choose; to ss, a port
// in the ephemeral range; for a unix socket, no name or an autobind one.
type autobound struct{}

func (autobound) test(s *Socket, f *Filter, kernel bool) bool {
	if s.Family == unix.AF_UNIX {
		return s.LocalPath == "" || isAutobindName(s.LocalPath)
	}
	if kernel {
		return !s.PortLocked
	}
	return f.ephemeral.Has(s.Local.Port())
}

// isAutobindName is the abstract name the kernel gives a unix socket that
// binds without one: "@" and five hex digits.
func isAutobindName(name string) bool {
	if len(name) != 6 || name[0] != '@' {
		return false
	}
	for _, c := range []byte(name[1:]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

type field uint8

const (
	fieldPID field = iota
	fieldUID
	fieldNetns
	fieldLifetime
)

func fieldOf(k kind) field {
	if k == tUID {
		return fieldUID
	}
	return fieldPID
}

// numPred compares a number socktrace knows about a socket. A socket that
// lacks the number fails every comparison.
type numPred struct {
	field field
	op    kind
	n     uint64
}

func (c numPred) test(s *Socket, _ *Filter, _ bool) bool {
	var v uint64
	switch c.field {
	case fieldPID:
		if s.PID == 0 {
			return false
		}
		v = uint64(s.PID)
	case fieldUID:
		if !s.HasUID {
			return false
		}
		v = uint64(s.UID)
	case fieldNetns:
		v = uint64(s.Netns)
	case fieldLifetime:
		if !s.HasLifetime {
			return false
		}
		v = uint64(s.Lifetime)
	}
	switch c.op {
	case tGt:
		return v > c.n
	case tLt:
		return v < c.n
	case tGeq:
		return v >= c.n
	case tLeq:
		return v <= c.n
	}
	return v == c.n
}

// commPred compares the owner's name as the kernel keeps it: its first
// 15 bytes.
type commPred string

func (c commPred) test(s *Socket, _ *Filter, _ bool) bool {
	if s.PID == 0 {
		return false
	}
	return s.Comm == snapshot.CommOf(string(c))
}

// containerPred is where the owner runs, named as socktrace shows it
// (a pod's namespace/name, runtime:short id, a systemd unit), or by the
// container's id (whole, runtime://id, or its first 12 digits or more, as
// docker ps shows it), or by the pod's UID.
type containerPred string

func (c containerPred) test(s *Socket, _ *Filter, _ bool) bool {
	in, name := s.Container, string(c)
	if in == nil {
		return false
	}
	switch name {
	case "":
		return false
	case in.Name(), in.ContainerID(), in.ID, in.Pod, in.PodUID, in.Unit:
		return true
	}
	return len(name) >= 12 && strings.HasPrefix(in.ID, name)
}

type errPred string

func (e errPred) test(s *Socket, _ *Filter, _ bool) bool { return s.Err == string(e) }
