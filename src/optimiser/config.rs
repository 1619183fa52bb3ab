//! Experiment configuration and the module's errors.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::delay::DelayModel;
use crate::snapshot::secs;
use crate::vocab::{ExperimentId, Guardrail, Reward, VariantId};

/// Most variants an experiment may serve at once.
pub const MAX_ACTIVE_VARIANTS: usize = 50;
/// Most variants an experiment may ever hold (retired ones included).
pub const MAX_VARIANTS: usize = 250;

/// The configuration of one optimiser experiment. Start from
/// [`OptimiserConfig::default`] and change the fields you need;
/// [`validate`](Self::validate) checks them (adding or restoring an
/// experiment calls it).
///
/// ```
/// use chrono::TimeDelta;
/// use dynopt::optimiser::OptimiserConfig;
/// let mut config = OptimiserConfig::default();
/// config.salt = 0x5eed;
/// config.half_life = Some(TimeDelta::days(14));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OptimiserConfig {
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
    /// Discounting: evidence loses half its weight every this long (by
    /// exposure time; at least one second); `None` keeps all evidence at full
    /// weight. Serialised as float seconds under `half_life_secs`.
    #[serde(rename = "half_life_secs", with = "secs::opt_f64")]
    pub half_life: Option<TimeDelta>,
    /// How unmatured exposures count (default: learned from observed delays).
    pub delay: DelayModel,
    /// Width of the exposure time buckets, whole seconds (default 5 minutes).
    /// Serialised as integer seconds under `bucket_secs`.
    #[serde(rename = "bucket_secs", with = "secs::u32")]
    pub bucket: TimeDelta,
    /// Maturity horizon, whole seconds: clicks come at most this long after
    /// the exposure (default 7 days, the attribution window). Buckets older
    /// than this are merged into daily buckets. Serialised as integer seconds
    /// under `horizon_secs`.
    #[serde(rename = "horizon_secs", with = "secs::u32")]
    pub horizon: TimeDelta,
    /// Automatic retirement of consistent losers (default off).
    pub auto_retire: Option<AutoRetire>,
    /// Stopping rule: declare a winner when the 95th percentile of the value
    /// remaining is below this fraction of the leader's rate (default 0.01).
    pub stop_threshold: f64,
    /// Stopping rule: successes of the reward (first clicks by default)
    /// every active variant that can lead needs before a winner may be
    /// declared (default 50). Counted as observed, whatever the delay model
    /// says: early in a send the matured trials rest on the delay model's
    /// extrapolation beyond the delays seen so far, and with a few dozen
    /// clicks per variant the rule fired on flukes. See docs/design.md,
    /// *Report and stopping rule*.
    #[serde(
        default = "default_stop_min_rewards",
        skip_serializing_if = "is_default_stop_min_rewards"
    )]
    pub stop_min_rewards: u64,
    /// Learning mode for variants added while the experiment runs: matured
    /// (effective) trials such a variant needs before it may lead, be
    /// declared winner or get more than `1 / K` of the traffic (default
    /// 1,000). See docs/design.md, *Variants added while running*.
    #[serde(
        default = "default_min_evidence",
        skip_serializing_if = "is_default_min_evidence"
    )]
    pub min_evidence: f64,
    /// Weight, in pseudo-trials, of the empirical-Bayes prior a variant added
    /// while running starts from: the mean of its active siblings' posterior
    /// means, worth this many trials (default 100: weak, so the variant earns
    /// its share by its own evidence).
    #[serde(
        default = "default_added_prior_weight",
        skip_serializing_if = "is_default_added_prior_weight"
    )]
    pub added_prior_weight: f64,
    /// Fixed share of traffic of the control variant, when one is named with
    /// [`Experiment::set_control`](super::Experiment::set_control) (default
    /// 0.10; in `(0, 1)`).
    #[serde(
        default = "default_control_share",
        skip_serializing_if = "is_default_control_share"
    )]
    pub control_share: f64,
    /// What the posteriors learn from (default: the first click). Only the
    /// updates of this kind are successes; the other outcomes are counted
    /// for the report. Give attribution the same value. Build with
    /// [`with_reward`](Self::with_reward) to get the reward's default delay
    /// prior too.
    #[serde(default, skip_serializing_if = "Reward::is_click")]
    pub reward: Reward,
    /// Guardrail metrics that must not get worse than the control's (at
    /// most one rule per metric; default none). See [`GuardrailRule`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<GuardrailRule>,
}

/// What happens to a wording whose guardrail rate is credibly worse than the
/// reference's by more than the margin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GuardrailAction {
    /// Its share is capped at the minimum share (`min_share`, at most `1/K`;
    /// none when `min_share` is 0) at every recompute while the verdict
    /// stands; it cannot lead or be declared winner (the default). The cap
    /// holds until the probability of exceeding the margin falls below one
    /// half.
    #[default]
    Cap,
    /// It is retired for good.
    Retire,
}

/// One guardrail: a metric (unsubscribes, spam complaints, hard bounces)
/// whose rate per exposure a wording may not raise above the reference's by
/// more than `margin`.
///
/// The reference is the control ([`Experiment::set_control`](super::Experiment::set_control));
/// without one, the other active wordings pooled. At each allocation
/// recompute the rate ratio `R = rate(wording) / rate(reference)` gets a
/// posterior from the events and exposures of both, compared within the
/// same exposure-time buckets (so events still to come and a changing
/// allocation bias neither side); the wording *acts* (capped or retired, see
/// [`GuardrailAction`]) when `P(R > 1 + margin) > probability` and it has
/// the evidence (`min_exposures` on each side, `min_events` events in all),
/// and is *watched* when that probability is above one half without acting.
/// The control is never capped.
///
/// ```
/// use dynopt::optimiser::{GuardrailRule, OptimiserConfig};
/// use dynopt::Guardrail;
/// let mut config = OptimiserConfig::default();
/// config.guardrails.push(GuardrailRule::new(Guardrail::Unsubscribe));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GuardrailRule {
    /// The metric.
    pub metric: Guardrail,
    /// Tolerated relative excess over the reference's rate (default 0.5: up
    /// to 1.5 times the reference's rate is tolerated). At least 0.
    pub margin: f64,
    /// Posterior probability of exceeding the margin above which the
    /// wording acts (default 0.99; in `[0.5, 1)`).
    pub probability: f64,
    /// Exposures the wording and the reference each need, in the buckets
    /// where both were served, before it can act (default 2,000).
    pub min_exposures: u64,
    /// Guardrail events (wording and reference together) needed before it
    /// can act (default 10).
    pub min_events: u64,
    /// Cap or retire (default cap).
    pub action: GuardrailAction,
}

impl GuardrailRule {
    /// A rule with the defaults: margin 0.5, probability 0.99, 2,000
    /// exposures and 10 events of evidence, cap.
    pub fn new(metric: Guardrail) -> GuardrailRule {
        GuardrailRule {
            metric,
            margin: 0.5,
            probability: 0.99,
            min_exposures: 2_000,
            min_events: 10,
            action: GuardrailAction::Cap,
        }
    }
}

fn default_min_evidence() -> f64 {
    1_000.0
}

fn default_stop_min_rewards() -> u64 {
    50
}

fn default_added_prior_weight() -> f64 {
    100.0
}

fn default_control_share() -> f64 {
    0.10
}

// Fields at their defaults are left out of snapshots, so a snapshot of an
// earlier version restores and writes back byte for byte.
fn is_default_min_evidence(x: &f64) -> bool {
    *x == default_min_evidence()
}

fn is_default_stop_min_rewards(x: &u64) -> bool {
    *x == default_stop_min_rewards()
}

fn is_default_added_prior_weight(x: &f64) -> bool {
    *x == default_added_prior_weight()
}

fn is_default_control_share(x: &f64) -> bool {
    *x == default_control_share()
}

impl Default for OptimiserConfig {
    fn default() -> Self {
        OptimiserConfig {
            prior_alpha: 1.0,
            prior_beta: 1.0,
            salt: 0,
            mc_draws: 10_000,
            min_share: 0.0,
            top_two: None,
            half_life: None,
            delay: DelayModel::default(),
            bucket: TimeDelta::minutes(5),
            horizon: TimeDelta::days(7),
            auto_retire: None,
            stop_threshold: 0.01,
            stop_min_rewards: default_stop_min_rewards(),
            min_evidence: default_min_evidence(),
            added_prior_weight: default_added_prior_weight(),
            control_share: default_control_share(),
            reward: Reward::Click,
            guardrails: Vec::new(),
        }
    }
}

impl OptimiserConfig {
    /// The defaults for `reward`: the reward and its learned delay model's
    /// prior ([`DelayModel::default_for`]).
    pub fn with_reward(reward: Reward) -> OptimiserConfig {
        OptimiserConfig {
            reward,
            delay: DelayModel::default_for(reward),
            ..OptimiserConfig::default()
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

/// Whole seconds of a duration that [`OptimiserConfig::validate`] accepted
/// (`0` otherwise).
fn whole_secs(d: TimeDelta) -> u32 {
    if d.subsec_nanos() == 0 {
        u32::try_from(d.num_seconds()).unwrap_or(0)
    } else {
        0
    }
}

impl OptimiserConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), OptimiserConfigError> {
        use OptimiserConfigError as E;
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !pos(self.prior_alpha) || !pos(self.prior_beta) {
            return Err(E::Prior);
        }
        if !(100..=100_000).contains(&self.mc_draws) {
            return Err(E::McDraws);
        }
        if !(self.min_share.is_finite() && (0.0..1.0).contains(&self.min_share)) {
            return Err(E::MinShare);
        }
        if let Some(b) = self.top_two
            && !(b.is_finite() && b > 0.0 && b < 1.0)
        {
            return Err(E::TopTwo);
        }
        if let Some(h) = self.half_life
            && h < TimeDelta::seconds(1)
        {
            return Err(E::HalfLife);
        }
        match self.delay {
            DelayModel::Immediate => {}
            DelayModel::Fixed(d) => {
                if !d.is_valid() {
                    return Err(E::DelayShape);
                }
            }
            DelayModel::Learned {
                prior,
                prior_weight,
            } => {
                if !prior.is_valid() {
                    return Err(E::DelayShape);
                }
                if !(prior_weight.is_finite() && prior_weight > 0.0) {
                    return Err(E::DelayPriorWeight);
                }
            }
        }
        if !(60..=366 * 86_400).contains(&whole_secs(self.horizon)) {
            return Err(E::Horizon);
        }
        let bucket = whole_secs(self.bucket);
        if bucket == 0 || bucket > whole_secs(self.horizon) {
            return Err(E::Bucket);
        }
        if let Some(r) = self.auto_retire
            && !(r.max_p_best.is_finite() && (0.0..1.0).contains(&r.max_p_best))
        {
            return Err(E::AutoRetire);
        }
        if !(self.stop_threshold.is_finite() && self.stop_threshold > 0.0) {
            return Err(E::StopThreshold);
        }
        if !(self.min_evidence.is_finite() && self.min_evidence >= 0.0) {
            return Err(E::MinEvidence);
        }
        if !(self.added_prior_weight.is_finite() && self.added_prior_weight > 0.0) {
            return Err(E::AddedPriorWeight);
        }
        if !(self.control_share.is_finite() && self.control_share > 0.0 && self.control_share < 1.0)
        {
            return Err(E::ControlShare);
        }
        for (i, g) in self.guardrails.iter().enumerate() {
            let ok = g.margin.is_finite()
                && g.margin >= 0.0
                && g.margin <= 1_000.0
                && g.probability.is_finite()
                && (0.5..1.0).contains(&g.probability)
                && !self.guardrails[..i].iter().any(|h| h.metric == g.metric);
            if !ok {
                return Err(E::Guardrail);
            }
        }
        Ok(())
    }

    /// The bucket width in seconds (valid configurations only).
    pub(super) fn bucket_secs(&self) -> i64 {
        i64::from(whole_secs(self.bucket))
    }

    /// The horizon in seconds (valid configurations only).
    pub(super) fn horizon_secs(&self) -> u32 {
        whole_secs(self.horizon)
    }

    /// The half-life in float seconds.
    pub(super) fn half_life_secs(&self) -> Option<f64> {
        self.half_life.map(secs::to_f64)
    }
}

/// Which field of an [`OptimiserConfig`] is out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptimiserConfigError {
    /// `prior_alpha` or `prior_beta` is not finite and positive.
    #[error("prior shapes must be finite and positive")]
    Prior,
    /// `mc_draws` is not 100 to 100,000.
    #[error("mc_draws must be between 100 and 100,000")]
    McDraws,
    /// `min_share` is not in `[0, 1)`.
    #[error("min_share must be in [0, 1)")]
    MinShare,
    /// `top_two` is not in `(0, 1)`.
    #[error("top_two must be in (0, 1)")]
    TopTwo,
    /// `half_life` is shorter than one second.
    #[error("half_life must be at least 1 second")]
    HalfLife,
    /// A delay distribution's median is not positive or its sigma is not
    /// finite and positive.
    #[error("delay median and sigma must be finite and positive")]
    DelayShape,
    /// The learned delay model's `prior_weight` is not finite and positive.
    #[error("delay prior_weight must be finite and positive")]
    DelayPriorWeight,
    /// `horizon` is not whole seconds from one minute to 366 days.
    #[error("horizon must be whole seconds between one minute and 366 days")]
    Horizon,
    /// `bucket` is not whole positive seconds up to `horizon`.
    #[error("bucket must be whole positive seconds and at most horizon")]
    Bucket,
    /// `auto_retire.max_p_best` is not in `[0, 1)`.
    #[error("auto_retire.max_p_best must be in [0, 1)")]
    AutoRetire,
    /// `stop_threshold` is not finite and positive.
    #[error("stop_threshold must be finite and positive")]
    StopThreshold,
    /// `min_evidence` is not finite and non-negative.
    #[error("min_evidence must be finite and non-negative")]
    MinEvidence,
    /// `added_prior_weight` is not finite and positive.
    #[error("added_prior_weight must be finite and positive")]
    AddedPriorWeight,
    /// `control_share` is not in `(0, 1)`.
    #[error("control_share must be in (0, 1)")]
    ControlShare,
    /// A guardrail rule's `margin` is not 0 to 1,000, its `probability` is
    /// not in `[0.5, 1)`, or two rules name the same metric.
    #[error("guardrail margin must be 0 to 1000, probability in [0.5, 1), one rule per metric")]
    Guardrail,
}

/// What went wrong in an optimiser call. None of these is caused by a panic
/// path; each names the misuse or the unknown id.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OptimiserError {
    /// A configuration field is out of range ([`OptimiserConfig::validate`]).
    #[error("invalid configuration: {0}")]
    Config(#[from] OptimiserConfigError),
    /// A share given to [`Experiment::set_allocation`](super::Experiment::set_allocation)
    /// is negative or not finite.
    #[error("shares must be finite and non-negative")]
    InvalidShare,
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
    /// The control variant cannot be retired (name another control, or none,
    /// with [`Experiment::set_control`](super::Experiment::set_control) first).
    #[error("the control variant cannot be retired")]
    ControlRetire,
}
