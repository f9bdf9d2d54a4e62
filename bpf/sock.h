/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading a socket: the three ways a program holds one, and the reads that
 * fill an event from it (tuple, namespace, inode, close summary).
 *
 * Part of socktrace.bpf.c, included after its configuration and maps, which
 * it uses.
 */
#ifndef SOCKTRACE_SOCK_H
#define SOCKTRACE_SOCK_H

#define AF_INET 2
#define AF_INET6 10
#define SOCK_BINDPORT_LOCK 8 /* include/net/sock.h: bind() chose the port */

/*
 * bpf_rdonly_cast (6.2+) turns any kernel address into a typed, read-only
 * pointer: plain loads through it are made fault-safe by the verifier,
 * where a probe read is a helper call per field. Weak: on an
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
 * (btf_nested_type_is_trusted), which made most of socktrace's start on
 * 6.18. Pointer chains are therefore walked through a read-only cast,
 * which the verifier checks like a probe read, where the kernel has one.
 */
#define untrusted(ptr, type) (have_cast() ? cast(ptr, type) : (const type *)(ptr))

static __always_inline __u32 sock_netns(const struct sock *sk, enum sk_access acc)
{
	if (acc != SK_PROBE)
		return untrusted(sk, struct sock)->__sk_common.skc_net.net->ns.inum;
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
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
	/* What ss's "autobound" asks the kernel; a passive child never has
	 * it (sk_clone_lock clears it), nor has a timewait socket. */
	if (READ(acc, sk, sk_userlocks) & SOCK_BINDPORT_LOCK)
		e->flags |= FLAG_PORT_LOCKED;
	if (acc != SK_PROBE) {
		const struct socket *so = untrusted(sk, struct sock)->sk_socket;

		e->inode = so ? so->file->f_inode->i_ino : 0;
	} else
		e->inode = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

/* tcp_fin() marks the socket SOCK_DONE when the peer's FIN arrives;
 * nothing else in TCP sets it. */
static __always_inline bool fin_received(const struct sock *sk, enum sk_access acc)
{
	return READ(acc, sk, __sk_common.skc_flags) &
	       (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE));
}

/* Close summary, read from the full socket: why it ended, and what it carried. */
static __always_inline void read_summary(struct event *e, const struct sock *sk, int old,
					 enum sk_access acc)
{
	const struct tcp_sock *tp;

	e->error = READ(acc, sk, sk_err);
	/* A table shows why a connection ended, not what it carried (unless
	 * asked); a listener carried nothing. */
	if ((table_only && !table_summary) || old == TCP_LISTEN)
		return;
	tp = tcp_of(sk, acc);
	if (!tp)
		return;
	/* Data octets, each once: tcp_sock's bytes_sent counts a retransmitted
	 * one again, and its bytes_acked counts the SYN and FIN too. */
	e->bytes_sent = READ(acc, tp, bytes_sent) - READ(acc, tp, bytes_retrans);
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

#endif /* SOCKTRACE_SOCK_H */
