//! Scale run of the host facade: N exposures served through `Host::serve`
//! (each journalled), then one binary snapshot, a restore and a JSON-free
//! replay check, printing time and memory for each step.
//!
//! ```text
//! cargo run --release --example scale -- [--exposures N] [--seed S]
//! ```
//!
//! Recipient keys are 16 random bytes (statistically what an HMAC gives);
//! exposures are spread over 6 hours of simulated time. Memory is the
//! process's resident set (`VmRSS`, peak `VmHWM`) read from
//! `/proc/self/status` where it exists.

use std::process::ExitCode;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use dynopt::attribution::{Mode, Scope};
use dynopt::host::{ExperimentDef, Host, SegmentReader};
use dynopt::{ExperimentId, RecipientKey};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

const HELP: &str = "\
Serves N exposures through dynopt's host facade, then snapshots and restores
the state, printing time and memory for each step.

Usage: scale [--exposures N] [--seed S]

Options:
  --exposures N  exposures to serve (default 10000000)
  --seed S       seed of the recipient keys (default 1)
  -h, --help     print this help

Example:
  cargo run --release --example scale -- --exposures 10000000
";

struct Args {
    exposures: u64,
    seed: u64,
}

fn parse() -> Result<Option<Args>, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut args = Args {
        exposures: 10_000_000,
        seed: 1,
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("exposures") => {
                args.exposures = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .parse()
                    .map_err(|e: lexopt::Error| e.to_string())?;
            }
            Long("seed") => {
                args.seed = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .parse()
                    .map_err(|e: lexopt::Error| e.to_string())?;
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Some(args))
}

/// `VmRSS` and `VmHWM` in MB, when the platform has `/proc/self/status`.
fn rss() -> String {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return "n/a".to_owned();
    };
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or("?".to_owned(), |kb| format!("{:.0} MB", kb / 1024.0))
    };
    format!("rss {} (peak {})", field("VmRSS:"), field("VmHWM:"))
}

fn rate(n: u64, secs: f64) -> String {
    format!("{:.2} M/s", n as f64 / secs / 1e6)
}

fn run(args: &Args) -> Result<(), String> {
    let n = args.exposures;
    let mut host = Host::new();
    host.add_experiment(
        ExperimentDef::new(
            "subject",
            Scope::campaign("cmp-1"),
            Mode::ExposureJoin,
            0x5eed,
        )
        .variant("A")
        .variant("B")
        .variant("C"),
    )
    .map_err(|e| e.to_string())?;
    let id = ExperimentId::new("subject");
    let t0 = Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap();
    let span = 6 * 3600;
    let mut rng = Pcg64::seed_from_u64(args.seed);
    let keys: Vec<RecipientKey> = (0..n).map(|_| RecipientKey(rng.random())).collect();
    println!("keys generated: {n}; {}", rss());

    let mut journal = Vec::with_capacity((n as usize).saturating_mul(70));
    // A snapshot after 90% of the serves (untimed) is the crash-recovery base.
    let cut = (n - n / 10) as usize;
    let mut early = Vec::new();
    let mut serve = 0.0;
    for (lo, hi) in [(0, cut), (cut, n as usize)] {
        let start = Instant::now();
        for (i, k) in keys.iter().enumerate().take(hi).skip(lo) {
            let at = t0 + Duration::seconds(i as i64 * span / n.max(1) as i64);
            let (_, entry) = host.serve(&id, *k, at).map_err(|e| e.to_string())?;
            entry.encode(&mut journal);
        }
        serve += start.elapsed().as_secs_f64();
        if lo == 0 {
            early = host.snapshot();
        }
    }
    println!(
        "serve + record + journal: {n} in {serve:.2} s ({}); journal {:.1} bytes/exposure; attribution {:.1} bytes/exposure; {}",
        rate(n, serve),
        journal.len() as f64 / n.max(1) as f64,
        host.attribution().memory_bytes() as f64 / n.max(1) as f64,
        rss()
    );

    let start = Instant::now();
    let state = host.snapshot();
    let enc = start.elapsed().as_secs_f64();
    println!(
        "snapshot: {:.1} MB, {:.2} bytes/exposure, {enc:.3} s ({}); {}",
        state.len() as f64 / 1e6,
        state.len() as f64 / n.max(1) as f64,
        rate(n, enc),
        rss()
    );

    let start = Instant::now();
    let restored = Host::restore(&state).map_err(|e| e.to_string())?;
    let dec = start.elapsed().as_secs_f64();
    println!("restore: {dec:.3} s ({}); {}", rate(n, dec), rss());
    if restored.attribution().tracked_exposures() as u64 != n {
        return Err("restored a different number of exposures".to_owned());
    }
    drop(restored);

    // Crash recovery: the snapshot taken after 90% of the serves, plus the whole journal
    // (entries it already holds are skipped by sequence number).
    let start = Instant::now();
    let decoded = SegmentReader::new(&journal).count();
    let decode = start.elapsed().as_secs_f64();
    let mut fresh = Host::restore(&early).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let (new, repeat, skipped) = fresh
        .replay_entries(SegmentReader::new(&journal))
        .map_err(|e| e.to_string())?;
    let replay = start.elapsed().as_secs_f64();
    println!(
        "journal decode: {decoded} entries in {decode:.3} s ({}); restore at 90% + replay (decode included): {new} new, {repeat} repeat, {skipped} skipped in {replay:.3} s",
        rate(n, decode)
    );
    let now = t0 + Duration::seconds(span);
    let seeded = || Pcg64::seed_from_u64(9);
    if fresh.report(now, &mut seeded()) != host.report(now, &mut seeded())
        || fresh.applied().collect::<Vec<_>>() != host.applied().collect::<Vec<_>>()
        || new != n - cut as u64
    {
        return Err("snapshot + journal differs from the live state".to_owned());
    }
    println!("snapshot at 90% + journal replayed: same state as the live host");
    Ok(())
}

fn main() -> ExitCode {
    match parse() {
        Ok(None) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(Some(args)) => match run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("scale: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("scale: {e}\nUsage: scale [--exposures N] [--seed S]");
            ExitCode::from(2)
        }
    }
}
