/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Passive sockets: a child belongs to its listener's owner until accept()
 * hands it to a process.
 *
 * Part of socktrace.bpf.c, included after its configuration and maps, which
 * it uses.
 */
#ifndef SOCKTRACE_ACCEPT_H
#define SOCKTRACE_ACCEPT_H

static __always_inline void listener_key(struct listen_key *k, __u32 netns, __u16 port)
{
	k->netns = netns;
	k->port = port;
	k->_pad = 0;
}

static __always_inline void update_listener(const struct event *e)
{
	struct listen_key k;
	struct listen_val v = {}, *cur;

	listener_key(&k, e->netns, e->sport);
	if (e->newstate == TCP_LISTEN) {
		v.sk = e->sk;
		v.owner.cgroup = e->cgroup;
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

#endif /* SOCKTRACE_ACCEPT_H */
