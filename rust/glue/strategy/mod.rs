// SPDX-License-Identifier: GPL-2.0

//! The three parallelization strategies of Willmann, Rixner and Cox (USENIX ATC 2006),
//! chosen at load time (`strategy=`) and switchable at run time through debugfs while
//! no socket and no connection exists. See `Documentation/strategies.md`.
//!
//! - **MsgP** ([`msgp`]): any context processes any connection's work itself, under the
//!   connection's own lock.
//! - **ConnP-L(n)** ([`connp_l`]): connections are hashed into `n` groups, one lock per
//!   group; any context processes the work itself under the group's lock.
//! - **ConnP-T(n)** ([`connp_t`]): `n` protocol threads, one per CPU; every piece of a
//!   connection's work is queued to the thread its 4-tuple hashes to, which alone
//!   touches the connection's state.
//!
//! `dispatch.rs` is the only user: it decides where work runs and grants `&mut ConnInner`.
//!
//! Layer: executors. The three executors import nothing above the kernel wrappers: their
//! cells are generic over the state they guard, and ConnP-T's threads over the
//! [`WorkItem`](connp_t::WorkItem) they run. One edge goes up: the active strategy
//! instantiates the protocol threads with the objects' work type ([`Threads`], from
//! `obj/work.rs`).
//!
//! # Invariants
//!
//! The active [`Strategy`] (in `CURRENT`) is replaced or freed only by [`switch`],
//! [`init`] and [`exit`], and only while `SWITCHING` is held (set by them) and `LIVE`
//! is zero. `LIVE` counts [`LiveToken`]s: every [`Conn`](crate::glue::obj::conn::Conn) and
//! [`Listen`](crate::glue::obj::conn::Listen) owns one for its whole lifetime, so any code that
//! reaches the strategy through a token (hence through a live connection or listener)
//! reads memory that cannot change under it. A token can only be acquired while
//! `SWITCHING` is clear: [`LiveToken::acquire`] increments `LIVE` and then checks
//! `SWITCHING`, [`switch`] sets `SWITCHING` and then checks `LIVE`, both with fully
//! ordered atomics, so at least one of the two sees the other and backs off.

pub(crate) mod connp_l;
pub(crate) mod connp_t;
pub(crate) mod msgp;

use core::cell::UnsafeCell;
use core::fmt;

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Full, Relaxed};

use crate::glue::kernel::percpu::PerCpu;
use crate::glue::kernel::trace::{self, HandoffKind};
use crate::glue::obj::work::Threads;
use crate::siphash::SipHasher24;

/// Which strategy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// Message-parallel: per-connection locks.
    MsgP,
    /// Connection-parallel, threads.
    ConnPT,
    /// Connection-parallel, locks.
    ConnPL,
}

impl Kind {
    /// The strategy's name in parameters and debugfs.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Kind::MsgP => "msgp",
            Kind::ConnPT => "connp-t",
            Kind::ConnPL => "connp-l",
        }
    }

    const fn code(self) -> u32 {
        match self {
            Kind::MsgP => 0,
            Kind::ConnPT => 1,
            Kind::ConnPL => 2,
        }
    }

    const fn from_code(c: u32) -> Kind {
        match c {
            1 => Kind::ConnPT,
            2 => Kind::ConnPL,
            _ => Kind::MsgP,
        }
    }
}

/// A strategy and its knob: threads (ConnP-T), groups (ConnP-L), 0 (MsgP). Formats
/// (`{:?}`) as the `strategy` file shows it: `msgp`, `connp-t 2`, `connp-l 128`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) kind: Kind,
    pub(crate) n: u32,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::MsgP => f.write_str("msgp"),
            k => write!(f, "{} {}", k.name(), self.n),
        }
    }
}


/// Largest number of ConnP-L groups.
pub(crate) const MAX_GROUPS: u32 = 65536;
/// Default number of ConnP-L groups.
pub(crate) const DEFAULT_GROUPS: u32 = 128;

/// Parses `msgp`, `connp-t [N]`, `connp-l [N]` (also `0`/`1`/`2`, and `_` for `-`);
/// a missing knob takes the default (`threads=`/`groups=` parameters). EINVAL if the
/// name is unknown or the knob out of range.
pub(crate) fn parse(s: &[u8], default_groups: u32, default_threads: u32) -> Result<Config> {
    let s = trim(s);
    let (name, rest) = match s.iter().position(|b| b.is_ascii_whitespace() || *b == b'=') {
        Some(i) => (s.get(..i).unwrap_or(&[]), trim(s.get(i + 1..).unwrap_or(&[]))),
        None => (s, &[][..]),
    };
    let kind = match name {
        b"msgp" | b"0" => Kind::MsgP,
        b"connp-t" | b"connp_t" | b"1" => Kind::ConnPT,
        b"connp-l" | b"connp_l" | b"2" => Kind::ConnPL,
        _ => return Err(EINVAL),
    };
    let n = if rest.is_empty() {
        match kind {
            Kind::MsgP => 0,
            Kind::ConnPT => default_threads,
            Kind::ConnPL => default_groups,
        }
    } else {
        if kind == Kind::MsgP {
            return Err(EINVAL);
        }
        parse_u32(rest).ok_or(EINVAL)?
    };
    let cfg = Config { kind, n };
    validate(cfg)?;
    Ok(cfg)
}

/// `s` without leading and trailing whitespace and NULs.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace() && *b != 0).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !b.is_ascii_whitespace() && *b != 0).map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or(&[])
}

fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(b - b'0');
    }
    u32::try_from(v).ok()
}

/// Range checks: 1..=possible CPUs threads, 1..=65536 groups.
pub(crate) fn validate(cfg: Config) -> Result {
    let ok = match cfg.kind {
        Kind::MsgP => true,
        Kind::ConnPT => cfg.n >= 1 && cfg.n <= crate::glue::kernel::shim::num_possible_cpus(),
        Kind::ConnPL => cfg.n >= 1 && cfg.n <= MAX_GROUPS,
    };
    if ok {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

/// A strategy's resources.
pub(crate) struct Strategy {
    /// What it is.
    pub(crate) cfg: Config,
    /// Per-load secret of the 4-tuple hash.
    key: [u8; 16],
    /// ConnP-L's group locks (empty otherwise).
    pub(crate) groups: connp_l::Groups,
    /// ConnP-T's protocol threads (empty otherwise).
    pub(crate) threads: Threads,
}

impl Strategy {
    fn new(cfg: Config, key: [u8; 16]) -> Result<Strategy> {
        let groups = if cfg.kind == Kind::ConnPL { connp_l::Groups::new(cfg.n)? } else { connp_l::Groups::empty() };
        let threads = if cfg.kind == Kind::ConnPT { Threads::start(cfg.n)? } else { Threads::empty() };
        Ok(Strategy { cfg, key, groups, threads })
    }

    /// The group (ConnP-L) or thread (ConnP-T) a connection belongs to: a keyed hash
    /// (SipHash-2-4, secret per load) of its 4-tuple, modulo the knob; 0 under MsgP.
    pub(crate) fn slot(&self, laddr: u32, lport: u16, raddr: u32, rport: u16) -> u32 {
        if self.cfg.n == 0 {
            return 0;
        }
        let mut h = SipHasher24::new(&self.key);
        h.write_u32_be(laddr);
        h.write_u16_be(lport);
        h.write_u32_be(raddr);
        h.write_u16_be(rport);
        // CAST: the remainder is below `n`, a u32.
        h.finish().checked_rem(u64::from(self.cfg.n)).unwrap_or(0) as u32
    }
}

/// Holder of the active strategy (see the module's invariants).
struct Current(UnsafeCell<Option<Strategy>>);

// SAFETY: Written only under `SWITCHING` with `LIVE == 0`; read only through a
// `LiveToken` (module invariants), so reads never race with writes.
unsafe impl Sync for Current {}

static CURRENT: Current = Current(UnsafeCell::new(None));
/// Live tokens (connections, listeners, creations in progress).
static LIVE: Atomic<i64> = Atomic::new(0);
/// A switch (or load/unload) is in progress: no token can be acquired.
static SWITCHING: Atomic<bool> = Atomic::new(true);
/// The active configuration, for readers without a token (debugfs).
static ACTIVE_KIND: Atomic<u32> = Atomic::new(0);
static ACTIVE_N: Atomic<u32> = Atomic::new(0);
/// Defaults for knob-less switch requests (the `groups=`/`threads=` parameters).
static DEFAULT_N: [Atomic<u32>; 2] = [Atomic::new(DEFAULT_GROUPS), Atomic::new(1)];

/// A share in the active strategy's lifetime (see the module's invariants).
pub(crate) struct LiveToken(());

impl LiveToken {
    /// A token, or EAGAIN while a strategy switch (or unload) is in progress.
    pub(crate) fn acquire() -> Result<LiveToken> {
        LIVE.fetch_add(1, Full);
        if SWITCHING.load(Relaxed) {
            LIVE.fetch_sub(1, Full);
            return Err(EAGAIN);
        }
        Ok(LiveToken(()))
    }

    /// The active strategy, unchanged for as long as this token lives.
    pub(crate) fn strategy(&self) -> Option<&Strategy> {
        // SAFETY: While this token lives, `LIVE > 0`, so nothing writes `CURRENT`
        // (module invariants); the reference's lifetime is bounded by the token's.
        unsafe { (*CURRENT.0.get()).as_ref() }
    }
}

impl Drop for LiveToken {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Full);
    }
}

/// The active configuration.
pub(crate) fn active() -> Config {
    Config { kind: Kind::from_code(ACTIVE_KIND.load(Relaxed)), n: ACTIVE_N.load(Relaxed) }
}

/// Default knobs for knob-less requests: (groups, threads).
pub(crate) fn defaults() -> (u32, u32) {
    (DEFAULT_N[0].load(Relaxed), DEFAULT_N[1].load(Relaxed))
}

fn install(s: Strategy) {
    ACTIVE_KIND.store(s.cfg.kind.code(), Relaxed);
    ACTIVE_N.store(s.cfg.n, Relaxed);
    // SAFETY: Called with `SWITCHING` held and `LIVE == 0` (callers), so no reader.
    let old = unsafe { core::mem::replace(&mut *CURRENT.0.get(), Some(s)) };
    // Stops the old threads (process context: `switch`/`init`).
    drop(old);
}

fn random_key() -> [u8; 16] {
    let mut b = [0u8; 16];
    // SAFETY: `b` is valid for writes of 16 bytes.
    unsafe { kernel::bindings::get_random_bytes(b.as_mut_ptr().cast(), 16) };
    b
}

/// Installs the load-time strategy from the module parameters. Module init, before any
/// socket, handler or timer exists.
pub(crate) fn init() -> Result {
    let (name, groups, threads, stats_on) = crate::glue::kernel::shim::param_strategy();
    crate::glue::kernel::stats::ENABLED.store(stats_on, Relaxed);
    let online = crate::glue::kernel::shim::num_online_cpus().max(1);
    let threads = match threads {
        0 => online.min(crate::glue::kernel::shim::num_possible_cpus().max(1)),
        t => u32::try_from(t).unwrap_or(u32::MAX),
    };
    let groups = u32::try_from(groups).unwrap_or(0);
    DEFAULT_N[0].store(groups, Relaxed);
    DEFAULT_N[1].store(threads, Relaxed);
    let cfg = match parse(name, groups, threads) {
        Ok(c) => c,
        Err(e) => {
            pr_err!(
                "strategy={} groups={} threads={}: unknown strategy or knob out of range (threads 1..={}, groups 1..={})\n",
                kernel::str::BStr::from_bytes(name),
                groups,
                threads,
                crate::glue::kernel::shim::num_possible_cpus(),
                MAX_GROUPS
            );
            return Err(e);
        }
    };
    let s = Strategy::new(cfg, random_key())?;
    install(s);
    SWITCHING.store(false, kernel::sync::atomic::Release);
    Ok(())
}

/// Switches to `cfg` (the debugfs `strategy` file). EBUSY unless no socket and no
/// connection or listener exists (or while another switch runs); EINVAL for a bad knob.
pub(crate) fn switch(cfg: Config) -> Result {
    validate(cfg)?;
    if SWITCHING.cmpxchg(false, true, Full).is_err() {
        return Err(EBUSY);
    }
    let r = (|| {
        if LIVE.load(Relaxed) != 0 || crate::glue::kernel::stats::sockets_open() != 0 {
            return Err(EBUSY);
        }
        // SAFETY: `SWITCHING` is held and `LIVE == 0`: nobody reads `CURRENT`.
        let key = unsafe { (*CURRENT.0.get()).as_ref().map(|s| s.key) }.unwrap_or_else(random_key);
        let s = Strategy::new(cfg, key)?;
        let old = active();
        install(s);
        trace::strategy_switch(old.kind.code(), old.n, cfg.kind.code(), cfg.n);
        Ok(())
    })();
    SWITCHING.store(false, kernel::sync::atomic::Release);
    if r.is_ok() {
        pr_info!("strategy: {:?}\n", cfg);
    }
    r
}

/// Module exit, step 0 (right after debugfs is removed): blocks strategy switches and
/// new tokens for good. Nothing clears the latch afterwards: `switch` could only run
/// from the debugfs file, which is gone.
pub(crate) fn latch() {
    SWITCHING.store(true, kernel::sync::atomic::Release);
}

/// Module exit, step 1 (after the receive hooks and the socket family are gone):
/// blocks new tokens and stops the protocol threads, discarding their queued work, so
/// the connections can be torn down with no thread touching them.
pub(crate) fn quiesce() {
    SWITCHING.store(true, kernel::sync::atomic::Release);
    // SAFETY: Threads are only stopped here (shared access: `stop` is idempotent and
    // synchronized by the queue locks); `CURRENT` is not written until `exit`.
    if let Some(s) = unsafe { (*CURRENT.0.get()).as_ref() } {
        s.threads.stop();
    }
}

/// Module exit, step 2 (after every connection and listener is gone): frees the
/// strategy. If anything still holds a token, the strategy is leaked rather than freed.
pub(crate) fn exit() {
    if LIVE.load(Relaxed) != 0 {
        pr_err!("strategy: {} objects still live at unload; leaking\n", LIVE.load(Relaxed));
        return;
    }
    // SAFETY: `SWITCHING` is held (since `quiesce`) and `LIVE == 0`.
    let old = unsafe { (*CURRENT.0.get()).take() };
    drop(old);
}

crate::glue::kernel::stats::counter_enum! {
    /// A scheduling counter (the `sched` debugfs file).
    Sched {
        Handoffs => "handoffs",
        HandoffsSeg => "handoffs_segment",
        HandoffsCall => "handoffs_syscall",
        HandoffsTimer => "handoffs_timer",
        HandoffsOther => "handoffs_internal",
        Wakeups => "thread_wakeups",
        Sleeps => "thread_sleeps",
        Drains => "drains",
        Drain1 => "drain_1",
        Drain2 => "drain_2_3",
        Drain4 => "drain_4_7",
        Drain8 => "drain_8_15",
        Drain16 => "drain_16_plus",
        Items => "work_items",
        QueueMax => "queue_depth_max",
        Overflows => "queue_overflow_segments",
        TimerRetries => "queue_overflow_timers",
        CallRetries => "queue_full_syscall_waits",
        Remote => "work_on_other_cpu",
        Inline => "work_inline",
        AsyncSends => "async_sends",
        AsyncSendDrops => "async_send_drops",
    }
}

impl Sched {
    /// What a hand-off counted as `self` carries, for `partcp:partcp_handoff`.
    pub(crate) const fn handoff_kind(self) -> HandoffKind {
        match self {
            Sched::HandoffsSeg => HandoffKind::Segment,
            Sched::HandoffsCall => HandoffKind::Syscall,
            Sched::HandoffsTimer => HandoffKind::Timer,
            _ => HandoffKind::Other,
        }
    }
}

const SCHED_COUNT: usize = Sched::ALL.len();

kernel::static_assert!(SCHED_COUNT <= crate::glue::kernel::percpu::area::SCHED_LEN);

static SCHED: PerCpu<SCHED_COUNT> = PerCpu::at(crate::glue::kernel::percpu::area::SCHED);

/// Adds `v` to `c` on this CPU (when statistics are on).
#[inline]
pub(crate) fn sched_add(c: Sched, v: i64) {
    if crate::glue::kernel::stats::enabled() {
        SCHED.add(c as usize, v);
    }
}

/// Raises the per-CPU maximum `c` to `v`.
#[inline]
pub(crate) fn sched_max(c: Sched, v: i64) {
    if crate::glue::kernel::stats::enabled() {
        SCHED.max(c as usize, v);
    }
}

/// Scheduling counter `c` as counted on CPU `cpu` (the `percpu` debugfs file).
pub(crate) fn sched_on_cpu(c: Sched, cpu: usize) -> i64 {
    SCHED.get(cpu, c as usize)
}

/// Zeroes the scheduling counters and the per-thread times.
pub(crate) fn sched_reset() {
    SCHED.reset();
    connp_t::reset_thread_stats();
}

/// The `sched` debugfs file.
pub(crate) struct SchedView;

impl fmt::Debug for SchedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "strategy {:?}", active())?;
        writeln!(f, "stats {}", if crate::glue::kernel::stats::enabled() { "on" } else { "off" })?;
        for c in Sched::ALL {
            let v = match c {
                Sched::QueueMax => SCHED.max_all(*c as usize),
                _ => SCHED.sum(*c as usize),
            };
            writeln!(f, "{} {}", c.name(), v)?;
        }
        connp_t::write_thread_stats(f, active())
    }
}

/// KUnit: strategy names and knobs (`parse`, `trim`, `validate`), the knob defaults, and
/// the switch rules that can be checked without changing the loaded strategy. They run
/// at module load, right after `init`, when no socket can exist yet.
#[kunit_tests(partcp_strategy)]
mod tests {
    use super::*;
    use kernel::str::CString;

    /// `{:?}` of a configuration, as the `strategy` debugfs file shows it.
    fn shown(cfg: Config) -> Result<CString> {
        CString::try_from_fmt(fmt!("{:?}", cfg))
    }

    // Knob-less ConnP-T requests below default to 1 thread: valid on any machine (the
    // upper bound is the possible CPUs, checked on its own).
    #[test]
    fn parse_names() {
        assert!(parse(b"msgp", 128, 1) == Ok(Config { kind: Kind::MsgP, n: 0 }));
        assert!(parse(b"0", 128, 1) == Ok(Config { kind: Kind::MsgP, n: 0 }));
        assert!(parse(b"connp-t", 128, 1) == Ok(Config { kind: Kind::ConnPT, n: 1 }));
        assert!(parse(b"connp_t", 128, 1) == Ok(Config { kind: Kind::ConnPT, n: 1 }));
        assert!(parse(b"1", 128, 1) == Ok(Config { kind: Kind::ConnPT, n: 1 }));
        assert!(parse(b"connp-l", 128, 1) == Ok(Config { kind: Kind::ConnPL, n: 128 }));
        assert!(parse(b"connp_l", 128, 1) == Ok(Config { kind: Kind::ConnPL, n: 128 }));
        assert!(parse(b"2", 128, 1) == Ok(Config { kind: Kind::ConnPL, n: 128 }));
    }

    #[test]
    fn parse_knobs() {
        assert!(parse(b"connp-l 64", 128, 1) == Ok(Config { kind: Kind::ConnPL, n: 64 }));
        assert!(parse(b"connp-l=64", 128, 1) == Ok(Config { kind: Kind::ConnPL, n: 64 }));
        assert!(parse(b"2   7", 128, 1) == Ok(Config { kind: Kind::ConnPL, n: 7 }));
        assert!(parse(b"connp-l 65536", 128, 1) == Ok(Config { kind: Kind::ConnPL, n: MAX_GROUPS }));
        assert!(parse(b"connp-t 1", 128, 1) == Ok(Config { kind: Kind::ConnPT, n: 1 }));
        // As written to the debugfs file by `echo`: a newline, and NULs from some writers.
        assert!(parse(b"  connp-l 8\n\0\0", 128, 1) == Ok(Config { kind: Kind::ConnPL, n: 8 }));
        assert!(parse(b"\tmsgp\n", 128, 1) == Ok(Config { kind: Kind::MsgP, n: 0 }));
    }

    #[test]
    fn parse_rejects() {
        const BAD: &[&[u8]] = &[
            b"",
            b"\n",
            b"tcp",
            b"MSGP",
            b"connp",
            b"connp-x 2",
            b"3",
            b"msgp 1",
            b"msgp=0",
            b"connp-l 0",
            b"connp-l 65537",
            b"connp-l -1",
            b"connp-l +1",
            b"connp-l 1x",
            b"connp-l 1 2",
            b"connp-l 0x10",
            b"connp-l 4294967296",
            b"connp-l 99999999999",
            b"connp-t 0",
        ];
        for bad in BAD {
            assert!(parse(bad, 128, 1) == Err(EINVAL));
        }
        // A knob-less request takes the default, which is range-checked too.
        assert!(parse(b"connp-l", 0, 2) == Err(EINVAL));
        assert!(parse(b"connp-l", MAX_GROUPS + 1, 2) == Err(EINVAL));
        assert!(parse(b"connp-t", 128, 0) == Err(EINVAL));
    }

    #[test]
    fn parse_threads_bounded_by_possible_cpus() {
        let cpus = crate::glue::kernel::shim::num_possible_cpus();
        assert!(cpus >= 1);
        assert!(parse(b"connp-t", 128, cpus) == Ok(Config { kind: Kind::ConnPT, n: cpus }));
        assert!(parse(b"connp-t", 128, cpus + 1) == Err(EINVAL));
    }

    #[test]
    fn trim_edges() {
        assert!(trim(b"") == b"");
        assert!(trim(b" \t\n\0 ") == b"");
        assert!(trim(b"x") == b"x");
        assert!(trim(b"\0 connp-l 8 \n\0") == b"connp-l 8");
        assert!(trim(b"a  b") == b"a  b");
    }

    #[test]
    fn validate_ranges() {
        let cpus = crate::glue::kernel::shim::num_possible_cpus();
        let ok = |kind, n| validate(Config { kind, n }).is_ok();
        assert!(ok(Kind::MsgP, 0));
        assert!(ok(Kind::MsgP, 5));
        assert!(!ok(Kind::ConnPT, 0));
        assert!(ok(Kind::ConnPT, 1));
        assert!(ok(Kind::ConnPT, cpus));
        assert!(!ok(Kind::ConnPT, cpus + 1));
        assert!(!ok(Kind::ConnPL, 0));
        assert!(ok(Kind::ConnPL, 1));
        assert!(ok(Kind::ConnPL, MAX_GROUPS));
        assert!(!ok(Kind::ConnPL, MAX_GROUPS + 1));
        assert!(!ok(Kind::ConnPL, u32::MAX));
    }

    #[test]
    fn kind_codes_and_names() {
        for k in [Kind::MsgP, Kind::ConnPT, Kind::ConnPL] {
            assert!(Kind::from_code(k.code()) == k);
            assert!(parse(k.name().as_bytes(), 128, 1).map(|c| c.kind) == Ok(k));
        }
        // An unknown code reads as MsgP (never a strategy whose resources do not exist).
        assert!(Kind::from_code(7) == Kind::MsgP);
    }

    #[test]
    fn config_shown_as_in_debugfs() -> Result {
        assert!(shown(Config { kind: Kind::MsgP, n: 0 })?.to_bytes() == b"msgp");
        assert!(shown(Config { kind: Kind::ConnPT, n: 2 })?.to_bytes() == b"connp-t 2");
        assert!(shown(Config { kind: Kind::ConnPL, n: 128 })?.to_bytes() == b"connp-l 128");
        // What the file shows parses back to the same configuration.
        let cfg = Config { kind: Kind::ConnPL, n: 3 };
        assert!(parse(shown(cfg)?.to_bytes(), 128, 1) == Ok(cfg));
        Ok(())
    }

    #[test]
    fn knob_defaults() {
        assert!(DEFAULT_GROUPS == 128);
        assert!(validate(Config { kind: Kind::ConnPL, n: DEFAULT_GROUPS }).is_ok());
        // The defaults of knob-less requests are the load parameters; `threads=0` means
        // one thread per online CPU (at most the possible CPUs).
        let (_, groups, threads, _) = crate::glue::kernel::shim::param_strategy();
        let (dg, dt) = defaults();
        assert!(i64::from(dg) == i64::from(groups));
        let want_threads = if threads == 0 {
            i64::from(
                crate::glue::kernel::shim::num_online_cpus()
                    .max(1)
                    .min(crate::glue::kernel::shim::num_possible_cpus().max(1)),
            )
        } else {
            i64::from(threads)
        };
        assert!(i64::from(dt) == want_threads);
        // The loaded strategy is a valid configuration.
        assert!(validate(active()).is_ok());
    }

    #[test]
    fn switch_rules() {
        let before = active();
        // A bad knob is refused before anything else.
        assert!(switch(Config { kind: Kind::ConnPL, n: 0 }) == Err(EINVAL));
        assert!(switch(Config { kind: Kind::ConnPT, n: u32::MAX }) == Err(EINVAL));
        assert!(active() == before);
        // While anything holds a share of the strategy (a connection or listener owns
        // one), a switch is refused and the strategy stays as it was.
        let Ok(token) = LiveToken::acquire() else {
            // Without a token the switches below could really happen: stop here.
            assert!(false);
            return;
        };
        assert!(token.strategy().map(|s| s.cfg) == Some(before));
        assert!(switch(Config { kind: Kind::ConnPL, n: 4 }) == Err(EBUSY));
        assert!(switch(before) == Err(EBUSY));
        assert!(active() == before);
        drop(token);
        // The refused switches released the switch latch: tokens can be taken again.
        assert!(LiveToken::acquire().is_ok());
    }
}
