package render

import (
	"bytes"
	"testing"
)

func TestWriteWarnings(t *testing.T) {
	var b bytes.Buffer
	WriteWarnings(&b, []string{"tracefs was not mounted", "read /tmp/\x1b[2Jx: no port"})
	want := "socktrace: warning: tracefs was not mounted\n" +
		`socktrace: warning: read /tmp/\x1b[2Jx: no port` + "\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}
