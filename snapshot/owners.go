package snapshot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Owner is a process that holds a socket: its pid and its task name. It
// holds no pointers, so kernel events, the live table's rows and its
// TIME_WAIT pile carry it by value and the garbage collector never scans
// it; netstat's program name, which the kernel does not know, is looked up
// by Owner (Owners.Programs).
type Owner struct {
	PID uint32
	// Comm is the kernel's task name (/proc/<pid>/comm, at most 15
	// bytes), the name eBPF programs see. Chosen by the process: escape
	// before printing.
	Comm Comm
}

// Comm is a kernel task name: up to 16 bytes, NUL-padded. Kept as an array
// so that events and owners carry no pointers.
type Comm [16]byte

func (c Comm) String() string {
	n := 0
	for n < len(c) && c[n] != 0 {
		n++
	}
	return string(c[:n])
}

// CommOf is s as the kernel keeps a task name: at most 15 bytes and a NUL.
func CommOf(s string) Comm {
	var c Comm
	copy(c[:len(c)-1], s)
	return c
}

// Owners is what one pass over /proc/*/fd found.
type Owners struct {
	// ByInode is the process holding each socket, by the socket's inode.
	ByInode map[uint64]Owner
	// Programs is netstat's "Program name" of each of those processes:
	// argv[0] from /proc/<pid>/cmdline, reduced to its base name when it
	// is an absolute path. Empty for kernel threads. Chosen by the
	// process: escape before printing.
	Programs map[Owner]string
}

// ErrNotAllOwners is returned by ReadOwners, together with the owners it
// could read, when some processes' fd tables were not readable (not root).
var ErrNotAllOwners = errors.New("not all processes could be identified; run as root to see them all")

// ReadOwners maps socket inodes to the process holding them, and those
// processes to their program names, from one pass over procRoot/<pid>/fd
// (procRoot is "/proc" except in tests). When several processes share a
// socket (fork, SCM_RIGHTS) the lowest pid wins, as in netstat, which
// walks /proc in pid order and keeps the first.
//
// Processes are scanned in parallel; each fd costs one readlinkat and no
// allocation, which is what keeps this fast with 100k sockets.
func ReadOwners(procRoot string) (Owners, error) {
	pids, err := listPIDs(procRoot)
	if err != nil {
		return Owners{}, err
	}
	workers := min(runtime.GOMAXPROCS(0)*2, len(pids))
	results := make([]ownerScan, workers)
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			sc := &results[w]
			sc.buf = make([]byte, 64<<10)
			for {
				next.Lock()
				if i >= len(pids) {
					next.Unlock()
					return
				}
				pid := pids[i]
				i++
				next.Unlock()
				sc.scan(procRoot, pid)
			}
		})
	}
	wg.Wait()

	n := 0
	for _, r := range results {
		n += len(r.links)
	}
	owners := Owners{ByInode: make(map[uint64]Owner, n), Programs: make(map[Owner]string)}
	denied := false
	for _, r := range results {
		denied = denied || r.denied
		for _, p := range r.procs {
			owners.Programs[p.owner] = p.program
		}
		for _, l := range r.links {
			p := r.procs[l.proc].owner
			if o, ok := owners.ByInode[l.inode]; ok && o.PID < p.PID {
				continue
			}
			owners.ByInode[l.inode] = p
		}
	}
	if denied {
		return owners, ErrNotAllOwners
	}
	return owners, nil
}

type link struct {
	inode uint64
	proc  int // index into ownerScan.procs
}

// ownerScan is one worker's state and results.
type ownerScan struct {
	buf    []byte // getdents and readlink buffer
	links  []link
	procs  []process
	denied bool
}

// process is a socket holder and its program name.
type process struct {
	owner   Owner
	program string
}

func (sc *ownerScan) scan(procRoot string, pid int) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			sc.denied = true
		}
		return // the process may have exited: not an error
	}
	defer unix.Close(fd)
	proc := -1
	dents := sc.buf[:32<<10]
	var name [32]byte
	var target [64]byte
	for {
		n, err := unix.Getdents(fd, dents)
		if err != nil || n <= 0 {
			return
		}
		for off := 0; off < n; {
			// struct linux_dirent64: ino u64, off u64, reclen u16, type u8, name.
			reclen := int(*(*uint16)(unsafe.Pointer(&dents[off+16])))
			if reclen == 0 || off+reclen > n {
				return
			}
			nm := dents[off+19 : off+reclen]
			off += reclen
			if i := bytes.IndexByte(nm, 0); i >= 0 {
				nm = nm[:i]
			}
			if len(nm) == 0 || nm[0] < '0' || nm[0] > '9' || len(nm) >= len(name) {
				continue
			}
			copy(name[:], nm)
			name[len(nm)] = 0
			tn := readlinkat(fd, &name[0], target[:])
			inode, ok := socketInode(target[:max(tn, 0)])
			if !ok {
				continue
			}
			if proc < 0 {
				proc = len(sc.procs)
				sc.procs = append(sc.procs, sc.readProcess(procRoot, pid))
			}
			sc.links = append(sc.links, link{inode: inode, proc: proc})
		}
	}
}

// readlinkat is unix.Readlinkat without the string conversion, so the fd
// loop allocates nothing. name must be NUL-terminated.
func readlinkat(dirfd int, name *byte, buf []byte) int {
	n, _, errno := syscall.Syscall6(unix.SYS_READLINKAT, uintptr(dirfd),
		uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if errno != 0 {
		return -1
	}
	return int(n)
}

// socketInode parses a /proc/<pid>/fd link target "socket:[12345]".
func socketInode(target []byte) (uint64, bool) {
	const prefix = "socket:["
	if len(target) < len(prefix)+2 || string(target[:len(prefix)]) != prefix || target[len(target)-1] != ']' {
		return 0, false
	}
	v, err := parseDec(target[len(prefix):len(target)-1], 64)
	return v, err == nil
}

func (sc *ownerScan) readProcess(procRoot string, pid int) process {
	base := filepath.Join(procRoot, strconv.Itoa(pid))
	p := process{owner: Owner{PID: uint32(pid)}}
	if b := sc.readSmall(filepath.Join(base, "comm")); b != nil {
		copy(p.owner.Comm[:len(p.owner.Comm)-1], bytes.TrimSuffix(b, []byte("\n")))
	}
	// netstat reads at most 511 bytes of the command line.
	if b := sc.readSmall(filepath.Join(base, "cmdline")); b != nil {
		p.program = ProgramName(b[:min(len(b), 511)])
	}
	return p
}

// ProgramName derives netstat's program name from a raw command line:
// argv[0], and only its last path element when it starts with '/'.
func ProgramName(cmdline []byte) string {
	if i := bytes.IndexByte(cmdline, 0); i >= 0 {
		cmdline = cmdline[:i]
	}
	if len(cmdline) > 0 && cmdline[0] == '/' {
		cmdline = cmdline[bytes.LastIndexByte(cmdline, '/')+1:]
	}
	return string(cmdline)
}

func (sc *ownerScan) readSmall(path string) []byte {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	buf := sc.buf[32<<10 : 32<<10+4096]
	n, err := unix.Read(fd, buf)
	if err != nil || n < 0 {
		return nil
	}
	return buf[:n]
}

// listPIDs returns the numeric entries of procRoot, sorted.
func listPIDs(procRoot string) ([]int, error) {
	f, err := os.Open(procRoot)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids, nil
}
