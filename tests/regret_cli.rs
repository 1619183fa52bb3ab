//! Runs the `regret` example as a subprocess (small runs) and checks its
//! command-line contract: the JSON last line and sane relations.

#[path = "support/cli.rs"]
mod cli;

use std::process::{Command, Output};

use cli::example_bin;

fn run(args: &[&str]) -> Output {
    Command::new(example_bin("regret"))
        .args(args)
        .output()
        .expect("example runs")
}

#[test]
fn json_contract_and_sanity() {
    let out = run(&[
        "--runs",
        "3",
        "--seed",
        "5",
        "--horizon",
        "20000",
        "--batch-size",
        "2000",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        stdout.contains("Chapelle & Li") && stdout.contains("Delayed email"),
        "{stdout}"
    );
    let last = stdout.lines().last().expect("output");
    let v: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");
    let obj = v.as_object().expect("object");
    let mut top: Vec<&str> = obj.keys().map(String::as_str).collect();
    top.sort_unstable();
    assert_eq!(top, ["chapelle_li", "delayed_email"]);

    let cl = v["chapelle_li"].as_object().expect("object");
    let mut keys: Vec<&str> = cl.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "epsilon_greedy",
            "horizon",
            "lai_robbins",
            "runs",
            "thompson",
            "ucb1",
            "uniform"
        ]
    );
    let f =
        |o: &serde_json::Map<String, serde_json::Value>, k: &str| o[k].as_f64().expect("number");
    assert_eq!(f(cl, "horizon"), 20_000.0);
    assert_eq!(f(cl, "runs"), 3.0);
    // Uniform regret is 0.9 * 0.02 per step in expectation.
    assert!(
        (f(cl, "uniform") / (20_000.0 * 0.018) - 1.0).abs() < 0.05,
        "{cl:?}"
    );
    for k in ["thompson", "ucb1", "epsilon_greedy"] {
        assert!(f(cl, k) > 0.0 && f(cl, k) < f(cl, "uniform"), "{k}: {cl:?}");
    }
    assert!(f(cl, "thompson") < f(cl, "ucb1"), "{cl:?}");
    // Lai-Robbins: 9 * 0.02 / KL(0.08 || 0.10) * ln T, computed here.
    let kl = 0.08 * (0.08f64 / 0.10).ln() + 0.92 * (0.92f64 / 0.90).ln();
    assert!((f(cl, "lai_robbins") - 9.0 * 0.02 / kl * 20_000f64.ln()).abs() < 1e-6);

    let de = v["delayed_email"].as_object().expect("object");
    let mut keys: Vec<&str> = de.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "mean_stop_batch",
            "runs",
            "stop_correct_rate",
            "stop_rate",
            "thompson_delay_aware",
            "thompson_immediate",
            "thompson_naive",
            "uniform"
        ]
    );
    assert_eq!(f(de, "runs"), 3.0);
    // Uniform: 50 batches of 2000, mean gap 0.030 - 0.0248.
    assert!(
        (f(de, "uniform") / (100_000.0 * 0.0052) - 1.0).abs() < 0.05,
        "{de:?}"
    );
    for k in [
        "thompson_immediate",
        "thompson_naive",
        "thompson_delay_aware",
    ] {
        assert!(f(de, k) > 0.0 && f(de, k) < f(de, "uniform"), "{k}: {de:?}");
    }
    for k in ["stop_rate", "stop_correct_rate"] {
        assert!((0.0..=1.0).contains(&f(de, k)), "{k}: {de:?}");
    }
    assert!(f(de, "stop_correct_rate") <= f(de, "stop_rate"));
    match de["mean_stop_batch"].as_f64() {
        Some(b) => assert!((1.0..50.0).contains(&b), "{de:?}"),
        None => assert_eq!(f(de, "stop_rate"), 0.0),
    }
}

#[test]
fn realistic_scenario_json_and_sanity() {
    let out = run(&[
        "--scenario",
        "realistic",
        "--runs",
        "2",
        "--seed",
        "3",
        "--threads",
        "2",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(stdout.starts_with("Realistic send: 200000 recipients in 72 five-minute batches"));
    assert!(!stdout.contains("Chapelle & Li"), "{stdout}");
    let last = stdout.lines().last().expect("output");
    let v: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");
    let r = v["realistic"].as_object().expect("realistic object");
    assert_eq!(r["runs"].as_f64(), Some(2.0));
    for mode in ["oracle", "tag_serve_time", "tag_no_serve_time"] {
        let m = r[mode].as_object().expect("mode object");
        let f = |k: &str| m[k].as_f64().unwrap_or_else(|| panic!("{mode}.{k}: {m:?}"));
        // Regret: positive, below serving the worst wording to everyone.
        assert!(
            f("regret") > 0.0 && f("regret") < 200_000.0 * 0.007,
            "{m:?}"
        );
        assert!(f("regret_p99") >= f("regret") - 1e-9, "p99 ≥ mean: {m:?}");
        let shares = m["best_share_by_hour"].as_array().expect("shares");
        assert_eq!(shares.len(), 6);
        for s in shares {
            let s = s.as_f64().expect("share");
            assert!((0.0..=1.0).contains(&s), "{m:?}");
        }
        assert!((0.0..=1.0).contains(&f("stop_rate")), "{m:?}");
        assert!((0.0..=1.0).contains(&f("uplift_coverage")), "{m:?}");
        // Five wordings besides the control, one interval each per run at most.
        assert!(f("uplift_intervals") <= 10.0, "{m:?}");
    }
    let oracle = r["oracle"]["ratio_to_oracle"].as_f64();
    assert_eq!(oracle, Some(1.0));
    // The same runs give the same figures.
    let again = run(&[
        "--scenario",
        "realistic",
        "--runs",
        "2",
        "--seed",
        "3",
        "--threads",
        "1",
        "--json",
    ]);
    let again = String::from_utf8(again.stdout).expect("utf-8");
    assert_eq!(again.lines().last(), Some(last), "deterministic for a seed");
}

#[test]
fn rewards_scenario_json_and_sanity() {
    let args = [
        "--scenario",
        "rewards",
        "--runs",
        "2",
        "--seed",
        "4",
        "--batch-size",
        "400",
        "--json",
    ];
    let out = run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(stdout.starts_with("Opens reward:"), "{stdout}");
    assert!(stdout.contains("Conversions reward:") && stdout.contains("Guardrails:"));
    let last = stdout.lines().last().expect("output");
    let v: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");
    let r = &v["rewards"];
    let f = |path: &[&str]| {
        let mut x = r;
        for p in path {
            x = &x[*p];
        }
        x.as_f64().unwrap_or_else(|| panic!("{path:?} in {r}"))
    };
    assert_eq!(f(&["runs"]), 2.0);
    // 30 batches of 400: regret below serving the worst wording (4 points) to all.
    for k in [
        ["opens_even", "filtered"],
        ["opens_even", "unfiltered"],
        ["opens_correlated", "filtered"],
        ["opens_correlated", "unfiltered"],
    ] {
        assert!((0.0..30.0 * 400.0 * 0.04).contains(&f(&k)), "{k:?}: {r}");
    }
    for k in ["delay_aware", "naive", "oracle", "uniform"] {
        assert!(
            (0.0..72.0 * 80.0 * 0.005).contains(&f(&["conversions", k])),
            "{k}: {r}"
        );
    }
    assert_eq!(f(&["guardrails", "runs"]), 5.0);
    for k in ["caught_rate", "false_cap_rate", "bait_final_share"] {
        assert!((0.0..=1.0).contains(&f(&["guardrails", k])), "{k}: {r}");
    }
    let again = run(&args);
    let again = String::from_utf8(again.stdout).expect("utf-8");
    assert_eq!(again.lines().last(), Some(last), "deterministic for a seed");
}

#[test]
fn bad_arguments_are_reported_without_a_panic() {
    for args in [
        &["--scenario", "surreal"][..],
        &["--runs", "many"],
        &["--frobnicate"],
        &["--runs"],
        &["--runs", "0"],
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr.starts_with("regret: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn help_goes_to_stdout_with_exit_0() {
    for flag in ["--help", "-h"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(out.stderr.is_empty());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("usage: regret"), "{help}");
        assert!(help.contains("examples:"), "{help}");
    }
}
