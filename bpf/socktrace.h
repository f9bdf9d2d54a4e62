/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The one definition of what the kernel side sends to userspace. Go uses the
 * type bpf2go generates from struct event; nothing mirrors it by hand. */
#ifndef SOCKTRACE_H
#define SOCKTRACE_H

#define TASK_COMM_LEN 16

/* What an event reports. */
enum event_kind {
	KIND_STATE = 1,	     /* a TCP state transition (TIME_WAIT entry derived) */
	KIND_ACCEPT = 2,     /* accept() handed the socket to a process */
	KIND_TW_END = 3,     /* the timewait socket is gone (expired or reused) */
	KIND_RESET_SENT = 4, /* the kernel sent a RST for the socket, or for a packet */
	KIND_RESET_RECV = 5, /* a RST came in for the socket */
	KIND_RETRANSMIT = 6, /* the socket sent a segment again */
};

/* event.flags */
enum event_flag {
	FLAG_OWNER_KNOWN = 1 << 0,  /* pid/tid/comm are the socket's owner */
	FLAG_BORN_KNOWN = 1 << 1,   /* lifetime_ns is valid */
	FLAG_PREV_KNOWN = 1 << 2,   /* state_ns is valid */
	FLAG_TW_DERIVED = 1 << 3,   /* newstate TIME_WAIT was derived from timer events */
	FLAG_TW_EXPIRED = 1 << 4,   /* KIND_TW_END: the timer ran out (else: killed early) */
	FLAG_SUMMARY = 1 << 5,	    /* bytes/srtt/retrans were read from the socket */
	FLAG_TW_FIN_WAIT2 = 1 << 6, /* TW_DERIVED, and the peer's FIN is still awaited */
	FLAG_PORT_LOCKED = 1 << 7,  /* bind() chose the local port (SOCK_BINDPORT_LOCK) */
};

/* Counters userspace reads from the per-CPU "counters" map. */
enum counter {
	CNT_RINGBUF_FULL = 0, /* an event could not be reserved: lost */
	CNT_TW_UNMATCHED = 1, /* a timewait timer started with no matching close */
	CNT_MAX = 2,
};

/* Fixed-width fields ordered large to small, addresses as bytes plus family,
 * ports in host order, no unions. The close summary is a tail that only
 * events with FLAG_SUMMARY send: the others are EVENT_HEAD_SIZE bytes. (Ring
 * traffic is paid on both sides: by the program that writes it and by the
 * reader.) */
struct event {
	__u64 ts_ns;	   /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the transition */
	__u64 sk;	   /* kernel socket address: the socket's identity while it lives */
	__u64 state_ns;	   /* time spent in oldstate */
	__u64 lifetime_ns; /* since the socket was born (SYN_SENT, SYN_RECV or LISTEN) */
	__u64 inode;	   /* socket inode, 0 once the socket has no file */
	__u64 cgroup;	   /* owner's cgroup v2 id (its directory's inode), 0: not known */
	__u32 netns;	   /* network namespace inode */
	__u32 pid;	   /* owner's process id (tgid) */
	__u32 tid;	   /* owner's thread id */
	__u32 uid;	   /* socket's uid */
	__u16 sport;	   /* local port */
	__u16 dport;	   /* remote port */
	__u16 family;	   /* AF_INET or AF_INET6 */
	__u16 error;	   /* sk_err: errno of a failed or reset connection */
	__u8 saddr[16];	   /* local address (first 4 bytes for AF_INET) */
	__u8 daddr[16];	   /* remote address */
	__u8 kind;	   /* enum event_kind */
	__u8 oldstate;	   /* kernel TCP_* state numbers; an accept, reset or */
	__u8 newstate;	   /* retransmit has the socket's state in both (0: no socket) */
	__u8 flags;	   /* enum event_flag */
	char comm[TASK_COMM_LEN];
	__u16 reason; /* KIND_RESET_SENT: the kernel's enum sk_rst_reason (6.10+) */
	__u8 _pad[2];
	/* The close summary (FLAG_SUMMARY), read from the socket at ->CLOSE. */
	__u64 bytes_sent;     /* data bytes sent, a retransmitted byte counted once */
	__u64 bytes_received; /* bytes received */
	__u32 srtt_us;	      /* smoothed RTT, microseconds */
	__u32 retrans;	      /* total retransmitted segments */
};

/*
 * The filter program: an expression compiled by userspace (filter.Program)
 * into tests on an event, each with where to go next on yes and on no. A
 * jump only goes forward, to a later test or to FILTER_PASS (send the
 * event) or FILTER_DROP, so a run takes at most FILTER_OPS tests.
 */
enum filter_code {
	FC_SRC = 1,	 /* local address and port: family, addr/bits, port (-1: any) */
	FC_DST = 2,	 /* remote address and port */
	FC_SPORT_GE = 3, /* local port >= port */
	FC_SPORT_LE = 4,
	FC_DPORT_GE = 5, /* remote port >= port */
	FC_DPORT_LE = 6,
	FC_AUTOBOUND = 7, /* bind() did not choose the local port */
	FC_PID = 8,	  /* the owner's pid is value */
	FC_COMM = 9,	  /* the owner's name is addr (NUL-padded) */
	FC_NETNS = 10,	  /* the namespace inode is value */
};

enum filter_limit {
	FILTER_OPS = 32,   /* tests in a program */
	FILTER_PASS = 254, /* jump target: send the event */
	FILTER_DROP = 255, /* jump target: drop it */
};

struct filter_op {
	__u8 addr[16]; /* FC_SRC, FC_DST: IPv4 in the first 4 bytes; FC_COMM: the name */
	__s32 port;
	__u32 value;
	__u8 code; /* enum filter_code */
	__u8 yes;  /* the next test, FILTER_PASS or FILTER_DROP */
	__u8 no;
	__u8 family; /* FC_SRC, FC_DST: AF_INET, AF_INET6, 0: any */
	__u8 bits;   /* FC_SRC, FC_DST: leading bits of addr that count */
	__u8 _pad[3];
};

_Static_assert(sizeof(struct filter_op) == 32, "struct filter_op layout changed: regenerate");

/* TCP states fit in 4 bits (TCP_CLOSING is 11, TCP_NEW_SYN_RECV 12). */
#define TCP_STATE_SLOTS 16

/* The transitions map's value: count[old][new]. */
struct transition_counts {
	__u64 count[TCP_STATE_SLOTS][TCP_STATE_SLOTS];
};

#define EVENT_HEAD_SIZE 128 /* offsetof(struct event, bytes_sent) */

_Static_assert(sizeof(struct event) == 152, "struct event layout changed: regenerate");
_Static_assert(__builtin_offsetof(struct event, bytes_sent) == EVENT_HEAD_SIZE,
	       "the summary tail moved: fix EVENT_HEAD_SIZE");

#endif /* SOCKTRACE_H */
