package tracer

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ring reads the kernel's BPF ring buffer where it is mapped, and tells the
// kernel what it has read once per batch, not once per record.
//
// cilium/ebpf's reader copies each record out, loads the producer position
// and stores the consumer position for every record, each store a cache
// line the producing CPUs read. This one hands out records in
// place (valid until the next one), loads the producer position only when
// it has read up to the last one it saw, and stores its own when it has
// caught up or has read publishEvery bytes since. (The programs read the
// consumer position on every event too; whether fewer stores make them
// cheaper was too small to measure here.)
type ring struct {
	mu       sync.Mutex // held by the reader while it uses the mapping; Close takes it
	consumer *uint64    // the kernel's consumer position, which the reader writes
	producer *uint64    // the kernel's producer position
	data     []byte     // the data pages, mapped twice in a row: no record wraps
	mask     uint64
	pos      uint64 // the next record to read
	end      uint64 // the producer position when last loaded
	stored   uint64 // the consumer position last stored

	maps         [][]byte   // what to unmap
	fdMu         sync.Mutex // flush, from any goroutine, may race close for wakefd
	epfd, wakefd int        // wakeups: the ring's fd, and an eventfd for stop and close
	flushed      atomic.Bool
	closed       atomic.Bool
	epollEvents  [2]unix.EpollEvent
	publishEvery uint64
	busySpins    int
}

// errRingEmpty: nothing came before the timeout. errRingFlushed: flush
// was asked for and everything has been read. errRingClosed: close was.
var (
	errRingEmpty   = os.ErrDeadlineExceeded
	errRingFlushed = errors.New("ring buffer flushed")
	errRingClosed  = errors.New("ring buffer closed")
)

// Record header bits (include/uapi/linux/bpf.h).
const (
	ringBusyBit    = 1 << 31 // reserved, not committed yet
	ringDiscardBit = 1 << 30 // discarded by the program: skip
	ringHeaderSize = 8
)

func newRing(m *ebpf.Map) (*ring, error) {
	size := int(m.MaxEntries())
	page := os.Getpagesize()
	if size < page || size&(size-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d: want a power of two of at least a page", size)
	}
	r := &ring{epfd: -1, wakefd: -1, mask: uint64(size - 1), publishEvery: uint64(size / 32)}
	if err := r.open(m.FD(), size, page); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// open maps the ring: the consumer page read-write, then the producer page
// and the data pages (twice) read-only, as the kernel lays them out.
func (r *ring) open(fd, size, page int) error {
	cons, err := unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map ring buffer consumer page: %w", err)
	}
	r.maps = append(r.maps, cons)
	prod, err := unix.Mmap(fd, int64(page), page+2*size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map ring buffer data: %w", err)
	}
	r.maps = append(r.maps, prod)
	r.consumer = (*uint64)(unsafe.Pointer(&cons[0]))
	r.producer = (*uint64)(unsafe.Pointer(&prod[0]))
	r.data = prod[page:]
	r.pos = atomic.LoadUint64(r.consumer)
	r.end, r.stored = r.pos, r.pos

	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	if r.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	for _, f := range []int{fd, r.wakefd} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(f)}
		if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, f, &ev); err != nil {
			return fmt.Errorf("epoll add: %w", err)
		}
	}
	return nil
}

// next returns the next record's data, valid until the next call to next.
// When the ring is empty it waits up to timeout for a wakeup. The caller
// holds r.mu.
func (r *ring) next(timeout time.Duration) ([]byte, error) {
	for {
		if r.closed.Load() {
			return nil, errRingClosed
		}
		if r.pos == r.end {
			r.end = atomic.LoadUint64(r.producer)
		}
		if r.pos == r.end {
			r.store()
			if r.flushed.Load() {
				return nil, errRingFlushed
			}
			if err := r.wait(timeout); err != nil {
				return nil, err
			}
			continue
		}
		rec, ok, err := r.record()
		if err != nil {
			return nil, err
		}
		if ok && rec != nil {
			return rec, nil
		}
		if !ok {
			r.waitCommit()
		}
	}
}

// tryNext is next without waiting: ok is false when no committed record
// is there; a discarded record returns nil.
func (r *ring) tryNext() (rec []byte, ok bool, err error) {
	if r.pos == r.end {
		r.end = atomic.LoadUint64(r.producer)
	}
	if r.pos == r.end {
		return nil, false, nil
	}
	return r.record()
}

// record reads the record at pos. ok is false when it is not committed yet;
// a discarded record is skipped and returns nil.
func (r *ring) record() (rec []byte, ok bool, err error) {
	off := r.pos & r.mask
	// An atomic load of the header orders the reads of the record after
	// the kernel's commit (an xchg of the same word).
	hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[off])))
	if hdr&ringBusyBit != 0 {
		return nil, false, nil
	}
	n := uint64(hdr &^ (ringBusyBit | ringDiscardBit))
	if n > r.mask+1-ringHeaderSize || r.pos+ringHeaderSize+n > r.end {
		return nil, false, fmt.Errorf("ring buffer record of %d bytes at %d, producer at %d: corrupt", n, r.pos, r.end)
	}
	// Stored before moving past this record, never after: once the kernel
	// has the position, it may write over what it frees, and this record
	// is the caller's until the next call.
	if r.pos-r.stored >= r.publishEvery {
		r.store()
	}
	start := off + ringHeaderSize
	r.pos += (ringHeaderSize + n + 7) &^ 7
	if hdr&ringDiscardBit != 0 {
		return nil, true, nil
	}
	return r.data[start : start+n : start+n], true, nil
}

// store tells the kernel that everything before pos may be overwritten.
func (r *ring) store() {
	if r.stored != r.pos {
		atomic.StoreUint64(r.consumer, r.pos)
		r.stored = r.pos
	}
}

// waitCommit waits for a record a program has reserved and is still
// writing: a few hundred nanoseconds, unless the program was interrupted.
func (r *ring) waitCommit() {
	if r.busySpins++; r.busySpins%64 == 0 {
		time.Sleep(10 * time.Microsecond)
	}
}

// wait sleeps until the kernel wakes the ring, flush or close is asked for,
// or timeout passes (errRingEmpty).
func (r *ring) wait(timeout time.Duration) error {
	ms := int((timeout + time.Millisecond - 1) / time.Millisecond)
	n, err := unix.EpollWait(r.epfd, r.epollEvents[:], ms)
	if errors.Is(err, unix.EINTR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("wait for ring buffer: %w", err)
	}
	if n == 0 {
		return errRingEmpty
	}
	return nil
}

// pending reports whether records are queued that the reader has not
// stored as read. Safe from any goroutine, but not after close.
func (r *ring) pending() bool {
	return atomic.LoadUint64(r.producer) != atomic.LoadUint64(r.consumer)
}

// behind reports whether records were queued behind the last one read, as
// of the producer position last loaded. For the reader only.
func (r *ring) behind() bool { return r.pos != r.end }

// flush makes next return what is queued, then errRingFlushed.
func (r *ring) flush() {
	r.flushed.Store(true)
	r.wake()
}

func (r *ring) wake() {
	r.fdMu.Lock()
	defer r.fdMu.Unlock()
	if r.wakefd >= 0 {
		var one [8]byte
		one[0] = 1
		_, _ = unix.Write(r.wakefd, one[:])
	}
}

// close ends a wait in next, then frees the mapping once the reader has
// let go of it.
func (r *ring) close() {
	r.closed.Store(true)
	r.wake()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.maps {
		_ = unix.Munmap(m)
	}
	r.maps, r.data = nil, nil
	r.fdMu.Lock()
	defer r.fdMu.Unlock()
	for _, fd := range []*int{&r.epfd, &r.wakefd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}
