/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Resets and retransmits: tcp:tcp_send_reset, tcp:tcp_receive_reset and
 * tcp:tcp_retransmit_skb. They fire in softirq (a packet or a timer) as
 * often as in a syscall, so an event's owner is the socket's, from its
 * bookkeeping, never the current task.
 *
 * Part of socktrace.bpf.c, included after its configuration and maps, which
 * it uses.
 */
#ifndef SOCKTRACE_RESET_H
#define SOCKTRACE_RESET_H

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

/*
 * The bookkeeping of a socket, if it has any; nothing is created. The
 * classic state hook keeps what has no slot in socks, tp_btf's in the
 * socket: these hooks are tp_btf whichever state hook is attached.
 */
static __always_inline struct sock_info *known_info(__u64 skp, const struct sock *sk, bool *slotted)
{
	struct sock_info *si = sock_info(skp, sk, SK_TRUSTED, false, slotted);

	if (si)
		return si;
	return bpf_map_lookup_elem(&socks, &skp);
}

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))

/* The owner a closed socket left in the slot it freed, unless another socket
 * has claimed the slot since: then its owner may be half written, and the
 * second look at the tag tells. */
static __always_inline void freed_slot_owner(struct event *e, __u64 skp)
{
	struct sock_slot *sl = slot_of(skp);
	struct owner o;

	if (!sl || READ_ONCE(sl->sk) || READ_ONCE(sl->closed) != skp)
		return;
	o = sl->si.owner;
	if (!READ_ONCE(sl->sk))
		set_owner(e, &o);
}

/*
 * The owner of a full socket. Closing with SO_LINGER 0 or with unread data,
 * and a packet for a socket already shut, move the socket to CLOSE, which
 * ends its bookkeeping, and only then send the reset (after transmitting
 * it: on loopback the peer may have handled it already): forget() leaves
 * the owner behind for it.
 */
static __always_inline void sock_owner(struct event *e, __u64 skp, const struct sock *sk)
{
	struct sock_info *si;
	bool slotted;

	si = known_info(skp, sk, &slotted);
	if (si && (si->flags & SI_TRACKED)) {
		/* accept() may have taken it since its last transition. */
		if (si->flags & SI_PASSIVE)
			claim_accept(skp, si, slotted);
		if (si->flags & SI_OWNER)
			set_owner(e, &si->owner);
		return;
	}
	if (e->newstate != TCP_CLOSE)
		return;
	if (si && (si->flags & SI_CLOSED))
		set_owner(e, &si->owner);
	else if (!si)
		freed_slot_owner(e, skp);
}

/* An event of a full socket: the socket's tuple, state and owner. */
static __always_inline void emit_sock_event(struct event *e, const struct sock *sk)
{
	__u64 skp = (__u64)sk;

	if (!sock_wanted(sk, SK_TRUSTED))
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->oldstate = e->newstate = sk->__sk_common.skc_state;
	read_sock(e, skp, sk, SK_TRUSTED);
	sock_owner(e, skp, sk);
	emit(e);
}

/*
 * A reset for a packet that found no socket (reason NO_SOCKET, mostly): the
 * tuple is the packet's, reversed, since the reset goes back to its sender,
 * and the namespace is its device's. TCP's receive path has set both
 * header offsets.
 */
static __always_inline bool read_packet_reply(struct event *e, const struct sk_buff *skb)
{
	const struct sk_buff *s = untrusted(skb, struct sk_buff);
	const struct net_device *dev;
	unsigned char *head = s->head;
	struct ipv6hdr ip6;
	struct tcphdr th;
	struct iphdr ip;

	if (bpf_probe_read_kernel(&th, sizeof(th), head + s->transport_header))
		return false;
	e->sport = bpf_ntohs(th.dest);
	e->dport = bpf_ntohs(th.source);
	if (s->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + s->network_header))
			return false;
		e->family = AF_INET;
		*(__u32 *)e->saddr = ip.daddr;
		*(__u32 *)e->daddr = ip.saddr;
	} else if (s->protocol == bpf_htons(ETH_P_IPV6)) {
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + s->network_header))
			return false;
		e->family = AF_INET6;
		__builtin_memcpy(e->saddr, &ip6.daddr, 16);
		__builtin_memcpy(e->daddr, &ip6.saddr, 16);
	} else {
		return false;
	}
	dev = s->dev;
	if (dev)
		e->netns = dev->nd_net.net->ns.inum;
	return true;
}

/*
 * A timewait socket (or a request socket, NEW_SYN_RECV, which netstat
 * shows as SYN_RECV) has the tuple and namespace of any socket, and no
 * owner: userspace has a timewait socket's from its TIME_WAIT entry.
 */
static __always_inline void read_mini_sock(struct event *e, const struct sock *sk, __u8 state)
{
	e->sk = (__u64)sk;
	read_common(e, &sk->__sk_common, SK_TRUSTED);
	e->oldstate = e->newstate = state == TCP_NEW_SYN_RECV ? TCP_SYN_RECV : state;
}

/*
 * tcp_send_reset: from a full socket (an abort: close() with SO_LINGER 0 or
 * unread data, a keepalive timeout, a packet it refuses), from a request or
 * timewait socket, or with no socket at all (a packet for a closed port).
 * The tracepoint hands no socket in the last case, and no packet when the
 * reset is the socket's own.
 */
static __always_inline int on_send_reset(const struct sock *sk, const struct sk_buff *skb,
					 __u16 reason)
{
	struct event e = {};
	__u8 state;

	e.kind = KIND_RESET_SENT;
	e.reason = reason;
	if (!sk) {
		if (!skb || !read_packet_reply(&e, skb))
			return 0;
		e.ts_ns = bpf_ktime_get_ns();
		emit(&e);
		return 0;
	}
	state = sk->__sk_common.skc_state;
	if (state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV) {
		emit_sock_event(&e, sk);
		return 0;
	}
	read_mini_sock(&e, sk, state);
	e.ts_ns = bpf_ktime_get_ns();
	emit(&e);
	return 0;
}

/* A reset received or a retransmit: an event of kind on a full socket, in
 * the state it is in. */
static __always_inline int on_sock_event(const struct sock *sk, __u8 kind)
{
	struct event e = {};

	if (!sk)
		return 0;
	e.kind = kind;
	emit_sock_event(&e, sk);
	return 0;
}

#endif /* SOCKTRACE_RESET_H */
