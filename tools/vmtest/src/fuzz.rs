//! `fuzz.syscalls`: a bounded run of the system-call fuzzer (`tools/sysfuzz`,
//! `partcp-sysfuzz`) against AF_PARTCP: a fixed seed, then a seed from the clock (both
//! printed), 20 s each with 4 threads; the second run also waits for partcp's
//! connections to drain (TIME-WAIT is 60 s). The fuzzer's output is passed on as `#`
//! notes; any `FAIL` line or a non-zero exit fails the test.

use std::process::Command;
use std::time::Duration;

use crate::{Case, TestResult};

const BIN: &str = "tools/target/release/partcp-sysfuzz";

pub fn cases() -> Vec<Case> {
    vec![Case { name: "fuzz.syscalls".into(), timeout: Duration::from_secs(330), run: Box::new(syscalls) }]
}

fn syscalls() -> TestResult {
    crate::net::setup::ensure()?;
    let runs: [&[&str]; 2] = [
        &["--seed", "1", "--seconds", "20", "--threads", "4", "--drain", "0"],
        &["--seconds", "20", "--threads", "4", "--drain", "120"],
    ];
    for args in runs {
        let out = Command::new(BIN).args(args).output().map_err(|e| format!("running {BIN}: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        for l in text.lines() {
            println!("# {}", l.trim_start_matches("# "));
        }
        if !out.status.success() {
            let fails: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).take(3).collect();
            return Err(format!(
                "{BIN} {} exited with {}: {} {}",
                args.join(" "),
                out.status,
                fails.join("; "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}
