//! `preload.*`: unmodified programs over partcp through the LD_PRELOAD shim
//! (`tools/preload`, `libpartcp_preload.so`), on the network suite's veth pair
//! (`net/setup.rs`): the preloaded side runs in `ptcp_a` (198.18.0.1), the stock Linux
//! TCP side in `ptcp_b` (198.18.0.2).
//!
//! - iperf3 (Debian's) as a preloaded server with a stock client, and the reverse, each
//!   beside the same run on Linux TCP (`# preload: iperf3 ...` lines);
//! - curl fetching 1 KB, 1 MB and 20 MB files from a preloaded `python3 -m
//!   http.server`, and a preloaded curl fetching them from a stock one;
//! - `preload/probe.py`, run under the shim, checks from inside: non-TCP sockets stay
//!   Linux's, SO_DOMAIN reads AF_INET, descriptor copies and closes are tracked,
//!   threads, epoll, sendfile/splice, fork/exec, the option decisions, and the
//!   selection by `PARTCP_PORTS`/`PARTCP_ADDRS`;
//! - with the module unloaded: one notice and Linux TCP, or EAFNOSUPPORT with
//!   `PARTCP_REQUIRED=1` (the module is reloaded from `$PARTCP_KO` afterwards).
//!
//! The library is found beside this binary (both are in `tools/target/release`) or
//! under `$PARTCP_ROOT`. Whether partcp really carried a connection is read from its
//! `conns_created` counter.

use std::io::Read;
use std::net::{SocketAddrV4, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::ensure;
use crate::net::{in_ns, next_port, setup, Ns};
use crate::sys::{self, errname};
use crate::{Case, TestResult};

const PROBE: &str = include_str!("preload/probe.py");
const PYTHON: &str = "/usr/bin/python3";

/// A test: name, body, time limit in seconds.
type Entry = (&'static str, fn() -> TestResult, u64);

/// The preload tests, with their time limits.
pub fn cases() -> Vec<Case> {
    let t: [Entry; 8] = [
        ("mixed_sockets", mixed_sockets, 120),
        ("ports_selection", ports_selection, 60),
        ("addrs_selection", addrs_selection, 60),
        ("curl_from_partcp_server", curl_from_partcp_server, 240),
        ("curl_over_partcp", curl_over_partcp, 240),
        ("iperf3_partcp_server", iperf3_partcp_server, 120),
        ("iperf3_partcp_client", iperf3_partcp_client, 120),
        ("not_loaded", not_loaded, 60),
    ];
    t.into_iter()
        .map(|(name, run, secs)| Case {
            name: format!("preload.{name}"),
            timeout: Duration::from_secs(secs),
            run: Box::new(move || {
                setup::ensure()?;
                run()
            }),
        })
        .collect()
}

/// The shim's path.
fn lib() -> Result<String, String> {
    const NAME: &str = "libpartcp_preload.so";
    let beside = std::env::current_exe().ok().map(|e| e.with_file_name(NAME));
    let root = std::env::var("PARTCP_ROOT").ok().map(|r| PathBuf::from(r).join("tools/target/release").join(NAME));
    beside.into_iter().chain(root).find(|p| p.exists()).map(|p| p.display().to_string()).ok_or_else(|| {
        format!("{NAME} not found beside the test binary or under $PARTCP_ROOT (cd tools && cargo build --release)")
    })
}

/// `argv` in namespace `ns`, under the shim if `preload`, with `env` added.
fn cmd(ns: Ns, preload: bool, env: &[(&str, &str)], argv: &[&str]) -> Result<Command, String> {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns.name(), "env"]);
    if preload {
        c.arg(format!("LD_PRELOAD={}", lib()?));
    }
    c.args(env.iter().map(|(k, v)| format!("{k}={v}")));
    c.args(argv);
    Ok(c)
}

/// Runs to completion; `Err` with the command's output unless it exits 0.
fn output(mut c: Command, what: &str) -> Result<Output, String> {
    let out = c.output().map_err(|e| format!("running {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed ({}): {}", out.status, tail(&out)));
    }
    Ok(out)
}

/// The failed checks and the last lines of a command's output, for a failure message.
fn tail(out: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let fails: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
    let lines: Vec<&str> = if fails.is_empty() {
        text.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect()
    } else {
        fails
    };
    lines.join(" | ")
}

/// A background process (a server), killed when dropped.
struct Bg(Child);

impl Bg {
    fn spawn(mut c: Command, what: &str) -> Result<Bg, String> {
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        c.spawn().map(Bg).map_err(|e| format!("starting {what}: {e}"))
    }

    /// Fails with the process's stderr if it has exited.
    fn alive(&mut self, what: &str) -> TestResult {
        if let Ok(Some(st)) = self.0.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = self.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(format!("{what} exited ({st}): {}", err.trim()));
        }
        Ok(())
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until a stock Linux TCP connection from `from` to `to` succeeds.
fn wait_listening(server: &mut Bg, what: &str, from: Ns, to: SocketAddrV4) -> TestResult {
    let start = Instant::now();
    loop {
        server.alive(what)?;
        if in_ns(from, || Ok(TcpStream::connect_timeout(&to.into(), Duration::from_secs(2)).is_ok()))? {
            return Ok(());
        }
        ensure!(start.elapsed() < Duration::from_secs(30), "{what} not listening on {to} after 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The probe script, written once to /tmp.
fn probe_path() -> Result<&'static str, String> {
    const PATH: &str = "/tmp/partcp-preload-probe.py";
    static WRITTEN: OnceLock<Result<(), String>> = OnceLock::new();
    WRITTEN.get_or_init(|| std::fs::write(PATH, PROBE).map_err(|e| format!("writing {PATH}: {e}"))).clone()?;
    Ok(PATH)
}

/// Runs `probe.py ARGS` under the shim in `ptcp_a`; its output if every check passed.
fn probe(env: &[(&str, &str)], args: &[&str]) -> Result<Output, String> {
    let mut argv = vec![PYTHON, probe_path()?];
    argv.extend_from_slice(args);
    output(cmd(Ns::A, true, env, &argv)?, &format!("probe.py {}", args.join(" ")))
}

/// partcp's count of connections created so far.
fn conns_created() -> Result<i64, String> {
    sys::debugfs_counter("stats", "conns_created")
}

fn mixed_sockets() -> TestResult {
    probe(&[], &["mixed"]).map(drop)
}

fn ports_selection() -> TestResult {
    let (p1, p2) = (next_port(), next_port());
    probe(&[("PARTCP_PORTS", &format!("{},{p1}", p1 + 1000))], &["ports", &p1.to_string(), &p2.to_string()]).map(drop)
}

fn addrs_selection() -> TestResult {
    let (p, q) = (next_port().to_string(), next_port().to_string());
    probe(&[("PARTCP_ADDRS", "127.0.0.2/32")], &["addrs", &p, &q]).map(drop)
}

fn not_loaded() -> TestResult {
    let ko = std::env::var("PARTCP_KO").map_err(|_| "PARTCP_KO not set (run through scripts/vm)".to_string())?;
    if sys::module_loaded() {
        sys::unload_module("partcp").map_err(|e| format!("unloading partcp: {}", errname(e)))?;
    }
    let fallback = probe(&[], &["unloaded"]);
    let required = probe(&[("PARTCP_REQUIRED", "1")], &["required"]);
    sys::load_module(&ko, "").map_err(|e| format!("reloading partcp: {}", errname(e)))?;
    for (out, want) in [
        (fallback?, "partcp-preload: partcp is not loaded; IPv4 TCP sockets use Linux TCP"),
        (
            required?,
            "partcp-preload: partcp is not loaded; PARTCP_REQUIRED=1, so IPv4 TCP sockets fail with EAFNOSUPPORT",
        ),
    ] {
        let err = String::from_utf8_lossy(&out.stderr);
        let notes: Vec<&str> = err.lines().filter(|l| l.starts_with("partcp-preload")).collect();
        ensure!(notes == [want], "stderr notices {notes:?}, want exactly [{want:?}]");
    }
    Ok(())
}

/// The test files: name and contents (pseudo-random, so compression or a stale file
/// cannot pass for the real thing).
fn www() -> Result<Vec<(&'static str, Vec<u8>)>, String> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut files = Vec::new();
    std::fs::create_dir_all(DIR).map_err(|e| format!("mkdir {DIR}: {e}"))?;
    for (name, size) in [("1k", 1000), ("1m", 1 << 20), ("20m", 20 << 20)] {
        let data: Vec<u8> = (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // CAST: the low byte.
                x as u8
            })
            .collect();
        std::fs::write(format!("{DIR}/{name}"), &data).map_err(|e| format!("writing {DIR}/{name}: {e}"))?;
        files.push((name, data));
    }
    Ok(files)
}

/// Where [`www`] writes the files.
const DIR: &str = "/tmp/partcp-preload-www";

/// Serves the test files with `python3 -m http.server` in `server_ns` (under the shim
/// if `server_preload`) and fetches each with curl from the other namespace (under the
/// shim if `curl_preload`), comparing the bytes.
fn curl_fetch(server_ns: Ns, server_preload: bool, curl_preload: bool) -> TestResult {
    let files = www()?;
    let port = next_port();
    let addr = SocketAddrV4::new(server_ns.addr(), port);
    let client_ns = if server_ns == Ns::A { Ns::B } else { Ns::A };
    let argv = [PYTHON, "-m", "http.server", "--bind", &addr.ip().to_string(), "--directory", DIR, &port.to_string()];
    let mut server = Bg::spawn(cmd(server_ns, server_preload, &[], &argv)?, "http.server")?;
    wait_listening(&mut server, "http.server", client_ns, addr)?;
    let conns0 = conns_created()?;
    for (name, data) in &files {
        let got_path = format!("/tmp/partcp-preload-got-{name}");
        let _ = std::fs::remove_file(&got_path);
        let url = format!("http://{addr}/{name}");
        output(
            cmd(client_ns, curl_preload, &[], &["curl", "-sS", "--max-time", "120", "-o", &got_path, &url])?,
            &format!("curl {url}"),
        )?;
        let got = std::fs::read(&got_path).map_err(|e| format!("reading {got_path}: {e}"))?;
        let _ = std::fs::remove_file(&got_path);
        ensure!(
            got.len() == data.len() && got == *data,
            "{name}: got {} bytes, want {} (contents differ)",
            got.len(),
            data.len()
        );
    }
    server.alive("http.server")?;
    let conns = conns_created()? - conns0;
    ensure!(conns >= files.len() as i64, "partcp created {conns} connections for {} fetches", files.len());
    Ok(())
}

fn curl_from_partcp_server() -> TestResult {
    curl_fetch(Ns::A, true, false)
}

fn curl_over_partcp() -> TestResult {
    curl_fetch(Ns::B, false, true)
}

/// The receiver's throughput in an iperf3 `-J` report, in Mbit/s.
fn iperf3_mbits(json: &str) -> Option<f64> {
    let rest = &json[json.find("\"sum_received\"")?..];
    let rest = rest[rest.find("\"bits_per_second\":")? + "\"bits_per_second\":".len()..].trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))?;
    rest[..end].parse::<f64>().ok().map(|b| b / 1e6)
}

/// One 3-second iperf3 run: a one-shot server in `server_ns`, the client (sending) in
/// the other namespace, each under the shim or not. Returns Mbit/s and the number of
/// connections partcp created meanwhile.
fn iperf3(server_ns: Ns, server_preload: bool, client_preload: bool) -> Result<(f64, i64), String> {
    let port = next_port().to_string();
    let addr = server_ns.addr().to_string();
    let client_ns = if server_ns == Ns::A { Ns::B } else { Ns::A };
    let conns0 = conns_created()?;
    let mut server = Bg::spawn(
        cmd(server_ns, server_preload, &[], &["iperf3", "-s", "-4", "-1", "-B", &addr, "-p", &port])?,
        "iperf3 -s",
    )?;
    let start = Instant::now();
    loop {
        server.alive("iperf3 -s")?;
        let mut c = cmd(client_ns, client_preload, &[], &["iperf3", "-c", &addr, "-p", &port, "-t", "3", "-J"])?;
        let out = c.output().map_err(|e| format!("running iperf3 -c: {e}"))?;
        let json = String::from_utf8_lossy(&out.stdout);
        // With -J, iperf3 3.12 reports a failed connection in the JSON and exits 0.
        if out.status.success() && !json.contains("\"error\"") {
            let mbits = iperf3_mbits(&json).ok_or_else(|| format!("no sum_received in iperf3's report: {json}"))?;
            return Ok((mbits, conns_created()? - conns0));
        }
        // The server is not listening yet: Linux refuses the connection.
        ensure!(
            json.contains("Connection refused") && start.elapsed() < Duration::from_secs(30),
            "iperf3 -c failed ({}): {}",
            out.status,
            tail(&out)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Runs iperf3 with the preloaded side as server (`server_side`) or client, then the
/// same on Linux TCP, and prints both.
fn iperf3_compare(preloaded_server: bool) -> TestResult {
    let (server_ns, what) = if preloaded_server {
        (Ns::A, "stock client sending to a preloaded server")
    } else {
        (Ns::B, "preloaded client sending to a stock server")
    };
    let (p, conns) = iperf3(server_ns, preloaded_server, !preloaded_server)?;
    ensure!(conns >= 2, "partcp created {conns} connections for iperf3's control and data connections");
    let (l, _) = iperf3(server_ns, false, false)?;
    println!("# preload: iperf3 partcp {p:.0} Mbit/s, linux {l:.0} Mbit/s ({what}, 3 s, {} vCPUs)", nproc());
    if p > 0.0 {
        Ok(())
    } else {
        Err("no throughput over partcp".into())
    }
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

fn iperf3_partcp_server() -> TestResult {
    iperf3_compare(true)
}

fn iperf3_partcp_client() -> TestResult {
    iperf3_compare(false)
}
