package live

import (
	"bytes"
	"testing"
)

// A table's text is what was written, with each referenced part where it was
// referenced, and is empty again after reset.
func TestTableText(t *testing.T) {
	var text tableText
	for range 2 {
		text.reset()
		text.ref([]byte("A"))
		text.Write([]byte("b"))
		text.ref([]byte("C"))
		text.ref([]byte("D"))
		text.Write([]byte("ef"))
		var out bytes.Buffer
		if err := text.writeTo(&out); err != nil || out.String() != "AbCDef" {
			t.Errorf("writeTo: %q, %v; want %q", out.String(), err, "AbCDef")
		}
	}
}
