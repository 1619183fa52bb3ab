//! The report: per-variant posterior summaries, the value remaining and the
//! stopping rule's verdict.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::beta::Sampler;
use super::experiment::Experiment;
use super::monte_carlo::argmax_tally;
use crate::vocab::{ExperimentId, VariantId};

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
    /// Exposures counted as trials now (matured and discounted).
    pub effective_trials: f64,
    /// Share of traffic in the current allocation.
    pub share: f64,
    /// Posterior mean click rate.
    pub posterior_mean: f64,
    /// 2.5th percentile of the posterior.
    pub ci_low: f64,
    /// 97.5th percentile of the posterior.
    pub ci_high: f64,
    /// Probability of being the best active variant.
    pub p_best: f64,
    /// Expected loss `E[max θ − θ_this]` of serving only this variant.
    pub expected_loss: f64,
}

/// A report on an experiment at a given time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// The experiment.
    pub experiment: ExperimentId,
    /// Per variant, in id order (retired ones included).
    pub variants: Vec<VariantReport>,
    /// The active variant most likely to be best.
    pub leader: Option<VariantId>,
    /// 95th percentile of the value remaining `(max θ − θ_leader) / θ_leader`
    /// over the posterior (Scott 2015).
    pub value_remaining: f64,
    /// The stopping rule's verdict: the leader, when the value remaining is
    /// below the configured fraction.
    pub winner: Option<VariantId>,
    /// The click-delay CDF at its bin edges `(seconds, matured fraction)`
    /// (empty when every exposure counts at once).
    pub delay_cdf: Vec<(f64, f64)>,
}

impl Experiment {
    /// Reports on the experiment at `now` (does not change the state): per
    /// variant counts, posterior mean, 95% credible interval, probability of
    /// being best and expected loss, by `mc_draws` Monte Carlo draws; the
    /// value remaining and the stopping rule's verdict.
    pub fn report<R: Rng + ?Sized>(&self, now: DateTime<Utc>, rng: &mut R) -> Report {
        let (post, trials, cdf) = self.posteriors(now);
        let vs = &self.state.variants;
        let nv = vs.len();
        let draws = self.state.config.mc_draws as usize;
        let samplers: Vec<Sampler> = post.iter().map(|&p| Sampler::new(p)).collect();
        let eligible: Vec<bool> = vs.iter().map(|v| !v.retired).collect();
        let active: Vec<usize> = (0..nv).filter(|&i| eligible[i]).collect();
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
        let leader = active.iter().copied().max_by(|&a, &b| {
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
        let winner = leader
            .filter(|_| value_remaining < self.state.config.stop_threshold)
            .map(|l| vs[l].id);
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
                    clicks: v.clicks,
                    effective_trials: trials[i],
                    share: v.share,
                    posterior_mean: post[i].mean(),
                    ci_low: quantile(&mut col, 0.025),
                    ci_high: quantile(&mut col, 0.975),
                    p_best: p_best[i],
                    expected_loss: loss,
                }
            })
            .collect();
        Report {
            experiment: self.state.id.clone(),
            variants,
            leader: leader.map(|l| vs[l].id),
            value_remaining,
            winner,
            delay_cdf: cdf.points(),
        }
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
