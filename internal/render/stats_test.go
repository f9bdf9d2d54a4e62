package render

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/socktrace/socktrace/snapshot"
)

func TestStatsMatchNetstat(t *testing.T) {
	netDir := filepath.Join(tablesFixture, "proc", "net")
	snmp, err := snapshot.ReadSNMP(netDir)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := snapshot.ReadNetstat(netDir)
	if err != nil {
		t.Fatal(err)
	}
	snmp6, err := snapshot.ReadSNMP6(netDir)
	if err != nil {
		t.Fatal(err)
	}
	all := StatsOptions{Raw: true, TCP: true, UDP: true, SCTP: true}
	cases := []struct {
		golden string
		v6     bool
		opts   StatsOptions
	}{
		{"s", false, all},
		{"st", false, StatsOptions{TCP: true}},
		{"su", false, StatsOptions{UDP: true}},
		{"sw", false, StatsOptions{Raw: true}},
		{"sU", false, StatsOptions{}},
		{"s6", true, all},
		{"s6t", true, StatsOptions{TCP: true}},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			var buf bytes.Buffer
			if c.v6 {
				err = Stats6(&buf, snmp6, snmp, c.opts)
			} else {
				err = Stats(&buf, append(append([]snapshot.StatGroup{}, snmp...), ext...), c.opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			diffLines(t, buf.String(), golden(t, c.golden))
		})
	}
}

// netstat's tables are not quite sorted, so its binary search misses some
// counters it has a phrase for; those print as "Name: value".
func TestFindStatReplaysNetstatSearch(t *testing.T) {
	cases := []struct {
		entries []statEntry
		name    string
		found   bool
	}{
		{ipStats, "InReceives", true},
		{ipStats, "DefaultTTL", true},
		{ipStats, "Forwarding", false},
		{tcpStats, "ActiveOpens", true},
		{tcpExtStats, "TCPTimeouts", false},
		{tcpExtStats, "TCPDSACKOldSent", false},
		{tcpExtStats, "TW", true},
		{tcpExtStats, "TCPPureAcks", true},
		{icmp6Stats, "Icmp6OutRouterAdvertisements", false},
	}
	for _, c := range cases {
		if got := findStat(c.entries, c.name) != nil; got != c.found {
			t.Errorf("findStat(%s) found=%v, want %v", c.name, got, c.found)
		}
	}
}

func TestStatsJSON(t *testing.T) {
	groups := []snapshot.StatGroup{
		{Name: "Tcp", Counters: []snapshot.Counter{{Name: "MaxConn", Value: ^uint64(0), Text: "-1"}, {Name: "ActiveOpens", Value: 12, Text: "12"}}},
		{Name: "Udp", Counters: []snapshot.Counter{{Name: "InDatagrams", Value: 3, Text: "3"}}},
	}
	var buf bytes.Buffer
	if err := StatsJSON(&buf, groups, false, StatsOptions{TCP: true}); err != nil {
		t.Fatal(err)
	}
	want := `{"proto":"tcp","counter":"MaxConn","value":-1}` + "\n" + `{"proto":"tcp","counter":"ActiveOpens","value":12}` + "\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}
