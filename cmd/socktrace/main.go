// Command socktrace is netstat with a memory: the netstat tables, plus every
// TCP state transition the kernel makes between two looks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/socktrace/socktrace/internal/netstat"
)

func main() {
	ctx, stop := signalContext()
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(report(os.Stderr, err))
	}
}

// signalContext is the context every mode runs under until it is told to
// stop: by SIGINT (Ctrl-C), SIGTERM or SIGHUP (the terminal went away), so
// that each ends alike, with the loss summary of the modes that trace. A
// SIGHUP ignored at start (nohup) stays ignored.
//
// SIGPIPE is ignored: Go kills a process whose write to a closed pipe on
// stdout fails before the write can return EPIPE, so "| head" would cut
// off the summary. Each mode takes EPIPE as its reader gone (readerGone).
func signalContext() (context.Context, context.CancelFunc) {
	signal.Ignore(syscall.SIGPIPE)
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return signal.NotifyContext(context.Background(), sigs...)
}

// readerGone says whether err is a write to a pipe nobody reads any more
// ("| head" after its lines): the end of the output, not an error.
func readerGone(err error) bool { return errors.Is(err, syscall.EPIPE) }

// report prints err and returns the exit status: netstat's for what
// netstat refuses, 3 for another mistake on the command line (netstat's
// status for one), 1 for a failure; an exitCode's own, having printed
// nothing.
func report(w io.Writer, err error) int {
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	var r netstat.Refusal
	if errors.As(err, &r) {
		fmt.Fprintln(w, r.Msg)
		return r.Status
	}
	fmt.Fprintf(w, "socktrace: %v\n", err)
	if errors.As(err, new(usageError)) {
		return 3
	}
	return 1
}
