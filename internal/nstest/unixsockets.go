package nstest

import (
	"fmt"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// UnixSockets opens and keeps unix sockets by raw system calls, to make
// states the net package does not leave: pending connections.
type UnixSockets struct{ fds []int }

// Close closes every socket held.
func (h *UnixSockets) Close() {
	for _, fd := range h.fds {
		unix.Close(fd)
	}
}

func (h *UnixSockets) socket(typ int) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		h.fds = append(h.fds, fd)
	}
	return fd, err
}

func (h *UnixSockets) listen(typ int, name string) (int, error) {
	fd, err := h.socket(typ)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: name}); err != nil {
		return -1, fmt.Errorf("bind %q: %w", name, err)
	}
	if typ == unix.SOCK_DGRAM {
		return fd, nil
	}
	return fd, unix.Listen(fd, 8)
}

func (h *UnixSockets) connect(typ int, name string) (int, error) {
	fd, err := h.socket(typ)
	if err != nil {
		return -1, err
	}
	return fd, unix.Connect(fd, &unix.SockaddrUnix{Name: name})
}

// Hold opens, in the calling thread's network namespace: a stream listener on a file with two accepted connections
// (one whose client closed) and three pending (one whose client closed);
// a seqpacket listener with one pending; a datagram server whose abstract
// name holds NULs, with three clients; a client whose server closed;
// stream and datagram pairs; an autobound and an unbound socket.
func (h *UnixSockets) Hold(dir string) error {
	path := filepath.Join(dir, "l.sock")
	l, err := h.listen(unix.SOCK_STREAM, path)
	if err != nil {
		return err
	}
	for i := range 5 {
		c, err := h.connect(unix.SOCK_STREAM, path)
		if err != nil {
			return err
		}
		if i < 2 {
			if _, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC); err != nil {
				return err
			}
		}
		if i == 1 || i == 3 {
			unix.Close(c)
			h.fds = slices.DeleteFunc(h.fds, func(fd int) bool { return fd == c })
		}
	}
	if _, err := h.listen(unix.SOCK_SEQPACKET, "@seq"); err != nil {
		return err
	}
	if _, err := h.connect(unix.SOCK_SEQPACKET, "@seq"); err != nil {
		return err
	}
	const dgram = "@dg\x00ram\x00\x00"
	if _, err := h.listen(unix.SOCK_DGRAM, dgram); err != nil {
		return err
	}
	for range 3 {
		if _, err := h.connect(unix.SOCK_DGRAM, dgram); err != nil {
			return err
		}
	}
	gone, err := h.listen(unix.SOCK_DGRAM, "@gone")
	if err != nil {
		return err
	}
	if _, err := h.connect(unix.SOCK_DGRAM, "@gone"); err != nil {
		return err
	}
	unix.Close(gone)
	h.fds = slices.DeleteFunc(h.fds, func(fd int) bool { return fd == gone })
	for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_DGRAM} {
		fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		h.fds = append(h.fds, fds[:]...)
	}
	auto, err := h.socket(unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	if err := unix.Bind(auto, &unix.SockaddrUnix{}); err != nil {
		return fmt.Errorf("autobind: %w", err)
	}
	_, err = h.socket(unix.SOCK_STREAM)
	return err
}
