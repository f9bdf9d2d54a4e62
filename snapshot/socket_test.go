package snapshot

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/tcpstate"
)

const fixtureNet = "testdata/proc/net"

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestReadTCP(t *testing.T) {
	got, err := ReadTCP(fixtureNet)
	var perr *ParseError
	if !errors.As(err, &perr) {
		t.Fatalf("ReadTCP error = %v, want a *ParseError for the bad line", err)
	}
	if perr.File != "testdata/proc/net/tcp" || perr.Line != 5 {
		t.Errorf("parse error at %s line %d, want testdata/proc/net/tcp line 5", perr.File, perr.Line)
	}
	if !strings.Contains(err.Error(), "read testdata/proc/net/tcp line 5: ") {
		t.Errorf("error text %q does not name file and line", err)
	}
	want := []Socket{
		{Proto: TCP, Local: ap("0.0.0.0:80"), Remote: ap("0.0.0.0:0"), State: tcpstate.Listen, Inode: 9974},
		{Proto: TCP, Local: ap("127.0.0.1:22"), Remote: ap("127.0.0.1:47456"), State: tcpstate.Established,
			RecvQ: 100, Timer: 2, TimerTicks: 0xa3c, UID: 1000, Inode: 9975},
		{Proto: TCP, Local: ap("127.0.0.1:47456"), Remote: ap("127.0.0.1:22"), State: tcpstate.TimeWait,
			Timer: 3, TimerTicks: 6000},
		{Proto: TCP, Local: ap("10.0.2.15:41154"), Remote: ap("34.216.184.93:443"), State: tcpstate.Established,
			SendQ: 16, Timer: 1, TimerTicks: 30, Retransmits: 2, UID: 101, Inode: 9990},
		{Proto: TCP, V6: true, Local: ap("[::]:22"), Remote: ap("[::]:0"), State: tcpstate.Listen, Inode: 9973},
		{Proto: TCP, V6: true, Local: ap("[::1]:47458"), Remote: ap("[::1]:22"), State: tcpstate.Established, Inode: 9977},
		{Proto: TCP, V6: true, Local: ap("[::ffff:127.0.0.1]:22"), Remote: ap("[::ffff:127.0.0.1]:54321"),
			State: tcpstate.Established, Inode: 9978},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadTCP:\n got %+v\nwant %+v", got, want)
	}
}

func TestReadInetOtherTables(t *testing.T) {
	cases := []struct {
		proto Proto
		want  []Socket
	}{
		{UDP, []Socket{
			{Proto: UDP, Local: ap("127.0.0.1:53"), Remote: ap("127.0.0.1:9"), State: tcpstate.Established, Inode: 9980},
			{Proto: UDP, Local: ap("0.0.0.0:68"), Remote: ap("0.0.0.0:0"), State: tcpstate.Close, RecvQ: 512, UID: 100, Inode: 9981},
			{Proto: UDP, V6: true, Local: ap("[::]:5353"), Remote: ap("[::]:0"), State: tcpstate.Close, Inode: 9982},
		}},
		{UDPLite, nil}, // header only, and no udplite6 file
		{Raw, []Socket{
			{Proto: Raw, Local: ap("0.0.0.0:1"), Remote: ap("0.0.0.0:0"), State: tcpstate.Close, Inode: 9979},
			{Proto: Raw, V6: true, Local: ap("[::]:58"), Remote: ap("[::]:0"), State: tcpstate.Close, Inode: 9983},
		}},
	}
	for _, c := range cases {
		t.Run(c.proto.String(), func(t *testing.T) {
			got, err := ReadInet(fixtureNet, c.proto, IPv4|IPv6, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParseInetErrors(t *testing.T) {
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	good := "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
	cases := []struct{ name, line, want string }{
		{"no slot", "0100007F:0016 00000000:0000 0A", "missing slot number"},
		{"short addr", "0: 0100:0016 00000000:0000 0A", "local address"},
		{"bad port", "0: 0100007F:00G6 00000000:0000 0A", "local address: port"},
		{"v6 addr in v4 file", "0: 00000000000000000000000000000000:0016 00000000:0000 0A", "local address"},
		{"no queues", "0: 0100007F:0016 00000000:0000 0A 00000000", "queues"},
		{"truncated", "0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0", "timeout"},
		{"uid overflow", "0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 4294967296 0 1", "uid"},
		{"big hex", "0: 0100007F:10000 00000000:0000 0A", "local address: port: number out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := header + good + c.line + "\n" + good
			got, err := ParseInet([]byte(data), "tcp", TCP, false, nil)
			if len(got) != 2 {
				t.Errorf("kept %d rows, want the 2 good ones", len(got))
			}
			if err == nil || !strings.Contains(err.Error(), "read tcp line 3: "+c.want) {
				t.Errorf("error = %v, want line 3 and %q", err, c.want)
			}
		})
	}
}

// The fixture's line 6 is a socket bound to "@x\n0: 2 0 10000 1 1 31337
// /fake/forged.sock": the kernel prints the name raw, and line 7 is its
// rest, which must not become a row.
func TestReadUnix(t *testing.T) {
	got, err := ReadUnix(fixtureNet)
	for _, line := range []string{"unix line 5: ", "unix line 7: "} {
		if err == nil || !strings.Contains(err.Error(), line) {
			t.Errorf("error = %v, want one for %q", err, line)
		}
	}
	want := []UnixSocket{
		{RefCount: 2, Flags: UnixAcceptCon, Type: 1, State: UnixUnconnected, Inode: 9984, Path: "/run/probe.sock"},
		{RefCount: 3, Type: 1, State: UnixConnected, Inode: 9985},
		{RefCount: 2, Type: 2, State: UnixUnconnected, Inode: 9986, Path: "@abstract name"},
		{RefCount: 2, Flags: UnixAcceptCon, Type: 1, State: UnixUnconnected, Inode: 9987, Path: "@x"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if !got[0].Listening() || got[1].Listening() || got[2].Listening() {
		t.Errorf("Listening() wrong: %v %v %v", got[0].Listening(), got[1].Listening(), got[2].Listening())
	}
}

// A /proc/net/unix line is a row only if it is one to the byte, as
// unix_seq_show prints it: "%pK: %08X %08X %08X %04X %02X %5lu", then a
// space and the name if the socket has one.
func TestParseUnixLine(t *testing.T) {
	const row = "0000000000000000: 00000003 00000000 00000000 0001 03 12345"
	for _, c := range []struct {
		line string
		want UnixSocket // zero: refused
	}{
		{row, UnixSocket{RefCount: 3, Type: 1, State: UnixConnected, Inode: 12345}},
		{row + " /run/a b ", UnixSocket{RefCount: 3, Type: 1, State: UnixConnected, Inode: 12345, Path: "/run/a b "}},
		{"ffff88810a2b3c00: 00000002 00000000 00010000 0005 01 123456789 @", // hashed %pK, a long inode
			UnixSocket{RefCount: 2, Flags: UnixAcceptCon, Type: 5, State: UnixUnconnected, Inode: 123456789, Path: "@"}},
		{"0a2b3c00: 00000002 00000000 00000000 0002 01   123", // 32-bit pointer, padded inode
			UnixSocket{RefCount: 2, Type: 2, State: UnixUnconnected, Inode: 123}},
		{"0: 2 0 10000 1 1 31337 /fake", UnixSocket{}},                                              // widths
		{"0000: 00000002 00000000 00010000 0001 01 31337", UnixSocket{}},                            // pointer width
		{"000000000000000g: 00000002 00000000 00010000 0001 01 31337", UnixSocket{}},                // pointer digit
		{"0000000000000000:  00000002 00000000 00010000 0001 01 31337", UnixSocket{}},               // two spaces
		{"0000000000000000: 0000000a 00000000 00010000 0001 01 31337", UnixSocket{}},                // %X is upper case
		{"0000000000000000:\t00000002 00000000 00010000 0001 01 31337", UnixSocket{}},               // tab
		{"0000000000000000: 00000002 00000000 00010000 0001 01  31337", UnixSocket{}},               // inode padded past 5
		{"0000000000000000: 00000002 00000000 00010000 0001 01 123", UnixSocket{}},                  // inode not padded to 5
		{"0000000000000000: 00000002 00000000 00010000 0001 01 31337 ", UnixSocket{}},               // empty name
		{"0000000000000000: 00000002 00000000 00010000 0001 01 31337x", UnixSocket{}},               // no space before the name
		{"0000000000000000: 00000002 00000000 00010000 0001 01", UnixSocket{}},                      // no inode
		{"0000000000000000: 00000002 00000000 00010000 0001", UnixSocket{}},                         // no state
		{"0000000000000000: 00000002 00000000 00010000 0001 01 99999999999999999999", UnixSocket{}}, // inode too big
		{"/fake/forged.sock", UnixSocket{}},
	} {
		got, err := parseUnixLine([]byte(c.line))
		if c.want == (UnixSocket{}) {
			if err == nil {
				t.Errorf("%q: parsed as %+v, want refused", c.line, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.line, got, err, c.want)
		}
	}
}

func TestReadOwners(t *testing.T) {
	got, err := ReadOwners("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	sshd := Owner{PID: 100, Comm: CommOf("sshd")}
	py := Owner{PID: 200, Comm: CommOf("python3")}
	want := Owners{ByInode: map[uint64]Owner{9974: sshd, 9975: sshd, 9984: sshd, 9980: py},
		Programs: map[Owner]string{sshd: "sshd", py: "python3"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestProgramName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/usr/sbin/sshd\x00-D\x00", "sshd"},
		{"python3\x00x.py\x00", "python3"},
		{"sshd: root@pts/0\x00", "sshd: root@pts/0"}, // relative: kept whole
		{"", ""},
		{"/", ""},
		{"/a/b/\x00", ""},
	}
	for _, c := range cases {
		if got := ProgramName([]byte(c.in)); got != c.want {
			t.Errorf("ProgramName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
