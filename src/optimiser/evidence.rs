//! Evidence and posteriors: learning from attribution's updates into time
//! buckets, the click-delay model, discounting, and the posteriors they give.

use chrono::{DateTime, Utc};

use super::beta::{Posterior, Sampler};
use super::config::OptimiserError;
use super::delay::{DelayCdf, DelayModel, bin_of};
use super::experiment::{COARSE_SECS, Counts, Experiment, FineBucket};
use crate::vocab::{RewardKind, Update};

fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn secs_f(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) * 1e-9
}

impl Experiment {
    /// Learns from one update from attribution. Exposures and outcomes for
    /// retired variants still count. Only the outcome of the configured
    /// [`reward`](super::OptimiserConfig::reward) (clicks by default) feeds the
    /// posteriors and the delay model; the other outcomes are counted for the
    /// report, guardrail events by exposure time for the guardrails. Updates may come late and out of order.
    /// An update never moves the experiment's clock: only the `now` given to
    /// [`refresh`](Self::refresh) (and so to
    /// [`recompute_allocation`](Self::recompute_allocation)) does, so a
    /// future-dated update cannot make recent exposures look matured; it
    /// counts as not yet matured until `now` reaches it.
    pub fn apply(&mut self, update: &Update) -> Result<(), OptimiserError> {
        let experiment = update.experiment();
        if *experiment != self.state.id {
            return Err(OptimiserError::WrongExperiment {
                update: experiment.clone(),
                experiment: self.state.id.clone(),
            });
        }
        let idx = self.position(update.variant())?;
        let nv = self.state.variants.len();
        let nb = self.derived.edges.len();
        let reward = self.state.config.reward.kind();
        match update {
            Update::Exposure { at, .. } => {
                let t = secs(*at);
                self.expect_exposure(t);
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
            Update::Guardrail {
                guardrail,
                exposed_at,
                at,
                ..
            } => {
                // Counted by exposure time, so that the comparison with the
                // reference is made between exposures of the same age.
                let te = secs(exposed_at.unwrap_or(*at));
                let c = self.cell(te, idx, nv, nb);
                let x = c.guard_mut(*guardrail);
                *x = x.saturating_add(1);
                return Ok(());
            }
            Update::Click { .. } | Update::Open { .. } | Update::Conversion { .. } => {
                let Some((kind, exposed_at, at)) = update.reward_outcome() else {
                    return Err(OptimiserError::UnsupportedUpdate);
                };
                if kind != reward {
                    let o = &mut self.state.variants[idx].other;
                    let n = match kind {
                        RewardKind::Click => &mut o.clicks,
                        RewardKind::Open => &mut o.opens,
                        RewardKind::Conversion => &mut o.conversions,
                    };
                    *n = n.saturating_add(1);
                    return Ok(());
                }
                self.learn_reward(idx, exposed_at, at, nv, nb);
            }
        }
        if self.is_simple() {
            self.refresh_variant_simple(idx);
        }
        Ok(())
    }

    /// Counts a success of the experiment's reward and learns its delay.
    fn learn_reward(
        &mut self,
        idx: usize,
        exposed_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
        nv: usize,
        nb: usize,
    ) {
        let tc = secs(at);
        let te = exposed_at.map(secs).unwrap_or(tc);
        let v = &mut self.state.variants[idx];
        v.clicks = v.clicks.saturating_add(1);
        if exposed_at.is_none() {
            v.untimed = v.untimed.saturating_add(1);
        }
        let c = self.cell(te, idx, nv, nb);
        c.clicks = c.clicks.saturating_add(1);
        if let Some(e) = exposed_at {
            let delay = (at - e).num_milliseconds() as f64 / 1000.0;
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

    /// Immediate feedback without discounting: posteriors follow every update.
    fn is_simple(&self) -> bool {
        self.state.config.delay == DelayModel::Immediate && self.state.config.half_life.is_none()
    }

    /// Adds the shares of the allocation in force at `t` to every variant's
    /// expected exposures (for the SRM check).
    fn expect_exposure(&mut self, t: i64) {
        let epochs = &self.state.epochs;
        let k = epochs.partition_point(|e| e.from <= t).saturating_sub(1);
        if let Some(e) = epochs.get(k) {
            for (v, s) in self.state.variants.iter_mut().zip(&e.shares) {
                v.expected_exposures += s;
            }
        }
    }

    fn refresh_variant_simple(&mut self, idx: usize) {
        let (a0, b0) = if self.state.variants[idx].added_running {
            self.pooled_prior()
        } else {
            (self.state.config.prior_alpha, self.state.config.prior_beta)
        };
        let v = &mut self.state.variants[idx];
        let s = v.clicks as f64;
        let n = v.exposures as f64;
        v.alpha = a0 + s;
        v.beta = b0 + (n - s).max(0.0);
        if let Some(p) = Posterior::new(v.alpha, v.beta)
            && let Some(slot) = self.derived.samplers.iter_mut().find(|(i, _)| *i == idx)
        {
            slot.1 = Sampler::new(p);
        }
    }

    fn bucket_secs(&self) -> i64 {
        self.state.config.bucket_secs()
    }

    /// Whether a fine bucket is entirely older than the horizon at the watermark.
    fn is_collapsed(&self, bucket: i64) -> bool {
        let w = self.bucket_secs();
        let end = bucket.saturating_mul(w).saturating_add(w);
        match self.state.watermark {
            Some(wm) => end.saturating_add(i64::from(self.state.config.horizon_secs())) <= wm,
            None => false,
        }
    }

    /// The fine bucket of time `t`, or `None` when it is collapsed.
    fn fine_key(&self, t: i64) -> Option<i64> {
        let b = t.div_euclid(self.bucket_secs());
        (!self.is_collapsed(b)).then_some(b)
    }

    fn fine_bucket(&mut self, b: i64, nv: usize, nb: usize) -> &mut FineBucket {
        let fb = self
            .state
            .fine
            .entry(b)
            .or_insert_with(|| FineBucket::new(nb));
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

    pub(super) fn advance_watermark(&mut self, t: i64) {
        if self.state.watermark.is_some_and(|w| w >= t) {
            return;
        }
        self.state.watermark = Some(t);
        self.collapse_old();
    }

    /// Moves fine buckets older than the horizon into daily buckets.
    pub(super) fn collapse_old(&mut self) {
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
                c.add(f);
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
        }
    }

    /// Posteriors of all variants (by position) at `now`, with effective
    /// trials: clicks matured as of `now`, evidence discounted as of
    /// `discount_at` (ages before it count at full weight). The control is
    /// never discounted.
    pub(super) fn posteriors(
        &self,
        now: DateTime<Utc>,
        discount_at: DateTime<Utc>,
    ) -> (Vec<Posterior>, Vec<f64>, DelayCdf) {
        let c = &self.state.config;
        let nv = self.state.variants.len();
        let now_f = secs_f(now);
        let disc_f = secs_f(discount_at);
        let control = self.control_position();
        let cdf = self.delay_cdf(now_f);
        let mut s = vec![0.0; nv];
        let mut n = vec![0.0; nv];
        if self.is_simple() {
            for (i, v) in self.state.variants.iter().enumerate() {
                s[i] = v.clicks as f64;
                n[i] = v.exposures as f64;
            }
        } else {
            let half_life = c.half_life_secs();
            let disc = |age: f64| match half_life {
                Some(h) => (-(age.max(0.0)) / h * std::f64::consts::LN_2).exp(),
                None => 1.0,
            };
            for (&b, fb) in &self.state.fine {
                let t = self.bucket_time(b, fb);
                let age = now_f - t;
                let d = disc(disc_f - t);
                let mature = cdf.at(age);
                for (i, cell) in fb.cells.iter().enumerate().take(nv) {
                    let d = if Some(i) == control { 1.0 } else { d };
                    s[i] += cell.clicks as f64 * d;
                    n[i] += cell.exposures as f64 * mature * d;
                }
            }
            for (&day, cells) in &self.state.coarse {
                let mid = day.saturating_mul(COARSE_SECS) as f64 + 0.5 * COARSE_SECS as f64;
                let d = disc(disc_f - mid);
                for (i, cell) in cells.iter().enumerate().take(nv) {
                    let d = if Some(i) == control { 1.0 } else { d };
                    s[i] += cell.clicks as f64 * d;
                    n[i] += cell.exposures as f64 * d;
                }
            }
        }
        let (a0, b0) = (c.prior_alpha, c.prior_beta);
        let vs = &self.state.variants;
        let means: Vec<f64> = (0..nv)
            .filter(|&i| !vs[i].added_running && !vs[i].retired)
            .map(|i| (a0 + s[i]) / (a0 + b0 + s[i] + (n[i] - s[i]).max(0.0)))
            .collect();
        let eb = self.eb_prior(&means);
        let post = vs
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (a, b) = if v.added_running { eb } else { (a0, b0) };
                Posterior::new(a + s[i], b + (n[i] - s[i]).max(0.0)).unwrap_or(Posterior::UNIFORM)
            })
            .collect();
        (post, n, cdf)
    }

    /// The mean exposure time of a fine bucket, in seconds (its middle when
    /// it holds no exposure): the age of its exposures is measured from it.
    fn bucket_time(&self, b: i64, fb: &FineBucket) -> f64 {
        let w = self.bucket_secs();
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
        b.saturating_mul(w) as f64 + offset
    }

    /// Each variant's exposures weighted by how far their rewards have
    /// matured as of `now` under `cdf` (undiscounted): the denominator of a
    /// rate estimated from pooled counts.
    pub(super) fn matured_exposures(&self, now: DateTime<Utc>, cdf: &DelayCdf) -> Vec<f64> {
        let nv = self.state.variants.len();
        let now_f = secs_f(now);
        let mut n = vec![0.0; nv];
        for (&b, fb) in &self.state.fine {
            let mature = cdf.at(now_f - self.bucket_time(b, fb));
            for (x, cell) in n.iter_mut().zip(&fb.cells) {
                *x += cell.exposures as f64 * mature;
            }
        }
        for cells in self.state.coarse.values() {
            for (x, cell) in n.iter_mut().zip(cells) {
                *x += cell.exposures as f64;
            }
        }
        n
    }

    /// Brings posteriors up to `now` (clicks matured, discounting) without
    /// touching the allocation. [`draw`](Self::draw) uses the posteriors of the
    /// last refresh (in immediate mode without discounting, every update
    /// refreshes its variant at once). `now` is the experiment's clock: it
    /// moves the maturity watermark (never an update's own time).
    pub fn refresh(&mut self, now: DateTime<Utc>) {
        self.refresh_trials(now);
    }

    /// [`refresh`](Self::refresh), returning each variant's effective trials.
    pub(super) fn refresh_trials(&mut self, now: DateTime<Utc>) -> Vec<f64> {
        self.advance_watermark(secs(now));
        let (post, n, _) = self.posteriors(now, now);
        for (v, p) in self.state.variants.iter_mut().zip(post) {
            v.alpha = p.alpha();
            v.beta = p.beta();
        }
        self.state.refreshed_at = Some(now);
        self.rebuild();
        n
    }

    /// Observed exposure-to-click delays the delay model has learned from.
    pub(super) fn delay_observations(&self) -> u64 {
        let fine = self
            .state
            .fine
            .values()
            .flat_map(|fb| fb.delays.iter())
            .fold(0u64, |a, &x| a.saturating_add(x));
        self.state
            .mature_delays
            .iter()
            .fold(fine, |a, &x| a.saturating_add(x))
    }
}
