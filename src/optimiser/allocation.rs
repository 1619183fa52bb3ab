//! The allocation policy: each active variant's probability of being best
//! (by Monte Carlo) to traffic shares, with automatic retirement, top-two
//! Thompson sampling and the minimum share.

use chrono::{DateTime, Utc};
use rand::Rng;

use super::config::{GuardrailAction, OptimiserConfig};
use super::experiment::Experiment;
use super::guardrail::GuardrailStatus;
use super::monte_carlo::{Tally, argmax_tally};

/// One active variant's result of an allocation recompute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Share {
    /// Probability of being best (renormalised over the variants kept).
    pub(super) p_best: f64,
    /// Share of traffic (before the final normalisation).
    pub(super) share: f64,
    /// Whether the variant is retired as a consistent loser.
    pub(super) retire: bool,
}

impl Experiment {
    /// Recomputes the allocation at `now`: refreshes posteriors, estimates each
    /// active variant's probability of being best with `mc_draws` Monte Carlo
    /// draws, retires consistent losers (when configured), applies top-two
    /// Thompson sampling and the minimum share. Call it every few minutes.
    ///
    /// A named control keeps its fixed share and is never retired; a variant
    /// still learning (added while running, fewer than `min_evidence` matured
    /// trials) gets at most `1/K` and is never retired. Only the moved share
    /// of the audience changes variant.
    pub fn recompute_allocation<R: Rng + ?Sized>(&mut self, now: DateTime<Utc>, rng: &mut R) {
        let trials = self.refresh_trials(now);
        let verdicts = self.judge_guardrails();
        for (v, g) in self.state.variants.iter_mut().zip(verdicts) {
            v.guardrail = g;
        }
        let min_evidence = self.state.config.min_evidence;
        for (v, &n) in self.state.variants.iter_mut().zip(&trials) {
            if v.learning && n >= min_evidence {
                v.learning = false;
            }
        }
        let control = self.control_position();
        let samplers = &self.derived.samplers;
        if samplers.is_empty() {
            return;
        }
        let tally = argmax_tally(
            self.state.config.mc_draws,
            &vec![true; samplers.len()],
            |_, j| samplers[j].1.sample(rng),
            |_| {},
        );
        let exposures: Vec<u64> = samplers
            .iter()
            .map(|&(i, _)| self.state.variants[i].exposures)
            .collect();
        let roles: Vec<Role> = samplers
            .iter()
            .map(|&(i, _)| Role {
                control: Some(i) == control,
                learning: self.state.variants[i].learning,
                guard: match self.state.variants[i].guardrail {
                    GuardrailStatus::Capped(_) => Some(GuardrailAction::Cap),
                    GuardrailStatus::Retired(_) => Some(GuardrailAction::Retire),
                    GuardrailStatus::Ok | GuardrailStatus::Watch(_) => None,
                },
            })
            .collect();
        let result = shares(&tally, &exposures, &roles, &self.state.config);
        for (&(i, _), s) in self.derived.samplers.iter().zip(result) {
            let v = &mut self.state.variants[i];
            v.p_best = s.p_best;
            v.share = s.share;
            if s.retire {
                v.retired = true;
            }
        }
        self.shares_changed(Some(now.timestamp()));
    }
}

/// What the allocation policy must respect about one active variant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Role {
    /// The control: fixed share, never retired.
    pub(super) control: bool,
    /// Still learning: share capped at `1/K`, never retired.
    pub(super) learning: bool,
    /// A guardrail acts on it: capped at the minimum share, or retired.
    pub(super) guard: Option<GuardrailAction>,
}

/// The allocation policy as a pure function of the Monte Carlo tally over the
/// active variants, their exposures and roles: probability of being best,
/// automatic retirement (never of the variant with the most wins, the control
/// or a learning variant), renormalisation over the variants kept, top-two
/// Thompson sampling, the minimum share, the control's fixed share, the
/// `1/K` cap of learning variants and the guardrails (retired, or capped at
/// the minimum share; never the control, never the last active variant).
pub(super) fn shares(
    tally: &Tally,
    exposures: &[u64],
    roles: &[Role],
    config: &OptimiserConfig,
) -> Vec<Share> {
    let role = |j: usize| roles.get(j).copied().unwrap_or_default();
    let wins = &tally.wins;
    let runner_up = &tally.runner_up;
    let k = wins.len();
    let draws = f64::from(tally.draws);
    let mut p: Vec<f64> = wins.iter().map(|&w| f64::from(w) / draws).collect();
    // Automatic retirement of consistent losers.
    let mut active = vec![true; k];
    if let Some(rule) = config.auto_retire {
        let top = (0..k).max_by_key(|&j| wins[j]).unwrap_or(0);
        for j in 0..k {
            let exempt = role(j).control || role(j).learning;
            if j != top && !exempt && exposures[j] >= rule.min_exposures && p[j] < rule.max_p_best {
                active[j] = false;
            }
        }
    }
    // Guardrail retirement: never the control, never the last active variant.
    for j in 0..k {
        if role(j).guard == Some(GuardrailAction::Retire)
            && !role(j).control
            && active[j]
            && active.iter().filter(|&&a| a).count() > 1
        {
            active[j] = false;
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
    if let Some(b) = config.top_two {
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
    let m = config.min_share.min(1.0 / n_active as f64);
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
    // The control's fixed share; the others share the rest in proportion.
    if let Some(c) = (0..k).find(|&j| active[j] && role(j).control) {
        let others: f64 = (0..k).filter(|&j| j != c).map(|j| share[j]).sum();
        for j in 0..k {
            share[j] = if j == c {
                if n_active > 1 {
                    config.control_share
                } else {
                    1.0
                }
            } else if others > 0.0 {
                share[j] / others * (1.0 - config.control_share)
            } else if active[j] {
                (1.0 - config.control_share) / (n_active - 1).max(1) as f64
            } else {
                0.0
            };
        }
    }
    // Learning variants: at most 1/K; the excess goes to the established
    // non-control variants in proportion.
    let cap = 1.0 / n_active as f64;
    let mut excess = 0.0;
    for j in 0..k {
        if active[j] && role(j).learning && !role(j).control && share[j] > cap {
            excess += share[j] - cap;
            share[j] = cap;
        }
    }
    if excess > 0.0 {
        let takers = |j: usize| active[j] && !role(j).learning && !role(j).control;
        let base: f64 = (0..k).filter(|&j| takers(j)).map(|j| share[j]).sum();
        let n_takers = (0..k).filter(|&j| takers(j)).count();
        for j in (0..k).filter(|&j| takers(j)) {
            share[j] += if base > 0.0 {
                excess * share[j] / base
            } else {
                excess / n_takers as f64
            };
        }
    }
    // Guardrail caps: at most the minimum share; the excess goes to the
    // uncapped non-control variants in proportion (established ones first),
    // else to the control. Nothing is capped when no one could take it.
    let capped = |j: usize| active[j] && !role(j).control && role(j).guard.is_some();
    let tiers: [&dyn Fn(usize) -> bool; 3] = [
        &|j| active[j] && !capped(j) && !role(j).control && !role(j).learning,
        &|j| active[j] && !capped(j) && !role(j).control,
        &|j| active[j] && role(j).control,
    ];
    if let Some(takers) = tiers.iter().find(|t| (0..k).any(t)) {
        let mut excess = 0.0;
        for (j, s) in share.iter_mut().enumerate() {
            if capped(j) && *s > m {
                excess += *s - m;
                *s = m;
            }
        }
        if excess > 0.0 {
            let base: f64 = (0..k).filter(|&j| takers(j)).map(|j| share[j]).sum();
            let n = (0..k).filter(|&j| takers(j)).count();
            for j in (0..k).filter(|&j| takers(j)) {
                share[j] += if base > 0.0 {
                    excess * share[j] / base
                } else {
                    excess / n as f64
                };
            }
        }
    }
    (0..k)
        .map(|j| Share {
            p_best: p[j],
            share: share[j],
            retire: !active[j],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimiser::AutoRetire;

    fn tally(wins: &[u32], runner_up: &[u32]) -> Tally {
        Tally {
            draws: wins.iter().sum(),
            wins: wins.to_vec(),
            runner_up: runner_up.to_vec(),
        }
    }

    fn close(got: &[Share], p_best: &[f64], share: &[f64], retire: &[bool]) {
        assert_eq!(got.len(), p_best.len());
        for (j, s) in got.iter().enumerate() {
            assert!((s.p_best - p_best[j]).abs() < 1e-12, "p_best {j}: {got:?}");
            assert!((s.share - share[j]).abs() < 1e-12, "share {j}: {got:?}");
            assert_eq!(s.retire, retire[j], "retire {j}: {got:?}");
        }
    }

    #[test]
    fn shares_follow_the_probability_of_being_best() {
        let t = tally(&[1, 2, 1], &[0, 2, 2]);
        let config = OptimiserConfig::default();
        let got = shares(&t, &[0; 3], &[], &config);
        close(&got, &[0.25, 0.5, 0.25], &[0.25, 0.5, 0.25], &[false; 3]);
    }

    #[test]
    fn minimum_share_lifts_the_losers() {
        let t = tally(&[1, 2, 1], &[0, 2, 2]);
        let config = OptimiserConfig {
            min_share: 0.1,
            ..OptimiserConfig::default()
        };
        let got = shares(&t, &[0; 3], &[], &config);
        close(&got, &[0.25, 0.5, 0.25], &[0.275, 0.45, 0.275], &[false; 3]);
    }

    #[test]
    fn top_two_mixes_leader_and_challengers() {
        // p = (1/4, 1/2, 1/4): each challenger weight p_j (Σ p/(1-p) - own) is 1/3.
        let t = tally(&[1, 2, 1], &[0, 2, 2]);
        let config = OptimiserConfig {
            top_two: Some(0.5),
            ..OptimiserConfig::default()
        };
        let got = shares(&t, &[0; 3], &[], &config);
        let s = [7.0 / 24.0, 10.0 / 24.0, 7.0 / 24.0];
        close(&got, &[0.25, 0.5, 0.25], &s, &[false; 3]);
        // A certain leader: challengers by runner-up counts.
        let t = tally(&[4, 0, 0], &[0, 3, 1]);
        let got = shares(&t, &[0; 3], &[], &config);
        close(&got, &[1.0, 0.0, 0.0], &[0.5, 0.375, 0.125], &[false; 3]);
    }

    #[test]
    fn auto_retire_spares_the_top_and_the_unproven() {
        let t = tally(&[0, 3, 1], &[2, 1, 1]);
        let config = OptimiserConfig {
            auto_retire: Some(AutoRetire {
                max_p_best: 0.3,
                min_exposures: 1000,
            }),
            ..OptimiserConfig::default()
        };
        let got = shares(&t, &[5000, 5000, 10], &[], &config);
        close(
            &got,
            &[0.0, 0.75, 0.25],
            &[0.0, 0.75, 0.25],
            &[true, false, false],
        );
    }
}
