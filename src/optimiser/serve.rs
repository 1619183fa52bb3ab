//! Serving: the sticky assignment (pure, deterministic) and the per-request
//! Thompson draw.

use rand::Rng;
use siphasher::sip::SipHasher24;

use super::beta::Posterior;
use super::config::OptimiserError;
use super::experiment::Experiment;
use crate::vocab::{ExperimentId, RecipientKey, VariantId};

/// 2^64 as an `f64`, to turn shares into integer thresholds.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// The serving threshold of a cumulative share: `⌊cum · 2^64⌋`, saturating
/// (shares summing to 1 give `u64::MAX` at the end).
pub(super) fn threshold(cum: f64) -> u64 {
    // `as` saturates, which is the documented rule.
    (cum * TWO_POW_64) as u64
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
}
