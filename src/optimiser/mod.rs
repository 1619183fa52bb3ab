//! Thompson-sampling optimiser: outcomes to allocations and assignments.
//!
//! The optimiser learns from the [`Update`]s attribution emits (each exposure
//! and each first click exactly once; it never counts exposures itself) and
//! serves variants in two ways:
//!
//! - **allocation mode** (for broadcasts): the host calls
//!   [`Experiment::recompute_allocation`] every few minutes; it estimates each
//!   variant's probability of being best by Monte Carlo and turns it into
//!   traffic shares (optionally top-two Thompson sampling, a minimum share,
//!   automatic retirement of consistent losers). [`Experiment::assign`] then
//!   maps a recipient to a variant: **sticky**, pure and deterministic.
//! - **per-request Thompson sampling**: [`Experiment::draw`] draws once from
//!   every posterior with the host's random generator.
//!
//! # Sticky assignment (stable across platforms and crate versions)
//!
//! 1. Per-experiment key: `k0 = SipHash-2-4[(salt, 0)]("dynopt/assign/k0/" ‖ experiment id)`,
//!    `k1` the same with `"dynopt/assign/k1/"` ([`assign_key`]); `salt` is the
//!    host secret in [`OptimiserConfig::salt`].
//! 2. Point: `h = SipHash-2-4[(k0, k1)](recipient key's 16 bytes)` ([`assign_point`]).
//! 3. Active variants in id order with shares `s_i`; thresholds
//!    `T_i = ⌊(s_1 + … + s_i) · 2^64⌋` (saturating); the first variant with
//!    `h < T_i` is served, the last active variant otherwise.
//!
//! # Posteriors with delayed clicks
//!
//! Each variant has a `Beta(prior_alpha + S, prior_beta + max(N − S, 0))`
//! posterior where `S` counts clicks and `N` counts exposures weighted by how
//! far their click-delay distribution has matured: `N = Σ n_b · F(age_b)` over
//! exposure time buckets (O(buckets), never O(exposures)). `F` is learned from
//! observed exposure-to-click delays, starting from a broad default prior
//! ([`DelayModel`]). With a half-life, both are discounted by exposure age.
//!
//! # Time
//!
//! Time is always a parameter. Updates may arrive late and out of order; an
//! exposure newer than `now` counts as not yet matured (weight 0); a `now`
//! earlier than a previous one is accepted (nothing is ever dropped).
//! Buckets older than the maturity horizon behind the newest update time are
//! merged into daily buckets, so memory is bounded by the horizon, not by
//! the number of exposures.
//!
//! # State
//!
//! [`Optimiser::snapshot`] gives an [`OptimiserSnapshot`], a serde value with
//! a format version; [`Optimiser::restore`] checks every invariant (garbage
//! gives the crate's shared [`RestoreError`], never a panic) and restores
//! exactly. [`OptimiserConfig::validate`] checks a configuration; adding or
//! restoring an experiment calls it.
//! [`Experiment::merge`] combines shards that saw disjoint updates.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use dynopt::optimiser::{Optimiser, OptimiserConfig, OptimiserSnapshot};
//! use dynopt::{ExperimentId, Update};
//! use dynopt::pii::RecipientKey;
//! use rand::SeedableRng;
//!
//! let mut opt = Optimiser::new();
//! let id = ExperimentId::new("welcome-subject");
//! let exp = opt.add_experiment(id.clone(), OptimiserConfig::default())?;
//! let a = exp.add_variant("Welcome aboard")?;
//! let _b = exp.add_variant("Your first week")?;
//!
//! let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap();
//! let mut rng = rand::rngs::StdRng::seed_from_u64(42);
//! // Serving (a Connected Content call): pure, sticky.
//! let v = opt.assign(&id, &RecipientKey([1; 16]))?;
//! // Attribution reports the exposure and, later, the click.
//! opt.apply(&Update::Exposure { experiment: id.clone(), variant: v, at: t0 })?;
//! opt.apply(&Update::Click {
//!     experiment: id.clone(), variant: v, exposed_at: Some(t0),
//!     clicked_at: t0 + Duration::minutes(30),
//! })?;
//! // Every few minutes:
//! opt.recompute_all(t0 + Duration::minutes(35), &mut rng);
//! let bytes = opt.snapshot().to_json();
//! let restored = Optimiser::restore(OptimiserSnapshot::from_json(&bytes)?)?;
//! assert_eq!(restored.assign(&id, &RecipientKey([1; 16]))?, opt.assign(&id, &RecipientKey([1; 16]))?);
//! # let _ = a;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod allocation;
mod beta;
mod config;
mod delay;
mod evidence;
mod experiment;
mod guardrail;
mod layout;
mod monte_carlo;
pub mod offpolicy;
mod report;
mod serve;
mod state;
mod uplift;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::Rng;

pub use beta::Posterior;
pub use config::{
    AutoRetire, GuardrailAction, GuardrailRule, MAX_ACTIVE_VARIANTS, MAX_VARIANTS, OptimiserConfig,
    OptimiserConfigError, OptimiserError,
};
pub use delay::{DelayModel, LogNormalDelay};
pub use experiment::{Experiment, ExperimentState};
pub use guardrail::{GuardrailLine, GuardrailReason, GuardrailStatus, RatioSummary};
pub use layout::{assign_key, assign_point};
pub use report::{Report, VariantReport};
pub use state::OptimiserSnapshot;
pub use uplift::{SRM_MIN_DEVIATION, SRM_P_VALUE, Srm, Uplift};

pub use crate::snapshot::{JsonPosition, RestoreError};

use crate::vocab::{ExperimentId, RecipientKey, Update, VariantId};
pub use crate::vocab::{Guardrail, Reward};

/// All experiments of a host, by id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Optimiser {
    experiments: BTreeMap<ExperimentId, Experiment>,
}

impl Optimiser {
    /// An optimiser with no experiments.
    pub fn new() -> Optimiser {
        Optimiser::default()
    }

    /// Adds an experiment (no variants yet) and returns it.
    pub fn add_experiment(
        &mut self,
        id: ExperimentId,
        config: OptimiserConfig,
    ) -> Result<&mut Experiment, OptimiserError> {
        if self.experiments.contains_key(&id) {
            return Err(OptimiserError::DuplicateExperiment(id));
        }
        let exp = Experiment::new(id.clone(), config)?;
        Ok(self.experiments.entry(id).or_insert(exp))
    }

    /// Removes an experiment, returning it.
    pub fn remove_experiment(&mut self, id: &ExperimentId) -> Option<Experiment> {
        self.experiments.remove(id)
    }

    /// An experiment by id.
    pub fn experiment(&self, id: &ExperimentId) -> Option<&Experiment> {
        self.experiments.get(id)
    }

    /// An experiment by id, mutable.
    pub fn experiment_mut(&mut self, id: &ExperimentId) -> Option<&mut Experiment> {
        self.experiments.get_mut(id)
    }

    /// All experiments in id order.
    pub fn experiments(&self) -> impl Iterator<Item = &Experiment> + '_ {
        self.experiments.values()
    }

    /// Routes an update from attribution to its experiment.
    pub fn apply(&mut self, update: &Update) -> Result<(), OptimiserError> {
        let id = update.experiment();
        self.experiments
            .get_mut(id)
            .ok_or_else(|| OptimiserError::UnknownExperiment(id.clone()))?
            .apply(update)
    }

    /// Sticky serving ([`Experiment::assign`]) by experiment id.
    #[inline]
    pub fn assign(
        &self,
        experiment: &ExperimentId,
        recipient: &RecipientKey,
    ) -> Result<VariantId, OptimiserError> {
        self.experiments
            .get(experiment)
            .ok_or_else(|| OptimiserError::UnknownExperiment(experiment.clone()))?
            .assign(recipient)
    }

    /// Per-request Thompson draw ([`Experiment::draw`]) by experiment id.
    pub fn draw<R: Rng + ?Sized>(
        &self,
        experiment: &ExperimentId,
        rng: &mut R,
    ) -> Result<VariantId, OptimiserError> {
        self.experiments
            .get(experiment)
            .ok_or_else(|| OptimiserError::UnknownExperiment(experiment.clone()))?
            .draw(rng)
    }

    /// Recomputes every experiment's allocation, in id order, with one generator.
    pub fn recompute_all<R: Rng + ?Sized>(&mut self, now: DateTime<Utc>, rng: &mut R) {
        for e in self.experiments.values_mut() {
            e.recompute_allocation(now, rng);
        }
    }

    /// The whole state as a snapshot.
    pub fn snapshot(&self) -> OptimiserSnapshot {
        OptimiserSnapshot::new(
            self.experiments
                .values()
                .map(|e| e.state().clone())
                .collect(),
        )
    }

    /// Restores from a snapshot, checking its version and every invariant.
    pub fn restore(snapshot: OptimiserSnapshot) -> Result<Optimiser, RestoreError> {
        let mut experiments = BTreeMap::new();
        for s in snapshot.into_states()? {
            let e = Experiment::from_checked_state(s)?;
            let id = e.id().clone();
            if experiments.insert(id, e).is_some() {
                return Err(RestoreError::Corrupt("duplicate experiment id"));
            }
        }
        Ok(Optimiser { experiments })
    }

    /// Merges another shard: experiments in both are merged
    /// ([`Experiment::merge`]), the others are copied.
    pub fn merge(&mut self, other: &Optimiser) -> Result<(), OptimiserError> {
        for (id, e) in &other.experiments {
            match self.experiments.get_mut(id) {
                Some(mine) => mine.merge(e)?,
                None => {
                    self.experiments.insert(id.clone(), e.clone());
                }
            }
        }
        Ok(())
    }
}
