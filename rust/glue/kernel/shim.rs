// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C shim (`rust/shim/partcp_shim.c`) and of exported kernel
//! functions missing from the 7.3 bindings, plus safe wrappers where a call has no
//! preconditions.
//!
//! The shim exists only for what Rust cannot reach: `struct proto` (missing from the 7.3
//! bindings) and the functions that need it, static inlines and macros (`sock_orphan`,
//! `spin_lock_bh`, `timer_setup`, `skb_share_check`, ...), fields of structs the bindings
//! leave opaque (`struct sock`, `struct net_device`), and module parameters that must be
//! visible in sysfs (the `module!` macro registers its parameters with permission 0).

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

use crate::glue::kernel::rcu_table::RawHNode;
use crate::glue::kernel::sysctl::RawTcpSysctls;

/// Mirror of `struct partcp_tx_meta` in `partcp_shim.h`: the IP header fields and skb
/// metadata of a socket's segments, as Linux takes them at each transmit
/// (`__ip_queue_xmit`: `inet->tos`, `ip_select_ttl` from `uc_ttl`, `sk_priority`,
/// `sk_mark`).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxMeta {
    /// `SO_PRIORITY` (`skb->priority`).
    pub(crate) priority: u32,
    /// `SO_MARK` (`skb->mark`, and the route lookup's `flowi4_mark`).
    pub(crate) mark: u32,
    /// `IP_TTL`; -1: the route's hop limit.
    pub(crate) ttl: c_int,
    /// `IP_TOS`: the whole TOS byte.
    pub(crate) tos: u8,
}

impl TxMeta {
    /// A fresh socket's.
    pub(crate) const DEFAULT: TxMeta = TxMeta { priority: 0, mark: 0, ttl: -1, tos: 0 };
}

/// Mirror of `struct partcp_rx` in `partcp_shim.h`.
#[repr(C)]
pub(crate) struct PartcpRx {
    pub(crate) net: *mut bindings::net,
    pub(crate) tcp: *const u8,
    pub(crate) tcp_hlen: c_uint,
    pub(crate) payload_len: c_uint,
    pub(crate) saddr: u32,
    pub(crate) daddr: u32,
    pub(crate) gso_segs: c_uint,
    pub(crate) ifindex: c_int,
    pub(crate) reassembled: c_uint,
    /// The IP options (`partcp_rx_peek` returned 0): `ip_opts_len` bytes in the linear area.
    pub(crate) ip_opts: *const u8,
    pub(crate) ip_opts_len: c_uint,
    /// ICMP error (`partcp_rx_peek` returned 3): the quoted segment's addresses (network
    /// order), ports and sequence number (host order), the message's type and code, and
    /// the next-hop MTU of a fragmentation-needed message (host order).
    pub(crate) icmp_saddr: u32,
    pub(crate) icmp_daddr: u32,
    pub(crate) icmp_sport: u16,
    pub(crate) icmp_dport: u16,
    pub(crate) icmp_seq: u32,
    pub(crate) icmp_type: u8,
    pub(crate) icmp_code: u8,
    pub(crate) icmp_mtu: u16,
}

impl PartcpRx {
    /// An empty descriptor for `partcp_rx_peek` to fill.
    pub(crate) const fn new() -> Self {
        PartcpRx {
            net: core::ptr::null_mut(),
            tcp: core::ptr::null(),
            tcp_hlen: 0,
            payload_len: 0,
            saddr: 0,
            daddr: 0,
            gso_segs: 0,
            ifindex: 0,
            reassembled: 0,
            ip_opts: core::ptr::null(),
            ip_opts_len: 0,
            icmp_saddr: 0,
            icmp_daddr: 0,
            icmp_sport: 0,
            icmp_dport: 0,
            icmp_seq: 0,
            icmp_type: 0,
            icmp_code: 0,
            icmp_mtu: 0,
        }
    }
}

/// `rx_handler_func_t` (include/linux/netdevice.h).
pub(crate) type RxHandler = unsafe extern "C" fn(pskb: *mut *mut bindings::sk_buff) -> c_uint;

/// `RX_HANDLER_CONSUMED` (enum rx_handler_result, netdevice.h).
pub(crate) const RX_HANDLER_CONSUMED: c_uint = 0;
/// `RX_HANDLER_PASS`.
pub(crate) const RX_HANDLER_PASS: c_uint = 3;
/// `NETDEV_REGISTER` (enum netdev_cmd).
pub(crate) const NETDEV_REGISTER: c_ulong = 5;
/// `NETDEV_UNREGISTER`.
pub(crate) const NETDEV_UNREGISTER: c_ulong = 6;
/// `NETDEV_JOIN`: a bridge or bond is about to take the device's rx_handler.
pub(crate) const NETDEV_JOIN: c_ulong = 0x15;

// Kernel structs cross this boundary only as pointers, never by value; with lockdep off
// some contain zero-sized members, which the lint flags although pointers are fine.
#[allow(improper_ctypes)]
unsafe extern "C" {
    fn partcp_param_family() -> c_int;
    fn partcp_param_port_lo() -> c_int;
    fn partcp_param_port_hi() -> c_int;
    fn partcp_param_strategy() -> *const c_char;
    fn partcp_param_groups() -> c_int;
    fn partcp_param_threads() -> c_int;
    fn partcp_param_stats() -> c_int;
    pub(crate) fn partcp_proto_register() -> c_int;
    pub(crate) fn partcp_proto_unregister();
    pub(crate) fn partcp_state_cache_create(size: usize, align: usize) -> c_int;
    pub(crate) fn partcp_state_cache_destroy();
    pub(crate) fn partcp_state_alloc(flags: bindings::gfp_t) -> *mut c_void;
    pub(crate) fn partcp_state_free(obj: *mut c_void);
    pub(crate) fn partcp_sk_alloc(
        net: *mut bindings::net,
        sock: *mut bindings::socket,
        family: c_int,
        kern: c_int,
    ) -> *mut bindings::sock;
    pub(crate) fn partcp_sk_release(sk: *mut bindings::sock);
    pub(crate) fn partcp_sk_priv(sk: *const bindings::sock) -> *mut c_void;
    pub(crate) fn partcp_sk_set_priv(sk: *mut bindings::sock, priv_: *mut c_void);

    pub(crate) fn partcp_spin_lock_bh(lock: *mut bindings::spinlock_t);
    pub(crate) fn partcp_spin_unlock_bh(lock: *mut bindings::spinlock_t);
    pub(crate) fn partcp_spin_trylock_bh(lock: *mut bindings::spinlock_t) -> c_int;

    pub(crate) fn partcp_timer_init(
        t: *mut bindings::timer_list,
        f: unsafe extern "C" fn(*mut bindings::timer_list),
    );
    pub(crate) fn partcp_timer_arm_usecs(t: *mut bindings::timer_list, usecs: c_ulong);
    pub(crate) fn partcp_timer_shutdown_sync(t: *mut bindings::timer_list);

    pub(crate) fn partcp_sock_net(sk: *const bindings::sock) -> *mut bindings::net;
    pub(crate) fn partcp_sock_rcvtimeo(sk: *const bindings::sock, noblock: bool) -> c_long;
    pub(crate) fn partcp_sock_sndtimeo(sk: *const bindings::sock, noblock: bool) -> c_long;
    pub(crate) fn partcp_sock_rcvbuf(sk: *const bindings::sock) -> c_int;
    pub(crate) fn partcp_sock_sndbuf(sk: *const bindings::sock) -> c_int;
    pub(crate) fn partcp_sock_set_bufs(sk: *mut bindings::sock, sndbuf: c_int, rcvbuf: c_int);
    pub(crate) fn partcp_sock_grow_bufs(sk: *mut bindings::sock, sndbuf: c_int, rcvbuf: c_int);
    pub(crate) fn partcp_sk_data_ready(sk: *mut bindings::sock);
    pub(crate) fn partcp_sk_write_space(sk: *mut bindings::sock);
    pub(crate) fn partcp_sk_sleep(sk: *mut bindings::sock) -> *mut bindings::wait_queue_head;
    pub(crate) fn partcp_sk_set_err(sk: *mut bindings::sock, err: c_int);
    pub(crate) fn partcp_sk_clear_err(sk: *mut bindings::sock);
    pub(crate) fn partcp_sk_err(sk: *const bindings::sock) -> c_int;
    pub(crate) fn partcp_sock_buf_locked(sk: *const bindings::sock, snd: bool) -> bool;
    pub(crate) fn partcp_sock_reuse(sk: *const bindings::sock) -> bool;
    pub(crate) fn partcp_sk_set_state(sk: *mut bindings::sock, state: c_int);
    pub(crate) fn partcp_sock_linger_zero(sk: *const bindings::sock) -> bool;
    pub(crate) fn partcp_sock_keepalive(sk: *const bindings::sock) -> bool;
    pub(crate) fn partcp_sock_rcvlowat(sk: *const bindings::sock) -> c_int;
    pub(crate) fn partcp_sock_set_rcvlowat(sk: *mut bindings::sock, val: c_int);
    pub(crate) fn partcp_sock_default_ttl(sk: *const bindings::sock) -> c_int;
    pub(crate) fn partcp_sock_priority_mark(sk: *const bindings::sock, priority: *mut u32, mark: *mut u32);
    pub(crate) fn partcp_sock_set_priority_mark(sk: *mut bindings::sock, priority: u32, mark: u32);
    pub(crate) fn partcp_sock_set_tos_priority(sk: *mut bindings::sock, tos: u8);
    pub(crate) fn partcp_accept_flags(arg: *const bindings::proto_accept_arg) -> c_int;
    pub(crate) fn partcp_addr_is_local(net: *mut bindings::net, addr: u32) -> bool;
    pub(crate) fn partcp_tcp_sysctls(net: *const bindings::net, out: *mut RawTcpSysctls);
    pub(crate) fn partcp_tcp_notsent_lowat(net: *const bindings::net) -> u32;
    pub(crate) fn partcp_tcp_ca_permitted(net: *mut bindings::net, name: *const c_char) -> c_int;
    pub(crate) fn partcp_tcp_mem(out: *mut c_long);
    pub(crate) fn partcp_seg_mem(head: *mut c_uint, skb: *mut c_uint);
    pub(crate) fn partcp_get_net(net: *mut bindings::net) -> *mut bindings::net;
    pub(crate) fn partcp_put_net(net: *mut bindings::net);

    pub(crate) fn partcp_notifier_dev(info: *mut c_void) -> *mut bindings::net_device;
    pub(crate) fn partcp_dev_has_our_handler(dev: *mut bindings::net_device, handler: RxHandler) -> bool;

    pub(crate) fn partcp_rx_peek(pskb: *mut *mut bindings::sk_buff, out: *mut PartcpRx) -> c_int;
    pub(crate) fn partcp_rx_claim(skb: *mut bindings::sk_buff, rx: *const PartcpRx) -> c_int;
    pub(crate) fn partcp_rx_unclaim(skb: *mut bindings::sk_buff);
    pub(crate) fn partcp_kfree_skb(skb: *mut bindings::sk_buff);
    pub(crate) fn partcp_rxq_keep(skb: *mut bindings::sk_buff) -> *mut bindings::sk_buff;
    pub(crate) fn partcp_skb_get(skb: *mut bindings::sk_buff) -> *mut bindings::sk_buff;
    pub(crate) fn partcp_skb_truesize(skb: *const bindings::sk_buff) -> c_uint;
    pub(crate) fn partcp_rxq_alloc(len: c_uint) -> *mut bindings::sk_buff;
    pub(crate) fn partcp_rxq_append(
        to: *mut bindings::sk_buff,
        end: c_uint,
        from: *const bindings::sk_buff,
        rx: *const PartcpRx,
        off: c_uint,
        len: c_uint,
    ) -> c_int;
    pub(crate) fn partcp_rxq_copy_to_iter(
        skb: *const bindings::sk_buff,
        off: c_uint,
        to: *mut bindings::iov_iter,
        len: c_uint,
    ) -> c_int;
    pub(crate) fn partcp_rxq_copy_bits(skb: *const bindings::sk_buff, off: c_uint, to: *mut c_void, len: c_uint) -> c_int;
    pub(crate) fn partcp_wake_var(var: *const c_void);
    pub(crate) fn partcp_wait_var_false(flag: *mut u8);
    pub(crate) fn partcp_port_set(port: u16);
    pub(crate) fn partcp_port_clear(port: u16);

    // RCU hash tables (`rcu_table.rs`).
    pub(crate) fn partcp_hkey_hash(key: *const u64, seed: u32) -> u32;
    pub(crate) fn partcp_hnode_add(bucket: *mut bindings::hlist_head, n: *mut RawHNode);
    pub(crate) fn partcp_hnode_del(n: *mut RawHNode);
    pub(crate) fn partcp_hnode_find(bucket: *mut bindings::hlist_head, key: *const u64) -> *mut RawHNode;
    pub(crate) fn partcp_hnode_next(bucket: *mut bindings::hlist_head, prev: *mut RawHNode) -> *mut RawHNode;

    pub(crate) fn partcp_tx_alloc(len: c_uint) -> *mut bindings::sk_buff;
    pub(crate) fn partcp_tx_append(skb: *mut bindings::sk_buff, data: *const c_void, len: c_uint);
    pub(crate) fn partcp_frag_copy_from_iter(
        len: c_uint,
        from: *mut bindings::iov_iter,
        off: *mut c_uint,
        got: *mut c_uint,
    ) -> *mut bindings::page;
    pub(crate) fn partcp_frag_write(src: *const c_void, len: c_uint, off: *mut c_uint, got: *mut c_uint) -> *mut bindings::page;
    pub(crate) fn partcp_put_page(page: *mut bindings::page);
    pub(crate) fn partcp_page_read(page: *mut bindings::page, off: c_uint, dst: *mut c_void, len: c_uint);
    pub(crate) fn partcp_max_skb_frags() -> c_uint;
    pub(crate) fn partcp_tx_add_frag(skb: *mut bindings::sk_buff, page: *mut bindings::page, off: c_uint, len: c_uint) -> c_int;
    pub(crate) fn partcp_tx_append_page(skb: *mut bindings::sk_buff, page: *mut bindings::page, off: c_uint, len: c_uint);
    pub(crate) fn partcp_tx_send(
        net: *mut bindings::net,
        skb: *mut bindings::sk_buff,
        saddr: u32,
        daddr: u32,
        gso_size: c_uint,
        meta: *const TxMeta,
    ) -> c_int;
    // Cached routes (`route.rs`).
    pub(crate) fn partcp_route_lookup(
        net: *mut bindings::net,
        saddr: u32,
        daddr: u32,
        sport: u16,
        dport: u16,
        mark: u32,
    ) -> *mut bindings::dst_entry;
    pub(crate) fn partcp_dst_valid(dst: *mut bindings::dst_entry) -> bool;
    pub(crate) fn partcp_dst_release(dst: *mut bindings::dst_entry);
    pub(crate) fn partcp_tx_send_dst(
        net: *mut bindings::net,
        skb: *mut bindings::sk_buff,
        dst: *mut bindings::dst_entry,
        saddr: u32,
        daddr: u32,
        gso_size: c_uint,
        hash: u32,
        meta: *const TxMeta,
    ) -> c_int;
    pub(crate) fn partcp_route_update_pmtu(net: *mut bindings::net, saddr: u32, daddr: u32, mtu: c_uint);
    pub(crate) fn partcp_route_mtu(net: *mut bindings::net, daddr: u32, saddr: *mut u32, mark: u32) -> c_uint;

    // Per-CPU counters (`percpu.rs`): `this_cpu_*` are macros.
    fn partcp_pcpu_add(word: c_uint, v: i64);
    fn partcp_pcpu_max(word: c_uint, v: i64);
    fn partcp_pcpu_read(cpu: c_uint, word: c_uint) -> i64;
    fn partcp_pcpu_write(cpu: c_uint, word: c_uint, v: i64);

    // Protocol threads (ConnP-T): `set_current_state` and the cpumask helpers are
    // macros/static inlines.
    pub(crate) fn partcp_set_current_interruptible();
    pub(crate) fn partcp_set_current_running();
    pub(crate) fn partcp_num_online_cpus() -> c_uint;
    pub(crate) fn partcp_num_possible_cpus() -> c_uint;
    pub(crate) fn partcp_online_cpu(i: c_uint) -> c_uint;

    // Exported by the kernel but missing from the 7.3 bindings.
    pub(crate) fn netdev_rx_handler_register(
        dev: *mut bindings::net_device,
        handler: Option<RxHandler>,
        data: *mut c_void,
    ) -> c_int;
    pub(crate) fn netdev_rx_handler_unregister(dev: *mut bindings::net_device);
    pub(crate) fn register_netdevice_notifier(nb: *mut bindings::notifier_block) -> c_int;
    pub(crate) fn unregister_netdevice_notifier(nb: *mut bindings::notifier_block) -> c_int;
}

/// The `family=` module parameter.
pub(crate) fn param_family() -> c_int {
    // SAFETY: Reads a module parameter that the module loader has set before `init`
    // runs; parameters are read-only (0444) afterwards.
    unsafe { partcp_param_family() }
}

/// The `port_lo=`/`port_hi=` module parameters (ephemeral port range).
pub(crate) fn param_ports() -> (c_int, c_int) {
    // SAFETY: As `param_family`.
    unsafe { (partcp_param_port_lo(), partcp_param_port_hi()) }
}

/// The `strategy=`, `groups=`, `threads=` and `stats=` module parameters.
pub(crate) fn param_strategy() -> (&'static [u8], c_int, c_int, bool) {
    // SAFETY: As `param_family`; the string parameter is NUL-terminated and, being
    // read-only (0444), never replaced after load.
    let name = unsafe { core::ffi::CStr::from_ptr(partcp_param_strategy().cast()) };
    // SAFETY: As `param_family`.
    let (g, t, s) = unsafe { (partcp_param_groups(), partcp_param_threads(), partcp_param_stats()) };
    (name.to_bytes(), g, t, s != 0)
}

/// Number of online CPUs.
pub(crate) fn num_online_cpus() -> u32 {
    // SAFETY: Reads the online mask's weight; no preconditions.
    unsafe { partcp_num_online_cpus() }
}

/// Number of possible CPUs.
pub(crate) fn num_possible_cpus() -> u32 {
    // SAFETY: No preconditions.
    unsafe { partcp_num_possible_cpus() }
}

/// The `i`-th online CPU (modulo the online count).
pub(crate) fn online_cpu(i: u32) -> u32 {
    // SAFETY: No preconditions.
    unsafe { partcp_online_cpu(i) }
}

/// Adds `v` to word `word` of this CPU's counter area (`this_cpu_add`: one non-locked
/// add, safe against preemption and interrupts). Words beyond the area are ignored.
#[inline]
pub(crate) fn pcpu_add(word: u32, v: i64) {
    // SAFETY: No preconditions: the shim checks `word` against the area's size.
    unsafe { partcp_pcpu_add(word, v) }
}

/// Raises word `word` of this CPU's counter area to `v` if it is lower
/// (`this_cpu_cmpxchg`). Words beyond the area are ignored.
#[inline]
pub(crate) fn pcpu_max(word: u32, v: i64) {
    // SAFETY: As `pcpu_add`.
    unsafe { partcp_pcpu_max(word, v) }
}

/// Word `word` of CPU `cpu`'s counter area (0 for a CPU that is not possible or a
/// word beyond the area).
pub(crate) fn pcpu_read(cpu: u32, word: u32) -> i64 {
    // SAFETY: No preconditions: the shim checks both indices.
    unsafe { partcp_pcpu_read(cpu, word) }
}

/// Sets word `word` of CPU `cpu`'s counter area (ignored out of range, as `pcpu_read`).
pub(crate) fn pcpu_write(cpu: u32, word: u32, v: i64) {
    // SAFETY: As `pcpu_read`.
    unsafe { partcp_pcpu_write(cpu, word, v) }
}
