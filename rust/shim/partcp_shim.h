/* SPDX-License-Identifier: GPL-2.0 */
/*
 * partcp's C shim: the few kernel facilities Rust cannot reach through the
 * `kernel` crate or its bindings (macros, static inlines, and struct types
 * missing from the 7.3 bindings, such as `struct proto`). Every function here
 * is a thin wrapper; all logic lives in Rust. Declarations are mirrored in
 * rust/glue/shim.rs.
 */
#ifndef PARTCP_SHIM_H
#define PARTCP_SHIM_H

#include <linux/types.h>

struct net;
struct sock;
struct socket;

/*
 * Default address family number. 22 is AF_SNA ("Linux SNA Project"), a slot
 * reserved in include/linux/socket.h that no kernel has ever implemented; it is
 * below AF_MAX, as sock_register() requires. Override with `family=`.
 */
#define PARTCP_DEFAULT_FAMILY 22

/* Module parameters (declared in C so that they appear in sysfs, 0444). */
int partcp_param_family(void);
int partcp_param_port_lo(void);
int partcp_param_port_hi(void);
const char *partcp_param_strategy(void);	/* charp parameter: msgp/connp-t/connp-l */
int partcp_param_groups(void);
int partcp_param_threads(void);
int partcp_param_stats(void);

/* Lock timing parameter: the flag is Rust's (rust/glue/kernel/lock.rs). */
void partcp_rust_set_lock_timing(bool on);
bool partcp_rust_lock_timing(void);

/*
 * Per-CPU counters: PARTCP_PCPU_WORDS 64-bit words per CPU (rust/glue/kernel/percpu.rs
 * lays the counter sets out in them). Out-of-range words and CPUs are ignored (reads
 * give 0).
 */
#define PARTCP_PCPU_WORDS 128
void partcp_pcpu_add(unsigned int word, s64 v);		/* this_cpu_add */
void partcp_pcpu_max(unsigned int word, s64 v);		/* raise this CPU's word to v */
s64 partcp_pcpu_read(unsigned int cpu, unsigned int word);
void partcp_pcpu_write(unsigned int cpu, unsigned int word, s64 v);

/* struct proto registration (struct proto is not in the Rust bindings). */
int partcp_proto_register(void);
void partcp_proto_unregister(void);

/*
 * The slab cache of connection states (glue/kernel/mem.rs, StateAlloc): objects of
 * exactly @size bytes, aligned to @align, instead of kmalloc's power-of-two buckets.
 * partcp_state_alloc() returns NULL on failure or before the cache exists.
 */
int partcp_state_cache_create(size_t size, size_t align);
void partcp_state_cache_destroy(void);
void *partcp_state_alloc(gfp_t flags);
void partcp_state_free(void *obj);

/*
 * Allocates a struct sock of partcp's proto for @sock (sk_alloc +
 * sock_init_data). Takes a reference on this module for the sock's lifetime.
 * Returns NULL on allocation failure.
 */
struct sock *partcp_sk_alloc(struct net *net, struct socket *sock, int family,
			     int kern);
/* Detaches @sk from its socket and drops the socket's reference (sock_orphan + sock_put). */
void partcp_sk_release(struct sock *sk);
/* Per-sock private pointer owned by the Rust side. */
void *partcp_sk_priv(const struct sock *sk);
void partcp_sk_set_priv(struct sock *sk, void *priv);

struct sk_buff;
struct net_device;
struct timer_list;
struct wait_queue_head;
struct proto_accept_arg;
struct hlist_head;
typedef struct spinlock spinlock_t;

/* Implemented in Rust (rust/glue/family.rs): struct proto's keepalive hook, called by
 * the socket core when SO_KEEPALIVE changes. */
void partcp_rust_keepalive(struct sock *sk, int valbool);

/* ---- Locks: spin_lock_bh is a static inline. ---- */
void partcp_spin_lock_bh(spinlock_t *lock);
void partcp_spin_unlock_bh(spinlock_t *lock);
int partcp_spin_trylock_bh(spinlock_t *lock);

/* ---- Timers (timer_setup/mod_timer are macros/inlines over the timer core). ---- */
void partcp_timer_init(struct timer_list *t, void (*fn)(struct timer_list *));
/* Re-arms @t to fire @usecs from now (at jiffy resolution, at least one jiffy). */
void partcp_timer_arm_usecs(struct timer_list *t, unsigned long usecs);
/* Waits for a running callback and disarms @t for good (timer_shutdown_sync). */
void partcp_timer_shutdown_sync(struct timer_list *t);

/*
 * A one-byte flag another context clears when it is done with an object: the object's
 * destructor waits for it (wait_var_event), the other side clears it and wakes
 * (wake_up_var, which only hashes the address and never dereferences it).
 */
void partcp_wait_var_false(u8 *flag);
void partcp_wake_var(const void *var);

/* ---- Socket helpers (static inlines and struct sock fields Rust cannot see). ---- */
struct net *partcp_sock_net(const struct sock *sk);
long partcp_sock_rcvtimeo(const struct sock *sk, bool noblock);
long partcp_sock_sndtimeo(const struct sock *sk, bool noblock);
int partcp_sock_rcvbuf(const struct sock *sk);
int partcp_sock_sndbuf(const struct sock *sk);
/* Sets sk_sndbuf and sk_rcvbuf (an accepted socket reports its connection's rings). */
void partcp_sock_set_bufs(struct sock *sk, int sndbuf, int rcvbuf);
/*
 * Raises sk_sndbuf / sk_rcvbuf to @sndbuf / @rcvbuf where that is larger and the user
 * did not set it (SOCK_SNDBUF_LOCK / SOCK_RCVBUF_LOCK): autotuning grew the buffer.
 */
void partcp_sock_grow_bufs(struct sock *sk, int sndbuf, int rcvbuf);
void partcp_sk_data_ready(struct sock *sk);
void partcp_sk_write_space(struct sock *sk);
/* The socket's wait queue head (sk_sleep). */
struct wait_queue_head *partcp_sk_sleep(struct sock *sk);
/* Clears the pending socket error (it was reported by a call). */
void partcp_sk_clear_err(struct sock *sk);
/* The pending socket error (sk_err). */
int partcp_sk_err(const struct sock *sk);
/* Whether the user set SO_SNDBUF (@snd) or SO_RCVBUF (!@snd) explicitly. */
bool partcp_sock_buf_locked(const struct sock *sk, bool snd);
/* SO_REUSEADDR is set. */
bool partcp_sock_reuse(const struct sock *sk);
/* Sets sk_state (TCP_LISTEN/TCP_CLOSE: the socket core reports SO_ACCEPTCONN from it). */
void partcp_sk_set_state(struct sock *sk, int state);
/* Records a pending socket error (SO_ERROR) and reports it to waiters. */
void partcp_sk_set_err(struct sock *sk, int err);
/* SO_LINGER with a zero timeout is set: close() must reset. */
bool partcp_sock_linger_zero(const struct sock *sk);
/* SO_KEEPALIVE is set. */
bool partcp_sock_keepalive(const struct sock *sk);
int partcp_sock_rcvlowat(const struct sock *sk);
void partcp_sock_set_rcvlowat(struct sock *sk, int val);
/* The namespace's ip_default_ttl (IP_TTL when the socket set none). */
int partcp_sock_default_ttl(const struct sock *sk);
void partcp_sock_priority_mark(const struct sock *sk, u32 *priority, u32 *mark);
void partcp_sock_set_priority_mark(struct sock *sk, u32 priority, u32 mark);
void partcp_sock_set_tos_priority(struct sock *sk, u8 tos);
int partcp_accept_flags(const struct proto_accept_arg *arg);
/* Whether @addr (network order) is a local address in @net (RTN_LOCAL). */
bool partcp_addr_is_local(struct net *net, u32 addr);

/*
 * A namespace's TCP sysctls, read as Linux's TCP reads them (READ_ONCE of
 * net->ipv4.sysctl_tcp_* and friends; durations kept in jiffies are converted to
 * milliseconds). Mirrored in rust/glue/kernel/sysctl.rs.
 */
struct partcp_tcp_sysctls {
	int timestamps, window_scaling, sack, dsack;
	int syn_retries, syn_linear_timeouts, synack_retries;
	int retries1, retries2, orphan_retries;
	unsigned int fin_timeout_ms, keepalive_time_ms, keepalive_intvl_ms;
	int keepalive_probes;
	int syncookies, max_syn_backlog;
	int rto_min_us, rto_max_ms;
	int slow_start_after_idle, reordering, early_retrans, recovery;
	int frto, pingpong_thresh;
	int rmem[3];
	unsigned int rmem_max;			/* net.core.rmem_max (global) */
	int wmem[3];
	int moderate_rcvbuf, rcvbuf_low_rtt_us;
	int port_lo, port_hi;			/* ip_local_port_range */
	char congestion[16];			/* tcp_congestion_control, NUL-terminated */
};
/* Fills @out with @net's TCP sysctls. */
void partcp_tcp_sysctls(const struct net *net, struct partcp_tcp_sysctls *out);
/* @net's tcp_notsent_lowat (tcp_notsent_lowat() in include/net/tcp.h reads it at each use). */
u32 partcp_tcp_notsent_lowat(const struct net *net);
/*
 * 0 if the calling task may give a TCP socket of @net congestion control @name
 * (NUL-terminated), -EPERM if Linux's TCP_CONGESTION would refuse it for lack of
 * CAP_NET_ADMIN (tcp_allowed_congestion_control), another -errno if that cannot be told.
 */
int partcp_tcp_ca_permitted(struct net *net, const char *name);
/* tcp_mem (pages; global, init_net's, as Linux's sk_prot_mem_limits) into @out. */
void partcp_tcp_mem(long out[3]);
/*
 * Per-segment memory tcp_sndbuf_expand counts beyond the payload: the head's room
 * (MAX_TCP_HEADER + aligned skb_shared_info) and the aligned struct sk_buff.
 */
void partcp_seg_mem(unsigned int *head, unsigned int *skb);

/* Network namespace references (get_net/put_net are static inlines). */
struct net *partcp_get_net(struct net *net);
void partcp_put_net(struct net *net);

/* ---- Netdev hooks. ---- */
struct net_device *partcp_notifier_dev(void *info);
/* Whether @dev's rx_handler is @handler (rtnl held). */
bool partcp_dev_has_our_handler(struct net_device *dev, void *handler);

/* ---- Receive (rx_handler context). ---- */
/* Headers of a candidate IPv4 TCP segment, filled by partcp_rx_peek(). */
struct partcp_rx {
	struct net *net;
	const unsigned char *tcp;	/* TCP header (linear, tcp_hlen bytes) */
	unsigned int tcp_hlen;		/* TCP header length incl. options */
	unsigned int payload_len;	/* TCP payload bytes (GRO: merged) */
	u32 saddr, daddr;		/* network order */
	unsigned int gso_segs;		/* >1 for GRO-merged skbs */
	int ifindex;
	unsigned int reassembled;	/* reassembled from IP fragments */
	const unsigned char *ip_opts;	/* IP options (linear, ip_opts_len bytes) */
	unsigned int ip_opts_len;
	/* ICMP error (partcp_rx_peek() returned 3): the quoted TCP segment's header. */
	u32 icmp_saddr, icmp_daddr;	/* quoted source/destination, network order */
	u16 icmp_sport, icmp_dport;	/* quoted ports, host order */
	u32 icmp_seq;			/* quoted sequence number, host order */
	u8 icmp_type, icmp_code;
	u16 icmp_mtu;			/* next-hop MTU (fragmentation needed), host order */
};
/*
 * Classifies *@pskb (possibly replacing it by an unshared clone, or by the datagram
 * reassembled from IP fragments of TCP for a local address). Returns 0 if it is a
 * well-formed IPv4 TCP segment for this host (headers pulled into the linear area and
 * described in @out; its IP options are not checked), 1 if it is not (pass it on), -1 if it was consumed (freed, or
 * queued for reassembly), 2 if it is IPv4 TCP for this host with a truncated header or
 * a bad data offset (@out has the addresses, the network namespace, and @tcp_hlen
 * (4 or 20) header bytes at @tcp, enough for the ports), 3 if it is a well-formed ICMP
 * error (destination unreachable, time exceeded, parameter problem) quoting an IPv4 TCP
 * segment sent from the address it is addressed to (@out has the namespace and the
 * icmp_* fields; the skb is unchanged apart from headers pulled into the linear area,
 * and stays the caller's to pass on).
 */
int partcp_rx_peek(struct sk_buff **pskb, struct partcp_rx *out);

/*
 * partcp's local ports, as a bitmap the receive path reads before anything else (a
 * plain load, no lock, no atomic read-modify-write): a segment to a port partcp does
 * not use, in any namespace, is passed on untouched. Written only under partcp's
 * table lock (rust/glue/stack.rs), which also keeps the per-port use counts.
 */
void partcp_port_set(u16 port);
void partcp_port_clear(u16 port);

/* ---- RCU hash tables (rust/glue/kernel/rcu_table.rs) ---- */
/*
 * A hash-table node embedded in a partcp object: the list linkage, the object's key
 * (three words, compared whole) and the RCU callback head that releases the table's
 * reference a grace period after removal. Mirrored in rust/glue/kernel/rcu_table.rs.
 */
struct partcp_hnode {
	struct hlist_node node;
	u64 key[3];
	struct callback_head rcu;
};
/* jhash of a three-word key. */
u32 partcp_hkey_hash(const u64 *key, u32 seed);
/* Inserts @n at the head of @bucket (writer lock held). */
void partcp_hnode_add(struct hlist_head *bucket, struct partcp_hnode *n);
/* Removes @n from its list (writer lock held); readers may still see it. */
void partcp_hnode_del(struct partcp_hnode *n);
/* The node of @bucket whose key is @key, or NULL. Under rcu_read_lock(). */
struct partcp_hnode *partcp_hnode_find(struct hlist_head *bucket, const u64 *key);
/* The node after @prev in @bucket (the first if @prev is NULL), or NULL. Under
 * rcu_read_lock(). */
struct partcp_hnode *partcp_hnode_next(struct hlist_head *bucket, struct partcp_hnode *prev);
/*
 * Claims a segment partcp_rx_peek() described: trims link padding, moves data to the
 * TCP header and validates the TCP checksum per ip_summed. Returns 0 if valid, -1 if the
 * checksum is bad (the caller frees the skb).
 */
int partcp_rx_claim(struct sk_buff *skb, const struct partcp_rx *rx);
/* Undoes partcp_rx_claim()'s pull so the skb can be passed on to the IP layer. */
void partcp_rx_unclaim(struct sk_buff *skb);
void partcp_kfree_skb(struct sk_buff *skb);

/* ---- Receive queue: payload kept in the skbs it arrived in. ---- */
/*
 * Takes a reference on @skb for the receive queue (skb_get), after dropping what a
 * queued skb must not hold (its owner, as skb_set_owner_r() orphans it, and its route
 * and conntrack references, as tcp_v4_rcv() and tcp_data_queue() do). Returns @skb.
 */
struct sk_buff *partcp_rxq_keep(struct sk_buff *skb);
/* Another reference on an skb the caller holds one on. */
struct sk_buff *partcp_skb_get(struct sk_buff *skb);
/* skb->truesize. */
unsigned int partcp_skb_truesize(const struct sk_buff *skb);
/* A compact skb for small received pieces: room for @len bytes, no headroom. */
struct sk_buff *partcp_rxq_alloc(unsigned int len);
/*
 * Appends @len bytes of @from's payload at @off past its TCP header to @to, if @to
 * is not shared, its data ends at @end and it has the tailroom. Returns 0 or -1.
 */
int partcp_rxq_append(struct sk_buff *to, unsigned int end, const struct sk_buff *from,
		      const struct partcp_rx *rx, unsigned int off, unsigned int len);
/* Copies @len bytes at @off of @skb's data to the user iterator: 0 or -EFAULT. */
int partcp_rxq_copy_to_iter(const struct sk_buff *skb, unsigned int off, struct iov_iter *to,
			    unsigned int len);
/* Copies @len bytes at @off of @skb's data to @to (kernel memory): 0 or -EFAULT. */
int partcp_rxq_copy_bits(const struct sk_buff *skb, unsigned int off, void *to, unsigned int len);

/* ---- Transmit. ---- */
/* A linear skb with headroom for IP and link headers and room for @len bytes; NULL if
 * there is no memory (or the fail_tx_alloc fault injection failed it). */
struct sk_buff *partcp_tx_alloc(unsigned int len);
/* Appends @len bytes to a partcp_tx_alloc() skb. */
void partcp_tx_append(struct sk_buff *skb, const void *data, unsigned int len);
/* What a socket's options put in the IP header and skb. Mirrored in
 * rust/glue/kernel/shim.rs (TxMeta). */
struct partcp_tx_meta {
	u32 priority;	/* SO_PRIORITY: skb->priority */
	u32 mark;	/* SO_MARK: skb->mark and the route lookup's flowi4_mark */
	int ttl;	/* IP_TTL, or -1 for the route's hop limit */
	u8 tos;		/* IP_TOS */
};
/*
 * Send data: copy up to @len bytes from the user iterator (or from @src, kernel
 * memory) into the current task's page fragment (current->task_frag, refilled as
 * skb_page_frag_refill() does: a 32 KB compound page when one is available at once),
 * as Linux's tcp_sendmsg_locked(). Returns the page with a reference taken for the
 * caller and the bytes' offset in *@off and count in *@got (0: a fault), or NULL if no
 * page could be had. Process context.
 */
struct page *partcp_frag_copy_from_iter(unsigned int len, struct iov_iter *from,
					unsigned int *off, unsigned int *got);
struct page *partcp_frag_write(const void *src, unsigned int len, unsigned int *off,
			       unsigned int *got);
void partcp_put_page(struct page *page);
/* Copies @len bytes of @page at @off to kernel memory. */
void partcp_page_read(struct page *page, unsigned int off, void *dst, unsigned int len);
/* MAX_SKB_FRAGS. */
unsigned int partcp_max_skb_frags(void);
/*
 * Appends @len bytes of @page at @off to a partcp_tx_alloc() skb as a page fragment
 * (taking a page reference); -1 if the skb has no fragment slot left.
 */
int partcp_tx_add_frag(struct sk_buff *skb, struct page *page, unsigned int off, unsigned int len);
/* Appends @len bytes of @page at @off to the linear part of a partcp_tx_alloc() skb. */
void partcp_tx_append_page(struct sk_buff *skb, struct page *page, unsigned int off,
			   unsigned int len);
/*
 * Routes (one FIB lookup, with SO_MARK from @meta) and sends a TCP segment whose
 * header and payload are in @skb's data: IPv4 header (TOS and TTL from @meta),
 * checksum offload (CHECKSUM_PARTIAL), GSO when @gso_size is non-zero and the payload
 * is larger, then ip_local_out(). Consumes @skb. For segments of no connection
 * (listener replies, resets). Returns 0 if the segment went out (congestion
 * notified, NET_XMIT_CN, included: net_xmit_eval(), as tcp_transmit_skb reads it),
 * NET_XMIT_DROP or a negative errno if it did not.
 */
int partcp_tx_send(struct net *net, struct sk_buff *skb, u32 saddr, u32 daddr,
		   unsigned int gso_size, const struct partcp_tx_meta *meta);

/*
 * A connection's cached route. partcp_route_lookup returns a counted reference (NULL
 * if unroutable) for the connection's 4-tuple and SO_MARK @mark; partcp_dst_valid is
 * dst_check(); partcp_dst_release drops the reference. partcp_tx_send_dst sends as
 * partcp_tx_send along @dst (not consumed: no reference is taken per skb) with the
 * connection's flow hash @hash. partcp_route_update_pmtu records a path MTU for
 * saddr -> daddr in the routing table (an exception of the next hop, as
 * inet_csk_update_pmtu does).
 */
struct dst_entry;
struct dst_entry *partcp_route_lookup(struct net *net, u32 saddr, u32 daddr, u16 sport,
				      u16 dport, u32 mark);
bool partcp_dst_valid(struct dst_entry *dst);
void partcp_dst_release(struct dst_entry *dst);
int partcp_tx_send_dst(struct net *net, struct sk_buff *skb, struct dst_entry *dst,
		       u32 saddr, u32 daddr, unsigned int gso_size, u32 hash,
		       const struct partcp_tx_meta *meta);
void partcp_route_update_pmtu(struct net *net, u32 saddr, u32 daddr, unsigned int mtu);
/* Path MTU toward @daddr from @saddr in @net for SO_MARK @mark, 0 if unroutable.
 * Fills *@saddr if 0. */
unsigned int partcp_route_mtu(struct net *net, u32 daddr, u32 *saddr, u32 mark);

/* ---- Protocol threads (ConnP-T) ---- */
/*
 * set_current_state()/__set_current_state() are macros (with the barrier the sleep
 * protocol needs); num_*_cpus() and cpumask_nth()/cpu_online_mask are macros or
 * static inlines over the cpumask internals.
 */
void partcp_set_current_interruptible(void);
void partcp_set_current_running(void);
unsigned int partcp_num_online_cpus(void);
unsigned int partcp_num_possible_cpus(void);
/* The @i-th online CPU, counting modulo the number of online CPUs. */
unsigned int partcp_online_cpu(unsigned int i);

#endif /* PARTCP_SHIM_H */
