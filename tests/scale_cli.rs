//! Runs the `scale` example as a subprocess (a small run) and checks its
//! contract: every step reported, the replayed state equal to the live one,
//! `--help` on stdout with exit 0, bad arguments exit 2.

#[path = "support/cli.rs"]
mod cli;

use std::process::{Command, Output};

use cli::example_bin;

fn run(args: &[&str]) -> Output {
    Command::new(example_bin("scale"))
        .args(args)
        .output()
        .expect("example runs")
}

#[test]
fn small_run_reports_every_step() {
    let out = run(&["--exposures", "20000", "--seed", "3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    for step in [
        "serve + record + journal: 20000",
        "snapshot:",
        "restore:",
        "journal decode: 20000 entries",
        "2000 new, 0 repeat, 18000 skipped",
        "same state as the live host",
    ] {
        assert!(stdout.contains(step), "{step} missing from {stdout}");
    }
    // 24 bytes per exposure plus a small metadata block.
    let line = stdout
        .lines()
        .find(|l| l.starts_with("snapshot:"))
        .expect("a snapshot line");
    let per: f64 = line
        .split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("bytes per exposure");
    assert!((24.0..=32.0).contains(&per), "{line}");
}

#[test]
fn help_and_bad_arguments() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--exposures N"));
    let out = run(&["--exposures", "many"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: scale"));
    let out = run(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
}
