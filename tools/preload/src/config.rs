//! The shim's settings (environment variables, read once per process) and partcp's
//! address family (read once from sysfs).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

use libc::c_int;

use crate::real::say;

/// Where the module publishes its family number.
const FAMILY_PATH: &str = "/sys/module/partcp/parameters/family";

/// The selection and the failure policy.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `PARTCP_PORTS`: inclusive port ranges; `None`: any port.
    ports: Option<Vec<(u16, u16)>>,
    /// `PARTCP_ADDRS`: (network, mask) pairs; `None`: any address.
    addrs: Option<Vec<(u32, u32)>>,
    /// `PARTCP_REQUIRED=1`: fail with EAFNOSUPPORT rather than fall back to Linux TCP.
    pub required: bool,
}

impl Config {
    /// Parses the three variables (unset or empty: no restriction). Entries that do not
    /// parse are reported in the returned list and ignored.
    pub fn parse(ports: Option<&str>, addrs: Option<&str>, required: Option<&str>) -> (Config, Vec<String>) {
        let mut bad = Vec::new();
        let ports = parse_list(ports, "PARTCP_PORTS", parse_port_range, &mut bad);
        let addrs = parse_list(addrs, "PARTCP_ADDRS", parse_cidr, &mut bad);
        let required = required.is_some_and(|s| s.trim() == "1");
        (Config { ports, addrs, required }, bad)
    }

    /// Whether sockets are switched to partcp only when their address matches.
    pub fn selective(&self) -> bool {
        self.ports.is_some() || self.addrs.is_some()
    }

    /// Whether a `bind`/`connect` to `addr:port` selects partcp. The wildcard address
    /// 0.0.0.0 (a `bind` to every local address) matches any `PARTCP_ADDRS`; port 0 (an
    /// ephemeral `bind`) matches no `PARTCP_PORTS`.
    pub fn matches(&self, addr: Ipv4Addr, port: u16) -> bool {
        let a = u32::from(addr);
        let port_ok = self.ports.as_ref().is_none_or(|v| v.iter().any(|&(lo, hi)| (lo..=hi).contains(&port)));
        let addr_ok = self.addrs.as_ref().is_none_or(|v| a == 0 || v.iter().any(|&(net, mask)| a & mask == net));
        port_ok && addr_ok
    }
}

/// A comma-separated list of `var` (`None` if unset or empty); entries `parse` rejects
/// are added to `bad`.
fn parse_list<T>(s: Option<&str>, var: &str, parse: fn(&str) -> Option<T>, bad: &mut Vec<String>) -> Option<Vec<T>> {
    let s = s.map(str::trim).filter(|s| !s.is_empty())?;
    let mut out = Vec::new();
    for e in s.split(',') {
        match parse(e.trim()) {
            Some(v) => out.push(v),
            None => bad.push(format!("{var} entry {e:?}")),
        }
    }
    Some(out)
}

/// `80` or `8000-8010`.
fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    let (lo, hi) = (lo.trim().parse::<u16>().ok()?, hi.trim().parse::<u16>().ok()?);
    (lo >= 1 && lo <= hi).then_some((lo, hi))
}

/// `198.18.0.0/24` or a single address `198.18.0.1`; host bits are cleared.
fn parse_cidr(s: &str) -> Option<(u32, u32)> {
    let (addr, bits) = s.split_once('/').unwrap_or((s, "32"));
    let addr: Ipv4Addr = addr.trim().parse().ok()?;
    let bits: u32 = bits.trim().parse().ok().filter(|&b| b <= 32)?;
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    Some((u32::from(addr) & mask, mask))
}

/// The process's settings, from the environment at first use.
pub fn get() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let var = |n: &str| std::env::var(n).ok();
        let (ports, addrs, req) = (var("PARTCP_PORTS"), var("PARTCP_ADDRS"), var("PARTCP_REQUIRED"));
        let (cfg, bad) = Config::parse(ports.as_deref(), addrs.as_deref(), req.as_deref());
        for b in bad {
            say(&format!("partcp-preload: ignoring {b}\n"));
        }
        cfg
    })
}

/// Not read yet.
const UNREAD: c_int = -1;
/// Read, and the module is not loaded.
const ABSENT: c_int = -2;
static FAMILY: AtomicI32 = AtomicI32::new(UNREAD);

/// partcp's address family, read once from sysfs; `None` if the module is not loaded
/// (then the one-line notice has been printed).
pub fn family() -> Option<c_int> {
    let f = family_quiet();
    if f.is_none() {
        absent();
    }
    f
}

/// As [`family`], without the notice.
pub fn family_quiet() -> Option<c_int> {
    let mut f = FAMILY.load(Ordering::Relaxed);
    if f == UNREAD {
        f = read_family().unwrap_or(ABSENT);
        FAMILY.store(f, Ordering::Relaxed);
    }
    (f > 0).then_some(f)
}

/// Reads the family number from sysfs; `None` if the module is not loaded.
fn read_family() -> Option<c_int> {
    std::fs::read_to_string(FAMILY_PATH).ok()?.trim().parse::<c_int>().ok().filter(|&n| n > 0)
}

/// The module is not (or no longer) there: remember that, print the notice once.
pub fn absent() {
    FAMILY.store(ABSENT, Ordering::Relaxed);
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        say(if get().required {
            "partcp-preload: partcp is not loaded; PARTCP_REQUIRED=1, so IPv4 TCP sockets fail with EAFNOSUPPORT\n"
        } else {
            "partcp-preload: partcp is not loaded; IPv4 TCP sockets use Linux TCP\n"
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(ports: Option<&str>, addrs: Option<&str>) -> Config {
        Config::parse(ports, addrs, None).0
    }

    #[test]
    fn unset_or_empty_selects_everything() {
        for c in [cfg(None, None), cfg(Some(""), Some(" "))] {
            assert!(!c.selective());
            assert!(c.matches(Ipv4Addr::new(10, 0, 0, 1), 1234));
        }
    }

    #[test]
    fn ports_and_ranges() {
        let c = cfg(Some("80, 5201,8000-8002"), None);
        assert!(c.selective());
        for p in [80, 5201, 8000, 8002] {
            assert!(c.matches(Ipv4Addr::new(1, 2, 3, 4), p), "{p}");
        }
        for p in [0, 81, 7999, 8003] {
            assert!(!c.matches(Ipv4Addr::new(1, 2, 3, 4), p), "{p}");
        }
    }

    #[test]
    fn addrs_and_wildcard() {
        let c = cfg(None, Some("198.18.0.0/24,10.1.2.3"));
        assert!(c.matches(Ipv4Addr::new(198, 18, 0, 2), 9));
        assert!(c.matches(Ipv4Addr::new(10, 1, 2, 3), 9));
        assert!(c.matches(Ipv4Addr::UNSPECIFIED, 9));
        assert!(!c.matches(Ipv4Addr::new(198, 18, 1, 2), 9));
        assert!(!c.matches(Ipv4Addr::new(10, 1, 2, 4), 9));
    }

    #[test]
    fn both_must_match() {
        let c = cfg(Some("80"), Some("198.18.0.0/16"));
        assert!(c.matches(Ipv4Addr::new(198, 18, 3, 4), 80));
        assert!(!c.matches(Ipv4Addr::new(198, 18, 3, 4), 81));
        assert!(!c.matches(Ipv4Addr::new(127, 0, 0, 1), 80));
    }

    #[test]
    fn bad_entries_reported_and_ignored() {
        let (c, bad) = Config::parse(Some("80,x,0,9-3"), Some("1.2.3.4/33,1.2.3.0/24"), Some("1"));
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert!(c.required);
        assert!(c.matches(Ipv4Addr::new(1, 2, 3, 9), 80));
        assert!(!c.matches(Ipv4Addr::new(1, 2, 3, 9), 9));
    }
}
