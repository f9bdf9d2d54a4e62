package snapshot

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/socktrace/socktrace/tcpstate"
)

func TestReadSCTP(t *testing.T) {
	dir := filepath.Join(tablesDir, "proc", "net")
	eps, err := ReadSCTPEndpoints(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	if len(eps) != 4 {
		t.Fatalf("got %d endpoints, want 4", len(eps))
	}
	want := SCTPEndpoint{State: tcpstate.Close, Port: 5000, Inode: 41504, Addrs: []netip.Addr{a("fd00:9::1"), a("10.9.0.2")}}
	if e := eps[3]; e.State != want.State || e.Port != want.Port || e.Inode != want.Inode || !slices.Equal(e.Addrs, want.Addrs) {
		t.Errorf("endpoint 4 = %+v\nwant %+v", e, want)
	}
	assocs, err := ReadSCTPAssocs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(assocs) != 4 {
		t.Fatalf("got %d associations, want 4", len(assocs))
	}
	got := assocs[1]
	if got.State != tcpstate.Established || got.SendQ != 5 || got.RecvQ != 100 || got.UID != 1000 ||
		got.Inode != 41510 || got.LocalPort != 36000 || got.RemotePort != 22 ||
		!slices.Equal(got.Local, []netip.Addr{a("fd00:9::1")}) || !slices.Equal(got.Remote, []netip.Addr{a("fd00:9::2")}) {
		t.Errorf("association 2 = %+v", got)
	}
	if l, r := assocs[2].Local, assocs[2].Remote; len(l) != 3 || len(r) != 1 || l[0] != a("127.0.0.1") {
		t.Errorf("association 3: local %v, remote %v", l, r)
	}
}

func TestSCTPMalformed(t *testing.T) {
	eps := " ENDPT     SOCK   STY SST HBKT LPORT   UID INODE LADDRS\n" +
		"0 0 2   10  29   9999      0 41501 10.9.0.1 \n" +
		"0 0 2   10  29   99999     0 41501 10.9.0.1 \n" +
		"0 0 2   10  29   9999      0 41501 10.9.0.1x \n" +
		"0 0 2   10\n" +
		"0 0 2   10  29   9999      0 41501 fe80::1%eth0 \n"
	rows, err := ParseSCTPEndpoints([]byte(eps), "eps")
	if len(rows) != 1 {
		t.Errorf("eps: %d rows, want 1", len(rows))
	}
	wantLineErrors(t, err, "eps", 3, 4, 5, 6)

	assocs := " ASSOC     SOCK   STY SST ST HBKT ASSOC-ID TX_QUEUE RX_QUEUE UID INODE LPORT RPORT LADDRS <-> RADDRS HBINT\n" +
		"0 0 1   1   3  9       2        5      100    1000 41510 36000    22  *10.0.0.1 <-> *10.0.0.2 \t   30000\n" +
		"0 0 1   1   3  9       2        5      100    1000 41510 36000    22  *10.0.0.1 *10.0.0.2 \t   30000\n" +
		"0 0 1   1   3  9       2        5      100    1000 41510 36000  *10.0.0.1 <-> *10.0.0.2 \n" +
		"0 0 1   1   3  9       2        5      100    1000 41510 36000    22  *10.0.0.1 <-> *10.0.0.2x \n"
	got, err := ParseSCTPAssocs([]byte(assocs), "assocs")
	if len(got) != 1 {
		t.Errorf("assocs: %d rows, want 1", len(got))
	}
	wantLineErrors(t, err, "assocs", 3, 4, 5)
}
