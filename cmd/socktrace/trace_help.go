package main

import (
	"strings"

	"github.com/socktrace/socktrace/tcpstate"
)

// traceHelp is the trace command's long help: what each event and column
// means, the --state names, and the --json fields (docs/DESIGN.md's JSON
// contract, plus the detail fields).
func traceHelp() string {
	return `Stream every TCP state change on this host, from the kernel, one line per
event, and every reset and retransmit. Every event is attributed to the
process that owns the socket, also when the kernel handles it in softirq on
behalf of nobody in particular.

Events (the "event" field of --json):
  connect       a socket starts connecting: CLOSE->SYN_SENT
  accept        accept() handed a connection to a process
  state         any other state change, e.g. SYN_SENT->ESTABLISHED, or the
                entry into TIME_WAIT, which ends the socket of the side that
                closed first and so carries its close summary
  close         the socket reached CLOSE; failed connects say why
                (ECONNREFUSED, ETIMEDOUT, ...)
  timewait_end  a TIME_WAIT socket is gone: its timer expired, or the
                kernel reused or killed it
  reset_sent    the kernel sent a RST: for a socket (an abort such as
                close() with SO_LINGER 0, a timewait socket's answer), or
                for a packet no socket took (a connect to a closed port;
                no owner, no state)
  reset_received  a RST came in for the socket; in SYN_SENT, a refused
                connect
  retransmit    the socket sent a segment (or its SYN) again
  lost          the kernel had to drop events: counted on stderr, as an
                event only with --json; the total is printed at exit

Columns:
  TIME        local time of the event, to the microsecond
  PID         the process that owns the socket, "-" when not known
  COMM        its name, as in /proc/PID/comm; characters a terminal could
              act on are escaped (\xNN), and a name wider than the column
              is cut, with "+" at its end (--json has it whole)
  CONTAINER   with -e: where the owner runs, from its cgroup: a Kubernetes
              pod (namespace/name from /var/log/pods, else its UID), a
              container (docker:, containerd:, cri-o: or podman: and the
              id's first 12 digits), else its systemd unit (nginx.service);
              "-" when not known; escaped as COMM
  PROTO       tcp or tcp6
  LOCAL       local address:port, numeric
  REMOTE      remote address:port, numeric; port "*" for a listener
  TRANSITION  OLD->NEW state (netstat's names), or the event: "accept",
              "reset_sent", "reset_received", "retransmit"
  DETAIL      for a reset sent, why, by the running kernel's name
              (NO_SOCKET, TCP_STATE, ...); for a reset or retransmit, "in"
              the socket's state; else the error, if any (ECONNREFUSED,
              ECONNRESET, ...); "after" the time spent in the previous
              state; at the socket's end
              (->CLOSE, or ->TIME_WAIT for the side that closed first) the
              connection's lifetime, bytes sent and received, smoothed RTT
              and retransmits; at TIME_WAIT entry "awaiting the peer's FIN
              (netstat: FIN_WAIT2)" when the peer's FIN had not come; at
              timewait_end "expired" or "reused or killed"

--state takes netstat's state names, in any case:
` + wrapList(tcpstate.Names(), "  ", 78) + `

--json prints one object per line, with the fields:
  time (RFC 3339, UTC, in ns), event, pid, tid, comm, proto, local and remote
  (addr:port, IPv6 as [addr]:port), old_state and new_state (netstat's
  names), error (errno name, "" when none), container (as the CONTAINER
  column, "" when not known), uid, inode, netns, sock; container_id
  (runtime://id, as Kubernetes spells it) for an owner in a container;
  when known: in_state_ns (time in old_state), lifetime_ns; at the
  socket's end (event close, or the state event into TIME_WAIT of the side
  that closed first): bytes_sent, bytes_received, srtt_us, retrans; at
  timewait_end: reason ("expired" or "reused"); at reset_sent: reason
  (the kernel's name); lost events: lost, lost_ring_full, lost_recursion.
  A reset or retransmit has the socket's state as both old_state and
  new_state ("UNKNOWN": no socket). An owner not known has pid 0 and comm
  ""; the end of a TIME_WAIT older than socktrace, a reset for no socket,
  and a timewait socket's reset without its TIME_WAIT entry have no uid. A TIME_WAIT
  entry made before the peer's FIN has "awaiting_fin": true: netstat lists
  that socket as FIN_WAIT2 until the FIN comes.

` + filterHelp + `
  In trace a state word matches a transition from or to the state; pid
  and comm are the owner's; lifetime is the socket's age at the event;
  error is the errno a failed or reset connection ends with. The kernel
  tests the addresses, ports, states, owners and namespaces before it
  sends an event; the rest is tested here.

Needs root (CAP_BPF and CAP_PERFMON).`
}

// wrapList joins words with ", " into lines of at most width columns, each
// starting with indent.
func wrapList(words []string, indent string, width int) string {
	var b strings.Builder
	line := indent
	for i, w := range words {
		if i < len(words)-1 {
			w += ","
		}
		if line != indent && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += w
	}
	b.WriteString(line)
	return b.String()
}
