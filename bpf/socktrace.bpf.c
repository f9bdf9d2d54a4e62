// SPDX-License-Identifier: GPL-2.0
/*
 * socktrace kernel side: every TCP state transition, attributed to the
 * socket's owner, with TIME_WAIT derived from timer events.
 *
 * Works with tracepoints alone: kprobes and fentry are unavailable on
 * lockdown kernels. Hooks:
 *   tp_btf/inet_sock_set_state     every transition (classic tracepoint as fallback)
 *   tp_btf/timer_start|cancel|expire_entry
 *                                  timewait sockets are born and die without
 *                                  the state tracepoint; their timer tells
 *   tracepoint/syscalls/sys_exit_accept{,4}
 *                                  the process that accepted a passive socket
 *   tp_btf/tcp_send_reset|tcp_receive_reset|tcp_retransmit_skb
 *                                  resets and retransmits (attached on request)
 *
 * These programs run in the traced connection's own context (its syscalls
 * and softirqs), so every nanosecond here is taken from the traffic itself.
 *
 * This file holds what userspace sees of the object: its load-time
 * configuration, its maps and its programs, each program a thin wrapper over
 * a handler. The handlers live in headers by concern:
 *   sock.h       reading a socket, whichever way a program holds it
 *   emit.h       an event's owner, the filters, the ring buffer
 *   slots.h      per-socket bookkeeping, and which map holds it
 *   connect.h    CLOSE->SYN_SENT, held until connect() picks the local port
 *   accept.h     passive sockets: the listener's owner, then accept()'s caller
 *   timewait.h   TIME_WAIT, from the timewait socket's timer
 *   set_state.h  the state transition handler
 *   reset.h      resets sent and received, retransmits
 */
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_tracing.h"
#include "bpf_core_read.h"
#include "bpf_endian.h"
#include "socktrace.h"

char LICENSE[] SEC("license") = "GPL";

/* Keep the shared enums in BTF, so bpf2go generates them for Go. */
const enum event_kind *unused_event_kind __attribute__((unused));
const enum event_flag *unused_event_flag __attribute__((unused));
const enum counter *unused_counter __attribute__((unused));
const enum filter_code *unused_filter_code __attribute__((unused));
const enum filter_limit *unused_filter_limit __attribute__((unused));

/* Load-time configuration, written by userspace before loading. */
const volatile __u64 tw_timer_handler_addr = 0; /* &tw_timer_handler; 0: no TIME_WAIT */
const volatile __u64 tcp_write_timer_addr = 0;	/* &tcp_write_timer; 0: port via next event */
const volatile __u64 wakeup_bytes = 0;		/* wake the reader once this much is queued */
const volatile __u32 filter_netns = 0;
const volatile __u32 filter_states = 0; /* bit (1 << state): old or new state matches */
const volatile __u16 filter_family = 0;
/* The filter program (see struct filter_op) and where a run starts: for an
 * event with a known owner, and for one whose owner only userspace knows. */
const volatile struct filter_op filter_prog[FILTER_OPS] = {};
const volatile __u8 filter_start = FILTER_PASS;
const volatile __u8 filter_start_ownerless = FILTER_PASS;
/* Send only what a connection table needs: connects, listens, accepts and
 * closes (TIME_WAIT entry and end included), closes with their lifetime and
 * error only. The transitions between are not looked at (see table_needs). */
const volatile __u8 table_only = 0;
/* The reset and retransmit programs are attached: ->CLOSE leaves the
 * socket's owner behind for a reset that follows it (see sock_owner). */
const volatile __u8 with_resets = 0;
/* With table_only, also send each connect's SYN_SENT->ESTABLISHED with its
 * time in SYN_SENT (connect latency, and the end of a SYN_SENT count). */
const volatile __u8 table_connect_times = 0;
/* With table_only, closes carry their summary (bytes, SRTT, retransmits). */
const volatile __u8 table_summary = 0;
/* Count every transition of a wanted socket in transitions, whether or not
 * it is sent: a metrics reader needs the counts, not the events. */
const volatile __u8 count_transitions = 0;

struct owner {
	__u64 cgroup; /* see struct event */
	__u32 pid;
	__u32 tid;
	char comm[TASK_COMM_LEN];
};

/* sock_info.flags */
#define SI_TRACKED 1	      /* set up for this life of the socket */
#define SI_OWNER 2	      /* owner is known */
#define SI_BORN 4	      /* born_ns is valid */
#define SI_STATE 8	      /* state_ns is valid */
#define SI_CONNECT_PENDING 16 /* CLOSE->SYN_SENT not sent yet: its local port is not chosen */
#define SI_CONNECT_HELD 32    /* ... and it waits in connects, for the timer path */
#define SI_PASSIVE 64	      /* a passive child not yet claimed by an accept() */
#define SI_CLOSED 128	      /* untracked since ->CLOSE; owner is still its owner */

struct sock_info {
	__u64 born_ns;
	__u64 state_ns;	 /* when the socket entered its current state */
	__u64 accept_ns; /* when accept() returned it */
	struct owner owner;
	struct owner acceptor; /* who accept()ed it: valid once accepted is set */
	__u32 flags;
	__u32 accepted; /* set by the accept hook, which holds no socket lock */
};

struct sock_slot {
	__u64 sk;     /* the socket's address; 0: free */
	__u64 closed; /* while free: the socket that freed it, if si.owner is its owner */
	struct sock_info si;
};

#define SOCK_SLOT_BITS 16

/*
 * sock_slots: per-socket bookkeeping, direct-mapped: one slot per hash of
 * the socket's address, tagged with the address. Claimed (compare-and-swap
 * of a free tag) at the first transition seen for a socket (connect, listen,
 * a passive child, or a socket older than socktrace, but not in table_only
 * mode); freed at ->CLOSE. A birth at an address whose slot still names it
 * takes the slot over, so a missed ->CLOSE (recursion) stays only until the
 * address is used again. Sockets are serialised by the socket lock, so a slot
 * has one writer at a time. A socket whose slot is held by another goes to
 * sk_infos or socks.
 * Fixed size, preallocated: a lookup is an array index, with no allocation
 * and no lock. (Creating socket storage takes two memcg-charged
 * allocations, and an LRU hash keeps its lists on every update.)
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << SOCK_SLOT_BITS);
	__type(key, __u32);
	__type(value, struct sock_slot);
} sock_slots SEC(".maps");

/*
 * sk_infos: the same bookkeeping for a tp_btf socket whose slot is taken,
 * in the socket itself. Created at the first transition seen for such a
 * socket; the kernel frees it with the socket, so nothing goes stale. At
 * ->CLOSE it is only marked untracked: connect() and listen() may use the
 * same socket again. Bounded by the live sockets. No BPF_F_CLONE: a passive
 * child starts without its listener's.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_info);
} sk_infos SEC(".maps");

/*
 * socks: the same for the classic tracepoint, which holds only the socket's
 * address, keyed by it. Inserted at the first transition seen for a socket
 * whose slot is taken; deleted at ->CLOSE. The kernel may skip a ->CLOSE
 * (recursion); LRU evicts such stale entries first, which also bounds the
 * map.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	/* Per-CPU LRU lists: no global LRU lock on the hot path. */
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, __u64);
	__type(value, struct sock_info);
} socks SEC(".maps");

struct held_connect {
	__u64 ts_ns;
	struct owner owner;
};

/*
 * connects: CLOSE->SYN_SENT events held until the local port is chosen, for
 * sockets without a slot (the timer path holds only an address, and cannot
 * reach socket storage), keyed by socket address. Inserted at
 * CLOSE->SYN_SENT; deleted by whichever comes first, the SYN's retransmit
 * timer being armed (a few us later, in the same connect()) or the socket's
 * next transition: the one whose delete succeeds sends the event. Entries
 * live for one connect() call; one left by two missed runs is replaced when
 * its address connects again. When the map is full the next transition
 * sends the event.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct held_connect);
} connects SEC(".maps");

struct accepted {
	__u64 ts_ns;
	struct owner owner;
};

/*
 * accepts: who accept()ed a passive socket without a slot (or not tracked
 * yet), keyed by socket address: the accept hook reaches the socket through
 * an fd, never as a typed pointer, so it cannot reach socket storage.
 * Inserted at accept(); deleted at the socket's next transition (in table_only
 * mode, its close() or ->CLOSE), which moves the owner into the socket's bookkeeping (an
 * entry older than the socket is a leftover of an earlier socket at that
 * address, and is dropped), or at ->CLOSE of a socket never tracked. Bounded
 * by such accepted connections that have had no transition since, and by
 * max_entries: when full, such a socket keeps its listener's owner.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct accepted);
} accepts SEC(".maps");

struct listen_key {
	__u32 netns;
	__u16 port;
	__u16 _pad;
};

struct listen_val {
	__u64 sk;
	struct owner owner;
};

/*
 * listeners: owner of each listening port, because a passive child is
 * created in softirq, where the current task is whoever was interrupted; the
 * child belongs to the listener's owner until accept() says otherwise.
 * Inserted at CLOSE->LISTEN and by userspace for listeners older than
 * socktrace; deleted at LISTEN->CLOSE of the same socket. SO_REUSEPORT
 * groups share one entry (the last listener) until accept().
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct listen_key);
	__type(value, struct listen_val);
} listeners SEC(".maps");

/*
 * Per-CPU scratch for the timer protocol. The kernel creates a timewait
 * socket (arming its timer) and then calls tcp_done() on the same CPU with
 * no tracepoint between, so "a timewait timer started here" waits in
 * tw_started for the ->CLOSE that follows. A timer that is re-armed, expires
 * or is killed first shows timer_cancel; the next event on the CPU tells
 * which (see settle_cancel), so cancelled holds it until then. One element,
 * so every program finds both with one lookup.
 */
struct timer_slots {
	__u64 tw_started;
	__u64 cancelled;
	__u64 cancelled_ns;
	__u64 scratch;		   /* see slot_of */
	struct event cancelled_tw; /* its end, read while the socket lived */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct timer_slots);
} timer_slots SEC(".maps");

/* counters: per-CPU enum counter values; only this program writes them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/*
 * transitions: how many times wanted sockets went from state to state
 * (count[old][new]; an entry into TIME_WAIT counts as such, not as the
 * ->CLOSE the tracepoint shows; its end is the timer's, sent as an event),
 * per CPU. Only the state program writes it, when count_transitions is set;
 * userspace sums the CPUs. Counts only grow.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct transition_counts);
} transitions SEC(".maps");

/* events: to userspace. Userspace sets the size at load time. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

/* The handlers use the configuration and maps above. */
#include "sock.h"
#include "emit.h"
#include "slots.h"
#include "connect.h"
#include "accept.h"
#include "timewait.h"
#include "set_state.h"
#include "reset.h"

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state_btf, const struct sock *sk, const int old, const int new)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	return on_set_state((__u64)sk, sk, old, new, SK_TRUSTED);
}

/* Fallback for kernels where tp_btf cannot attach: the same handler, with the
 * socket address from the classic tracepoint's record. */
SEC("tracepoint/sock/inet_sock_set_state")
int set_state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u64 skp = (__u64)ctx->skaddr;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (have_cast())
		return on_set_state(skp, cast(skp, struct sock), ctx->oldstate, ctx->newstate,
				    SK_CAST);
	return on_set_state(skp, (const struct sock *)skp, ctx->oldstate, ctx->newstate, SK_PROBE);
}

SEC("tp_btf/timer_start")
int BPF_PROG(timer_start, struct timer_list *timer, unsigned long bucket_expiry)
{
	return on_timer_start(timer);
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(timer_cancel, struct timer_list *timer)
{
	return on_timer_cancel(timer);
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(timer_expire_entry, struct timer_list *timer, unsigned long baseclk)
{
	return on_timer_expire(timer);
}

/* The common part of syscalls:sys_exit_* records. */
struct syscall_exit {
	__u64 _common;
	int nr;
	long ret;
};

SEC("tracepoint/syscalls/sys_exit_accept4")
int accept4_exit(struct syscall_exit *ctx)
{
	if (have_cast())
		return on_accept(ctx->ret, SK_CAST);
	return on_accept(ctx->ret, SK_PROBE);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int accept_exit(struct syscall_exit *ctx)
{
	if (have_cast())
		return on_accept(ctx->ret, SK_CAST);
	return on_accept(ctx->ret, SK_PROBE);
}

/* The reset's reason is the tracepoint's third argument since 6.10, which
 * added enum sk_rst_reason; before, the argument is not there to read. */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	__u16 reason = 0;

	if (bpf_core_type_exists(enum sk_rst_reason))
		reason = ctx[2];
	return on_send_reset(sk, skb, reason);
}

/* tcp_reset(), before the socket moves to CLOSE. In SYN_SENT it is a
 * refused connect. */
SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(receive_reset, const struct sock *sk)
{
	return on_sock_event(sk, KIND_RESET_RECV);
}

/* A segment (a SYN too) sent again, by the retransmit timer or on duplicate
 * ACKs. Kernels that pass the result (the record's err field came with it)
 * fire for a retransmit that failed too, which sent nothing; older ones
 * only fire for one that was sent. */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(retransmit_skb, const struct sock *sk, const struct sk_buff *skb)
{
	if (bpf_core_field_exists(struct trace_event_raw_tcp_retransmit_skb, err) && (int)ctx[2])
		return 0;
	return on_sock_event(sk, KIND_RETRANSMIT);
}
