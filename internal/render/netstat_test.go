package render

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

type fakeNames struct{}

func (fakeNames) Host(a netip.Addr) string {
	if a == netip.MustParseAddr("127.0.0.1") {
		return "localhost"
	}
	if a == netip.MustParseAddr("10.1.1.1") {
		return "a-very-long-host-name.example.org"
	}
	return ""
}

func (fakeNames) Service(p snapshot.Proto, port uint16) string {
	if port == 22 {
		return "ssh"
	}
	return ""
}

func (fakeNames) User(uid uint32) string {
	if uid == 0 {
		return "root"
	}
	return ""
}

func TestNetstatRows(t *testing.T) {
	ap := netip.MustParseAddrPort
	est := snapshot.Socket{Proto: snapshot.TCP, Local: ap("127.0.0.1:22"), Remote: ap("10.1.1.1:40000"),
		State: tcpstate.Established, RecvQ: 100, UID: 0, Inode: 7, Timer: 2, TimerTicks: 712}
	cases := []struct {
		name string
		n    Netstat
		s    snapshot.Socket
		want string
	}{
		{"cut", Netstat{}, est,
			"tcp      100      0 localhost:ssh           a-very-long-host-:40000 ESTABLISHED\n"},
		{"wide", Netstat{Wide: true}, est,
			"tcp      100      0 localhost:ssh           a-very-long-host-name.example.org:40000 ESTABLISHED\n"},
		{"extend programs timers", Netstat{Extend: true, Programs: true, Timers: true,
			Owners: ownersOf(7, 4242, "a-long-program\x1bname")}, est,
			"tcp      100      0 localhost:ssh           a-very-long-host-:40000 ESTABLISHED root       7          " +
				"4242/a-long-program  keepalive (7.12/0/0)\n"},
		{"udp6 unknown owner", Netstat{Programs: true},
			snapshot.Socket{Proto: snapshot.UDP, V6: true, Local: ap("[::]:5353"), Remote: ap("[::]:0"), State: tcpstate.Close, Inode: 9},
			"udp6       0      0 :::5353                 :::*                                -                   \n"},
		{"raw state number", Netstat{},
			snapshot.Socket{Proto: snapshot.Raw, Local: ap("0.0.0.0:1"), Remote: ap("0.0.0.0:0"), State: 7},
			"raw        0      0 0.0.0.0:1               0.0.0.0:*               7          \n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.n.Names = fakeNames{}
			var b bytes.Buffer
			if err := c.n.InetRow(&b, &c.s); err != nil {
				t.Fatal(err)
			}
			if b.String() != c.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), c.want)
			}
		})
	}
}

// ownersOf is an owner scan that found one socket, held by a process
// running program.
func ownersOf(inode uint64, pid uint32, program string) snapshot.Owners {
	o := snapshot.Owner{PID: pid, Comm: snapshot.CommOf("comm")}
	return snapshot.Owners{ByInode: map[uint64]snapshot.Owner{inode: o}, Programs: map[snapshot.Owner]string{o: program}}
}

func TestNetstatProgramEscaped(t *testing.T) {
	n := Netstat{Names: fakeNames{}, Programs: true,
		Owners: ownersOf(1, 1, "evil\x1b[2J")}
	var b bytes.Buffer
	s := snapshot.UnixSocket{RefCount: 2, Type: 1, State: snapshot.UnixUnconnected, Flags: snapshot.UnixAcceptCon, Inode: 1, Path: "/run/\x07bell"}
	if err := n.UnixRow(&b, &s); err != nil {
		t.Fatal(err)
	}
	want := `unix  2      [ ACC ]     STREAM     LISTENING     1        1/evil\x1b[2J        /run/\x07bell` + "\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Error("control characters reached the output")
	}
}

// A name that needs escaping is escaped, then fitted to netstat's 19
// columns at a whole escape, "+" marking the cut, so the columns after it
// stay where a clean name leaves them.
func TestNetstatProgramEscapedFits(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		program string
		field   string // the PID/Program name column, padded to 20
	}{
		{"p\u202eQ\u009bR", `27071/p\xe2\x80+    `},
		{"plain", "27071/plain         "},
		{"abcdefghijklmnopqrstuvwxyz0123", "27071/abcdefghijklm "},
		{"ab\x1b", `27071/ab\x1b        `},
		{"abcdefghijklm\x1b", "27071/abcdefghijklm "}, // netstat's cut drops the ESC
		{"abcdefghijkl\x1b", `27071/abcdefghijkl+ `},
	} {
		n := Netstat{Names: fakeNames{}, Programs: true, Owners: ownersOf(1, 27071, tc.program)}
		var b bytes.Buffer
		u := snapshot.UnixSocket{RefCount: 2, Type: 1, State: snapshot.UnixUnconnected, Flags: snapshot.UnixAcceptCon, Inode: 1, Path: "@evilsock"}
		if err := n.UnixRow(&b, &u); err != nil {
			t.Fatal(err)
		}
		want := "unix  2      [ ACC ]     STREAM     LISTENING     1        " + tc.field + " @evilsock\n"
		if b.String() != want {
			t.Errorf("%q: unix row\n%q\nwant\n%q", tc.program, b.String(), want)
		}
		b.Reset()
		s := snapshot.Socket{Proto: snapshot.TCP, Local: ap("0.0.0.0:80"), Remote: ap("0.0.0.0:0"), State: tcpstate.Listen, Inode: 1}
		if err := n.InetRow(&b, &s); err != nil {
			t.Fatal(err)
		}
		want = "tcp        0      0 0.0.0.0:80              0.0.0.0:*               LISTEN      " + tc.field + "\n"
		if b.String() != want {
			t.Errorf("%q: tcp row\n%q\nwant\n%q", tc.program, b.String(), want)
		}
	}
}
