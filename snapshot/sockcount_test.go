package snapshot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCountInet(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"sockstat": "sockets: used 11\nTCP: inuse 4 orphan 0 tw 2 alloc 9 mem 1\n" +
			"UDP: inuse 3 mem 0\nUDPLITE: inuse 1\nRAW: inuse 0\n",
		"sockstat6": "TCP6: inuse 5\nUDP6: inuse 6\nUDPLITE6: inuse 0\nRAW6: inuse x\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		p        Proto
		fam      Family
		timeWait bool
		want     int
	}{
		{TCP, IPv4 | IPv6, true, 11}, {TCP, IPv4, true, 6}, {TCP, IPv6, true, 5},
		{TCP, IPv4 | IPv6, false, 9}, {TCP, IPv4, false, 4},
		{UDP, IPv4 | IPv6, true, 9}, {UDPLite, IPv4, true, 1}, {Raw, IPv4 | IPv6, true, 0},
	} {
		if got := CountInet(dir, c.p, c.fam, c.timeWait); got != c.want {
			t.Errorf("CountInet(%v, %d, %v) = %d, want %d", c.p, c.fam, c.timeWait, got, c.want)
		}
	}
	if got := CountTimeWait(dir); got != 2 {
		t.Errorf("CountTimeWait = %d, want 2", got)
	}
	if got := CountInet(filepath.Join(dir, "missing"), TCP, IPv4, true); got != 0 {
		t.Errorf("CountInet without files = %d, want 0", got)
	}
}

func TestReadTimewaitSocks(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		sockstat string // "" for no file
		want     int
		ok       bool
	}{
		{"sockets: used 11\nTCP: inuse 4 orphan 0 tw 2 alloc 9 mem 1\n", 2, true},
		{"sockets: used 11\nTCP: inuse 4 orphan 0 tw 0 alloc 9 mem 1\n", 0, true},
		{"TCP: inuse 4 orphan 0 alloc 9 mem 1\n", 0, false},
		{"TCP: inuse 4 orphan 0 tw x alloc 9 mem 1\n", 0, false},
		{"TCP6: inuse 4 tw 2\n", 0, false},
		{"", 0, false},
	} {
		path := filepath.Join(dir, "sockstat")
		_ = os.Remove(path)
		if c.sockstat != "" {
			if err := os.WriteFile(path, []byte(c.sockstat), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := ReadTimewaitSocks(dir)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("ReadTimewaitSocks(%q) = %d, %v; want %d, ok %v", c.sockstat, got, err, c.want, c.ok)
		}
	}
}
