package netstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/snapshot"
)

// netstat's note under -p when not every process could be read: "No info"
// when no process's socket was found, "Not all" when some were. socktrace's
// own sockets (self) do not count: they come and go during the scan.
func TestOwnerNote(t *testing.T) {
	const self = 4242
	noInfo := fmt.Sprintf("(No info could be read for \"-p\": geteuid()=%d but you should be root.)\n", os.Geteuid())
	notAll := "(Not all processes could be identified, non-owned process info\n" +
		" will not be shown, you would have to be root to see it all.)\n"
	for _, tc := range []struct {
		name   string
		owners map[uint64]snapshot.Owner
		want   string
	}{
		{"none", nil, noInfo},
		{"only socktrace's own", map[uint64]snapshot.Owner{7: {PID: self}, 8: {PID: self}}, noInfo},
		{"another process's", map[uint64]snapshot.Owner{7: {PID: self}, 9: {PID: 100}}, notAll},
		{"another process's only", map[uint64]snapshot.Owner{9: {PID: 100}}, notAll},
	} {
		var b bytes.Buffer
		printOwnerNote(&b, tc.owners, self)
		if b.String() != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, b.String(), tc.want)
		}
	}
}

// A family socktrace has no table for is refused when named and passed
// over in the listing of every table, as netstat does where its module is
// not loaded, -v saying so; where it is loaded, socktrace says it does not
// list it.
func TestOtherFamilies(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "net", "ax25"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ax25 := "socktrace: AF AX25 sockets (" + filepath.Join(root, "net", "ax25") + ") are not listed: socktrace has no table for them"
	for _, tc := range []struct {
		o      Options
		stderr string
		err    string
	}{
		{Options{Named: true, Others: []string{"ipx"}}, "", "socktrace: no support for `AF IPX' on this system."},
		{Options{Named: true, Others: []string{"ax25"}}, "", ax25},
		{Options{Named: true, Others: []string{"rose", "ipx"}}, "", "socktrace: no support for `AF IPX' on this system."},
		{Options{Others: []string{"ipx", "ax25", "rose"}}, ax25 + "\n", ""},
		{Options{Others: []string{"ipx", "ax25", "rose"}, Verbose: true},
			"socktrace: no support for `AF IPX' on this system.\n" + ax25 + "\nsocktrace: no support for `AF ROSE' on this system.\n", ""},
		{Options{Named: true, Bluetooth: true}, "", "socktrace: feature `AF BLUETOOTH' not supported."},
	} {
		tc.o.ProcRoot = root
		var b bytes.Buffer
		err := tc.o.OtherFamilies(&b)
		var r Refusal
		if tc.err == "" && err != nil || tc.err != "" && (!errors.As(err, &r) || !strings.HasPrefix(r.Msg, tc.err) || r.Status != 1) {
			t.Errorf("%+v: error %v, want %q, status 1", tc.o, err, tc.err)
		}
		if b.String() != tc.stderr {
			t.Errorf("%+v: stderr %q, want %q", tc.o, b.String(), tc.stderr)
		}
	}
}
