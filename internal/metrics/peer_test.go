package metrics

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/nstest"
)

func TestMain(m *testing.M) {
	nstest.RunPeer(map[string]func([]string) error{
		"pile-server": runPileServer,
		"pile-client": runPileClient,
	})
	os.Exit(m.Run())
}

// runPileServer listens on 0.0.0.0 and [::1], where it reads each
// connection to its end and closes it when told ("close N": the next N to
// end), and on 127.0.0.1, where it never reads or closes one. It prints
// the three ports, then CLOSED after each close, and serves until its
// stdin ends.
//
// The close waits for the test because of a kernel race: a FIN that
// arrives while the client's end turns into a timewait socket (its own FIN
// just acknowledged) can miss both in the lookup and meet the listener,
// which answers with a reset that ends the connection without TIME_WAIT.
func runPileServer([]string) error {
	ended := make(chan net.Conn)
	closer := func(c net.Conn) {
		_, _ = io.Copy(io.Discard, c)
		ended <- c
	}
	var held []net.Conn // never closed: the server's end stays in CLOSE_WAIT
	var mu sync.Mutex
	holder := func(c net.Conn) {
		mu.Lock()
		held = append(held, c)
		mu.Unlock()
	}
	var ports []any
	for _, l := range []struct {
		network, addr string
		fn            func(net.Conn)
	}{{"tcp4", "0.0.0.0:0", closer}, {"tcp6", "[::1]:0", closer}, {"tcp4", "127.0.0.1:0", holder}} {
		ln, err := net.Listen(l.network, l.addr)
		if err != nil {
			return err
		}
		go serveEach(ln, l.fn)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	fmt.Println(append([]any{"PORTS"}, ports...)...)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "close %d", &n); err != nil {
			return err
		}
		for range n {
			(<-ended).Close()
		}
		fmt.Println("CLOSED")
	}
	return nil
}

func serveEach(ln net.Listener, fn func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go fn(c)
	}
}

// pileBatch bounds the connections the pile server holds open at once
// (the test's limit of open files is 20,000).
const pileBatch = 5000

// runPileClient makes a pile (see pile.args) against runPileServer's
// ports. The connections the server is to close come in batches: after
// each it prints CLOSED and the batch's size, and waits for a line. Then
// it prints DONE and holds its sockets until its stdin ends.
func runPileClient(args []string) error {
	if len(args) != 8 {
		return fmt.Errorf("want 3 ports and 5 counts, got %q", args)
	}
	var n [8]int
	for i, a := range args {
		v, err := strconv.Atoi(a)
		if err != nil {
			return err
		}
		n[i] = v
	}
	// A connect's local port must make a unique 4-tuple: a pile of many
	// thousands to one address and port would leave connect searching
	// the port range each time. Spread over 127.0.0.0/8, each address
	// has a few.
	close4 := func(i int) string { return fmt.Sprintf("127.0.0.%d:%d", 1+i%16, n[0]) }
	close6 := func(int) string { return net.JoinHostPort("::1", strconv.Itoa(n[1])) }
	hold := func(int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n[2])) }
	in := bufio.NewReader(os.Stdin)
	var kept []net.Conn // open to the end
	for _, step := range []struct {
		addr  func(i int) string
		count int
		end   func(*net.TCPConn) error
		batch bool // the server closes its ends
		keep  bool
	}{
		{close4, n[3], (*net.TCPConn).Close, true, false},
		{close6, n[4], (*net.TCPConn).Close, true, false},
		{hold, n[5], (*net.TCPConn).Close, false, false},
		{hold, n[6], (*net.TCPConn).CloseWrite, false, true},
		{hold, n[7], func(*net.TCPConn) error { return nil }, false, true},
	} {
		for i := range step.count {
			c, err := net.DialTimeout("tcp", step.addr(i), 5*time.Second)
			if err != nil {
				return err
			}
			if err := step.end(c.(*net.TCPConn)); err != nil {
				return err
			}
			if step.keep {
				kept = append(kept, c)
			}
			if done := i + 1; step.batch && (done%pileBatch == 0 || done == step.count) {
				fmt.Println("CLOSED", (done-1)%pileBatch+1)
				_, _ = in.ReadString('\n')
			}
		}
	}
	fmt.Println("DONE")
	_, _ = in.ReadString('\n')
	// Held to here: a socket no longer referenced is closed by its
	// finalizer.
	for _, c := range kept {
		c.Close()
	}
	return nil
}
