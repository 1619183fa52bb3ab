//! State: the snapshot format, restore (checking every invariant) and the
//! merge of shards.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::beta::Posterior;
use super::config::{MAX_ACTIVE_VARIANTS, MAX_VARIANTS, OptimiserError};
use super::delay::bin_edges;
use super::experiment::{COARSE_SECS, Counts, Experiment, ExperimentState, FineBucket, Variant};
use crate::snapshot::{self as shared, RestoreError};

/// A serialisable snapshot of optimiser state (one or more experiments),
/// with its format version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimiserSnapshot {
    format_version: u32,
    experiments: Vec<ExperimentState>,
}

impl OptimiserSnapshot {
    /// The snapshot format this build writes and reads.
    pub const FORMAT_VERSION: u32 = 1;

    pub(crate) fn new(experiments: Vec<ExperimentState>) -> OptimiserSnapshot {
        OptimiserSnapshot {
            format_version: Self::FORMAT_VERSION,
            experiments,
        }
    }

    /// The format version the snapshot was written with.
    pub fn format_version(&self) -> u32 {
        self.format_version
    }

    /// The experiments' states, once the version is checked.
    pub(crate) fn into_states(self) -> Result<Vec<ExperimentState>, RestoreError> {
        shared::check_version(self.format_version, Self::FORMAT_VERSION)?;
        Ok(self.experiments)
    }

    /// The snapshot as JSON bytes (floats round-trip exactly).
    pub fn to_json(&self) -> Vec<u8> {
        shared::to_json(self)
    }

    /// Parses JSON bytes. A snapshot of another format version parses here
    /// and is reported by `restore`; bytes that are no snapshot give
    /// [`RestoreError::Malformed`].
    pub fn from_json(bytes: &[u8]) -> Result<OptimiserSnapshot, RestoreError> {
        shared::from_json(bytes)
    }
}

impl Experiment {
    /// The experiment's state as a snapshot (format version included).
    pub fn snapshot(&self) -> OptimiserSnapshot {
        OptimiserSnapshot::new(vec![self.state.clone()])
    }

    pub(crate) fn state(&self) -> &ExperimentState {
        &self.state
    }

    /// Restores an experiment from a snapshot holding exactly one experiment.
    /// Future decisions equal those of the experiment that was snapshotted
    /// (for the same random generator).
    pub fn restore(snapshot: OptimiserSnapshot) -> Result<Experiment, RestoreError> {
        let mut exps = snapshot.into_states()?;
        match (exps.pop(), exps.is_empty()) {
            (Some(s), true) => Experiment::from_checked_state(s),
            (Some(_), false) | (None, _) => {
                Err(RestoreError::Corrupt("expected exactly one experiment"))
            }
        }
    }

    pub(crate) fn from_checked_state(s: ExperimentState) -> Result<Experiment, RestoreError> {
        let inv = |m: &'static str| Err(RestoreError::Corrupt(m));
        if s.config.validate().is_err() {
            return inv("configuration out of range");
        }
        let nb = bin_edges(s.config.horizon_secs()).len();
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
            if !(v.expected_exposures.is_finite() && v.expected_exposures >= 0.0) {
                return inv("expected exposures out of range");
            }
            if v.learning && !v.added_running {
                return inv("learning variant not added while running");
            }
            if v.untimed > v.clicks {
                return inv("more untimed rewards than rewards");
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
                    (None, _) | (_, None) => return false,
                }
            }
            true
        };
        let w = s.config.bucket_secs();
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
                && end.saturating_add(i64::from(s.config.horizon_secs())) <= wm
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
        if let Some(c) = s.control
            && !s.variants.iter().any(|v| v.id == c && !v.retired)
        {
            return inv("control is not an active variant");
        }
        if s.epochs.windows(2).any(|w| w[0].from >= w[1].from)
            || s.epochs.iter().any(|e| {
                e.shares.len() > nv || e.shares.iter().any(|x| !(x.is_finite() && *x >= 0.0))
            })
        {
            return inv("allocation epochs malformed");
        }
        let has_layout = !s.layout.is_empty();
        let e = Experiment::from_state(s);
        if has_layout && !e.layout_matches() {
            return inv("serving layout does not match the shares");
        }
        Ok(e)
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
                    v.untimed = v.untimed.saturating_add(y.untimed);
                    v.expected_exposures += y.expected_exposures;
                    v.learning &= y.learning;
                    v.other.add(&y.other);
                    v.guardrail = v.guardrail.worst(y.guardrail);
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
                    out[j].add(c);
                }
            }
        };
        let mut fine: BTreeMap<i64, FineBucket> = BTreeMap::new();
        for (src, map) in [(&a.fine, &map_a), (&b.fine, &map_b)] {
            for (&k, fb) in src {
                let e = fine
                    .entry(k)
                    .or_insert_with(|| FineBucket::new(fb.delays.len()));
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
        if self.state.control.is_some() && self.control_position().is_none() {
            self.state.control = None;
        }
        self.normalise_shares();
        self.apply_control_share();
        self.shares_changed(None);
        if let Some(now) = self.state.refreshed_at {
            self.refresh(now);
        }
        Ok(())
    }
}
