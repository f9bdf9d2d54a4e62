// Command connhold holds established loopback TCP connections open for the
// snapshot benchmark: it listens on -addr, dials itself -conns times, and
// keeps both ends until SIGTERM or until -hold passes. One process holds both
// ends, so -conns must stay under half the fd limit.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.10:5000", "listen and dial address")
	conns := flag.Int("conns", 5000, "connections to hold")
	hold := flag.Duration("hold", 5*time.Minute, "give up holding after this long")
	flag.Parse()
	if err := run(*addr, *conns, *hold); err != nil {
		fmt.Fprintf(os.Stderr, "connhold: %v\n", err)
		os.Exit(1)
	}
}

func run(addr string, n int, hold time.Duration) error {
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	held := make([]net.Conn, 0, 2*n)
	for i := range n {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			return fmt.Errorf("dial %d of %d: %w", i+1, n, err)
		}
		held = append(held, c)
	}
	for range n {
		select {
		case c := <-accepted:
			held = append(held, c)
		case <-time.After(30 * time.Second):
			return fmt.Errorf("only %d of %d accepted", len(held)-n, n)
		}
	}
	fmt.Println("ready")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	select {
	case <-stop:
	case <-time.After(hold):
	}
	// Unreachable conns get closed by their finalizers: keep them.
	runtime.KeepAlive(held)
	return nil
}
