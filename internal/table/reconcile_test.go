package table

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

var (
	sshd = sock{local: "0.0.0.0:22", remote: "0.0.0.0:0", inode: 700}
	// A connection older than socktrace: no event announced it.
	older = sock{local: "10.0.0.2:22", remote: "10.0.0.9:50000", inode: 701}
	// A client socktrace saw connect.
	known = sock{local: "10.0.0.1:40010", remote: "10.0.0.2:80", inode: 1010, pid: 100, comm: "curl"}
	// A server connection older than socktrace, closed around the first
	// snapshot, and a new one on its tuple.
	oldServed = sock{local: "10.0.0.2:80", remote: "10.0.0.1:40001", inode: 900, pid: 201, comm: "worker"}
	newServed = sock{local: "10.0.0.2:80", remote: "10.0.0.1:40001", inode: 901}
)

// Rows as show prints them.
const (
	sshdRow  = "0.0.0.0:22>0.0.0.0:0 LISTEN inode=700 q=0/0 owner=50/sshd"
	knownRow = "10.0.0.1:40010>10.0.0.2:80 ESTABLISHED inode=1010 q=3/4 owner=100/curl born=500ms"
)

// knownListed is the first prints of the scenarios with a long-lived
// connection: known from its connect, listed by two snapshots.
func knownListed() []print {
	listed := []snapshot.Socket{
		sshd.row(tcpstate.Listen, 700),
		withQueues(known.row(tcpstate.Established, 1010), 3, 4),
	}
	return []print{{
		events: []*tracer.Event{known.connect(500 * time.Millisecond)},
		rows:   listed,
		at:     2 * time.Second,
		live:   []string{sshdRow, knownRow},
		counts: Counts{Connects: 1},
	}, {
		rows: listed,
		at:   10 * time.Second,
		live: []string{sshdRow, knownRow},
	}}
}

// withQueues is a snapshot row with receive and send queues.
func withQueues(r snapshot.Socket, recvQ, sendQ uint64) snapshot.Socket {
	r.RecvQ, r.SendQ = recvQ, sendQ
	return r
}

// capture keeps the first gone row, for checks after it has been swept.
func capture(into **Conn) func(*testing.T, *Table) {
	return func(t *testing.T, tbl *Table) {
		g := tbl.Gone()
		if len(g) == 0 {
			t.Fatal("no gone row to keep")
		}
		*into = g[0]
	}
}

func TestReconcile(t *testing.T) {
	var healed *Conn
	tests := []struct {
		name   string
		seed   snapshot.Owners
		prints []print
	}{{
		name: "snapshot rows: owners from the seed, state and queues from the snapshot, its order, then newer rows",
		seed: seedOf(700, 50, "sshd"),
		prints: []print{{
			events: []*tracer.Event{
				known.connect(500 * time.Millisecond),
				// After the dump began: not in it, shown after its rows.
				client.connect(2100 * time.Millisecond),
			},
			rows: []snapshot.Socket{
				sshd.row(tcpstate.Listen, 700),
				withQueues(older.row(tcpstate.Established, 701), 10, 0),
				{Proto: snapshot.UDP, State: tcpstate.Close, Local: older.row(0, 0).Local, Inode: 702},
				withQueues(known.row(tcpstate.Established, 1010), 3, 4),
				// A socket that moved in the hash while the dump ran can
				// be listed twice.
				withQueues(older.row(tcpstate.Established, 701), 10, 0),
			},
			at: 2 * time.Second,
			live: []string{
				sshdRow,
				"10.0.0.2:22>10.0.0.9:50000 ESTABLISHED inode=701 q=10/0 owner=0/",
				knownRow,
				"10.0.0.1:40000>10.0.0.2:80 SYN_SENT inode=1001 q=0/0 owner=100/curl born=2.1s",
			},
			states: states{synSent: 1},
			counts: Counts{Connects: 2},
		}, {
			// The next snapshot lists them in another order and misses
			// the older connection: gone without a close event, or
			// skipped by the dump. It stays, after the listed rows, with
			// the last state and queues a snapshot gave it.
			rows: []snapshot.Socket{
				client.row(tcpstate.Established, 1001),
				withQueues(known.row(tcpstate.CloseWait, 1010), 1, 0),
				sshd.row(tcpstate.Listen, 700),
			},
			at: 3 * time.Second,
			live: []string{
				"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1001 q=0/0 owner=100/curl born=2.1s",
				"10.0.0.1:40010>10.0.0.2:80 CLOSE_WAIT inode=1010 q=1/0 owner=100/curl born=500ms",
				sshdRow,
				"10.0.0.2:22>10.0.0.9:50000 ESTABLISHED inode=701 q=10/0 owner=0/",
			},
		}, {
			// Missed twice in a row, with no event: healed, as no event
			// of it can still be on the way.
			rows: []snapshot.Socket{
				client.row(tcpstate.Established, 1001),
				withQueues(known.row(tcpstate.CloseWait, 1010), 1, 0),
				sshd.row(tcpstate.Listen, 700),
			},
			at: 4 * time.Second,
			live: []string{
				"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1001 q=0/0 owner=100/curl born=2.1s",
				"10.0.0.1:40010>10.0.0.2:80 CLOSE_WAIT inode=1010 q=1/0 owner=100/curl born=500ms",
				sshdRow,
			},
			gone:   []string{"10.0.0.2:22>10.0.0.9:50000 ESTABLISHED inode=701 q=10/0 owner=0/ gone=3s lived=0s healed"},
			counts: Counts{Healed: 1},
		}},
	}, {
		name: "start-up race: closed after the dump began, still listed: gone once, never live",
		prints: []print{{
			events: []*tracer.Event{oldServed.close(2100*time.Millisecond, tcpstate.LastAck, 0, 0)},
			rows:   []snapshot.Socket{oldServed.row(tcpstate.LastAck, 900)},
			at:     2 * time.Second,
			gone:   []string{"10.0.0.2:80>10.0.0.1:40001 LAST_ACK inode=900 q=0/0 owner=201/worker gone=2.1s lived=0s"},
			counts: Counts{Closes: 1},
		}, {
			at: 3 * time.Second,
		}},
	}, {
		name: "a row known from events, closed after the dump began and still listed",
		prints: []print{{
			events: []*tracer.Event{client.connect(1 * time.Second)},
			rows:   []snapshot.Socket{client.row(tcpstate.SynSent, 1001)},
			at:     1500 * time.Millisecond,
			live:   []string{clientSynSent},
			states: states{synSent: 1},
			counts: Counts{Connects: 1},
		}, {
			events: []*tracer.Event{client.close(2100*time.Millisecond, tcpstate.Established, syscall.ECONNRESET, 1100*time.Millisecond)},
			rows:   []snapshot.Socket{withQueues(client.row(tcpstate.Established, 1001), 5, 6)},
			at:     2 * time.Second,
			gone:   []string{clientEst + " gone=2.1s lived=1.1s err=ECONNRESET"},
			counts: Counts{Closes: 1},
		}, {
			at: 3 * time.Second,
		}},
	}, {
		name: "a tuple closed before the dump began and listed is a new connection",
		seed: seedOf(901, 202, "worker2"),
		prints: []print{{
			events: []*tracer.Event{oldServed.close(1900*time.Millisecond, tcpstate.LastAck, 0, 0)},
			rows:   []snapshot.Socket{newServed.row(tcpstate.Established, 901)},
			at:     2 * time.Second,
			live:   []string{"10.0.0.2:80>10.0.0.1:40001 ESTABLISHED inode=901 q=0/0 owner=202/worker2"},
			gone:   []string{"10.0.0.2:80>10.0.0.1:40001 LAST_ACK inode=900 q=0/0 owner=201/worker gone=1.9s lived=0s"},
			counts: Counts{Closes: 1},
		}, {
			rows: []snapshot.Socket{newServed.row(tcpstate.Established, 901)},
			at:   3 * time.Second,
			live: []string{"10.0.0.2:80>10.0.0.1:40001 ESTABLISHED inode=901 q=0/0 owner=202/worker2"},
		}},
	}, {
		name: "healing: a row missing from snapshots survives its newer round and one miss, then is healed; a late close completes it",
		prints: []print{{
			at: 500 * time.Millisecond,
		}, {
			events: []*tracer.Event{client.connect(1 * time.Second)},
			at:     2 * time.Second,
			// Newer than the previous snapshot: its close may be on the way.
			live:   []string{clientSynSent},
			states: states{synSent: 1},
			counts: Counts{Connects: 1},
		}, {
			// A first miss with no event since the previous snapshot:
			// the dump may have skipped it.
			at:     3 * time.Second,
			live:   []string{clientSynSent},
			states: states{synSent: 1},
		}, {
			at:     4 * time.Second,
			gone:   []string{clientSynSent + " gone=3s lived=2s healed"},
			counts: Counts{Healed: 1},
			then:   capture(&healed),
		}, {
			events: []*tracer.Event{client.close(3900*time.Millisecond, tcpstate.SynSent, syscall.ECONNREFUSED, 2900*time.Millisecond)},
			at:     5 * time.Second,
			then: func(t *testing.T, tbl *Table) {
				if got, want := show(healed), clientSynSent+" gone=3s lived=2s err=ECONNREFUSED healed"; got != want {
					t.Errorf("healed row after its late close:\n got %q\nwant %q", got, want)
				}
				if len(tbl.healed) != 0 {
					t.Errorf("healed rows waiting for a close: %d, want 0", len(tbl.healed))
				}
			},
		}, {
			at: 6 * time.Second,
		}},
	}, {
		name: "healing: a late TIME_WAIT end completes the healed row",
		prints: []print{{
			at: 500 * time.Millisecond,
		}, {
			events: []*tracer.Event{
				client.connect(1 * time.Second),
				client.timeWait(1500*time.Millisecond, tcpstate.FinWait2, 500*time.Millisecond),
			},
			at:     2 * time.Second,
			live:   []string{clientTW},
			states: states{timeWait: 1},
			counts: Counts{Connects: 1, Closes: 1},
		}, {
			// Missed once: kept.
			at:     3 * time.Second,
			live:   []string{clientTW},
			states: states{timeWait: 1},
		}, {
			at:     4 * time.Second,
			gone:   []string{clientTW + " gone=3s lived=2s healed"},
			counts: Counts{Healed: 1},
			then:   capture(&healed),
		}, {
			events: []*tracer.Event{client.timeWaitEnd(3900*time.Millisecond, true)},
			at:     5 * time.Second,
			then: func(t *testing.T, tbl *Table) {
				if got, want := show(healed), clientTW+" gone=3s lived=2s healed expired"; got != want {
					t.Errorf("healed row after its late TIME_WAIT end:\n got %q\nwant %q", got, want)
				}
				if len(tbl.healed) != 0 {
					t.Errorf("healed rows waiting for a close: %d, want 0", len(tbl.healed))
				}
			},
		}},
	}, {
		name: "healing: late events older than the healing are dropped, newer ones are a new row",
		prints: slices.Concat([]print{{at: 500 * time.Millisecond}}, clientHealed(), []print{{
			events: []*tracer.Event{
				client.timeWait(3900*time.Millisecond, tcpstate.FinWait2, 2900*time.Millisecond),
				client2.connect(4500 * time.Millisecond),
			},
			rows:   []snapshot.Socket{client2.row(tcpstate.SynSent, 1002)},
			at:     5 * time.Second,
			live:   []string{"10.0.0.1:40000>10.0.0.2:80 SYN_SENT inode=1002 q=0/0 owner=101/wget born=4.5s"},
			states: states{synSent: 1},
			counts: Counts{Connects: 1},
		}}),
	}, {
		name: "healing: a row with an event since the previous snapshot is kept",
		prints: []print{clientEstablished, {
			// Entered TIME_WAIT after the previous snapshot; this one
			// missed the timewait socket (it was being hashed).
			events: []*tracer.Event{client.timeWait(2500*time.Millisecond, tcpstate.FinWait2, 1500*time.Millisecond)},
			at:     3 * time.Second,
			live:   []string{clientTW},
			states: states{timeWait: 1},
			counts: Counts{Closes: 1},
		}, {
			rows:   []snapshot.Socket{client.row(tcpstate.TimeWait, 0)},
			at:     4 * time.Second,
			live:   []string{clientTW},
			states: states{timeWait: 1},
		}},
	}, {
		name: "healing: a long-lived row one snapshot skipped is not healed: it stays live and keeps its owner and birth",
		seed: seedOf(700, 50, "sshd"),
		prints: append(knownListed(), print{
			// The dump skipped it (its hash chain changed under the
			// dump); its last event is long before the previous
			// snapshot. It stays, after the listed rows, with its last
			// queues; the unlisted rows are in the order of their last
			// events, so the client newer than the previous snapshot
			// comes after it.
			events: []*tracer.Event{client.connect(19 * time.Second)},
			rows:   []snapshot.Socket{sshd.row(tcpstate.Listen, 700)},
			at:     20 * time.Second,
			live: []string{
				sshdRow,
				knownRow,
				"10.0.0.1:40000>10.0.0.2:80 SYN_SENT inode=1001 q=0/0 owner=100/curl born=19s",
			},
			states: states{synSent: 1},
			counts: Counts{Connects: 1},
		}, print{
			// Listed again: the same row, not one rebuilt from the
			// snapshot (that would have no owner and no birth).
			rows: []snapshot.Socket{
				sshd.row(tcpstate.Listen, 700),
				client.row(tcpstate.Established, 1001),
				withQueues(known.row(tcpstate.Established, 1010), 0, 1),
			},
			at: 30 * time.Second,
			live: []string{
				sshdRow,
				"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1001 q=0/0 owner=100/curl born=19s",
				"10.0.0.1:40010>10.0.0.2:80 ESTABLISHED inode=1010 q=0/1 owner=100/curl born=500ms",
			},
		}, print{
			// Being listed reset its misses: one more skip is again a
			// first miss, not a second.
			rows: []snapshot.Socket{
				sshd.row(tcpstate.Listen, 700),
				client.row(tcpstate.Established, 1001),
			},
			at: 40 * time.Second,
			live: []string{
				sshdRow,
				"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1001 q=0/0 owner=100/curl born=19s",
				"10.0.0.1:40010>10.0.0.2:80 ESTABLISHED inode=1010 q=0/1 owner=100/curl born=500ms",
			},
		}, print{
			rows: []snapshot.Socket{
				sshd.row(tcpstate.Listen, 700),
				client.row(tcpstate.Established, 1001),
				withQueues(known.row(tcpstate.Established, 1010), 0, 1),
			},
			at: 50 * time.Second,
			live: []string{
				sshdRow,
				"10.0.0.1:40000>10.0.0.2:80 ESTABLISHED inode=1001 q=0/0 owner=100/curl born=19s",
				"10.0.0.1:40010>10.0.0.2:80 ESTABLISHED inode=1010 q=0/1 owner=100/curl born=500ms",
			},
		}),
	}, {
		name: "healing: a long-lived row two snapshots in a row missed is healed, with its owner and birth",
		seed: seedOf(700, 50, "sshd"),
		prints: append(knownListed(), print{
			// Its close was lost. First miss: kept.
			rows: []snapshot.Socket{sshd.row(tcpstate.Listen, 700)},
			at:   20 * time.Second,
			live: []string{sshdRow, knownRow},
		}, print{
			// Second miss in a row, no event since: healed.
			rows:   []snapshot.Socket{sshd.row(tcpstate.Listen, 700)},
			at:     30 * time.Second,
			live:   []string{sshdRow},
			gone:   []string{knownRow + " gone=20s lived=19.5s healed"},
			counts: Counts{Healed: 1},
		}, print{
			// It waits one interval for a close that was late rather
			// than lost, then is forgotten.
			rows: []snapshot.Socket{sshd.row(tcpstate.Listen, 700)},
			at:   40 * time.Second,
			live: []string{sshdRow},
			then: func(t *testing.T, tbl *Table) {
				if len(tbl.healed) != 1 {
					t.Errorf("healed rows waiting for a close: %d, want 1", len(tbl.healed))
				}
			},
		}, print{
			rows: []snapshot.Socket{sshd.row(tcpstate.Listen, 700)},
			at:   50 * time.Second,
			live: []string{sshdRow},
			then: func(t *testing.T, tbl *Table) {
				if len(tbl.healed) != 0 {
					t.Errorf("healed rows waiting for a close: %d, want 0", len(tbl.healed))
				}
			},
		}),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, New(Config{Seed: tt.seed, ProcRoot: t.TempDir()}), tt.prints)
		})
		t.Run(tt.name+", TIME_WAIT apart", func(t *testing.T) {
			runApart(t, New(Config{Seed: tt.seed, ProcRoot: t.TempDir()}), tt.prints)
		})
	}
}

// Between full snapshots the table's rows are looked up by tuple, and of the
// TIME_WAIT pile only the rows awaiting the peer's FIN: the rest is checked
// by the full ones only.
func TestReconcileLookups(t *testing.T) {
	const tw = "10.0.0.1:40000>10.0.0.2:80 TIME_WAIT inode=0 q=0/0 owner=100/curl born=1s"
	tests := []struct {
		name   string
		prints []print
	}{{
		name: "a pile row is healed by two full snapshots that miss it, not by lookups",
		prints: []print{{
			events: []*tracer.Event{client.connect(1 * time.Second), client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second)},
			rows:   []snapshot.Socket{client.row(tcpstate.TimeWait, 0)},
			at:     3 * time.Second,
			live:   []string{tw},
			states: states{timeWait: 1},
			counts: Counts{Connects: 1, Closes: 1},
		}, {
			lookup: true, at: 4 * time.Second,
			live: []string{tw}, states: states{timeWait: 1},
		}, {
			at:   5 * time.Second, // the first full miss
			live: []string{tw}, states: states{timeWait: 1},
		}, {
			lookup: true, at: 6 * time.Second,
			live: []string{tw}, states: states{timeWait: 1},
		}, {
			at:     7 * time.Second,
			gone:   []string{"10.0.0.1:40000>10.0.0.2:80 TIME_WAIT inode=0 q=0/0 owner=100/curl born=1s gone=5s lived=4s healed"},
			counts: Counts{Healed: 1},
		}},
	}, {
		name: "a lookup finds a connection in TIME_WAIT: its entry was lost",
		prints: []print{{
			events: []*tracer.Event{client.connect(1 * time.Second)},
			rows:   []snapshot.Socket{client.row(tcpstate.Established, 1001)},
			at:     2 * time.Second,
			live:   []string{clientEst},
			counts: Counts{Connects: 1},
			then: func(t *testing.T, tbl *Table) {
				if got := tbl.Lookups(nil); len(got) != 1 || got[0].Inode != 1001 {
					t.Errorf("Lookups() = %+v, want the client's row", got)
				}
			},
		}, {
			lookup: true,
			rows:   []snapshot.Socket{listener.row(tcpstate.Listen, 500), client.row(tcpstate.TimeWait, 0)},
			at:     3 * time.Second,
			live: []string{
				"10.0.0.2:80>0.0.0.0:0 LISTEN inode=500 q=0/0 owner=0/",
				"10.0.0.1:40000>10.0.0.2:80 TIME_WAIT inode=0 q=0/0 owner=100/curl born=1s",
			},
			states: states{timeWait: 1},
			then: func(t *testing.T, tbl *Table) {
				// Neither listeners nor pile rows in TIME_WAIT
				// are looked up.
				if got := tbl.Lookups(nil); len(got) != 0 {
					t.Errorf("Lookups() = %+v, want none", got)
				}
			},
		}},
	}, {
		name: "a row awaiting the peer's FIN is looked up until a lookup finds it in TIME_WAIT",
		prints: []print{{
			events: []*tracer.Event{client.connect(1 * time.Second),
				awaitingFin(client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second))},
			lookup: true, at: 3 * time.Second,
			live:   []string{clientFW2},
			states: states{},
			counts: Counts{Connects: 1, Closes: 1},
			then:   asks(client.row(tcpstate.FinWait2, 0)),
		}, {
			// The peer, on another host, has not closed yet.
			rows:   []snapshot.Socket{client.row(tcpstate.FinWait2, 0)},
			lookup: true, at: 4 * time.Second,
			live:   []string{clientFW2},
			states: states{},
			then:   asks(client.row(tcpstate.FinWait2, 0)),
		}, {
			// Its FIN came at 4.5 s: the timer restarted then.
			rows:   []snapshot.Socket{timerOf(client.row(tcpstate.TimeWait, 0), 5950)},
			lookup: true, at: 5 * time.Second,
			live:   []string{clientTW},
			states: states{timeWait: 1},
			then: func(t *testing.T, tbl *Table) {
				asks()(t, tbl)
				timerLeft(at(5*time.Second), 5950)(t, tbl)
			},
		}},
	}, {
		name: "a row awaiting the peer's FIN that two lookups miss is healed",
		prints: []print{awaitingFinPrint, {
			lookup: true, at: 4 * time.Second,
			live:   []string{clientFW2},
			states: states{},
		}, {
			lookup: true, at: 5 * time.Second,
			gone:   []string{clientFW2 + " gone=4s lived=3s healed"},
			counts: Counts{Healed: 1},
		}},
	}, {
		name: "a lookup that misses a connection twice heals it",
		prints: []print{clientEstablished, {
			lookup: true, at: 3 * time.Second,
			live: []string{clientEst},
		}, {
			lookup: true, at: 4 * time.Second,
			gone:   []string{clientEst + " gone=3s lived=2s healed"},
			counts: Counts{Healed: 1},
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, New(Config{ProcRoot: t.TempDir()}), tt.prints)
		})
	}
}

// asks checks that Lookups asks for the tuples of rows, in order.
func asks(rows ...snapshot.Socket) func(*testing.T, *Table) {
	return func(t *testing.T, tbl *Table) {
		t.Helper()
		got := tbl.Lookups(nil)
		if len(got) != len(rows) {
			t.Fatalf("Lookups() asks for %d sockets, want %d: %+v", len(got), len(rows), got)
		}
		for i, r := range rows {
			if socketKey(&got[i]) != socketKey(&r) {
				t.Errorf("Lookups()[%d] = %v > %v, want %v > %v", i, got[i].Local, got[i].Remote, r.Local, r.Remote)
			}
		}
	}
}

// More rows awaiting the peer's FIN than one snapshot looks up take turns:
// each is asked for within two snapshots, and those whose FIN came (the
// peer on this host closed) are asked for no more.
func TestPileLookupsTakeTurns(t *testing.T) {
	tbl := New(Config{ProcRoot: t.TempDir()})
	const n = maxPileLookups + 100
	conn := func(i int) sock {
		return sock{local: fmt.Sprintf("10.0.%d.%d:40000", i/250, 1+i%250), remote: "10.0.0.254:80", pid: 100, comm: "curl"}
	}
	for i := range n {
		c := conn(i)
		tbl.Apply(c.connect(time.Second))
		tbl.Apply(awaitingFin(c.timeWait(2*time.Second, tcpstate.FinWait2, time.Second)))
	}
	asked := map[string]int{}
	for range 2 {
		got := tbl.Lookups(nil)
		if len(got) != maxPileLookups {
			t.Fatalf("Lookups() asks for %d sockets, want %d", len(got), maxPileLookups)
		}
		for _, q := range got {
			asked[q.Local.String()]++
		}
	}
	for i := range n {
		if a := conn(i).local; asked[a] == 0 {
			t.Fatalf("%s not asked for in two snapshots", a)
		}
	}
	// The peers of the even rows, on this host, got the ACK of their FIN.
	finCame := map[string]bool{}
	for i := 0; i < n; i += 2 {
		c := conn(i)
		peer := sock{local: c.remote, remote: c.local, inode: 3000, pid: 201, comm: "worker"}
		tbl.Apply(peer.close(3*time.Second, tcpstate.LastAck, 0, 0))
		finCame[c.local] = true
	}
	got := tbl.Lookups(nil)
	if len(got) != n/2 {
		t.Fatalf("Lookups() asks for %d sockets after half got the FIN, want %d", len(got), n/2)
	}
	for _, q := range got {
		if finCame[q.Local.String()] {
			t.Errorf("Lookups() asks for %v, which got the peer's FIN", q.Local)
		}
	}
}

// A TIME_WAIT row whose end event was lost is looked up once its timewait
// socket has surely ended, and healed when two snapshots in a row miss it,
// without waiting for two full ones.
func TestOverdueTimeWaitLookups(t *testing.T) {
	type step struct {
		at     time.Duration
		rows   []snapshot.Socket // what the lookups found
		asked  int
		live   []string
		gone   []string
		healed uint64
		timer  uint64 // if set, the ticks the row's timer has left (-o)
	}
	tests := []struct {
		name  string
		steps []step
	}{{
		name: "its end was lost",
		steps: []step{
			{at: 3 * time.Second, live: []string{clientTW}},
			// Its timer may still be running, a little late.
			{at: 70 * time.Second, live: []string{clientTW}},
			{at: 72 * time.Second, asked: 1, live: []string{clientTW}}, // first miss
			{at: 73 * time.Second, asked: 1, gone: []string{clientTW + " gone=1m12s lived=1m11s healed"}, healed: 1},
			{at: 74 * time.Second},
		},
	}, {
		name: "a retransmitted FIN restarted its timer",
		steps: []step{
			{at: 3 * time.Second, live: []string{clientTW}},
			// 50 s left: restarted at 62 s.
			{at: 72 * time.Second, rows: []snapshot.Socket{timerOf(client.row(tcpstate.TimeWait, 0), 5000)}, asked: 1, live: []string{clientTW}},
			{at: 73 * time.Second, live: []string{clientTW}, timer: 4900},
			{at: 131 * time.Second, live: []string{clientTW}},
			{at: 132 * time.Second, asked: 1, live: []string{clientTW}}, // first miss
			{at: 133 * time.Second, asked: 1, gone: []string{clientTW + " gone=2m12s lived=2m11s healed"}, healed: 1},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := New(Config{ProcRoot: t.TempDir()})
			tbl.Apply(client.connect(time.Second))
			tbl.Apply(client.timeWait(2*time.Second, tcpstate.FinWait2, time.Second))
			for _, s := range tt.steps {
				tbl.SnapshotBegins(at(s.at))
				asked := tbl.Lookups(nil)
				tbl.Reconcile(s.rows, nil, at(s.at), false)
				where := fmt.Sprintf("lookup at %v", s.at)
				if len(asked) != s.asked {
					t.Errorf("%s: Lookups() asks for %d sockets, want %d", where, len(asked), s.asked)
				}
				if got := shows(liveRows(tbl)); !slices.Equal(got, orEmpty(s.live)) {
					t.Errorf("%s: live rows\n got %q\nwant %q", where, got, s.live)
				}
				if got := shows(goneRows(tbl)); !slices.Equal(got, orEmpty(s.gone)) {
					t.Errorf("%s: gone rows\n got %q\nwant %q", where, got, s.gone)
				}
				if got := tbl.Counts().Healed; got != s.healed {
					t.Errorf("%s: %d healed, want %d", where, got, s.healed)
				}
				if s.timer != 0 {
					timerLeft(at(s.at), s.timer)(t, tbl)
				}
				tbl.Sweep(at(s.at), 0)
			}
		})
	}
}
