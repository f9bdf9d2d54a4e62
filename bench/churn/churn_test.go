package churn

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestChurnCountsEveryConnection(t *testing.T) {
	const n = 200
	runChurn(t, n, false, Stats{Accepted: n, Closed: n})
}

// With Reset, every connection is aborted by the client: the server reads
// ECONNRESET for each.
func TestChurnResetsEveryConnection(t *testing.T) {
	const n = 200
	runChurn(t, n, true, Stats{Accepted: n, Reset: n})
}

// runChurn makes n connections to a loopback server, each aborted when
// reset, and checks that every one succeeded and that the server counted
// want.
func runChurn(t *testing.T, n int64, reset bool, want Stats) {
	t.Helper()
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	srv, err := Listen(ServerConfig{Addrs: addrs, Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Serve()

	res, err := RunClients(context.Background(), ClientConfig{
		Addrs: addrs, Port: srv.Port(), Clients: 4,
		Duration: 10 * time.Second, MaxConns: n, Reset: reset,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Conns != n || res.Failed != 0 {
		t.Fatalf("client: %d connections, %d failed (first error %v); want %d, 0", res.Conns, res.Failed, res.FirstErr, n)
	}

	// The server's side of each close follows the client's FIN or reset
	// asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats() != want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := srv.Stats(); st != want {
		t.Fatalf("server: %+v, want %+v", st, want)
	}
}

func TestRunClientsNeedsABound(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	if _, err := RunClients(context.Background(), ClientConfig{Addrs: addrs, Port: 1}); err == nil {
		t.Fatal("RunClients with no duration succeeded, want an error")
	}
}
