//! The hostile peer's view of the wire: an AF_PACKET (SOCK_RAW) socket on `vb` in
//! `ptcp_b` that sends hand-built IPv4 packets to `va` and reads partcp's replies.
//!
//! The peer's addresses belong to no host: [`H`] (198.18.0.3) has a permanent
//! neighbour entry in `ptcp_a` pointing at `vb`'s MAC, and 198.19.0.0/16 is routed via
//! it. partcp's replies therefore reach `vb`, where the packet socket sees them, and
//! `ptcp_b`'s IP layer drops them (not a local address, forwarding off): Linux's TCP in
//! `ptcp_b` never answers them with RSTs, and no tc or netfilter rule is needed.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::craft::{flag_names, Reply, Seg, ACK, SYN};
use crate::net::setup::run;
use crate::net::{in_ns, setup, Ns, A};
use crate::sys::{self, errname, Fd};
use crate::{ensure, TestResult};

/// The hostile peer's address (on `vb`'s link, owned by no host).
pub const H: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);

/// A fresh source port of the hostile peer.
pub fn next_hport() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(40000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The MAC address of `dev` in `ns`, from `ip -o link show`.
fn mac(ns: Ns, dev: &str) -> Result<[u8; 6], String> {
    let out = run(&format!("ip -n {} -o link show {dev}", ns.name()))?;
    let hex = out.split_whitespace().skip_while(|w| *w != "link/ether").nth(1).ok_or("no link/ether")?;
    let mut m = [0u8; 6];
    for (i, part) in hex.split(':').enumerate().take(6) {
        m[i] = u8::from_str_radix(part, 16).map_err(|_| format!("bad MAC {hex}"))?;
    }
    Ok(m)
}

/// Sets up the routes and neighbour entries the hostile peer needs (once).
pub fn ensure() -> TestResult {
    static DONE: OnceLock<TestResult> = OnceLock::new();
    DONE.get_or_init(|| {
        setup::ensure()?;
        let vb = mac(Ns::B, "vb")?;
        let m: Vec<String> = vb.iter().map(|b| format!("{b:02x}")).collect();
        run(&format!("ip -n ptcp_a neigh replace {H} lladdr {} dev va nud permanent", m.join(":")))?;
        run(&format!("ip -n ptcp_a route replace 198.19.0.0/16 via {H} dev va"))?;
        run("ip netns exec ptcp_b sysctl -qw net.ipv4.ip_forward=0")?;
        Ok(())
    })
    .clone()
}

/// Size of `struct virtio_net_hdr`.
const VNET_HDR: usize = 10;
/// Size of an Ethernet header.
const ETH_HDR: usize = 14;

/// The packet socket.
pub struct Link {
    fd: Fd,
    to: libc::sockaddr_ll,
    /// The Ethernet header of every frame sent: `vb` to `va`, IPv4.
    eth: [u8; ETH_HDR],
}

impl Link {
    /// Opens the socket on `vb`, addressed to `va`'s MAC.
    pub fn open() -> Result<Link, String> {
        ensure()?;
        let va = mac(Ns::A, "va")?;
        let vb = mac(Ns::B, "vb")?;
        let mut eth = [0u8; ETH_HDR];
        eth[..6].copy_from_slice(&va);
        eth[6..12].copy_from_slice(&vb);
        eth[12..].copy_from_slice(&(libc::ETH_P_IP as u16).to_be_bytes());
        in_ns(Ns::B, || {
            let proto = (libc::ETH_P_IP as u16).to_be();
            let fd = sys::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(proto))
                .map_err(|e| format!("socket(AF_PACKET): {}", errname(e)))?;
            // SAFETY: a NUL-terminated interface name.
            let ifindex = unsafe { libc::if_nametoindex(c"vb".as_ptr()) } as i32;
            ensure!(ifindex > 0, "no vb in ptcp_b");
            // SAFETY: an all-zero sockaddr_ll is valid.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = proto;
            sll.sll_ifindex = ifindex;
            let len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: `sll` is valid for reads of `len` bytes.
            let r = unsafe { libc::bind(fd.as_raw_fd(), (&sll as *const libc::sockaddr_ll).cast(), len) };
            ensure!(r == 0, "bind(AF_PACKET, vb): {}", errname(sys::errno()));
            sys::setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20)
                .map_err(|e| format!("SO_RCVBUF: {}", errname(e)))?;
            // A virtio_net_hdr before every packet: received GSO super-segments (veth
            // passes partcp's unsegmented) report their segment size.
            sys::setsockopt_int(&fd, libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)
                .map_err(|e| format!("PACKET_VNET_HDR: {}", errname(e)))?;
            sll.sll_halen = 6;
            sll.sll_addr[..6].copy_from_slice(&va);
            Ok(Link { fd, to: sll, eth })
        })
    }

    /// Sends one IPv4 packet.
    pub fn send(&self, packet: &[u8]) -> TestResult {
        let mut frame = vec![0u8; VNET_HDR];
        frame.extend_from_slice(&self.eth);
        frame.extend_from_slice(packet);
        let packet = &frame[..];
        let len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        // SAFETY: `packet` is valid for reads of its length, `self.to` of `len` bytes.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&self.to as *const libc::sockaddr_ll).cast(),
                len,
            )
        };
        ensure!(
            r == packet.len() as isize,
            "sendto(AF_PACKET, {} bytes): {}",
            packet.len() - VNET_HDR,
            errname(sys::errno())
        );
        Ok(())
    }

    /// The next TCP packet from partcp (source [`A`]) that `want` accepts, waiting at
    /// most `limit`; other packets are skipped. Panics if the socket cannot be polled
    /// (so that no test mistakes that for silence).
    pub fn recv(&self, limit: Duration, want: impl Fn(&Reply) -> bool) -> Option<Reply> {
        let end = Instant::now() + limit;
        let mut buf = vec![0u8; 70000];
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            match crate::net::raw::poll1(&self.fd, libc::POLLIN, ms) {
                Ok(ev) if ev & libc::POLLIN != 0 => {}
                Ok(_) => return None,
                Err(libc::EINTR) => continue,
                // Not silence: the test cannot see the link (reported by the runner).
                Err(e) => panic!("poll on the packet socket: {}", errname(e)),
            }
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if n > (VNET_HDR + ETH_HDR) as isize {
                // virtio_net_hdr: flags, gso_type, hdr_len, gso_size (little-endian).
                let gso = if buf[1] != 0 { usize::from(u16::from_le_bytes([buf[4], buf[5]])) } else { 0 };
                if let Some(mut r) = Reply::parse(&buf[VNET_HDR + ETH_HDR..n as usize]) {
                    r.gso_size = gso;
                    if r.src == A && want(&r) {
                        return Some(r);
                    }
                }
            }
        }
    }
}

/// A TCP connection between the hostile peer (its side driven by hand) and a partcp
/// listener.
pub struct RawConn<'a> {
    pub link: &'a Link,
    /// The hostile end.
    pub me: (Ipv4Addr, u16),
    /// partcp's end.
    pub them: (Ipv4Addr, u16),
    /// The hostile end's next sequence number.
    pub snd_nxt: u32,
    /// partcp's next sequence number, as far as the hostile end has acknowledged.
    pub rcv_nxt: u32,
    /// The window the hostile end advertises.
    pub window: u16,
}

/// How long to wait for a reply that must come.
pub const REPLY_WAIT: Duration = Duration::from_secs(3);
/// How long to wait to conclude that no reply comes.
pub const QUIET_WAIT: Duration = Duration::from_millis(400);

impl<'a> RawConn<'a> {
    /// Completes a handshake with the listener at `to`; the SYN carries `syn_options`
    /// (MSS 1460 if empty). Returns the connection and partcp's SYN-ACK.
    pub fn connect(link: &'a Link, to: SocketAddrV4, syn_options: &[u8]) -> Result<(RawConn<'a>, Reply), String> {
        Self::handshake(link, to, syn_options, b"")
    }

    /// As [`RawConn::connect`], with `syn_data` on the SYN; returns the connection.
    pub fn connect_with(
        link: &'a Link,
        to: SocketAddrV4,
        syn_options: &[u8],
        syn_data: &[u8],
    ) -> Result<RawConn<'a>, String> {
        Self::handshake(link, to, syn_options, syn_data).map(|(c, _)| c)
    }

    fn handshake(
        link: &'a Link,
        to: SocketAddrV4,
        syn_options: &[u8],
        syn_data: &[u8],
    ) -> Result<(RawConn<'a>, Reply), String> {
        let mut c = RawConn {
            link,
            me: (H, next_hport()),
            them: (*to.ip(), to.port()),
            snd_nxt: 0x1000_0000,
            rcv_nxt: 0,
            window: 65535,
        };
        let mut syn = c.seg(SYN);
        syn.ack = 0;
        syn.options = if syn_options.is_empty() { vec![2, 4, 0x05, 0xb4] } else { syn_options.to_vec() };
        syn.payload = syn_data.to_vec();
        link.send(&syn.packet())?;
        let sa = c.expect("SYN-ACK", |r| r.has(SYN))?;
        ensure!(
            sa.has(ACK) && sa.ack == c.snd_nxt + 1,
            "SYN-ACK {} ack {}, want ack {}",
            flag_names(sa.flags),
            sa.ack,
            c.snd_nxt + 1
        );
        c.snd_nxt += 1;
        c.rcv_nxt = sa.seq.wrapping_add(1);
        c.send(ACK, b"")?;
        Ok((c, sa))
    }

    /// A segment of this connection at the current sequence numbers.
    pub fn seg(&self, flags: u8) -> Seg {
        let mut s = Seg::new(self.me, self.them, self.snd_nxt, self.rcv_nxt, flags);
        s.window = self.window;
        s
    }

    /// Whether `r` belongs to this connection.
    pub fn ours(&self, r: &Reply) -> bool {
        r.dst == self.me.0 && r.dport == self.me.1 && r.sport == self.them.1
    }

    /// Sends a well-formed segment with `flags` and `payload`, advancing `snd_nxt`.
    pub fn send(&mut self, flags: u8, payload: &[u8]) -> TestResult {
        let mut s = self.seg(flags);
        s.payload = payload.to_vec();
        self.link.send(&s.packet())?;
        self.snd_nxt = self.snd_nxt.wrapping_add(payload.len() as u32);
        Ok(())
    }

    /// The next segment of this connection that `want` accepts, within [`REPLY_WAIT`].
    pub fn expect(&self, what: &str, want: impl Fn(&Reply) -> bool) -> Result<Reply, String> {
        self.link.recv(REPLY_WAIT, |r| self.ours(r) && want(r)).ok_or_else(|| format!("no {what} from partcp"))
    }

    /// Fails if a segment of this connection arrives within [`QUIET_WAIT`].
    pub fn expect_silence(&self, after: &str) -> TestResult {
        match self.link.recv(QUIET_WAIT, |r| self.ours(r)) {
            None => Ok(()),
            Some(r) => Err(format!("{after}: partcp answered {} seq {} ack {}", flag_names(r.flags), r.seq, r.ack)),
        }
    }

    /// Sends `data` and waits for the ACK covering it: the connection still works.
    pub fn exchange(&mut self, data: &[u8]) -> TestResult {
        self.send(ACK, data)?;
        let want = self.snd_nxt;
        self.expect(&format!("ACK of {want}"), |r| r.has(ACK) && r.ack == want).map(drop)
    }
}
