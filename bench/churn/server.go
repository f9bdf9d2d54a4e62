// Package churn generates TCP connection churn on loopback for benchmarks:
// every connection is opened, closed by the client first and then by the
// server, so it makes exactly ten TCP state transitions and leaves its
// TIME_WAIT socket on the client side. Clients that reset instead make six
// (three per side) and leave nothing.
//
// It uses blocking raw syscalls instead of package net: on loopback a
// blocking connect() completes the whole handshake inside the syscall, so a
// connection costs three syscalls per side and no netpoller registration,
// which is what lets two cores reach the highest rate.
package churn

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// pollInterval bounds how long a blocked accept() or read() goes without
// looking at the stop flag: the kernel wakes neither when another thread
// closes the fd, so the sockets carry a receive timeout instead.
const pollInterval = 100 * time.Millisecond

// ServerConfig says where the server listens.
type ServerConfig struct {
	// Addrs are the IPv4 addresses to listen on, one listener each, all on
	// the same port. Spreading clients over several addresses multiplies
	// the ephemeral ports available (a port is unique per 4-tuple) while
	// keeping one port for tracer filters.
	Addrs []netip.Addr
	// Port is the port to listen on; 0 picks a free one (see Server.Port).
	Port int
	// Acceptors is the number of accept loops per listener; 0 means 2.
	Acceptors int
}

// Server accepts connections, waits for the client's FIN and closes.
type Server struct {
	fds       []int
	port      int
	acceptors int
	stop      atomic.Bool
	wg        sync.WaitGroup

	accepted atomic.Int64 // accept() returned a connection
	closed   atomic.Int64 // read EOF, then closed: a clean passive close
	reset    atomic.Int64 // read ECONNRESET, then closed: the client aborted
	failed   atomic.Int64 // accept or read errors other than timeouts
}

// Listen opens the listeners. Call Serve to start accepting and Close to stop.
func Listen(cfg ServerConfig) (*Server, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("listen: no address")
	}
	s := &Server{port: cfg.Port, acceptors: cfg.Acceptors}
	if s.acceptors <= 0 {
		s.acceptors = 2
	}
	for _, a := range cfg.Addrs {
		fd, port, err := listen(a, s.port)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("listen %s: %w", netip.AddrPortFrom(a, uint16(s.port)), err)
		}
		s.port = port
		s.fds = append(s.fds, fd)
	}
	return s, nil
}

func listen(a netip.Addr, port int) (int, int, error) {
	if !a.Is4() {
		return -1, 0, errors.New("only IPv4 addresses are supported")
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("socket: %w", err)
	}
	fail := func(op string, err error) (int, int, error) {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("%s: %w", op, err)
	}
	// A restarted server must not wait for the previous run's sockets.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt SO_REUSEADDR", err)
	}
	// Inherited by accepted sockets, so the read for EOF is bounded too.
	tv := unix.NsecToTimeval(pollInterval.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("setsockopt SO_RCVTIMEO", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: a.As4(), Port: port}); err != nil {
		return fail("bind", err)
	}
	// The kernel caps the backlog at net.core.somaxconn (4096 by default);
	// a full accept queue drops SYNs and stalls a client for a second.
	if err := unix.Listen(fd, 65535); err != nil {
		return fail("listen", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	return fd, sa.(*unix.SockaddrInet4).Port, nil
}

// Port is the port all listeners share.
func (s *Server) Port() int { return s.port }

// Serve starts the accept loops and returns at once.
func (s *Server) Serve() {
	for _, fd := range s.fds {
		for range s.acceptors {
			s.wg.Add(1)
			go s.acceptLoop(fd)
		}
	}
}

func (s *Server) acceptLoop(lfd int) {
	defer s.wg.Done()
	var buf [64]byte
	for !s.stop.Load() {
		// accept4 with a nil address: unix.Accept4 would allocate a
		// Sockaddr per connection.
		r, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
		if errno != 0 {
			if errno == unix.EAGAIN || errno == unix.EINTR || errno == unix.ECONNABORTED {
				continue
			}
			if !s.stop.Load() {
				s.failed.Add(1)
			}
			return
		}
		fd := int(r)
		s.accepted.Add(1)
		// The client closes right after connect(), so its FIN (or RST)
		// is usually queued already and this read returns at once.
		switch s.readEOF(fd, buf[:]) {
		case nil:
			s.closed.Add(1)
		case unix.ECONNRESET:
			s.reset.Add(1)
		default:
			s.failed.Add(1)
		}
		unix.Close(fd)
	}
}

// errStopped: the server stopped while waiting for the peer's FIN.
var errStopped = errors.New("server stopped")

// readEOF waits for the peer's FIN (nil) or RST (ECONNRESET), giving up
// once the server is stopping.
func (s *Server) readEOF(fd int, buf []byte) error {
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case err == nil && n == 0:
			return nil
		case err == nil:
			// The client sends nothing; data means someone else connected.
			continue
		case err == unix.EAGAIN || err == unix.EINTR:
			if s.stop.Load() {
				return errStopped
			}
		default:
			return err
		}
	}
}

// Stats are the server's counters.
type Stats struct {
	Accepted int64 // connections accepted
	Closed   int64 // connections closed after the client's FIN
	Reset    int64 // connections closed after the client's RST
	Failed   int64 // accept or read errors
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Closed: s.closed.Load(), Reset: s.reset.Load(), Failed: s.failed.Load()}
}

// Close stops the accept loops (within pollInterval) and closes the listeners.
func (s *Server) Close() error {
	s.stop.Store(true)
	s.wg.Wait()
	s.closeListeners()
	return nil
}

func (s *Server) closeListeners() {
	for _, fd := range s.fds {
		unix.Close(fd)
	}
	s.fds = nil
}
