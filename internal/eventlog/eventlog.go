// Package eventlog is the output of socktrace trace: each TCP state change,
// reset and retransmit the tracer reports, as a line of text or a JSON
// object, printed as it happens.
package eventlog

import (
	"errors"
	"fmt"
	"io"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/internal/render"
	"github.com/socktrace/socktrace/tracer"
)

// Stream prints tr's events until the tracer stops, writing whenever the
// tracer has caught up, so each line appears as its event happens. Lines are
// formatted straight into the pending output: a bufio copy of each one
// would be a second pass over every byte. Losses the tracer reports are
// said on stderr as they come, and with JSON are objects in the log too.
// A write error ends the stream: it is returned.
func Stream(tr *tracer.Tracer, stdout, stderr io.Writer, opt Options) error {
	asJSON := opt.JSON
	out := make([]byte, 0, outputBytes+512)
	switch {
	case asJSON:
	case opt.Extended:
		out = append(out, render.EventHeaderExtended...)
	default:
		out = append(out, render.EventHeader...)
	}
	var ev tracer.Event
	f := render.EventFormatter{ResetReason: tr.ResetReason, Extended: opt.Extended}
	if asJSON || opt.Extended {
		f.Containers = container.NewResolver(container.Config{ProcRoot: opt.ProcRoot})
	}
	for {
		err := tr.Next(&ev)
		if errors.Is(err, tracer.ErrStopped) {
			return writeAll(stdout, out)
		}
		if err != nil {
			writeAll(stdout, out)
			return err
		}
		if ev.Kind == tracer.KindLost {
			fmt.Fprintf(stderr, "socktrace: lost %d events (%d ring buffer full, %d recursion misses)\n",
				ev.Lost.Total(), ev.Lost.RingFull, ev.Lost.Recursion)
			if !asJSON {
				continue
			}
		}
		if asJSON {
			out = f.AppendJSON(out, &ev)
		} else {
			out = f.AppendText(out, &ev)
		}
		if len(out) >= outputBytes || !tr.Behind() {
			if err := writeAll(stdout, out); err != nil {
				return err
			}
			out = out[:0]
		}
	}
}

// Options say how Stream prints.
type Options struct {
	JSON bool
	// Extended adds the CONTAINER column to text lines (trace -e); JSON
	// always has the container field.
	Extended bool
	// ProcRoot is where owners' cgroups are read; default "/proc".
	ProcRoot string
}

// outputBytes is how much output Stream gathers, at most, before it
// writes: the size of a pipe's buffer.
const outputBytes = 64 << 10

func writeAll(w io.Writer, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, err := w.Write(b)
	return err
}
