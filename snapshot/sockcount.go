package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CountInet estimates how many rows ReadInet or Diag.ReadInet will return
// for p and fam, from the namespace's socket counters in netDir/sockstat and
// netDir/sockstat6; timeWait counts TCP's sockets in TIME_WAIT too, for a
// read that lists them among the rows. With 100k sockets, sizing the row
// slice once instead of letting append grow it saves allocating and
// copying the rows about five times over. It returns 0 when the counters
// cannot be read.
func CountInet(netDir string, p Proto, fam Family, timeWait bool) int {
	label := strings.ToUpper(p.String())
	n := 0
	if fam&IPv4 != 0 {
		// "TCP: inuse 3 orphan 0 tw 2 alloc 5 mem 1": tw counts TIME_WAIT
		// sockets of both families, which inuse leaves out.
		keys := []string{"inuse"}
		if p == TCP && timeWait {
			keys = append(keys, "tw")
		}
		n += sockstatCount(filepath.Join(netDir, "sockstat"), label, keys...)
	}
	if fam&IPv6 != 0 {
		n += sockstatCount(filepath.Join(netDir, "sockstat6"), label+"6", "inuse")
	}
	return n
}

// CountTimeWait is about how many TCP sockets of the namespace are in
// TIME_WAIT, of both families, from netDir/sockstat: what a dump with
// Diag.TimeWaits set puts apart, and the few in its FIN_WAIT2 substate
// (see ReadTimewaitSocks). It returns 0 when it cannot be read.
func CountTimeWait(netDir string) int {
	n, _ := ReadTimewaitSocks(netDir)
	return n
}

// ReadTimewaitSocks reads how many timewait sockets the namespace holds,
// of both families, from netDir/sockstat's "tw". That counts every
// timewait socket, whatever its substate: those a dump shows in TIME_WAIT,
// and those it shows in FIN_WAIT2 (Socket.TimewaitSock). The kernel keeps
// the count per network namespace; /proc/net/sockstat is the reading
// process's, /proc/thread-self/net/sockstat the reading thread's.
func ReadTimewaitSocks(netDir string) (int, error) {
	return readSockstat(filepath.Join(netDir, "sockstat"), "TCP", "tw")
}

// sockstatCount returns the sum of the counters named keys on the line
// that starts with label, of those it can read.
func sockstatCount(path, label string, keys ...string) int {
	n, _ := readSockstat(path, label, keys...)
	return n
}

// readSockstat is sockstatCount, with an error when the file or one of
// the counters cannot be read.
func readSockstat(path, label string, keys ...string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, found := 0, 0
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		f := fields{b: line}
		if name := f.next(); len(name) != len(label)+1 || string(name[:len(label)]) != label {
			continue
		}
		for key := f.next(); len(key) > 0; key = f.next() {
			v, err := parseDec(f.next(), 32)
			if err == nil && slices.Contains(keys, string(key)) {
				n += int(v)
				found++
			}
		}
	}
	if found != len(keys) {
		return n, fmt.Errorf("%s: no %s line with %s", path, label, strings.Join(keys, ", "))
	}
	return n, nil
}
