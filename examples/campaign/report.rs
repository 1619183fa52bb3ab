//! Everything the example prints: the opening line, one progress line per
//! batch (whose allocation is also the chart's series) and per 6 hours of the tail, the final table, the
//! winner, the clicks gained, the attribution buckets, the Currents totals, and
//! where the chart went (the chart itself is drawn by `svg.rs`).

use std::path::Path;

use dynopt::VariantId;
use dynopt::attribution::{Accounting, OutcomeBuckets};
use dynopt::currents::EventType;
use dynopt::optimiser::{GuardrailStatus, Report, SRM_MIN_DEVIATION, SRM_P_VALUE, Uplift};
use dynopt::pii::SanitizeOutcome;

use crate::host::Host;
use crate::sim::{CurrentsFile, Sim};
use crate::svg;

/// Where a progress line falls.
#[derive(Clone, Copy)]
pub(crate) enum Stage {
    /// Send batch `n` (from 1).
    Batch(i64),
    /// The click tail, `h` hours after the send ended.
    Tail(i64),
}

/// The printer: the variants' labels, the progress so far (the chart's
/// allocation series) and the Currents totals.
pub(crate) struct Printer {
    start: i64,
    labels: Vec<(VariantId, String)>,
    points: Vec<svg::AllocationPoint>,
    files: u64,
    /// Click records delivered.
    records: u64,
    /// Open and unsubscribe records delivered.
    other_records: u64,
    /// When (hours) each wording a guardrail acted on was first capped or retired.
    capped_at: Vec<(VariantId, f64)>,
    bytes_braze: u64,
    bytes_sanitized: u64,
    dropped_fields: Vec<String>,
}

impl Printer {
    /// A printer for a broadcast starting at `start` (UNIX seconds) with these variants.
    pub(crate) fn new(start: i64, labels: Vec<(VariantId, String)>) -> Printer {
        Printer {
            start,
            labels,
            points: Vec::new(),
            files: 0,
            records: 0,
            other_records: 0,
            capped_at: Vec::new(),
            bytes_braze: 0,
            bytes_sanitized: 0,
            dropped_fields: Vec::new(),
        }
    }

    /// The opening line.
    pub(crate) fn intro(&self, recipients: u64, rates: &[f64]) {
        println!(
            "dynopt campaign: {recipients} recipients, {} variants (hidden click rates {}), 6-hour throttled send, allocation and Currents files every 5 minutes, then a 3-day click tail",
            self.labels.len(),
            rates
                .iter()
                .map(|r| format!("{:.2}%", r * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    /// Counts one Currents delivery, as Braze wrote it and after `sanitize`.
    pub(crate) fn delivered(&mut self, file: &CurrentsFile, sanitized: &SanitizeOutcome) {
        self.files += 1;
        if file.kind == EventType::Click {
            self.records += file.records;
        } else {
            self.other_records += file.records;
        }
        self.bytes_braze += file.bytes.len() as u64;
        self.bytes_sanitized += sanitized.bytes.len() as u64;
        if self.dropped_fields.is_empty() {
            self.dropped_fields = sanitized.summary.dropped.clone();
        }
    }

    /// Prints one progress line: time `t`, recipients served so far out of the
    /// audience, unique clicks attributed, the leader and its probability of being
    /// best, and, during the send, the `allocation` the batch was served with (in
    /// percent), which is also the chart's series. After the send nobody is served,
    /// so tail lines carry no allocation.
    #[expect(
        clippy::too_many_arguments,
        reason = "one progress line shows all of these; a struct would only rename them"
    )]
    pub(crate) fn progress(
        &mut self,
        stage: Stage,
        t: i64,
        served: u64,
        audience: u64,
        accounting: &Accounting,
        report: &Report,
        allocation: Option<&[(VariantId, f64)]>,
    ) {
        let prefix = match stage {
            Stage::Batch(n) => format!("batch {n:>3}"),
            Stage::Tail(h) => format!("{:>9}", format!("tail+{h}h")),
        };
        let hours = (t - self.start) as f64 / 3_600.0;
        let clicks = accounting.clicks.attributed;
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
        let width = audience.to_string().len();
        let mut head = format!(
            "{prefix} | {} | served {served:>width$} of {audience} | clicks {clicks:>6} | leader {leader} P(best) {p_best:.3}",
            fmt_hours(hours),
        );
        for v in &report.variants {
            if let GuardrailStatus::Capped(_) | GuardrailStatus::Retired(_) = v.guardrail_status {
                head.push_str(&format!(" | v{} {}", v.id, v.guardrail_status.label()));
                if !self.capped_at.iter().any(|(id, _)| *id == v.id) {
                    self.capped_at.push((v.id, hours));
                }
            }
        }
        match (stage, allocation) {
            (Stage::Batch(n), Some(allocation)) => {
                let shares = self.shares_in_order(allocation);
                println!("{head} | allocation {}", self.fmt_shares(&shares));
                self.points.push(svg::AllocationPoint {
                    hours,
                    label: n.to_string(),
                    shares,
                });
            }
            _ => println!("{head} | send ended, clicks still arriving"),
        }
    }

    /// The final table, the winner, the clicks gained over an even split, the
    /// attribution buckets and the Currents totals.
    pub(crate) fn summary(
        &self,
        recipients: u64,
        sim: &Sim,
        host: &Host,
        report: &Report,
        accounting: &Accounting,
    ) -> Result<(), String> {
        let (rates, n) = (sim.rates(), recipients);
        println!();
        println!(
            "{:<8} {:<36} {:>7} {:>8} {:>7} {:>7} {:>7} {:>8} {:>19} {:>9} {:<17} {:>7} 95% interval",
            "variant",
            "wording",
            "true",
            "served",
            "share",
            "clicks",
            "CTR",
            "P(best)",
            "95% interval",
            "uplift",
            "95% interval",
            "incr."
        );
        let exp_acc = accounting.experiments.get(host.experiment());
        for (i, (id, label)) in self.labels.iter().enumerate() {
            let vr = report
                .variants
                .iter()
                .find(|v| v.id == *id)
                .ok_or("variant missing from the report")?;
            let clicks = exp_acc
                .and_then(|e| e.variants.iter().find(|v| v.variant == *id))
                .map_or(0, |v| v.clicks);
            let exposures = sim.served()[i];
            let vs_control = fmt_uplift(report.control == Some(*id), vr.uplift.as_ref());
            println!(
                "{:<8} {:<36} {:>6.2}% {:>8} {:>6.2}% {:>7} {:>6.2}% {:>8.3} {:>8.2}% – {:.2}% {}",
                format!("v{id}"),
                truncate(label, 36),
                rates[i] * 100.0,
                exposures,
                100.0 * exposures as f64 / n as f64,
                clicks,
                100.0 * clicks as f64 / exposures.max(1) as f64,
                vr.p_best,
                vr.ci_low * 100.0,
                vr.ci_high * 100.0,
                vs_control.trim_end()
            );
        }
        match report.control {
            Some(c) => println!(
                "control: v{c} (the brand's own copy, fixed {:.0}% share); uplift = (variant − control) / control and incremental clicks over the control on the same exposures, stratified by exposure time, 95% intervals",
                100.0 * crate::host::CONTROL_SHARE
            ),
            None => println!("control: none"),
        }
        match &report.srm {
            Some(srm) => println!(
                "SRM check: {} (chi-square {:.2}, {} df, p = {:.4}, largest deviation {:.2}% of expected; alarm when p < {} and a deviation ≥ {}%)",
                if srm.alarm { "ALARM" } else { "ok" },
                srm.chi_square,
                srm.degrees_of_freedom,
                srm.p_value,
                srm.max_relative_deviation * 100.0,
                SRM_P_VALUE,
                SRM_MIN_DEVIATION * 100.0
            ),
            None => println!("SRM check: not available (fewer than two variants served)"),
        }
        self.outcomes(sim, host, report, accounting);
        println!();
        // The truly best wording among those within the guardrail (the
        // baiting one has the best click rate and three times the unsubscribes).
        let honest = |i: usize| sim.unsubscribe_rates()[i] <= crate::sim::UNSUBSCRIBE_RATE;
        let best = (0..rates.len())
            .filter(|&i| honest(i))
            .max_by(|a, b| rates[*a].total_cmp(&rates[*b]))
            .unwrap_or(0);
        match report.winner {
            Some(w) => println!(
                "winner: v{w} (stopping rule: 95th percentile of value remaining {:.2}% < 1% of the leader's rate); truly best within the guardrail: v{}",
                report.value_remaining * 100.0,
                self.labels[best].0
            ),
            None => println!(
                "winner: none declared yet (value remaining {:.2}%; the rule needs it below 1% and at least 50 clicks on every wording that can lead); leader {}; truly best within the guardrail: v{}",
                report.value_remaining * 100.0,
                report
                    .leader
                    .map_or("none".to_string(), |l| format!("v{l}")),
                self.labels[best].0
            ),
        }
        let mean_rate = rates.iter().sum::<f64>() / rates.len() as f64;
        let even = n as f64 * mean_rate;
        let expected_clicks = sim.expected_clicks();
        println!(
            "clicks gained over an even split: expected {:+.0} (sum of the served variants' true rates {:.0} vs {:.0}), realised {:+.0} ({} unique clicks attributed vs {:.0} expected from an even split)",
            expected_clicks - even,
            expected_clicks,
            even,
            accounting.clicks.attributed as f64 - even,
            accounting.clicks.attributed,
            even
        );
        let c = &accounting.clicks;
        println!(
            "attribution buckets: attributed {} | duplicate {} | bot {} | unattributable {} | late {} | outside {} | total {} (click records delivered: {})",
            c.attributed,
            c.duplicate,
            c.bot,
            c.unattributable,
            c.late,
            c.outside,
            c.total(),
            self.records
        );
        println!(
            "currents: {} files ({} click records, {} open, unsubscribe and conversion records; {} bytes from Braze, {} bytes after sanitize); fields dropped by sanitize: {}",
            self.files,
            self.records,
            self.other_records,
            self.bytes_braze,
            self.bytes_sanitized,
            self.dropped_fields.join(", ")
        );
        Ok(())
    }

    /// The second table: opens (human, machine) and the unsubscribe
    /// guardrail per wording, then where every open and unsubscribe went.
    fn outcomes(&self, sim: &Sim, host: &Host, report: &Report, accounting: &Accounting) {
        let exp_acc = accounting.experiments.get(host.experiment());
        println!();
        println!(
            "opens, conversions and guardrails: unique human opens (machine opens never count), unique machine openers, unique converters within 3 days, unsubscribes with the rate's 95% interval and the ratio to the control's (rule: at most 1.5x, P > 0.99, 2,000 exposures a side)"
        );
        println!(
            "  {:<8} {:>7} {:>7} {:>8} {:>7} {:>8} {:>6} {:>7} {:>7} {:>17} {:>6} {:>13}  status",
            "variant",
            "true op",
            "true un",
            "opens",
            "rate",
            "machine",
            "conv.",
            "unsubs",
            "rate",
            "95% interval",
            "ratio",
            "95% interval"
        );
        for (i, (id, _)) in self.labels.iter().enumerate() {
            let counts = exp_acc.and_then(|e| e.variants.iter().find(|v| v.variant == *id));
            let (opens, machine, conversions, unsubs) = counts.map_or((0, 0, 0, 0), |v| {
                (
                    v.unique_opens,
                    v.machine_opens,
                    v.conversions,
                    v.unsubscribes,
                )
            });
            let served = sim.served()[i].max(1) as f64;
            let vr = report.variants.iter().find(|v| v.id == *id);
            let line = vr.and_then(|v| v.guardrails.first());
            let (interval, ratio, ratio_interval) = match line {
                Some(g) => (
                    format!("[{:.2}%,{:.2}%]", g.ci_low * 100.0, g.ci_high * 100.0),
                    g.ratio.map_or("–".into(), |r| format!("{:.2}", r.median)),
                    g.ratio.map_or("–".into(), |r| {
                        format!("[{:.2},{:.2}]", r.ci_low, r.ci_high)
                    }),
                ),
                None => ("–".into(), "–".into(), "–".into()),
            };
            let status = vr.map_or("–".to_string(), |v| v.guardrail_status.to_string());
            println!(
                "  {:<8} {:>6.1}% {:>6.2}% {:>8} {:>6.2}% {:>8} {:>6} {:>7} {:>6.3}% {:>17} {:>6} {:>13}  {}",
                format!("v{id}"),
                sim.open_rates()[i] * 100.0,
                sim.unsubscribe_rates()[i] * 100.0,
                opens,
                100.0 * opens as f64 / served,
                machine,
                conversions,
                unsubs,
                100.0 * unsubs as f64 / served,
                interval,
                ratio,
                ratio_interval,
                status
            );
        }
        if let Some(e) = exp_acc {
            let fmt = |b: &OutcomeBuckets| {
                format!(
                    "attributed {} | duplicate {} | machine {} | unattributable {} | late {} | before exposure {} | future {} | total {}",
                    b.attributed,
                    b.duplicate,
                    b.machine,
                    b.unattributable,
                    b.late,
                    b.before_exposure,
                    b.future,
                    b.total()
                )
            };
            let machine_share =
                e.outcomes.opens.machine as f64 / e.outcomes.opens.total().max(1) as f64;
            println!(
                "open buckets: {} ({:.1}% of open events are machine opens)",
                fmt(&e.outcomes.opens),
                100.0 * machine_share
            );
            println!("conversion buckets: {}", fmt(&e.outcomes.conversions));
            println!("unsubscribe buckets: {}", fmt(&e.outcomes.unsubscribes));
        }
    }

    /// Writes the chart (allocation over time, the final posteriors against
    /// the true rates) to `dir/allocation.svg` and prints its path.
    pub(crate) fn chart(
        &self,
        dir: &Path,
        host: &Host,
        report: &Report,
        rates: &[f64],
        send_hours: f64,
    ) -> Result<(), String> {
        let posteriors: Vec<svg::Posterior> = self
            .labels
            .iter()
            .enumerate()
            .filter_map(|(i, (id, _))| {
                let p = host.posterior(*id)?;
                Some(svg::Posterior {
                    name: format!("v{id}"),
                    alpha: p.alpha(),
                    beta: p.beta(),
                    true_rate: rates[i],
                })
            })
            .collect();
        let names: Vec<String> = self.labels.iter().map(|(id, _)| format!("v{id}")).collect();
        let control = report
            .control
            .and_then(|c| self.labels.iter().position(|(id, _)| *id == c));
        let marks: Vec<svg::GuardrailMark> = report
            .variants
            .iter()
            .filter_map(|v| {
                let i = self.labels.iter().position(|(id, _)| *id == v.id)?;
                Some(svg::GuardrailMark {
                    variant: i,
                    hours: self
                        .capped_at
                        .iter()
                        .find(|(id, _)| *id == v.id)
                        .map(|(_, h)| *h),
                    status: v.guardrail_status.label().to_string(),
                    metric: v
                        .guardrail_status
                        .reason()
                        .map_or(String::new(), |r| r.metric.name().replace('_', " ") + "s"),
                })
            })
            .collect();
        let accounting = host.accounting();
        let exp_acc = accounting.experiments.get(host.experiment());
        let conversions: Vec<u64> = self
            .labels
            .iter()
            .map(|(id, _)| {
                exp_acc
                    .and_then(|e| e.variants.iter().find(|v| v.variant == *id))
                    .map_or(0, |v| v.conversions)
            })
            .collect();
        let chart = svg::render(
            &names,
            control,
            &self.points,
            &posteriors,
            send_hours,
            &marks,
            &conversions,
        );
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join("allocation.svg");
        std::fs::write(&path, chart)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("chart: {}", path.display());
        Ok(())
    }

    /// The traffic share of each variant, in the order of the labels.
    fn shares_in_order(&self, allocation: &[(VariantId, f64)]) -> Vec<f64> {
        self.labels
            .iter()
            .map(|(id, _)| {
                allocation
                    .iter()
                    .find(|(v, _)| v == id)
                    .map_or(0.0, |(_, s)| *s)
            })
            .collect()
    }

    fn fmt_shares(&self, shares: &[f64]) -> String {
        self.labels
            .iter()
            .zip(shares)
            .map(|((id, _), s)| format!("v{id}={:.2}%", s * 100.0))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The four uplift cells of a table row (one token each): the relative
/// uplift over the control and its 95% interval, the incremental clicks and
/// theirs; `control` and dashes on the control's row, `n/a` and dashes before
/// both sides have clicks.
fn fmt_uplift(is_control: bool, uplift: Option<&Uplift>) -> String {
    let (a, b, c, d) = match (is_control, uplift) {
        (true, _) => ("control".into(), "–".into(), "–".into(), "–".into()),
        (false, None) => ("n/a".into(), "–".into(), "–".into(), "–".into()),
        (false, Some(u)) => (
            format!("{:+.1}%", u.relative * 100.0),
            format!("[{:+.1}%,{:+.1}%]", u.ci_low * 100.0, u.ci_high * 100.0),
            format!("{:+.0}", u.incremental_clicks),
            format!(
                "[{:+.0},{:+.0}]",
                u.incremental_ci_low, u.incremental_ci_high
            ),
        ),
    };
    format!("{a:>9} {b:<17} {c:>7} {d}")
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
