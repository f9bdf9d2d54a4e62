/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-socket bookkeeping (struct sock_info): which map holds a socket's,
 * how it is claimed, and how it ends.
 *
 * Part of socktrace.bpf.c, included after its configuration and maps, which
 * it uses.
 */
#ifndef SOCKTRACE_SLOTS_H
#define SOCKTRACE_SLOTS_H

/* This CPU's timer_slots: the timer protocol's scratch, and slot_of's. */
static __always_inline struct timer_slots *slots(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&timer_slots, &zero);
}

/* The slot a socket's address maps to. */
static __always_inline struct sock_slot *slot_of(__u64 skp)
{
	struct timer_slots *ts = slots();
	__u64 addr, check;
	__u32 idx;

	if (!ts)
		return NULL;
	/* tp_btf's socket is a typed pointer, on which the verifier allows
	 * no arithmetic but adding and subtracting; stored in a map and read
	 * back, it is a plain number. A program run from an interrupt between
	 * the two may have used the same scratch: then copy it the slow way. */
	ts->scratch = skp;
	addr = *(volatile __u64 *)&ts->scratch;
	/* Compared through a copy: knowing addr == skp, the compiler would
	 * use skp itself. */
	check = addr;
	barrier_var(check);
	if (check != skp)
		bpf_probe_read_kernel(&addr, sizeof(addr), &skp);
	idx = (addr * 0x9E3779B97F4A7C15ULL) >> (64 - SOCK_SLOT_BITS);
	return bpf_map_lookup_elem(&sock_slots, &idx);
}

/*
 * The socket's bookkeeping: its slot, else (the slot is another socket's)
 * its own storage when tp_btf hands over a typed socket, else socks by
 * address. create: set up an empty (untracked) one if there is none.
 */
static __always_inline struct sock_info *sock_info(__u64 skp, const struct sock *sk,
						   enum sk_access acc, bool create, bool *slotted)
{
	struct sock_slot *sl = slot_of(skp);
	struct sock_info empty = {}, *si;

	*slotted = true;
	if (sl && sl->sk == skp)
		return &sl->si;
	if (acc == SK_TRUSTED)
		si = bpf_sk_storage_get(&sk_infos, (void *)sk, NULL, 0);
	else
		si = bpf_map_lookup_elem(&socks, &skp);
	if (si || !create)
		goto other;
	if (sl && __sync_val_compare_and_swap(&sl->sk, 0, skp) == 0) {
		sl->si = empty;
		return &sl->si;
	}
	*slotted = false;
	if (acc == SK_TRUSTED)
		return bpf_sk_storage_get(&sk_infos, (void *)sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	bpf_map_update_elem(&socks, &skp, &empty, BPF_NOEXIST);
	return bpf_map_lookup_elem(&socks, &skp);
other:
	*slotted = false;
	return si;
}

/* The socket is closed: its bookkeeping ends with this life. Nothing may
 * touch si after this: a freed slot can be claimed at once on another CPU.
 * With the reset hooks, the owner stays readable for a reset that the close
 * sends after it (see sock_owner), until the slot is claimed again. */
static __always_inline void forget(__u64 skp, struct sock_info *si, enum sk_access acc)
{
	struct sock_slot *sl = slot_of(skp);
	bool owned = with_resets && (si->flags & SI_OWNER);

	if (sl && sl->sk == skp) {
		sl->closed = owned ? skp : 0;
		sl->sk = 0;
	} else if (acc != SK_TRUSTED) {
		bpf_map_delete_elem(&socks, &skp);
	} else {
		si->flags = owned ? SI_CLOSED : 0;
	}
}

#endif /* SOCKTRACE_SLOTS_H */
