package snapshot

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ReadMounts reads a mountinfo file, such as /proc/self/mountinfo.
func ReadMounts(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mounts, err := ParseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return mounts, nil
}

// Mount is what socktrace needs of one line of /proc/PID/mountinfo.
type Mount struct {
	Root   string // the directory of the filesystem that is mounted
	Point  string // where it is mounted
	FSType string
}

// ParseMountinfo reads the format proc(5) gives for /proc/PID/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
//
// The root and the mount point are the 4th and 5th fields; a variable
// number of optional fields (master:1) ends at "-", and the filesystem
// type follows it.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) {
			return nil, fmt.Errorf("line %d: not a mountinfo line: %q", n, sc.Text())
		}
		mounts = append(mounts, Mount{Root: unescapeMount(f[3]), Point: unescapeMount(f[4]), FSType: f[sep+1]})
	}
	return mounts, sc.Err()
}

// unescapeMount undoes the kernel's escaping of a path in mountinfo:
// space, tab, newline and backslash are written as \ and three octal
// digits.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
