//! The main job: a Braze broadcast optimised end to end, with real bytes.
//!
//! ```text
//! cargo run --release --example campaign [-- --recipients N --variants K --seed S --out DIR]
//! ```
//!
//! Besides the chart, `--out DIR` (default `target/campaign`) receives every
//! Currents file the run builds, raw (`DIR/currents/braze/`) and sanitized
//! (`DIR/currents/sanitized/`), under Braze's object key layout, to try `inspect`
//! and `sanitize` on.
//!
//! Two parties, as in production:
//! - the **customer side** (holds personal data) serves Connected Content calls
//!   through the host, receives Braze Currents Click, Open, Unsubscribe and
//!   Conversion files every 5 minutes (real
//!   Avro bytes with user ids, emails and emails inside URLs) and runs
//!   `dynopt::pii::sanitize` with the shared pseudonym key;
//! - the **optimising side** decodes the PII-free files straight into clean
//!   events, attributes clicks to the variant each recipient was shown, and
//!   feeds the Thompson-sampling optimiser, whose allocation is recomputed every
//!   5 minutes and serves the next batch.
//!
//! The hidden click rates, delays, duplicates and bots are simulated; everything
//! the library sees goes through its public API.
//!
//! - `host.rs`: the library calls a host service makes (copy it into a service);
//! - `sim.rs`: the hidden truth and what Braze produces from it;
//! - `braze.rs`: Braze-shaped Currents Click, Open, Unsubscribe and Conversion files;
//! - `report.rs` and `svg.rs`: what is printed and the chart;
//! - this file: the arguments and the loop that ties them together.

mod braze;
mod host;
mod report;
mod sim;
mod svg;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, TimeZone, Utc};
use dynopt::ExperimentId;

use host::{BrazeScope, Host};
use report::{Printer, Stage};
use sim::Sim;

const USAGE: &str = "usage: campaign [--recipients N] [--variants K] [--seed S] [--out DIR]";

const HELP: &str = "\
campaign: a Braze email broadcast optimised by dynopt, end to end, simulated

usage: campaign [--recipients N] [--variants K] [--seed S] [--out DIR]

Simulates a throttled 6-hour send in which every recipient's subject line is
chosen by Thompson sampling (allocation recomputed every 5 minutes), with
Braze-shaped Currents Click, Open, Unsubscribe and Conversion files every 5
minutes (delayed clicks, redelivered duplicates, bot clicks, 41% machine opens,
purchases by 15% of clickers, personal data) that
the customer side sanitizes and the optimising side decodes and attributes, then a
3-day click tail. The best-clicking wording baits: three times the others'
unsubscribe rate, which the unsubscribe guardrail catches and caps. Prints one
progress line per batch, the final table (with each wording's uplift over the
control, variant 0, the brand's own copy kept at a fixed 10% share), the
sample-ratio-mismatch check, the opens, conversions and guardrails table (human
and machine opens, converters, unsubscribe rates and the guardrail status), the
winner, the clicks
gained over an even split and the attribution buckets.

options:
  --recipients N   recipients in the broadcast (default 200000, 100 to 100000000)
  --variants K     wordings competing, 2 to 50 (default 5); hidden click rates
                   evenly spaced from 2.0% to 3.0%, human open rates from 18%
                   to 22%; from 3 wordings on, the last one baits (unsubscribe
                   rate 0.6% against 0.2%)
  --seed S         seed of the simulation and of the optimiser (default 7)
  --out DIR        where the outputs go (default target/campaign):
                     DIR/allocation.svg           the chart
                     DIR/currents/braze/...       every Currents file as Braze
                                                  writes it (personal data, all
                                                  fictitious), under Braze's key layout
                     DIR/currents/sanitized/...   the same files after sanitize
                   DIR/currents is replaced on every run.
  -h, --help       print this help

examples:
  campaign
  campaign --recipients 20000 --variants 3 --seed 1 --out /tmp/camp
  then try the tools on the files it wrote:
  inspect $(find target/campaign/currents/sanitized -name '*.avro' | sort | head -1)

exit status: 0 on success, 1 when the run fails (for example DIR cannot be
written), 2 on bad arguments.
";

/// The secret shared by the Braze template (`hmac_sha256_hex`) and `sanitize --key-hex`.
const SHARED_SECRET: &[u8] = b"dynopt-campaign-demo-secret";
/// Allocation recomputes and Currents deliveries: every 5 minutes.
const BATCH_SECS: i64 = 300;
/// The throttled send: 6 hours of 5-minute batches.
const SEND_BATCHES: i64 = 72;
const TAIL_SECS: i64 = 3 * 86_400;
const TAIL_REPORT_EVERY: i64 = 6 * 3_600;

const WORDINGS: &[&str] = &[
    "Spring is here: 20% off everything",
    "Your spring wardrobe, 20% off",
    "20% off ends Sunday",
    "We picked these for you (20% off)",
    "Fresh picks for spring, 20% off",
];

/// The baiting wording: the best click rate, three times the others'
/// unsubscribe rate.
const BAIT: &str = "LAST CHANCE!!! 20% off ends TONIGHT";

/// The baiting wording's index: the last (best-clicking) one, when there are
/// at least three wordings (the control and an honest one besides it).
fn bait_index(k: usize) -> Option<usize> {
    (k >= 3).then(|| k - 1)
}

struct Args {
    recipients: u64,
    variants: usize,
    seed: u64,
    out: PathBuf,
}

/// The arguments, or `None` for `--help`.
fn parse_args() -> Result<Option<Args>, String> {
    use lexopt::prelude::*;
    let mut args = Args {
        recipients: 200_000,
        variants: 5,
        seed: 7,
        out: PathBuf::from("target/campaign"),
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("recipients") => {
                let value = parser.value().map_err(|e| e.to_string())?;
                args.recipients = value
                    .parse()
                    .map_err(|_| format!("--recipients: not a number: {value:?}"))?;
                if args.recipients < 100 || args.recipients > 100_000_000 {
                    return Err("--recipients must be between 100 and 100000000".into());
                }
            }
            Long("variants") => {
                let value = parser.value().map_err(|e| e.to_string())?;
                args.variants = value
                    .parse()
                    .map_err(|_| format!("--variants: not a number: {value:?}"))?;
                if !(2..=50).contains(&args.variants) {
                    return Err("--variants must be between 2 and 50".into());
                }
            }
            Long("seed") => {
                let value = parser.value().map_err(|e| e.to_string())?;
                args.seed = value
                    .parse()
                    .map_err(|_| format!("--seed: not a number: {value:?}"))?;
            }
            Long("out") => args.out = PathBuf::from(parser.value().map_err(|e| e.to_string())?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("campaign: {msg}\n{USAGE}\n(campaign --help for more)");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("campaign: {e}");
            ExitCode::FAILURE
        }
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn run(args: &Args) -> Result<(), String> {
    let n = args.recipients;
    let start = Utc
        .with_ymd_and_hms(2026, 3, 20, 9, 0, 0)
        .single()
        .ok_or("bad start time")?
        .timestamp();
    let wordings: Vec<String> = (0..args.variants)
        .map(|i| {
            if bait_index(args.variants) == Some(i) {
                return BAIT.to_string();
            }
            WORDINGS
                .get(i)
                .map(|s| (*s).to_string())
                .unwrap_or_else(|| format!("Wording #{}", i + 1))
        })
        .collect();
    let scope = BrazeScope {
        campaign_id: braze::CAMPAIGN_ID,
        message_variation_id: braze::MESSAGE_VARIATION_ID,
    };
    let experiment = ExperimentId::new("spring-sale-subject");
    let (mut host, ids) = Host::new(experiment, &wordings, scope, SHARED_SECRET, args.seed)?;
    let k = args.variants;
    let mut unsubscribe_rates = vec![sim::UNSUBSCRIBE_RATE; k];
    if let Some(bait) = bait_index(k) {
        unsubscribe_rates[bait] = 3.0 * sim::UNSUBSCRIBE_RATE;
    }
    let mut sim = Sim::new(
        args.seed,
        &ids,
        &sim::true_rates(k),
        &sim::true_open_rates(k),
        &unsubscribe_rates,
        SHARED_SECRET,
    );
    let mut out = Printer::new(start, ids.iter().copied().zip(wordings).collect());
    let mut files = CurrentsDir::create(&args.out)?;

    out.intro(n, sim.rates());
    for b in 0..SEND_BATCHES {
        let t = start + b * BATCH_SECS;
        // 1. Recompute the allocation for the next batch (every 5 minutes).
        let allocation = host.recompute(at(t))?;
        // 2. Serve the batch: one Connected Content call per recipient, evenly throttled.
        for serve in sim::throttled_batch(n, b, t) {
            let call = sim.connected_content_call(serve)?;
            let variant = host.serve(call.key, at(call.time))?;
            if call.rendered_twice {
                // Same answer, counted once.
                host.serve(call.key, at(call.time + 2))?;
            }
            sim.recipient_reacts(&call, variant)?;
        }
        host.apply_updates()?;
        // 3. Five minutes later, Currents delivers the clicks of the last 5 minutes.
        deliver(&mut sim, &mut host, &mut out, &mut files, t + BATCH_SECS)?;
        let report = host.report(at(t + BATCH_SECS))?;
        let served = sim.recipients_served();
        out.progress(
            Stage::Batch(b + 1),
            t,
            served,
            n,
            &host.accounting(),
            &report,
            Some(&allocation),
        );
    }
    // 4. The click tail: Currents keeps delivering for three days.
    let send_end = start + SEND_BATCHES * BATCH_SECS;
    let mut t = send_end;
    while t < send_end + TAIL_SECS {
        t += BATCH_SECS;
        deliver(&mut sim, &mut host, &mut out, &mut files, t)?;
        if (t - send_end) % TAIL_REPORT_EVERY == 0 {
            // The optimiser keeps learning from the late clicks; nobody is served.
            host.recompute(at(t))?;
            let report = host.report(at(t))?;
            let stage = Stage::Tail((t - send_end) / 3_600);
            let served = sim.recipients_served();
            out.progress(stage, t, served, n, &host.accounting(), &report, None);
        }
    }
    // 5. The final table and the chart.
    let report = host.report(at(t))?;
    out.summary(n, &sim, &host, &report, &host.accounting())?;
    files.print_where(SHARED_SECRET);
    let send_hours = (SEND_BATCHES * BATCH_SECS) as f64 / 3_600.0;
    out.chart(&args.out, &host, &report, sim.rates(), send_hours)
}

/// One Currents delivery at `now` (a file per event type Braze has events
/// of): the customer side sanitizes each file, the optimising side ingests it.
fn deliver(
    sim: &mut Sim,
    host: &mut Host,
    out: &mut Printer,
    files: &mut CurrentsDir,
    now: i64,
) -> Result<(), String> {
    for file in sim.currents_files(now) {
        let sanitized = host.sanitize(&file.bytes, at(now))?;
        files.write(file.kind, now, file.records, &file.bytes, &sanitized.bytes)?;
        out.delivered(&file, &sanitized);
        host.ingest(&sanitized.bytes, at(now))?;
    }
    Ok(())
}

/// `DIR/currents`: every Currents file as Braze writes it (`braze/`) and after
/// `sanitize` (`sanitized/`), each under its Braze object key.
struct CurrentsDir {
    root: PathBuf,
    /// The offset of the next file's first record, per event type (one
    /// partition each).
    offsets: std::collections::BTreeMap<dynopt::currents::EventType, u64>,
}

impl CurrentsDir {
    /// Replaces `dir/currents` with an empty one.
    fn create(dir: &Path) -> Result<CurrentsDir, String> {
        let root = dir.join("currents");
        if root.exists() {
            std::fs::remove_dir_all(&root)
                .map_err(|e| format!("cannot remove {}: {e}", root.display()))?;
        }
        std::fs::create_dir_all(&root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        Ok(CurrentsDir {
            root,
            offsets: std::collections::BTreeMap::new(),
        })
    }

    /// Writes one delivery, raw and sanitized, under the same key.
    fn write(
        &mut self,
        kind: dynopt::currents::EventType,
        now: i64,
        records: u64,
        raw: &[u8],
        sanitized: &[u8],
    ) -> Result<(), String> {
        let offset = self.offsets.entry(kind).or_insert(0);
        let key = braze::object_key(kind, now, *offset);
        *offset += records;
        for (side, bytes) in [("braze", raw), ("sanitized", sanitized)] {
            let path = self.root.join(side).join(&key);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            std::fs::write(&path, bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// Says where the files went and how to reproduce the sanitized ones.
    fn print_where(&self, secret: &[u8]) {
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        println!(
            "currents files: {} (as Braze writes them) and {} (after sanitize --key-hex {hex})",
            self.root.join("braze").display(),
            self.root.join("sanitized").display()
        );
    }
}
