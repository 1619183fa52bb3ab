//! One experiment: variants, evidence, posteriors, allocation, serving and reports.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use siphasher::sip::SipHasher24;

use super::beta::{Posterior, Sampler};
use super::config::{
    ExperimentConfig, MAX_ACTIVE_VARIANTS, MAX_VARIANTS, OptimiserError, RestoreError,
};
use super::delay::{DelayCdf, DelayModel, bin_edges, bin_of};
use crate::vocab::{ExperimentId, RecipientKey, Update, VariantId};

/// Width of the buckets that exposures older than the horizon are merged into.
const COARSE_SECS: i64 = 86_400;
/// 2^64 as an `f64`, to turn shares into integer thresholds.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// Exposures and clicks of one variant in one time bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    exposures: u64,
    clicks: u64,
}

/// One fine time bucket (by exposure time): per-variant counts (indexed by
/// the variant's position) and the histogram of observed click delays.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct FineBucket {
    cells: Vec<Counts>,
    delays: Vec<u64>,
    /// Sum over the bucket's exposures of their seconds after the bucket start.
    offset_secs: u64,
    /// Latest exposure in the bucket, in seconds after the bucket start.
    last_offset_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Variant {
    id: VariantId,
    label: String,
    retired: bool,
    exposures: u64,
    clicks: u64,
    share: f64,
    p_best: f64,
    alpha: f64,
    beta: f64,
}

/// The serialisable state of one experiment (inside a [`super::Snapshot`]).
/// Opaque: restore it with [`Experiment::restore`] or [`super::Optimiser::restore`],
/// which check every invariant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentState {
    id: ExperimentId,
    config: ExperimentConfig,
    variants: Vec<Variant>,
    next_id: u32,
    watermark: Option<i64>,
    fine: BTreeMap<i64, FineBucket>,
    coarse: BTreeMap<i64, Vec<Counts>>,
    mature_delays: Vec<u64>,
    refreshed_at: Option<DateTime<Utc>>,
}

/// Values derived from the state, rebuilt on restore.
#[derive(Clone, Debug, PartialEq)]
struct Derived {
    edges: Vec<f64>,
    k0: u64,
    k1: u64,
    /// Active variants in id order, with their serving thresholds.
    serve_ids: Vec<VariantId>,
    thresholds: Vec<u64>,
    /// Position in `variants` and sampler of each active variant.
    samplers: Vec<(usize, Sampler)>,
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
/// use dynopt::optimiser::{Experiment, ExperimentConfig};
/// use dynopt::{ExperimentId, Update};
/// use dynopt::pii::RecipientKey;
/// use rand::SeedableRng;
///
/// let id = ExperimentId::new("subject-line");
/// let mut exp = Experiment::new(id.clone(), ExperimentConfig::default())?;
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
    state: ExperimentState,
    derived: Derived,
}

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

fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn secs_f(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) * 1e-9
}

/// The per-experiment SipHash-2-4 key: `k0`, `k1` are SipHash-2-4 under the
/// key `(salt, 0)` of `"dynopt/assign/k0/"` (or `k1`) followed by the
/// experiment id's UTF-8 bytes.
pub fn assign_key(salt: u64, experiment: &ExperimentId) -> (u64, u64) {
    let h = |tag: &[u8]| {
        let mut msg = Vec::with_capacity(tag.len() + experiment.as_str().len());
        msg.extend_from_slice(tag);
        msg.extend_from_slice(experiment.as_str().as_bytes());
        SipHasher24::new_with_keys(salt, 0).hash(&msg)
    };
    (h(b"dynopt/assign/k0/"), h(b"dynopt/assign/k1/"))
}

/// The point of a recipient on `[0, 2^64)`: SipHash-2-4 under `(k0, k1)` of the
/// recipient's bytes. A variant whose slice of the cumulative allocation
/// (scaled to `2^64`) contains the point is served.
#[inline]
pub fn assign_point(k0: u64, k1: u64, recipient: &[u8]) -> u64 {
    SipHasher24::new_with_keys(k0, k1).hash(recipient)
}

impl Experiment {
    /// A new experiment with no variants yet (add 2 to 50 with [`add_variant`](Self::add_variant)).
    pub fn new(id: ExperimentId, config: ExperimentConfig) -> Result<Experiment, OptimiserError> {
        config.validate()?;
        let nb = bin_edges(config.horizon_secs).len();
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

    fn from_state(state: ExperimentState) -> Experiment {
        let (k0, k1) = assign_key(state.config.salt, &state.id);
        let mut e = Experiment {
            derived: Derived {
                edges: bin_edges(state.config.horizon_secs),
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
    fn rebuild(&mut self) {
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
            // `as` saturates: shares summing to 1 give u64::MAX at the end.
            d.thresholds.push((cum * TWO_POW_64) as u64);
            let p = Posterior::new(v.alpha, v.beta).unwrap_or(Posterior::UNIFORM);
            d.samplers.push((i, Sampler::new(p)));
        }
    }

    /// The experiment's id.
    pub fn id(&self) -> &ExperimentId {
        &self.state.id
    }

    /// The configuration.
    pub fn config(&self) -> &ExperimentConfig {
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

    fn normalise_shares(&mut self) {
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

    fn position(&self, variant: VariantId) -> Result<usize, OptimiserError> {
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
                return Err(OptimiserError::Config(
                    "shares must be finite and non-negative",
                ));
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

    /// Learns from one update from attribution. Exposures and clicks for
    /// retired variants still count. Updates may come late and out of order;
    /// an update far in the future moves the maturity watermark with it.
    pub fn apply(&mut self, update: &Update) -> Result<(), OptimiserError> {
        let (experiment, variant) = match update {
            Update::Exposure {
                experiment,
                variant,
                ..
            }
            | Update::Click {
                experiment,
                variant,
                ..
            } => (experiment, *variant),
        };
        if *experiment != self.state.id {
            return Err(OptimiserError::WrongExperiment {
                update: experiment.clone(),
                experiment: self.state.id.clone(),
            });
        }
        let idx = self.position(variant)?;
        let nv = self.state.variants.len();
        let nb = self.derived.edges.len();
        match update {
            Update::Exposure { at, .. } => {
                let t = secs(*at);
                self.advance_watermark(t);
                let v = &mut self.state.variants[idx];
                v.exposures = v.exposures.saturating_add(1);
                let c = self.cell(t, idx, nv, nb);
                c.exposures = c.exposures.saturating_add(1);
                if let Some(b) = self.fine_key(t) {
                    let w = self.bucket_secs();
                    let off = t.saturating_sub(b.saturating_mul(w)).clamp(0, w) as u64;
                    let fb = self.fine_bucket(b, nv, nb);
                    fb.offset_secs = fb.offset_secs.saturating_add(off);
                    fb.last_offset_secs = fb.last_offset_secs.max(off);
                }
            }
            Update::Click {
                exposed_at,
                clicked_at,
                ..
            } => {
                let tc = secs(*clicked_at);
                let te = exposed_at.map(secs).unwrap_or(tc);
                self.advance_watermark(tc.max(te));
                let v = &mut self.state.variants[idx];
                v.clicks = v.clicks.saturating_add(1);
                let c = self.cell(te, idx, nv, nb);
                c.clicks = c.clicks.saturating_add(1);
                if let Some(e) = exposed_at {
                    let delay = (*clicked_at - *e).num_milliseconds() as f64 / 1000.0;
                    let bin = bin_of(&self.derived.edges, delay.max(0.0));
                    let h = match self.fine_key(te) {
                        Some(b) => &mut self.fine_bucket(b, nv, nb).delays,
                        None => &mut self.state.mature_delays,
                    };
                    if let Some(x) = h.get_mut(bin) {
                        *x = x.saturating_add(1);
                    }
                }
            }
        }
        if self.is_simple() {
            self.refresh_variant_simple(idx);
        }
        Ok(())
    }

    /// Immediate feedback without discounting: posteriors follow every update.
    fn is_simple(&self) -> bool {
        self.state.config.delay == DelayModel::Immediate
            && self.state.config.half_life_secs.is_none()
    }

    fn refresh_variant_simple(&mut self, idx: usize) {
        let c = &self.state.config;
        let v = &mut self.state.variants[idx];
        let s = v.clicks as f64;
        let n = v.exposures as f64;
        v.alpha = c.prior_alpha + s;
        v.beta = c.prior_beta + (n - s).max(0.0);
        if let Some(p) = Posterior::new(v.alpha, v.beta)
            && let Some(slot) = self.derived.samplers.iter_mut().find(|(i, _)| *i == idx)
        {
            slot.1 = Sampler::new(p);
        }
    }

    fn bucket_secs(&self) -> i64 {
        i64::from(self.state.config.bucket_secs)
    }

    /// Whether a fine bucket is entirely older than the horizon at the watermark.
    fn is_collapsed(&self, bucket: i64) -> bool {
        let w = self.bucket_secs();
        let end = bucket.saturating_mul(w).saturating_add(w);
        match self.state.watermark {
            Some(wm) => end.saturating_add(i64::from(self.state.config.horizon_secs)) <= wm,
            None => false,
        }
    }

    /// The fine bucket of time `t`, or `None` when it is collapsed.
    fn fine_key(&self, t: i64) -> Option<i64> {
        let b = t.div_euclid(self.bucket_secs());
        (!self.is_collapsed(b)).then_some(b)
    }

    fn fine_bucket(&mut self, b: i64, nv: usize, nb: usize) -> &mut FineBucket {
        let fb = self.state.fine.entry(b).or_insert_with(|| FineBucket {
            cells: Vec::new(),
            delays: vec![0; nb],
            offset_secs: 0,
            last_offset_secs: 0,
        });
        if fb.cells.len() < nv {
            fb.cells.resize(nv, Counts::default());
        }
        fb
    }

    fn cell(&mut self, t: i64, idx: usize, nv: usize, nb: usize) -> &mut Counts {
        match self.fine_key(t) {
            Some(b) => &mut self.fine_bucket(b, nv, nb).cells[idx],
            None => {
                let day = t.div_euclid(COARSE_SECS);
                let cells = self.state.coarse.entry(day).or_default();
                if cells.len() < nv {
                    cells.resize(nv, Counts::default());
                }
                &mut cells[idx]
            }
        }
    }

    fn advance_watermark(&mut self, t: i64) {
        if self.state.watermark.is_some_and(|w| w >= t) {
            return;
        }
        self.state.watermark = Some(t);
        self.collapse_old();
    }

    /// Moves fine buckets older than the horizon into daily buckets.
    fn collapse_old(&mut self) {
        let w = self.bucket_secs();
        while let Some((&b, _)) = self.state.fine.first_key_value() {
            if !self.is_collapsed(b) {
                break;
            }
            let Some(fb) = self.state.fine.remove(&b) else {
                break;
            };
            let day = b.saturating_mul(w).div_euclid(COARSE_SECS);
            let cells = self.state.coarse.entry(day).or_default();
            if cells.len() < fb.cells.len() {
                cells.resize(fb.cells.len(), Counts::default());
            }
            for (c, f) in cells.iter_mut().zip(&fb.cells) {
                c.exposures = c.exposures.saturating_add(f.exposures);
                c.clicks = c.clicks.saturating_add(f.clicks);
            }
            for (m, d) in self.state.mature_delays.iter_mut().zip(&fb.delays) {
                *m = m.saturating_add(*d);
            }
        }
    }

    /// The click-delay CDF as of `now`.
    fn delay_cdf(&self, now: f64) -> DelayCdf {
        let edges = &self.derived.edges;
        match self.state.config.delay {
            DelayModel::Immediate => DelayCdf::immediate(),
            DelayModel::Fixed(d) => DelayCdf::estimate(edges, &d, 1.0, None),
            DelayModel::Learned {
                prior,
                prior_weight,
            } => {
                let nb = edges.len();
                let mut c = vec![0.0; nb];
                let mut cc = vec![0.0; nb];
                let mut add = |h: &[u64], upto: usize| {
                    let mut prefix = 0.0;
                    for j in 0..upto.min(h.len()) {
                        let x = h[j] as f64;
                        prefix += x;
                        c[j] += x;
                        cc[j] += prefix;
                    }
                };
                add(&self.state.mature_delays, nb);
                let w = self.bucket_secs();
                for (&b, fb) in &self.state.fine {
                    if fb.delays.iter().all(|&x| x == 0) {
                        continue;
                    }
                    // Every exposure of the cohort is at least this old (a
                    // bucket with clicks but no exposure counts as full).
                    let has_exposures = fb.cells.iter().any(|c| c.exposures > 0);
                    let last = if has_exposures {
                        fb.last_offset_secs.min(w.unsigned_abs()) as i64
                    } else {
                        w
                    };
                    let min_age = now - b.saturating_mul(w).saturating_add(last) as f64;
                    let upto = edges.partition_point(|&e| e <= min_age);
                    add(&fb.delays, upto);
                }
                DelayCdf::estimate(edges, &prior, prior_weight, Some((&c, &cc)))
            }
            #[allow(unreachable_patterns)]
            _ => DelayCdf::immediate(),
        }
    }

    /// Posteriors of all variants (by position) at `now`, with effective trials.
    fn posteriors(&self, now: DateTime<Utc>) -> (Vec<Posterior>, Vec<f64>, DelayCdf) {
        let c = &self.state.config;
        let nv = self.state.variants.len();
        let now_f = secs_f(now);
        let cdf = self.delay_cdf(now_f);
        let mut s = vec![0.0; nv];
        let mut n = vec![0.0; nv];
        if self.is_simple() {
            for (i, v) in self.state.variants.iter().enumerate() {
                s[i] = v.clicks as f64;
                n[i] = v.exposures as f64;
            }
        } else {
            let disc = |age: f64| match c.half_life_secs {
                Some(h) => (-(age.max(0.0)) / h * std::f64::consts::LN_2).exp(),
                None => 1.0,
            };
            let w = self.bucket_secs();
            for (&b, fb) in &self.state.fine {
                // Age from the bucket's mean exposure time.
                let total: u64 = fb
                    .cells
                    .iter()
                    .map(|c| c.exposures)
                    .fold(0, u64::saturating_add);
                let offset = if total > 0 {
                    fb.offset_secs as f64 / total as f64
                } else {
                    0.5 * w as f64
                };
                let age = now_f - (b.saturating_mul(w) as f64 + offset);
                let d = disc(age);
                let f = cdf.at(age) * d;
                for (i, cell) in fb.cells.iter().enumerate().take(nv) {
                    s[i] += cell.clicks as f64 * d;
                    n[i] += cell.exposures as f64 * f;
                }
            }
            for (&day, cells) in &self.state.coarse {
                let mid = day.saturating_mul(COARSE_SECS) as f64 + 0.5 * COARSE_SECS as f64;
                let d = disc(now_f - mid);
                for (i, cell) in cells.iter().enumerate().take(nv) {
                    s[i] += cell.clicks as f64 * d;
                    n[i] += cell.exposures as f64 * d;
                }
            }
        }
        let post = (0..nv)
            .map(|i| {
                Posterior::new(c.prior_alpha + s[i], c.prior_beta + (n[i] - s[i]).max(0.0))
                    .unwrap_or(Posterior::UNIFORM)
            })
            .collect();
        (post, n, cdf)
    }

    /// Brings posteriors up to `now` (clicks matured, discounting) without
    /// touching the allocation. [`draw`](Self::draw) uses the posteriors of the
    /// last refresh (in immediate mode without discounting, every update
    /// refreshes its variant at once).
    pub fn refresh(&mut self, now: DateTime<Utc>) {
        let (post, _, _) = self.posteriors(now);
        for (v, p) in self.state.variants.iter_mut().zip(post) {
            v.alpha = p.alpha();
            v.beta = p.beta();
        }
        self.state.refreshed_at = Some(now);
        self.rebuild();
    }

    /// Recomputes the allocation at `now`: refreshes posteriors, estimates each
    /// active variant's probability of being best with `mc_draws` Monte Carlo
    /// draws, retires consistent losers (when configured), applies top-two
    /// Thompson sampling and the minimum share. Call it every few minutes.
    pub fn recompute_allocation<R: Rng + ?Sized>(&mut self, now: DateTime<Utc>, rng: &mut R) {
        self.refresh(now);
        let k = self.derived.samplers.len();
        if k == 0 {
            return;
        }
        let draws = self.state.config.mc_draws;
        let mut wins = vec![0u32; k];
        let mut runner_up = vec![0u32; k];
        let samplers = &self.derived.samplers;
        if self.state.config.top_two.is_some() {
            for _ in 0..draws {
                let (mut best, mut bv, mut second, mut sv) = (0usize, -1.0f64, 0usize, -1.0f64);
                for (j, (_, s)) in samplers.iter().enumerate() {
                    let x = s.sample(rng);
                    if x > bv {
                        second = best;
                        sv = bv;
                        best = j;
                        bv = x;
                    } else if x > sv {
                        second = j;
                        sv = x;
                    }
                }
                wins[best] += 1;
                runner_up[second] += 1;
            }
        } else {
            for _ in 0..draws {
                let (mut best, mut bv) = (0usize, -1.0f64);
                for (j, (_, s)) in samplers.iter().enumerate() {
                    let x = s.sample(rng);
                    if x > bv {
                        best = j;
                        bv = x;
                    }
                }
                wins[best] += 1;
            }
        }
        let mut p: Vec<f64> = wins
            .iter()
            .map(|&w| f64::from(w) / f64::from(draws))
            .collect();
        let positions: Vec<usize> = self.derived.samplers.iter().map(|(i, _)| *i).collect();
        // Automatic retirement of consistent losers.
        let mut active = vec![true; k];
        if let Some(rule) = self.state.config.auto_retire {
            let top = (0..k).max_by_key(|&j| wins[j]).unwrap_or(0);
            for j in 0..k {
                let v = &self.state.variants[positions[j]];
                if j != top && v.exposures >= rule.min_exposures && p[j] < rule.max_p_best {
                    active[j] = false;
                }
            }
        }
        let total: f64 = (0..k).filter(|&j| active[j]).map(|j| p[j]).sum();
        for j in 0..k {
            p[j] = if !active[j] {
                0.0
            } else if total > 0.0 {
                p[j] / total
            } else {
                0.0
            };
        }
        let mut share = p.clone();
        if let Some(b) = self.state.config.top_two {
            let degenerate = p.iter().any(|&x| x >= 1.0 - 1e-12);
            let ru_total: f64 = (0..k)
                .filter(|&j| active[j])
                .map(|j| f64::from(runner_up[j]))
                .sum();
            let inv: f64 = p
                .iter()
                .map(|&x| if x < 1.0 { x / (1.0 - x) } else { 0.0 })
                .sum();
            for j in 0..k {
                let challenger = if !active[j] {
                    0.0
                } else if degenerate || inv <= 0.0 {
                    if ru_total > 0.0 {
                        f64::from(runner_up[j]) / ru_total
                    } else {
                        0.0
                    }
                } else {
                    let own = if p[j] < 1.0 { p[j] / (1.0 - p[j]) } else { 0.0 };
                    p[j] * (inv - own)
                };
                share[j] = b * p[j] + (1.0 - b) * challenger;
            }
        }
        let n_active = active.iter().filter(|&&a| a).count().max(1);
        let m = self.state.config.min_share.min(1.0 / n_active as f64);
        let sum: f64 = share.iter().sum();
        for j in 0..k {
            share[j] = if !active[j] {
                0.0
            } else if sum > 0.0 {
                m + (1.0 - m * n_active as f64) * share[j] / sum
            } else {
                1.0 / n_active as f64
            };
        }
        for j in 0..k {
            let v = &mut self.state.variants[positions[j]];
            v.p_best = p[j];
            v.share = share[j];
            if !active[j] {
                v.retired = true;
            }
        }
        self.normalise_shares();
        self.rebuild();
    }

    /// Sticky serving: the variant for `recipient` under the current
    /// allocation. Pure (records nothing) and deterministic: the same
    /// recipient gets the same variant while the allocation is unchanged, on
    /// every replica restored from the same snapshot.
    #[inline]
    pub fn assign(&self, recipient: &RecipientKey) -> Result<VariantId, OptimiserError> {
        self.assign_bytes(recipient.as_bytes())
    }

    /// [`assign`](Self::assign) for a recipient given as any bytes.
    #[inline]
    pub fn assign_bytes(&self, recipient: &[u8]) -> Result<VariantId, OptimiserError> {
        let h = assign_point(self.derived.k0, self.derived.k1, recipient);
        let d = &self.derived;
        let last = d
            .serve_ids
            .len()
            .checked_sub(1)
            .ok_or(OptimiserError::NoActiveVariant)?;
        for (j, &t) in d.thresholds[..last].iter().enumerate() {
            if h < t {
                return Ok(d.serve_ids[j]);
            }
        }
        Ok(d.serve_ids[last])
    }

    /// Per-request Thompson sampling: one posterior draw per active variant,
    /// the highest wins. Uses the posteriors of the last refresh.
    #[inline]
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<VariantId, OptimiserError> {
        let mut best = None;
        let mut bv = -1.0;
        for (i, s) in &self.derived.samplers {
            let x = s.sample(rng);
            if x > bv {
                bv = x;
                best = Some(*i);
            }
        }
        best.map(|i| self.state.variants[i].id)
            .ok_or(OptimiserError::NoActiveVariant)
    }

    /// The posterior of a variant as of the last refresh.
    pub fn posterior(&self, variant: VariantId) -> Result<Posterior, OptimiserError> {
        let v = &self.state.variants[self.position(variant)?];
        Ok(Posterior::new(v.alpha, v.beta).unwrap_or(Posterior::UNIFORM))
    }

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
        let active: Vec<usize> = (0..nv).filter(|&i| !vs[i].retired).collect();
        let mut cols: Vec<Vec<f64>> = vec![Vec::with_capacity(draws); nv];
        let mut maxes = Vec::with_capacity(draws);
        let mut wins = vec![0u32; nv];
        for _ in 0..draws {
            let mut best = usize::MAX;
            let mut bv = f64::NEG_INFINITY;
            for (i, s) in samplers.iter().enumerate() {
                let x = s.sample(rng);
                cols[i].push(x);
                if !vs[i].retired && x > bv {
                    bv = x;
                    best = i;
                }
            }
            if let Some(w) = wins.get_mut(best) {
                *w += 1;
            }
            maxes.push(bv);
        }
        let dn = draws as f64;
        let p_best: Vec<f64> = wins.iter().map(|&w| f64::from(w) / dn).collect();
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

    /// The experiment's state as a snapshot (format version included).
    pub fn snapshot(&self) -> super::Snapshot {
        super::Snapshot::new(vec![self.state.clone()])
    }

    pub(crate) fn state(&self) -> &ExperimentState {
        &self.state
    }

    /// Restores an experiment from a snapshot holding exactly one experiment.
    /// Future decisions equal those of the experiment that was snapshotted
    /// (for the same random generator).
    pub fn restore(snapshot: super::Snapshot) -> Result<Experiment, RestoreError> {
        let mut exps = snapshot.into_states()?;
        match (exps.pop(), exps.is_empty()) {
            (Some(s), true) => Experiment::from_checked_state(s),
            _ => Err(RestoreError::Invalid("expected exactly one experiment")),
        }
    }

    pub(crate) fn from_checked_state(s: ExperimentState) -> Result<Experiment, RestoreError> {
        let inv = |m: &'static str| Err(RestoreError::Invalid(m));
        if s.config.validate().is_err() {
            return inv("configuration out of range");
        }
        let nb = bin_edges(s.config.horizon_secs).len();
        let nv = s.variants.len();
        if nv > MAX_VARIANTS {
            return inv("too many variants");
        }
        if s.variants.iter().filter(|v| !v.retired).count() > MAX_ACTIVE_VARIANTS {
            return inv("too many active variants");
        }
        let mut share_sum = 0.0;
        for (i, v) in s.variants.iter().enumerate() {
            if i > 0 && s.variants[i - 1].id >= v.id {
                return inv("variant ids not strictly increasing");
            }
            if v.id.0 >= s.next_id {
                return inv("variant id not below next_id");
            }
            if Posterior::new(v.alpha, v.beta).is_none() {
                return inv("posterior shapes must be finite and positive");
            }
            if !(v.share.is_finite() && v.share >= 0.0 && v.share <= 1.0 + 1e-9) {
                return inv("share out of range");
            }
            if !(v.p_best.is_finite() && (0.0..=1.0).contains(&v.p_best)) {
                return inv("p_best out of range");
            }
            if v.retired && v.share != 0.0 {
                return inv("retired variant with a share");
            }
            share_sum += v.share;
        }
        if nv > 0 && s.variants.iter().any(|v| !v.retired) && (share_sum - 1.0).abs() > 1e-6 {
            return inv("shares do not sum to 1");
        }
        if s.mature_delays.len() != nb {
            return inv("delay histogram has the wrong number of bins");
        }
        let mut exp = vec![0u64; nv];
        let mut clk = vec![0u64; nv];
        let mut add = |cells: &[Counts]| -> bool {
            if cells.len() != nv {
                return false;
            }
            for (i, c) in cells.iter().enumerate() {
                match (
                    exp[i].checked_add(c.exposures),
                    clk[i].checked_add(c.clicks),
                ) {
                    (Some(e), Some(k)) => {
                        exp[i] = e;
                        clk[i] = k;
                    }
                    _ => return false,
                }
            }
            true
        };
        let w = i64::from(s.config.bucket_secs);
        for (&b, fb) in &s.fine {
            if fb.delays.len() != nb || !add(&fb.cells) {
                return inv("fine bucket malformed");
            }
            let total = fb
                .cells
                .iter()
                .try_fold(0u64, |a, c| a.checked_add(c.exposures));
            let max_offset = total.and_then(|t| t.checked_mul(w.unsigned_abs()));
            if max_offset.is_none_or(|m| fb.offset_secs > m)
                || fb.last_offset_secs > w.unsigned_abs()
            {
                return inv("fine bucket exposure offsets out of range");
            }
            if b.checked_mul(w).and_then(|x| x.checked_add(w)).is_none() {
                return inv("bucket time out of range");
            }
            let end = b.saturating_mul(w).saturating_add(w);
            if let Some(wm) = s.watermark
                && end.saturating_add(i64::from(s.config.horizon_secs)) <= wm
            {
                return inv("fine bucket older than the horizon");
            }
        }
        for (&day, cells) in &s.coarse {
            if !add(cells) {
                return inv("daily bucket malformed");
            }
            if day.checked_mul(COARSE_SECS).is_none() {
                return inv("bucket time out of range");
            }
        }
        for (i, v) in s.variants.iter().enumerate() {
            if v.exposures != exp[i] || v.clicks != clk[i] {
                return inv("variant totals disagree with the buckets");
            }
        }
        Ok(Experiment::from_state(s))
    }

    /// Merges the evidence of another shard of the same experiment (same id
    /// and configuration) that saw disjoint updates: the result holds the
    /// evidence one instance would have had after seeing both. Variants are
    /// matched by id (a variant known to one shard only is added; the same id
    /// must carry the same label; retired in either means retired). The
    /// allocation is this shard's, normalised: call
    /// [`recompute_allocation`](Self::recompute_allocation) after merging.
    pub fn merge(&mut self, other: &Experiment) -> Result<(), OptimiserError> {
        let (a, b) = (&self.state, &other.state);
        if a.id != b.id {
            return Err(OptimiserError::Merge("different experiments"));
        }
        if a.config != b.config {
            return Err(OptimiserError::Merge("different configurations"));
        }
        // Union of the variants by id, with position maps for both sides.
        let mut merged: Vec<Variant> = Vec::new();
        let (mut ia, mut ib) = (0, 0);
        let mut map_a = Vec::with_capacity(a.variants.len());
        let mut map_b = Vec::with_capacity(b.variants.len());
        while ia < a.variants.len() || ib < b.variants.len() {
            let va = a.variants.get(ia);
            let vb = b.variants.get(ib);
            match (va, vb) {
                (Some(x), Some(y)) if x.id == y.id => {
                    if x.label != y.label {
                        return Err(OptimiserError::Merge(
                            "same variant id with different labels",
                        ));
                    }
                    let mut v = x.clone();
                    v.retired |= y.retired;
                    v.exposures = v.exposures.saturating_add(y.exposures);
                    v.clicks = v.clicks.saturating_add(y.clicks);
                    map_a.push(merged.len());
                    map_b.push(merged.len());
                    merged.push(v);
                    ia += 1;
                    ib += 1;
                }
                (Some(x), Some(y)) if x.id < y.id => {
                    map_a.push(merged.len());
                    merged.push(x.clone());
                    ia += 1;
                }
                (Some(x), None) => {
                    map_a.push(merged.len());
                    merged.push(x.clone());
                    ia += 1;
                }
                (_, Some(y)) => {
                    map_b.push(merged.len());
                    merged.push(y.clone());
                    ib += 1;
                }
                (None, None) => break,
            }
        }
        if merged.iter().filter(|v| !v.retired).count() > MAX_ACTIVE_VARIANTS
            || merged.len() > MAX_VARIANTS
        {
            return Err(OptimiserError::TooManyVariants);
        }
        let nv = merged.len();
        let remap = |cells: &[Counts], map: &[usize], out: &mut Vec<Counts>| {
            if out.len() < nv {
                out.resize(nv, Counts::default());
            }
            for (i, c) in cells.iter().enumerate() {
                if let Some(&j) = map.get(i) {
                    out[j].exposures = out[j].exposures.saturating_add(c.exposures);
                    out[j].clicks = out[j].clicks.saturating_add(c.clicks);
                }
            }
        };
        let mut fine: BTreeMap<i64, FineBucket> = BTreeMap::new();
        for (src, map) in [(&a.fine, &map_a), (&b.fine, &map_b)] {
            for (&k, fb) in src {
                let e = fine.entry(k).or_insert_with(|| FineBucket {
                    cells: Vec::new(),
                    delays: vec![0; fb.delays.len()],
                    offset_secs: 0,
                    last_offset_secs: 0,
                });
                e.offset_secs = e.offset_secs.saturating_add(fb.offset_secs);
                e.last_offset_secs = e.last_offset_secs.max(fb.last_offset_secs);
                remap(&fb.cells, map, &mut e.cells);
                for (x, y) in e.delays.iter_mut().zip(&fb.delays) {
                    *x = x.saturating_add(*y);
                }
            }
        }
        let mut coarse: BTreeMap<i64, Vec<Counts>> = BTreeMap::new();
        for (src, map) in [(&a.coarse, &map_a), (&b.coarse, &map_b)] {
            for (&k, cells) in src {
                remap(cells, map, coarse.entry(k).or_default());
            }
        }
        let mature: Vec<u64> = a
            .mature_delays
            .iter()
            .zip(&b.mature_delays)
            .map(|(x, y)| x.saturating_add(*y))
            .collect();
        let next_id = a.next_id.max(b.next_id);
        let watermark = a.watermark.max(b.watermark);
        let refreshed_at = a.refreshed_at.max(b.refreshed_at);
        // Variants that only `other` knew keep its share; then normalise.
        let st = &mut self.state;
        st.next_id = next_id;
        st.watermark = watermark;
        st.refreshed_at = refreshed_at;
        st.variants = merged;
        st.fine = fine;
        st.coarse = coarse;
        st.mature_delays = mature;
        self.collapse_old();
        self.normalise_shares();
        if let Some(now) = self.state.refreshed_at {
            self.refresh(now);
        } else {
            self.rebuild();
        }
        Ok(())
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
