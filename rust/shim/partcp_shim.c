// SPDX-License-Identifier: GPL-2.0
/*
 * partcp's C shim. See partcp_shim.h for why each function exists.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/socket.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/icmp.h>
#include <linux/unaligned.h>
#include <linux/netdevice.h>
#include <net/sock.h>
#include <net/ip.h>
#include <net/route.h>
#include <net/tcp.h>
#include <net/checksum.h>
#include <linux/rtnetlink.h>
#include <linux/rculist.h>
#include <linux/jhash.h>
#include <linux/bitmap.h>
#include <linux/wait_bit.h>
#include <linux/percpu.h>
#include <linux/sysfs.h>
#include <linux/kstrtox.h>

#include "partcp_shim.h"

static int family = PARTCP_DEFAULT_FAMILY;
module_param(family, int, 0444);
MODULE_PARM_DESC(family,
		 "Address family number to register AF_PARTCP as (default 22, the unimplemented AF_SNA slot)");

int partcp_param_family(void)
{
	return family;
}

static int port_lo = 61000;
module_param(port_lo, int, 0444);
MODULE_PARM_DESC(port_lo, "First ephemeral port (default 61000, above Linux's default ip_local_port_range)");

static int port_hi = 65535;
module_param(port_hi, int, 0444);
MODULE_PARM_DESC(port_hi, "Last ephemeral port (default 65535)");

int partcp_param_port_lo(void)
{
	return port_lo;
}

int partcp_param_port_hi(void)
{
	return port_hi;
}

/* Parallelization strategy (see Documentation/strategies.md). */
static char *strategy = "msgp";
module_param(strategy, charp, 0444);
MODULE_PARM_DESC(strategy, "Parallelization strategy at load: msgp, connp-t or connp-l (default msgp)");

static int groups = 128;
module_param(groups, int, 0444);
MODULE_PARM_DESC(groups, "ConnP-L: number of connection groups, 1..65536 (default 128)");

static int threads;
module_param(threads, int, 0444);
MODULE_PARM_DESC(threads, "ConnP-T: number of protocol threads (default 0: one per online CPU)");

static int stats = 1;
module_param(stats, int, 0444);
MODULE_PARM_DESC(stats, "Count lock and scheduling statistics (default 1; 0 turns hot-path counting off)");

const char *partcp_param_strategy(void)
{
	return strategy ? strategy : "";
}

int partcp_param_groups(void)
{
	return groups;
}

int partcp_param_threads(void)
{
	return threads;
}

int partcp_param_stats(void)
{
	return stats;
}

/*
 * Lock timing (the wait/hold columns of the debugfs `locks` file): off by default,
 * switchable at run time through /sys/module/partcp/parameters/lock_timing. The
 * flag itself lives on the Rust side (an atomic the lock path reads inline).
 */
static int partcp_lock_timing_set(const char *val, const struct kernel_param *kp)
{
	bool on;
	int err = kstrtobool(val, &on);

	if (err)
		return err;
	partcp_rust_set_lock_timing(on);
	return 0;
}

static int partcp_lock_timing_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", partcp_rust_lock_timing() ? 1 : 0);
}

static const struct kernel_param_ops partcp_lock_timing_ops = {
	.set = partcp_lock_timing_set,
	.get = partcp_lock_timing_get,
};
module_param_cb(lock_timing, &partcp_lock_timing_ops, NULL, 0644);
MODULE_PARM_DESC(lock_timing,
		 "Measure lock wait and hold times (default 0; 1 reads the clock twice per acquisition; writable at run time)");

/* ---- Per-CPU counters ---- */

/*
 * Every counter of the module: one area per CPU, cache-line aligned, written only
 * with this_cpu operations (a single non-locked, interrupt-safe instruction on x86).
 */
struct partcp_pcpu {
	s64 v[PARTCP_PCPU_WORDS];
};
static DEFINE_PER_CPU_ALIGNED(struct partcp_pcpu, partcp_pcpu);

void partcp_pcpu_add(unsigned int word, s64 v)
{
	if (likely(word < PARTCP_PCPU_WORDS))
		this_cpu_add(partcp_pcpu.v[word], v);
}

void partcp_pcpu_max(unsigned int word, s64 v)
{
	s64 old, seen;

	if (unlikely(word >= PARTCP_PCPU_WORDS))
		return;
	old = this_cpu_read(partcp_pcpu.v[word]);
	while (old < v) {
		seen = this_cpu_cmpxchg(partcp_pcpu.v[word], old, v);
		if (seen == old)
			break;
		old = seen;
	}
}

s64 partcp_pcpu_read(unsigned int cpu, unsigned int word)
{
	if (cpu >= nr_cpu_ids || !cpu_possible(cpu) || word >= PARTCP_PCPU_WORDS)
		return 0;
	return READ_ONCE(per_cpu(partcp_pcpu, cpu).v[word]);
}

void partcp_pcpu_write(unsigned int cpu, unsigned int word, s64 v)
{
	if (cpu >= nr_cpu_ids || !cpu_possible(cpu) || word >= PARTCP_PCPU_WORDS)
		return;
	WRITE_ONCE(per_cpu(partcp_pcpu, cpu).v[word], v);
}

/*
 * The Rust side's per-socket state hangs off @priv; the struct sock itself is
 * managed by the core socket layer (refcounted, freed by sk_free()).
 */
struct partcp_sock {
	struct sock sk;
	void *priv;
};

static struct proto partcp_proto = {
	.name = "PARTCP",
	.owner = THIS_MODULE,
	.obj_size = sizeof(struct partcp_sock),
	.keepalive = partcp_rust_keepalive,
};

int partcp_proto_register(void)
{
	/*
	 * alloc_slab = 1: the socks come from a cache of their own ("PARTCP", objects of
	 * exactly sizeof(struct partcp_sock)), as tcp_prot's from "TCP", not from the next
	 * kmalloc bucket (net/core/sock.c, proto_register: "if (alloc_slab) {
	 * prot->slab = kmem_cache_create_usercopy(prot->name, prot->obj_size, ...").
	 */
	return proto_register(&partcp_proto, 1);
}

void partcp_proto_unregister(void)
{
	proto_unregister(&partcp_proto);
}

static struct kmem_cache *partcp_state_cache;

int partcp_state_cache_create(size_t size, size_t align)
{
	partcp_state_cache = kmem_cache_create("partcp_conn", size, align, 0, NULL);
	return partcp_state_cache ? 0 : -ENOMEM;
}

void partcp_state_cache_destroy(void)
{
	kmem_cache_destroy(partcp_state_cache);
	partcp_state_cache = NULL;
}

void *partcp_state_alloc(gfp_t flags)
{
	if (!partcp_state_cache)
		return NULL;
	return kmem_cache_alloc(partcp_state_cache, flags);
}

void partcp_state_free(void *obj)
{
	kmem_cache_free(partcp_state_cache, obj);
}

struct sock *partcp_sk_alloc(struct net *net, struct socket *sock, int family,
			     int kern)
{
	struct sock *sk;

	sk = sk_alloc(net, family, GFP_KERNEL, &partcp_proto, kern);
	if (!sk)
		return NULL;
	sock_init_data(sock, sk);
	sk->sk_protocol = IPPROTO_TCP;
	/* As tcp_init_sock(): default buffer sizes from tcp_wmem[1]/tcp_rmem[1]. */
	WRITE_ONCE(sk->sk_sndbuf, READ_ONCE(net->ipv4.sysctl_tcp_wmem[1]));
	WRITE_ONCE(sk->sk_rcvbuf, READ_ONCE(net->ipv4.sysctl_tcp_rmem[1]));
	((struct partcp_sock *)sk)->priv = NULL;
	return sk;
}

void partcp_sk_release(struct sock *sk)
{
	sock_orphan(sk);
	sock_put(sk);
}

void *partcp_sk_priv(const struct sock *sk)
{
	return ((const struct partcp_sock *)sk)->priv;
}

void partcp_sk_set_priv(struct sock *sk, void *priv)
{
	((struct partcp_sock *)sk)->priv = priv;
}

/* ---- Locks ---- */

void partcp_spin_lock_bh(spinlock_t *lock)
{
	spin_lock_bh(lock);
}

void partcp_spin_unlock_bh(spinlock_t *lock)
{
	spin_unlock_bh(lock);
}

int partcp_spin_trylock_bh(spinlock_t *lock)
{
	return spin_trylock_bh(lock);
}

/* ---- Timers ---- */

void partcp_timer_init(struct timer_list *t, void (*fn)(struct timer_list *))
{
	timer_setup(t, fn, 0);
}

void partcp_timer_arm_usecs(struct timer_list *t, unsigned long usecs)
{
	unsigned long j = usecs_to_jiffies(usecs);

	mod_timer(t, jiffies + (j ? j : 1));
}

void partcp_timer_shutdown_sync(struct timer_list *t)
{
	timer_shutdown_sync(t);
}

void partcp_wait_var_false(u8 *flag)
{
	wait_var_event(flag, !smp_load_acquire(flag));
}

void partcp_wake_var(const void *var)
{
	/* Orders the caller's store of the flag before the waiter check (wake_up_var). */
	smp_mb();
	wake_up_var((void *)var);
}

/* ---- Socket helpers ---- */

struct net *partcp_sock_net(const struct sock *sk)
{
	return sock_net(sk);
}

long partcp_sock_rcvtimeo(const struct sock *sk, bool noblock)
{
	return sock_rcvtimeo(sk, noblock);
}

long partcp_sock_sndtimeo(const struct sock *sk, bool noblock)
{
	return sock_sndtimeo(sk, noblock);
}

int partcp_sock_rcvbuf(const struct sock *sk)
{
	return READ_ONCE(sk->sk_rcvbuf);
}

int partcp_sock_sndbuf(const struct sock *sk)
{
	return READ_ONCE(sk->sk_sndbuf);
}

void partcp_sock_set_bufs(struct sock *sk, int sndbuf, int rcvbuf)
{
	WRITE_ONCE(sk->sk_sndbuf, sndbuf);
	WRITE_ONCE(sk->sk_rcvbuf, rcvbuf);
}

void partcp_sock_grow_bufs(struct sock *sk, int sndbuf, int rcvbuf)
{
	u8 locks = READ_ONCE(sk->sk_userlocks);

	if (!(locks & SOCK_SNDBUF_LOCK) && sndbuf > READ_ONCE(sk->sk_sndbuf))
		WRITE_ONCE(sk->sk_sndbuf, sndbuf);
	if (!(locks & SOCK_RCVBUF_LOCK) && rcvbuf > READ_ONCE(sk->sk_rcvbuf))
		WRITE_ONCE(sk->sk_rcvbuf, rcvbuf);
}

void partcp_sk_data_ready(struct sock *sk)
{
	sk->sk_data_ready(sk);
}

void partcp_sk_write_space(struct sock *sk)
{
	sk->sk_write_space(sk);
}

struct wait_queue_head *partcp_sk_sleep(struct sock *sk)
{
	return sk_sleep(sk);
}

void partcp_sk_clear_err(struct sock *sk)
{
	WRITE_ONCE(sk->sk_err, 0);
}

int partcp_sk_err(const struct sock *sk)
{
	return READ_ONCE(sk->sk_err);
}

bool partcp_sock_buf_locked(const struct sock *sk, bool snd)
{
	return READ_ONCE(sk->sk_userlocks) & (snd ? SOCK_SNDBUF_LOCK : SOCK_RCVBUF_LOCK);
}

bool partcp_sock_reuse(const struct sock *sk)
{
	return sk->sk_reuse != SK_NO_REUSE;
}

void partcp_sk_set_state(struct sock *sk, int state)
{
	/* Not inet_sk_set_state(): its tracepoint reads inet_sock fields partcp lacks. */
	WRITE_ONCE(sk->sk_state, state);
}

void partcp_sk_set_err(struct sock *sk, int err)
{
	WRITE_ONCE(sk->sk_err, err);
	sk_error_report(sk);
}

bool partcp_sock_linger_zero(const struct sock *sk)
{
	return sock_flag(sk, SOCK_LINGER) && !READ_ONCE(sk->sk_lingertime);
}

bool partcp_sock_keepalive(const struct sock *sk)
{
	return sock_flag(sk, SOCK_KEEPOPEN);
}

int partcp_sock_rcvlowat(const struct sock *sk)
{
	return READ_ONCE(sk->sk_rcvlowat);
}

void partcp_sock_set_rcvlowat(struct sock *sk, int val)
{
	WRITE_ONCE(sk->sk_rcvlowat, val);
}

int partcp_sock_default_ttl(const struct sock *sk)
{
	return READ_ONCE(sock_net(sk)->ipv4.sysctl_ip_default_ttl);
}

void partcp_sock_priority_mark(const struct sock *sk, u32 *priority, u32 *mark)
{
	*priority = READ_ONCE(sk->sk_priority);
	*mark = READ_ONCE(sk->sk_mark);
}

void partcp_sock_set_priority_mark(struct sock *sk, u32 priority, u32 mark)
{
	WRITE_ONCE(sk->sk_priority, priority);
	WRITE_ONCE(sk->sk_mark, mark);
}

/* IP_TOS also sets the socket's priority (__ip_sock_set_tos). */
void partcp_sock_set_tos_priority(struct sock *sk, u8 tos)
{
	WRITE_ONCE(sk->sk_priority, rt_tos2priority(tos));
}

int partcp_accept_flags(const struct proto_accept_arg *arg)
{
	return arg->flags;
}

bool partcp_addr_is_local(struct net *net, u32 addr)
{
	return inet_addr_type(net, addr) == RTN_LOCAL;
}

void partcp_tcp_sysctls(const struct net *net, struct partcp_tcp_sysctls *out)
{
	const struct netns_ipv4 *n = &net->ipv4;
	const struct tcp_congestion_ops *ca;
	int i;

	out->timestamps = READ_ONCE(n->sysctl_tcp_timestamps);
	out->window_scaling = READ_ONCE(n->sysctl_tcp_window_scaling);
	out->sack = READ_ONCE(n->sysctl_tcp_sack);
	out->dsack = READ_ONCE(n->sysctl_tcp_dsack);
	out->syn_retries = READ_ONCE(n->sysctl_tcp_syn_retries);
	out->syn_linear_timeouts = READ_ONCE(n->sysctl_tcp_syn_linear_timeouts);
	out->synack_retries = READ_ONCE(n->sysctl_tcp_synack_retries);
	out->retries1 = READ_ONCE(n->sysctl_tcp_retries1);
	out->retries2 = READ_ONCE(n->sysctl_tcp_retries2);
	out->orphan_retries = READ_ONCE(n->sysctl_tcp_orphan_retries);
	/* proc_dointvec_jiffies: stored in jiffies. */
	out->fin_timeout_ms = jiffies_to_msecs(max(READ_ONCE(n->sysctl_tcp_fin_timeout), 0));
	out->keepalive_time_ms = jiffies_to_msecs(max(READ_ONCE(n->sysctl_tcp_keepalive_time), 0));
	out->keepalive_intvl_ms = jiffies_to_msecs(max(READ_ONCE(n->sysctl_tcp_keepalive_intvl), 0));
	out->keepalive_probes = READ_ONCE(n->sysctl_tcp_keepalive_probes);
	out->syncookies = READ_ONCE(n->sysctl_tcp_syncookies);
	out->max_syn_backlog = READ_ONCE(n->sysctl_max_syn_backlog);
	out->rto_min_us = READ_ONCE(n->sysctl_tcp_rto_min_us);
	out->rto_max_ms = READ_ONCE(n->sysctl_tcp_rto_max_ms);
	out->slow_start_after_idle = READ_ONCE(n->sysctl_tcp_slow_start_after_idle);
	out->reordering = READ_ONCE(n->sysctl_tcp_reordering);
	out->early_retrans = READ_ONCE(n->sysctl_tcp_early_retrans);
	out->recovery = READ_ONCE(n->sysctl_tcp_recovery);
	out->frto = READ_ONCE(n->sysctl_tcp_frto);
	out->pingpong_thresh = READ_ONCE(n->sysctl_tcp_pingpong_thresh);
	for (i = 0; i < 3; i++)
		out->rmem[i] = READ_ONCE(n->sysctl_tcp_rmem[i]);
	out->rmem_max = READ_ONCE(sysctl_rmem_max);
	for (i = 0; i < 3; i++)
		out->wmem[i] = READ_ONCE(n->sysctl_tcp_wmem[i]);
	out->moderate_rcvbuf = READ_ONCE(n->sysctl_tcp_moderate_rcvbuf);
	out->rcvbuf_low_rtt_us = READ_ONCE(n->sysctl_tcp_rcvbuf_low_rtt);
	inet_get_local_port_range(net, &out->port_lo, &out->port_hi);
	/* As tcp_get_default_congestion_control(), which is not exported. */
	rcu_read_lock();
	ca = rcu_dereference(n->tcp_congestion_control);
	strscpy(out->congestion, ca->name, sizeof(out->congestion));
	rcu_read_unlock();
}

u32 partcp_tcp_notsent_lowat(const struct net *net)
{
	return READ_ONCE(net->ipv4.sysctl_tcp_notsent_lowat);
}

/*
 * Linux keeps the allowed list as a flag on each registered algorithm
 * (TCP_CONG_NON_RESTRICTED, tcp_cong.c), and exports no lookup by name. Its own answer
 * is asked instead: a throwaway Linux TCP socket of @net, which starts with the
 * namespace's default algorithm. If that is @name, its flag is read; otherwise the
 * socket is given @name with the caller's credentials, and tcp_set_congestion_control()
 * applies the same test as it would to any TCP socket.
 */
int partcp_tcp_ca_permitted(struct net *net, const char *name)
{
	const struct tcp_congestion_ops *ca;
	struct socket *sock;
	int err;

	/* do_tcp_setsockopt: sockopt_ns_capable(sock_net(sk)->user_ns, CAP_NET_ADMIN). */
	if (ns_capable(net->user_ns, CAP_NET_ADMIN))
		return 0;
	err = sock_create_kern(net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);
	if (err)
		return err;
	ca = READ_ONCE(inet_csk(sock->sk)->icsk_ca_ops);
	if (strncmp(ca->name, name, TCP_CA_NAME_MAX) == 0)
		err = (READ_ONCE(ca->flags) & TCP_CONG_NON_RESTRICTED) ? 0 : -EPERM;
	else
		err = sock->ops->setsockopt(sock, SOL_TCP, TCP_CONGESTION,
					    KERNEL_SOCKPTR((void *)name), strnlen(name, TCP_CA_NAME_MAX));
	sock_release(sock);
	return err;
}

void partcp_tcp_mem(long out[3])
{
	int i;

	/* sysctl_tcp_mem is not exported; tcp_prot points at it (sk_prot_mem_limits). */
	for (i = 0; i < 3; i++)
		out[i] = READ_ONCE(tcp_prot.sysctl_mem[i]);
}

void partcp_seg_mem(unsigned int *head, unsigned int *skb)
{
	*head = MAX_TCP_HEADER + SKB_DATA_ALIGN(sizeof(struct skb_shared_info));
	*skb = SKB_DATA_ALIGN(sizeof(struct sk_buff));
}

struct net *partcp_get_net(struct net *net)
{
	return get_net(net);
}

void partcp_put_net(struct net *net)
{
	put_net(net);
}

/* ---- Netdev ---- */

struct net_device *partcp_notifier_dev(void *info)
{
	return netdev_notifier_info_to_dev(info);
}

bool partcp_dev_has_our_handler(struct net_device *dev, void *handler)
{
	return rtnl_dereference(dev->rx_handler) == handler;
}

/* ---- Receive ---- */

/*
 * An ICMP error about a TCP segment (RFC 792; RFC 1122 3.2.2: it quotes "the Internet
 * header and at least the first 8 data octets of the datagram that triggered the error
 * message", i.e. the TCP ports and sequence number). Nothing in it is trusted: a
 * fragment, bad lengths, a bad ICMP checksum, a quoted header that is not IPv4 TCP (or
 * not its first fragment), or a message not addressed to the quoted segment's source
 * is passed on untouched (1). Otherwise @out gets what tcp_v4_err() uses and 3 is
 * returned; the skb is never consumed: Linux's ICMP layer sees it too (it finds no
 * Linux socket for a partcp 4-tuple and drops it).
 */
static int partcp_rx_icmp(struct sk_buff *skb, struct partcp_rx *out)
{
	const struct iphdr *iph = ip_hdr(skb);
	unsigned int ihl = iph->ihl * 4;
	unsigned int tot_len = ntohs(iph->tot_len);
	const struct icmphdr *ich;
	const struct iphdr *inner;
	unsigned int len, iihl;
	const u8 *th;

	if (ip_is_fragment(iph) || tot_len < ihl || tot_len > skb->len)
		return 1;
	len = tot_len - ihl;	/* the ICMP message */
	if (len < sizeof(*ich) + sizeof(*inner) + 8 ||
	    !pskb_may_pull(skb, ihl + sizeof(*ich) + sizeof(*inner)))
		return 1;
	ich = (const struct icmphdr *)(skb->data + ihl);
	if (ich->type != ICMP_DEST_UNREACH && ich->type != ICMP_TIME_EXCEEDED &&
	    ich->type != ICMP_PARAMETERPROB)
		return 1;
	inner = (const struct iphdr *)(ich + 1);
	iihl = inner->ihl * 4;
	if (inner->version != 4 || inner->ihl < 5 || inner->protocol != IPPROTO_TCP ||
	    (inner->frag_off & htons(IP_OFFSET)))
		return 1;
	if (len < sizeof(*ich) + iihl + 8 || !pskb_may_pull(skb, ihl + sizeof(*ich) + iihl + 8))
		return 1;
	/* The checksum covers the whole ICMP message (RFC 792). As icmp_rcv(): trusted if
	 * the device vouched for it, else summed in software (error messages are short). */
	if (!skb_csum_unnecessary(skb) && csum_fold(skb_checksum(skb, ihl, len, 0)))
		return 1;
	iph = ip_hdr(skb);
	ich = (const struct icmphdr *)(skb->data + ihl);
	inner = (const struct iphdr *)(ich + 1);
	/* An error goes back to the source of the datagram it quotes. */
	if (iph->daddr != inner->saddr)
		return 1;
	th = (const u8 *)inner + iihl;
	out->net = dev_net(skb->dev);
	out->ifindex = skb->dev->ifindex;
	out->icmp_saddr = inner->saddr;
	out->icmp_daddr = inner->daddr;
	out->icmp_sport = get_unaligned_be16(th);
	out->icmp_dport = get_unaligned_be16(th + 2);
	out->icmp_seq = get_unaligned_be32(th + 4);
	out->icmp_type = ich->type;
	out->icmp_code = ich->code;
	out->icmp_mtu = ntohs(ich->un.frag.mtu);
	return 3;
}

/* ---- partcp's local ports ---- */

static DECLARE_BITMAP(partcp_ports, 65536);
/* Ports set in partcp_ports (written under partcp's table lock, read locklessly). */
static unsigned int partcp_ports_used;

void partcp_port_set(u16 port)
{
	if (!test_and_set_bit(port, partcp_ports))
		WRITE_ONCE(partcp_ports_used, partcp_ports_used + 1);
}

void partcp_port_clear(u16 port)
{
	if (test_and_clear_bit(port, partcp_ports))
		WRITE_ONCE(partcp_ports_used, partcp_ports_used - 1);
}

/*
 * Whether an ICMP message may concern a partcp connection: an error type partcp handles
 * (partcp_rx_icmp()), not a fragment, quoting a TCP segment whose source port is one of
 * partcp's. Headers read as in partcp_rx_wanted(); everything else (echo requests and
 * replies above all) is passed on at once.
 */
static bool partcp_icmp_wanted(const struct sk_buff *skb, const struct iphdr *iph)
{
	struct icmphdr _ich;
	const struct icmphdr *ich;
	struct iphdr _inner;
	const struct iphdr *inner;
	__be16 _sport;
	const __be16 *sport;
	unsigned int off = iph->ihl * 4;

	if (ip_is_fragment(iph))
		return false;
	ich = skb_header_pointer(skb, off, sizeof(_ich), &_ich);
	if (!ich || (ich->type != ICMP_DEST_UNREACH && ich->type != ICMP_TIME_EXCEEDED &&
		     ich->type != ICMP_PARAMETERPROB))
		return false;
	off += sizeof(_ich);
	inner = skb_header_pointer(skb, off, sizeof(_inner), &_inner);
	if (!inner || inner->ihl < 5 || inner->protocol != IPPROTO_TCP)
		return false;
	sport = skb_header_pointer(skb, off + inner->ihl * 4, sizeof(_sport), &_sport);
	return sport && test_bit(ntohs(*sport), partcp_ports);
}

/*
 * Whether @skb may be partcp's, from its headers alone, without writing to it (it may
 * be shared: the IP layer unshares it later): IPv4 TCP to a port in partcp_ports, a
 * TCP fragment after the first (no ports to read; partcp reassembles TCP fragments
 * for local addresses only while it uses some port), or an ICMP error quoting a
 * segment from one of partcp's ports. Everything else is Linux's, and costs a few loads.
 */
static bool partcp_rx_wanted(const struct sk_buff *skb)
{
	struct iphdr _iph;
	const struct iphdr *iph;
	__be16 _ports[2];
	const __be16 *ports;

	iph = skb_header_pointer(skb, 0, sizeof(_iph), &_iph);
	if (!iph || iph->version != 4 || iph->ihl < 5)
		return false;
	if (iph->protocol == IPPROTO_ICMP)
		return partcp_icmp_wanted(skb, iph);
	if (iph->protocol != IPPROTO_TCP)
		return false;
	if (iph->frag_off & htons(IP_OFFSET))
		return READ_ONCE(partcp_ports_used) != 0;
	ports = skb_header_pointer(skb, iph->ihl * 4, sizeof(_ports), _ports);
	return ports && test_bit(ntohs(ports[1]), partcp_ports);
}

int partcp_rx_peek(struct sk_buff **pskb, struct partcp_rx *out)
{
	struct sk_buff *skb = *pskb;
	const struct iphdr *iph;
	const struct tcphdr *th;
	unsigned int ihl, tot_len, doff;

	if (skb->protocol != htons(ETH_P_IP) || skb->pkt_type != PACKET_HOST)
		return 1;
	if (!partcp_rx_wanted(skb))
		return 1;
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb) {
		*pskb = NULL;
		return -1;
	}
	*pskb = skb;
	if (!pskb_may_pull(skb, sizeof(struct iphdr)))
		return 1;
	iph = ip_hdr(skb);
	if (iph->version != 4 || iph->ihl < 5)
		return 1;
	if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_ICMP)
		return 1;
	if (!pskb_may_pull(skb, iph->ihl * 4))
		return 1;
	iph = ip_hdr(skb);
	if (ip_fast_csum((const u8 *)iph, iph->ihl))
		return 1;	/* let the IP layer count it */
	if (iph->protocol == IPPROTO_ICMP)
		return partcp_rx_icmp(skb, out);
	if (ip_is_fragment(iph)) {
		/*
		 * A fragment of a TCP datagram for a local address: reassemble it here,
		 * as the IP layer would before TCP, so that partcp sees whole segments
		 * (Linux's TCP would answer a partcp 4-tuple with a RST). A reassembled
		 * datagram partcp does not claim is passed on whole.
		 */
		struct net *net = dev_net(skb->dev);

		if (inet_addr_type_dev_table(net, skb->dev, iph->daddr) != RTN_LOCAL)
			return 1;
		skb = ip_check_defrag(net, skb, IP_DEFRAG_LOCAL_DELIVER);
		*pskb = skb;
		if (!skb)
			return -1;	/* queued for reassembly, or dropped */
		out->reassembled = 1;
		if (!pskb_may_pull(skb, sizeof(struct iphdr)))
			return 1;
		iph = ip_hdr(skb);
		if (iph->ihl < 5 || !pskb_may_pull(skb, iph->ihl * 4))
			return 1;
		iph = ip_hdr(skb);
	}
	ihl = iph->ihl * 4;
	tot_len = ntohs(iph->tot_len);
	if (tot_len < ihl || tot_len > skb->len)
		return 1;
	out->net = dev_net(skb->dev);
	out->saddr = iph->saddr;
	out->daddr = iph->daddr;
	out->ifindex = skb->dev->ifindex;
	if (tot_len < ihl + sizeof(struct tcphdr)) {
		/* Truncated TCP header: report the ports if they are there. */
		if (tot_len < ihl + 4 || !pskb_may_pull(skb, ihl + 4))
			return 1;
		out->tcp = skb->data + ihl;
		out->tcp_hlen = 4;
		return 2;
	}
	if (!pskb_may_pull(skb, ihl + sizeof(struct tcphdr)))
		return 1;
	th = (const struct tcphdr *)(skb->data + ihl);
	doff = th->doff * 4;
	if (doff < sizeof(struct tcphdr) || ihl + doff > tot_len) {
		out->tcp = skb->data + ihl;
		out->tcp_hlen = sizeof(struct tcphdr);
		return 2;
	}
	if (!pskb_may_pull(skb, ihl + doff))
		return 1;
	out->tcp = skb->data + ihl;
	out->tcp_hlen = doff;
	out->ip_opts = skb->data + sizeof(struct iphdr);
	out->ip_opts_len = ihl - sizeof(struct iphdr);
	out->payload_len = tot_len - ihl - doff;
	out->gso_segs = skb_is_gso(skb) ? skb_shinfo(skb)->gso_segs : 1;
	return 0;
}

int partcp_rx_claim(struct sk_buff *skb, const struct partcp_rx *rx)
{
	const struct iphdr *iph = ip_hdr(skb);
	unsigned int ihl = iph->ihl * 4;

	if (pskb_trim_rcsum(skb, ntohs(iph->tot_len)))
		return -1;
	__skb_pull(skb, ihl);
	skb_reset_transport_header(skb);
	/* As tcp_v4_rcv(): CHECKSUM_UNNECESSARY/PARTIAL are trusted, COMPLETE is
	 * checked against the pseudo header, NONE is computed in software. */
	if (skb_checksum_init(skb, IPPROTO_TCP, inet_compute_pseudo))
		return -1;
	if (!skb_csum_unnecessary(skb) && __skb_checksum_complete(skb))
		return -1;
	return 0;
}

void partcp_rx_unclaim(struct sk_buff *skb)
{
	skb_push(skb, skb->data - skb_network_header(skb));
}

void partcp_kfree_skb(struct sk_buff *skb)
{
	kfree_skb(skb);
}

/* ---- Receive queue ---- */

struct sk_buff *partcp_rxq_keep(struct sk_buff *skb)
{
	/*
	 * A queued skb no longer belongs to its sender, as skb_set_owner_r() makes it
	 * for Linux's receive queues (tcp_queue_rcv(), tcp_data_queue_ofo()). Over a
	 * veth the skb is the local sender's own (skb_scrub_packet() keeps skb->sk):
	 * until its destructor (tcp_wfree) runs, the sender counts it in sk_wmem_alloc,
	 * so its send buffer and its TCP small queues limit would include what waits in
	 * partcp's receive queue for the reader, and its transmissions would stall.
	 */
	skb_orphan(skb);
	skb_dst_drop(skb);
	nf_reset_ct(skb);
	return skb_get(skb);
}

struct sk_buff *partcp_skb_get(struct sk_buff *skb)
{
	return skb_get(skb);
}

unsigned int partcp_skb_truesize(const struct sk_buff *skb)
{
	return skb->truesize;
}

struct sk_buff *partcp_rxq_alloc(unsigned int len)
{
	return alloc_skb(len, GFP_ATOMIC | __GFP_NOWARN);
}

int partcp_rxq_append(struct sk_buff *to, unsigned int end, const struct sk_buff *from,
		      const struct partcp_rx *rx, unsigned int off, unsigned int len)
{
	if (skb_shared(to) || skb_is_nonlinear(to) || to->len != end || skb_tailroom(to) < len)
		return -1;
	if (skb_copy_bits(from, rx->tcp_hlen + off, skb_tail_pointer(to), len))
		return -1;
	__skb_put(to, len);
	return 0;
}

int partcp_rxq_copy_to_iter(const struct sk_buff *skb, unsigned int off, struct iov_iter *to,
			    unsigned int len)
{
	return skb_copy_datagram_iter(skb, off, to, len) ? -EFAULT : 0;
}

int partcp_rxq_copy_bits(const struct sk_buff *skb, unsigned int off, void *to, unsigned int len)
{
	return skb_copy_bits(skb, off, to, len) ? -EFAULT : 0;
}

/* ---- Transmit ---- */

/*
 * Fault injection for tests: fail every Nth transmit skb allocation (0, the default:
 * none), so that a segment whose skb cannot be allocated can be seen to be taken back
 * and sent again rather than lost (Documentation/hardening.md).
 */
static unsigned int fail_tx_alloc;
module_param(fail_tx_alloc, uint, 0644);
MODULE_PARM_DESC(fail_tx_alloc,
		 "Fault injection: fail every Nth transmit skb allocation (default 0: never; writable at run time)");

static atomic_t partcp_tx_allocs = ATOMIC_INIT(0);

struct sk_buff *partcp_tx_alloc(unsigned int len)
{
	unsigned int every = READ_ONCE(fail_tx_alloc);
	struct sk_buff *skb;

	if (unlikely(every) && (unsigned int)atomic_inc_return(&partcp_tx_allocs) % every == 0)
		return NULL;
	skb = alloc_skb(MAX_TCP_HEADER + len, GFP_ATOMIC | __GFP_NOWARN);
	if (!skb)
		return NULL;
	skb_reserve(skb, MAX_TCP_HEADER);
	return skb;
}

void partcp_tx_append(struct sk_buff *skb, const void *data, unsigned int len)
{
	skb_put_data(skb, data, len);
}

/* The task's page fragment with room, or NULL (see partcp_frag_copy_from_iter()). */
static struct page_frag *partcp_task_frag(void)
{
	struct page_frag *pfrag = &current->task_frag;

	return skb_page_frag_refill(32U, pfrag, GFP_KERNEL) ? pfrag : NULL;
}

struct page *partcp_frag_copy_from_iter(unsigned int len, struct iov_iter *from,
					unsigned int *off, unsigned int *got)
{
	struct page_frag *pfrag = partcp_task_frag();
	size_t copied;

	if (!pfrag)
		return NULL;
	len = min_t(unsigned int, len, pfrag->size - pfrag->offset);
	copied = copy_page_from_iter(pfrag->page, pfrag->offset, len, from);
	*off = pfrag->offset;
	*got = copied;
	pfrag->offset += copied;
	get_page(pfrag->page);
	return pfrag->page;
}

struct page *partcp_frag_write(const void *src, unsigned int len, unsigned int *off,
			       unsigned int *got)
{
	struct page_frag *pfrag = partcp_task_frag();

	if (!pfrag)
		return NULL;
	len = min_t(unsigned int, len, pfrag->size - pfrag->offset);
	memcpy(page_address(pfrag->page) + pfrag->offset, src, len);
	*off = pfrag->offset;
	*got = len;
	pfrag->offset += len;
	get_page(pfrag->page);
	return pfrag->page;
}

void partcp_put_page(struct page *page)
{
	put_page(page);
}

void partcp_page_read(struct page *page, unsigned int off, void *dst, unsigned int len)
{
	memcpy(dst, page_address(page) + off, len);
}

unsigned int partcp_max_skb_frags(void)
{
	return MAX_SKB_FRAGS;
}

int partcp_tx_add_frag(struct sk_buff *skb, struct page *page, unsigned int off, unsigned int len)
{
	int i = skb_shinfo(skb)->nr_frags;

	if (i >= MAX_SKB_FRAGS)
		return -1;
	get_page(page);
	skb_fill_page_desc(skb, i, page, off, len);
	skb->len += len;
	skb->data_len += len;
	skb->truesize += len;
	return 0;
}

void partcp_tx_append_page(struct sk_buff *skb, struct page *page, unsigned int off,
			   unsigned int len)
{
	skb_put_data(skb, page_address(page) + off, len);
}

static struct rtable *partcp_route(struct net *net, struct flowi4 *fl4, u32 daddr,
				   u32 saddr, u32 mark)
{
	memset(fl4, 0, sizeof(*fl4));
	fl4->daddr = daddr;
	fl4->saddr = saddr;
	fl4->flowi4_proto = IPPROTO_TCP;
	fl4->flowi4_mark = mark;
	return ip_route_output_key(net, fl4);
}

unsigned int partcp_route_mtu(struct net *net, u32 daddr, u32 *saddr, u32 mark)
{
	struct flowi4 fl4;
	struct rtable *rt;
	unsigned int mtu;

	rt = partcp_route(net, &fl4, daddr, *saddr, mark);
	if (IS_ERR(rt))
		return 0;
	if (!*saddr)
		*saddr = fl4.saddr;
	mtu = dst_mtu(&rt->dst);
	ip_rt_put(rt);
	return mtu;
}

/*
 * Completes a TCP segment in @skb (data at the TCP header) for @dst: checksum offload
 * from the pseudo-header sum, GSO for super-segments, the IPv4 header (DF set) and
 * the socket options' IP header fields and skb metadata (@meta).
 */
static void partcp_tx_headers(struct sk_buff *skb, struct dst_entry *dst, u32 saddr,
			      u32 daddr, unsigned int gso_size,
			      const struct partcp_tx_meta *meta)
{
	unsigned int tcp_len = skb->len;
	struct tcphdr *th;
	struct iphdr *iph;
	unsigned int thlen;

	skb_reset_transport_header(skb);
	th = tcp_hdr(skb);
	thlen = th->doff * 4;

	/* Checksum offload: the device (or the stack's software fallback) completes
	 * the checksum from the pseudo-header sum placed in th->check. */
	skb->ip_summed = CHECKSUM_PARTIAL;
	skb->csum_start = skb_transport_header(skb) - skb->head;
	skb->csum_offset = offsetof(struct tcphdr, check);
	th->check = ~csum_tcpudp_magic(saddr, daddr, tcp_len, IPPROTO_TCP, 0);

	if (gso_size && tcp_len - thlen > gso_size) {
		skb_shinfo(skb)->gso_size = gso_size;
		skb_shinfo(skb)->gso_type = SKB_GSO_TCPV4;
		skb_shinfo(skb)->gso_segs = DIV_ROUND_UP(tcp_len - thlen, gso_size);
	}

	skb_push(skb, sizeof(struct iphdr));
	skb_reset_network_header(skb);
	iph = ip_hdr(skb);
	iph->version = 4;
	iph->ihl = 5;
	/* As __ip_queue_xmit: the socket's TOS, and its IP_TTL or the route's hop
	 * limit (ip_select_ttl). */
	iph->tos = meta->tos;
	iph->frag_off = htons(IP_DF);
	iph->ttl = meta->ttl >= 0 ? meta->ttl : ip4_dst_hoplimit(dst);
	iph->protocol = IPPROTO_TCP;
	iph->saddr = saddr;
	iph->daddr = daddr;
	iph->id = 0;
	skb->protocol = htons(ETH_P_IP);
	skb->priority = meta->priority;
	skb->mark = meta->mark;
}

int partcp_tx_send(struct net *net, struct sk_buff *skb, u32 saddr, u32 daddr,
		   unsigned int gso_size, const struct partcp_tx_meta *meta)
{
	struct flowi4 fl4;
	struct rtable *rt;
	int err;

	rt = partcp_route(net, &fl4, daddr, saddr, meta->mark);
	if (IS_ERR(rt)) {
		kfree_skb(skb);
		return PTR_ERR(rt);
	}
	partcp_tx_headers(skb, &rt->dst, saddr ? saddr : fl4.saddr, daddr, gso_size, meta);
	skb_dst_set(skb, &rt->dst);
	/* net_xmit_eval() evaluates its argument twice: never pass it a call. */
	err = ip_local_out(net, NULL, skb);
	return net_xmit_eval(err);
}

/* ---- Cached routes (a connection's, as Linux's sk_dst_cache) ---- */

struct dst_entry *partcp_route_lookup(struct net *net, u32 saddr, u32 daddr, u16 sport,
				      u16 dport, u32 mark)
{
	struct flowi4 fl4;
	struct rtable *rt;

	memset(&fl4, 0, sizeof(fl4));
	fl4.daddr = daddr;
	fl4.saddr = saddr;
	fl4.flowi4_proto = IPPROTO_TCP;
	fl4.fl4_sport = htons(sport);
	fl4.fl4_dport = htons(dport);
	fl4.flowi4_mark = mark;
	rt = ip_route_output_key(net, &fl4);
	if (IS_ERR(rt))
		return NULL;
	return &rt->dst;
}

bool partcp_dst_valid(struct dst_entry *dst)
{
	return dst_check(dst, 0) != NULL;
}

void partcp_dst_release(struct dst_entry *dst)
{
	dst_release(dst);
}

int partcp_tx_send_dst(struct net *net, struct sk_buff *skb, struct dst_entry *dst,
		       u32 saddr, u32 daddr, unsigned int gso_size, u32 hash,
		       const struct partcp_tx_meta *meta)
{
	int err;

	partcp_tx_headers(skb, dst, saddr, daddr, gso_size, meta);
	/* The connection's flow hash (sk_txhash): the TX queue choice and RPS use it
	 * instead of dissecting every skb, and it stays the connection's. */
	skb_set_hash(skb, hash, PKT_HASH_TYPE_L4);
	/* As __ip_queue_xmit: no reference per skb; the caller's reference keeps the
	 * dst alive, and whatever holds the skb past this RCU section (qdisc,
	 * neighbour queue) takes its own (skb_dst_force). */
	rcu_read_lock();
	skb_dst_set_noref(skb, dst);
	err = ip_local_out(net, NULL, skb);
	rcu_read_unlock();
	return net_xmit_eval(err);
}

void partcp_route_update_pmtu(struct net *net, u32 saddr, u32 daddr, unsigned int mtu)
{
	struct sk_buff *skb;
	struct iphdr *iph;

	/* ipv4_update_pmtu reads the flow from an IPv4 header at skb->data, as an ICMP
	 * error quotes it: ours (saddr -> daddr). */
	skb = alloc_skb(sizeof(*iph), GFP_ATOMIC | __GFP_NOWARN);
	if (!skb)
		return;
	iph = skb_put_zero(skb, sizeof(*iph));
	iph->version = 4;
	iph->ihl = 5;
	iph->protocol = IPPROTO_TCP;
	iph->saddr = saddr;
	iph->daddr = daddr;
	ipv4_update_pmtu(skb, net, mtu, 0, IPPROTO_TCP);
	consume_skb(skb);
}

/* ---- Protocol threads (ConnP-T) ---- */

void partcp_set_current_interruptible(void)
{
	set_current_state(TASK_INTERRUPTIBLE);
}

void partcp_set_current_running(void)
{
	__set_current_state(TASK_RUNNING);
}

unsigned int partcp_num_online_cpus(void)
{
	return num_online_cpus();
}

unsigned int partcp_num_possible_cpus(void)
{
	return num_possible_cpus();
}

unsigned int partcp_online_cpu(unsigned int i)
{
	unsigned int n = num_online_cpus();
	unsigned int cpu = cpumask_nth(n ? i % n : 0, cpu_online_mask);

	return cpu < nr_cpu_ids ? cpu : 0;
}

/* ---- RCU hash tables ---- */

static_assert(offsetof(struct partcp_hnode, node) == 0);
static_assert(offsetof(struct partcp_hnode, key) == 16);
static_assert(offsetof(struct partcp_hnode, rcu) == 40);
static_assert(sizeof(struct partcp_hnode) == 56);

u32 partcp_hkey_hash(const u64 *key, u32 seed)
{
	return jhash2((const u32 *)key, 6, seed);
}

void partcp_hnode_add(struct hlist_head *bucket, struct partcp_hnode *n)
{
	hlist_add_head_rcu(&n->node, bucket);
}

void partcp_hnode_del(struct partcp_hnode *n)
{
	hlist_del_rcu(&n->node);
}

struct partcp_hnode *partcp_hnode_find(struct hlist_head *bucket, const u64 *key)
{
	struct partcp_hnode *n;

	hlist_for_each_entry_rcu(n, bucket, node) {
		if (n->key[0] == key[0] && n->key[1] == key[1] && n->key[2] == key[2])
			return n;
	}
	return NULL;
}

struct partcp_hnode *partcp_hnode_next(struct hlist_head *bucket, struct partcp_hnode *prev)
{
	struct hlist_node *next;

	next = prev ? rcu_dereference(hlist_next_rcu(&prev->node)) :
		      rcu_dereference(hlist_first_rcu(bucket));
	return hlist_entry_safe(next, struct partcp_hnode, node);
}
