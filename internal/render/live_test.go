package render

import (
	"bytes"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
)

func TestLiveRow(t *testing.T) {
	s := snapshot.Socket{Proto: snapshot.TCP, State: tcpstate.SynSent,
		Local:  netip.MustParseAddrPort("127.0.0.1:39538"),
		Remote: netip.MustParseAddrPort("127.0.0.1:7001")}
	owner := snapshot.Owner{PID: 4746, Comm: snapshot.CommOf("python3")}
	for _, tc := range []struct {
		name string
		live Live
		want string
	}{
		{"live", Live{Owner: owner, Program: "python3"},
			"tcp        0      0 localhost:39538         localhost:7001          SYN_SENT    4746/python3        \n"},
		{"refused", Live{Owner: owner, Program: "python3", Gone: true, Lifetime: 11 * time.Microsecond, Err: syscall.ECONNREFUSED},
			"tcp        0      0 localhost:39538         localhost:7001          SYN_SENT    4746/python3         (gone, lived 11us, ECONNREFUSED)\n"},
		{"aborted by the caller", Live{Owner: owner, Program: "python3", Gone: true, Lifetime: 40 * time.Millisecond, Aborted: true},
			"tcp        0      0 localhost:39538         localhost:7001          SYN_SENT    4746/python3         (gone, lived 40.000ms, aborted)\n"},
		{"healed, birth unknown, owner unknown", Live{Gone: true, Healed: true},
			"tcp        0      0 localhost:39538         localhost:7001          SYN_SENT    -                    (gone, close not seen)\n"},
	} {
		var b bytes.Buffer
		n := Netstat{Names: fakeNames{}, Programs: true}
		if err := n.LiveRow(&b, &s, &tc.live); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, b.String(), tc.want)
		}
	}
}

// A gone row made from the line printed while the connection lived is the
// row LiveRow prints for it gone, to the byte.
func TestGoneRowFrom(t *testing.T) {
	s := snapshot.Socket{Proto: snapshot.TCP, State: tcpstate.TimeWait,
		Local:  netip.MustParseAddrPort("127.0.0.2:40001"),
		Remote: netip.MustParseAddrPort("127.0.0.1:9511")}
	owner := snapshot.Owner{PID: 77, Comm: snapshot.CommOf("churn")}
	for _, programs := range []bool{false, true} {
		n := Netstat{Names: fakeNames{}, Programs: programs}
		var line, got, want bytes.Buffer
		if err := n.LiveRow(&line, &s, &Live{Owner: owner, Program: "churn"}); err != nil {
			t.Fatal(err)
		}
		gone := Live{Owner: owner, Program: "churn", Gone: true, Lifetime: 61 * time.Second}
		if err := n.GoneRowFrom(&got, line.Bytes(), &gone); err != nil {
			t.Fatal(err)
		}
		if err := n.LiveRow(&want, &s, &gone); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() || !bytes.Contains(got.Bytes(), []byte("(gone, lived 61.000s)")) {
			t.Errorf("programs %v:\n got %q\nwant %q", programs, got.String(), want.String())
		}
	}
}

func TestLiveJSON(t *testing.T) {
	s := snapshot.Socket{Proto: snapshot.TCP, V6: true, State: tcpstate.LastAck,
		Local:  netip.MustParseAddrPort("[::1]:8080"),
		Remote: netip.MustParseAddrPort("[::1]:5000"), Inode: 7}
	var b bytes.Buffer
	n := Netstat{Names: fakeNames{}, Programs: true}
	l := Live{Owner: snapshot.Owner{PID: 9, Comm: snapshot.CommOf("srv")}, Program: "srv", Gone: true, Lifetime: 3 * time.Millisecond}
	if err := n.LiveJSON(&b, &s, &l); err != nil {
		t.Fatal(err)
	}
	want := `{"proto":"tcp6","recv_q":0,"send_q":0,"local":"[::1]:8080","remote":"[::1]:5000","state":"LAST_ACK","uid":0,"user":"root","inode":7,"pid":9,"program":"srv","comm":"srv","gone":true,"lifetime_ns":3000000}` + "\n"
	if b.String() != want {
		t.Errorf("got  %s\nwant %s", b.String(), want)
	}
}

func TestSummary(t *testing.T) {
	s := Summary{Time: time.Date(2026, 11, 22, 12, 31, 30, 0, time.UTC), Connects: 4, Accepts: 3, Closes: 6,
		Failed:     map[syscall.Errno]uint64{syscall.ECONNREFUSED: 1, syscall.ETIMEDOUT: 2, 0: 1},
		ResetsSent: 2, ResetsReceived: 1, Retransmits: 5, SynSent: 1, TimeWait: 3, Lost: 2, Healed: 1}
	var b bytes.Buffer
	if err := SummaryLine(&b, &s); err != nil {
		t.Fatal(err)
	}
	want := "-- 12:31:30: 4 connects, 3 accepts, 6 closes, 4 failed (ECONNREFUSED 1, ETIMEDOUT 2, aborted 1); 2 resets sent, 1 received, 5 retransmits; now 1 SYN_SENT, 0 SYN_RECV, 3 TIME_WAIT; 2 events lost, 1 rows healed\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
	b.Reset()
	if err := SummaryJSON(&b, &s); err != nil {
		t.Fatal(err)
	}
	want = `{"summary":true,"time":"2026-11-22T12:31:30.000000000Z","connects":4,"accepts":3,"closes":6,"failed":{"ECONNREFUSED":1,"ETIMEDOUT":2,"aborted":1},"resets_sent":2,"resets_received":1,"retransmits":5,"syn_sent":1,"syn_recv":0,"time_wait":3,"lost":2,"healed":1}` + "\n"
	if b.String() != want {
		t.Errorf("got  %s\nwant %s", b.String(), want)
	}
}
