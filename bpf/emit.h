/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sending an event: its owner, the filters every event passes, the ring
 * buffer and the loss counters.
 *
 * Part of socktrace.bpf.c, included after its configuration and maps, which
 * it uses.
 */
#ifndef SOCKTRACE_EMIT_H
#define SOCKTRACE_EMIT_H

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		(*c)++;
}

/*
 * The owner is the calling process: its name is its thread group leader's
 * comm (what /proc/PID/comm and ps show), not the calling thread's, which
 * a worker thread may have renamed (PR_SET_NAME). The thread is told by
 * its id.
 */
static __always_inline void owner_current(struct owner *o)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	const struct task_struct *leader;

	o->pid = id >> 32;
	/* Read now: a short-lived process is gone, and its /proc/PID/cgroup
	 * with it, by the time userspace reads the event. */
	o->cgroup = bpf_get_current_cgroup_id();
	o->tid = (__u32)id;
	if (have_cast())
		leader = cast(task, struct task_struct)->group_leader;
	else
		leader = BPF_CORE_READ(task, group_leader);
	/* The kernel pads comm with NULs (__set_task_comm: strscpy_pad). */
	if (bpf_core_read(o->comm, sizeof(o->comm), &leader->comm))
		bpf_get_current_comm(o->comm, sizeof(o->comm));
}

static __always_inline void set_owner(struct event *e, const struct owner *o)
{
	e->cgroup = o->cgroup;
	e->pid = o->pid;
	e->tid = o->tid;
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	e->flags |= FLAG_OWNER_KNOWN;
}

/* The leading bits of two addresses agree. bits is a constant for the
 * verifier (it comes from the read-only filter program), so it walks only
 * the bytes that count. */
static __always_inline bool bits_match(const __u8 *a, const volatile __u8 *b, __u32 bits)
{
	for (int i = 0; i < 16; i++) {
		__u8 mask = 0xff;

		if (bits == 0)
			return true;
		if (bits < 8)
			mask = 0xff << (8 - bits);
		if ((a[i] ^ b[i]) & mask)
			return false;
		bits = bits < 8 ? 0 : bits - 8;
	}
	return true;
}

static __always_inline bool v4_mapped(const __u8 *a)
{
	return *(const __u64 *)a == 0 && *(const __u16 *)(a + 8) == 0 &&
	       *(const __u16 *)(a + 10) == 0xffff;
}

/* An address and port as inet_diag's bytecode tests them for ss: the
 * condition's family must be the socket's, but an IPv4 condition also
 * matches an IPv4-mapped IPv6 address. */
static __always_inline bool host_matches(const struct event *e, const volatile struct filter_op *op,
					 bool remote)
{
	const __u8 *addr = remote ? e->daddr : e->saddr;
	__u16 port = remote ? e->dport : e->sport;

	if (op->port != -1 && op->port != port)
		return false;
	if (op->family && op->family != e->family) {
		if (e->family == AF_INET6 && op->family == AF_INET && v4_mapped(addr))
			return bits_match(addr + 12, op->addr, op->bits);
		return false;
	}
	return bits_match(addr, op->addr, op->bits);
}

static __always_inline bool comm_matches(const char *comm, const volatile __u8 *name)
{
#pragma unroll
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != name[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

static __always_inline bool test_op(const struct event *e, const volatile struct filter_op *op)
{
	switch (op->code) {
	case FC_SRC:
		return host_matches(e, op, false);
	case FC_DST:
		return host_matches(e, op, true);
	case FC_SPORT_GE:
		return e->sport >= op->port;
	case FC_SPORT_LE:
		return e->sport <= op->port;
	case FC_DPORT_GE:
		return e->dport >= op->port;
	case FC_DPORT_LE:
		return e->dport <= op->port;
	case FC_AUTOBOUND:
		return !(e->flags & FLAG_PORT_LOCKED);
	case FC_PID:
		return e->pid == op->value;
	case FC_COMM:
		return comm_matches(e->comm, op->addr);
	case FC_NETNS:
		return e->netns == op->value;
	}
	return true;
}

/*
 * Run the filter program. The program sits in read-only data, so every
 * test's code, operands and targets are constants to the verifier, which
 * checks only the tests a run can reach. Jumps go forward: pc grows until
 * it is FILTER_PASS or FILTER_DROP. An event whose owner the kernel does
 * not know runs the variant that lets owner tests through: userspace
 * resolves the owner and decides. Not inlined: one copy per program
 * rather than one per place that sends an event.
 */
static __noinline bool run_filter(const struct event *e)
{
	__u32 pc = e->flags & FLAG_OWNER_KNOWN ? filter_start : filter_start_ownerless;

	while (pc < FILTER_OPS)
		pc = test_op(e, &filter_prog[pc]) ? filter_prog[pc].yes : filter_prog[pc].no;
	return pc == FILTER_PASS;
}

static __always_inline bool wanted(const struct event *e)
{
	if (filter_netns && e->netns != filter_netns)
		return false;
	if (filter_family && e->family != filter_family)
		return false;
	if (filter_states && !(filter_states & ((1U << e->oldstate) | (1U << e->newstate))))
		return false;
	/* Constants: without a program, no call. */
	if (filter_start == FILTER_PASS && filter_start_ownerless == FILTER_PASS)
		return true;
	return run_filter(e);
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

#endif /* SOCKTRACE_EMIT_H */
