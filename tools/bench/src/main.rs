//! `partcp-bench`: the transmit microbenchmark of Willmann, Rixner and Cox (USENIX ATC
//! 2006), a sink for it, and a request/response variant, for AF_PARTCP and Linux TCP,
//! and for AF_UNIX streams as the floor (the same copies, no protocol).
//!
//! Every client run prints one line of `key=value` words (see `USAGE`), so scripts can
//! collect runs with `grep`. `scripts/bench` (`make bench`) drives it inside the test VM.

mod hist;
mod mark;
mod measure;
mod sys;
mod work;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: partcp-bench [OPTIONS]            transmit benchmark (or --rr) against a sink
       partcp-bench sink [SINK OPTIONS]  accept connections, discard (or --echo) data
       partcp-bench idle [IDLE OPTIONS]  open connections and hold them idle until
                                         SIGTERM/SIGINT, then abort them (RST)

client options:
  --family inet|partcp|unix  socket family (default inet); unix: an AF_UNIX stream to
                         the sink's --unix-path (the copy-only floor)
  --dest ADDR:PORT       sink address (default 198.18.0.2:5001)
  --unix-path PATH       AF_UNIX sink path (default /tmp/partcp-bench.sock)
  --conns N              connections (default 6), spread round-robin over the threads
  --threads N            event-loop threads, one pinned per CPU (default: online CPUs)
  --seconds S            measured duration (default 10)
  --warmup S             unmeasured time before it, to fill the buffers (default 1)
  --write-size BYTES     bytes per send() (default 65536)
  --sndbuf BYTES         SO_SNDBUF, 0 = system default (default 262144, as the paper)
  --rr                   request/response instead of bulk transmit
  --msg-size BYTES       request and response size for --rr (default 64)
  --churn N              with --rr: reconnect after N transactions (default 0: never)
  --connect-timeout S    give up if connections are not all up by then (default 60)
  --debugfs DIR          partcp debugfs directory (default /sys/kernel/debug/partcp);
                         if it exists its counters are read before and after the
                         measured window, for every family alike
  --tag KEY=VALUE        copied into the report line (repeatable)
  --mark-id N            before the window, execute the run-identifying marker N
                         times, so a TCG plugin can tell the runs apart (default 0)

sink options:
  --family inet|partcp|unix  (default inet)
  --unix-path PATH       for --family unix (default /tmp/partcp-bench.sock)
  --port P               (default 5001)
  --addr ADDR            bind address (default 0.0.0.0)
  --threads N            (default: online CPUs)
  --echo                 echo back what is received (for --rr clients)
  --seconds S            exit after S seconds (default: run until killed)
  --ready-file PATH      created once listening

idle options: --family, --dest, --conns, --connect-timeout as for the client, and
  --ready-file PATH      created once every connection is established
  On SIGTERM/SIGINT it prints one line (mode=idle conns setup_seconds broken status)
  and aborts every connection; `broken` counts connections that were reset, closed or
  readable while they should have been idle.

report line (client): mode family conns threads seconds write_size bytes mbps
  wire_bytes wire_mbps [transactions tps latency_us lat_p50_us lat_p99_us reconnects
  [cps]] cpu_util cpu_user cpu_sys cpu_softirq
  ctxt ctxt_per_kb conn_errors marks status [reason] [tags] [dbg.FILE.COUNTER=delta ...]
  latency_us: mean transaction time; lat_p50_us, lat_p99_us: percentiles from a
  log-linear histogram (bucket midpoints, within 1.6%); cps (--churn): connections
  set up per second of the window.
  marks=1: the window's start and end executed the marker instructions a TCG plugin
  (tools/icount) recognizes.";

/// The socket family a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Linux TCP.
    Inet,
    /// AF_PARTCP.
    Partcp,
    /// AF_UNIX streams: the floor (copies, no protocol).
    Unix,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Partcp => "partcp",
            Family::Unix => "unix",
        }
    }
}

/// Parsed command line.
#[derive(Clone, Debug)]
pub struct Opts {
    pub sink: bool,
    pub idle: bool,
    pub family: Family,
    pub dest: SocketAddrV4,
    pub unix_path: PathBuf,
    pub conns: usize,
    pub threads: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub write_size: usize,
    pub sndbuf: usize,
    pub rr: bool,
    pub msg_size: usize,
    pub churn: u64,
    pub connect_timeout: f64,
    pub debugfs: PathBuf,
    pub tags: Vec<String>,
    pub mark_id: u64,
    pub port: u16,
    pub addr: std::net::Ipv4Addr,
    pub echo: bool,
    pub sink_seconds: Option<f64>,
    pub ready_file: Option<PathBuf>,
}

fn parse(args: Vec<String>) -> Result<Opts, String> {
    let mut o = Opts {
        sink: false,
        idle: false,
        family: Family::Inet,
        dest: "198.18.0.2:5001".parse().unwrap(),
        unix_path: PathBuf::from("/tmp/partcp-bench.sock"),
        conns: 6,
        threads: sys::online_cpus(),
        seconds: 10.0,
        warmup: 1.0,
        write_size: 65536,
        sndbuf: 262144,
        rr: false,
        msg_size: 64,
        churn: 0,
        connect_timeout: 60.0,
        debugfs: PathBuf::from(partcp_stats::DEFAULT_DIR),
        tags: Vec::new(),
        mark_id: 0,
        port: 5001,
        addr: std::net::Ipv4Addr::UNSPECIFIED,
        echo: false,
        sink_seconds: None,
        ready_file: None,
    };
    let mut it = args.into_iter().peekable();
    match it.peek().map(String::as_str) {
        Some("sink") => o.sink = true,
        Some("idle") => o.idle = true,
        _ => {}
    }
    if o.sink || o.idle {
        it.next();
    }
    fn num<T: std::str::FromStr>(name: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{name} needs a value"))?;
        v.parse().map_err(|_| format!("{name}: bad value {v:?}"))
    }
    fn secs(name: &str, v: Option<String>, zero_ok: bool) -> Result<f64, String> {
        let s: f64 = num(name, v)?;
        if !s.is_finite() || s < 0.0 || (s == 0.0 && !zero_ok) || s > 86400.0 {
            return Err(format!("{name}: out of range"));
        }
        Ok(s)
    }
    const CLIENT_ONLY: &[&str] = &[
        "--dest",
        "--conns",
        "--warmup",
        "--write-size",
        "--sndbuf",
        "--rr",
        "--msg-size",
        "--churn",
        "--connect-timeout",
        "--debugfs",
        "--tag",
        "--mark-id",
    ];
    const SINK_ONLY: &[&str] = &["--port", "--addr", "--echo", "--ready-file"];
    const IDLE: &[&str] = &["--family", "--dest", "--conns", "--connect-timeout", "--ready-file"];
    while let Some(a) = it.next() {
        if o.idle && !IDLE.contains(&a.as_str()) {
            return Err(format!("{a} is not an idle option"));
        }
        if o.sink && CLIENT_ONLY.contains(&a.as_str()) {
            return Err(format!("{a} is not a sink option"));
        }
        if !o.sink && !o.idle && SINK_ONLY.contains(&a.as_str()) {
            return Err(format!("{a} is a sink option"));
        }
        match a.as_str() {
            "--family" => {
                o.family = match it.next().as_deref() {
                    Some("inet") => Family::Inet,
                    Some("partcp") => Family::Partcp,
                    Some("unix") => Family::Unix,
                    _ => return Err("--family must be inet, partcp or unix".into()),
                }
            }
            "--threads" => o.threads = num(&a, it.next())?,
            "--dest" => o.dest = num(&a, it.next())?,
            "--conns" => o.conns = num(&a, it.next())?,
            "--seconds" if o.sink => o.sink_seconds = Some(secs(&a, it.next(), false)?),
            "--seconds" => o.seconds = secs(&a, it.next(), false)?,
            "--warmup" => o.warmup = secs(&a, it.next(), true)?,
            "--write-size" => o.write_size = num(&a, it.next())?,
            "--sndbuf" => o.sndbuf = num(&a, it.next())?,
            "--rr" => o.rr = true,
            "--msg-size" => o.msg_size = num(&a, it.next())?,
            "--churn" => o.churn = num(&a, it.next())?,
            "--connect-timeout" => o.connect_timeout = secs(&a, it.next(), false)?,
            "--unix-path" => o.unix_path = PathBuf::from(it.next().ok_or("--unix-path needs a value")?),
            "--debugfs" => o.debugfs = PathBuf::from(it.next().ok_or("--debugfs needs a value")?),
            "--tag" => {
                let t = it.next().ok_or("--tag needs KEY=VALUE")?;
                match t.split_once('=') {
                    Some((k, v)) if !k.is_empty() && !t.contains(char::is_whitespace) && !v.is_empty() => {
                        o.tags.push(t)
                    }
                    _ => return Err(format!("--tag: want KEY=VALUE without spaces, got {t:?}")),
                }
            }
            "--mark-id" => o.mark_id = num(&a, it.next())?,
            "--port" => o.port = num(&a, it.next())?,
            "--addr" => o.addr = num(&a, it.next())?,
            "--echo" => o.echo = true,
            "--ready-file" => o.ready_file = Some(PathBuf::from(it.next().ok_or("--ready-file needs a value")?)),
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    if o.threads == 0 || o.threads > 1024 {
        return Err("--threads must be 1..=1024".into());
    }
    if o.conns == 0 || o.conns > 1_000_000 {
        return Err("--conns must be 1..=1000000".into());
    }
    if o.write_size == 0 || o.write_size > 16 << 20 {
        return Err("--write-size must be 1..=16777216".into());
    }
    if o.msg_size == 0 || o.msg_size > 1 << 20 {
        return Err("--msg-size must be 1..=1048576".into());
    }
    if o.sndbuf > 1 << 30 {
        return Err("--sndbuf must be at most 1 GiB".into());
    }
    if o.churn > 0 && !o.rr {
        return Err("--churn needs --rr".into());
    }
    if o.idle && o.family == Family::Unix {
        return Err("idle needs --family inet or partcp".into());
    }
    if o.mark_id > 1_000_000 {
        return Err("--mark-id must be at most 1000000".into());
    }
    if o.port == 0 {
        return Err("--port must be 1..=65535".into());
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("partcp-bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Before any thread exists, so that every thread inherits the mask and the signals
    // wait for `sigwait`.
    let term_signals = o.idle.then(sys::block_term_signals);
    sys::raise_nofile();
    let family = match o.family {
        Family::Partcp => match sys::partcp_family() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("partcp-bench: AF_PARTCP unavailable (is partcp loaded?): {e}");
                return ExitCode::from(1);
            }
        },
        Family::Inet => libc::AF_INET,
        Family::Unix => libc::AF_UNIX,
    };
    if o.sink {
        return match work::sink(&o, family) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("partcp-bench sink: {e}");
                ExitCode::from(1)
            }
        };
    }
    let line = if let Some(set) = term_signals { work::idle(&o, family, &set) } else { work::client(&o, family) };
    println!("{}", line.text);
    if line.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn p(s: &str) -> Result<super::Opts, String> {
        parse(s.split_whitespace().map(String::from).collect())
    }

    #[test]
    fn accepts_and_rejects() {
        let o = p("--family partcp --conns 192 --threads 2 --seconds 3 --tag strategy=msgp").unwrap();
        assert!(o.family == super::Family::Partcp && o.conns == 192 && o.threads == 2 && o.seconds == 3.0);
        assert!(p("sink --port 5002 --echo").unwrap().echo);
        let o = p("sink --family unix --unix-path /tmp/u.sock").unwrap();
        assert!(o.sink && o.family == super::Family::Unix && o.unix_path.to_str() == Some("/tmp/u.sock"));
        assert_eq!(p("--family unix").unwrap().family, super::Family::Unix);
        assert_eq!(p("--mark-id 17").unwrap().mark_id, 17);
        let o = p("idle --family partcp --dest 198.18.0.2:5002 --conns 1000 --ready-file /tmp/r").unwrap();
        assert!(o.idle && !o.sink && o.family == super::Family::Partcp && o.conns == 1000 && o.ready_file.is_some());
        for bad in [
            "--family udp",
            "--conns 0",
            "--conns x",
            "--seconds -1",
            "--seconds",
            "--write-size 0",
            "--churn 5",
            "--bogus",
            "--port 80",
            "sink --conns 5",
            "--tag novalue",
            "--threads 0",
            "idle --seconds 3",
            "idle --port 5002",
            "idle --rr",
            "idle --family unix",
            "--mark-id -1",
            "--mark-id 2000000",
            "sink --mark-id 3",
            "--family tcp",
        ] {
            assert!(p(bad).is_err(), "{bad} accepted");
        }
    }
}
