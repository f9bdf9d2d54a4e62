package snapshot

import (
	"path/filepath"
	"testing"
)

func TestReadSNMP(t *testing.T) {
	groups, err := ReadSNMP(filepath.Join(tablesDir, "proc", "net"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	if len(groups) != 6 || groups[3].Name != "Tcp" {
		t.Fatalf("groups %v", names)
	}
	tcp := groups[3].Counters
	if c := tcp[3]; c.Name != "MaxConn" || c.Text != "-1" || c.Value != ^uint64(0) {
		t.Errorf("MaxConn = %+v, want -1 read as strtoull reads it", c)
	}
}

func TestSNMPMalformed(t *testing.T) {
	dir := filepath.Join(tablesDir, "bad")
	groups, err := ReadSNMP(dir)
	if len(groups) != 2 || groups[0].Name != "Ip" || groups[1].Name != "Udp" || groups[1].Counters[0].Value != 7 {
		t.Errorf("got %+v, want Ip and Udp", groups)
	}
	wantLineErrors(t, err, filepath.Join(dir, "snmp"), 3)
}

func TestReadSNMP6Groups(t *testing.T) {
	groups, err := ReadSNMP6(filepath.Join(tablesDir, "proc", "net"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	want := []string{"Ip6", "Icmp6", "Udp6", "UdpLite6"}
	if len(names) != len(want) {
		t.Fatalf("groups %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("groups %v, want %v", names, want)
		}
	}
}

func FuzzParseSNMP(f *testing.F) {
	f.Add(readFixture(f, "proc/net/snmp"))
	f.Add(readFixture(f, "proc/net/netstat"))
	f.Add(readFixture(f, "bad/snmp"))
	f.Fuzz(func(t *testing.T, data []byte) {
		groups, err := ParseSNMP(data, "snmp")
		checkParsed(t, len(groups), err, data)
	})
}

func FuzzParseSNMP6(f *testing.F) {
	f.Add(readFixture(f, "proc/net/snmp6"))
	f.Fuzz(func(t *testing.T, data []byte) {
		groups, err := ParseSNMP6(data, "snmp6")
		checkParsed(t, len(groups), err, data)
		g, err := ParseNameValues(data, "sctp/snmp", "Sctp")
		checkParsed(t, len(g.Counters), err, data)
	})
}
