//! Off-policy evaluation: what another allocation would have earned on the
//! exposures already served. See docs/design.md, *Off-policy evaluation*.
//!
//! Hash assignment from a published allocation makes every exposure's
//! assignment probability (its propensity) exactly known: the share its
//! variant had in the allocation it was served from. Group exposures by the
//! allocation they were served from (a *stratum*), and the standard
//! estimators answer "what reward per exposure would policy `π` have earned?"
//! for any fixed policy `π` (an even split, the control only, another
//! configuration's shares):
//!
//! - [`Estimator::Ips`]: inverse propensity scoring,
//!   `V = (1/N) Σ_i π(a_i)/p_i · r_i`. Unbiased when every variant `π` serves
//!   had a positive propensity; high variance when propensities are small.
//! - [`Estimator::SelfNormalisedIps`]: the same sum divided by
//!   `Σ_i π(a_i)/p_i` instead of `N`. Slightly biased (O(1/N)), much lower
//!   variance, and always within `[0, 1]`.
//! - [`Estimator::DoublyRobust`]: a reward model `q(v)` (each variant's pooled
//!   reward rate) plus the importance-weighted residual,
//!   `V = (1/N) Σ_i [Σ_v π(v) q(v) + π(a_i)/p_i · (r_i − q(a_i))]`. Unbiased
//!   when either the propensities or the model are right; the lowest variance
//!   of the three when the model is good.
//!
//! Each estimate comes with a 95% normal interval from the per-exposure
//! terms' sample variance (delta method for the self-normalised ratio).
//! Exposures whose rewards have not matured yet bias every estimator down
//! alike: evaluate on exposures old enough for their outcome to be known.
//!
//! ```
//! use dynopt::VariantId;
//! use dynopt::optimiser::offpolicy::{evaluate, ArmOutcome, Estimator, Stratum};
//!
//! let (a, b) = (VariantId(0), VariantId(1));
//! // Served 50/50 at first, then 20/80.
//! let logged = [
//!     Stratum::new(vec![(a, 0.5), (b, 0.5)], vec![ArmOutcome::new(a, 1000, 30), ArmOutcome::new(b, 1000, 50)]),
//!     Stratum::new(vec![(a, 0.2), (b, 0.8)], vec![ArmOutcome::new(a, 400, 11), ArmOutcome::new(b, 1600, 82)]),
//! ];
//! // What would "a only" have earned per exposure?
//! let v = evaluate(&logged, &[(a, 1.0)], Estimator::SelfNormalisedIps)?;
//! assert!(v.ci_low <= v.value && v.value <= v.ci_high);
//! assert!((v.value - 41.0 / 1400.0).abs() < 0.01);
//! # Ok::<(), dynopt::optimiser::offpolicy::OffPolicyError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::vocab::VariantId;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// How far a set of shares may be from summing to 1.
const SHARE_SUM_TOLERANCE: f64 = 1e-6;

/// One variant's outcomes within a stratum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArmOutcome {
    /// The variant.
    pub variant: VariantId,
    /// Exposures served from the stratum's allocation.
    pub exposures: u64,
    /// Of those, exposures with the reward (each counted once).
    pub rewards: u64,
}

impl ArmOutcome {
    /// A variant's exposures and rewards.
    pub fn new(variant: VariantId, exposures: u64, rewards: u64) -> ArmOutcome {
        ArmOutcome {
            variant,
            exposures,
            rewards,
        }
    }
}

/// The exposures served from one allocation: the shares that were published
/// (every variant's exact assignment probability) and what each variant's
/// exposures earned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stratum {
    /// The logging policy: each served variant's share (propensity).
    pub allocation: Vec<(VariantId, f64)>,
    /// What each variant's exposures earned.
    pub outcomes: Vec<ArmOutcome>,
}

impl Stratum {
    /// A stratum from its allocation and outcomes.
    pub fn new(allocation: Vec<(VariantId, f64)>, outcomes: Vec<ArmOutcome>) -> Stratum {
        Stratum {
            allocation,
            outcomes,
        }
    }
}

/// Which estimator [`evaluate`] uses; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Estimator {
    /// Inverse propensity scoring.
    Ips,
    /// Self-normalised inverse propensity scoring.
    SelfNormalisedIps,
    /// Doubly robust, with each variant's pooled reward rate as the model.
    DoublyRobust,
}

/// An estimated policy value: reward per exposure, with a 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PolicyValue {
    /// The estimated reward per exposure under the target policy.
    pub value: f64,
    /// Lower end of the 95% interval.
    pub ci_low: f64,
    /// Upper end of the 95% interval.
    pub ci_high: f64,
    /// Exposures the estimate is based on.
    pub exposures: u64,
    /// Effective sample size of the importance weights,
    /// `(Σ w)² / Σ w²` over exposures: small when the target policy is far
    /// from what was served.
    pub effective_exposures: f64,
}

/// Why [`evaluate`] cannot give an estimate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OffPolicyError {
    /// No stratum has an exposure (for the self-normalised estimator: no
    /// exposure of a variant the target policy serves).
    #[error("no exposures to evaluate on")]
    NoExposures,
    /// A stratum's allocation, or the target policy, has a negative or
    /// non-finite share, a variant twice, or shares that do not sum to 1.
    #[error("{which} shares are not a probability distribution (stratum {stratum})")]
    InvalidShares {
        /// `"logged"` or `"target"`.
        which: &'static str,
        /// The stratum's index (0 for the target policy).
        stratum: usize,
    },
    /// A variant has exposures in a stratum whose allocation gave it no share,
    /// or more rewards than exposures.
    #[error("outcomes of stratum {stratum} do not fit its allocation")]
    InconsistentOutcomes {
        /// The stratum's index.
        stratum: usize,
    },
    /// The target policy serves a variant that a stratum with exposures gave
    /// no share: nothing was observed there, so no estimator is unbiased.
    #[error("the target policy serves a variant stratum {stratum} never served")]
    Unsupported {
        /// The stratum's index.
        stratum: usize,
    },
}

fn share_of(shares: &[(VariantId, f64)], v: VariantId) -> f64 {
    shares
        .iter()
        .find(|(id, _)| *id == v)
        .map_or(0.0, |(_, s)| *s)
}

fn check_shares(
    shares: &[(VariantId, f64)],
    which: &'static str,
    stratum: usize,
) -> Result<(), OffPolicyError> {
    let bad = OffPolicyError::InvalidShares { which, stratum };
    let mut sum = 0.0;
    for (i, (v, s)) in shares.iter().enumerate() {
        if !s.is_finite() || *s < 0.0 || shares[..i].iter().any(|(w, _)| w == v) {
            return Err(bad);
        }
        sum += s;
    }
    if (sum - 1.0).abs() > SHARE_SUM_TOLERANCE {
        return Err(bad);
    }
    Ok(())
}

/// One row of per-exposure terms: `count` exposures, each with importance
/// weight `w = π(a)/p(a)` and reward `r`.
#[derive(Clone, Copy)]
struct Row {
    variant: VariantId,
    w: f64,
    exposures: f64,
    rewards: f64,
}

/// Estimates the reward per exposure that `target` (each variant's share;
/// variants left out get none) would have earned on the `logged` exposures.
///
/// Strata and outcomes with no exposures are ignored. Errors are typed and
/// name the stratum, never a value.
pub fn evaluate(
    logged: &[Stratum],
    target: &[(VariantId, f64)],
    estimator: Estimator,
) -> Result<PolicyValue, OffPolicyError> {
    check_shares(target, "target", 0)?;
    let mut rows = Vec::new();
    for (i, stratum) in logged.iter().enumerate() {
        let served: u64 = stratum.outcomes.iter().map(|o| o.exposures).sum();
        if served == 0 {
            continue;
        }
        check_shares(&stratum.allocation, "logged", i)?;
        for (v, s) in target {
            if *s > 0.0 && share_of(&stratum.allocation, *v) <= 0.0 {
                return Err(OffPolicyError::Unsupported { stratum: i });
            }
        }
        for (j, o) in stratum.outcomes.iter().enumerate() {
            if o.exposures == 0 {
                continue;
            }
            let p = share_of(&stratum.allocation, o.variant);
            let twice = stratum.outcomes[..j]
                .iter()
                .any(|x| x.variant == o.variant && x.exposures > 0);
            if p <= 0.0 || o.rewards > o.exposures || twice {
                return Err(OffPolicyError::InconsistentOutcomes { stratum: i });
            }
            rows.push(Row {
                variant: o.variant,
                w: share_of(target, o.variant) / p,
                exposures: o.exposures as f64,
                rewards: o.rewards as f64,
            });
        }
    }
    let n: f64 = rows.iter().map(|r| r.exposures).sum();
    if n == 0.0 {
        return Err(OffPolicyError::NoExposures);
    }
    let sum_w: f64 = rows.iter().map(|r| r.w * r.exposures).sum();
    let sum_w2: f64 = rows.iter().map(|r| r.w * r.w * r.exposures).sum();
    let effective_exposures = if sum_w2 > 0.0 {
        sum_w * sum_w / sum_w2
    } else {
        0.0
    };
    // Mean and variance of per-exposure terms: a rewarded exposure of a row
    // contributes `hit`, an unrewarded one `miss`.
    let moments = |term: &dyn Fn(&Row) -> (f64, f64)| {
        let (mut s1, mut s2) = (0.0, 0.0);
        for r in &rows {
            let (hit, miss) = term(r);
            let misses = r.exposures - r.rewards;
            s1 += hit * r.rewards + miss * misses;
            s2 += hit * hit * r.rewards + miss * miss * misses;
        }
        let mean = s1 / n;
        (mean, ((s2 / n - mean * mean).max(0.0) / n).sqrt())
    };
    let (value, se) = match estimator {
        Estimator::Ips => moments(&|r| (r.w, 0.0)),
        Estimator::SelfNormalisedIps => {
            if sum_w <= 0.0 {
                // The target serves only variants with no logged exposure.
                return Err(OffPolicyError::NoExposures);
            }
            let v: f64 = rows.iter().map(|r| r.w * r.rewards).sum::<f64>() / sum_w;
            // Delta method: terms w (r − V), scaled by the mean weight.
            let (_, se) = moments(&|r| (r.w * (1.0 - v), -r.w * v));
            (v, se / (sum_w / n))
        }
        Estimator::DoublyRobust => {
            let rate = |v: VariantId| {
                let (e, c) = rows
                    .iter()
                    .filter(|r| r.variant == v)
                    .fold((0.0, 0.0), |(e, c), r| (e + r.exposures, c + r.rewards));
                if e > 0.0 { c / e } else { 0.0 }
            };
            let base: f64 = target.iter().map(|(v, s)| s * rate(*v)).sum();
            moments(&|r| {
                let q = rate(r.variant);
                (base + r.w * (1.0 - q), base - r.w * q)
            })
        }
    };
    Ok(PolicyValue {
        value,
        ci_low: value - Z95 * se,
        ci_high: value + Z95 * se,
        exposures: n as u64,
        effective_exposures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a() -> VariantId {
        VariantId(0)
    }
    fn b() -> VariantId {
        VariantId(1)
    }

    #[test]
    fn on_policy_ips_is_the_observed_rate() {
        let logged = [Stratum::new(
            vec![(a(), 0.25), (b(), 0.75)],
            vec![ArmOutcome::new(a(), 250, 10), ArmOutcome::new(b(), 750, 60)],
        )];
        for est in [
            Estimator::Ips,
            Estimator::SelfNormalisedIps,
            Estimator::DoublyRobust,
        ] {
            let v = evaluate(&logged, &[(a(), 0.25), (b(), 0.75)], est).unwrap();
            assert!((v.value - 0.07).abs() < 1e-12, "{est:?} {}", v.value);
            assert!(v.ci_low < 0.07 && 0.07 < v.ci_high);
            assert!((v.effective_exposures - 1000.0).abs() < 1e-6);
        }
    }

    #[test]
    fn typed_errors() {
        let ok = vec![(a(), 0.5), (b(), 0.5)];
        let out = vec![ArmOutcome::new(a(), 10, 1), ArmOutcome::new(b(), 10, 2)];
        let s = |alloc: Vec<(VariantId, f64)>, out: Vec<ArmOutcome>| [Stratum::new(alloc, out)];
        assert_eq!(
            evaluate(&[], &ok, Estimator::Ips),
            Err(OffPolicyError::NoExposures)
        );
        assert!(matches!(
            evaluate(&s(ok.clone(), out.clone()), &[(a(), 0.7)], Estimator::Ips),
            Err(OffPolicyError::InvalidShares {
                which: "target",
                ..
            })
        ));
        assert!(matches!(
            evaluate(
                &s(vec![(a(), f64::NAN), (b(), 0.5)], out.clone()),
                &ok,
                Estimator::Ips
            ),
            Err(OffPolicyError::InvalidShares {
                which: "logged",
                ..
            })
        ));
        assert!(matches!(
            evaluate(
                &s(vec![(a(), 1.0)], out.clone()),
                &[(a(), 1.0)],
                Estimator::Ips
            ),
            Err(OffPolicyError::InconsistentOutcomes { .. })
        ));
        assert!(matches!(
            evaluate(
                &s(vec![(a(), 1.0)], vec![ArmOutcome::new(a(), 10, 1)]),
                &ok,
                Estimator::DoublyRobust
            ),
            Err(OffPolicyError::Unsupported { .. })
        ));
        assert!(matches!(
            evaluate(
                &s(ok.clone(), vec![ArmOutcome::new(a(), 1, 2)]),
                &ok,
                Estimator::Ips
            ),
            Err(OffPolicyError::InconsistentOutcomes { .. })
        ));
    }
}
