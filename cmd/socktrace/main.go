// Command socktrace is netstat with a memory: the netstat tables, plus every
// TCP state transition the kernel makes between two looks.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signalContext()
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	var code exitCode
	switch {
	case errors.As(err, &code):
		os.Exit(int(code))
	case err != nil:
		fmt.Fprintf(os.Stderr, "socktrace: %v\n", err)
		os.Exit(1)
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
