//! Reading partcp's debugfs tree (`/sys/kernel/debug/partcp/`) generically.
//!
//! Every file is parsed without knowing its name, so files added later are read too:
//!
//! - lines `name value` (value an integer) become the counter `FILE.name`;
//! - a table (a first line of two or more words none of which is a number, then rows
//!   `row v1 v2 ...`, such as `locks`) becomes `FILE.row.column` for every numeric cell;
//! - a file that is a single number (`version` aside) becomes `FILE`;
//! - anything else (words such as the `strategy` file's `connp-l 64`) is kept as text.
//!
//! Counters whose name contains `max` are high-water marks, not running totals:
//! [`Counter::is_gauge`] tells callers not to difference them.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

/// The default debugfs directory.
pub const DEFAULT_DIR: &str = "/sys/kernel/debug/partcp";

/// Files that hold words, not counters (`strategy` reads e.g. `connp-l 64`).
const TEXT_FILES: &[&str] = &["version", "strategy"];

/// One numeric value read from debugfs.
#[derive(Clone, Debug, PartialEq)]
pub struct Counter {
    /// `FILE.name` or `FILE.row.column`.
    pub key: String,
    pub value: i64,
}

impl Counter {
    /// True for values that are not running totals (maxima, currently-open counts, the
    /// family number): rates and deltas of them are meaningless.
    pub fn is_gauge(&self) -> bool {
        is_gauge_key(&self.key)
    }
}

/// See [`Counter::is_gauge`].
pub fn is_gauge_key(key: &str) -> bool {
    key.contains("max") || key.ends_with("_open") || key == "family" || key.ends_with(".stats")
}

/// One snapshot of the tree: numeric counters in file order, and text values.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub counters: Vec<Counter>,
    /// `(FILE or FILE.name, text)` for values that are not numbers.
    pub text: Vec<(String, String)>,
}

impl Snapshot {
    /// Counters by key.
    pub fn map(&self) -> BTreeMap<&str, i64> {
        self.counters.iter().map(|c| (c.key.as_str(), c.value)).collect()
    }

    /// `after - self` for running totals, `after`'s value for gauges; keys only in
    /// `after` count from zero.
    pub fn delta(&self, after: &Snapshot) -> Vec<Counter> {
        let before = self.map();
        after
            .counters
            .iter()
            .map(|c| {
                let v = if c.is_gauge() { c.value } else { c.value - before.get(c.key.as_str()).copied().unwrap_or(0) };
                Counter { key: c.key.clone(), value: v }
            })
            .collect()
    }
}

fn is_number(s: &str) -> bool {
    s.parse::<i64>().is_ok()
}

/// Parses one file's text (see the module documentation).
pub fn parse_file(file: &str, text: &str, out: &mut Snapshot) {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let Some(first) = lines.first() else { return };
    if TEXT_FILES.contains(&file) {
        out.text.push((file.to_string(), lines.join("; ")));
        return;
    }
    let words: Vec<&str> = first.split_whitespace().collect();
    // A single value.
    if lines.len() == 1 && words.len() == 1 {
        match words[0].parse::<i64>() {
            Ok(v) => out.counters.push(Counter { key: file.to_string(), value: v }),
            _ => out.text.push((file.to_string(), words[0].to_string())),
        }
        return;
    }
    // A table: header row of words, then rows.
    let header = if words.len() >= 3 && !words.iter().any(|w| is_number(w)) && lines.len() > 1 {
        Some(words.clone())
    } else {
        None
    };
    if let Some(h) = header {
        for l in &lines[1..] {
            let cells: Vec<&str> = l.split_whitespace().collect();
            if cells.len() == 2 && is_number(cells[1]) {
                out.counters
                    .push(Counter { key: format!("{file}.{}", cells[0]), value: cells[1].parse().unwrap_or(0) });
                continue;
            }
            for (i, cell) in cells.iter().enumerate().skip(1) {
                let col = h.get(i).map(|s| s.to_string()).unwrap_or_else(|| format!("col{i}"));
                match cell.parse::<i64>() {
                    Ok(v) => out.counters.push(Counter { key: format!("{file}.{}.{col}", cells[0]), value: v }),
                    Err(_) => out.text.push((format!("{file}.{}.{col}", cells[0]), cell.to_string())),
                }
            }
        }
        return;
    }
    for l in &lines {
        let mut it = l.split_whitespace();
        let name = it.next().unwrap_or("");
        let rest: Vec<&str> = it.collect();
        match rest.as_slice() {
            [v] if is_number(v) => {
                out.counters.push(Counter { key: format!("{file}.{name}"), value: v.parse().unwrap_or(0) })
            }
            [] => out.text.push((file.to_string(), name.to_string())),
            _ if lines.len() == 1 => out.text.push((file.to_string(), l.to_string())),
            _ => out.text.push((format!("{file}.{name}"), rest.join(" "))),
        }
    }
}

/// Reads every regular, readable file in `dir` (sorted by name; subdirectories and
/// write-only files such as `reset` are skipped).
pub fn read_dir(dir: &Path) -> io::Result<Snapshot> {
    read_dir_except(dir, &[])
}

/// Files whose size grows with the number of connections: `conn_stats` has a row per
/// connection, read under each connection's exclusion (under ConnP-T a round trip to its
/// protocol thread per connection).
pub const PER_CONNECTION_FILES: &[&str] = &["conn_stats"];

/// [`read_dir`] without the files named in `skip`.
pub fn read_dir_except(dir: &Path, skip: &[&str]) -> io::Result<Snapshot> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !skip.contains(&n.as_str()))
        .collect();
    names.sort();
    let mut snap = Snapshot::default();
    for n in names {
        if let Ok(text) = fs::read_to_string(dir.join(&n)) {
            parse_file(&n, &text, &mut snap);
        }
    }
    Ok(snap)
}

/// Escapes `s` as a JSON string (with quotes).
pub fn json_string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_tables_and_text() {
        let mut s = Snapshot::default();
        parse_file("stats", "rx_segments 10\ntx_segments 20\n", &mut s);
        parse_file("locks", "class acquired contended wait_ns\ntable 5 2 100\ngroup 7 1 3\n", &mut s);
        parse_file("strategy", "connp-l 64\n", &mut s);
        parse_file("family", "22\n", &mut s);
        parse_file("version", "0.1.0\n", &mut s);
        parse_file("sched", "strategy msgp\nstats on\nhandoffs 4\n", &mut s);
        let m = s.map();
        assert_eq!(m["stats.rx_segments"], 10);
        assert_eq!(m["locks.table.contended"], 2);
        assert_eq!(m["locks.group.wait_ns"], 3);
        assert_eq!(m["family"], 22);
        assert_eq!(m["sched.handoffs"], 4);
        assert!(s.text.contains(&("strategy".to_string(), "connp-l 64".to_string())));
        assert!(s.text.contains(&("version".to_string(), "0.1.0".to_string())));
        assert!(s.text.contains(&("sched.strategy".to_string(), "msgp".to_string())));
    }

    #[test]
    fn read_dir_except_skips_the_named_files() {
        let dir = std::env::temp_dir().join(format!("partcp-stats-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("stats"), "rx_segments 3\n").unwrap();
        fs::write(dir.join("conn_stats"), "local remote segments_in\n1.2.3.4:5 6.7.8.9:10 7\n").unwrap();
        let all = read_dir(&dir).unwrap();
        let some = read_dir_except(&dir, PER_CONNECTION_FILES).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert!(all.map().keys().any(|k| k.starts_with("conn_stats.")));
        assert!(!some.map().keys().any(|k| k.starts_with("conn_stats.")));
        assert_eq!(some.map()["stats.rx_segments"], 3);
    }

    #[test]
    fn delta_keeps_gauges() {
        let mut a = Snapshot::default();
        let mut b = Snapshot::default();
        parse_file("sched", "work_items 5\nqueue_depth_max 9\n", &mut a);
        parse_file("sched", "work_items 8\nqueue_depth_max 12\nnew 3\n", &mut b);
        let d: BTreeMap<_, _> = a.delta(&b).into_iter().map(|c| (c.key, c.value)).collect();
        assert_eq!(d["sched.work_items"], 3);
        assert_eq!(d["sched.queue_depth_max"], 12);
        assert_eq!(d["sched.new"], 3);
    }
}
