//! Experiment configuration and the module's errors.

use serde::{Deserialize, Serialize};

use super::delay::DelayModel;
use crate::vocab::{ExperimentId, VariantId};

/// Most variants an experiment may serve at once.
pub const MAX_ACTIVE_VARIANTS: usize = 50;
/// Most variants an experiment may ever hold (retired ones included).
pub const MAX_VARIANTS: usize = 250;

/// The configuration of one experiment. Start from [`ExperimentConfig::default`]
/// and change the fields you need.
///
/// ```
/// use dynopt::optimiser::ExperimentConfig;
/// let mut config = ExperimentConfig::default();
/// config.salt = 0x5eed;
/// config.half_life_secs = Some(14.0 * 86_400.0);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExperimentConfig {
    /// Prior `Beta(alpha, beta)` of every variant's click rate (default `Beta(1, 1)`).
    pub prior_alpha: f64,
    /// See `prior_alpha`.
    pub prior_beta: f64,
    /// Host secret mixed into the sticky-assignment key (see [`crate::optimiser`]).
    pub salt: u64,
    /// Monte Carlo draws per allocation and report (default 10,000; 100 to 100,000:
    /// a report holds draws × variants floats).
    pub mc_draws: u32,
    /// Minimum share of traffic per active variant (default 0; capped at `1 / K`).
    pub min_share: f64,
    /// Top-two Thompson sampling: the probability of serving the leader
    /// (Russo's `beta`, typically 0.5); `None` serves by probability of being best.
    pub top_two: Option<f64>,
    /// Discounting: evidence loses half its weight every this many seconds
    /// (by exposure time); `None` keeps all evidence at full weight.
    pub half_life_secs: Option<f64>,
    /// How unmatured exposures count (default: learned from observed delays).
    pub delay: DelayModel,
    /// Width of the exposure time buckets in seconds (default 300).
    pub bucket_secs: u32,
    /// Maturity horizon in seconds: clicks come at most this long after the
    /// exposure (default 7 days, the attribution window). Buckets older than
    /// this are merged into daily buckets.
    pub horizon_secs: u32,
    /// Automatic retirement of consistent losers (default off).
    pub auto_retire: Option<AutoRetire>,
    /// Stopping rule: declare a winner when the 95th percentile of the value
    /// remaining is below this fraction of the leader's rate (default 0.01).
    pub stop_threshold: f64,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        ExperimentConfig {
            prior_alpha: 1.0,
            prior_beta: 1.0,
            salt: 0,
            mc_draws: 10_000,
            min_share: 0.0,
            top_two: None,
            half_life_secs: None,
            delay: DelayModel::default(),
            bucket_secs: 300,
            horizon_secs: 7 * 86_400,
            auto_retire: None,
            stop_threshold: 0.01,
        }
    }
}

/// Retire a variant automatically at an allocation recompute when it has at
/// least `min_exposures` exposures and its probability of being best is below
/// `max_p_best`. The variant with the most Monte Carlo wins is never retired.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoRetire {
    /// Probability of being best under which a variant is retired (e.g. 0.001).
    pub max_p_best: f64,
    /// Exposures a variant needs before it can be retired.
    pub min_exposures: u64,
}

impl ExperimentConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), OptimiserError> {
        let bad = |what: &'static str| Err(OptimiserError::Config(what));
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !pos(self.prior_alpha) || !pos(self.prior_beta) {
            return bad("prior shapes must be finite and positive");
        }
        if !(100..=100_000).contains(&self.mc_draws) {
            return bad("mc_draws must be between 100 and 100,000");
        }
        if !(self.min_share.is_finite() && (0.0..1.0).contains(&self.min_share)) {
            return bad("min_share must be in [0, 1)");
        }
        if let Some(b) = self.top_two
            && !(b.is_finite() && b > 0.0 && b < 1.0)
        {
            return bad("top_two must be in (0, 1)");
        }
        if let Some(h) = self.half_life_secs
            && !(h.is_finite() && h >= 1.0)
        {
            return bad("half_life_secs must be at least 1");
        }
        match self.delay {
            DelayModel::Immediate => {}
            DelayModel::Fixed(d) => {
                if !d.is_valid() {
                    return bad("delay median and sigma must be finite and positive");
                }
            }
            DelayModel::Learned {
                prior,
                prior_weight,
            } => {
                if !prior.is_valid() {
                    return bad("delay median and sigma must be finite and positive");
                }
                if !(prior_weight.is_finite() && prior_weight > 0.0) {
                    return bad("delay prior_weight must be finite and positive");
                }
            }
        }
        if !(60..=366 * 86_400).contains(&self.horizon_secs) {
            return bad("horizon_secs must be between one minute and 366 days");
        }
        if self.bucket_secs == 0 || self.bucket_secs > self.horizon_secs {
            return bad("bucket_secs must be positive and at most horizon_secs");
        }
        if let Some(r) = self.auto_retire
            && !(r.max_p_best.is_finite() && (0.0..1.0).contains(&r.max_p_best))
        {
            return bad("auto_retire.max_p_best must be in [0, 1)");
        }
        if !(self.stop_threshold.is_finite() && self.stop_threshold > 0.0) {
            return bad("stop_threshold must be finite and positive");
        }
        Ok(())
    }
}

/// What went wrong in an optimiser call. None of these is caused by a panic
/// path; each names the misuse or the unknown id.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OptimiserError {
    /// A configuration field is out of range (the message names it).
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// No experiment has this id.
    #[error("unknown experiment {0}")]
    UnknownExperiment(ExperimentId),
    /// An experiment with this id already exists.
    #[error("experiment {0} already exists")]
    DuplicateExperiment(ExperimentId),
    /// An update for one experiment was applied to another.
    #[error("update for experiment {update} applied to experiment {experiment}")]
    WrongExperiment {
        /// The experiment the update is for.
        update: ExperimentId,
        /// The experiment it was applied to.
        experiment: ExperimentId,
    },
    /// The experiment has no variant with this id.
    #[error("unknown variant {0}")]
    UnknownVariant(VariantId),
    /// Every variant is retired (or none was added): nothing can be served.
    #[error("the experiment has no active variant")]
    NoActiveVariant,
    /// Adding a variant would exceed 50 active or 250 total variants.
    #[error("too many variants (at most 50 active, 250 in all)")]
    TooManyVariants,
    /// An update kind this version does not know.
    #[error("unsupported update kind")]
    UnsupportedUpdate,
    /// The two states cannot be merged (the message says why).
    #[error("cannot merge: {0}")]
    Merge(&'static str),
}

/// A snapshot could not be restored.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The bytes are not a snapshot (serde's message).
    #[error("snapshot does not parse: {0}")]
    Parse(String),
    /// The snapshot was written by another format version.
    #[error("snapshot format version {found}, this build reads version {expected}")]
    Version {
        /// The version in the snapshot.
        found: u32,
        /// The version this build writes and reads.
        expected: u32,
    },
    /// The snapshot parses but breaks an invariant (the message names it).
    #[error("snapshot is inconsistent: {0}")]
    Invalid(&'static str),
}
