package render

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/snapshot"
)

// The expected text is netstat 2.10's output for the same interfaces (see
// the live differential test in cmd/socktrace for the real comparison).
func TestInterfaces(t *testing.T) {
	ifaces := []snapshot.Interface{
		{Name: "lo", Link: snapshot.Link{Flags: 0x49, MTU: 65536, HWType: 772, TxQueueLen: 1000, HasIPv4: true,
			Addr: netip.MustParseAddr("127.0.0.1"), Netmask: netip.MustParseAddr("255.0.0.0")},
			Stats: &snapshot.DevStats{Name: "lo", RxBytes: 123456, RxPackets: 100, RxErrors: 1, RxDropped: 2, RxFIFO: 3, RxFrame: 4,
				TxBytes: 7890, TxPackets: 200, TxErrors: 7, TxDropped: 8, TxFIFO: 9, Collisions: 10, TxCarrier: 11}},
		{Name: "va:1", Link: snapshot.Link{Flags: 0x9343, MTU: 1500, HWType: 1, TxQueueLen: 1000}},
		{Name: "vd", Link: snapshot.Link{Flags: 0x1002, MTU: 1500, HWType: 1}, Stats: &snapshot.DevStats{Name: "vd"}},
	}
	var buf bytes.Buffer
	if err := Interfaces(&buf, ifaces, InterfaceOptions{}); err != nil {
		t.Fatal(err)
	}
	want := `Kernel Interface table
Iface             MTU    RX-OK RX-ERR RX-DRP RX-OVR    TX-OK TX-ERR TX-DRP TX-OVR Flg
lo              65536      100      1      2 3           200      7      8      9 LRU
va:1             1500      - no statistics available -                        ABMdPRU
`
	diffLines(t, buf.String(), want)

	buf.Reset()
	if err := Interfaces(&buf, ifaces[:1], InterfaceOptions{Extend: 1, Addrs6: []snapshot.IfAddr6{
		{Addr: netip.MustParseAddr("::1"), PrefixLen: 128, Scope: 0x10, Iface: "lo"},
		{Addr: netip.MustParseAddr("fd00::1"), PrefixLen: 64, Scope: 0, Iface: "va"},
	}}); err != nil {
		t.Fatal(err)
	}
	want = `Kernel Interface table
lo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536
        inet 127.0.0.1  netmask 255.0.0.0
        inet6 ::1  prefixlen 128  scopeid 0x10<host>
        loop  txqueuelen 1000  (Local Loopback)
        RX packets 100  bytes 123456 (120.5 KiB)
        RX errors 1  dropped 2  overruns 3  frame 4
        TX packets 200  bytes 7890 (7.7 KiB)
        TX errors 7  dropped 8 overruns 9  carrier 11  collisions 10

`
	diffLines(t, buf.String(), want)

	// Under -c netstat prints the title once: the tables after the first
	// start with the column header, or with -e with the first block.
	for _, o := range []InterfaceOptions{{Again: true}, {Again: true, Extend: 1}} {
		buf.Reset()
		if err := Interfaces(&buf, ifaces[:1], o); err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(buf.String(), "\n"); !strings.HasPrefix(first, "Iface ") && !strings.HasPrefix(first, "lo: ") {
			t.Errorf("%+v: the table starts with %q, want the header or the first block", o, first)
		}
	}

	buf.Reset()
	if err := Interfaces(&buf, ifaces[2:], InterfaceOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	if want := "vd               1500        0      0      0 0             0      0      0      0 BM\n"; !bytes.HasSuffix(buf.Bytes(), []byte(want)) {
		t.Errorf("-a must list a down interface:\n%s", buf.String())
	}
}

func TestIfaceFlags(t *testing.T) {
	if got := LongIfaceFlags(0x9343); got != "flags=-27837<UP,BROADCAST,RUNNING,PROMISC,ALLMULTI,MULTICAST,DYNAMIC>" {
		t.Errorf("LongIfaceFlags = %q", got)
	}
	if got := LongIfaceFlags(0); got != "flags=0<" {
		t.Errorf("LongIfaceFlags(0) = %q", got)
	}
	if got := ShortIfaceFlags(0x1091); got != "MOPU" {
		t.Errorf("ShortIfaceFlags(tun) = %q, want MOPU", got)
	}
}

func TestByteUnits(t *testing.T) {
	cases := map[uint64]string{
		0: "0.0 B", 1024: "1024.0 B", 1025: "1.0 KiB", 47550364: "45.3 MiB",
		155886: "152.2 KiB", 1<<62 + 1: "4.0 EiB",
	}
	for v, want := range cases {
		if got := byteUnits(v); got != want {
			t.Errorf("byteUnits(%d) = %q, want %q", v, got, want)
		}
	}
}
