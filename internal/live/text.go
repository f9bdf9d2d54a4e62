package live

import (
	"io"
)

// tableText is one table, formatted, to be written once the table's lock is
// let go. The TIME_WAIT pile's lines, most of a table under churn, are
// formatted apart (twLines) and only referenced here, not copied in again.
type tableText struct {
	buf  []byte   // what was written
	cuts []int    // where in buf each of refs goes
	refs [][]byte // not copied: each must stay as it is until writeTo
}

func (t *tableText) reset() {
	clear(t.refs) // lines of the TIME_WAIT pile, which may be let go
	t.buf, t.cuts, t.refs = t.buf[:0], t.cuts[:0], t.refs[:0]
}

// shrink lets go of the room the last table did not need.
func (t *tableText) shrink() {
	t.buf, t.cuts, t.refs = shrunk(t.buf, len(t.buf)), shrunk(t.cuts, len(t.cuts)), shrunk(t.refs, len(t.refs))
}

func (t *tableText) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	return len(p), nil
}

// ref adds b after what was written so far, without copying it.
func (t *tableText) ref(b []byte) {
	t.cuts = append(t.cuts, len(t.buf))
	t.refs = append(t.refs, b)
}

func (t *tableText) writeTo(w io.Writer) error {
	at := 0
	for i, cut := range t.cuts {
		if _, err := w.Write(t.buf[at:cut]); err != nil {
			return err
		}
		if _, err := w.Write(t.refs[i]); err != nil {
			return err
		}
		at = cut
	}
	_, err := w.Write(t.buf[at:])
	return err
}

// appendWriter appends what is written to a byte slice.
type appendWriter struct{ b *[]byte }

func (a appendWriter) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}
