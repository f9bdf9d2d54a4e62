/* SPDX-License-Identifier: GPL-2.0 */
/*
 * TIME_WAIT: the kernel replaces a closing socket with a timewait socket
 * without a state transition; its timer tells when it is born and when it
 * ends.
 *
 * Part of socktrace.bpf.c, included after its configuration and maps, which
 * it uses.
 */
#ifndef SOCKTRACE_TIMEWAIT_H
#define SOCKTRACE_TIMEWAIT_H

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
 * connection an insert with an allocation, on its own time.)
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
 * case under churn) is replaced by a timewait socket in
 * substate FIN_WAIT2, which netstat lists as FIN_WAIT2 until the FIN comes.
 * That FIN re-arms the timer with mod_timer_pending, which mostly keeps it
 * in its wheel bucket and then shows in no tracepoint: the entry is flagged
 * instead.
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

/*
 * The timer hooks fire for every timer in the system, about a dozen times per
 * loopback connection (retransmit, delayed ACK, request socket, timewait):
 * a timer that is neither a timewait timer nor (for timer_start) a TCP write
 * timer costs a load and two compares.
 */
static __always_inline int on_timer_start(const struct timer_list *timer)
{
	__u64 t = (__u64)timer, fn = (__u64)timer->function, skp;
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
	skp = t - bpf_core_field_offset(struct inet_connection_sock, icsk_retransmit_timer);
	if (have_cast())
		connect_timer(skp, SK_CAST);
	else
		connect_timer(skp, SK_PROBE);
	settle_cancel(s, t);
	return 0;
}

/* This CPU's slots, with a pending cancel settled, when timer is a timewait
 * timer; NULL for any other timer, which must not settle a cancel (see
 * settle_cancel). */
static __always_inline struct timer_slots *tw_timer_slots(const struct timer_list *timer)
{
	struct timer_slots *s;

	if (!tw_timer_handler_addr || (__u64)timer->function != tw_timer_handler_addr)
		return NULL;
	s = slots();
	if (s)
		settle_cancel(s, (__u64)timer);
	return s;
}

/* Most cancels are re-arms, which settle without an event; the end is read
 * now, while the socket surely lives, in case this is a kill. */
static __always_inline int on_timer_cancel(const struct timer_list *timer)
{
	__u64 t = (__u64)timer;
	struct timer_slots *s = tw_timer_slots(timer);

	if (!s)
		return 0;
	tw_end(&s->cancelled_tw, t);
	if (!wanted(&s->cancelled_tw))
		return 0;
	s->cancelled = t;
	s->cancelled_ns = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int on_timer_expire(const struct timer_list *timer)
{
	struct event e;

	if (!tw_timer_slots(timer))
		return 0;
	/* The timer runs next: the socket is still whole. */
	tw_end(&e, (__u64)timer);
	emit_tw_end(&e, bpf_ktime_get_ns(), true);
	return 0;
}

#endif /* SOCKTRACE_TIMEWAIT_H */
