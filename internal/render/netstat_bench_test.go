package render

import (
	"io"
	"net/netip"
	"testing"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

// numericNames is -n: every name is the number.
type numericNames struct{}

func (numericNames) Host(netip.Addr) string                { return "" }
func (numericNames) Service(snapshot.Proto, uint16) string { return "" }
func (numericNames) User(uint32) string                    { return "" }

// BenchmarkInetRow renders -tanp rows, the loop that runs once per socket.
func BenchmarkInetRow(b *testing.B) {
	rows := []snapshot.Socket{
		{Proto: snapshot.TCP, Local: netip.MustParseAddrPort("127.0.0.11:5000"),
			Remote: netip.MustParseAddrPort("127.0.0.11:40312"), State: tcpstate.Established, Inode: 123456},
		{Proto: snapshot.TCP, V6: true, Local: netip.MustParseAddrPort("[::ffff:127.0.0.1]:22"),
			Remote: netip.MustParseAddrPort("[::ffff:127.0.0.1]:54321"), State: tcpstate.Established, Inode: 123457},
	}
	connhold, sshd := snapshot.Owner{PID: 4242, Comm: snapshot.CommOf("connhold")}, snapshot.Owner{PID: 4243, Comm: snapshot.CommOf("sshd")}
	owners := snapshot.Owners{ByInode: map[uint64]snapshot.Owner{123456: connhold, 123457: sshd},
		Programs: map[snapshot.Owner]string{connhold: "connhold", sshd: "sshd"}}
	n := &Netstat{Names: numericNames{}, Programs: true, Owners: owners}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := n.InetRow(io.Discard, &rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLiveRow renders -tanc rows of a churn's table: a TIME_WAIT row
// and a gone server row with its note, the rows printed per connection.
func BenchmarkLiveRow(b *testing.B) {
	rows := []snapshot.Socket{
		{Proto: snapshot.TCP, Local: netip.MustParseAddrPort("127.0.0.1:40312"),
			Remote: netip.MustParseAddrPort("127.0.0.3:9511"), State: tcpstate.TimeWait},
		{Proto: snapshot.TCP, Local: netip.MustParseAddrPort("127.0.0.3:9511"),
			Remote: netip.MustParseAddrPort("127.0.0.1:40312"), State: tcpstate.LastAck, Inode: 123456},
	}
	lives := []Live{{}, {Gone: true, Lifetime: 1234567}}
	n := &Netstat{Names: numericNames{}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := n.LiveRow(io.Discard, &rows[i%len(rows)], &lives[i%len(lives)]); err != nil {
			b.Fatal(err)
		}
	}
}
