// Package netns finds network namespaces by the forms people name them
// in: an inode number, a namespace file, or a name from "ip netns".
package netns

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is where "ip netns" keeps the files of the namespaces it names.
const Dir = "/run/netns"

// Parse returns the inode number of a network namespace given as its
// inode number, a path to its file, or a name from "ip netns". A name
// that only a file in the working directory has is that file.
func Parse(s string) (uint32, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	if IsInode(s) {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("an inode number is at most %d", uint32(math.MaxUint32))
		}
		if n == 0 {
			// A filter's 0 means any namespace.
			return 0, errors.New("no namespace has inode 0")
		}
		return uint32(n), nil
	}
	path, where := s, ""
	if !strings.Contains(s, "/") {
		if _, err := os.Stat(filepath.Join(Dir, s)); err == nil || !exists(s) {
			path = filepath.Join(Dir, s)
			where = path + ": "
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("%s%w", where, err)
	}
	// Any other file has an inode number too, which as a filter would
	// match nothing, without a word.
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		return 0, fmt.Errorf("%snot a namespace file", where)
	}
	return uint32(st.Ino), nil
}

// IsInode says s is given as an inode number.
func IsInode(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// Exists looks for a network namespace with inode ino: one kept by "ip
// netns", or one a process or thread is in. A namespace held only by an
// open file or a bind mount elsewhere is not found. Threads are read only
// when no process matched: a thread may have entered a namespace (setns)
// its process is not in.
func Exists(procRoot string, ino uint64) bool {
	paths, _ := filepath.Glob(filepath.Join(Dir, "*"))
	for _, p := range paths {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Ino == ino {
			return true
		}
	}
	return ino <= math.MaxUint32 && len(Find(procRoot, map[uint32]bool{uint32(ino): true})) > 0
}

// Named returns the file "ip netns" keeps for each namespace of want that
// it names: a namespace no process is in may still hold sockets, of a
// process that made them there and left.
func Named(want map[uint32]bool) map[uint32]string {
	found := map[uint32]string{}
	paths, _ := filepath.Glob(filepath.Join(Dir, "*"))
	for _, p := range paths {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Ino <= math.MaxUint32 && want[uint32(st.Ino)] {
			found[uint32(st.Ino)] = p
		}
	}
	return found
}

// Own returns the inode number of the network namespace this process is
// in, as the proc file system at procRoot shows it.
func Own(procRoot string) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(procRoot, "self", "ns", "net"), &st); err != nil {
		return 0, fmt.Errorf("find this network namespace: %w", err)
	}
	return uint32(st.Ino), nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
