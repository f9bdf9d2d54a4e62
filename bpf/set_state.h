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

/*
 * In table_only mode, two transitions a table needs send nothing: a connect's
 * next transition only sends the CLOSE->SYN_SENT it may still hold (unless
 * table_connect_times asks for it too), and a passive child is only set up.
 * Returns whether this was one of them.
 */
static __always_inline bool table_bookkeeping_only(__u64 skp, const struct sock *sk,
						   struct sock_info *si, int old, int new,
						   enum sk_access acc)
{
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
	if (table_only && !table_needs(old, new))
		return 0;
	if (!sock_wanted(sk, acc))
		return 0;
	/* In table_only mode, a connect's next transition only finishes what
	 * its CLOSE->SYN_SENT set up. */
	create = new != TCP_CLOSE && !(table_only && old == TCP_SYN_SENT);
	si = sock_info(skp, sk, acc, create, &slotted);
	/* A birth starts afresh, whatever a missed ->CLOSE left at this
	 * address in socks. */
	if (si &&
	    ((old == TCP_CLOSE && new == TCP_LISTEN) || (old == TCP_LISTEN && new == TCP_SYN_RECV)))
		si->flags = 0;
	if (table_only && table_bookkeeping_only(skp, sk, si, old, new, acc))
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
		if (si)
			forget(skp, si, acc);
		else
			bpf_map_delete_elem(&accepts, &skp); /* accepted, never tracked */
	}
	emit(&e);
	return 0;
}

#endif /* SOCKTRACE_SET_STATE_H */
