package netstat

import (
	"bytes"
	"fmt"
	"os"
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
