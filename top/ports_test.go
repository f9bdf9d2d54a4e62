package top

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPortRange(t *testing.T) {
	dir := t.TempDir()
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
		path := filepath.Join(dir, "range")
		if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPortRange(path)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %v, %v; want %v, %q", tc.text, got, err, tc.want, tc.err)
		}
	}
	if r := (PortRange{32768, 60999}); r.port(32767) != 32767 || r.port(32768) != 0 || r.port(60999) != 0 || r.port(61000) != 61000 {
		t.Error("the range's ends are not ephemeral")
	}
	if _, err := ReadPortRange(PortRangePath); err != nil {
		t.Errorf("this kernel's range: %v", err)
	}
}
