//! Serving: the sticky assignment (pure, deterministic) and the per-request
//! Thompson draw.

use rand::{Rng, RngExt};

use super::beta::Posterior;
use super::config::OptimiserError;
use super::experiment::Experiment;
use super::layout::assign_point;
use crate::vocab::{RecipientKey, VariantId};

impl Experiment {
    /// Sticky serving: the variant for `recipient` under the current
    /// allocation. Pure (records nothing) and deterministic: the same
    /// recipient gets the same variant while the allocation is unchanged, on
    /// every replica restored from the same snapshot. When the shares move
    /// (recompute, add, retire, hand-set), only the moved share of the
    /// audience changes variant: exactly the total-variation distance
    /// between the old and the new allocation.
    ///
    /// To serve an email, prefer [`crate::serve`], which also records the
    /// exposure and returns the variant already recorded for a re-render.
    #[inline]
    pub fn assign(&self, recipient: &RecipientKey) -> Result<VariantId, OptimiserError> {
        self.assign_bytes(recipient.as_bytes())
    }

    /// [`assign`](Self::assign) for a recipient given as any bytes.
    #[inline]
    pub fn assign_bytes(&self, recipient: &[u8]) -> Result<VariantId, OptimiserError> {
        let h = assign_point(self.derived.k0, self.derived.k1, recipient);
        let d = &self.derived;
        let j = d.starts.partition_point(|&s| s <= h);
        j.checked_sub(1)
            .and_then(|j| d.owners.get(j))
            .copied()
            .ok_or(OptimiserError::NoActiveVariant)
    }

    /// The serving layout for a published allocation: the assignment key
    /// and the slice starts with their owners (what [`assign`](Self::assign)
    /// reads).
    pub(crate) fn serving_layout(&self) -> (u64, u64, &[u64], &[VariantId]) {
        let d = &self.derived;
        (d.k0, d.k1, &d.starts, &d.owners)
    }

    /// Per-request Thompson sampling: one posterior draw per active variant,
    /// the highest wins. Uses the posteriors of the last refresh.
    ///
    /// It respects the allocation options: a named control is served with
    /// probability `control_share`; with `min_share`, each other active
    /// variant is served uniformly with probability `min_share` (capped at
    /// `1/K`); with `top_two = b`, the draw's winner is served with
    /// probability `b`, else the winner of fresh draws that is not it (Russo's
    /// top-two Thompson sampling). A variant still learning (added while
    /// running, before its minimum evidence) gets at most `1/K` of the draws. With none of these set, one uniform draw per
    /// active variant is all the generator gives.
    #[inline]
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<VariantId, OptimiserError> {
        let samplers = &self.derived.samplers;
        if samplers.is_empty() {
            return Err(OptimiserError::NoActiveVariant);
        }
        let c = &self.state.config;
        let control = self.control_position();
        if let Some(ci) = control
            && samplers.len() > 1
            && rng.random::<f64>() < c.control_share
        {
            return Ok(self.state.variants[ci].id);
        }
        let others = samplers.len() - usize::from(control.is_some() && samplers.len() > 1);
        // A wording a guardrail caps only gets the minimum share's uniform
        // draws, unless every other one is capped too.
        let vs = &self.state.variants;
        let any_uncapped = samplers
            .iter()
            .any(|(i, _)| Some(*i) != control && !vs[*i].guardrail.acts());
        let eligible = |i: usize| {
            samplers.len() == 1 || (Some(i) != control && !(any_uncapped && vs[i].guardrail.acts()))
        };
        if c.min_share > 0.0 {
            let m = c.min_share.min(1.0 / others as f64);
            let u = rng.random::<f64>();
            if u < m * others as f64 {
                let pick = ((u / m) as usize).min(others - 1);
                let not_control = |i: usize| samplers.len() == 1 || Some(i) != control;
                if let Some(&(i, _)) = samplers.iter().filter(|(i, _)| not_control(*i)).nth(pick) {
                    return Ok(self.state.variants[i].id);
                }
            }
        }
        let argmax_of = |rng: &mut R, ok: &dyn Fn(usize) -> bool| {
            let mut best = None;
            let mut bv = -1.0;
            for (i, s) in samplers {
                let x = s.sample(rng);
                if x > bv && ok(*i) {
                    bv = x;
                    best = Some(*i);
                }
            }
            best
        };
        let argmax = |rng: &mut R| argmax_of(rng, &eligible);
        let mut best = argmax(rng);
        if let (Some(b), Some(leader)) = (c.top_two, best)
            && others > 1
            && rng.random::<f64>() >= b
        {
            // Challenger: the first fresh draw won by another variant (at most
            // 100 tries; the leader when it always wins).
            for _ in 0..100 {
                let x = argmax(rng);
                if x.is_some() && x != Some(leader) {
                    best = x;
                    break;
                }
            }
        }
        // A variant still learning gets at most 1/K of the draws, as in
        // allocation mode: when it wins, it is served with probability
        // `min(1, (1/K) / P(best))` (P(best) of the last recompute; `1/K`
        // before the first), else the draw is redone among the established.
        if let Some(i) = best
            && vs[i].learning
            && Some(i) != control
        {
            let cap = 1.0 / samplers.len() as f64;
            let p = vs[i].p_best;
            let accept = if p > cap {
                cap / p
            } else if p > 0.0 {
                1.0
            } else {
                cap
            };
            let established = |j: usize| eligible(j) && !vs[j].learning;
            if rng.random::<f64>() >= accept && samplers.iter().any(|(j, _)| established(*j)) {
                best = argmax_of(rng, &established);
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
