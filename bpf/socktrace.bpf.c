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
 * closes (TIME_WAIT entry and end included). The transitions between are
 * still tracked here (time in state, lifetime) but not sent. */
const volatile __u8 table_only = 0;
const volatile char filter_comm[TASK_COMM_LEN] = {};

struct owner {
	__u32 pid;
	__u32 tid;
	char comm[TASK_COMM_LEN];
};

/* sock_info.flags */
#define SI_OWNER 1	     /* owner is known */
#define SI_BORN 2	     /* born_ns is valid */
#define SI_STATE 4	     /* state_ns is valid */
#define SI_CONNECT_PENDING 8 /* CLOSE->SYN_SENT not sent yet: its local port is not chosen */

struct sock_info {
	__u64 born_ns;
	__u64 state_ns; /* when the socket entered its current state */
	struct owner owner;
	__u32 flags;
	__u32 _pad;
};

/*
 * socks: per-socket bookkeeping, keyed by the kernel socket address.
 * Inserted at the first transition seen for a socket (connect, listen, a
 * passive child, or a socket older than socktrace) and at accept(); deleted
 * at ->CLOSE. The kernel may skip a ->CLOSE (recursion); LRU evicts such
 * stale entries first, which also bounds the map.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	/* Per-CPU LRU lists: no global LRU lock on the hot path. */
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, __u64);
	__type(value, struct sock_info);
} socks SEC(".maps");

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
 * timewaits: timewait sockets, keyed by the address of their timer, holding
 * the event that announced them so their end can be reported with the same
 * tuple and owner. Inserted when a ->CLOSE is matched with a timewait timer
 * start; deleted when that timer expires or is cancelled for good. A missed
 * end leaves an entry until the slab reuses the timer address (the tuple
 * check then replaces it); no preallocation, so only live entries cost.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct event);
} timewaits SEC(".maps");

/*
 * Per-CPU scratch for the timer protocol. The kernel creates a timewait
 * socket (arming its timer) and then calls tcp_done() on the same CPU with
 * no tracepoint between, so "a timewait timer started here" waits in
 * tw_started for the ->CLOSE that follows. A timer that is re-armed, expires
 * or is killed first shows timer_cancel; the next timer event on the CPU
 * tells which (see settle_cancel), so tw_cancelled holds it until then.
 */
struct timer_slot {
	__u64 timer;
	__u64 ts;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct timer_slot);
} timer_slots SEC(".maps");

#define SLOT_STARTED 0
#define SLOT_CANCELLED 1

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

static __always_inline struct timer_slot *slot(__u32 idx)
{
	return bpf_map_lookup_elem(&timer_slots, &idx);
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

/* Wakeups are batched: a wakeup per event costs more than the event. The
 * reader also polls on a short deadline, so nothing waits for long. */
static __always_inline void emit(struct event *e)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (!wanted(e))
		return;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, e, sizeof(*e), flags))
		count(CNT_RINGBUF_FULL);
}

/*
 * Socket reads. tp_btf hands over a typed socket: a plain load through it,
 * made fault-safe by the verifier, costs a few ns. The classic tracepoint,
 * the timer path and accept() hold only an address and must probe-read, a
 * helper call per field. (Measured here: probe reads were most of a
 * 0.7-0.9 us event.) "direct" is a constant in every caller, so the
 * compiler keeps one of the two branches.
 */
#define READ(direct, ptr, field) ((direct) ? (ptr)->field : BPF_CORE_READ(ptr, field))

static __always_inline void read_sock(struct event *e, const struct sock *sk, bool direct)
{
	const struct sock_common *skc = &sk->__sk_common;

	e->sk = (__u64)sk;
	e->family = READ(direct, skc, skc_family);
	e->dport = bpf_ntohs(READ(direct, skc, skc_dport));
	/* inet_sport survives unhashing, unlike skc_num. A direct load needs
	 * the typed tcp_sock (which embeds inet_sock); a cast is rejected. */
	if (direct) {
		const struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

		e->sport = tp ? bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport) : 0;
	} else {
		e->sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	}
	if (!e->sport)
		e->sport = READ(direct, skc, skc_num);
	e->uid = READ(direct, sk, sk_uid.val);
	if (direct) {
		e->netns = skc->skc_net.net->ns.inum;
		e->inode = sk->sk_socket ? sk->sk_socket->file->f_inode->i_ino : 0;
	} else {
		e->netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
		e->inode = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
	}
	if (e->family == AF_INET6) {
		if (direct) {
			__builtin_memcpy(e->saddr, &skc->skc_v6_rcv_saddr, 16);
			__builtin_memcpy(e->daddr, &skc->skc_v6_daddr, 16);
		} else {
			bpf_core_read(e->saddr, 16, &skc->skc_v6_rcv_saddr);
			bpf_core_read(e->daddr, 16, &skc->skc_v6_daddr);
		}
	} else {
		*(__u32 *)e->saddr = READ(direct, skc, skc_rcv_saddr);
		*(__u32 *)e->daddr = READ(direct, skc, skc_daddr);
	}
}

static __always_inline void set_owner(struct event *e, const struct sock_info *si)
{
	if (!(si->flags & SI_OWNER))
		return;
	e->pid = si->owner.pid;
	e->tid = si->owner.tid;
	__builtin_memcpy(e->comm, si->owner.comm, sizeof(e->comm));
	e->flags |= FLAG_OWNER_KNOWN;
}

/* Close summary, read from the full socket. A plain cast to tcp_sock is
 * rejected for direct loads; bpf_skc_to_tcp_sock gives a typed one. */
static __always_inline void read_summary(struct event *e, const struct sock *sk, int old, bool direct)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;

	if (direct) {
		tp = bpf_skc_to_tcp_sock((void *)sk);
		if (!tp)
			return;
	}
	/* Data octets only: bytes_acked would count the SYN and FIN too. */
	e->bytes_acked = READ(direct, tp, bytes_sent) - READ(direct, tp, bytes_retrans);
	e->bytes_received = READ(direct, tp, bytes_received);
	/* bytes_received also counts the peer's FIN (rcv_nxt moves past
	 * it). A socket closing from these states has had it. */
	if (e->bytes_received && (old == TCP_CLOSE_WAIT || old == TCP_LAST_ACK || old == TCP_CLOSING))
		e->bytes_received--;
	e->srtt_us = READ(direct, tp, srtt_us) >> 3;
	e->retrans = READ(direct, tp, total_retrans);
	e->error = READ(direct, sk, sk_err);
	e->flags |= FLAG_SUMMARY;
}

/* CLOSE->SYN_SENT fires before connect() picks the local port; the event is
 * held here until the port is known (the SYN's retransmit timer is armed, or
 * the socket's next transition), and keeps its original time. */
static __always_inline void emit_connect(const struct sock *sk, struct sock_info *si, bool direct)
{
	struct event e = {};

	e.kind = KIND_STATE;
	e.ts_ns = si->state_ns;
	e.oldstate = TCP_CLOSE;
	e.newstate = TCP_SYN_SENT;
	e.flags = FLAG_BORN_KNOWN;
	read_sock(&e, sk, direct);
	set_owner(&e, si);
	si->flags &= ~SI_CONNECT_PENDING;
	emit(&e);
}

static __always_inline void end_timewait(__u64 timer, __u64 ts, bool expired)
{
	struct event *e = bpf_map_lookup_elem(&timewaits, &timer);

	if (!e)
		return;
	e->kind = KIND_TW_END;
	e->state_ns = ts - e->ts_ns;
	if (e->flags & FLAG_BORN_KNOWN)
		e->lifetime_ns += e->state_ns;
	e->ts_ns = ts;
	e->oldstate = TCP_TIME_WAIT;
	e->newstate = TCP_CLOSE;
	e->error = 0;
	e->flags &= FLAG_OWNER_KNOWN | FLAG_BORN_KNOWN;
	e->flags |= FLAG_PREV_KNOWN | (expired ? FLAG_TW_EXPIRED : 0);
	emit(e);
	bpf_map_delete_elem(&timewaits, &timer);
}

/*
 * A tracked timewait timer was cancelled: re-armed (timer_start of the same
 * timer follows at once), expiring (timer_expire_entry follows), or killed
 * (nothing follows). Any other event on this CPU settles it as killed.
 */
static __always_inline void settle_cancel(__u64 timer)
{
	struct timer_slot *c = slot(SLOT_CANCELLED);

	if (!c || !c->timer)
		return;
	if (c->timer != timer)
		end_timewait(c->timer, c->ts, false);
	c->timer = 0;
}

static __always_inline __u64 take_started_tw(void)
{
	struct timer_slot *s = slot(SLOT_STARTED);
	__u64 timer;

	if (!s)
		return 0;
	timer = s->timer;
	s->timer = 0;
	return timer;
}

/* The active closer's ->CLOSE right after a timewait timer started on this
 * CPU: if the timewait socket has this socket's ports, it replaced it. */
static __always_inline void enter_timewait(struct event *e, __u64 timer)
{
	struct inet_timewait_sock *tw;

	tw = (void *)(timer - bpf_core_field_offset(struct inet_timewait_sock, tw_timer));
	if (bpf_ntohs(BPF_CORE_READ(tw, __tw_common.skc_dport)) != e->dport ||
	    BPF_CORE_READ(tw, __tw_common.skc_num) != e->sport) {
		count(CNT_TW_UNMATCHED);
		return;
	}
	/* From FIN_WAIT2, substate TIME_WAIT means the peer's FIN came
	 * (FIN_WAIT2 means it is still awaited): uncount it as above. */
	if (e->oldstate == TCP_FIN_WAIT2 && e->bytes_received &&
	    BPF_CORE_READ(tw, tw_substate) == TCP_TIME_WAIT)
		e->bytes_received--;
	e->newstate = TCP_TIME_WAIT;
	e->flags |= FLAG_TW_DERIVED;
	bpf_map_update_elem(&timewaits, &timer, e, BPF_ANY);
}

static __always_inline void listener_key(struct listen_key *k, const struct event *e)
{
	k->netns = e->netns;
	k->port = e->sport;
	k->_pad = 0;
}

/* A socket seen for the first time: who owns it depends on how it was born. */
static __always_inline struct sock_info *track(__u64 skp, const struct event *e, __u64 now)
{
	struct sock_info si = {};
	struct listen_key k;
	struct listen_val *l;

	if (e->oldstate == TCP_CLOSE && e->newstate == TCP_LISTEN) {
		owner_current(&si.owner); /* listen() runs in its caller */
		si.flags = SI_OWNER | SI_BORN;
		si.born_ns = now;
	} else if (e->oldstate == TCP_LISTEN && e->newstate == TCP_SYN_RECV) {
		listener_key(&k, e);
		l = bpf_map_lookup_elem(&listeners, &k);
		if (l) {
			si.owner = l->owner;
			si.flags = SI_OWNER;
		}
		si.flags |= SI_BORN;
		si.born_ns = now;
	}
	bpf_map_update_elem(&socks, &skp, &si, BPF_ANY);
	return bpf_map_lookup_elem(&socks, &skp);
}

static __always_inline void update_listener(const struct event *e)
{
	struct listen_key k;
	struct listen_val v = {}, *cur;

	listener_key(&k, e);
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

static __always_inline void start_connect(__u64 skp, __u64 now)
{
	struct sock_info si = {};

	owner_current(&si.owner); /* connect() runs in its caller */
	si.born_ns = now;
	si.state_ns = now;
	si.flags = SI_OWNER | SI_BORN | SI_STATE | SI_CONNECT_PENDING;
	bpf_map_update_elem(&socks, &skp, &si, BPF_ANY);
}

static __always_inline int on_set_state(const struct sock *sk, int old, int new, bool direct)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 skp = (__u64)sk;
	__u64 tw_timer = take_started_tw();
	struct sock_info *si;
	struct event e = {};

	settle_cancel(0);
	if (new == TCP_SYN_SENT) {
		start_connect(skp, now);
		return 0;
	}
	si = bpf_map_lookup_elem(&socks, &skp);
	if (si && (si->flags & SI_CONNECT_PENDING))
		emit_connect(sk, si, direct);
	if (table_only && si && new != TCP_CLOSE && new != TCP_LISTEN) {
		si->state_ns = now;
		si->flags |= SI_STATE;
		return 0;
	}

	e.kind = KIND_STATE;
	e.ts_ns = now;
	e.oldstate = old;
	e.newstate = new;
	read_sock(&e, sk, direct);
	if (!si && new != TCP_CLOSE)
		si = track(skp, &e, now);
	if (si) {
		set_owner(&e, si);
		if (si->flags & SI_STATE) {
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
		read_summary(&e, sk, old, direct);
		if (tw_timer && (old == TCP_FIN_WAIT2 || old == TCP_CLOSING))
			enter_timewait(&e, tw_timer);
		bpf_map_delete_elem(&socks, &skp);
	} else if (table_only && new != TCP_LISTEN) {
		return 0; /* first sight of an older socket: tracked, not sent */
	}
	emit(&e);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(set_state_btf, const struct sock *sk, const int old, const int new)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	return on_set_state(sk, old, new, true);
}

/* Fallback for kernels where tp_btf cannot attach: the same handler, with the
 * socket address from the classic tracepoint's record. */
SEC("tracepoint/sock/inet_sock_set_state")
int set_state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	return on_set_state((const struct sock *)ctx->skaddr, ctx->oldstate, ctx->newstate, false);
}

SEC("tp_btf/timer_start")
int BPF_PROG(timer_start, struct timer_list *timer, unsigned long bucket_expiry)
{
	__u64 t = (__u64)timer, fn = (__u64)timer->function;
	struct timer_slot *s;
	struct sock_info *si;
	__u64 skp;

	settle_cancel(t);
	if (!fn)
		return 0;
	if (fn == tw_timer_handler_addr) {
		/* New, or re-armed by the peer's FIN: enter_timewait tells. */
		s = slot(SLOT_STARTED);
		if (s)
			s->timer = t;
	} else if (fn == tcp_write_timer_addr) {
		/* connect() arms the SYN's retransmit timer once the port is
		 * chosen: the held CLOSE->SYN_SENT can go. */
		skp = t - bpf_core_field_offset(struct inet_connection_sock, icsk_retransmit_timer);
		si = bpf_map_lookup_elem(&socks, &skp);
		if (si && (si->flags & SI_CONNECT_PENDING))
			emit_connect((const struct sock *)skp, si, false);
	}
	return 0;
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(timer_cancel, struct timer_list *timer)
{
	__u64 t = (__u64)timer;
	struct timer_slot *c;

	settle_cancel(t);
	if (!tw_timer_handler_addr || (__u64)timer->function != tw_timer_handler_addr)
		return 0;
	if (!bpf_map_lookup_elem(&timewaits, &t))
		return 0;
	c = slot(SLOT_CANCELLED);
	if (c) {
		c->timer = t;
		c->ts = bpf_ktime_get_ns();
	}
	return 0;
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(timer_expire_entry, struct timer_list *timer, unsigned long baseclk)
{
	__u64 t = (__u64)timer;

	settle_cancel(t);
	if (tw_timer_handler_addr && (__u64)timer->function == tw_timer_handler_addr)
		end_timewait(t, bpf_ktime_get_ns(), true);
	return 0;
}

/* The accepting process is known only when accept() returns: the fd it
 * returns leads to the socket. (io_uring accepts don't pass here; those
 * sockets keep their listener's owner.) */
static __always_inline int on_accept(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sock_info si = {}, *cur;
	struct event e = {};
	struct fdtable *fdt;
	struct file **fds, *f;
	struct socket *so;
	struct sock *sk;
	__u64 skp;

	if (fd < 0)
		return 0;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_core_read(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	so = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(so, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;

	skp = (__u64)sk;
	cur = bpf_map_lookup_elem(&socks, &skp);
	if (cur)
		si = *cur;
	owner_current(&si.owner);
	si.flags |= SI_OWNER;
	bpf_map_update_elem(&socks, &skp, &si, BPF_ANY);

	e.kind = KIND_ACCEPT;
	e.ts_ns = bpf_ktime_get_ns();
	e.oldstate = e.newstate = BPF_CORE_READ(sk, __sk_common.skc_state);
	read_sock(&e, sk, false);
	if (e.family != AF_INET && e.family != AF_INET6)
		return 0;
	set_owner(&e, &si);
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
	return on_accept(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int accept_exit(struct syscall_exit *ctx)
{
	return on_accept(ctx->ret);
}
