package render

import (
	"fmt"
	"io"
)

// WriteWarnings writes what the tracer could not set up (its Warnings),
// one line each, in the form every mode uses. They quote paths and kernel
// errors, so they are escaped.
func WriteWarnings(w io.Writer, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintf(w, "socktrace: warning: %s\n", Safe(s))
	}
}
