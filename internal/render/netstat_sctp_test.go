package render

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/socktrace/socktrace/snapshot"
)

// hostNames names hosts from the fixture's hosts file, as the root
// command's names do: IPv6's wildcard is "[::]", ports and users are
// numbers.
type hostNames struct{ r *snapshot.RouteNames }

func (h hostNames) Host(a netip.Addr) string {
	if a.IsUnspecified() {
		return pick(a.Is6(), "[::]", "")
	}
	return h.r.Host(a)
}

func (h hostNames) Service(snapshot.Proto, uint16) string { return "" }
func (h hostNames) User(uint32) string                    { return "" }

func TestSCTPMatchesNetstat(t *testing.T) {
	netDir := filepath.Join(tablesFixture, "proc", "net")
	eps, err := snapshot.ReadSCTPEndpoints(netDir)
	if err != nil {
		t.Fatal(err)
	}
	assocs, err := snapshot.ReadSCTPAssocs(netDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		golden         string
		all, listening bool
		numeric        bool
		n              Netstat
	}{
		{"Sn", false, false, true, Netstat{}},
		{"San", true, false, true, Netstat{}},
		{"SanW", true, false, true, Netstat{Wide: true}},
		{"Sln", false, true, true, Netstat{}},
		{"Sa", true, false, false, Netstat{}},
		{"Sane", true, false, true, Netstat{Extend: true}},
		{"Sano", true, false, true, Netstat{Timers: true}},
		{"Sanp", true, false, true, Netstat{Programs: true}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			n := c.n
			n.Names = hostNames{fixtureNames()}
			var b bytes.Buffer
			if err := n.InetHeader(&b, c.all, c.listening); err != nil {
				t.Fatal(err)
			}
			if c.all || c.listening {
				for i := range eps {
					if err := n.SCTPEndpointRow(&b, &eps[i], c.numeric); err != nil {
						t.Fatal(err)
					}
				}
			}
			if c.all || !c.listening {
				for i := range assocs {
					if err := n.SCTPAssocRow(&b, &assocs[i], c.numeric); err != nil {
						t.Fatal(err)
					}
				}
			}
			diffLines(t, b.String(), golden(t, c.golden))
		})
	}
}

func TestSCTPJSON(t *testing.T) {
	a := snapshot.SCTPAssoc{State: 1, SendQ: 5, RecvQ: 100, UID: 1000, Inode: 7, LocalPort: 36000, RemotePort: 22,
		Local:  []netip.Addr{netip.MustParseAddr("fd00:9::1"), netip.MustParseAddr("10.9.0.1")},
		Remote: []netip.Addr{netip.MustParseAddr("fd00:9::2")}}
	n := Netstat{}
	var b bytes.Buffer
	if err := n.SCTPAssocJSON(&b, &a); err != nil {
		t.Fatal(err)
	}
	want := `{"proto":"sctp","recv_q":100,"send_q":5,"local":"[fd00:9::1]:36000","remote":"[fd00:9::2]:22","state":"ESTABLISHED","uid":1000,"inode":7,"pid":0,"program":"","local_addrs":["fd00:9::1","10.9.0.1"],"remote_addrs":["fd00:9::2"]}` + "\n"
	if b.String() != want {
		t.Errorf("got  %s\nwant %s", b.String(), want)
	}
	e := snapshot.SCTPEndpoint{State: 10, Port: 9999, Inode: 8, Addrs: []netip.Addr{netip.MustParseAddr("10.9.0.1")}}
	b.Reset()
	if err := n.SCTPEndpointJSON(&b, &e); err != nil {
		t.Fatal(err)
	}
	want = `{"proto":"sctp","recv_q":0,"send_q":0,"local":"10.9.0.1:9999","remote":"","state":"LISTEN","uid":0,"inode":8,"pid":0,"program":"","local_addrs":["10.9.0.1"]}` + "\n"
	if b.String() != want {
		t.Errorf("got  %s\nwant %s", b.String(), want)
	}
}
