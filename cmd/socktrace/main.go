// Command socktrace is netstat with a memory: the netstat tables, plus every
// TCP state transition the kernel makes between two looks.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "socktrace: %v\n", err)
		os.Exit(1)
	}
}
