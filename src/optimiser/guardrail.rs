//! Guardrails: metrics a wording must not make worse (unsubscribes, spam
//! complaints, hard bounces), judged against the control (or, without one,
//! the other active wordings pooled) at every allocation recompute.
//!
//! The comparison is made within exposure-time buckets. In a bucket where
//! both sides were served, conditional on the bucket's total events `t`, the
//! wording's events are `Binomial(t, R·n_v / (R·n_v + n_r))` for the rate
//! ratio `R`, whatever the bucket's base rate and however far its events
//! have matured (both sides' exposures in one bucket share their age, so the
//! delay distribution cancels out). The product over buckets is the
//! likelihood of `R`; with a normal prior on `ln R` (mean 0, sd 1: no
//! difference expected) the posterior is evaluated on a grid.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::config::{GuardrailAction, GuardrailRule, OptimiserError};
use super::experiment::{Counts, Experiment};
use crate::vocab::{Guardrail, VariantId};

/// Why a wording is watched, capped or retired by a guardrail.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GuardrailReason {
    /// The metric.
    pub metric: Guardrail,
    /// The reference: the control, or `None` for the other active wordings pooled.
    pub reference: Option<VariantId>,
    /// Posterior median of the rate ratio (wording / reference).
    pub ratio: f64,
    /// Posterior probability that the ratio exceeds `1 + margin`.
    pub p_worse: f64,
    /// The rule's margin.
    pub margin: f64,
    /// Guardrail events of both sides in the buckets compared.
    pub events: u64,
    /// Whether the minimum-evidence rule is met.
    pub enough_evidence: bool,
}

impl fmt::Display for GuardrailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reference = match self.reference {
            Some(c) => format!("control {c}"),
            None => "other wordings".to_owned(),
        };
        write!(
            f,
            "{} rate {:.2}x {reference}'s, P(> {:.2}x) = {:.3}{}",
            self.metric.name(),
            self.ratio,
            1.0 + self.margin,
            self.p_worse,
            if self.enough_evidence {
                ""
            } else {
                " (not enough evidence yet)"
            }
        )
    }
}

/// A wording's guardrail verdict as of the last allocation recompute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GuardrailStatus {
    /// No guardrail is likely exceeded (or none is configured, or this is the
    /// reference).
    #[default]
    Ok,
    /// A guardrail is more likely exceeded than not, without enough
    /// certainty or evidence to act.
    Watch(GuardrailReason),
    /// A guardrail is credibly exceeded: the share is capped at the minimum share.
    Capped(GuardrailReason),
    /// A guardrail is credibly exceeded: retired for good.
    Retired(GuardrailReason),
}

impl GuardrailStatus {
    /// Whether the status is [`Ok`](Self::Ok).
    pub fn is_ok(&self) -> bool {
        matches!(self, GuardrailStatus::Ok)
    }

    /// The reason, unless ok.
    pub fn reason(&self) -> Option<&GuardrailReason> {
        match self {
            GuardrailStatus::Ok => None,
            GuardrailStatus::Watch(r)
            | GuardrailStatus::Capped(r)
            | GuardrailStatus::Retired(r) => Some(r),
        }
    }

    /// `ok`, `watch`, `capped` or `retired`.
    pub fn label(&self) -> &'static str {
        match self {
            GuardrailStatus::Ok => "ok",
            GuardrailStatus::Watch(_) => "watch",
            GuardrailStatus::Capped(_) => "capped",
            GuardrailStatus::Retired(_) => "retired",
        }
    }

    fn severity(&self) -> u8 {
        match self {
            GuardrailStatus::Ok => 0,
            GuardrailStatus::Watch(_) => 1,
            GuardrailStatus::Capped(_) => 2,
            GuardrailStatus::Retired(_) => 3,
        }
    }

    /// The more severe of two verdicts (the more probable one on a tie).
    pub(super) fn worst(self, other: GuardrailStatus) -> GuardrailStatus {
        let p = |s: &GuardrailStatus| s.reason().map_or(0.0, |r| r.p_worse);
        if other.severity() > self.severity()
            || (other.severity() == self.severity() && p(&other) > p(&self))
        {
            other
        } else {
            self
        }
    }

    /// Whether the verdict acts on the allocation (capped or retired).
    pub(super) fn acts(&self) -> bool {
        matches!(
            self,
            GuardrailStatus::Capped(_) | GuardrailStatus::Retired(_)
        )
    }
}

impl fmt::Display for GuardrailStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            None => f.write_str(self.label()),
            Some(r) => write!(f, "{}: {r}", self.label()),
        }
    }
}

/// One guardrail metric in a variant's report line.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GuardrailLine {
    /// The metric.
    pub metric: Guardrail,
    /// Events attributed to the variant (first per exposed recipient).
    pub events: u64,
    /// Events per exposure.
    pub rate: f64,
    /// 2.5th percentile of the rate's posterior (Jeffreys prior).
    pub ci_low: f64,
    /// 97.5th percentile of the rate's posterior.
    pub ci_high: f64,
    /// The rate ratio against the reference (`None` for the control itself).
    pub ratio: Option<RatioSummary>,
}

/// The posterior of a rate ratio (wording / reference).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RatioSummary {
    /// Posterior median.
    pub median: f64,
    /// 2.5th percentile.
    pub ci_low: f64,
    /// 97.5th percentile.
    pub ci_high: f64,
    /// Posterior probability that the ratio exceeds `1 + margin`.
    pub p_worse: f64,
    /// Guardrail events of both sides in the buckets compared.
    pub events: u64,
    /// Exposures of the wording in the buckets compared.
    pub exposures: u64,
    /// Exposures of the reference in the buckets compared.
    pub reference_exposures: u64,
}

/// One exposure-time bucket: (wording exposures, events; reference exposures, events).
pub(super) type GuardStratum = (u64, u64, u64, u64);

const GRID_LO: f64 = -5.0;
const GRID_STEP: f64 = 0.025;
const GRID_N: usize = 401;
/// Prior standard deviation of `ln R`.
const PRIOR_SD: f64 = 1.0;

/// The posterior of the rate ratio from the strata, with `P(R > 1 + margin)`.
pub(super) fn ratio_posterior(
    strata: impl Iterator<Item = GuardStratum>,
    margin: f64,
) -> RatioSummary {
    let mut ll: Vec<f64> = (0..GRID_N)
        .map(|k| {
            let x = GRID_LO + GRID_STEP * k as f64;
            -0.5 * (x / PRIOR_SD) * (x / PRIOR_SD)
        })
        .collect();
    let (mut events, mut nv_all, mut nr_all) = (0u64, 0u64, 0u64);
    for (nv, xv, nr, xr) in strata {
        if nv == 0 || nr == 0 {
            continue;
        }
        nv_all = nv_all.saturating_add(nv);
        nr_all = nr_all.saturating_add(nr);
        let t = xv.saturating_add(xr);
        if t == 0 {
            continue;
        }
        events = events.saturating_add(t);
        let (xv, xr, t) = (xv as f64, xr as f64, t as f64);
        // ln p = x + ln nv - ln(e^x nv + nr); ln(1 - p) = ln nr - ln(e^x nv + nr).
        let (a, b) = ((nv as f64).ln(), (nr as f64).ln());
        for (k, l) in ll.iter_mut().enumerate() {
            let x = GRID_LO + GRID_STEP * k as f64;
            let u = x + a;
            let lse = if u > b {
                u + (b - u).exp().ln_1p()
            } else {
                b + (u - b).exp().ln_1p()
            };
            *l += xv * x + xv * a + xr * b - t * lse;
        }
    }
    let max = ll.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = ll.iter().map(|&l| (l - max).exp()).collect();
    let total: f64 = w.iter().sum();
    let threshold = (1.0 + margin).ln();
    let mut p_worse = 0.0;
    let mut cum = 0.0;
    let (mut lo, mut med, mut hi) = (None, None, None);
    for (k, &wk) in w.iter().enumerate() {
        let x = GRID_LO + GRID_STEP * k as f64;
        let p = if total > 0.0 { wk / total } else { 0.0 };
        if x > threshold {
            p_worse += p;
        }
        cum += p;
        if lo.is_none() && cum >= 0.025 {
            lo = Some(x);
        }
        if med.is_none() && cum >= 0.5 {
            med = Some(x);
        }
        if hi.is_none() && cum >= 0.975 {
            hi = Some(x);
        }
    }
    let end = GRID_LO + GRID_STEP * (GRID_N - 1) as f64;
    RatioSummary {
        median: med.unwrap_or(0.0).exp(),
        ci_low: lo.unwrap_or(GRID_LO).exp(),
        ci_high: hi.unwrap_or(end).exp(),
        p_worse: p_worse.clamp(0.0, 1.0),
        events,
        exposures: nv_all,
        reference_exposures: nr_all,
    }
}

/// The verdict of one rule from the ratio's posterior.
pub(super) fn verdict(
    rule: &GuardrailRule,
    s: &RatioSummary,
    reference: Option<VariantId>,
) -> GuardrailStatus {
    let enough = s.exposures >= rule.min_exposures
        && s.reference_exposures >= rule.min_exposures
        && s.events >= rule.min_events;
    let reason = GuardrailReason {
        metric: rule.metric,
        reference,
        ratio: s.median,
        p_worse: s.p_worse,
        margin: rule.margin,
        events: s.events,
        enough_evidence: enough,
    };
    if enough && s.p_worse > rule.probability {
        match rule.action {
            GuardrailAction::Cap => GuardrailStatus::Capped(reason),
            GuardrailAction::Retire => GuardrailStatus::Retired(reason),
        }
    } else if s.p_worse > 0.5 {
        GuardrailStatus::Watch(reason)
    } else {
        GuardrailStatus::Ok
    }
}

impl Experiment {
    /// Exposure-time strata of variant `v` (by position) against the
    /// reference: the control when named and active, else every other
    /// active variant pooled.
    pub(super) fn guard_strata(&self, v: usize, g: Guardrail) -> Vec<GuardStratum> {
        let control = self.control_position();
        let vs = &self.state.variants;
        let pick = |cells: &[Counts]| -> GuardStratum {
            let a = cells.get(v).copied().unwrap_or_default();
            let (mut nr, mut xr) = (0u64, 0u64);
            for (j, c) in cells.iter().enumerate() {
                let is_ref = match control {
                    Some(ci) => j == ci,
                    None => j != v && vs.get(j).is_some_and(|x| !x.retired),
                };
                if is_ref {
                    nr = nr.saturating_add(c.exposures);
                    xr = xr.saturating_add(c.guard(g));
                }
            }
            (a.exposures, a.guard(g), nr, xr)
        };
        self.state
            .fine
            .values()
            .map(|fb| pick(&fb.cells))
            .chain(self.state.coarse.values().map(|cells| pick(cells)))
            .collect()
    }

    /// The guardrail verdict of `variant` as of the last allocation recompute.
    pub fn guardrail_status(&self, variant: VariantId) -> Result<GuardrailStatus, OptimiserError> {
        Ok(self.state.variants[self.position(variant)?].guardrail)
    }

    /// The reference of the guardrail comparison (`None`: the others pooled).
    pub(super) fn guard_reference(&self) -> Option<VariantId> {
        self.control_position().map(|i| self.state.variants[i].id)
    }

    /// Every variant's guardrail verdict (by position) from the evidence:
    /// the control, retired variants (which keep their verdict) and, with
    /// fewer than two active variants, everyone are left as they are.
    pub(super) fn judge_guardrails(&self) -> Vec<GuardrailStatus> {
        let vs = &self.state.variants;
        let rules = &self.state.config.guardrails;
        let control = self.control_position();
        let active = vs.iter().filter(|v| !v.retired).count();
        let reference = self.guard_reference();
        (0..vs.len())
            .map(|i| {
                if vs[i].retired || rules.is_empty() {
                    return vs[i].guardrail;
                }
                if Some(i) == control || active < 2 {
                    return GuardrailStatus::Ok;
                }
                let capped = matches!(vs[i].guardrail, GuardrailStatus::Capped(_));
                rules.iter().fold(GuardrailStatus::Ok, |acc, rule| {
                    let s =
                        ratio_posterior(self.guard_strata(i, rule.metric).into_iter(), rule.margin);
                    let v = match verdict(rule, &s, reference) {
                        // A cap holds until the evidence clears the wording
                        // (P below one half), so that it does not flap while
                        // the probability hovers around the threshold.
                        GuardrailStatus::Watch(r) if capped => GuardrailStatus::Capped(r),
                        other => other,
                    };
                    acc.worst(v)
                })
            })
            .collect()
    }

    /// The report lines of variant `i` for the configured guardrails.
    pub(super) fn guard_lines(&self, i: usize) -> Vec<GuardrailLine> {
        let control = self.control_position();
        self.state
            .config
            .guardrails
            .iter()
            .map(|rule| {
                let strata = self.guard_strata(i, rule.metric);
                let (mut n, mut x) = (0u64, 0u64);
                let cells = self
                    .state
                    .fine
                    .values()
                    .map(|fb| fb.cells.get(i).copied().unwrap_or_default())
                    .chain(
                        self.state
                            .coarse
                            .values()
                            .map(|c| c.get(i).copied().unwrap_or_default()),
                    );
                for c in cells {
                    n = n.saturating_add(c.exposures);
                    x = x.saturating_add(c.guard(rule.metric));
                }
                let (a, b) = (x as f64 + 0.5, (n.saturating_sub(x)) as f64 + 0.5);
                GuardrailLine {
                    metric: rule.metric,
                    events: x,
                    rate: if n > 0 { x as f64 / n as f64 } else { 0.0 },
                    ci_low: beta_quantile(a, b, 0.025),
                    ci_high: beta_quantile(a, b, 0.975),
                    ratio: (Some(i) != control)
                        .then(|| ratio_posterior(strata.into_iter(), rule.margin)),
                }
            })
            .collect()
    }
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-14 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function `I_x(a, b)`.
fn beta_cdf(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_bt = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (-x).ln_1p();
    let bt = ln_bt.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        bt * beta_cf(a, b, x) / a
    } else {
        1.0 - bt * beta_cf(b, a, 1.0 - x) / b
    }
}

/// The `q` quantile of `Beta(a, b)` by bisection (deterministic).
pub(super) fn beta_quantile(a: f64, b: f64, q: f64) -> f64 {
    if !(a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite()) {
        return f64::NAN;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if beta_cdf(a, b, mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_quantiles_match_known_values() {
        // Beta(1, 1) is uniform; Beta(2, 1) has CDF x^2.
        assert!((beta_quantile(1.0, 1.0, 0.3) - 0.3).abs() < 1e-9);
        assert!((beta_quantile(2.0, 1.0, 0.25) - 0.5).abs() < 1e-9);
        // Jeffreys interval of 0 events in 1,000: upper end about 0.0025.
        let hi = beta_quantile(0.5, 1000.5, 0.975);
        assert!((hi - 0.002_51).abs() < 1e-4, "{hi}");
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn ratio_posterior_finds_a_threefold_rate() {
        // 30 events in 10,000 against 10 in 10,000, over five strata.
        let strata = (0..5).map(|_| (2_000, 6, 2_000, 2));
        let s = ratio_posterior(strata, 0.5);
        assert!(s.median > 2.0 && s.median < 3.5, "{s:?}");
        assert!(s.p_worse > 0.95, "{s:?}");
        assert_eq!(s.events, 40);
        // Equal rates: not worse.
        let s = ratio_posterior((0..5).map(|_| (2_000, 4, 2_000, 4)), 0.5);
        assert!(s.p_worse < 0.2 && (s.median - 1.0).abs() < 0.15, "{s:?}");
        // No evidence: the prior, P(R > 1.5) about 0.34.
        let s = ratio_posterior(std::iter::empty(), 0.5);
        assert!((s.p_worse - 0.34).abs() < 0.02, "{s:?}");
    }

    #[test]
    fn strata_where_one_side_was_not_served_carry_no_evidence() {
        let s = ratio_posterior([(1_000, 50, 0, 0), (0, 0, 1_000, 1)].into_iter(), 0.5);
        assert_eq!((s.events, s.exposures, s.reference_exposures), (0, 0, 0));
    }
}
