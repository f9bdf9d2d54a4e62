package snapshot

import (
	"reflect"
	"testing"
)

func TestReadUsers(t *testing.T) {
	got, err := ReadUsers("testdata/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	// root2 shares uid 0: the first line wins, as with getpwuid.
	want := map[uint32]string{0: "root", 1: "daemon", 100: "systemd-network-long", 1000: "alice"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestServices(t *testing.T) {
	s := ReadServices("testdata/etc/services", "testdata/etc/protocols")
	cases := []struct {
		p    Proto
		port uint16
		want string
	}{
		{TCP, 22, "ssh"}, {TCP, 80, "http"}, {UDP, 80, ""}, {UDP, 53, "domain"},
		{UDPLite, 5353, "mdns"}, {TCP, 5353, ""}, {Raw, 1, "icmp"}, {Raw, 58, "ipv6-icmp"}, {Raw, 22, ""},
	}
	for _, c := range cases {
		if got := s.Lookup(c.p, c.port); got != c.want {
			t.Errorf("Lookup(%v, %d) = %q, want %q", c.p, c.port, got, c.want)
		}
	}
	missing := ReadServices("testdata/nope", "testdata/nope")
	if missing.Lookup(TCP, 22) != "" {
		t.Error("missing files gave a name")
	}
}

func TestParseServicePorts(t *testing.T) {
	s := ParseServicePorts([]byte("# comment\nhttp 80/tcp www # WorldWideWeb\nhttp 80/udp\nhttp 8080/tcp\ndomain 53/udp\nbad x/tcp\nsctp-only 9/sctp\n"))
	for _, tc := range []struct {
		m    map[string]uint16
		name string
		port uint16
		ok   bool
	}{
		{s.TCP, "http", 80, true}, // the first line wins
		{s.TCP, "www", 80, true},  // aliases too
		{s.UDP, "http", 80, true},
		{s.UDP, "domain", 53, true},
		{s.TCP, "domain", 0, false},
		{s.TCP, "bad", 0, false},
		{s.TCP, "sctp-only", 0, false},
	} {
		if port, ok := tc.m[tc.name]; port != tc.port || ok != tc.ok {
			t.Errorf("%s: %d %v", tc.name, port, ok)
		}
	}
}
