//! `partcp-stats`: prints partcp's debugfs counters.
//!
//! ```text
//! partcp-stats [--dir DIR] [--delta SECONDS] [--json]
//! ```
//!
//! Without `--delta`: every value (`key value` lines, or one JSON object). With
//! `--delta S`: reads twice, S seconds apart, and prints each running total's rate per
//! second (gauges such as maxima are printed as their second value); zero rates are
//! left out of the text output. Files it does not know are printed generically.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use partcp_stats::{json_string, read_dir, Snapshot, DEFAULT_DIR};

const USAGE: &str = "usage: partcp-stats [--dir DIR] [--delta SECONDS] [--json]";

fn main() -> ExitCode {
    let mut dir = PathBuf::from(DEFAULT_DIR);
    let mut delta: Option<f64> = None;
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dir" => match args.next() {
                Some(d) => dir = PathBuf::from(d),
                None => return usage("--dir needs a value"),
            },
            "--delta" => match args.next().and_then(|s| s.parse::<f64>().ok()) {
                Some(s) if s > 0.0 && s.is_finite() => delta = Some(s),
                _ => return usage("--delta needs a positive number of seconds"),
            },
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let read = |d: &PathBuf| -> Result<Snapshot, ExitCode> {
        read_dir(d).map_err(|e| {
            eprintln!("partcp-stats: cannot read {}: {e} (is partcp loaded and debugfs mounted?)", d.display());
            ExitCode::from(1)
        })
    };
    let first = match read(&dir) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match delta {
        None => print_values(&first, json),
        Some(secs) => {
            let t0 = Instant::now();
            std::thread::sleep(Duration::from_secs_f64(secs));
            let second = match read(&dir) {
                Ok(s) => s,
                Err(c) => return c,
            };
            let dt = t0.elapsed().as_secs_f64();
            print_rates(&first, &second, dt, json);
        }
    }
    ExitCode::SUCCESS
}

fn usage(why: &str) -> ExitCode {
    eprintln!("partcp-stats: {why}\n{USAGE}");
    ExitCode::from(2)
}

fn print_values(s: &Snapshot, json: bool) {
    if json {
        let mut parts: Vec<String> =
            s.counters.iter().map(|c| format!("{}:{}", json_string(&c.key), c.value)).collect();
        parts.extend(s.text.iter().map(|(k, v)| format!("{}:{}", json_string(k), json_string(v))));
        println!("{{{}}}", parts.join(","));
    } else {
        for (k, v) in &s.text {
            println!("{k} {v}");
        }
        for c in &s.counters {
            println!("{} {}", c.key, c.value);
        }
    }
}

fn print_rates(a: &Snapshot, b: &Snapshot, dt: f64, json: bool) {
    let d = a.delta(b);
    if json {
        let mut parts = vec![format!("\"interval_s\":{dt:.3}")];
        for c in &d {
            let v = if c.is_gauge() { c.value as f64 } else { c.value as f64 / dt };
            parts.push(format!("{}:{}", json_string(&c.key), fmt_num(v)));
        }
        parts.extend(b.text.iter().map(|(k, v)| format!("{}:{}", json_string(k), json_string(v))));
        println!("{{{}}}", parts.join(","));
    } else {
        println!("# rates per second over {dt:.3} s (gauges: value at the end); zero rates omitted");
        for (k, v) in &b.text {
            println!("{k} {v}");
        }
        for c in &d {
            if c.is_gauge() {
                println!("{} {} (gauge)", c.key, c.value);
            } else if c.value != 0 {
                println!("{} {}/s", c.key, fmt_num(c.value as f64 / dt));
            }
        }
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}
