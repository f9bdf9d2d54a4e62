package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPortRange(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "sys/net/ipv4")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		want PortRange
		err  string
	}{
		{"32768\t60999\n", PortRange{32768, 60999}, ""},
		{"1024 65535\n", PortRange{1024, 65535}, ""},
		{"60999 32768\n", PortRange{}, "not a port range"},
		{"32768\n", PortRange{}, "not two port numbers"},
		{"a b\n", PortRange{}, "not a port range"},
	} {
		if err := os.WriteFile(filepath.Join(dir, "ip_local_port_range"), []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPortRange(root)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %v, %v; want %v, %q", tc.text, got, err, tc.want, tc.err)
		}
	}
	if r := (PortRange{32768, 60999}); r.Has(32767) || !r.Has(32768) || !r.Has(60999) || r.Has(61000) {
		t.Error("the range's ends are not in it, or its neighbours are")
	}
	if _, err := ReadPortRange("/proc"); err != nil {
		t.Errorf("this kernel's range: %v", err)
	}
}
