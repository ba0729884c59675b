//! A listening endpoint: passive open (RFC 9293 3.10.7.2, LISTEN), a bounded SYN queue
//! of half-open connections with SYN-ACK retransmission, SYN cookies when the queue is
//! full (RFC 4987 3.6, [`crate::syncookie`]), and accept-queue accounting.
//!
//! The listener holds no connection and no buffer. For the final ACK of a handshake it
//! returns a [`Handshake`]; the glue builds the connection with
//! [`crate::connection::Connection::accept`] (owning its buffers), passes the same ACK
//! to the new connection's `on_segment` (it may carry data), puts it on its accept
//! queue, and calls [`Listener::accepted`] when the application takes it. The listener
//! counts handed-out connections against its backlog, as Linux's accept queue does.

use crate::connection::{reset_for, window_shift_for, Config, Endpoint, Handshake, DEFAULT_MSS};
use crate::isn::{self, IsnSecret};
use crate::seq::SeqNum;
use crate::stats::Stats;
use crate::syncookie::{self, CookieOptions, CookieSecret};
use crate::time::{Duration, Instant};
use crate::wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

/// When to answer SYNs with cookies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynCookies {
    /// Never: drop SYNs when the SYN queue is full.
    Never,
    /// Only when the SYN queue is full (Linux `tcp_syncookies = 1`).
    WhenFull,
    /// For every SYN (Linux `tcp_syncookies = 2`; mainly for testing).
    Always,
}

/// Listener settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Settings of accepted connections; the options offered come from here.
    pub conn: Config,
    /// Receive buffer size accepted connections will have: sets the SYN-ACK window and
    /// the window scale we offer.
    pub recv_buffer: usize,
    /// Accept queue limit (`listen(fd, backlog)`): connections handed out and not yet
    /// accepted by the application beyond which the queue is full (it holds
    /// `backlog + 1`, as Linux's).
    pub backlog: usize,
    /// Half-open connections kept, at most the listener's `N`.
    pub syn_backlog: usize,
    /// SYN-ACK retransmissions before a half-open entry is dropped (Linux
    /// `tcp_synack_retries` = 5).
    pub synack_retries: u32,
    /// Initial SYN-ACK retransmission timeout (RFC 6298 2.1: 1 s), doubled each time.
    pub synack_rto: Duration,
    /// SYN cookie policy.
    pub syncookies: SynCookies,
    /// `TCP_DEFER_ACCEPT` as Linux keeps it, in SYN-ACK timeouts
    /// (`rskq_defer_accept`): while fewer have passed, a handshake-completing ACK
    /// without data is dropped and the entry waits for data; 0 (the default): off.
    pub defer_accept: u32,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            conn: Config::default(),
            recv_buffer: 131_072,
            backlog: 128,
            syn_backlog: usize::MAX,
            synack_retries: 5,
            synack_rto: Duration::from_secs(1),
            syncookies: SynCookies::WhenFull,
            defer_accept: 0,
        }
    }
}

/// What the glue does with a segment the listener processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum ListenerAction {
    /// Nothing to send.
    None,
    /// Nothing to send, and the segment was this listener's (a handshake-completing ACK
    /// held back by `TCP_DEFER_ACCEPT` or dropped because the accept queue is full, or
    /// an out-of-window segment for a queued entry): the glue must not hand it to
    /// another stack, which would answer it with a reset.
    Consumed,
    /// Send this segment to the segment's source (SYN-ACK or RST).
    Reply(TcpRepr),
    /// A handshake completed: build the connection with
    /// [`crate::connection::Connection::accept`], then give it the same segment.
    Established(Handshake),
}

/// A segment the listener wants sent (SYN-ACK retransmission).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerTransmit {
    /// Destination.
    pub remote: Endpoint,
    /// The segment.
    pub repr: TcpRepr,
}

/// One half-open connection (SYN-RECEIVED) in the SYN queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SynEntry {
    remote: Endpoint,
    iss: SeqNum,
    irs: SeqNum,
    peer_mss: u16,
    /// Peer's window shift if it offered window scaling (and we do).
    peer_wscale: Option<u8>,
    sack: bool,
    /// TS.Recent if timestamps were negotiated.
    ts_recent: Option<u32>,
    first_sent: Instant,
    next_retransmit: Instant,
    retransmits: u32,
    /// `TCP_DEFER_ACCEPT`: the peer's ACK came without data and was dropped (Linux
    /// `inet_rsk(req)->acked`).
    acked: bool,
}

/// A listening socket's protocol state with room for `N` half-open connections.
#[derive(Clone, Debug)]
pub struct Listener<const N: usize = 128> {
    cfg: ListenerConfig,
    local: Endpoint,
    isn_secret: IsnSecret,
    cookie_secret: CookieSecret,
    entries: [Option<SynEntry>; N],
    accept_pending: usize,
    stats: Stats,
}

impl<const N: usize> Listener<N> {
    /// A listener on `local`. `isn_secret` keys ISNs and timestamp offsets (RFC 6528),
    /// `cookie_secret` the SYN cookies.
    #[must_use]
    pub fn new(
        cfg: ListenerConfig,
        local: Endpoint,
        isn_secret: IsnSecret,
        cookie_secret: CookieSecret,
    ) -> Self {
        Listener {
            cfg,
            local,
            isn_secret,
            cookie_secret,
            entries: [None; N],
            accept_pending: 0,
            stats: Stats::default(),
        }
    }

    /// The local endpoint.
    pub fn local(&self) -> Endpoint {
        self.local
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &ListenerConfig {
        &self.cfg
    }

    /// `TCP_CONGESTION` on the listening socket: the algorithm its connections get
    /// (Linux `tcp_ca_openreq_child` keeps a listener's `icsk_ca_setsockopt` choice).
    pub fn set_congestion(&mut self, alg: crate::congestion::CongestionAlgorithm) {
        self.cfg.conn.congestion = alg;
    }

    /// `TCP_WINDOW_CLAMP` on the listening socket: its SYN-ACKs and connections offer
    /// at most `clamp`.
    pub fn set_window_clamp(&mut self, clamp: Option<usize>) {
        self.cfg.conn.window_clamp = clamp;
    }

    /// `TCP_DEFER_ACCEPT` on the listening socket, in SYN-ACK timeouts.
    pub fn set_defer_accept(&mut self, timeouts: u32) {
        self.cfg.defer_accept = timeouts;
    }

    /// `TCP_SYNCNT` on the listening socket: SYN-ACK retransmissions of its half-open
    /// entries, present and future, instead of `tcp_synack_retries` (Linux
    /// `reqsk_timer_handler`: `icsk_syn_retries ? : sysctl_tcp_synack_retries`).
    pub fn set_synack_retries(&mut self, retries: u32) {
        self.cfg.synack_retries = retries;
    }

    /// Change the accept queue limit (`listen()` called again).
    pub fn set_backlog(&mut self, backlog: usize) {
        self.cfg.backlog = backlog;
    }

    /// Change the SYN queue limit (`syn_backlog`; see [`crate::sysctl::TcpSysctls::syn_backlog`]).
    pub fn set_syn_backlog(&mut self, syn_backlog: usize) {
        self.cfg.syn_backlog = syn_backlog;
    }

    /// Half-open connections held.
    pub fn syn_queue_len(&self) -> usize {
        self.entries.iter().filter(|e| e.is_some()).count()
    }

    /// Connections handed out and not yet accepted.
    pub fn accept_queue_len(&self) -> usize {
        self.accept_pending
    }

    /// The application accepted (or the glue dropped) one handed-out connection.
    pub fn accepted(&mut self) {
        self.accept_pending = self.accept_pending.saturating_sub(1);
    }

    fn syn_capacity(&self) -> usize {
        self.cfg.syn_backlog.min(N)
    }

    fn find(&self, remote: Endpoint) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.is_some_and(|e| e.remote == remote))
    }

    fn ts_offset(&self, remote: Endpoint) -> u32 {
        isn::timestamp_offset(&self.isn_secret, self.local.tuple(), remote.tuple())
    }

    /// The window shift we offer: for the largest window accepted connections may come
    /// to offer (`conn.window_space`, Linux `tcp_select_initial_window`), at least their
    /// receive buffer.
    fn our_wscale(&self) -> u8 {
        let space = self
            .cfg
            .recv_buffer
            .max(self.cfg.conn.window_space.unwrap_or(0));
        window_shift_for(space.min(self.clamp()))
    }

    /// `TCP_WINDOW_CLAMP` of the listening socket (no clamp: `usize::MAX`).
    fn clamp(&self) -> usize {
        self.cfg.conn.window_clamp.unwrap_or(usize::MAX)
    }

    /// The window field of a SYN-ACK (never scaled, RFC 7323 2.2).
    fn synack_window(&self) -> u16 {
        let wnd = self.cfg.recv_buffer.min(self.clamp());
        u16::try_from(wnd.min(usize::from(u16::MAX))).unwrap_or(u16::MAX)
    }

    /// Process a segment addressed to the listening endpoint from `remote`.
    ///
    /// RFC 9293 3.10.7.2: "first check for an RST" (ignored, or drops the matching
    /// half-open entry), "second check for an ACK" (completes a handshake, else RST),
    /// "third check for a SYN" (SYN-ACK from the queue or a cookie), "fourth other
    /// control or text" (dropped).
    pub fn on_segment(&mut self, now: Instant, remote: Endpoint, seg: &TcpRepr) -> ListenerAction {
        self.stats.segments_in = self.stats.segments_in.saturating_add(1);
        let f = seg.flags;
        if f.contains(TcpFlags::RST) {
            self.stats.rsts_in = self.stats.rsts_in.saturating_add(1);
            // RFC 5961 section 3: only an exact sequence match resets a half-open entry.
            if let Some(i) = self.find(remote) {
                if self.entries[i].is_some_and(|e| seg.seq == e.irs + 1) {
                    self.entries[i] = None;
                }
            }
            return ListenerAction::None;
        }
        if f.contains(TcpFlags::ACK) {
            if f.contains(TcpFlags::SYN) {
                return self.reply_rst(seg);
            }
            return self.on_ack(now, remote, seg);
        }
        if f.contains(TcpFlags::SYN) {
            if f.contains(TcpFlags::FIN) {
                // SYN+FIN is never legitimate (Linux drops it too).
                return ListenerAction::None;
            }
            return self.on_syn(now, remote, seg);
        }
        ListenerAction::None
    }

    fn reply_rst(&mut self, seg: &TcpRepr) -> ListenerAction {
        match reset_for(seg) {
            Some(rst) => {
                self.stats.rsts_out = self.stats.rsts_out.saturating_add(1);
                self.stats.segments_out = self.stats.segments_out.saturating_add(1);
                ListenerAction::Reply(rst)
            }
            None => ListenerAction::None,
        }
    }

    /// RFC 9293 3.10.7.2 "third check for a SYN".
    fn on_syn(&mut self, now: Instant, remote: Endpoint, seg: &TcpRepr) -> ListenerAction {
        self.stats.syns_in = self.stats.syns_in.saturating_add(1);
        if let Some(i) = self.find(remote) {
            if let Some(e) = self.entries[i] {
                if e.irs == seg.seq {
                    // A retransmitted SYN: answer with the same SYN-ACK.
                    let repr = self.synack(now, &e, None);
                    self.stats.segments_out = self.stats.segments_out.saturating_add(1);
                    return ListenerAction::Reply(repr);
                }
            }
            // A new incarnation: forget the old half-open entry.
            self.entries[i] = None;
        }
        if self.accept_queue_full() {
            // Linux drops SYNs while the accept queue is full.
            self.stats.listen_drops = self.stats.listen_drops.saturating_add(1);
            return ListenerAction::None;
        }
        let c = &self.cfg.conn;
        let peer_mss = seg.options.mss.unwrap_or(DEFAULT_MSS);
        let peer_wscale = seg
            .options
            .window_scale
            .filter(|_| c.window_scale)
            .map(|s| s.min(crate::connection::MAX_WINDOW_SCALE));
        let sack = c.sack && seg.options.sack_permitted;
        let ts_recent = seg
            .options
            .timestamps
            .filter(|_| c.timestamps)
            .map(|t| t.tsval);
        let used = self.syn_queue_len();
        let cookie = match self.cfg.syncookies {
            SynCookies::Never => false,
            SynCookies::WhenFull => used >= self.syn_capacity(),
            SynCookies::Always => true,
        };
        if cookie {
            return self.cookie_synack(now, remote, seg, peer_mss, peer_wscale, sack, ts_recent);
        }
        let Some(slot) = self
            .entries
            .iter()
            .position(|e| e.is_none())
            .filter(|_| used < self.syn_capacity())
        else {
            self.stats.listen_drops = self.stats.listen_drops.saturating_add(1);
            return ListenerAction::None;
        };
        let entry = SynEntry {
            remote,
            iss: isn::initial_seq(&self.isn_secret, self.local.tuple(), remote.tuple(), now),
            irs: seg.seq,
            peer_mss,
            peer_wscale,
            sack,
            ts_recent,
            first_sent: now,
            next_retransmit: now + self.cfg.synack_rto,
            retransmits: 0,
            acked: false,
        };
        self.entries[slot] = Some(entry);
        let repr = self.synack(now, &entry, None);
        self.stats.segments_out = self.stats.segments_out.saturating_add(1);
        ListenerAction::Reply(repr)
    }

    /// A SYN cookie SYN-ACK (RFC 4987 3.6): no state kept. Window scale and SACK survive
    /// only in the TSval low bits, so without timestamps they are not offered.
    #[allow(clippy::too_many_arguments)]
    fn cookie_synack(
        &mut self,
        now: Instant,
        remote: Endpoint,
        seg: &TcpRepr,
        peer_mss: u16,
        peer_wscale: Option<u8>,
        sack: bool,
        ts_recent: Option<u32>,
    ) -> ListenerAction {
        let iss = syncookie::encode(
            &self.cookie_secret,
            self.local.tuple(),
            remote.tuple(),
            seg.seq,
            peer_mss,
            now,
        );
        let with_ts = ts_recent.is_some();
        let entry = SynEntry {
            remote,
            iss,
            irs: seg.seq,
            peer_mss: syncookie::cookie_mss(peer_mss),
            peer_wscale: peer_wscale.filter(|_| with_ts),
            sack: sack && with_ts,
            ts_recent,
            first_sent: now,
            next_retransmit: now,
            retransmits: 0,
            acked: false,
        };
        let opts = CookieOptions {
            wscale: entry.peer_wscale,
            sack_permitted: entry.sack,
        };
        let repr = self.synack(now, &entry, Some(opts));
        self.stats.syncookies_sent = self.stats.syncookies_sent.saturating_add(1);
        self.stats.segments_out = self.stats.segments_out.saturating_add(1);
        ListenerAction::Reply(repr)
    }

    /// The SYN-ACK for `e` (RFC 9293 3.10.7.2: `<SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>`),
    /// echoing only the options the peer offered. `cookie` stores options in the TSval.
    fn synack(&self, now: Instant, e: &SynEntry, cookie: Option<CookieOptions>) -> TcpRepr {
        let mut options = TcpOptions {
            mss: Some(self.cfg.conn.mss),
            sack_permitted: e.sack,
            ..TcpOptions::default()
        };
        if e.peer_wscale.is_some() {
            options.window_scale = Some(self.our_wscale());
        }
        if let Some(recent) = e.ts_recent {
            // Truncation is the TSval clock wrapping.
            let mut tsval = (now.millis() as u32).wrapping_add(self.ts_offset(e.remote));
            if let Some(opts) = cookie {
                tsval = syncookie::encode_timestamp(tsval, opts);
            }
            options.timestamps = Some(Timestamps {
                tsval,
                tsecr: recent,
            });
        }
        TcpRepr {
            src_port: self.local.port,
            dst_port: e.remote.port,
            seq: e.iss,
            ack: e.irs + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: self.synack_window(),
            urgent: 0,
            options,
            payload_len: 0,
        }
    }

    /// RFC 9293 3.10.7.2 "second check for an ACK" with the SYN-RECEIVED rules of
    /// 3.10.7.4 for queued entries, or a cookie check.
    fn on_ack(&mut self, now: Instant, remote: Endpoint, seg: &TcpRepr) -> ListenerAction {
        if let Some(i) = self.find(remote) {
            if let Some(e) = self.entries[i] {
                if seg.ack != e.iss + 1 {
                    // "If the segment acknowledgment is not acceptable, form a reset
                    // segment <SEQ=SEG.ACK><CTL=RST> and send it."
                    return self.reply_rst(seg);
                }
                if seg.seq != e.irs + 1 {
                    return ListenerAction::Consumed;
                }
                let bare = seg.payload_len == 0 && !seg.flags.contains(TcpFlags::FIN);
                if bare && e.retransmits < self.cfg.defer_accept {
                    // TCP_DEFER_ACCEPT (Linux tcp_check_req: "While TCP_DEFER_ACCEPT is
                    // active, drop bare ACK."): wait for data.
                    self.entries[i] = Some(SynEntry { acked: true, ..e });
                    return ListenerAction::Consumed;
                }
                if self.accept_queue_full() {
                    // Linux: drop the ACK, keep the entry; the SYN-ACK retransmission
                    // gives the application time to accept.
                    self.stats.listen_overflows = self.stats.listen_overflows.saturating_add(1);
                    return ListenerAction::Consumed;
                }
                self.entries[i] = None;
                let synack_sent = (e.retransmits == 0).then_some(e.first_sent);
                let hs = self.handshake(&e, seg, synack_sent, e.retransmits > 0);
                return self.hand_out(hs);
            }
        }
        if self.cfg.syncookies != SynCookies::Never {
            let irs = seg.seq - 1;
            let cookie = seg.ack - 1;
            if let Some(mss) = syncookie::decode(
                &self.cookie_secret,
                self.local.tuple(),
                remote.tuple(),
                irs,
                cookie,
                now,
            ) {
                if self.accept_queue_full() {
                    // As above; the cookie stays valid for the peer's next ACK.
                    self.stats.listen_overflows = self.stats.listen_overflows.saturating_add(1);
                    return ListenerAction::Consumed;
                }
                self.stats.syncookies_ok = self.stats.syncookies_ok.saturating_add(1);
                let c = &self.cfg.conn;
                let ts = seg.options.timestamps.filter(|_| c.timestamps);
                let opts = ts
                    .map(|t| syncookie::decode_timestamp(t.tsecr))
                    .unwrap_or_default();
                let e = SynEntry {
                    remote,
                    iss: cookie,
                    irs,
                    peer_mss: mss,
                    peer_wscale: opts.wscale.filter(|_| c.window_scale),
                    sack: opts.sack_permitted && c.sack,
                    ts_recent: ts.map(|t| t.tsval),
                    first_sent: now,
                    next_retransmit: now,
                    retransmits: 0,
                    acked: false,
                };
                let hs = self.handshake(&e, seg, None, false);
                return self.hand_out(hs);
            }
            self.stats.syncookies_failed = self.stats.syncookies_failed.saturating_add(1);
        }
        self.reply_rst(seg)
    }

    /// The accept queue is full: it holds more than the backlog, as Linux's
    /// `sk_acceptq_is_full` (`sk_ack_backlog > sk_max_ack_backlog`), so `listen(fd, 1)`
    /// admits two connections before SYNs and final ACKs are dropped.
    fn accept_queue_full(&self) -> bool {
        self.accept_pending > self.cfg.backlog
    }

    fn hand_out(&mut self, hs: Handshake) -> ListenerAction {
        self.accept_pending = self.accept_pending.saturating_add(1);
        self.stats.accepted = self.stats.accepted.saturating_add(1);
        ListenerAction::Established(hs)
    }

    fn handshake(
        &self,
        e: &SynEntry,
        seg: &TcpRepr,
        synack_sent: Option<Instant>,
        rexmit: bool,
    ) -> Handshake {
        let ts_recent = seg.options.timestamps.map(|t| t.tsval).or(e.ts_recent);
        Handshake {
            local: self.local,
            remote: e.remote,
            iss: e.iss,
            irs: e.irs,
            peer_mss: e.peer_mss,
            window_scale: e.peer_wscale.map(|s| (s, self.our_wscale())),
            sack: e.sack,
            timestamps: e
                .ts_recent
                .and(ts_recent)
                .map(|r| (r, self.ts_offset(e.remote))),
            rcv_window: self.synack_window(),
            synack_sent,
            synack_retransmitted: rexmit,
        }
    }

    /// Expire half-open entries whose SYN-ACK retransmissions ran out (Linux
    /// `syn_ack_recalc`: under `TCP_DEFER_ACCEPT` an entry whose ACK was dropped also
    /// lasts until the deferral period is over).
    pub fn on_timer(&mut self, now: Instant) {
        let (max, defer) = (self.cfg.synack_retries, self.cfg.defer_accept);
        for slot in self.entries.iter_mut() {
            let expired = |e: &SynEntry| {
                e.next_retransmit <= now
                    && e.retransmits >= max
                    && (defer == 0 || !e.acked || e.retransmits >= defer)
            };
            if slot.is_some_and(|e| expired(&e)) {
                *slot = None;
            }
        }
    }

    /// The next SYN-ACK retransmission due by `now` (RFC 6298 5.4/5.5 applied to the
    /// SYN-ACK: doubled timeout each time). Call until `None`. Under `TCP_DEFER_ACCEPT`
    /// an entry whose ACK was dropped times out without a SYN-ACK until the last
    /// timeout of the deferral period, whose SYN-ACK gives the peer a last chance
    /// (Linux `syn_ack_recalc`: `resend = !acked || num_timeout >= defer - 1`).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ListenerTransmit> {
        self.on_timer(now);
        let defer = self.cfg.defer_accept;
        // Each pass moves one due entry's deadline past `now` (or sends): at most one
        // pass per entry and timeout, bounded for a zero RTO too.
        let mut sent = None;
        for _ in 0..N.saturating_mul(2).saturating_add(1) {
            let i = self
                .entries
                .iter()
                .position(|e| e.is_some_and(|e| e.next_retransmit <= now))?;
            let mut e = self.entries[i]?;
            let resend = defer == 0 || !e.acked || e.retransmits.saturating_add(1) >= defer;
            e.retransmits = e.retransmits.saturating_add(1);
            let factor = 1u64.checked_shl(e.retransmits.min(32)).unwrap_or(u64::MAX);
            e.next_retransmit = now + Duration(self.cfg.synack_rto.0.saturating_mul(factor));
            self.entries[i] = Some(e);
            if resend {
                sent = Some(e);
                break;
            }
        }
        let e = sent?;
        self.stats.rto_retransmits = self.stats.rto_retransmits.saturating_add(1);
        self.stats.segments_out = self.stats.segments_out.saturating_add(1);
        Some(ListenerTransmit {
            remote: e.remote,
            repr: self.synack(now, &e, None),
        })
    }

    /// When the next SYN-ACK retransmission or expiry is due.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .iter()
            .flatten()
            .map(|e| e.next_retransmit)
            .min()
    }
}
