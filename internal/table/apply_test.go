package table

import (
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

// TestRaces covers event orders that only churn produces: a snapshot read
// just before an event, a tuple reused right after a row was healed, and
// accept() returning a socket the peer already reset.
func TestRaces(t *testing.T) {
	// The child socket the listener's process sees its close event for
	// (the tracer gives a child its listener's owner until accept).
	reset := sock{local: "10.0.0.2:80", remote: "10.0.0.1:40001", pid: 200, comm: "nginx"}
	tests := []struct {
		name   string
		seed   snapshot.Owners
		prints []print
	}{{
		name: "a snapshot read before the TIME_WAIT entry does not undo it",
		prints: []print{{
			events: []*tracer.Event{client.connect(1 * time.Second)},
			rows:   []snapshot.Socket{client.row(tcpstate.Established, 1001)},
			at:     1500 * time.Millisecond,
			live:   []string{clientEst},
			counts: Counts{Connects: 1},
		}, {
			// The dump began at 2s and read the full socket, still in
			// FIN_WAIT2 with its file, before it went at 2.1s.
			events: []*tracer.Event{client.timeWait(2100*time.Millisecond, tcpstate.FinWait2, 1100*time.Millisecond)},
			rows:   []snapshot.Socket{client.row(tcpstate.FinWait2, 1001)},
			at:     2 * time.Second,
			live:   []string{clientTW},
			states: states{timeWait: 1},
			counts: Counts{Closes: 1},
		}, {
			// A new connect reuses the tuple: the kernel kills the
			// timewait socket, then sends the connect.
			events: []*tracer.Event{
				client.timeWaitEnd(2500*time.Millisecond+time.Microsecond, false),
				client2.connect(2500 * time.Millisecond),
			},
			rows:   []snapshot.Socket{client2.row(tcpstate.Established, 1002)},
			at:     3 * time.Second,
			live:   []string{"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1002 q=0/0 owner=101/wget born=2.5s"},
			gone:   []string{clientTW + " gone=2.500001s lived=1.500001s"},
			counts: Counts{Connects: 1},
		}},
	}, {
		name: "a connect with another inode on a live tuple: the old row's close was lost",
		prints: []print{clientEstablished, {
			events: []*tracer.Event{client2.connect(2500 * time.Millisecond)},
			rows:   []snapshot.Socket{client2.row(tcpstate.Established, 1002)},
			at:     3 * time.Second,
			live:   []string{"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1002 q=0/0 owner=101/wget born=2.5s"},
			gone:   []string{clientEst + " gone=2.5s lived=1.5s healed"},
			counts: Counts{Connects: 1, Healed: 1},
		}},
	}, {
		name: "a close after healing belongs to the new connection on the tuple",
		prints: append(clientHealed(), print{
			events: []*tracer.Event{
				client2.connect(4200 * time.Millisecond),
				client2.close(4800*time.Millisecond, tcpstate.Established, syscall.ECONNRESET, 600*time.Millisecond),
			},
			at:     5 * time.Second,
			gone:   []string{"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1002 q=0/0 owner=101/wget born=4.2s gone=4.8s lived=600ms err=ECONNRESET"},
			counts: Counts{Connects: 1, Closes: 1},
		}, print{at: 6 * time.Second}),
	}, {
		name: "a TIME_WAIT end after healing belongs to the new connection on the tuple",
		prints: append(clientHealed(), print{
			events: []*tracer.Event{
				client2.connect(4200 * time.Millisecond),
				client2.timeWait(4500*time.Millisecond, tcpstate.FinWait2, 300*time.Millisecond),
				client2.timeWaitEnd(4800*time.Millisecond, false),
			},
			at:     5 * time.Second,
			gone:   []string{"10.0.0.1:40000>10.0.0.2:80 TIME_WAIT inode=0 q=0/0 owner=101/wget born=4.2s gone=4.8s lived=600ms"},
			counts: Counts{Connects: 1, Closes: 1},
		}, print{at: 6 * time.Second}),
	}, {
		name: "accept of a socket the peer reset first: one gone row, the accepting owner",
		seed: seedOf(500, 200, "nginx"),
		prints: []print{listenerAt(1 * time.Second), {
			events: []*tracer.Event{
				// Reset in the accept queue: no file yet.
				reset.close(1500*time.Millisecond, tcpstate.Established, syscall.ECONNRESET, 100*time.Millisecond),
				served.accept(1600*time.Millisecond, tcpstate.Close),
			},
			rows:   []snapshot.Socket{listener.row(tcpstate.Listen, 500)},
			at:     2 * time.Second,
			live:   []string{listenerRow},
			gone:   []string{"10.0.0.2:80>10.0.0.1:40001 ESTABLISHED inode=0 q=0/0 owner=201/worker born=1.4s gone=1.5s lived=100ms err=ECONNRESET"},
			counts: Counts{Accepts: 1, Closes: 1},
		}, listenerAt(3 * time.Second)},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, New(Config{Seed: tt.seed, ProcRoot: t.TempDir()}), tt.prints)
		})
	}
}
