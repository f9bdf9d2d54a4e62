package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/nstest"
)

// forgerUID is the unprivileged user the forging peer runs as. No account
// has it: the test needs a uid, not a user.
const forgerUID = 47321

// forgedRow is the text of a /proc/net/unix row, to the byte: after a
// newline in a socket's name, /proc shows it as a LISTENING socket.
func forgedRow(inode int) string {
	return fmt.Sprintf("0000000000000000: 00000002 00000000 00010000 0001 01 %d /fake/forged", inode)
}

// unixForger drops to forgerUID, then listens on two unix sockets whose
// names hold a newline and a made-up row: an abstract one, and a file
// under the directory args[0]. It prints "ready", the two sockets' inodes,
// and its uid.
func unixForger(args []string) error {
	// Go applies these to every thread of the process.
	if err := syscall.Setgroups(nil); err != nil {
		return err
	}
	if err := syscall.Setresgid(forgerUID, forgerUID, forgerUID); err != nil {
		return err
	}
	if err := syscall.Setresuid(forgerUID, forgerUID, forgerUID); err != nil {
		return err
	}
	names := []string{"@forge\n" + forgedRow(31337), filepath.Join(args[0], "f\n"+forgedRow(31338))}
	// The made-up row's path has slashes: in a file name, directories.
	if err := os.MkdirAll(filepath.Dir(names[1]), 0o755); err != nil {
		return err
	}
	var inodes []string
	for _, name := range names {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
		if err != nil {
			return err
		}
		defer l.Close()
		raw, err := l.SyscallConn()
		if err != nil {
			return err
		}
		var st unix.Stat_t
		var serr error
		if err := raw.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		inodes = append(inodes, strconv.FormatUint(st.Ino, 10))
	}
	fmt.Println("ready", strings.Join(inodes, " "), os.Getuid())
	holdUntilStdinCloses()
	return nil
}

// An unprivileged user binds unix sockets whose names hold a newline and
// a whole /proc/net/unix row. -xap and its JSON list each socket once,
// with its name escaped (text) or exact (JSON), its owner (and uid in
// JSON), and never the made-up rows, which /proc/net/unix shows.
func TestNetstatUnixForgedName(t *testing.T) {
	ns := nstest.New(t)
	dir := openDir(t, "st-forge-", 0o777)
	p := ns.StartPeer(t, "unix-forger", dir)
	ready := strings.Fields(p.Expect("ready"))
	if len(ready) != 3 || ready[2] != strconv.Itoa(forgerUID) {
		t.Fatalf("peer said %q, want two inodes and uid %d", ready, forgerUID)
	}
	inodes := ready[:2]
	names := []string{"@forge\n" + forgedRow(31337), filepath.Join(dir, "f\n"+forgedRow(31338))}

	// The hole is real: /proc shows the made-up rows.
	procNet, err := ns.Command("cat", "/proc/net/unix").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, inode := range []int{31337, 31338} {
		if !strings.Contains(string(procNet), "\n"+forgedRow(inode)+"\n") {
			t.Fatalf("setup: /proc/net/unix has no made-up row %d:\n%s", inode, procNet)
		}
	}

	out, err := ns.Peer("socktrace-table", "-xap").Output()
	if err != nil {
		t.Fatalf("socktrace -xap: %v", err)
	}
	owner := fmt.Sprintf(" %d/", p.PID)
	var listed int
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, "forge") {
			continue
		}
		if !strings.Contains(line, `\x0a`) {
			t.Errorf("a made-up row is listed: %q", line)
			continue
		}
		i := slices.IndexFunc(names, func(n string) bool { return strings.HasSuffix(line, " "+strings.ReplaceAll(n, "\n", `\x0a`)) })
		if i < 0 || !slices.Contains(strings.Fields(line), inodes[i]) || !strings.Contains(line, owner) {
			t.Errorf("row %q: want one of the names escaped, inode %v, owner%s", line, inodes, owner)
			continue
		}
		listed++
	}
	if listed != 2 {
		t.Errorf("listed %d of the 2 sockets:\n%s", listed, out)
	}

	out, err = ns.Peer("socktrace-table", "-xap", "--json").Output()
	if err != nil {
		t.Fatalf("socktrace -xap --json: %v", err)
	}
	found := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var row struct {
			Inode uint64  `json:"inode"`
			UID   *uint32 `json:"uid"`
			PID   int     `json:"pid"`
			Path  string  `json:"path"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if row.Inode == 31337 || row.Inode == 31338 || strings.HasPrefix(row.Path, "/fake") {
			t.Errorf("a made-up row is listed: %s", line)
		}
		i := slices.Index(names, row.Path)
		if i < 0 {
			continue
		}
		found++
		if strconv.FormatUint(row.Inode, 10) != inodes[i] || row.PID != p.PID || row.UID == nil || *row.UID != forgerUID {
			t.Errorf("%s: want inode %s, pid %d, uid %d", line, inodes[i], p.PID, forgerUID)
		}
	}
	if found != 2 {
		t.Errorf("listed %d of the 2 sockets by their exact names:\n%s", found, out)
	}
}

// unixHolder holds unix sockets of every kind (nstest.UnixSockets) under
// the directory args[0], prints "ready", and keeps them until stdin
// closes.
func unixHolder(args []string) error {
	var h nstest.UnixSockets
	defer h.Close()
	if err := h.Hold(args[0]); err != nil {
		return err
	}
	fmt.Println("ready")
	holdUntilStdinCloses()
	return nil
}

// -x lists what netstat lists, column for column, also where sock_diag
// gives no column of its own: RefCnt (connected pairs, a datagram server
// with clients, peers gone) and the connections a listener has not
// accepted yet (no inode, CONNECTING).
func TestNetstatUnixDifferential(t *testing.T) {
	ns := nstest.New(t)
	startPeer(t, ns, "unix-holder", t.TempDir())
	for _, c := range []string{"-x", "-xa", "-xl", "-xap", "-xlp", "-xanp"} {
		want, err := ns.Command("netstat", c).Output()
		if err != nil {
			t.Fatalf("netstat %s: %v", c, err)
		}
		if c == "-xa" && !strings.Contains(string(want), "CONNECTING") {
			t.Fatalf("setup: netstat -xa shows no pending connection:\n%s", want)
		}
		got, err := ns.Peer("socktrace-table", c).Output()
		if err != nil {
			t.Fatalf("socktrace %s: %v", c, err)
		}
		if w, g := normalize(string(want)), normalize(string(got)); !slices.Equal(w, g) {
			t.Errorf("socktrace %s differs from netstat:\n--- netstat\n%s\n--- socktrace\n%s",
				c, strings.Join(w, "\n"), strings.Join(g, "\n"))
		}
	}
}
