/* SPDX-License-Identifier: GPL-2.0 */
/*
 * connect(): CLOSE->SYN_SENT, held until connect() has picked the local
 * port.
 *
 * Part of socktrace.bpf.c, included after its configuration and maps, which
 * it uses.
 */
#ifndef SOCKTRACE_CONNECT_H
#define SOCKTRACE_CONNECT_H

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

static __always_inline void start_connect(__u64 skp, struct sock_info *si, bool slotted, __u64 now)
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

#endif /* SOCKTRACE_CONNECT_H */
