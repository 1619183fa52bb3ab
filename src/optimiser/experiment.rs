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
use super::guardrail::GuardrailStatus;
use super::layout::{self, assign_key};
use crate::snapshot::{is_false, is_zero, is_zero_f64};
use crate::vocab::{ExperimentId, Guardrail, VariantId};

/// Width of the buckets that exposures older than the horizon are merged into.
pub(super) const COARSE_SECS: i64 = 86_400;

/// Exposures, rewards (under the historical name `clicks`) and guardrail
/// events of one variant in one time bucket (by exposure time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Counts {
    pub(super) exposures: u64,
    /// Successes of the experiment's reward (first clicks by default).
    pub(super) clicks: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) unsubscribes: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) spam_complaints: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) hard_bounces: u64,
}

impl Counts {
    /// The events of one guardrail metric.
    pub(super) fn guard(&self, g: Guardrail) -> u64 {
        match g {
            Guardrail::Unsubscribe => self.unsubscribes,
            Guardrail::SpamComplaint => self.spam_complaints,
            Guardrail::HardBounce => self.hard_bounces,
        }
    }

    pub(super) fn guard_mut(&mut self, g: Guardrail) -> &mut u64 {
        match g {
            Guardrail::Unsubscribe => &mut self.unsubscribes,
            Guardrail::SpamComplaint => &mut self.spam_complaints,
            Guardrail::HardBounce => &mut self.hard_bounces,
        }
    }

    /// Adds another cell's counts (saturating).
    pub(super) fn add(&mut self, o: &Counts) {
        self.exposures = self.exposures.saturating_add(o.exposures);
        self.clicks = self.clicks.saturating_add(o.clicks);
        self.unsubscribes = self.unsubscribes.saturating_add(o.unsubscribes);
        self.spam_complaints = self.spam_complaints.saturating_add(o.spam_complaints);
        self.hard_bounces = self.hard_bounces.saturating_add(o.hard_bounces);
    }
}

/// Outcomes of a variant that are not the experiment's reward (counted for
/// the report only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct OtherOutcomes {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) clicks: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) opens: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) conversions: u64,
}

impl OtherOutcomes {
    fn is_empty(&self) -> bool {
        *self == OtherOutcomes::default()
    }

    pub(super) fn add(&mut self, o: &OtherOutcomes) {
        self.clicks = self.clicks.saturating_add(o.clicks);
        self.opens = self.opens.saturating_add(o.opens);
        self.conversions = self.conversions.saturating_add(o.conversions);
    }
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
    /// Added while running: its prior is the empirical-Bayes prior pooled
    /// from the variants that were not (else the configured prior).
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) added_running: bool,
    /// Added while running and not yet past `min_evidence` matured trials.
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) learning: bool,
    /// Exposures the allocation in force at each exposure's time should have
    /// given this variant (the sum of its share then); for the SRM check.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub(super) expected_exposures: f64,
    /// Successes of the reward that came without an exposure time (counted
    /// in the bucket of their own time): the uplift against the control is
    /// then estimated from pooled counts (see [`super::Uplift::pooled`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) untimed: u64,
    /// Outcomes other than the reward (for the report).
    #[serde(default, skip_serializing_if = "OtherOutcomes::is_empty")]
    pub(super) other: OtherOutcomes,
    /// The guardrail verdict of the last recompute.
    #[serde(default, skip_serializing_if = "GuardrailStatus::is_ok")]
    pub(super) guardrail: GuardrailStatus,
}

/// The allocation in force from a time on (for the SRM check): shares by
/// variant position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Epoch {
    pub(super) from: i64,
    pub(super) shares: Vec<f64>,
}

/// Most allocation epochs kept for the SRM check (older exposures are
/// compared with the oldest one kept).
pub(super) const MAX_EPOCHS: usize = 4096;

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
    /// The control variant (fixed share, never retired or discounted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) control: Option<VariantId>,
    /// The serving layout: slice starts on `[0, 2^64)` and their owners.
    /// Empty (as in snapshots of earlier versions) means contiguous slices in
    /// id order, which serves exactly as those versions did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) layout: Vec<(u64, VariantId)>,
    /// The allocation epochs, oldest first (for the SRM check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) epochs: Vec<Epoch>,
}

/// Values derived from the state, rebuilt on restore.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Derived {
    pub(super) edges: Vec<f64>,
    pub(super) k0: u64,
    pub(super) k1: u64,
    /// The serving layout: slice starts and the variant owning each slice.
    pub(super) starts: Vec<u64>,
    pub(super) owners: Vec<VariantId>,
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
            control: None,
            layout: Vec::new(),
            epochs: Vec::new(),
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
                starts: Vec::new(),
                owners: Vec::new(),
                samplers: Vec::new(),
            },
            state,
        };
        e.rebuild();
        e
    }

    /// Whether the stored layout is valid and serves exactly the shares.
    pub(super) fn layout_matches(&self) -> bool {
        let vs = &self.state.variants;
        let Some(pos) = self
            .state
            .layout
            .iter()
            .map(|&(s, id)| {
                vs.binary_search_by_key(&id, |v| v.id)
                    .ok()
                    .filter(|&i| !vs[i].retired)
                    .map(|i| (s, i))
            })
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        if vs.iter().all(|v| v.retired) {
            return pos.is_empty();
        }
        if !layout::is_valid(&pos) {
            return false;
        }
        let have = layout::owned(&pos, vs.len());
        have.iter()
            .zip(vs)
            .all(|(&h, v)| ((h as f64 / layout::FULL as f64) - v.share).abs() < 1e-9)
    }

    /// Moves the serving layout to the current shares with minimal movement.
    pub(super) fn relayout(&mut self) {
        let vs = &self.state.variants;
        if vs.iter().all(|v| v.retired) {
            self.state.layout.clear();
            return;
        }
        // The layout served until now (the derived one when the stored
        // layout is the implicit contiguous one).
        let served: Vec<(u64, VariantId)> = if self.state.layout.is_empty() {
            let d = &self.derived;
            d.starts
                .iter()
                .copied()
                .zip(d.owners.iter().copied())
                .collect()
        } else {
            self.state.layout.clone()
        };
        let old: Vec<(u64, usize)> = served
            .iter()
            .filter_map(|&(s, id)| vs.binary_search_by_key(&id, |v| v.id).ok().map(|i| (s, i)))
            .collect();
        let shares: Vec<f64> = vs
            .iter()
            .map(|v| if v.retired { 0.0 } else { v.share })
            .collect();
        let lens = layout::lengths(&shares);
        let new = if old.len() == served.len() {
            layout::relayout(&old, &lens)
        } else {
            layout::contiguous(&lens)
        };
        self.state.layout = new.into_iter().map(|(s, i)| (s, vs[i].id)).collect();
    }

    /// After any change of shares: normalise them, move the layout, log the
    /// epoch from `from` (for the SRM check) and rebuild the derived values.
    pub(super) fn shares_changed(&mut self, from: Option<i64>) {
        self.normalise_shares();
        self.relayout();
        let from = from
            .or(self.state.refreshed_at.map(|t| t.timestamp()))
            .unwrap_or(i64::MIN);
        let shares: Vec<f64> = self.state.variants.iter().map(|v| v.share).collect();
        let epochs = &mut self.state.epochs;
        while epochs.last().is_some_and(|e| e.from >= from) {
            epochs.pop();
        }
        epochs.push(Epoch { from, shares });
        if epochs.len() > MAX_EPOCHS {
            let extra = epochs.len() - MAX_EPOCHS;
            epochs.drain(..extra);
        }
        self.rebuild();
    }

    /// Rebuilds thresholds and samplers from shares and posteriors.
    pub(super) fn rebuild(&mut self) {
        let d = &mut self.derived;
        d.starts.clear();
        d.owners.clear();
        d.samplers.clear();
        if self.state.layout.is_empty() {
            // Contiguous slices in id order (snapshots of earlier versions).
            let shares: Vec<f64> = self
                .state
                .variants
                .iter()
                .map(|v| if v.retired { 0.0 } else { v.share })
                .collect();
            if shares.iter().any(|&x| x > 0.0) {
                for (s, i) in layout::contiguous(&layout::lengths(&shares)) {
                    d.starts.push(s);
                    d.owners.push(self.state.variants[i].id);
                }
            }
        } else {
            for &(s, id) in &self.state.layout {
                d.starts.push(s);
                d.owners.push(id);
            }
        }
        for (i, v) in self.state.variants.iter().enumerate() {
            if v.retired {
                continue;
            }
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

    /// Adds a variant (new copy). It gets `1/K` of the traffic at once (the
    /// others shrink in proportion) until the next recompute.
    ///
    /// A variant added while the experiment runs (after any exposure) starts
    /// from a weak empirical-Bayes prior instead of the configured one: the
    /// mean of its active siblings' posterior means (as of the last refresh),
    /// worth [`added_prior_weight`](OptimiserConfig::added_prior_weight)
    /// trials. Until it has [`min_evidence`](OptimiserConfig::min_evidence)
    /// matured trials it is *learning*: its share is capped at `1/K`, it
    /// cannot lead a report, and no winner is declared (see
    /// docs/design.md, *Variants added while running*).
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
        let running = self.state.variants.iter().any(|v| v.exposures > 0);
        let (alpha, beta) = if running {
            self.pooled_prior()
        } else {
            (self.state.config.prior_alpha, self.state.config.prior_beta)
        };
        let new_share = 1.0 / (active + 1) as f64;
        for v in self.state.variants.iter_mut().filter(|v| !v.retired) {
            v.share *= 1.0 - new_share;
        }
        self.state.variants.push(Variant {
            id,
            label: label.into(),
            retired: false,
            exposures: 0,
            clicks: 0,
            share: new_share,
            p_best: 0.0,
            alpha,
            beta,
            added_running: running,
            learning: running,
            expected_exposures: 0.0,
            untimed: 0,
            other: OtherOutcomes::default(),
            guardrail: GuardrailStatus::Ok,
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
        self.apply_control_share();
        self.shares_changed(None);
        Ok(id)
    }

    /// [`eb_prior`](Self::eb_prior) of the current posterior means.
    pub(super) fn pooled_prior(&self) -> (f64, f64) {
        let means: Vec<f64> = self
            .state
            .variants
            .iter()
            .filter(|v| !v.added_running && !v.retired)
            .map(|v| v.alpha / (v.alpha + v.beta))
            .collect();
        self.eb_prior(&means)
    }

    /// The empirical-Bayes prior of the variants added while running, from
    /// the posterior means of the active variants that were not: their mean,
    /// worth `added_prior_weight` trials (the configured prior's mean when
    /// there are none). Pooled afresh at every refresh, so it depends only on
    /// the evidence (shards merge like one instance).
    pub(super) fn eb_prior(&self, means: &[f64]) -> (f64, f64) {
        let c = &self.state.config;
        let m = if means.is_empty() {
            c.prior_alpha / (c.prior_alpha + c.prior_beta)
        } else {
            means.iter().sum::<f64>() / means.len() as f64
        };
        let m = if m.is_finite() {
            m.clamp(1e-6, 1.0 - 1e-6)
        } else {
            0.5
        };
        let w = c.added_prior_weight;
        (m * w, (1.0 - m) * w)
    }

    /// Retires a variant: it is no longer served; its history stays, and
    /// late updates for it still count. Its share goes to the others in
    /// proportion. The control cannot be retired
    /// ([`OptimiserError::ControlRetire`]).
    pub fn retire_variant(&mut self, variant: VariantId) -> Result<(), OptimiserError> {
        let i = self.position(variant)?;
        if self.state.control == Some(variant) {
            return Err(OptimiserError::ControlRetire);
        }
        let v = &mut self.state.variants[i];
        v.retired = true;
        v.share = 0.0;
        v.p_best = 0.0;
        self.normalise_shares();
        self.apply_control_share();
        self.shares_changed(None);
        Ok(())
    }

    /// Names the control (the brand's own copy), or none. The control keeps
    /// [`control_share`](OptimiserConfig::control_share) of the traffic
    /// whatever the posteriors say, is never retired and never discounted,
    /// and every report states the other variants' uplift against it. The
    /// control must be an active variant.
    pub fn set_control(&mut self, control: Option<VariantId>) -> Result<(), OptimiserError> {
        if let Some(c) = control {
            let i = self.position(c)?;
            if self.state.variants[i].retired {
                return Err(OptimiserError::UnknownVariant(c));
            }
        }
        self.state.control = control;
        self.apply_control_share();
        self.shares_changed(None);
        Ok(())
    }

    /// The control variant, if one is named.
    pub fn control(&self) -> Option<VariantId> {
        self.state.control
    }

    /// Position of the control, when it is named and active.
    pub(super) fn control_position(&self) -> Option<usize> {
        let c = self.state.control?;
        self.position(c)
            .ok()
            .filter(|&i| !self.state.variants[i].retired)
    }

    /// Gives the control exactly `control_share` (the others share the rest
    /// in proportion); everything to it when it is the only active variant.
    pub(super) fn apply_control_share(&mut self) {
        let Some(ci) = self.control_position() else {
            return;
        };
        self.normalise_shares();
        let cs = self.state.config.control_share;
        let vs = &mut self.state.variants;
        let others: f64 = vs
            .iter()
            .enumerate()
            .filter(|(i, v)| *i != ci && !v.retired)
            .map(|(_, v)| v.share)
            .sum();
        let n_others = vs
            .iter()
            .enumerate()
            .filter(|(i, v)| *i != ci && !v.retired)
            .count();
        if n_others == 0 {
            vs[ci].share = 1.0;
            return;
        }
        for (i, v) in vs.iter_mut().enumerate() {
            if v.retired {
                continue;
            }
            v.share = if i == ci {
                cs
            } else if others > 0.0 {
                v.share / others * (1.0 - cs)
            } else {
                (1.0 - cs) / n_others as f64
            };
        }
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
    /// listed active variants are normalised; unlisted ones get 0. A named
    /// control keeps its fixed share. Only the moved share of the audience
    /// changes variant (see [`assign`](Self::assign)).
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
        self.apply_control_share();
        self.shares_changed(None);
        Ok(())
    }
}
