//! One experiment: its state, variants and allocation bookkeeping.
//!
//! The other jobs on [`Experiment`] live in their own files: evidence and
//! posteriors (`evidence.rs`), the allocation policy (`allocation.rs`),
//! serving (`serve.rs`), the report (`report.rs`), restore and merge
//! (`state.rs`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::beta::{Posterior, Sampler};
use super::config::{MAX_ACTIVE_VARIANTS, MAX_VARIANTS, OptimiserConfig, OptimiserError};
use super::delay::bin_edges;
use super::serve::{assign_key, threshold};
use crate::vocab::{ExperimentId, VariantId};

/// Width of the buckets that exposures older than the horizon are merged into.
pub(super) const COARSE_SECS: i64 = 86_400;

/// Exposures and clicks of one variant in one time bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Counts {
    pub(super) exposures: u64,
    pub(super) clicks: u64,
}

/// One fine time bucket (by exposure time): per-variant counts (indexed by
/// the variant's position) and the histogram of observed click delays.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FineBucket {
    pub(super) cells: Vec<Counts>,
    pub(super) delays: Vec<u64>,
    /// Sum over the bucket's exposures of their seconds after the bucket start.
    pub(super) offset_secs: u64,
    /// Latest exposure in the bucket, in seconds after the bucket start.
    pub(super) last_offset_secs: u64,
}

impl FineBucket {
    /// An empty bucket with `bins` delay bins.
    pub(super) fn new(bins: usize) -> FineBucket {
        FineBucket {
            cells: Vec::new(),
            delays: vec![0; bins],
            offset_secs: 0,
            last_offset_secs: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Variant {
    pub(super) id: VariantId,
    pub(super) label: String,
    pub(super) retired: bool,
    pub(super) exposures: u64,
    pub(super) clicks: u64,
    pub(super) share: f64,
    pub(super) p_best: f64,
    pub(super) alpha: f64,
    pub(super) beta: f64,
}

/// The serialisable state of one experiment (inside an [`super::OptimiserSnapshot`]).
/// Opaque: restore it with [`Experiment::restore`] or [`super::Optimiser::restore`],
/// which check every invariant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentState {
    pub(super) id: ExperimentId,
    pub(super) config: OptimiserConfig,
    pub(super) variants: Vec<Variant>,
    pub(super) next_id: u32,
    pub(super) watermark: Option<i64>,
    pub(super) fine: BTreeMap<i64, FineBucket>,
    pub(super) coarse: BTreeMap<i64, Vec<Counts>>,
    pub(super) mature_delays: Vec<u64>,
    pub(super) refreshed_at: Option<DateTime<Utc>>,
}

/// Values derived from the state, rebuilt on restore.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Derived {
    pub(super) edges: Vec<f64>,
    pub(super) k0: u64,
    pub(super) k1: u64,
    /// Active variants in id order, with their serving thresholds.
    pub(super) serve_ids: Vec<VariantId>,
    pub(super) thresholds: Vec<u64>,
    /// Position in `variants` and sampler of each active variant.
    pub(super) samplers: Vec<(usize, Sampler)>,
}

/// An experiment: 2 to 50 active variants with Beta-Bernoulli posteriors.
///
/// Methods by kind:
/// - inputs: [`apply`](Self::apply) (attribution's updates), [`add_variant`](Self::add_variant),
///   [`retire_variant`](Self::retire_variant), [`merge`](Self::merge);
/// - periodic work: [`recompute_allocation`](Self::recompute_allocation) (every few minutes);
/// - serving: [`assign`](Self::assign) (sticky, pure), [`draw`](Self::draw) (per-request Thompson);
/// - outputs: [`allocation`](Self::allocation), [`report`](Self::report), [`snapshot`](Self::snapshot).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use dynopt::optimiser::{Experiment, OptimiserConfig};
/// use dynopt::{ExperimentId, Update};
/// use dynopt::pii::RecipientKey;
/// use rand::SeedableRng;
///
/// let id = ExperimentId::new("subject-line");
/// let mut exp = Experiment::new(id.clone(), OptimiserConfig::default())?;
/// let a = exp.add_variant("Spring sale")?;
/// let b = exp.add_variant("Last chance")?;
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
/// exp.apply(&Update::Exposure { experiment: id.clone(), variant: a, at: t0 })?;
/// exp.apply(&Update::Click {
///     experiment: id.clone(), variant: a, exposed_at: Some(t0),
///     clicked_at: t0 + chrono::Duration::minutes(20),
/// })?;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// exp.recompute_allocation(t0 + chrono::Duration::hours(1), &mut rng);
/// let served = exp.assign(&RecipientKey([7; 16]))?;
/// assert!(served == a || served == b);
/// assert_eq!(exp.assign(&RecipientKey([7; 16]))?, served); // sticky
/// let report = exp.report(t0 + chrono::Duration::hours(1), &mut rng);
/// assert_eq!(report.variants.len(), 2);
/// # Ok::<(), dynopt::optimiser::OptimiserError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    pub(super) state: ExperimentState,
    pub(super) derived: Derived,
}

impl Experiment {
    /// A new experiment with no variants yet (add 2 to 50 with [`add_variant`](Self::add_variant)).
    pub fn new(id: ExperimentId, config: OptimiserConfig) -> Result<Experiment, OptimiserError> {
        config.validate()?;
        let nb = bin_edges(config.horizon_secs()).len();
        let state = ExperimentState {
            id,
            config,
            variants: Vec::new(),
            next_id: 0,
            watermark: None,
            fine: BTreeMap::new(),
            coarse: BTreeMap::new(),
            mature_delays: vec![0; nb],
            refreshed_at: None,
        };
        Ok(Experiment::from_state(state))
    }

    pub(super) fn from_state(state: ExperimentState) -> Experiment {
        let (k0, k1) = assign_key(state.config.salt, &state.id);
        let mut e = Experiment {
            derived: Derived {
                edges: bin_edges(state.config.horizon_secs()),
                k0,
                k1,
                serve_ids: Vec::new(),
                thresholds: Vec::new(),
                samplers: Vec::new(),
            },
            state,
        };
        e.rebuild();
        e
    }

    /// Rebuilds thresholds and samplers from shares and posteriors.
    pub(super) fn rebuild(&mut self) {
        let d = &mut self.derived;
        d.serve_ids.clear();
        d.thresholds.clear();
        d.samplers.clear();
        let mut cum = 0.0;
        for (i, v) in self.state.variants.iter().enumerate() {
            if v.retired {
                continue;
            }
            cum += v.share;
            d.serve_ids.push(v.id);
            d.thresholds.push(threshold(cum));
            let p = Posterior::new(v.alpha, v.beta).unwrap_or(Posterior::UNIFORM);
            d.samplers.push((i, Sampler::new(p)));
        }
    }

    /// The experiment's id.
    pub fn id(&self) -> &ExperimentId {
        &self.state.id
    }

    /// The configuration.
    pub fn config(&self) -> &OptimiserConfig {
        &self.state.config
    }

    /// Adds a variant (new copy) with the prior posterior. It gets `1/K` of the
    /// traffic at once (the others shrink in proportion) until the next recompute.
    pub fn add_variant(&mut self, label: impl Into<String>) -> Result<VariantId, OptimiserError> {
        let active = self.active_count();
        if active >= MAX_ACTIVE_VARIANTS || self.state.variants.len() >= MAX_VARIANTS {
            return Err(OptimiserError::TooManyVariants);
        }
        let id = VariantId(self.state.next_id);
        self.state.next_id = self
            .state
            .next_id
            .checked_add(1)
            .ok_or(OptimiserError::TooManyVariants)?;
        let new_share = 1.0 / (active + 1) as f64;
        for v in self.state.variants.iter_mut().filter(|v| !v.retired) {
            v.share *= 1.0 - new_share;
        }
        let c = &self.state.config;
        self.state.variants.push(Variant {
            id,
            label: label.into(),
            retired: false,
            exposures: 0,
            clicks: 0,
            share: new_share,
            p_best: 0.0,
            alpha: c.prior_alpha,
            beta: c.prior_beta,
        });
        // Every bucket holds one cell per variant (a canonical form, so that
        // merged and single-instance states compare equal).
        let nv = self.state.variants.len();
        for fb in self.state.fine.values_mut() {
            fb.cells.resize(nv, Counts::default());
        }
        for cells in self.state.coarse.values_mut() {
            cells.resize(nv, Counts::default());
        }
        self.normalise_shares();
        self.rebuild();
        Ok(id)
    }

    /// Retires a variant: it is no longer served; its history stays, and
    /// late updates for it still count. Its share goes to the others in proportion.
    pub fn retire_variant(&mut self, variant: VariantId) -> Result<(), OptimiserError> {
        let i = self.position(variant)?;
        let v = &mut self.state.variants[i];
        v.retired = true;
        v.share = 0.0;
        v.p_best = 0.0;
        self.normalise_shares();
        self.rebuild();
        Ok(())
    }

    pub(super) fn normalise_shares(&mut self) {
        let vs = &mut self.state.variants;
        let total: f64 = vs.iter().filter(|v| !v.retired).map(|v| v.share).sum();
        let active = vs.iter().filter(|v| !v.retired).count();
        for v in vs.iter_mut() {
            if v.retired {
                v.share = 0.0;
            } else if total > 0.0 {
                v.share /= total;
            } else {
                v.share = 1.0 / active as f64;
            }
        }
    }

    fn active_count(&self) -> usize {
        self.state.variants.iter().filter(|v| !v.retired).count()
    }

    pub(super) fn position(&self, variant: VariantId) -> Result<usize, OptimiserError> {
        self.state
            .variants
            .binary_search_by_key(&variant, |v| v.id)
            .map_err(|_| OptimiserError::UnknownVariant(variant))
    }

    /// Variants in id order: `(id, label, retired)`.
    pub fn variants(&self) -> impl Iterator<Item = (VariantId, &str, bool)> + '_ {
        self.state
            .variants
            .iter()
            .map(|v| (v.id, v.label.as_str(), v.retired))
    }

    /// The current allocation: `(variant, share)` for active variants, in id order.
    pub fn allocation(&self) -> Vec<(VariantId, f64)> {
        self.state
            .variants
            .iter()
            .filter(|v| !v.retired)
            .map(|v| (v.id, v.share))
            .collect()
    }

    /// Sets the allocation by hand (for example a fixed split). Shares of the
    /// listed active variants are normalised; unlisted ones get 0.
    pub fn set_allocation(&mut self, shares: &[(VariantId, f64)]) -> Result<(), OptimiserError> {
        let mut new = vec![0.0; self.state.variants.len()];
        for &(id, s) in shares {
            let i = self.position(id)?;
            if !(s.is_finite() && s >= 0.0) {
                return Err(OptimiserError::InvalidShare);
            }
            new[i] = s;
        }
        for (v, s) in self.state.variants.iter_mut().zip(new) {
            v.share = s;
        }
        self.normalise_shares();
        self.rebuild();
        Ok(())
    }
}
