//! The `campaign` example, run as a subprocess with a small broadcast: the table's
//! shares sum to 100%, its clicks reconcile with the attribution buckets, the
//! SVG chart's series are the allocations of the progress lines, its posterior
//! axis falls on round rates, and the Currents files it writes under Braze's key
//! layout can be inspected at once.

#[path = "support/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cli::example_bin;
use dynopt::currents::{DecodeOptions, EventType, ObjectKey};
use dynopt::pii::Filter;

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

/// `variant=percent%` pairs of a progress line's `allocation` section, as fractions.
fn shares_of(line: &str) -> Vec<(String, f64)> {
    let (_, shares) = line
        .split_once("| allocation ")
        .expect("progress line has an allocation");
    shares
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("v=share");
            let pct = v.strip_suffix('%').expect("share in percent");
            let pct = pct.parse::<f64>().expect("share is a number");
            (k.to_string(), pct / 100.0)
        })
        .collect()
}

fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let pat = format!("{name}=\"");
    let start = tag.find(&pat).expect("attribute present") + pat.len();
    let end = tag[start..].find('"').expect("attribute closed") + start;
    &tag[start..end]
}

/// The two ends of `[low,high]`.
fn bracket(cell: &str) -> (&str, &str) {
    cell.strip_prefix('[')
        .and_then(|c| c.strip_suffix(']'))
        .and_then(|c| c.split_once(','))
        .unwrap_or_else(|| panic!("an interval [low,high]: {cell}"))
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
        assert!(
            l.contains(" of 12000 |"),
            "served is a count of the audience: {l}"
        );
        if l.starts_with("batch ") {
            let shares = shares_of(l);
            assert_eq!(shares.len(), 4, "{l}");
            let total: f64 = shares.iter().map(|(_, s)| s).sum();
            assert!((total - 1.0).abs() < 1e-3, "shares sum to 1: {l}");
        } else {
            // Nobody is served after the send: no allocation, no shares.
            assert!(!l.contains("allocation") && !l.contains("shares"), "{l}");
        }
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
    let mut controls = 0;
    for row in &rows {
        // Parse from the right: the wording may contain spaces and percent signs.
        let t: Vec<&str> = row.split_whitespace().collect();
        assert!(t.len() >= 13, "{row}");
        let pct = |s: &str| -> f64 {
            s.strip_suffix('%')
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("percentage {s} in {row}"))
        };
        // The four uplift cells come last: the uplift over the control and its
        // interval, the incremental clicks and theirs.
        let n = t.len() - 4;
        let (uplift, interval, incr, incr_interval) = (t[n], t[n + 1], t[n + 2], t[n + 3]);
        if uplift == "control" {
            controls += 1;
            assert_eq!(row.split_whitespace().next(), Some("v0"), "{row}");
            assert_eq!([interval, incr, incr_interval], ["–", "–", "–"], "{row}");
        } else {
            let (lo, hi) = bracket(interval);
            let (lo, hi) = (pct(lo), pct(hi));
            let rel = pct(uplift);
            assert!(lo <= rel && rel <= hi, "uplift inside its interval: {row}");
            let (ilo, ihi) = bracket(incr_interval);
            let num =
                |s: &str| -> f64 { s.parse().unwrap_or_else(|_| panic!("number {s} in {row}")) };
            let inc = num(incr);
            assert!(
                num(ilo) <= inc && inc <= num(ihi),
                "incremental clicks inside their interval: {row}"
            );
        }
        let (high, low) = (pct(t[n - 1]), pct(t[n - 3]));
        let p_best: f64 = t[n - 4].parse().expect("P(best) column");
        let ctr = pct(t[n - 5]);
        let clicks: u64 = t[n - 6].parse().expect("clicks column");
        let share = pct(t[n - 7]);
        let served_count: f64 = t[n - 8].parse().expect("served column (a count)");
        assert!(
            (served_count / 12_000.0 * 100.0 - share).abs() < 0.006,
            "share = served / audience: {row}"
        );
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
    assert_eq!(controls, 1, "one control row (v0): {stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("control: v0 ")),
        "{stdout}"
    );
    // The opens and guardrail table: one row per wording, with a status.
    let guard_rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("opens, conversions and guardrails:"))
        .filter(|l| l.starts_with("  v") && !l.starts_with("  variant"))
        .collect();
    assert_eq!(guard_rows.len(), 4, "{stdout}");
    for row in &guard_rows {
        let status = row.split("  ").last().expect("status").trim();
        assert!(
            ["ok", "watch", "capped", "retired"]
                .iter()
                .any(|s| status.starts_with(s)),
            "{row}"
        );
    }
    assert!(
        guard_rows[0].trim_end().ends_with(" ok"),
        "the control is never capped: {}",
        guard_rows[0]
    );
    // The SRM check: ok or ALARM, with its p-value.
    let srm = stdout
        .lines()
        .find(|l| l.starts_with("SRM check: "))
        .expect("SRM line");
    assert!(
        srm.starts_with("SRM check: ok (") || srm.starts_with("SRM check: ALARM ("),
        "{srm}"
    );
    let p: f64 = srm
        .split_once("p = ")
        .and_then(|(_, r)| r.split(',').next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("p-value in {srm}"));
    assert!((0.0..=1.0).contains(&p), "{srm}");

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

    // The chart: one allocation series per variant whose values are the send
    // batches' allocations.
    let batches: Vec<&str> = progress
        .iter()
        .copied()
        .filter(|l| l.starts_with("batch "))
        .collect();
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
        assert_eq!(values.len(), batches.len());
        for (line, v) in batches.iter().zip(&values) {
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
    assert!(
        svg.contains(">v0 (control)</text>"),
        "the legend marks the control"
    );
    // The conversion stream: one count per variant, as many as the table's.
    assert_eq!(svg.matches("class=\"conversions\"").count(), 4);
    let posteriors = svg.matches("class=\"posterior\"").count();
    assert_eq!(posteriors, 4);
    // The posterior axis ticks fall on round rates: evenly spaced, with a step of
    // 1, 2 or 5 times a power of ten (in percent), each a whole number of steps.
    let ticks: Vec<f64> = svg
        .split('<')
        .filter(|t| t.starts_with("text class=\"posterior-tick\""))
        .map(|t| attr(t, "data-value").parse::<f64>().expect("tick value"))
        .collect();
    assert!(ticks.len() >= 3, "{ticks:?}");
    let step = ticks[1] - ticks[0];
    let mantissa = step * 100.0 / 10f64.powf((step * 100.0).log10().floor());
    assert!(
        [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6),
        "round step: {ticks:?}"
    );
    for (i, t) in ticks.iter().enumerate() {
        assert!((t / step - (t / step).round()).abs() < 1e-6, "{ticks:?}");
        assert!((t - ticks[0] - i as f64 * step).abs() < 1e-9, "{ticks:?}");
    }

    check_currents_files(&dir, &stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every `.avro` file under `dir`, recursively, relative to `dir`, sorted.
fn avro_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "avro") {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The Currents files under `DIR/currents`: one raw and one sanitized file per
/// delivery, under the same Braze object key, which `ObjectKey::parse` reads; the
/// sanitized ones decode with their recipient keys and `inspect` prints them.
fn check_currents_files(dir: &Path, stdout: &str) {
    let currents = stdout
        .lines()
        .find(|l| l.starts_with("currents: "))
        .expect("currents line");
    let delivered = number_after(currents, "currents:");
    let raw = avro_files(&dir.join("currents/braze"));
    let sanitized = avro_files(&dir.join("currents/sanitized"));
    assert_eq!(raw.len() as u64, delivered, "one raw file per delivery");
    assert_eq!(raw, sanitized, "the same keys on both sides");
    // In delivery order per event type: by the offset of the key's file name
    // (not zero-padded); each event type is its own partition.
    let mut keyed: Vec<(ObjectKey, PathBuf)> = raw
        .iter()
        .map(|k| {
            let parsed = ObjectKey::parse(&k.to_string_lossy()).expect("a Braze object key");
            (parsed, k.clone())
        })
        .collect();
    keyed.sort_by_key(|(parsed, _)| (parsed.event_type.map(|t| t.name()), parsed.offset));
    let mut records = std::collections::BTreeMap::new();
    let mut first_key = None;
    for (parsed, key) in &keyed {
        let kind = parsed.event_type.expect("an event type");
        assert!(
            [
                EventType::Click,
                EventType::Open,
                EventType::Unsubscribe,
                EventType::CampaignConversion
            ]
            .contains(&kind),
            "{key:?}"
        );
        assert!(parsed.queue_hour.is_some(), "{key:?}");
        let n = records.entry(kind).or_insert(0u64);
        assert_eq!(parsed.offset, Some(*n), "offsets count records: {key:?}");
        let bytes = std::fs::read(dir.join("currents/sanitized").join(key)).expect("file");
        let clean = Filter::default().clean_file(&bytes, &DecodeOptions::default());
        assert!(clean.error.is_none(), "{key:?}: {:?}", clean.error);
        assert!(clean.events.iter().all(|e| e.event_type == kind), "{key:?}");
        *n += clean.events.len() as u64;
        if first_key.is_none() && kind == EventType::Click {
            first_key = clean.events.first().and_then(|e| e.recipient_key);
        }
    }
    let buckets = stdout
        .lines()
        .find(|l| l.starts_with("attribution buckets:"))
        .expect("bucket line");
    assert_eq!(
        records.get(&EventType::Click).copied(),
        Some(number_after(buckets, "delivered:"))
    );
    // Every open and unsubscribe record delivered is in exactly one bucket.
    let total_of = |prefix: &str| {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} line"));
        number_after(line, "total")
    };
    assert_eq!(
        records.get(&EventType::Open).copied(),
        Some(total_of("open buckets:"))
    );
    assert_eq!(
        records.get(&EventType::Unsubscribe).copied(),
        Some(total_of("unsubscribe buckets:"))
    );
    assert_eq!(
        records.get(&EventType::CampaignConversion).copied(),
        Some(total_of("conversion buckets:"))
    );
    keyed.retain(|(parsed, _)| parsed.event_type == Some(EventType::Click));

    // inspect runs on a written file and shows the recipient key.
    let first = dir.join("currents/sanitized").join(&keyed[0].1);
    let out = Command::new(example_bin("inspect"))
        .arg(&first)
        .output()
        .expect("inspect runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let key = first_key.expect("sanitized files carry recipient keys");
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.ends_with(&format!(",\"recipient_key\":\"{key}\"}}"))),
        "{text}"
    );
    // The raw file as Braze writes it: inspect prints no personal data and no key.
    let out = Command::new(example_bin("inspect"))
        .arg(dir.join("currents/braze").join(&keyed[0].1))
        .output()
        .expect("inspect runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!text.is_empty() && !text.contains("recipient_key") && !text.contains('@'));
}

#[test]
fn help_goes_to_stdout_with_exit_0() {
    for flag in ["--help", "-h"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("usage: campaign"), "{stdout}");
        assert!(
            stdout.contains("examples:") && stdout.contains("--out DIR"),
            "{stdout}"
        );
        assert!(out.stderr.is_empty());
    }
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
        assert_eq!(out.status.code(), Some(2), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("usage: campaign"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
