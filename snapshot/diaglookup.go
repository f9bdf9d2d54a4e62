package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// A dump walks the kernel's whole established hash, whatever its state
// filter, timewait sockets included: under churn that is a long walk. A
// lookup by tuple is one hash probe, so a caller that already knows its
// sockets asks for them by name instead.

// lookupBatch is how many requests go in one send. The kernel answers each
// before reading the next, into the socket's receive buffer: a batch's
// replies (~100 bytes each, ~350 with tcp_info) must fit in it.
const lookupBatch = 128

// LookupTCP appends the rows of the TCP sockets whose tuples (V6, Local,
// Remote) are in queries and that the kernel still has; the others have
// no row. A query for a listener finds a listener on that address and
// port, in a SO_REUSEPORT group not always the one asked for: look
// listeners up with a dump (States) instead.
func (d Diag) LookupTCP(queries []Socket, dst []Socket) ([]Socket, error) {
	if len(queries) == 0 {
		return dst, nil
	}
	fd, err := openDiag()
	if err != nil {
		return dst, err
	}
	defer unix.Close(fd)
	req := make([]byte, 0, lookupBatch*(unix.SizeofNlMsghdr+sizeofDiagReq))
	buf := make([]byte, diagBufSize)
	for len(queries) > 0 {
		n := min(len(queries), lookupBatch)
		req = req[:0]
		for i := range queries[:n] {
			req = d.appendLookup(req, &queries[i], uint32(i+1))
		}
		if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return dst, fmt.Errorf("sock_diag lookup: %w", err)
		}
		if dst, err = receiveLookups(fd, buf, n, dst); err != nil {
			return dst, err
		}
		queries = queries[n:]
	}
	return dst, nil
}

// appendLookup appends one request for q's socket, numbered seq.
func (d Diag) appendLookup(b []byte, q *Socket, seq uint32) []byte {
	var req [unix.SizeofNlMsghdr + sizeofDiagReq]byte
	ne, be := binary.NativeEndian, binary.BigEndian
	putDiagHeader(req[:], unix.SOCK_DIAG_BY_FAMILY, 0, seq)
	r := req[unix.SizeofNlMsghdr:]
	r[0], r[1] = unix.AF_INET, unix.IPPROTO_TCP
	if q.V6 {
		r[0] = unix.AF_INET6
	}
	if d.TCPInfo {
		r[2] = 1 << (inetDiagInfo - 1)
	}
	ne.PutUint32(r[4:], diagStates)
	// struct inet_diag_sockid starts at offset 8 of the request, as it
	// does at offset 4 of the reply.
	id := r[8:]
	be.PutUint16(id[0:], q.Local.Port())
	be.PutUint16(id[2:], q.Remote.Port())
	putAddr(id[4:20], q.V6, q.Local.Addr().As16())
	putAddr(id[20:36], q.V6, q.Remote.Addr().As16())
	// idiag_if 0: any device. idiag_cookie: INET_DIAG_NOCOOKIE, no check.
	ne.PutUint32(id[40:], ^uint32(0))
	ne.PutUint32(id[44:], ^uint32(0))
	return append(b, req[:]...)
}

// putAddr writes an address as inet_diag_sockid holds it: IPv4 in the
// first 4 bytes.
func putAddr(b []byte, v6 bool, a [16]byte) {
	if v6 {
		copy(b, a[:])
	} else {
		copy(b, a[12:])
	}
}

// receiveLookups reads the replies to n lookups: a socket, or an error
// (ENOENT: no such socket) for each.
func receiveLookups(fd int, buf []byte, n int, dst []Socket) ([]Socket, error) {
	for n > 0 {
		got, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return dst, fmt.Errorf("sock_diag lookup: %w", err)
		}
		if got == 0 {
			return dst, errors.New("sock_diag lookup: end of stream")
		}
		for b := buf[:got]; len(b) >= unix.SizeofNlMsghdr; {
			typ, _, msg, rest, err := nextMsg(b)
			if err != nil {
				return dst, err
			}
			b = rest
			switch typ {
			case unix.NLMSG_ERROR:
				n--
				if err := diagErrno(msg, "lookup"); err != nil && !errors.Is(err, unix.ENOENT) {
					return dst, err
				}
			case unix.SOCK_DIAG_BY_FAMILY:
				n--
				s, err := parseDiagMsg(msg, TCP)
				if err != nil {
					return dst, err
				}
				dst = append(dst, s)
			}
		}
	}
	return dst, nil
}
