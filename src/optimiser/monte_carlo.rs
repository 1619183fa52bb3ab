//! The Monte Carlo argmax shared by the allocation and the report: how often
//! each variant's posterior draw is the highest (and the second highest).

/// How often each variant was best and second best over the rounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Tally {
    /// Rounds drawn.
    pub(super) draws: u32,
    /// Rounds each variant won.
    pub(super) wins: Vec<u32>,
    /// Rounds each variant came second.
    pub(super) runner_up: Vec<u32>,
}

/// Runs `draws` rounds over `eligible.len()` variants. Each round calls
/// `sample(round, j)` once for every `j` in order, eligible or not (so the
/// random stream does not depend on which variants are eligible); the highest
/// eligible value wins the round (the first one on ties) and the second
/// highest is its runner-up. `round_max` receives each round's highest
/// eligible value (`-inf` when none is eligible).
///
/// `sample` may draw from a generator or read a fixed matrix: the tally
/// itself involves no randomness.
pub(super) fn argmax_tally(
    draws: u32,
    eligible: &[bool],
    mut sample: impl FnMut(u32, usize) -> f64,
    mut round_max: impl FnMut(f64),
) -> Tally {
    let k = eligible.len();
    let mut wins = vec![0u32; k];
    let mut runner_up = vec![0u32; k];
    for round in 0..draws {
        let (mut best, mut best_x) = (None, f64::NEG_INFINITY);
        let (mut second, mut second_x) = (None, f64::NEG_INFINITY);
        for (j, &ok) in eligible.iter().enumerate() {
            let x = sample(round, j);
            if !ok {
                continue;
            }
            if x > best_x {
                (second, second_x) = (best, best_x);
                (best, best_x) = (Some(j), x);
            } else if x > second_x {
                (second, second_x) = (Some(j), x);
            }
        }
        if let Some(w) = best.and_then(|b| wins.get_mut(b)) {
            *w += 1;
        }
        if let Some(r) = second.and_then(|s| runner_up.get_mut(s)) {
            *r += 1;
        }
        round_max(best_x);
    }
    Tally {
        draws,
        wins,
        runner_up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: [[f64; 3]; 4] = [
        [0.1, 0.5, 0.3],
        [0.6, 0.2, 0.1],
        [0.2, 0.4, 0.9],
        [0.3, 0.8, 0.7],
    ];

    fn tally(eligible: &[bool]) -> (Tally, Vec<f64>) {
        let mut maxes = Vec::new();
        let mut calls = 0;
        let t = argmax_tally(
            4,
            eligible,
            |round, j| {
                calls += 1;
                ROWS[round as usize][j]
            },
            |m| maxes.push(m),
        );
        assert_eq!(calls, 12, "every variant is sampled every round");
        (t, maxes)
    }

    #[test]
    fn counts_wins_and_runners_up_from_fixed_draws() {
        let (t, maxes) = tally(&[true, true, true]);
        assert_eq!(t.wins, [1, 2, 1]);
        assert_eq!(t.runner_up, [0, 2, 2]);
        assert_eq!(maxes, [0.5, 0.6, 0.9, 0.8]);
    }

    #[test]
    fn ineligible_variants_are_sampled_but_never_win() {
        let (t, maxes) = tally(&[true, false, true]);
        assert_eq!(t.wins, [1, 0, 3]);
        assert_eq!(t.runner_up, [3, 0, 1]);
        assert_eq!(maxes, [0.3, 0.6, 0.9, 0.7]);
        let (none, maxes) = tally(&[false, false, false]);
        assert_eq!(none.wins, [0, 0, 0]);
        assert!(maxes.iter().all(|m| *m == f64::NEG_INFINITY));
    }

    #[test]
    fn ties_go_to_the_first_variant() {
        let t = argmax_tally(1, &[true, true], |_, _| 0.5, |_| {});
        assert_eq!((t.wins, t.runner_up), (vec![1, 0], vec![0, 1]));
    }
}
