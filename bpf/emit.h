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
	e->pid = o->pid;
	e->tid = o->tid;
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	e->flags |= FLAG_OWNER_KNOWN;
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
