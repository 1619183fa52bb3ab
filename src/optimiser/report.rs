//! The report: per-variant posterior summaries, the value remaining and the
//! stopping rule's verdict.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::beta::Sampler;
use super::experiment::Experiment;
use super::guardrail::{GuardrailLine, GuardrailStatus};
use super::monte_carlo::argmax_tally;
use super::uplift::{Srm, Stratum, Uplift, srm, uplift, uplift_pooled};
use crate::vocab::{ExperimentId, Reward, RewardKind, VariantId};

/// One variant's line in a [`Report`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VariantReport {
    /// The variant.
    pub id: VariantId,
    /// Its label (the copy's name).
    pub label: String,
    /// Whether it is retired.
    pub retired: bool,
    /// Exposures reported by attribution (undiscounted).
    pub exposures: u64,
    /// First clicks reported by attribution (undiscounted).
    pub clicks: u64,
    /// Successes of the experiment's reward reported by attribution
    /// (undiscounted): first clicks, first human opens or first conversions.
    /// The posterior, probability of being best and uplift are of this.
    pub rewards: u64,
    /// First human opens reported by attribution (undiscounted; only
    /// emitted for open-reward experiments).
    pub opens: u64,
    /// First conversions reported by attribution (undiscounted; only
    /// emitted for conversion-reward experiments).
    pub conversions: u64,
    /// One line per configured guardrail: events, rate with its 95%
    /// credible interval, and the ratio against the reference.
    pub guardrails: Vec<GuardrailLine>,
    /// The guardrail verdict of the last allocation recompute, with the reason.
    pub guardrail_status: GuardrailStatus,
    /// Exposures counted as trials now (matured and discounted).
    pub effective_trials: f64,
    /// Share of traffic in the current allocation.
    pub share: f64,
    /// Posterior mean reward rate (click rate by default).
    pub posterior_mean: f64,
    /// 2.5th percentile of the posterior.
    pub ci_low: f64,
    /// 97.5th percentile of the posterior.
    pub ci_high: f64,
    /// Probability of being the best active variant.
    pub p_best: f64,
    /// Expected loss `E[max θ − θ_this]` of serving only this variant.
    pub expected_loss: f64,
    /// Added while running and short of `min_evidence` matured trials: it
    /// cannot lead and no winner is declared while it is active.
    pub learning: bool,
    /// Uplift over the control (stratified by exposure time; see
    /// [`Uplift`]); `None` for the control itself, without a control, or
    /// before both have clicks.
    pub uplift: Option<Uplift>,
}

/// A report on an experiment at a given time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// The experiment.
    pub experiment: ExperimentId,
    /// What the posteriors learn from.
    pub reward: Reward,
    /// Per variant, in id order (retired ones included).
    pub variants: Vec<VariantReport>,
    /// The active variant most likely to be best, among those not learning
    /// (among all active ones when every one is learning).
    pub leader: Option<VariantId>,
    /// The control, when one is named (its line is always in `variants`).
    pub control: Option<VariantId>,
    /// 95th percentile of the value remaining `(max θ − θ_leader) / θ_leader`
    /// over the posterior (Scott 2015).
    pub value_remaining: f64,
    /// The stopping rule's verdict: the leader, when the value remaining is
    /// below the configured fraction, no active variant is learning and
    /// every active variant that can lead has at least `stop_min_rewards`
    /// successes of the reward.
    pub winner: Option<VariantId>,
    /// The click-delay CDF at its bin edges `(seconds, matured fraction)`
    /// (empty when every exposure counts at once).
    pub delay_cdf: Vec<(f64, f64)>,
    /// Exposure-to-click delays the delay model has learned from (clicks
    /// with an exposure time: recorded exposure, tag serve time or Currents
    /// `send_time`). `0` means the learned model is still at its prior.
    pub delay_observations: u64,
    /// Sample-ratio-mismatch check of exposures against the allocation in
    /// force at each exposure's time; `None` with fewer than two variants
    /// served or for evidence restored from a snapshot without the counts.
    pub srm: Option<Srm>,
}

impl Experiment {
    /// Reports on the experiment at `now` (does not change the state): per
    /// variant counts, posterior mean, 95% credible interval, probability of
    /// being best and expected loss, by `mc_draws` Monte Carlo draws; the
    /// value remaining and the stopping rule's verdict; the uplift of each
    /// variant over the control; the SRM check.
    pub fn report<R: Rng + ?Sized>(&self, now: DateTime<Utc>, rng: &mut R) -> Report {
        self.report_as_of(now, now, rng)
    }

    /// [`report`](Self::report) with discounting measured as of `as_of`
    /// instead of `now` (clicks still mature as of `now`). With a half-life,
    /// a report long after the send decays every posterior back to the prior;
    /// `as_of` = the end of the send keeps the evidence as it stood then.
    /// Without a half-life it equals `report(now)`.
    pub fn report_as_of<R: Rng + ?Sized>(
        &self,
        now: DateTime<Utc>,
        as_of: DateTime<Utc>,
        rng: &mut R,
    ) -> Report {
        let (post, trials, cdf) = self.posteriors(now, as_of);
        let min_evidence = self.state.config.min_evidence;
        let learning: Vec<bool> = self
            .state
            .variants
            .iter()
            .zip(&trials)
            .map(|(v, &n)| v.learning && n < min_evidence)
            .collect();
        let vs = &self.state.variants;
        let nv = vs.len();
        let draws = self.state.config.mc_draws as usize;
        let samplers: Vec<Sampler> = post.iter().map(|&p| Sampler::new(p)).collect();
        // A wording a guardrail caps cannot be best: it is left out of the
        // argmax (its draws still give its interval), unless all are capped.
        let any_uncapped = vs.iter().any(|v| !v.retired && !v.guardrail.acts());
        let eligible: Vec<bool> = vs
            .iter()
            .map(|v| !(v.retired || (any_uncapped && v.guardrail.acts())))
            .collect();
        let active: Vec<usize> = (0..nv).filter(|&i| !vs[i].retired).collect();
        let mut cols: Vec<Vec<f64>> = vec![Vec::with_capacity(draws); nv];
        let mut maxes = Vec::with_capacity(draws);
        let tally = argmax_tally(
            self.state.config.mc_draws,
            &eligible,
            |_, i| {
                let x = samplers[i].sample(rng);
                cols[i].push(x);
                x
            },
            |m| maxes.push(m),
        );
        let dn = draws as f64;
        let p_best: Vec<f64> = tally.wins.iter().map(|&w| f64::from(w) / dn).collect();
        // A capped wording cannot lead (unless every one is capped).
        let uncapped: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&i| !vs[i].guardrail.acts())
            .collect();
        let active_for_lead = if uncapped.is_empty() {
            &active
        } else {
            &uncapped
        };
        let settled: Vec<usize> = active_for_lead
            .iter()
            .copied()
            .filter(|&i| !learning[i])
            .collect();
        let candidates = if settled.is_empty() {
            active_for_lead
        } else {
            &settled
        };
        let leader = candidates.iter().copied().max_by(|&a, &b| {
            p_best[a]
                .total_cmp(&p_best[b])
                .then(post[a].mean().total_cmp(&post[b].mean()))
                .then(b.cmp(&a))
        });
        let value_remaining = match leader {
            Some(l) => {
                let mut pvr: Vec<f64> = cols[l]
                    .iter()
                    .zip(&maxes)
                    .map(|(&x, &m)| if x > 0.0 { (m - x) / x } else { f64::INFINITY })
                    .collect();
                quantile(&mut pvr, 0.95)
            }
            None => f64::INFINITY,
        };
        let any_learning = active.iter().any(|&i| learning[i]);
        // Every variant that can lead has its minimum of observed rewards (a
        // capped one cannot lead, so its evidence does not hold the verdict
        // back).
        let stop_min = self.state.config.stop_min_rewards;
        let evidenced = active_for_lead.iter().all(|&i| vs[i].clicks >= stop_min);
        let winner = leader
            .filter(|_| {
                value_remaining < self.state.config.stop_threshold && !any_learning && evidenced
            })
            .map(|l| vs[l].id);
        let control = self.control_position();
        let reward = self.state.config.reward.kind();
        let mut matured: Option<Vec<f64>> = None;
        let variants = (0..nv)
            .map(|i| {
                let v = &vs[i];
                let loss = if active.is_empty() {
                    0.0
                } else {
                    cols[i]
                        .iter()
                        .zip(&maxes)
                        .map(|(&x, &m)| (m - x).max(0.0))
                        .sum::<f64>()
                        / dn
                };
                let mut col = std::mem::take(&mut cols[i]);
                VariantReport {
                    id: v.id,
                    label: v.label.clone(),
                    retired: v.retired,
                    exposures: v.exposures,
                    clicks: match reward {
                        RewardKind::Click => v.clicks,
                        RewardKind::Open | RewardKind::Conversion => v.other.clicks,
                    },
                    rewards: v.clicks,
                    opens: match reward {
                        RewardKind::Open => v.clicks,
                        RewardKind::Click | RewardKind::Conversion => v.other.opens,
                    },
                    conversions: match reward {
                        RewardKind::Conversion => v.clicks,
                        RewardKind::Click | RewardKind::Open => v.other.conversions,
                    },
                    guardrails: self.guard_lines(i),
                    guardrail_status: v.guardrail,
                    effective_trials: trials[i],
                    share: v.share,
                    posterior_mean: post[i].mean(),
                    ci_low: quantile(&mut col, 0.025),
                    ci_high: quantile(&mut col, 0.975),
                    p_best: p_best[i],
                    expected_loss: loss,
                    learning: learning[i],
                    uplift: control.filter(|&c| c != i).and_then(|c| {
                        if vs[i].untimed > 0 || vs[c].untimed > 0 {
                            let ev =
                                matured.get_or_insert_with(|| self.matured_exposures(now, &cdf));
                            uplift_pooled(ev[i], vs[i].clicks, ev[c], vs[c].clicks)
                        } else {
                            uplift(self.strata(i, c))
                        }
                    }),
                }
            })
            .collect();
        let counts: Vec<(u64, f64)> = vs
            .iter()
            .map(|v| (v.exposures, v.expected_exposures))
            .collect();
        let observed: u64 = counts.iter().fold(0, |a, c| a.saturating_add(c.0));
        let expected: f64 = counts.iter().map(|c| c.1).sum();
        let srm = ((expected - observed as f64).abs() <= 0.5 + 1e-9 * observed as f64)
            .then(|| srm(&counts))
            .flatten();
        Report {
            experiment: self.state.id.clone(),
            reward: self.state.config.reward,
            variants,
            leader: leader.map(|l| vs[l].id),
            value_remaining,
            winner,
            delay_cdf: cdf.points(),
            control: self.state.control,
            delay_observations: self.delay_observations(),
            srm,
        }
    }

    /// Exposure-time strata of variant `v` against the control `c` (by
    /// position): every fine and daily bucket.
    fn strata(&self, v: usize, c: usize) -> impl Iterator<Item = Stratum> + '_ {
        let pick = move |cells: &[super::experiment::Counts]| -> Stratum {
            let a = cells.get(v).copied().unwrap_or_default();
            let b = cells.get(c).copied().unwrap_or_default();
            (a.exposures, a.clicks, b.exposures, b.clicks)
        };
        self.state
            .fine
            .values()
            .map(move |fb| pick(&fb.cells))
            .chain(self.state.coarse.values().map(move |cells| pick(cells)))
    }
}

/// The `q` quantile of `xs` (nearest rank; sorts in place; NaN-safe).
fn quantile(xs: &mut [f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_unstable_by(f64::total_cmp);
    let i = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1;
    xs[i]
}
