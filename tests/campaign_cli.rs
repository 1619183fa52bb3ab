//! The `campaign` example, run as a subprocess with a small broadcast: the table's
//! shares sum to 100%, its clicks reconcile with the attribution buckets, and the
//! SVG chart's series are the shares of the progress lines.

#[path = "support/cli.rs"]
mod cli;

use std::path::PathBuf;
use std::process::{Command, Output};

use cli::example_bin;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dynopt-campaign-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(args: &[&str]) -> Output {
    Command::new(example_bin("campaign"))
        .args(args)
        .output()
        .expect("campaign runs")
}

/// `key=value` pairs of a progress line's `shares` section.
fn shares_of(line: &str) -> Vec<(String, f64)> {
    let (_, shares) = line
        .split_once("| shares ")
        .expect("progress line has shares");
    shares
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("v=share");
            (k.to_string(), v.parse::<f64>().expect("share is a number"))
        })
        .collect()
}

fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let pat = format!("{name}=\"");
    let start = tag.find(&pat).expect("attribute present") + pat.len();
    let end = tag[start..].find('"').expect("attribute closed") + start;
    &tag[start..end]
}

fn number_after(line: &str, word: &str) -> u64 {
    let i = line
        .find(word)
        .unwrap_or_else(|| panic!("{word} in {line}"))
        + word.len();
    line[i..]
        .split_whitespace()
        .next()
        .and_then(|t| t.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
        .unwrap_or_else(|| panic!("number after {word} in {line}"))
}

#[test]
fn small_campaign_reconciles_table_buckets_and_chart() {
    let dir = out_dir("small");
    let out = run(&[
        "--recipients",
        "12000",
        "--variants",
        "4",
        "--seed",
        "11",
        "--out",
        dir.to_str().expect("utf-8 temp path"),
    ]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\n{stderr}\n{stdout}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Progress lines: 72 send batches, then the tail every 6 hours.
    let progress: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("batch ") || l.trim_start().starts_with("tail+"))
        .collect();
    assert_eq!(
        progress.iter().filter(|l| l.starts_with("batch ")).count(),
        72
    );
    assert_eq!(progress.len(), 72 + 12);
    // Served counts grow to the whole audience during the send.
    assert_eq!(number_after(progress[71], "served"), 12_000);
    let mut last_clicks = 0;
    for l in &progress {
        let shares = shares_of(l);
        assert_eq!(shares.len(), 4, "{l}");
        let total: f64 = shares.iter().map(|(_, s)| s).sum();
        assert!((total - 1.0).abs() < 1e-3, "shares sum to 1: {l}");
        let clicks = number_after(l, "clicks");
        assert!(clicks >= last_clicks, "clicks never go down: {l}");
        last_clicks = clicks;
    }

    // The final table.
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with('v') && l.contains('%') && !l.starts_with("variant"))
        .collect();
    assert_eq!(rows.len(), 4, "{stdout}");
    let mut share_total = 0.0;
    let mut click_total = 0;
    for row in &rows {
        // Parse from the right: the wording may contain spaces and percent signs.
        let t: Vec<&str> = row.split_whitespace().collect();
        assert!(t.len() >= 9, "{row}");
        let pct = |s: &str| -> f64 {
            s.strip_suffix('%')
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("percentage {s} in {row}"))
        };
        let n = t.len();
        let (high, low) = (pct(t[n - 1]), pct(t[n - 3]));
        let p_best: f64 = t[n - 4].parse().expect("P(best) column");
        let ctr = pct(t[n - 5]);
        let clicks: u64 = t[n - 6].parse().expect("clicks column");
        let share = pct(t[n - 7]);
        share_total += share;
        click_total += clicks;
        assert!(low <= high, "interval ordered: {row}");
        assert!((0.0..=1.0).contains(&p_best), "{row}");
        let served = share / 100.0 * 12_000.0;
        assert!(
            (ctr / 100.0 * served - clicks as f64).abs() <= 1.0,
            "CTR = clicks / served: {row}"
        );
    }
    assert!(
        (share_total - 100.0).abs() < 0.05,
        "shares sum to 100%: {share_total}"
    );

    let buckets = stdout
        .lines()
        .find(|l| l.starts_with("attribution buckets:"))
        .expect("bucket line");
    let attributed = number_after(buckets, "attributed");
    let parts = [
        attributed,
        number_after(buckets, "duplicate"),
        number_after(buckets, "bot"),
        number_after(buckets, "unattributable"),
        number_after(buckets, "late"),
        number_after(buckets, "outside"),
    ];
    let total = number_after(buckets, "total");
    let delivered = number_after(buckets, "delivered:");
    assert_eq!(click_total, attributed, "table clicks = attributed bucket");
    assert_eq!(parts.iter().sum::<u64>(), total, "buckets add up");
    assert_eq!(
        total, delivered,
        "every delivered click record is in a bucket"
    );
    assert_eq!(last_clicks, attributed, "last progress line = final clicks");
    assert!(
        number_after(buckets, "duplicate") > 0,
        "duplicates were simulated"
    );
    assert!(number_after(buckets, "bot") > 0, "bots were simulated");

    assert!(stdout.lines().any(|l| l.starts_with("winner: ")));
    assert!(stdout.contains("clicks gained over an even split: expected"));
    // Nothing personal reaches the output.
    assert!(!stdout.contains("@mail.example.net"));
    assert!(!stdout.contains("cust-0"));

    // The chart: one allocation series per variant whose values are the progress lines' shares.
    let chart_line = stdout
        .lines()
        .find(|l| l.starts_with("chart: "))
        .expect("chart path printed");
    let path = PathBuf::from(chart_line.trim_start_matches("chart: ").trim());
    let svg = std::fs::read_to_string(&path).expect("chart written");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let series: Vec<&str> = svg
        .split('<')
        .filter(|t| t.starts_with("path class=\"allocation\""))
        .collect();
    assert_eq!(series.len(), 4);
    for s in &series {
        let variant = attr(s, "data-variant");
        let values: Vec<f64> = attr(s, "data-values")
            .split(',')
            .map(|v| v.parse().expect("number"))
            .collect();
        assert_eq!(values.len(), progress.len());
        for (line, v) in progress.iter().zip(&values) {
            let share = shares_of(line)
                .into_iter()
                .find(|(k, _)| k == variant)
                .map(|(_, s)| s)
                .expect("variant in progress line");
            assert!(
                (share - v).abs() < 1e-4,
                "{variant}: chart {v} vs line {share}"
            );
        }
    }
    let posteriors = svg.matches("class=\"posterior\"").count();
    assert_eq!(posteriors, 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_print_usage() {
    for args in [
        &["--variants", "1"][..],
        &["--variants", "51"][..],
        &["--recipients", "lots"][..],
        &["--bogus"][..],
        &["--seed"][..],
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("usage: campaign"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
