/* SPDX-License-Identifier: GPL-2.0 */
/*
 * inet_sock_set_state: every TCP state transition but the one into
 * TIME_WAIT (see timewait.h).
 *
 * Part of socktrace.bpf.c, included after its configuration and maps, which
 * it uses.
 */
#ifndef SOCKTRACE_SET_STATE_H
#define SOCKTRACE_SET_STATE_H

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

/*
 * Moves to FIN_WAIT1 and LAST_ACK are made only by tcp_close_state(), which
 * only close() (tcp_close) and shutdown() (tcp_shutdown) call: never a
 * packet or a timer. They run in a process that holds the socket, which may
 * not be the one that connected, listened or accepted: a parent that forked
 * and exited leaves the socket to its child.
 */
static __always_inline bool closed_by_holder(int new)
{
	return new == TCP_FIN_WAIT1 || new == TCP_LAST_ACK;
}

/* PF_KTHREAD (include/linux/sched.h): a kernel thread. */
#define PF_KTHREAD 0x00200000

/*
 * The process closing the socket holds it: it becomes the owner, so the
 * socket's later events (its close, its TIME_WAIT) name it. Not a kernel
 * thread: a file's last reference dropped in one (delayed_fput), or a
 * kernel user of the socket (MPTCP's worker), holds no socket of its own.
 */
static __always_inline void take_closer(struct sock_info *si)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	unsigned int flags;

	if ((si->flags & SI_OWNER) && si->owner.pid == pid)
		return;
	if (have_cast())
		flags = cast(task, struct task_struct)->flags;
	else
		flags = BPF_CORE_READ(task, flags);
	if (flags & PF_KTHREAD)
		return;
	owner_current(&si->owner);
	si->flags |= SI_OWNER;
}

/*
 * The transitions table_only mode looks at: those it sends (->CLOSE,
 * CLOSE->LISTEN), the births that give a socket its owner and birth time
 * (CLOSE->SYN_SENT, LISTEN->SYN_RECV), a connect's next transition, which
 * may still hold its CLOSE->SYN_SENT, and the close() that may hand the
 * socket to its holder (closed_by_holder). The others (to ESTABLISHED from
 * SYN_RECV, FIN_WAIT2, CLOSE_WAIT, CLOSING) change nothing a table shows:
 * an accept is claimed at the close instead, and closes carry no time in
 * state.
 */
static __always_inline bool table_needs(int old, int new)
{
	return new == TCP_CLOSE || new == TCP_SYN_SENT || new == TCP_LISTEN || old == TCP_LISTEN ||
	       old == TCP_SYN_SENT || closed_by_holder(new);
}

/*
 * In table_only mode, three transitions a table needs send nothing: a
 * connect's next transition only sends the CLOSE->SYN_SENT it may still hold
 * (unless table_connect_times asks for it too), a passive child is only set
 * up, and a close() only records its caller as the owner (after the accept
 * it overrides). Returns whether this was one of them.
 */
static __always_inline bool table_bookkeeping_only(__u64 skp, const struct sock *sk,
						   struct sock_info *si, bool slotted, int old,
						   int new, enum sk_access acc)
{
	if (closed_by_holder(new)) {
		if (si && (si->flags & SI_TRACKED)) {
			if (si->flags & SI_PASSIVE)
				claim_accept(skp, si, slotted);
			take_closer(si);
		}
		return true;
	}
	if (old == TCP_SYN_SENT && new != TCP_CLOSE) {
		if (table_connect_times)
			return false; /* sent, with its time in SYN_SENT */
		if (si && (si->flags & SI_CONNECT_PENDING))
			release_connect(skp, sk, si, acc);
		return true;
	}
	if (old != TCP_LISTEN || new != TCP_SYN_RECV)
		return false;
	/* Its local port is its listener's, copied at the clone. */
	if (si)
		track(si, old, new, sock_netns(sk, acc), READ(acc, &sk->__sk_common, skc_num),
		      bpf_ktime_get_ns());
	return true;
}

/* count_transitions: one more from->to of a wanted socket. */
static __always_inline void count_transition(int from, int to)
{
	__u32 zero = 0;
	struct transition_counts *c;

	if (!count_transitions)
		return;
	c = bpf_map_lookup_elem(&transitions, &zero);
	if (c)
		c->count[from & (TCP_STATE_SLOTS - 1)][to & (TCP_STATE_SLOTS - 1)]++;
}

static __always_inline int on_set_state(__u64 skp, const struct sock *sk, int old, int new,
					enum sk_access acc)
{
	struct timer_slots *ts = slots();
	struct sock_info *si;
	struct event e = {};
	__u64 now, tw_timer = 0;
	bool slotted, create;

	/* Every run, whatever the socket: a timewait timer belongs to the
	 * transition right after it on this CPU, and no later one. */
	if (ts) {
		tw_timer = ts->tw_started;
		ts->tw_started = 0;
		settle_cancel(ts, 0);
	}
	if (table_only && !table_needs(old, new) && !count_transitions)
		return 0;
	if (!sock_wanted(sk, acc))
		return 0;
	/* A ->CLOSE is counted once it is known whether it was TIME_WAIT. */
	if (new != TCP_CLOSE)
		count_transition(old, new);
	if (table_only && !table_needs(old, new))
		return 0;
	/* In table_only mode, a connect's next transition only finishes what
	 * its CLOSE->SYN_SENT set up, and a close() only updates what a birth
	 * set up (sockets older than socktrace get no slot there). */
	create =
		new != TCP_CLOSE && !(table_only && (old == TCP_SYN_SENT || closed_by_holder(new)));
	si = sock_info(skp, sk, acc, create, &slotted);
	/* A birth starts afresh, whatever a missed ->CLOSE left at this
	 * address in socks. */
	if (si &&
	    ((old == TCP_CLOSE && new == TCP_LISTEN) || (old == TCP_LISTEN && new == TCP_SYN_RECV)))
		si->flags = 0;
	if (table_only && table_bookkeeping_only(skp, sk, si, slotted, old, new, acc))
		return 0;
	now = bpf_ktime_get_ns();
	if (new == TCP_SYN_SENT) {
		if (si)
			start_connect(skp, si, slotted, now);
		return 0;
	}
	if (si && (si->flags & SI_CONNECT_PENDING))
		release_connect(skp, sk, si, acc);
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
		if (closed_by_holder(new))
			take_closer(si);
		if (si->flags & SI_OWNER)
			set_owner(&e, &si->owner);
		/* table_only mode does not time the states between, unless
		 * asked for a connect's time in SYN_SENT. */
		if ((!table_only || table_connect_times) && (si->flags & SI_STATE)) {
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
		count_transition(old, e.newstate);
		if (si)
			forget(skp, si, acc);
		else
			bpf_map_delete_elem(&accepts, &skp); /* accepted, never tracked */
	}
	emit(&e);
	return 0;
}

#endif /* SOCKTRACE_SET_STATE_H */
