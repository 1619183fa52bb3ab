//! The main job: a Braze broadcast optimised end to end, with real bytes.
//!
//! ```text
//! cargo run --release --example campaign [-- --recipients N --variants K --seed S --out DIR]
//! ```
//!
//! Two parties, as in production:
//! - the **customer side** (holds personal data) serves Connected Content calls
//!   through the host, receives Braze Currents Click files every 5 minutes (real
//!   Avro bytes with user ids, emails and emails inside URLs) and runs
//!   `dynopt::pii::sanitize` with the shared pseudonym key;
//! - the **optimising side** decodes the PII-free files straight into clean
//!   events, attributes clicks to the variant each recipient was shown, and
//!   feeds the Thompson-sampling optimiser, whose allocation is recomputed every
//!   5 minutes and serves the next batch.
//!
//! The hidden click rates, delays, duplicates and bots are simulated; everything
//! the library sees goes through its public API.

mod braze;
mod svg;

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, TimeZone, Utc};
use dynopt::attribution::{Attribution, ExperimentConfig as AttributionConfig, Mode, Scope};
use dynopt::currents::DecodeOptions;
use dynopt::optimiser::{ExperimentConfig, Optimiser};
use dynopt::pii::{Filter, Policy, Pseudonymizer, RecipientKey, SanitizeOptions, sanitize};
use dynopt::{ExperimentId, Update, VariantId};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use braze::{ClickRecord, write_click_file};

const USAGE: &str = "usage: campaign [--recipients N] [--variants K] [--seed S] [--out DIR]

Simulates a Braze broadcast optimised by dynopt, end to end.
  --recipients N   recipients in the broadcast (default 200000, at least 100)
  --variants K     wordings competing, 2 to 50 (default 5); hidden click rates
                   evenly spaced from 2.0% to 3.0%
  --seed S         seed of the simulation and of the optimiser (default 7)
  --out DIR        where the SVG chart goes (default target/campaign)";

/// The secret shared by the Braze template (`hmac_sha256_hex`) and `sanitize --key-hex`.
const SHARED_SECRET: &[u8] = b"dynopt-campaign-demo-secret";
const BATCH_SECS: i64 = 300;
const SEND_BATCHES: i64 = 72; // 6 hours of 5-minute batches
const TAIL_SECS: i64 = 3 * 86_400;
const TAIL_REPORT_EVERY: i64 = 6 * 3_600;

const WORDINGS: &[&str] = &[
    "Spring is here: 20% off everything",
    "Your spring wardrobe, 20% off",
    "20% off ends Sunday",
    "We picked these for you (20% off)",
    "Fresh picks for spring, 20% off",
];

struct Args {
    recipients: u64,
    variants: usize,
    seed: u64,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        recipients: 200_000,
        variants: 5,
        seed: 7,
        out: PathBuf::from("target/campaign"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--recipients" => {
                args.recipients = value
                    .parse()
                    .map_err(|_| format!("--recipients: not a number: {value}"))?;
                if args.recipients < 100 || args.recipients > 100_000_000 {
                    return Err("--recipients must be between 100 and 100000000".into());
                }
            }
            "--variants" => {
                args.variants = value
                    .parse()
                    .map_err(|_| format!("--variants: not a number: {value}"))?;
                if !(2..=50).contains(&args.variants) {
                    return Err("--variants must be between 2 and 50".into());
                }
            }
            "--seed" => {
                args.seed = value
                    .parse()
                    .map_err(|_| format!("--seed: not a number: {value}"))?;
            }
            "--out" => args.out = PathBuf::from(value),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("campaign: {msg}");
            }
            eprintln!("{USAGE}");
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

/// A click waiting for its Currents delivery.
struct Pending {
    time: i64,
    record: ClickRecord,
}

struct Sim {
    rates: Vec<f64>,
    rng: Pcg64,
    pending: Vec<Pending>,
    redeliver: Vec<ClickRecord>,
    clicks_written: u64,
    files: u64,
    bytes_braze: u64,
    bytes_sanitized: u64,
    dropped_fields: Vec<String>,
}

impl Sim {
    fn uuid(&mut self) -> String {
        let a: u128 = self.rng.random();
        let h = format!("{a:032x}");
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// Click delay in seconds: log-normal, median 40 minutes, most within hours,
    /// a tail of days.
    fn click_delay(&mut self) -> i64 {
        let z = standard_normal(&mut self.rng);
        let secs = (2_400.0_f64.ln() + 1.5 * z).exp();
        secs.clamp(15.0, 10.0 * 86_400.0) as i64
    }

    fn click(
        &mut self,
        recipient: u64,
        braze_id: &str,
        variant: VariantId,
        served: i64,
        time: i64,
        bot: bool,
    ) -> Pending {
        let email = format!("shopper.{recipient}@mail.example.net");
        let lid = format!("{:012x}", self.rng.random::<u64>() >> 16);
        let url = format!(
            "https://shop.example.com/spring-sale?utm_source=braze&utm_medium=email&utm_campaign=spring&dov={variant}.{served}&email={}&lid={lid}",
            email.replace('@', "%40")
        );
        let user_agent = if bot {
            "Mozilla/5.0 (compatible; LinkScanner/2.1; +https://security.example.org/bot)"
                .to_string()
        } else {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36".to_string()
        };
        Pending {
            time,
            record: ClickRecord {
                id: self.uuid(),
                user_id: braze_id.to_string(),
                external_user_id: format!("cust-{recipient:08}"),
                email_address: email,
                time,
                url,
                user_agent,
                send_id: format!("send-{:x}", served / BATCH_SECS),
                dispatch_id: format!("dispatch-{:x}", served / BATCH_SECS),
                link_id: lid,
                suspected_bot: bot,
            },
        }
    }
}

/// A standard normal draw by Box–Muller (the example's own simulation noise).
fn standard_normal(rng: &mut Pcg64) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn braze_id(seed: u64, recipient: u64) -> String {
    // 24 hex characters, like a Braze user id (an ObjectId).
    let mut r = Pcg64::seed_from_u64(seed ^ recipient.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    format!("{:024x}", r.random::<u128>() >> 32)
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

struct Host {
    optimiser: Optimiser,
    attribution: Attribution,
    filter: Filter,
    sanitize: SanitizeOptions,
    updates: Vec<Update>,
}

impl Host {
    fn feed_optimiser(&mut self) -> Result<(), String> {
        self.updates.clear();
        self.attribution.drain_updates(&mut self.updates);
        for u in &self.updates {
            self.optimiser
                .apply(u)
                .map_err(|e| format!("optimiser rejected an update: {e}"))?;
        }
        Ok(())
    }
}

fn run(args: &Args) -> Result<(), String> {
    let k = args.variants;
    let rates: Vec<f64> = (0..k)
        .map(|i| 0.02 + 0.01 * i as f64 / (k - 1) as f64)
        .collect();
    let start = Utc
        .with_ymd_and_hms(2026, 3, 20, 9, 0, 0)
        .single()
        .ok_or("bad start time")?
        .timestamp();
    let experiment = ExperimentId::new("spring-sale-subject");

    // The optimising side's state.
    let mut optimiser = Optimiser::new();
    let mut config = ExperimentConfig::default();
    config.salt = args.seed;
    let exp = optimiser
        .add_experiment(experiment.clone(), config)
        .map_err(|e| e.to_string())?;
    let mut labels = Vec::new();
    for i in 0..k {
        let label = WORDINGS
            .get(i)
            .map(|s| (*s).to_string())
            .unwrap_or_else(|| format!("Wording #{}", i + 1));
        let id = exp.add_variant(label.clone()).map_err(|e| e.to_string())?;
        labels.push((id, label));
    }
    let mut attribution = Attribution::new();
    attribution
        .add_experiment(
            experiment.clone(),
            AttributionConfig::new(
                Scope::campaign(braze::CAMPAIGN_ID).with_variation(braze::MESSAGE_VARIATION_ID),
                Mode::ExposureJoin,
            ),
        )
        .map_err(|e| e.to_string())?;
    let mut host = Host {
        optimiser,
        attribution,
        filter: Filter::new(Policy::new()),
        // The customer side's sanitizer, with the secret shared with the Braze template.
        sanitize: SanitizeOptions::new().with_pseudonymizer(Pseudonymizer::keyed(SHARED_SECRET)),
        updates: Vec::new(),
    };
    // What the Braze template computes with `hmac_sha256_hex` for the Connected Content URL.
    let liquid = Pseudonymizer::keyed(SHARED_SECRET);

    let mut sim = Sim {
        rates: rates.clone(),
        rng: Pcg64::seed_from_u64(args.seed),
        pending: Vec::new(),
        redeliver: Vec::new(),
        clicks_written: 0,
        files: 0,
        bytes_braze: 0,
        bytes_sanitized: 0,
        dropped_fields: Vec::new(),
    };
    let mut opt_rng = Pcg64::seed_from_u64(args.seed.wrapping_add(0x5EED));
    let mut served = vec![0u64; k];
    let mut expected_clicks = 0.0;
    let mut points: Vec<svg::AllocationPoint> = Vec::new();
    let n = args.recipients;
    let mut next_recipient = 0u64;

    println!(
        "dynopt campaign: {n} recipients, {k} variants (hidden click rates {}), 6-hour throttled send, allocation and Currents files every 5 minutes, then a 3-day click tail",
        rates
            .iter()
            .map(|r| format!("{:.2}%", r * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for b in 0..SEND_BATCHES {
        let t = start + b * BATCH_SECS;
        // 1. Recompute the allocation for the next batch (every 5 minutes).
        host.optimiser.recompute_all(at(t), &mut opt_rng);
        let allocation = host
            .optimiser
            .experiment(&experiment)
            .ok_or("experiment vanished")?
            .allocation();
        let shares = shares_in_order(&allocation, &labels);
        // 2. Serve the batch: one Connected Content call per recipient, evenly throttled.
        let lo = n * b as u64 / SEND_BATCHES as u64;
        let hi = n * (b as u64 + 1) / SEND_BATCHES as u64;
        let in_batch = hi - lo;
        for j in 0..in_batch {
            let r = next_recipient;
            next_recipient += 1;
            let serve = t + (j as i64 * BATCH_SECS) / in_batch.max(1) as i64;
            let bid = braze_id(args.seed, r);
            let key: RecipientKey = liquid
                .key_for(&bid)
                .ok_or("a generated Braze id has no key")?;
            let variant = host
                .optimiser
                .assign(&experiment, &key)
                .map_err(|e| e.to_string())?;
            host.attribution
                .record_exposure(&experiment, key, variant, at(serve))
                .map_err(|e| e.to_string())?;
            // Braze renders some messages twice: a second call, same answer, counted once.
            if sim.rng.random::<f64>() < 0.05 {
                let again = host
                    .optimiser
                    .assign(&experiment, &key)
                    .map_err(|e| e.to_string())?;
                host.attribution
                    .record_exposure(&experiment, key, again, at(serve + 2))
                    .map_err(|e| e.to_string())?;
            }
            let vi = labels
                .iter()
                .position(|(id, _)| *id == variant)
                .ok_or("assign returned an unknown variant")?;
            served[vi] += 1;
            expected_clicks += rates[vi];
            // Ground truth: does this recipient click, when, and how often?
            if sim.rng.random::<f64>() < sim.rates[vi] {
                let when = serve + sim.click_delay();
                let c = sim.click(r, &bid, variant, serve, when, false);
                sim.pending.push(c);
                if sim.rng.random::<f64>() < 0.25 {
                    let again = when + 10 + (sim.rng.random::<f64>() * 7_200.0) as i64;
                    let c = sim.click(r, &bid, variant, serve, again, false);
                    sim.pending.push(c);
                }
            }
            // Link scanners click within seconds of delivery.
            if sim.rng.random::<f64>() < 0.02 {
                let when = serve + 5 + (sim.rng.random::<f64>() * 85.0) as i64;
                let c = sim.click(r, &bid, variant, serve, when, true);
                sim.pending.push(c);
            }
        }
        host.feed_optimiser()?;
        // 3. Five minutes later, Currents delivers the clicks of the last 5 minutes.
        deliver(&mut sim, &mut host, t + BATCH_SECS)?;
        let acc = host.attribution.report();
        let report = host
            .optimiser
            .experiment(&experiment)
            .ok_or("experiment vanished")?
            .report(at(t + BATCH_SECS), &mut opt_rng);
        let counts = (next_recipient, acc.clicks.attributed);
        let hours = (t - start) as f64 / 3_600.0;
        let prefix = format!("batch {:>3}", b + 1);
        progress(
            &mut points,
            &prefix,
            format!("{}", b + 1),
            hours,
            counts,
            &report,
            &labels,
            shares,
        );
    }
    // 4. The click tail: Currents keeps delivering for three days.
    let send_end = start + SEND_BATCHES * BATCH_SECS;
    let mut t = send_end;
    while t < send_end + TAIL_SECS {
        t += BATCH_SECS;
        deliver(&mut sim, &mut host, t)?;
        if (t - send_end) % TAIL_REPORT_EVERY == 0 {
            host.optimiser.recompute_all(at(t), &mut opt_rng);
            let e = host
                .optimiser
                .experiment(&experiment)
                .ok_or("experiment vanished")?;
            let allocation = e.allocation();
            let shares = shares_in_order(&allocation, &labels);
            let report = e.report(at(t), &mut opt_rng);
            let acc = host.attribution.report();
            let label = format!("tail+{}h", (t - send_end) / 3_600);
            let counts = (next_recipient, acc.clicks.attributed);
            let hours = (t - start) as f64 / 3_600.0;
            let prefix = format!("{label:>9}");
            progress(
                &mut points,
                &prefix,
                label,
                hours,
                counts,
                &report,
                &labels,
                shares,
            );
        }
    }
    let now = at(t);
    let report = host
        .optimiser
        .experiment(&experiment)
        .ok_or("experiment vanished")?
        .report(now, &mut opt_rng);
    let acc = host.attribution.report();

    // 5. The final table.
    println!();
    println!(
        "{:<8} {:<36} {:>8} {:>10} {:>7} {:>7} {:>8} {:>19}",
        "variant", "wording", "true", "served", "clicks", "CTR", "P(best)", "95% interval"
    );
    let exp_acc = acc.experiments.get(&experiment);
    for (i, (id, label)) in labels.iter().enumerate() {
        let vr = report
            .variants
            .iter()
            .find(|v| v.id == *id)
            .ok_or("variant missing from the report")?;
        let clicks = exp_acc
            .and_then(|e| e.variants.iter().find(|v| v.variant == *id))
            .map_or(0, |v| v.clicks);
        let exposures = served[i];
        println!(
            "{:<8} {:<36} {:>7.2}% {:>9.2}% {:>7} {:>6.2}% {:>8.3} {:>8.2}% – {:.2}%",
            format!("v{id}"),
            truncate(label, 36),
            rates[i] * 100.0,
            100.0 * exposures as f64 / n as f64,
            clicks,
            100.0 * clicks as f64 / exposures.max(1) as f64,
            vr.p_best,
            vr.ci_low * 100.0,
            vr.ci_high * 100.0
        );
    }
    println!();
    let best = (0..k)
        .max_by(|a, b| rates[*a].total_cmp(&rates[*b]))
        .unwrap_or(0);
    match report.winner {
        Some(w) => println!(
            "winner: v{w} (stopping rule: 95th percentile of value remaining {:.2}% < 1% of the leader's rate); truly best: v{}",
            report.value_remaining * 100.0,
            labels[best].0
        ),
        None => println!(
            "winner: none declared yet (value remaining {:.2}% ≥ 1%); leader {}; truly best: v{}",
            report.value_remaining * 100.0,
            report
                .leader
                .map_or("none".to_string(), |l| format!("v{l}")),
            labels[best].0
        ),
    }
    let mean_rate = rates.iter().sum::<f64>() / k as f64;
    let even = n as f64 * mean_rate;
    println!(
        "clicks gained over an even split: expected {:+.0} (sum of the served variants' true rates {:.0} vs {:.0}), realised {:+.0} ({} unique clicks attributed vs {:.0} expected from an even split)",
        expected_clicks - even,
        expected_clicks,
        even,
        acc.clicks.attributed as f64 - even,
        acc.clicks.attributed,
        even
    );
    let c = &acc.clicks;
    println!(
        "attribution buckets: attributed {} | duplicate {} | bot {} | unattributable {} | late {} | outside {} | total {} (click records delivered: {})",
        c.attributed,
        c.duplicate,
        c.bot,
        c.unattributable,
        c.late,
        c.outside,
        c.total(),
        sim.clicks_written
    );
    println!(
        "currents: {} files ({} bytes from Braze, {} bytes after sanitize); fields dropped by sanitize: {}",
        sim.files,
        sim.bytes_braze,
        sim.bytes_sanitized,
        sim.dropped_fields.join(", ")
    );

    // 6. The chart.
    let posteriors: Vec<svg::Posterior> = labels
        .iter()
        .enumerate()
        .filter_map(|(i, (id, _))| {
            let p = host
                .optimiser
                .experiment(&experiment)?
                .posterior(*id)
                .ok()?;
            Some(svg::Posterior {
                name: format!("v{id}"),
                alpha: p.alpha(),
                beta: p.beta(),
                true_rate: rates[i],
            })
        })
        .collect();
    let names: Vec<String> = labels.iter().map(|(id, _)| format!("v{id}")).collect();
    let chart = svg::render(
        &names,
        &points,
        &posteriors,
        (SEND_BATCHES * BATCH_SECS) as f64 / 3_600.0,
    );
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let path = args.out.join("allocation.svg");
    std::fs::write(&path, chart).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("chart: {}", path.display());
    Ok(())
}

/// Writes the Currents file of the clicks that happened before `now` (plus a
/// few redelivered ones), sanitizes it on the customer side, then decodes,
/// attributes and learns on the optimising side.
fn deliver(sim: &mut Sim, host: &mut Host, now: i64) -> Result<(), String> {
    let mut due: Vec<ClickRecord> = Vec::new();
    let mut i = 0;
    while i < sim.pending.len() {
        if sim.pending[i].time < now {
            due.push(sim.pending.swap_remove(i).record);
        } else {
            i += 1;
        }
    }
    // At-least-once delivery: some events of the previous file come again.
    due.append(&mut sim.redeliver);
    if due.is_empty() {
        return Ok(());
    }
    due.sort_by_key(|c| c.time);
    for c in &due {
        if sim.rng.random::<f64>() < 0.01 {
            sim.redeliver.push(ClickRecord {
                id: c.id.clone(),
                user_id: c.user_id.clone(),
                external_user_id: c.external_user_id.clone(),
                email_address: c.email_address.clone(),
                time: c.time,
                url: c.url.clone(),
                user_agent: c.user_agent.clone(),
                send_id: c.send_id.clone(),
                dispatch_id: c.dispatch_id.clone(),
                link_id: c.link_id.clone(),
                suspected_bot: c.suspected_bot,
            });
        }
    }
    let sync: [u8; 16] = sim.rng.random();
    // Customer side: the file Braze wrote, then sanitize.
    let braze_file = write_click_file(&due, sync);
    let out = sanitize(&braze_file, &host.sanitize)
        .map_err(|e| format!("sanitize failed on the Currents file at t={now}: {e}"))?;
    sim.files += 1;
    sim.clicks_written += due.len() as u64;
    sim.bytes_braze += braze_file.len() as u64;
    sim.bytes_sanitized += out.bytes.len() as u64;
    if sim.dropped_fields.is_empty() {
        sim.dropped_fields = out.summary.dropped.clone();
    }
    // Optimising side: decode the PII-free file, attribute, learn.
    let clean = host
        .filter
        .clean_file(&out.bytes, &DecodeOptions::default());
    if let Some(e) = clean.error {
        return Err(format!("decoding a sanitized file failed: {e}"));
    }
    for event in &clean.events {
        host.attribution.handle_event(event, at(now));
    }
    // Forget exposures and dedup state past the window (bounded memory).
    host.attribution.expire(at(now));
    host.feed_optimiser()?;
    Ok(())
}

/// The traffic share of each variant, in the order of `labels`.
fn shares_in_order(allocation: &[(VariantId, f64)], labels: &[(VariantId, String)]) -> Vec<f64> {
    labels
        .iter()
        .map(|(id, _)| {
            allocation
                .iter()
                .find(|(v, _)| v == id)
                .map_or(0.0, |(_, s)| *s)
        })
        .collect()
}

/// Prints one progress line (time, recipients served, unique clicks attributed,
/// the leader and its probability of being best, the shares served) and adds the
/// same shares to the chart, so the chart's series are the progress lines.
#[allow(clippy::too_many_arguments)] // one call per progress line, two call sites
fn progress(
    points: &mut Vec<svg::AllocationPoint>,
    prefix: &str,
    label: String,
    hours: f64,
    (served, clicks): (u64, u64),
    report: &dynopt::optimiser::Report,
    labels: &[(VariantId, String)],
    shares: Vec<f64>,
) {
    let (leader, p_best) = match report.leader {
        Some(l) => {
            let p = report
                .variants
                .iter()
                .find(|v| v.id == l)
                .map_or(0.0, |v| v.p_best);
            (format!("v{l}"), p)
        }
        None => ("none".to_string(), 0.0),
    };
    println!(
        "{prefix} | {} | served {served:>8} | clicks {clicks:>6} | leader {leader} P(best) {p_best:.3} | shares {}",
        fmt_hours(hours),
        fmt_shares(labels, &shares)
    );
    points.push(svg::AllocationPoint {
        hours,
        label,
        shares,
    });
}

fn fmt_shares(labels: &[(VariantId, String)], shares: &[f64]) -> String {
    labels
        .iter()
        .zip(shares)
        .map(|((id, _), s)| format!("v{id}={s:.4}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn fmt_hours(h: f64) -> String {
    let mins = (h * 60.0).round() as i64;
    format!("t+{:>2}h{:02}m", mins / 60, mins % 60)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
