package snapshot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// IoctlLinks reads links with the SIOCGIF* ioctls on an AF_INET socket, as
// netstat does. The socket belongs to the network namespace of the thread
// that opened it, so a caller that wants another namespace opens it on a
// thread that has joined that namespace.
type IoctlLinks struct {
	fd int
}

// OpenIoctlLinks opens the socket the ioctls go through.
func OpenIoctlLinks() (*IoctlLinks, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open inet socket for interface ioctls: %w", err)
	}
	return &IoctlLinks{fd: fd}, nil
}

// Close closes the socket.
func (l *IoctlLinks) Close() error { return unix.Close(l.fd) }

// ifreq is struct ifreq: a 16-byte name, then a 24-byte union.
type ifreq [unix.IFNAMSIZ + 24]byte

func (l *IoctlLinks) ioctl(req uint, name string, r *ifreq) error {
	*r = ifreq{}
	copy(r[:unix.IFNAMSIZ-1], name)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(l.fd), uintptr(req), uintptr(unsafe.Pointer(r)))
	if errno != 0 {
		return errno
	}
	return nil
}

// Link implements LinkReader. Only SIOCGIFFLAGS must succeed; the other
// values fall back to netstat's defaults when the kernel refuses them.
func (l *IoctlLinks) Link(name string) (Link, error) {
	var r ifreq
	var k Link
	u := r[unix.IFNAMSIZ:]
	if err := l.ioctl(unix.SIOCGIFFLAGS, name, &r); err != nil {
		return k, fmt.Errorf("read interface flags: %w", err)
	}
	k.Flags = binary.NativeEndian.Uint16(u)
	k.HWType = -1
	if l.ioctl(unix.SIOCGIFHWADDR, name, &r) == nil {
		k.HWType = int(binary.NativeEndian.Uint16(u))
		copy(k.HWAddr[:], u[2:])
	}
	if l.ioctl(unix.SIOCGIFMTU, name, &r) == nil {
		k.MTU = int(int32(binary.NativeEndian.Uint32(u)))
	}
	if l.ioctl(unix.SIOCGIFMAP, name, &r) == nil {
		// struct ifmap: mem_start, mem_end (unsigned long), base_addr
		// (unsigned short), irq, dma, port (unsigned char).
		k.MemStart = binary.NativeEndian.Uint64(u[0:])
		k.MemEnd = binary.NativeEndian.Uint64(u[8:])
		k.BaseAddr = binary.NativeEndian.Uint16(u[16:])
		k.IRQ, k.DMA = u[18], u[19]
	}
	k.TxQueueLen = -1
	if l.ioctl(unix.SIOCGIFTXQLEN, name, &r) == nil {
		k.TxQueueLen = int(int32(binary.NativeEndian.Uint32(u)))
	}
	if l.ioctl(unix.SIOCGIFADDR, name, &r) == nil {
		k.HasIPv4 = true
		k.Addr = sockaddrIn4(u)
		k.PtPDst, k.Broadcast, k.Netmask = netip.IPv4Unspecified(), netip.IPv4Unspecified(), netip.IPv4Unspecified()
		if l.ioctl(unix.SIOCGIFDSTADDR, name, &r) == nil {
			k.PtPDst = sockaddrIn4(u)
		}
		if l.ioctl(unix.SIOCGIFBRDADDR, name, &r) == nil {
			k.Broadcast = sockaddrIn4(u)
		}
		if l.ioctl(unix.SIOCGIFNETMASK, name, &r) == nil {
			k.Netmask = sockaddrIn4(u)
		}
	}
	return k, nil
}

// sockaddrIn4 reads the address of a struct sockaddr_in: family, port,
// then the address in network order.
func sockaddrIn4(b []byte) netip.Addr {
	return netip.AddrFrom4([4]byte(b[4:8]))
}

// Labels implements LinkReader with SIOCGIFCONF, which lists one entry per
// IPv4 address label (so "eth0" and "eth0:1", but no interface without an
// IPv4 address).
func (l *IoctlLinks) Labels() ([]string, error) {
	const size = unix.IFNAMSIZ + 24
	for n := 32; ; n *= 2 {
		buf := make([]byte, n*size)
		// struct ifconf: int ifc_len, then (after padding) the buffer pointer.
		var conf struct {
			len int32
			_   int32
			buf unsafe.Pointer
		}
		conf.len = int32(len(buf))
		conf.buf = unsafe.Pointer(&buf[0])
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(l.fd), unix.SIOCGIFCONF, uintptr(unsafe.Pointer(&conf)))
		if errno != 0 {
			return nil, fmt.Errorf("list interface addresses: %w", errno)
		}
		if int(conf.len) == len(buf) {
			continue // maybe truncated: ask again with more room
		}
		var names []string
		for off := 0; off+size <= int(conf.len); off += size {
			name := buf[off : off+unix.IFNAMSIZ]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			names = append(names, string(name))
		}
		return names, nil
	}
}
