/* SPDX-License-Identifier: GPL-2.0 */
/*
 * partcp's tracepoints: /sys/kernel/tracing/events/partcp/ (Documentation/tracing.md).
 *
 * Defined the kernel's way (TRACE_EVENT, instantiated once in partcp_trace.c with
 * CREATE_TRACE_POINTS) and fired from Rust (rust/glue/kernel/trace.rs): Rust tests the
 * tracepoint's static key itself, with the kernel crate's static_branch_unlikely!, so a
 * disabled event costs one patched no-op; only when it is enabled does it call the
 * rust_do_trace_<event>() helper that CREATE_RUST_TRACE_POINTS generates.
 *
 * Field names follow Linux's tcp: and sock: events where they overlap (saddr, daddr,
 * sport, dport, oldstate, newstate, state, data_len, snd_nxt, snd_una), so scripts
 * written for those adapt easily. partcp is IPv4 only: there is no family field.
 * Addresses are stored as in tcp:tcp_retransmit_skb (4 bytes, network order, printed
 * with %pI4); ports and sequence numbers in host order. Per-packet events give the
 * packet's own direction: saddr/sport is the sender (the peer for a received segment);
 * per-connection events give the local end as saddr/sport, as sock:inet_sock_set_state.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM partcp

#if !defined(_PARTCP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _PARTCP_TRACE_H

#include <linux/tracepoint.h>
#include <net/tcp_states.h>

/* TCP state names as sock:inet_sock_set_state prints them (include/trace/events/sock.h). */
#define partcp_tcp_states			\
	EM(TCP_ESTABLISHED)			\
	EM(TCP_SYN_SENT)			\
	EM(TCP_SYN_RECV)			\
	EM(TCP_FIN_WAIT1)			\
	EM(TCP_FIN_WAIT2)			\
	EM(TCP_TIME_WAIT)			\
	EM(TCP_CLOSE)				\
	EM(TCP_CLOSE_WAIT)			\
	EM(TCP_LAST_ACK)			\
	EM(TCP_LISTEN)				\
	EMe(TCP_CLOSING)

#undef EM
#undef EMe
#define EM(a)	TRACE_DEFINE_ENUM(a);
#define EMe(a)	TRACE_DEFINE_ENUM(a);

partcp_tcp_states

#undef EM
#undef EMe
#define EM(a)	{ a, #a },
#define EMe(a)	{ a, #a }

#define partcp_show_state(val) __print_symbolic(val, partcp_tcp_states)

/* TCP header flags as tcpdump names them. */
#define partcp_show_flags(val)						\
	__print_flags(val, "|",						\
		      { 0x01, "FIN" }, { 0x02, "SYN" }, { 0x04, "RST" },	\
		      { 0x08, "PSH" }, { 0x10, "ACK" }, { 0x20, "URG" },	\
		      { 0x40, "ECE" }, { 0x80, "CWR" })

/* A segment's header: both segment events share it. */
DECLARE_EVENT_CLASS(partcp_segment,

	TP_PROTO(__be32 saddr, __be32 daddr, u16 sport, u16 dport, u32 seq, u32 ack_seq,
		 u8 flags, u16 window, u32 data_len, u16 segs),

	TP_ARGS(saddr, daddr, sport, dport, seq, ack_seq, flags, window, data_len, segs),

	TP_STRUCT__entry(
		__array(__u8, saddr, 4)
		__array(__u8, daddr, 4)
		__field(__u16, sport)
		__field(__u16, dport)
		__field(__u32, seq)
		__field(__u32, ack_seq)
		__field(__u8, flags)
		__field(__u16, window)
		__field(__u32, data_len)
		__field(__u16, segs)
	),

	TP_fast_assign(
		memcpy(__entry->saddr, &saddr, 4);
		memcpy(__entry->daddr, &daddr, 4);
		__entry->sport = sport;
		__entry->dport = dport;
		__entry->seq = seq;
		__entry->ack_seq = ack_seq;
		__entry->flags = flags;
		__entry->window = window;
		__entry->data_len = data_len;
		__entry->segs = segs;
	),

	TP_printk("saddr=%pI4 daddr=%pI4 sport=%hu dport=%hu seq=%u ack_seq=%u flags=%s window=%hu data_len=%u segs=%hu",
		  __entry->saddr, __entry->daddr, __entry->sport, __entry->dport,
		  __entry->seq, __entry->ack_seq, partcp_show_flags(__entry->flags),
		  __entry->window, __entry->data_len, __entry->segs)
);

/*
 * A segment partcp claimed in its rx_handler (checksum valid), before any processing.
 * segs: the number of wire segments a GRO-merged skb carries (1 otherwise); window is
 * the raw, unscaled field.
 */
DEFINE_EVENT(partcp_segment, partcp_segment_recv,
	TP_PROTO(__be32 saddr, __be32 daddr, u16 sport, u16 dport, u32 seq, u32 ack_seq,
		 u8 flags, u16 window, u32 data_len, u16 segs),
	TP_ARGS(saddr, daddr, sport, dport, seq, ack_seq, flags, window, data_len, segs)
);

/*
 * A segment partcp hands to the IP layer (connections and listeners alike, RSTs too).
 * segs: wire segments of a GSO super-segment (1 otherwise).
 */
DEFINE_EVENT(partcp_segment, partcp_segment_send,
	TP_PROTO(__be32 saddr, __be32 daddr, u16 sport, u16 dport, u32 seq, u32 ack_seq,
		 u8 flags, u16 window, u32 data_len, u16 segs),
	TP_ARGS(saddr, daddr, sport, dport, seq, ack_seq, flags, window, data_len, segs)
);

/*
 * A connection's TCP state changed (as sock:inet_sock_set_state): at connect
 * (TCP_CLOSE -> TCP_SYN_SENT), when a listener completes a handshake (TCP_SYN_RECV ->
 * TCP_ESTABLISHED), and after any piece of work that moved the TCP core's state.
 */
TRACE_EVENT(partcp_set_state,

	TP_PROTO(__be32 saddr, __be32 daddr, u16 sport, u16 dport, int oldstate, int newstate),

	TP_ARGS(saddr, daddr, sport, dport, oldstate, newstate),

	TP_STRUCT__entry(
		__array(__u8, saddr, 4)
		__array(__u8, daddr, 4)
		__field(__u16, sport)
		__field(__u16, dport)
		__field(int, oldstate)
		__field(int, newstate)
	),

	TP_fast_assign(
		memcpy(__entry->saddr, &saddr, 4);
		memcpy(__entry->daddr, &daddr, 4);
		__entry->sport = sport;
		__entry->dport = dport;
		__entry->oldstate = oldstate;
		__entry->newstate = newstate;
	),

	TP_printk("saddr=%pI4 daddr=%pI4 sport=%hu dport=%hu oldstate=%s newstate=%s",
		  __entry->saddr, __entry->daddr, __entry->sport, __entry->dport,
		  partcp_show_state(__entry->oldstate), partcp_show_state(__entry->newstate))
);

#define PARTCP_RTX_FAST		0
#define PARTCP_RTX_TIMEOUT	1

/*
 * A retransmission (as tcp:tcp_retransmit_skb and tcp:tcp_retransmit_synack): kind
 * "fast" (fast retransmit, SACK recovery) or "timeout" (after an RTO: go-back-N data,
 * a SYN or SYN-ACK, also the resend after a path MTU reduction); seq and data_len of
 * what is resent, flags of the segment (SYN, FIN...), state of the connection
 * (TCP_SYN_RECV for a listener's SYN-ACK).
 */
TRACE_EVENT(partcp_retransmit,

	TP_PROTO(__be32 saddr, __be32 daddr, u16 sport, u16 dport, int state, int kind,
		 u32 seq, u32 data_len, u8 flags),

	TP_ARGS(saddr, daddr, sport, dport, state, kind, seq, data_len, flags),

	TP_STRUCT__entry(
		__array(__u8, saddr, 4)
		__array(__u8, daddr, 4)
		__field(__u16, sport)
		__field(__u16, dport)
		__field(int, state)
		__field(int, kind)
		__field(__u32, seq)
		__field(__u32, data_len)
		__field(__u8, flags)
	),

	TP_fast_assign(
		memcpy(__entry->saddr, &saddr, 4);
		memcpy(__entry->daddr, &daddr, 4);
		__entry->sport = sport;
		__entry->dport = dport;
		__entry->state = state;
		__entry->kind = kind;
		__entry->seq = seq;
		__entry->data_len = data_len;
		__entry->flags = flags;
	),

	TP_printk("saddr=%pI4 daddr=%pI4 sport=%hu dport=%hu state=%s kind=%s seq=%u data_len=%u flags=%s",
		  __entry->saddr, __entry->daddr, __entry->sport, __entry->dport,
		  partcp_show_state(__entry->state),
		  __print_symbolic(__entry->kind, { PARTCP_RTX_FAST, "fast" },
				   { PARTCP_RTX_TIMEOUT, "timeout" }),
		  __entry->seq, __entry->data_len, partcp_show_flags(__entry->flags))
);

/*
 * The retransmission timer expired: fired once the core has handled the expiry and
 * before what it resends goes out, with snd_una and snd_nxt as the core has them then
 * (snd_nxt is back at snd_una for go-back-N) and rto_us the backed-off timeout.
 */
TRACE_EVENT(partcp_rto_expire,

	TP_PROTO(__be32 saddr, __be32 daddr, u16 sport, u16 dport, int state, u32 snd_una,
		 u32 snd_nxt, u32 rto_us),

	TP_ARGS(saddr, daddr, sport, dport, state, snd_una, snd_nxt, rto_us),

	TP_STRUCT__entry(
		__array(__u8, saddr, 4)
		__array(__u8, daddr, 4)
		__field(__u16, sport)
		__field(__u16, dport)
		__field(int, state)
		__field(__u32, snd_una)
		__field(__u32, snd_nxt)
		__field(__u32, rto_us)
	),

	TP_fast_assign(
		memcpy(__entry->saddr, &saddr, 4);
		memcpy(__entry->daddr, &daddr, 4);
		__entry->sport = sport;
		__entry->dport = dport;
		__entry->state = state;
		__entry->snd_una = snd_una;
		__entry->snd_nxt = snd_nxt;
		__entry->rto_us = rto_us;
	),

	TP_printk("saddr=%pI4 daddr=%pI4 sport=%hu dport=%hu state=%s snd_una=%u snd_nxt=%u rto_us=%u",
		  __entry->saddr, __entry->daddr, __entry->sport, __entry->dport,
		  partcp_show_state(__entry->state), __entry->snd_una, __entry->snd_nxt,
		  __entry->rto_us)
);

#define PARTCP_HANDOFF_SEGMENT	0
#define PARTCP_HANDOFF_SYSCALL	1
#define PARTCP_HANDOFF_TIMER	2
#define PARTCP_HANDOFF_OTHER	3

/*
 * ConnP-T: a piece of work queued to protocol thread @thread (the event's CPU is the
 * one that raised it): a received segment, a socket call, a timer expiry, or other
 * (an ICMP error, an abort); depth is the queue's length with it.
 */
TRACE_EVENT(partcp_handoff,

	TP_PROTO(u32 thread, int kind, u32 depth),

	TP_ARGS(thread, kind, depth),

	TP_STRUCT__entry(
		__field(__u32, thread)
		__field(int, kind)
		__field(__u32, depth)
	),

	TP_fast_assign(
		__entry->thread = thread;
		__entry->kind = kind;
		__entry->depth = depth;
	),

	TP_printk("thread=%u kind=%s depth=%u", __entry->thread,
		  __print_symbolic(__entry->kind, { PARTCP_HANDOFF_SEGMENT, "segment" },
				   { PARTCP_HANDOFF_SYSCALL, "syscall" },
				   { PARTCP_HANDOFF_TIMER, "timer" },
				   { PARTCP_HANDOFF_OTHER, "other" }),
		  __entry->depth)
);

/*
 * A partcp lock was contended (its trylock failed): the lock class as in the `locks`
 * debugfs file (table, conn, group, queue, listener...) and how long the acquisition
 * waited.
 */
TRACE_EVENT(partcp_lock_contended,

	TP_PROTO(const char *class, u32 class_len, u64 wait_ns),

	TP_ARGS(class, class_len, wait_ns),

	TP_STRUCT__entry(
		__string_len(class, class, class_len)
		__field(__u64, wait_ns)
	),

	TP_fast_assign(
		__assign_str(class);
		__entry->wait_ns = wait_ns;
	),

	TP_printk("class=%s wait_ns=%llu", __get_str(class), __entry->wait_ns)
);

#define partcp_show_strategy(val)					\
	__print_symbolic(val, { 0, "msgp" }, { 1, "connp-t" }, { 2, "connp-l" })

/*
 * The parallelization strategy was switched through debugfs: old and new strategy
 * (msgp, connp-t, connp-l) with their knobs (threads, groups; 0 for msgp).
 */
TRACE_EVENT(partcp_strategy_switch,

	TP_PROTO(int old, u32 old_n, int new, u32 new_n),

	TP_ARGS(old, old_n, new, new_n),

	TP_STRUCT__entry(
		__field(int, old)
		__field(__u32, old_n)
		__field(int, new)
		__field(__u32, new_n)
	),

	TP_fast_assign(
		__entry->old = old;
		__entry->old_n = old_n;
		__entry->new = new;
		__entry->new_n = new_n;
	),

	TP_printk("old=%s old_n=%u new=%s new_n=%u", partcp_show_strategy(__entry->old),
		  __entry->old_n, partcp_show_strategy(__entry->new), __entry->new_n)
);

#endif /* _PARTCP_TRACE_H */

/* Out of include/trace/events: define_trace.h finds this file through -I rust/shim. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE partcp_trace
#include <trace/define_trace.h>
