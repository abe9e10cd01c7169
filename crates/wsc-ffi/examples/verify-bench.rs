//! `cargo xtask bench --ffi` runs this: the Rust call `wsc_verify` makes
//! (`Policy::evaluate` on a module in memory, then the verdict JSON), RUNS
//! times after one warm-up call, like bench/bench.c does through the C
//! API. Prints the milliseconds of each call.
//!
//! Usage: verify-bench POLICY MODULE RUNS

use std::time::{Instant, SystemTime};

use wsc_policy::{Decision, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [policy, module, runs] = args.as_slice() else {
        return Err("usage: verify-bench POLICY MODULE RUNS".into());
    };
    let policy = wsc_policy::load_file(policy.as_ref())?;
    let bytes = std::fs::read(module)?;
    let runs: i64 = runs.parse()?;
    for i in -1..runs {
        let t = Instant::now();
        let verdict = policy.evaluate(&bytes[..], Some(bytes.len() as u64), &Target::unnamed(), SystemTime::now())?;
        let report = serde_json::to_string_pretty(&verdict.to_json())?;
        drop(report);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if verdict.decision() != Decision::Accepted {
            return Err("not accepted".into());
        }
        if i >= 0 {
            println!("{ms:.3}");
        }
    }
    Ok(())
}
