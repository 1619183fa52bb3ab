//! The click-delay model: how far an exposure's chance of being clicked has
//! matured after a given age.
//!
//! Delays are binned on a log scale (half-octave bins from one minute up to
//! the maturity horizon). The learned model is the Lynden-Bell estimator for
//! right-truncated data: for each bin, the reverse hazard
//! `P(delay in bin | delay <= bin end)` is estimated only from exposure
//! cohorts old enough to have seen that whole bin, shrunk towards a
//! scenario-independent log-normal prior by a pseudo-count; bins no cohort is
//! old enough for keep the prior's hazard. The CDF at the horizon is 1.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::snapshot::secs;
use crate::vocab::Reward;

/// How exposures count as trials while their clicks may still arrive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DelayModel {
    /// Every exposure counts as a full trial at once (clicks are assumed
    /// immediate). This is the "naive" model when clicks are in fact delayed.
    Immediate,
    /// A fixed log-normal click delay, not learned.
    Fixed(LogNormalDelay),
    /// Learned from observed exposure-to-click delays, starting from `prior`
    /// (weighted as `prior_weight` clicks per delay bin).
    Learned {
        /// The starting shape, used where no data has been seen.
        prior: LogNormalDelay,
        /// Pseudo-count of the prior in each bin's reverse hazard.
        prior_weight: f64,
    },
}

impl Default for DelayModel {
    /// Learned, from a broad email prior: median one hour, `sigma` 2
    /// (5% of clicks within 2 minutes, 95% within 27 hours), weight 5.
    fn default() -> Self {
        DelayModel::Learned {
            prior: LogNormalDelay::default(),
            prior_weight: 5.0,
        }
    }
}

impl DelayModel {
    /// The learned model with the prior for `reward`'s delay from exposure:
    /// clicks as [`default`](Self::default) (median one hour, sigma 2);
    /// opens median 30 minutes, sigma 1.8 (most opens come within hours);
    /// conversions median one day, sigma 1.5 (days). Weight 5 each.
    pub fn default_for(reward: Reward) -> DelayModel {
        let prior = match reward {
            Reward::Click => LogNormalDelay::default(),
            Reward::Open => LogNormalDelay {
                median: TimeDelta::minutes(30),
                sigma: 1.8,
            },
            Reward::Conversion { .. } => LogNormalDelay {
                median: TimeDelta::days(1),
                sigma: 1.5,
            },
        };
        DelayModel::Learned {
            prior,
            prior_weight: 5.0,
        }
    }
}

/// A log-normal delay distribution, truncated at the maturity horizon.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogNormalDelay {
    /// Median delay (serialised as float seconds under `median_secs`).
    #[serde(rename = "median_secs", with = "secs::f64")]
    pub median: TimeDelta,
    /// Standard deviation of the natural log of the delay.
    pub sigma: f64,
}

impl Default for LogNormalDelay {
    fn default() -> Self {
        LogNormalDelay {
            median: TimeDelta::hours(1),
            sigma: 2.0,
        }
    }
}

impl LogNormalDelay {
    pub(crate) fn is_valid(&self) -> bool {
        self.median > TimeDelta::zero() && self.sigma.is_finite() && self.sigma > 0.0
    }

    /// The distribution in float seconds, as the model computes with it.
    fn shape(&self) -> LogNormal {
        LogNormal {
            median_secs: secs::to_f64(self.median),
            sigma: self.sigma,
        }
    }
}

/// A log-normal distribution in float seconds (fitted medians need not be
/// whole nanoseconds).
#[derive(Clone, Copy, Debug, PartialEq)]
struct LogNormal {
    median_secs: f64,
    sigma: f64,
}

impl LogNormal {
    fn cdf(&self, secs: f64) -> f64 {
        if secs <= 0.0 {
            return 0.0;
        }
        normal_cdf((secs / self.median_secs).ln() / self.sigma)
    }
}

/// Standard normal CDF (Abramowitz & Stegun 7.1.26, error below 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// A parametric delay distribution the learned model can fit.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Family {
    LogNormal(LogNormal),
    /// Weibull with scale (seconds) and shape: `1 - exp(-(t / scale)^shape)`.
    Weibull(f64, f64),
}

impl Family {
    fn cdf(&self, secs: f64) -> f64 {
        match *self {
            Family::LogNormal(d) => d.cdf(secs),
            Family::Weibull(scale, shape) => {
                if secs <= 0.0 {
                    0.0
                } else {
                    -(-(secs / scale).powf(shape)).exp_m1()
                }
            }
        }
    }
}

/// Reverse hazards `P(delay in bin j | delay <= edge j)` of a distribution
/// truncated at the last edge.
fn reverse_hazards(edges: &[f64], d: &Family) -> Vec<f64> {
    let mut prev = 0.0;
    edges
        .iter()
        .map(|&e| {
            let hi = d.cdf(e);
            let g = if hi > 0.0 {
                ((hi - prev) / hi).clamp(0.0, 1.0)
            } else {
                1.0
            };
            prev = hi;
            g
        })
        .collect()
}

/// Fits a log-normal or a Weibull distribution to binned, right-truncated
/// delay counts by maximum likelihood of the reverse hazards on a grid
/// (scales 10 s to 21 days, a coarse pass in steps of e, then quarter steps
/// around the best), with the prior's hazards as `prior_weight` pseudo-clicks
/// spread over the bins.
fn fit(edges: &[f64], prior: &LogNormalDelay, prior_weight: f64, c: &[f64], cc: &[f64]) -> Family {
    const SIGMAS: [f64; 8] = [0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0];
    const KS: [f64; 8] = [0.3, 0.4, 0.5, 0.6, 0.75, 1.0, 1.3, 1.7];
    let prior = prior.shape();
    let g0 = reverse_hazards(edges, &Family::LogNormal(prior));
    let w = prior_weight / edges.len() as f64;
    let make = |weibull: bool, mu: f64, i: usize| {
        if weibull {
            Family::Weibull(mu.exp(), KS[i])
        } else {
            Family::LogNormal(LogNormal {
                median_secs: mu.exp(),
                sigma: SIGMAS[i],
            })
        }
    };
    let ll = |d: &Family| {
        let g = reverse_hazards(edges, d);
        let mut ll = 0.0;
        for j in 1..edges.len() {
            let gj = g[j].clamp(1e-12, 1.0 - 1e-12);
            let hits = c[j] + w * g0[j];
            let misses = (cc[j] - c[j]).max(0.0) + w * (1.0 - g0[j]);
            ll += hits * gj.ln() + misses * (1.0 - gj).ln();
        }
        ll
    };
    let lo = 10f64.ln();
    let hi = (21.0 * 86_400f64).ln();
    // (log-likelihood, weibull, mu, shape index)
    let mut best = (f64::NEG_INFINITY, false, prior.median_secs.ln(), 5usize);
    let mut mu = lo;
    while mu < hi {
        for i in 0..SIGMAS.len() {
            for weibull in [false, true] {
                let l = ll(&make(weibull, mu, i));
                if l > best.0 {
                    best = (l, weibull, mu, i);
                }
            }
        }
        mu += 1.0;
    }
    let (_, weibull, mu0, i0) = best;
    for dm in [-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75] {
        for i in i0.saturating_sub(1)..(i0 + 2).min(SIGMAS.len()) {
            let m = mu0 + dm;
            let l = ll(&make(weibull, m, i));
            if l > best.0 {
                best = (l, weibull, m, i);
            }
        }
    }
    if best.0.is_finite() {
        make(best.1, best.2, best.3)
    } else {
        Family::LogNormal(prior)
    }
}

/// Upper bin edges in seconds: `60 * 2^(k/2)` below the horizon, then the horizon.
pub(crate) fn bin_edges(horizon_secs: u32) -> Vec<f64> {
    let h = f64::from(horizon_secs);
    let mut edges = Vec::new();
    let mut k = 0i32;
    loop {
        let e = 60.0 * 2f64.powf(f64::from(k) / 2.0);
        if e >= h {
            break;
        }
        edges.push(e);
        k += 1;
    }
    edges.push(h);
    edges
}

/// The bin of a delay (delays past the horizon go to the last bin).
pub(crate) fn bin_of(edges: &[f64], delay_secs: f64) -> usize {
    let i = edges.partition_point(|&e| e <= delay_secs);
    i.min(edges.len().saturating_sub(1))
}

/// The click-delay CDF at the bin edges, interpolated in log time between them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DelayCdf {
    edges: Vec<f64>,
    at_edges: Vec<f64>,
}

impl DelayCdf {
    /// Every exposure counts at once.
    pub(crate) fn immediate() -> DelayCdf {
        DelayCdf {
            edges: Vec::new(),
            at_edges: Vec::new(),
        }
    }

    /// The CDF at the edges, starting from `prior` and updated with the
    /// per-bin counts `(c_j, C_j)` of the Lynden-Bell estimator: a
    /// log-normal is fitted to the counts (maximum likelihood of the reverse
    /// hazards on a grid, with the prior as `prior_weight` pseudo-clicks),
    /// and each bin's reverse hazard is the data's, shrunk towards the fit's
    /// by `prior_weight` pseudo-clicks. Bins no cohort is old enough for
    /// follow the fitted log-normal.
    pub(crate) fn estimate(
        edges: &[f64],
        prior: &LogNormalDelay,
        prior_weight: f64,
        counts: Option<(&[f64], &[f64])>,
    ) -> DelayCdf {
        let n = edges.len();
        let shape = match counts {
            Some((c, cc)) if cc.iter().any(|&x| x > 0.0) => fit(edges, prior, prior_weight, c, cc),
            Some(_) | None => Family::LogNormal(prior.shape()),
        };
        let g0 = reverse_hazards(edges, &shape);
        let mut at_edges = vec![0.0; n];
        let mut f = 1.0;
        for j in (0..n).rev() {
            at_edges[j] = f;
            let g = match counts {
                _ if j == 0 => 1.0,
                Some((c, cc)) => {
                    ((c[j] + prior_weight * g0[j]) / (cc[j] + prior_weight)).clamp(0.0, 1.0)
                }
                None => g0[j],
            };
            f *= 1.0 - g;
        }
        DelayCdf {
            edges: edges.to_vec(),
            at_edges,
        }
    }

    /// The matured fraction after `age_secs`.
    #[inline]
    pub(crate) fn at(&self, age_secs: f64) -> f64 {
        if self.edges.is_empty() {
            return 1.0;
        }
        if age_secs.is_nan() || age_secs <= 0.0 {
            return 0.0;
        }
        let k = self.edges.partition_point(|&e| e <= age_secs);
        if k >= self.edges.len() {
            return 1.0;
        }
        let hi_e = self.edges[k];
        let hi_f = self.at_edges[k];
        if k == 0 {
            return hi_f * age_secs / hi_e;
        }
        let lo_e = self.edges[k - 1];
        let lo_f = self.at_edges[k - 1];
        let t = (age_secs / lo_e).ln() / (hi_e / lo_e).ln();
        lo_f + (hi_f - lo_f) * t
    }

    /// The CDF at the bin edges (empty when every exposure counts at once).
    pub(crate) fn points(&self) -> Vec<(f64, f64)> {
        self.edges
            .iter()
            .copied()
            .zip(self.at_edges.iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_table() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }

    #[test]
    fn prior_cdf_is_the_truncated_log_normal() {
        let edges = bin_edges(7 * 86_400);
        let prior = LogNormalDelay::default();
        let cdf = DelayCdf::estimate(&edges, &prior, 5.0, None);
        let h = prior.shape().cdf(7.0 * 86_400.0);
        for (e, f) in cdf.points() {
            assert!((f - prior.shape().cdf(e) / h).abs() < 1e-9, "{e}: {f}");
        }
        assert_eq!(cdf.at(1e9), 1.0);
        assert_eq!(cdf.at(0.0), 0.0);
    }

    #[test]
    fn learning_recovers_an_exponential_delay() {
        // Clicks with exponential delays (mean 20 min), every cohort old enough.
        let edges = bin_edges(7 * 86_400);
        let mean = 1200.0;
        let true_cdf = |x: f64| 1.0 - (-x / mean).exp();
        let n = 100_000.0;
        let mut c = vec![0.0; edges.len()];
        let mut cc = vec![0.0; edges.len()];
        for j in 0..edges.len() {
            let lo = if j == 0 { 0.0 } else { edges[j - 1] };
            c[j] = n * (true_cdf(edges[j]) - true_cdf(lo));
            cc[j] = n * true_cdf(edges[j]);
        }
        let cdf = DelayCdf::estimate(&edges, &LogNormalDelay::default(), 5.0, Some((&c, &cc)));
        for age in [300.0, 1200.0, 3600.0] {
            assert!(
                (cdf.at(age) - true_cdf(age)).abs() < 0.03,
                "{age}: {}",
                cdf.at(age)
            );
        }
    }

    #[test]
    fn truncated_data_gets_the_shape_inside_the_window_right() {
        // Only delays up to 30 minutes observed (exponential, mean 10 min):
        // the tail is not identified, but ratios of F inside the window are.
        let edges = bin_edges(7 * 86_400);
        let mean = 600.0;
        let true_cdf = |x: f64| 1.0 - (-x / mean).exp();
        let n = 1000.0;
        let mut c = vec![0.0; edges.len()];
        let mut cc = vec![0.0; edges.len()];
        for j in 0..edges.len() {
            if edges[j] > 1800.0 {
                break;
            }
            let lo = if j == 0 { 0.0 } else { edges[j - 1] };
            c[j] = n * (true_cdf(edges[j]) - true_cdf(lo));
            cc[j] = n * true_cdf(edges[j]);
        }
        let cdf = DelayCdf::estimate(&edges, &LogNormalDelay::default(), 5.0, Some((&c, &cc)));
        for (a, b) in [(120.0, 600.0), (300.0, 1200.0)] {
            let got = cdf.at(a) / cdf.at(b);
            let want = true_cdf(a) / true_cdf(b);
            assert!(
                (got / want - 1.0).abs() < 0.08,
                "F({a})/F({b}) = {got}, want {want}"
            );
        }
    }
}
