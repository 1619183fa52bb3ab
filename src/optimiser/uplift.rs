//! Estimators against the control and of the serving itself: the relative
//! uplift of a variant over the control (stratified by exposure time) and the
//! sample-ratio-mismatch (SRM) check. See docs/design.md, *Control arm*.

use crate::snapshot::is_false;
use serde::{Deserialize, Serialize};

/// p-value under which the SRM check alarms.
pub const SRM_P_VALUE: f64 = 0.001;

/// Smallest relative deviation of a variant's exposures from its expected
/// count for the SRM check to alarm (so that huge sends do not alarm on
/// deviations too small to matter).
pub const SRM_MIN_DEVIATION: f64 = 0.01;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// A variant's uplift over the control, estimated from exposures and clicks
/// stratified by exposure time bucket (so allocation changes over time do not
/// bias it): `X` is the variant's clicks, `Y` the clicks the control would
/// have earned on the variant's exposures, `Σ_b n_b · (control clicks_b /
/// control exposures_b)` over the buckets where both were served (the
/// variant's exposures in buckets without a control exposure are left out).
/// Both sides have matured alike within a bucket, so clicks still to come do
/// not bias the ratio. Intervals: delta method on `ln(X / Y)` (relative) and
/// on `X − Y` (incremental), binomial variances per bucket, 95% two-sided.
///
/// When either side has rewards without an exposure time (URL tags without
/// the serve time), those rewards sit in the bucket of their own time, not of
/// their exposure, and cannot be stratified: the estimate is then made from
/// pooled counts ([`pooled`](Self::pooled)), `Y = control rewards ·
/// E_variant / E_control` with `E` the exposures weighted by how far they
/// have matured under the delay model. That is unbiased while the base rate
/// does not drift over the send; when it drifts while the allocation changes
/// the interval does not account for the bias.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Uplift {
    /// `(variant − control) / control`: `X / Y − 1`.
    pub relative: f64,
    /// Lower end of the 95% interval of `relative`.
    pub ci_low: f64,
    /// Upper end of the 95% interval of `relative`.
    pub ci_high: f64,
    /// Clicks earned beyond what the control would have earned on the same
    /// exposures so far: `X − Y`.
    pub incremental_clicks: f64,
    /// Lower end of the 95% interval of `incremental_clicks`.
    pub incremental_ci_low: f64,
    /// Upper end of the 95% interval of `incremental_clicks`.
    pub incremental_ci_high: f64,
    /// Estimated from pooled counts, not stratified by exposure time, because
    /// some rewards of either side came without an exposure time (see the
    /// type's documentation for when it is biased).
    #[serde(default, skip_serializing_if = "is_false")]
    pub pooled: bool,
}

/// One exposure-time stratum: `(variant exposures, variant clicks, control
/// exposures, control clicks)`.
pub(super) type Stratum = (u64, u64, u64, u64);

/// The stratified uplift estimator; `None` when either side has no click in
/// the strata both were served in.
pub(super) fn uplift(strata: impl IntoIterator<Item = Stratum>) -> Option<Uplift> {
    estimate(
        strata
            .into_iter()
            .map(|(nv, cv, nc, cc)| (nv as f64, cv as f64, nc as f64, cc as f64)),
        false,
    )
}

/// The pooled estimator: one stratum of the matured exposures and all the
/// rewards of each side, `(variant matured exposures, variant rewards,
/// control matured exposures, control rewards)`.
pub(super) fn uplift_pooled(ev: f64, cv: u64, ec: f64, cc: u64) -> Option<Uplift> {
    estimate([(ev, cv as f64, ec, cc as f64)], true)
}

fn estimate(
    strata: impl IntoIterator<Item = (f64, f64, f64, f64)>,
    pooled: bool,
) -> Option<Uplift> {
    let (mut x, mut y, mut vx, mut vy) = (0.0, 0.0, 0.0, 0.0);
    for (nv, cv, nc, cc) in strata {
        if !(nv > 0.0 && nc > 0.0) {
            continue;
        }
        let pv = (cv / nv).min(1.0);
        let pc = (cc / nc).min(1.0);
        let w = nv / nc;
        x += cv;
        y += w * cc;
        vx += cv * (1.0 - pv);
        vy += w * w * cc * (1.0 - pc);
    }
    if !(x > 0.0 && y > 0.0) {
        return None;
    }
    let l = (x / y).ln();
    let se = (vx / (x * x) + vy / (y * y)).sqrt();
    let sd = (vx + vy).sqrt();
    Some(Uplift {
        relative: x / y - 1.0,
        ci_low: (l - Z95 * se).exp() - 1.0,
        ci_high: (l + Z95 * se).exp() - 1.0,
        incremental_clicks: x - y,
        incremental_ci_low: x - y - Z95 * sd,
        incremental_ci_high: x - y + Z95 * sd,
        pooled,
    })
}

/// The sample-ratio-mismatch check: exposures per variant against what the
/// allocation in force at each exposure's time should have served.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Srm {
    /// Pearson's statistic `Σ (observed − expected)² / expected`.
    pub chi_square: f64,
    /// Degrees of freedom: variants with an expected count, minus one.
    pub degrees_of_freedom: u32,
    /// Chi-square p-value (conservative when the allocation changed: the
    /// counts then vary less than a multinomial's).
    pub p_value: f64,
    /// Largest `|observed / expected − 1|` over the variants.
    pub max_relative_deviation: f64,
    /// `p_value < SRM_P_VALUE` and `max_relative_deviation >=
    /// SRM_MIN_DEVIATION`: the serving does not follow the allocation
    /// (stale replicas, a template that ignores the answer, lost exposures).
    pub alarm: bool,
}

/// The SRM check over `(observed, expected)` per variant; `None` when fewer
/// than two variants were expected or nothing was observed.
pub(super) fn srm(counts: &[(u64, f64)]) -> Option<Srm> {
    let (mut chi, mut cats, mut dev, mut total) = (0.0, 0u32, 0.0f64, 0u64);
    for &(o, e) in counts {
        total = total.saturating_add(o);
        if e > 0.0 {
            cats += 1;
            let d = o as f64 - e;
            chi += d * d / e;
            dev = dev.max((o as f64 / e - 1.0).abs());
        } else if o > 0 {
            chi = f64::INFINITY;
            dev = f64::INFINITY;
        }
    }
    if cats < 2 || total == 0 {
        return None;
    }
    let df = cats - 1;
    let p_value = chi_square_sf(chi, df);
    Some(Srm {
        chi_square: chi,
        degrees_of_freedom: df,
        p_value,
        max_relative_deviation: dev,
        alarm: p_value < SRM_P_VALUE && dev >= SRM_MIN_DEVIATION,
    })
}

/// `P(χ²_df > x)`.
pub(super) fn chi_square_sf(x: f64, df: u32) -> f64 {
    if x.is_nan() {
        return 1.0;
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    if x <= 0.0 || df == 0 {
        return 1.0;
    }
    statrs::function::gamma::checked_gamma_ur(f64::from(df) / 2.0, x / 2.0)
        .map_or(1.0, |q| q.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_distr::{Binomial, Distribution};

    #[test]
    fn chi_square_tail_matches_tables() {
        // Critical values at p = 0.001 and 0.05.
        for (x, df, p) in [
            (10.828, 1, 0.001),
            (13.816, 2, 0.001),
            (18.467, 4, 0.001),
            (27.877, 9, 0.001),
            (3.841, 1, 0.05),
            (16.919, 9, 0.05),
            (124.342, 100, 0.05),
        ] {
            let got = chi_square_sf(x, df);
            assert!((got - p).abs() < p * 1e-3, "df {df}: {got} vs {p}");
        }
        assert_eq!(chi_square_sf(0.0, 3), 1.0);
        assert_eq!(chi_square_sf(f64::INFINITY, 3), 0.0);
    }

    /// A send whose base rate drifts over time (a multiplier per bucket) and
    /// whose allocation to the variant changes over time: the stratified
    /// estimator is unbiased and its interval covers the truth at the nominal
    /// rate; the pooled ratio is biased.
    #[test]
    fn uplift_is_unbiased_and_covers_under_drift_and_changing_allocation() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        let (pc, lift) = (0.03, 0.10);
        let pv = pc * (1.0 + lift);
        let runs = 2000;
        let (mut covered, mut inc_covered, mut sum_est, mut sum_pooled) = (0, 0, 0.0, 0.0);
        for _ in 0..runs {
            let mut strata = Vec::new();
            let (mut tv, mut tcv, mut tc, mut tcc) = (0u64, 0u64, 0u64, 0u64);
            let mut expected_inc = 0.0;
            for b in 0..48 {
                // Rates fall over the send, while the variant's share grows.
                let m = 1.6 - 1.2 * f64::from(b) / 47.0;
                let n = 2_000u64;
                let share_v = 0.1 + 0.8 * f64::from(b) / 47.0;
                let nv = (n as f64 * share_v) as u64;
                let nc = n / 10;
                let cv = Binomial::new(nv, pv * m).expect("valid").sample(&mut rng);
                let cc = Binomial::new(nc, pc * m).expect("valid").sample(&mut rng);
                expected_inc += nv as f64 * (pv - pc) * m;
                strata.push((nv, cv, nc, cc));
                tv += nv;
                tcv += cv;
                tc += nc;
                tcc += cc;
            }
            let u = uplift(strata.iter().copied()).expect("clicks on both sides");
            sum_est += u.relative;
            if u.ci_low <= lift && lift <= u.ci_high {
                covered += 1;
            }
            if u.incremental_ci_low <= expected_inc && expected_inc <= u.incremental_ci_high {
                inc_covered += 1;
            }
            sum_pooled += (tcv as f64 / tv as f64) / (tcc as f64 / tc as f64) - 1.0;
        }
        let n = f64::from(runs);
        let coverage = f64::from(covered) / n;
        let bias = sum_est / n - lift;
        let pooled_bias = sum_pooled / n - lift;
        let inc_coverage = f64::from(inc_covered) / n;
        println!(
            "uplift: coverage {coverage:.4}, bias {bias:+.4}, incremental coverage \
             {inc_coverage:.4}, pooled bias {pooled_bias:+.4}"
        );
        assert!((coverage - 0.95).abs() <= 0.02, "coverage {coverage}");
        assert!(bias.abs() < 0.01, "bias {bias}");
        assert!(
            pooled_bias.abs() > 0.05,
            "pooled should be biased: {pooled_bias}"
        );
        // The incremental interval treats the expected control clicks as
        // estimated, the variant's clicks as drawn: it covers their expectation.
        assert!(
            (inc_coverage - 0.95).abs() <= 0.03,
            "incremental {inc_coverage}"
        );
    }

    #[test]
    fn no_clicks_give_no_uplift() {
        assert_eq!(uplift([(100, 0, 100, 3)]), None);
        assert_eq!(uplift([(100, 3, 0, 0)]), None);
    }

    /// The SRM alarm on correct streams (multinomial counts from the shares,
    /// several allocation epochs): false-positive rate at most 0.2%.
    #[test]
    fn srm_false_positive_rate_on_correct_streams() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        let runs = 20_000;
        let mut alarms = 0;
        let mut below = 0;
        for _ in 0..runs {
            let k = 5;
            let mut obs = vec![0u64; k];
            let mut exp = vec![0.0; k];
            for _ in 0..4 {
                let raw: Vec<f64> = (0..k).map(|_| 0.05 + rng.random::<f64>()).collect();
                let t: f64 = raw.iter().sum();
                let n = 5_000u64;
                // Multinomial as a chain of binomials.
                let mut left = n;
                let mut mass = 1.0;
                for j in 0..k {
                    let p = raw[j] / t;
                    let x = if j + 1 == k {
                        left
                    } else {
                        Binomial::new(left, (p / mass).min(1.0))
                            .expect("valid")
                            .sample(&mut rng)
                    };
                    obs[j] += x;
                    exp[j] += n as f64 * p;
                    left -= x;
                    mass -= p;
                }
            }
            let counts: Vec<(u64, f64)> = obs.iter().copied().zip(exp).collect();
            let s = srm(&counts).expect("five variants");
            if s.alarm {
                alarms += 1;
            }
            if s.p_value < 0.05 {
                below += 1;
            }
        }
        let fp = f64::from(alarms) / f64::from(runs);
        let p05 = f64::from(below) / f64::from(runs);
        println!("srm: false-positive rate {fp:.5}, rate of p < 0.05 {p05:.4}");
        assert!(fp <= 0.002, "false-positive rate {fp}");
        assert!(p05 < 0.07, "p-values are calibrated: {p05}");
    }

    #[test]
    fn srm_alarms_on_a_real_mismatch() {
        // 2% of the variant-1 traffic lost on 100k exposures.
        let s = srm(&[(50_000, 49_500.0), (49_000, 50_500.0)]).expect("two");
        assert!(s.alarm, "{s:?}");
        // Same relative deviation on a small send: not significant.
        let s = srm(&[(500, 495.0), (490, 505.0)]).expect("two");
        assert!(!s.alarm, "{s:?}");
        // Exposures to a variant with no share at all.
        let s = srm(&[(100, 100.0), (3, 0.0), (100, 103.0)]).expect("three");
        assert!(s.alarm);
    }
}
