package main

import "github.com/socktrace/socktrace/internal/top"

// topHelp is the top command's long help: what a row is, each column, and
// the --json fields.
func topHelp() string {
	return `Count what the kernel does with TCP connections on this host and show it,
every interval, summed up per process and peer: who opens connections, to
where, and how they end (refused, timed out, reset, piling up in
TIME_WAIT). On a terminal the table is redrawn in place (q or Ctrl-C
quits); otherwise each interval's table is printed in turn.

A row groups sockets by --by (default process,remote):
  process      the owning process: PID and COMM ("-" when not known),
               and the CONTAINER it runs in
  comm         the process name: every process of that name
  remote       the peer's address:port
  remote-port  the peer's port, any address
  local-port   the local port: a server's service
  container    where the process runs: its container, pod or systemd
               unit (as trace --json names it), all its processes in
               one row; "-" for those in none
A port in the ephemeral range (net.ipv4.ip_local_port_range, the
ports connect() picks) is shown as "*": a server's clients from one
address make one row. Past --max-keys rows, events are counted in the
row "other", and the header line says how many.

Columns (rates per second of the interval, except where said):
  CONN/s     connects (CLOSE->SYN_SENT)
  ACC/s      connections accept()ed
  FAIL/s     connects that failed; REASONS the two most frequent errors
             (ECONNREFUSED, ETIMEDOUT, ...; "aborted" when the process
             closed the socket before any answer)
  RST-OUT/s  resets the kernel sent for the row's sockets (on a row of
             no process, "-": for packets no socket took, such as a SYN
             to a closed port)
  RST-IN/s   resets received
  RETX/s     segments sent again
  SYN_SENT   sockets of the row connecting now
  SYN_RECV   half-open connections to the row's listeners now (the
             final ACK of the handshake not come), read from the socket
             table of socktrace's own network namespace each interval:
             no kernel event reports them
  TIME_WAIT  sockets of the row in TIME_WAIT now (of those that entered it
             since top started)
  CONN-P50, CONN-P99  connect latency (SYN_SENT to ESTABLISHED) of the
             connects established in the interval: median and 99th
             percentile, to within 1/8
  LIFE-P50, LIFE-P99  lifetime of the connections that ended
  RECV/s, SENT/s  data bytes of the connections that ended
Names a terminal could act on are escaped (\xNN).

--sort takes a column, by its JSON name (- or _ between words):
` + wrapList(top.ColumnNames(), "  ", 78) + `

--json prints, each interval, one object per row with the fields:
  interval_end (RFC 3339, UTC, in ns), pid, comm, container (where the
  process runs, "" when in none), remote (addr:port, port "*" when
  ephemeral), local_port (0 when ephemeral or several), connects,
  accepts, failed (an object: reason -> count), resets_sent,
  resets_received, retransmits, syn_sent, syn_recv, time_wait,
  connect_p50_us, connect_p99_us, lifetime_p50_us, lifetime_p99_us (null
  when none), bytes_sent, bytes_received: counts for the interval, not
  rates. A field the rows are not grouped by is null; the other row has
  "other": true.
Then one object {"summary": true, ...} with interval_end, interval_ns, by,
the host's totals (connects, accepts, failed, resets_sent,
resets_received, retransmits, syn_sent, syn_recv, time_wait), lost (events the
kernel could not deliver), other_events, untracked and rows.

` + filterHelp + `
  As in trace: a state word matches a transition from or to the state;
  the kernel tests addresses, ports, states, owners and namespaces
  before it sends an event, and the rows count only what passes.`
}
