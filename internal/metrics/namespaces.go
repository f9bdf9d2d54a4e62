package metrics

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/internal/netns"
	"github.com/socktrace/socktrace/snapshot"
)

// healEvery is how often the connections of the other network namespaces
// are healed. A scrape heals only serve's own namespace's: a dump of
// another walks, like every dump, the established hash all namespaces
// share (unless net.ipv4.tcp_child_ehash_entries gave one its own), so a
// dump per namespace at each scrape would walk it once per pod.
const healEvery = 30 * time.Second

// maxRoundNamespaces bounds the namespaces one round reads, and with them
// the round's work: a dump each, and one scan of /proc for those whose
// owner left. The others wait for a later round; map order picks which.
const maxRoundNamespaces = 128

// otherHealer heals the lost closes of connections in network namespaces
// other than serve's own, in rounds run by one goroutine (HealNamespaces).
// A round reads the table of each namespace holding a connection neither
// an event nor the last round's table has seen since the last round, and
// judges its connections as a scrape judges those of serve's namespace.
// A namespace no process is in any more holds no process's connection: it
// counts as an empty table.
type otherHealer struct {
	open     *openConns
	healed   prometheus.Counter
	own      uint32
	clock    func() time.Time
	procRoot string
	began    time.Time // when the last round began, by the events' clock
	round    uint32    // the last round's id, as openConn.seen holds it; 0: none yet
	// noSetns: entering a namespace was refused (no CAP_SYS_ADMIN, as
	// in the DaemonSet), so tables are read from /proc/PID/net instead,
	// which lists TIME_WAIT too and is slower, but needs no capability.
	noSetns bool
	rows    []snapshot.Socket
}

// HealNamespaces heals the lost closes of the other network namespaces'
// connections every healEvery until ctx ends. serve runs it when it
// traces every namespace.
func (m *Metrics) HealNamespaces(ctx context.Context) {
	every(ctx, healEvery, func() { m.others.heal(ctx) })
}

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// heal is one round.
func (h *otherHealer) heal(ctx context.Context) {
	began := h.clock()
	want := h.open.quiet(h.own, h.began, h.round, maxRoundNamespaces)
	h.began = began
	h.round++
	if h.round == 0 {
		h.round = 1 // 0 is no round
	}
	dirs := h.find(want)
	files := make(map[uint32]string, len(want))
	rest := map[uint32]bool{}
	for ns := range want {
		if d, ok := dirs[ns]; ok {
			files[ns] = filepath.Join(d, "ns", "net")
		} else {
			rest[ns] = true
		}
	}
	// A namespace no process is in, and that ip netns does not keep
	// either, is gone, and its sockets with it: an empty table. One it
	// keeps is read through its file, or waits.
	named := netns.Named(rest)
	read := make(map[uint32]bool, len(want))
	for ns := range rest {
		if f, ok := named[ns]; ok {
			files[ns] = f
		} else {
			read[ns] = true
		}
	}
	h.dump(ctx, files, dirs, read)
	h.open.judgeRound(read, h.round, began, h.healed)
}

// find returns the /proc directory of a process in each namespace of
// want: the owner recorded with a connection, if it is still there, else
// one a scan of /proc finds.
func (h *otherHealer) find(want map[uint32]uint32) map[uint32]string {
	dirs := make(map[uint32]string, len(want))
	rest := map[uint32]bool{}
	for ns, pid := range want {
		if d := netns.ProcDir(h.procRoot, pid); pid != 0 && netns.Of(d) == ns {
			dirs[ns] = d
		} else {
			rest[ns] = true
		}
	}
	if len(rest) > 0 {
		for ns, d := range netns.Find(h.procRoot, rest) {
			dirs[ns] = d
		}
	}
	return dirs
}

// dump reads the table of each namespace of files (its namespace file),
// or of dirs (a /proc/PID of a process in it) when it may not enter them,
// marks the connections it holds, and notes in read the namespaces it
// read.
func (h *otherHealer) dump(ctx context.Context, files, dirs map[uint32]string, read map[uint32]bool) {
	if !h.noSetns {
		_ = netns.InThread(func() error {
			for ns, file := range files {
				if ctx.Err() != nil {
					return nil
				}
				err := netns.Enter(file, ns)
				// setns wants CAP_SYS_ADMIN, opening another's namespace
				// file CAP_SYS_PTRACE; /proc/PID/net wants neither.
				if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
					h.noSetns = true
					return nil
				}
				if err == nil {
					h.rows, err = snapshot.Diag{States: liveStates}.ReadInet(snapshot.TCP, snapshot.IPv4|snapshot.IPv6, h.rows[:0])
				}
				if err == nil {
					h.open.mark(ns, h.rows, h.round)
					read[ns] = true
				}
			}
			return nil
		})
	}
	if !h.noSetns {
		return
	}
	for ns, dir := range dirs {
		if read[ns] || ctx.Err() != nil {
			continue
		}
		var err error
		h.rows, err = snapshot.ReadInet(filepath.Join(dir, "net"), snapshot.TCP, snapshot.IPv4|snapshot.IPv6, h.rows[:0])
		// The process may have ended during the read, and its pid
		// been reused in another namespace.
		if err == nil && netns.Of(dir) == ns {
			h.open.mark(ns, h.rows, h.round)
			read[ns] = true
		}
	}
}

// quiet returns up to limit namespaces other than own that hold a
// connection with no event since since, not in round last's table, each
// with the owner of one of its connections (0 when none is known).
func (o *openConns) quiet(own uint32, since time.Time, last uint32, limit int) map[uint32]uint32 {
	at := since.UnixNano()
	want := map[uint32]uint32{}
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, c := range o.conns {
		if k.netns == own || c.last >= at || last != 0 && c.seen == last {
			continue
		}
		pid, ok := want[k.netns]
		if !ok && len(want) >= limit {
			continue
		}
		if pid == 0 {
			want[k.netns] = c.pid
		}
	}
	return want
}

// mark notes the connections of namespace netns its table rows hold, as
// seen in round id.
func (o *openConns) mark(netns uint32, rows []snapshot.Socket, id uint32) {
	o.mu.Lock()
	o.markLocked(netns, rows, id)
	o.mu.Unlock()
}

// judgeRound judges the connections of the namespaces round id read (or
// found no process in), begun at began.
func (o *openConns) judgeRound(read map[uint32]bool, id uint32, began time.Time, healed prometheus.Counter) {
	if len(read) == 0 {
		return
	}
	at := began.UnixNano()
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, c := range o.conns {
		if read[k.netns] {
			o.judge(k, c, c.seen == id, at, healed)
		}
	}
}
