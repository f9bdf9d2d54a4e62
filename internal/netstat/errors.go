package netstat

import (
	"fmt"

	"github.com/socktrace/socktrace/snapshot"
)

// maxLinesListed bounds the malformed lines -v lists per file: a kernel
// whose table format changed makes every line malformed, which can be
// hundreds of thousands of them.
const maxLinesListed = 10

// ErrorLines is err, an error of reading /proc tables, as lines for
// stderr. A file's malformed lines are listed, up to maxLinesListed of
// them with verbose (-v), and the first one without; then how many more
// there were, so none goes unsaid.
func ErrorLines(err error, verbose bool) []string {
	listed := 1
	if verbose {
		listed = maxLinesListed
	}
	var out []string
	file, n := "", 0 // the file whose malformed lines are being listed
	more := func() {
		if n <= listed {
			return
		}
		line := fmt.Sprintf("read %s: and %d more malformed %s", file, n-listed, plural(n-listed, "line", "lines"))
		if !verbose {
			line += " (-v lists them)"
		}
		out = append(out, line)
	}
	for _, e := range leafErrors(err) {
		pe, ok := e.(*snapshot.ParseError)
		if !ok || pe.File != file {
			more()
			file, n = "", 0
		}
		if !ok {
			out = append(out, e.Error())
			continue
		}
		file = pe.File
		if n++; n <= listed {
			out = append(out, e.Error())
		}
	}
	more()
	return out
}

// leafErrors flattens the trees errors.Join makes. An error that wraps a
// join stays whole: its words belong with it.
func leafErrors(err error) []error {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, leafErrors(e)...)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Refusal is what netstat refuses, in its words: the command prints Msg as
// it is, without "socktrace: " before it (netstat names itself in some of
// its messages and not in others), and exits with Status, netstat's exit
// status.
type Refusal struct {
	Msg    string
	Status int
}

func (r Refusal) Error() string { return r.Msg }
