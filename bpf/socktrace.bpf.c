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
 *
 * These programs run in the traced connection's own context (its syscalls
 * and softirqs), so every nanosecond here is taken from the traffic itself.
 */
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_tracing.h"
#include "bpf_core_read.h"
#include "bpf_endian.h"
#include "socktrace.h"

#define AF_INET 2
#define AF_INET6 10

char LICENSE[] SEC("license") = "GPL";

/* Keep the shared enums in BTF, so bpf2go generates them for Go. */
const enum event_kind *unused_event_kind __attribute__((unused));
const enum event_flag *unused_event_flag __attribute__((unused));
const enum counter *unused_counter __attribute__((unused));

/* Load-time configuration, written by userspace before loading. */
const volatile __u64 tw_timer_handler_addr = 0; /* &tw_timer_handler; 0: no TIME_WAIT */
const volatile __u64 tcp_write_timer_addr = 0;	/* &tcp_write_timer; 0: port via next event */
const volatile __u64 wakeup_bytes = 0;		/* wake the reader once this much is queued */
const volatile __u32 filter_netns = 0;
const volatile __u32 filter_pid = 0;
const volatile __u32 filter_states = 0; /* bit (1 << state): old or new state matches */
const volatile __u16 filter_family = 0;
const volatile __u16 filter_port = 0; /* local or remote */
const volatile __u8 filter_comm_set = 0;
/* Send only what a connection table needs: connects, listens, accepts and
 * closes (TIME_WAIT entry and end included), closes with their lifetime and
 * error only. The transitions between are not looked at (see table_needs). */
const volatile __u8 table_only = 0;
const volatile char filter_comm[TASK_COMM_LEN] = {};

/*
 * bpf_rdonly_cast (6.2+) turns any kernel address into a typed, read-only
 * pointer: plain loads through it are made fault-safe by the verifier and
 * cost a few ns, where a probe read is a helper call per field. Weak: on an
 * older kernel the loader zeroes its address, and the probe-read paths run.
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

#define have_cast() (!!bpf_rdonly_cast)
#define cast(addr, type) \
	((const type *)bpf_rdonly_cast((void *)(addr), bpf_core_type_id_kernel(type)))

/*
 * How a program holds a socket; a constant at every call site, so the
 * compiler keeps one branch of each READ.
 *   SK_TRUSTED  tp_btf's typed argument: plain loads, and socket storage
 *   SK_CAST     an address seen through bpf_rdonly_cast: plain loads
 *   SK_PROBE    an address on a kernel without bpf_rdonly_cast: probe reads
 */
enum sk_access {
	SK_TRUSTED,
	SK_CAST,
	SK_PROBE,
};

#define READ(acc, ptr, field) ((acc) != SK_PROBE ? (ptr)->field : BPF_CORE_READ(ptr, field))

/*
 * A pointer loaded through a trusted pointer (tp_btf's socket, the current
 * task) makes the verifier look its type up by name in all of the kernel's
 * BTF, a linear search, several times per load and per path it explores
 * (btf_nested_type_is_trusted): on 6.18 that was 3.5 s of socktrace's
 * start. Pointer chains are therefore walked through a read-only cast,
 * which the verifier checks like a probe read, where the kernel has one.
 */
#define untrusted(ptr, type) (have_cast() ? cast(ptr, type) : (const type *)(ptr))

struct owner {
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
	__u64 sk; /* the socket's address; 0: free */
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
 * and no lock. (Measured here: creating socket storage, two memcg-charged
 * allocations, and LRU upkeep each cost more than the rest of a transition.)
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
 * mode, its ->CLOSE), which moves the owner into the socket's bookkeeping (an
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
	__u64 scratch;		 /* see slot_of */
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

/* events: to userspace. Userspace sets the size at load time. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		(*c)++;
}

static __always_inline struct timer_slots *slots(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&timer_slots, &zero);
}

static __always_inline void owner_current(struct owner *o)
{
	__u64 id = bpf_get_current_pid_tgid();

	o->pid = id >> 32;
	o->tid = (__u32)id;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

static __always_inline bool comm_matches(const char *comm)
{
#pragma unroll
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != filter_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

static __always_inline bool wanted(const struct event *e)
{
	if (filter_netns && e->netns != filter_netns)
		return false;
	if (filter_family && e->family != filter_family)
		return false;
	if (filter_port && e->sport != filter_port && e->dport != filter_port)
		return false;
	if (filter_states && !(filter_states & ((1U << e->oldstate) | (1U << e->newstate))))
		return false;
	/* An unknown owner is resolved in userspace, which filters again. */
	if (!(e->flags & FLAG_OWNER_KNOWN))
		return true;
	if (filter_pid && e->pid != filter_pid)
		return false;
	if (filter_comm_set && !comm_matches(e->comm))
		return false;
	return true;
}

static __always_inline __u32 sock_netns(const struct sock *sk, enum sk_access acc)
{
	if (acc != SK_PROBE)
		return untrusted(sk, struct sock)->__sk_common.skc_net.net->ns.inum;
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* The filters that hold for every event of a socket, checked before any
 * bookkeeping: a socket in another namespace (the table's case: netstat
 * shows its own) costs a few loads per transition. */
static __always_inline bool sock_wanted(const struct sock *sk, enum sk_access acc)
{
	if (filter_family && READ(acc, &sk->__sk_common, skc_family) != filter_family)
		return false;
	return !filter_netns || sock_netns(sk, acc) == filter_netns;
}

/*
 * Wakeups are batched: a wakeup per event costs more than the event. The
 * reader sleeps only once it has emptied the ring (and then on a short
 * deadline), so it needs waking only when wakeup_bytes are queued. Forcing a
 * wakeup on every event past that mark queued an irq_work, a self-IPI (a VM
 * exit on this machine), per event while the reader caught up; instead one
 * event in each further 1/64 of the mark asks. Two CPUs racing past a step
 * may both miss it; the next step is close.
 */
#define RINGBUF_HDR_SZ 8

static __always_inline void emit(const struct event *e)
{
	__u64 avail, step = wakeup_bytes / 64, flags = BPF_RB_NO_WAKEUP;
	__u64 size = e->flags & FLAG_SUMMARY ? sizeof(*e) : EVENT_HEAD_SIZE;

	if (!wanted(e))
		return;
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if (avail >= wakeup_bytes && avail / step != (avail + size + RINGBUF_HDR_SZ) / step)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, (void *)e, size, flags))
		count(CNT_RINGBUF_FULL);
}

/*
 * The typed tcp_sock for a socket: tp_btf's socket cannot be cast in C (the
 * verifier rejects it), bpf_skc_to_tcp_sock checks and converts it; an
 * address is cast; probe reads go through a plain C cast.
 */
static __always_inline const struct tcp_sock *tcp_of(const struct sock *sk, enum sk_access acc)
{
	if (acc == SK_TRUSTED)
		return bpf_skc_to_tcp_sock((void *)sk);
	if (acc == SK_CAST)
		return cast(sk, struct tcp_sock);
	return (const struct tcp_sock *)sk;
}

/* What every socket has, timewait sockets included: family, tuple, netns.
 * sport is skc_num, the local port while the socket is hashed. */
static __always_inline void read_common(struct event *e, const struct sock_common *skc,
					enum sk_access acc)
{
	e->family = READ(acc, skc, skc_family);
	e->dport = bpf_ntohs(READ(acc, skc, skc_dport));
	e->sport = READ(acc, skc, skc_num);
	if (acc != SK_PROBE)
		e->netns = untrusted(skc, struct sock_common)->skc_net.net->ns.inum;
	else
		e->netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
	if (e->family == AF_INET6) {
		if (acc != SK_PROBE) {
			__builtin_memcpy(e->saddr, &skc->skc_v6_rcv_saddr, 16);
			__builtin_memcpy(e->daddr, &skc->skc_v6_daddr, 16);
		} else {
			bpf_core_read(e->saddr, 16, &skc->skc_v6_rcv_saddr);
			bpf_core_read(e->daddr, 16, &skc->skc_v6_daddr);
		}
	} else {
		*(__u32 *)e->saddr = READ(acc, skc, skc_rcv_saddr);
		*(__u32 *)e->daddr = READ(acc, skc, skc_daddr);
	}
}

static __always_inline void read_sock(struct event *e, __u64 skp, const struct sock *sk,
				      enum sk_access acc)
{
	const struct tcp_sock *tp = tcp_of(sk, acc);
	__u16 sport;

	e->sk = skp;
	read_common(e, &sk->__sk_common, acc);
	/* inet_sport survives unhashing, unlike skc_num. */
	sport = tp ? bpf_ntohs(READ(acc, tp, inet_conn.icsk_inet.inet_sport)) : 0;
	if (sport)
		e->sport = sport;
	e->uid = READ(acc, sk, sk_uid.val);
	if (acc != SK_PROBE) {
		const struct socket *so = untrusted(sk, struct sock)->sk_socket;

		e->inode = so ? so->file->f_inode->i_ino : 0;
	} else
		e->inode = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

static __always_inline void set_owner(struct event *e, const struct owner *o)
{
	e->pid = o->pid;
	e->tid = o->tid;
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	e->flags |= FLAG_OWNER_KNOWN;
}

/* tcp_fin() marks the socket SOCK_DONE when the peer's FIN arrives;
 * nothing else in TCP sets it. */
static __always_inline bool fin_received(const struct sock *sk, enum sk_access acc)
{
	return READ(acc, sk, __sk_common.skc_flags) & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE));
}

/* Close summary, read from the full socket: why it ended, and what it carried. */
static __always_inline void read_summary(struct event *e, const struct sock *sk, int old,
					 enum sk_access acc)
{
	const struct tcp_sock *tp;

	e->error = READ(acc, sk, sk_err);
	/* A table shows why a connection ended, not what it carried; a
	 * listener carried nothing. */
	if (table_only || old == TCP_LISTEN)
		return;
	tp = tcp_of(sk, acc);
	if (!tp)
		return;
	/* Data octets only: bytes_acked would count the SYN and FIN too. */
	e->bytes_acked = READ(acc, tp, bytes_sent) - READ(acc, tp, bytes_retrans);
	e->bytes_received = READ(acc, tp, bytes_received);
	/* bytes_received also counts the peer's FIN (rcv_nxt moves past
	 * it). A socket closing from these states has had it; one from
	 * FIN_WAIT2 if tcp_fin marked it SOCK_DONE. (Not RCV_SHUTDOWN: close()
	 * sets that too. Nor the timewait socket's substate: a FIN it gets
	 * on another CPU, between its creation and this tracepoint, never
	 * reached this socket.) */
	if (e->bytes_received &&
	    (old == TCP_CLOSE_WAIT || old == TCP_LAST_ACK || old == TCP_CLOSING ||
	     (old == TCP_FIN_WAIT2 && fin_received(sk, acc))))
		e->bytes_received--;
	e->srtt_us = READ(acc, tp, srtt_us) >> 3;
	e->retrans = READ(acc, tp, total_retrans);
	e->flags |= FLAG_SUMMARY;
}

/* The slot a socket's address maps to. */
static __always_inline struct sock_slot *slot_of(__u64 skp)
{
	struct timer_slots *ts = slots();
	__u64 addr, check;
	__u32 idx;

	if (!ts)
		return NULL;
	/* tp_btf's socket is a typed pointer, on which the verifier allows
	 * no arithmetic but adding and subtracting; stored in a map and read
	 * back, it is a plain number. A program run from an interrupt between
	 * the two may have used the same scratch: then copy it the slow way. */
	ts->scratch = skp;
	addr = *(volatile __u64 *)&ts->scratch;
	/* Compared through a copy: knowing addr == skp, the compiler would
	 * use skp itself. */
	check = addr;
	barrier_var(check);
	if (check != skp)
		bpf_probe_read_kernel(&addr, sizeof(addr), &skp);
	idx = (addr * 0x9E3779B97F4A7C15ULL) >> (64 - SOCK_SLOT_BITS);
	return bpf_map_lookup_elem(&sock_slots, &idx);
}

/*
 * The socket's bookkeeping: its slot, else (the slot is another socket's)
 * its own storage when tp_btf hands over a typed socket, else socks by
 * address. create: set up an empty (untracked) one if there is none.
 */
static __always_inline struct sock_info *sock_info(__u64 skp, const struct sock *sk,
						   enum sk_access acc, bool create, bool *slotted)
{
	struct sock_slot *sl = slot_of(skp);
	struct sock_info empty = {}, *si;

	*slotted = true;
	if (sl && sl->sk == skp)
		return &sl->si;
	if (acc == SK_TRUSTED)
		si = bpf_sk_storage_get(&sk_infos, (void *)sk, NULL, 0);
	else
		si = bpf_map_lookup_elem(&socks, &skp);
	if (si || !create)
		goto other;
	if (sl && __sync_val_compare_and_swap(&sl->sk, 0, skp) == 0) {
		sl->si = empty;
		return &sl->si;
	}
	*slotted = false;
	if (acc == SK_TRUSTED)
		return bpf_sk_storage_get(&sk_infos, (void *)sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	bpf_map_update_elem(&socks, &skp, &empty, BPF_NOEXIST);
	return bpf_map_lookup_elem(&socks, &skp);
other:
	*slotted = false;
	return si;
}

/* The socket is closed: its bookkeeping ends with this life. Nothing may
 * touch si after this: a freed slot can be claimed at once on another CPU. */
static __always_inline void forget(__u64 skp, struct sock_info *si, enum sk_access acc)
{
	struct sock_slot *sl = slot_of(skp);

	if (sl && sl->sk == skp)
		sl->sk = 0;
	else if (acc != SK_TRUSTED)
		bpf_map_delete_elem(&socks, &skp);
	else
		si->flags = 0;
}

/* CLOSE->SYN_SENT fires before connect() picks the local port; the event is
 * held until the port is known (the SYN's retransmit timer is armed, or the
 * socket's next transition), and keeps its original time. */
static __always_inline void emit_connect(__u64 skp, const struct sock *sk, __u64 ts,
					 const struct owner *o, enum sk_access acc)
{
	struct event e = {};

	e.kind = KIND_STATE;
	e.ts_ns = ts;
	e.oldstate = TCP_CLOSE;
	e.newstate = TCP_SYN_SENT;
	e.flags = FLAG_BORN_KNOWN;
	read_sock(&e, skp, sk, acc);
	set_owner(&e, o);
	emit(&e);
}

static __always_inline void start_connect(__u64 skp, struct sock_info *si, bool slotted,
					  __u64 now)
{
	struct held_connect h;

	owner_current(&h.owner); /* connect() runs in its caller */
	h.ts_ns = now;
	si->owner = h.owner;
	si->born_ns = now;
	si->state_ns = now;
	si->flags = SI_TRACKED | SI_OWNER | SI_BORN | SI_STATE | SI_CONNECT_PENDING;
	/* In a slot, the timer path finds it by address anyway. */
	if (!slotted && !bpf_map_update_elem(&connects, &skp, &h, BPF_ANY))
		si->flags |= SI_CONNECT_HELD;
}

/* The connecting socket's next transition: send CLOSE->SYN_SENT unless the
 * timer path did (it deleted the held entry first). */
static __always_inline void release_connect(__u64 skp, const struct sock *sk, struct sock_info *si,
					    enum sk_access acc)
{
	bool held = si->flags & SI_CONNECT_HELD;

	si->flags &= ~(SI_CONNECT_PENDING | SI_CONNECT_HELD);
	if (held && bpf_map_delete_elem(&connects, &skp))
		return;
	emit_connect(skp, sk, si->state_ns, &si->owner, acc);
}

/* accept() returned the socket at ts: unless that was an earlier socket at
 * this address, its caller owns it. */
static __always_inline void take_acceptor(struct sock_info *si, __u64 ts, const struct owner *o)
{
	if (ts < si->born_ns)
		return;
	si->owner = *o;
	si->flags |= SI_OWNER;
	si->flags &= ~SI_PASSIVE;
}

/*
 * A passive child: did accept() leave its owner in the socket's slot, or in
 * accepts? The accept hook sets accepted after the rest (an atomic exchange
 * orders the writes); exchanging it back orders the reads here.
 */
static __always_inline void claim_accept(__u64 skp, struct sock_info *si, bool slotted)
{
	struct accepted *a;

	if (slotted && si->accepted && __sync_lock_test_and_set(&si->accepted, 0)) {
		take_acceptor(si, si->accept_ns, &si->acceptor);
		return;
	}
	/* Born in its slot, it was there before any accept(). */
	if (slotted && (si->flags & SI_BORN))
		return;
	a = bpf_map_lookup_elem(&accepts, &skp);
	if (!a)
		return;
	take_acceptor(si, a->ts_ns, &a->owner);
	bpf_map_delete_elem(&accepts, &skp);
}

/* The timewait socket behind a timewait timer. */
static __always_inline __u64 tw_of(__u64 timer)
{
	return timer - bpf_core_field_offset(struct inet_timewait_sock, tw_timer);
}

/*
 * A timewait socket's end, from the socket itself; only valid while it
 * lives (its timer is cancelled, or about to run). It has the tuple but no
 * owner or birth: userspace has those from the TIME_WAIT entry. (Keeping
 * the entry's event in a hash map until the end instead cost each traced
 * connection ~1 us, an insert with an allocation, on its own time.)
 */
static __always_inline void tw_end(struct event *e, __u64 timer)
{
	__u64 twp = tw_of(timer);

	__builtin_memset(e, 0, sizeof(*e));
	e->kind = KIND_TW_END;
	e->sk = twp;
	e->oldstate = TCP_TIME_WAIT;
	e->newstate = TCP_CLOSE;
	if (have_cast())
		read_common(e, &cast(twp, struct inet_timewait_sock)->__tw_common, SK_CAST);
	else
		read_common(e, &((const struct inet_timewait_sock *)twp)->__tw_common, SK_PROBE);
}

static __always_inline void emit_tw_end(struct event *e, __u64 ts, bool expired)
{
	e->ts_ns = ts;
	e->flags = expired ? FLAG_TW_EXPIRED : 0;
	emit(e);
}

/*
 * A timewait timer was cancelled: re-armed (timer_start of the same timer
 * follows at once, under the timer base lock), expiring (timer_expire_entry
 * follows, though an interrupt may run first), or killed (nothing follows).
 * Any other state transition, timewait timer or TCP write timer event on this
 * CPU settles it as killed: a kill is a tuple reused by connect() (whose SYN
 * arms a write timer next), a packet for the timewait socket (TCP work
 * follows) or its namespace going away. Other timers do not look: they are
 * most of the timer events, and would settle an expiry as a kill when their
 * interrupt comes between its cancel and its expiry.
 */
static __always_inline void settle_cancel(struct timer_slots *s, __u64 timer)
{
	if (!s->cancelled)
		return;
	if (s->cancelled != timer) {
		/* A killed timewait socket may be freed by now: its end was
		 * read at the cancel. */
		emit_tw_end(&s->cancelled_tw, s->cancelled_ns, false);
	}
	s->cancelled = 0;
}

/* The timewait socket behind a timewait timer: its ports, and whether the
 * peer's FIN came (substate TIME_WAIT; FIN_WAIT2 means it is still awaited). */
static __always_inline void read_tw(__u64 timer, __u16 *sport, __u16 *dport, bool *fin)
{
	__u64 twp = tw_of(timer);

	if (have_cast()) {
		const struct inet_timewait_sock *tw = cast(twp, struct inet_timewait_sock);

		*sport = tw->__tw_common.skc_num;
		*dport = bpf_ntohs(tw->__tw_common.skc_dport);
		*fin = tw->tw_substate == TCP_TIME_WAIT;
	} else {
		const struct inet_timewait_sock *tw = (void *)twp;

		*sport = BPF_CORE_READ(tw, __tw_common.skc_num);
		*dport = bpf_ntohs(BPF_CORE_READ(tw, __tw_common.skc_dport));
		*fin = BPF_CORE_READ(tw, tw_substate) == TCP_TIME_WAIT;
	}
}

/*
 * The active closer's ->CLOSE right after a timewait timer started on this
 * CPU: if the timewait socket has this socket's ports, it replaced it.
 * A socket closed by its process before the peer's FIN came (the common
 * case under churn: 8 in 10 here) is replaced by a timewait socket in
 * substate FIN_WAIT2, which netstat lists as FIN_WAIT2 until the FIN comes.
 * That FIN re-arms the timer with mod_timer_pending, which mostly keeps it
 * in its wheel bucket and then shows in no tracepoint (none for 92 such
 * sockets here): the entry is flagged instead.
 */
static __always_inline void enter_timewait(struct event *e, __u64 timer)
{
	__u16 sport, dport;
	bool fin;

	read_tw(timer, &sport, &dport, &fin);
	if (dport != e->dport || sport != e->sport) {
		count(CNT_TW_UNMATCHED);
		return;
	}
	if (!fin)
		e->flags |= FLAG_TW_FIN_WAIT2;
	e->newstate = TCP_TIME_WAIT;
	e->flags |= FLAG_TW_DERIVED;
}

static __always_inline void listener_key(struct listen_key *k, __u32 netns, __u16 port)
{
	k->netns = netns;
	k->port = port;
	k->_pad = 0;
}

/* A socket seen for the first time: who owns it depends on how it was born.
 * netns and port (the local port) matter only to a passive child. */
static __always_inline void track(struct sock_info *si, int old, int new, __u32 netns, __u16 port,
				  __u64 now)
{
	struct listen_key k;
	struct listen_val *l;

	si->flags = SI_TRACKED;
	if (old == TCP_CLOSE && new == TCP_LISTEN) {
		owner_current(&si->owner); /* listen() runs in its caller */
		si->flags |= SI_OWNER | SI_BORN;
		si->born_ns = now;
	} else if (old == TCP_LISTEN && new == TCP_SYN_RECV) {
		listener_key(&k, netns, port);
		l = bpf_map_lookup_elem(&listeners, &k);
		if (l) {
			si->owner = l->owner;
			si->flags |= SI_OWNER;
		}
		si->flags |= SI_BORN | SI_PASSIVE;
		si->born_ns = now;
	} else {
		/* Older than socktrace: it may have been accepted since. */
		si->flags |= SI_PASSIVE;
	}
}

static __always_inline void update_listener(const struct event *e)
{
	struct listen_key k;
	struct listen_val v = {}, *cur;

	listener_key(&k, e->netns, e->sport);
	if (e->newstate == TCP_LISTEN) {
		v.sk = e->sk;
		v.owner.pid = e->pid;
		v.owner.tid = e->tid;
		__builtin_memcpy(v.owner.comm, e->comm, sizeof(v.owner.comm));
		bpf_map_update_elem(&listeners, &k, &v, BPF_ANY);
		return;
	}
	cur = bpf_map_lookup_elem(&listeners, &k);
	if (cur && cur->sk == e->sk)
		bpf_map_delete_elem(&listeners, &k);
}

/*
 * The transitions table_only mode looks at: those it sends (->CLOSE,
 * CLOSE->LISTEN), the births that give a socket its owner and birth time
 * (CLOSE->SYN_SENT, LISTEN->SYN_RECV), and a connect's next transition, which
 * may still hold its CLOSE->SYN_SENT. The others, half of a connection's
 * transitions (to ESTABLISHED from SYN_RECV, FIN_WAIT1, FIN_WAIT2,
 * CLOSE_WAIT, LAST_ACK, CLOSING), change nothing a table shows: an accept
 * is claimed at ->CLOSE instead, and closes carry no time in state.
 */
static __always_inline bool table_needs(int old, int new)
{
	return new == TCP_CLOSE || new == TCP_SYN_SENT || new == TCP_LISTEN || old == TCP_LISTEN ||
	       old == TCP_SYN_SENT;
}

static __always_inline int on_set_state(__u64 skp, const struct sock *sk, int old, int new,
					enum sk_access acc)
{
	struct timer_slots *ts = slots();
	struct sock_info *si;
	struct event e = {};
	__u64 now, tw_timer = 0;
	bool slotted;
	__u16 port;

	/* Every run, whatever the socket: a timewait timer belongs to the
	 * transition right after it on this CPU, and no later one. */
	if (ts) {
		tw_timer = ts->tw_started;
		ts->tw_started = 0;
		settle_cancel(ts, 0);
	}
	if (table_only && !table_needs(old, new))
		return 0;
	if (!sock_wanted(sk, acc))
		return 0;
	if (table_only && old == TCP_SYN_SENT && new != TCP_CLOSE) {
		/* Only what the connect's CLOSE->SYN_SENT may have left. */
		si = sock_info(skp, sk, acc, false, &slotted);
		if (si && (si->flags & SI_CONNECT_PENDING))
			release_connect(skp, sk, si, acc);
		return 0;
	}
	now = bpf_ktime_get_ns();
	si = sock_info(skp, sk, acc, new != TCP_CLOSE, &slotted);
	/* A birth starts afresh, whatever a missed ->CLOSE left at this
	 * address in socks. */
	if (si && ((old == TCP_CLOSE && new == TCP_LISTEN) ||
		   (old == TCP_LISTEN && new == TCP_SYN_RECV)))
		si->flags = 0;
	if (new == TCP_SYN_SENT) {
		if (si)
			start_connect(skp, si, slotted, now);
		return 0;
	}
	if (si && (si->flags & SI_CONNECT_PENDING))
		release_connect(skp, sk, si, acc);
	if (table_only && old == TCP_LISTEN && new == TCP_SYN_RECV) {
		/* A passive child: set up, not sent. Its local port is its
		 * listener's, copied at the clone. */
		port = READ(acc, &sk->__sk_common, skc_num);
		if (si)
			track(si, old, new, sock_netns(sk, acc), port, now);
		return 0;
	}
	if (si && (si->flags & SI_PASSIVE))
		claim_accept(skp, si, slotted);

	e.kind = KIND_STATE;
	e.ts_ns = now;
	e.oldstate = old;
	e.newstate = new;
	read_sock(&e, skp, sk, acc);
	if (si) {
		if (!(si->flags & SI_TRACKED)) {
			track(si, old, new, e.netns, e.sport, now);
			if (!(si->flags & SI_BORN))
				claim_accept(skp, si, slotted);
		}
		if (si->flags & SI_OWNER)
			set_owner(&e, &si->owner);
		/* table_only mode does not time the states between. */
		if (!table_only && (si->flags & SI_STATE)) {
			e.state_ns = now - si->state_ns;
			e.flags |= FLAG_PREV_KNOWN;
		}
		if (si->flags & SI_BORN) {
			e.lifetime_ns = now - si->born_ns;
			e.flags |= FLAG_BORN_KNOWN;
		}
		si->state_ns = now;
		si->flags |= SI_STATE;
	}
	if (new == TCP_LISTEN || (old == TCP_LISTEN && new == TCP_CLOSE))
		update_listener(&e);
	if (new == TCP_CLOSE) {
		read_summary(&e, sk, old, acc);
		if (tw_timer && (old == TCP_FIN_WAIT2 || old == TCP_CLOSING))
			enter_timewait(&e, tw_timer);
		if (si)
			forget(skp, si, acc);
		else
			bpf_map_delete_elem(&accepts, &skp); /* accepted, never tracked */
	}
	emit(&e);
	return 0;
}

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

/* connect() arms the SYN's retransmit timer once the port is chosen: the held
 * CLOSE->SYN_SENT can go. The timer is armed with the socket locked, so this
 * does not race the socket's transitions. It is armed again for most
 * segments a socket sends; only a SYN_SENT socket's can matter. */
static __always_inline void connect_timer(__u64 skp, enum sk_access acc)
{
	const struct sock *sk = acc == SK_CAST ? cast(skp, struct sock) : (const struct sock *)skp;
	struct held_connect *h, c;
	struct sock_slot *sl;

	/* This also skips a slot a missed ->CLOSE left for a socket that
	 * never connected again at this address. */
	if (READ(acc, &sk->__sk_common, skc_state) != TCP_SYN_SENT || !sock_wanted(sk, acc))
		return;
	sl = slot_of(skp);
	if (sl && sl->sk == skp) {
		if (!(sl->si.flags & SI_CONNECT_PENDING))
			return;
		sl->si.flags &= ~SI_CONNECT_PENDING;
		emit_connect(skp, sk, sl->si.state_ns, &sl->si.owner, acc);
		return;
	}
	h = bpf_map_lookup_elem(&connects, &skp);
	if (!h)
		return;
	c = *h;
	if (bpf_map_delete_elem(&connects, &skp))
		return; /* the socket's next transition was first */
	emit_connect(skp, sk, c.ts_ns, &c.owner, acc);
}

/*
 * The timer hooks fire for every timer in the system, about a dozen times per
 * loopback connection (retransmit, delayed ACK, request socket, timewait):
 * a timer that is neither a timewait timer nor (for timer_start) a TCP write
 * timer costs a load and two compares.
 */
SEC("tp_btf/timer_start")
int BPF_PROG(timer_start, struct timer_list *timer, unsigned long bucket_expiry)
{
	__u64 t = (__u64)timer, fn = (__u64)timer->function;
	struct timer_slots *s;

	if (!fn || (fn != tw_timer_handler_addr && fn != tcp_write_timer_addr))
		return 0;
	s = slots();
	if (!s)
		return 0;
	if (fn == tw_timer_handler_addr) {
		settle_cancel(s, t);
		/* New, or re-armed by the peer's FIN: enter_timewait tells. */
		s->tw_started = t;
		return 0;
	}
	/* The held CLOSE->SYN_SENT goes first: it came before the end of any
	 * timewait socket its connect() reused, which settle_cancel sends. */
	if (have_cast())
		connect_timer(t - bpf_core_field_offset(struct inet_connection_sock, icsk_retransmit_timer),
			      SK_CAST);
	else
		connect_timer(t - bpf_core_field_offset(struct inet_connection_sock, icsk_retransmit_timer),
			      SK_PROBE);
	settle_cancel(s, t);
	return 0;
}

/* Most cancels are re-arms, which settle without an event; the end is read
 * now, while the socket surely lives, in case this is a kill. */
SEC("tp_btf/timer_cancel")
int BPF_PROG(timer_cancel, struct timer_list *timer)
{
	__u64 t = (__u64)timer;
	struct timer_slots *s;

	if (!tw_timer_handler_addr || (__u64)timer->function != tw_timer_handler_addr)
		return 0;
	s = slots();
	if (!s)
		return 0;
	settle_cancel(s, t);
	tw_end(&s->cancelled_tw, t);
	if (!wanted(&s->cancelled_tw))
		return 0;
	s->cancelled = t;
	s->cancelled_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(timer_expire_entry, struct timer_list *timer, unsigned long baseclk)
{
	__u64 t = (__u64)timer;
	struct timer_slots *s;
	struct event e;

	if (!tw_timer_handler_addr || (__u64)timer->function != tw_timer_handler_addr)
		return 0;
	s = slots();
	if (!s)
		return 0;
	settle_cancel(s, t);
	/* The timer runs next: the socket is still whole. */
	tw_end(&e, t);
	emit_tw_end(&e, bpf_ktime_get_ns(), true);
	return 0;
}

/* The socket behind a file descriptor of the current task, as an address. */
static __always_inline __u64 fd_sock(long fd, enum sk_access acc)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file **fds, *f;
	struct socket *so;

	if (acc == SK_CAST) {
		const struct files_struct *files = cast(task, struct task_struct)->files;
		const struct fdtable *fdt;

		if (!files)
			return 0;
		fdt = files->fdt;
		if (!fdt || fd >= fdt->max_fds)
			return 0;
		fds = fdt->fd;
	} else {
		const struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);

		if (fd >= BPF_CORE_READ(fdt, max_fds))
			return 0;
		fds = BPF_CORE_READ(fdt, fd);
	}
	if (bpf_core_read(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	if (acc == SK_CAST)
		return (__u64)cast(cast(f, struct file)->private_data, struct socket)->sk;
	so = BPF_CORE_READ(f, private_data);
	return (__u64)BPF_CORE_READ(so, sk);
}

/* The accepting process is known only when accept() returns: the fd it
 * returns leads to the socket. (io_uring accepts don't pass here; those
 * sockets keep their listener's owner.) */
static __always_inline int on_accept(long fd, enum sk_access acc)
{
	struct accepted a;
	struct event e = {};
	struct sock_slot *sl;
	const struct sock *sk;
	__u64 skp;

	if (fd < 0)
		return 0;
	skp = fd_sock(fd, acc);
	if (!skp)
		return 0;
	sk = acc == SK_CAST ? cast(skp, struct sock) : (const struct sock *)skp;
	if (READ(acc, sk, sk_protocol) != IPPROTO_TCP || !sock_wanted(sk, acc))
		return 0;

	a.ts_ns = bpf_ktime_get_ns();
	owner_current(&a.owner);
	sl = slot_of(skp);
	if (sl && sl->sk == skp) {
		sl->si.accept_ns = a.ts_ns;
		sl->si.acceptor = a.owner;
		__sync_lock_test_and_set(&sl->si.accepted, 1);
	} else {
		bpf_map_update_elem(&accepts, &skp, &a, BPF_ANY);
	}

	e.kind = KIND_ACCEPT;
	e.ts_ns = a.ts_ns;
	e.oldstate = e.newstate = READ(acc, &sk->__sk_common, skc_state);
	read_sock(&e, skp, sk, acc);
	if (e.family != AF_INET && e.family != AF_INET6)
		return 0;
	set_owner(&e, &a.owner);
	emit(&e);
	return 0;
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
