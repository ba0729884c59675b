//! partcp's in-VM test programs: each test calls the socket API (or the module
//! loader) against a loaded partcp.ko and asserts the results.
//!
//! Output is TAP-like: one `ok N - name` or `not ok N - name: reason` line per test,
//! then `# N passed, M failed`; the exit status is non-zero if any test failed.
//! `scripts/test` counts these lines. Run inside the test VM: `scripts/vm -- partcp-vmtest`.
//!
//! Usage: `partcp-vmtest [--list] [FILTER...]` (a test runs if its name contains any FILTER).

mod lifecycle;
mod sockets;
mod sys;

/// A test's outcome: `Err` carries the reason.
pub type TestResult = Result<(), String>;

/// A named test.
pub struct Test {
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

/// Fails the current test with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list = args.iter().any(|a| a == "--list");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();

    // Socket tests first; lifecycle tests unload and reload the module, and end with it loaded.
    let tests: Vec<Test> = sockets::TESTS
        .iter()
        .chain(lifecycle::TESTS.iter())
        .filter(|t| filters.is_empty() || filters.iter().any(|f| t.name.contains(f.as_str())))
        .map(|t| Test { name: t.name, run: t.run })
        .collect();

    if list {
        for t in &tests {
            println!("{}", t.name);
        }
        return;
    }

    let (mut passed, mut failed) = (0, 0);
    for (i, t) in tests.iter().enumerate() {
        match std::panic::catch_unwind(t.run) {
            Ok(Ok(())) => {
                passed += 1;
                println!("ok {} - {}", i + 1, t.name);
            }
            Ok(Err(why)) => {
                failed += 1;
                println!("not ok {} - {}: {}", i + 1, t.name, why);
            }
            Err(_) => {
                failed += 1;
                println!("not ok {} - {}: panicked", i + 1, t.name);
            }
        }
    }
    println!("# {passed} passed, {failed} failed");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
