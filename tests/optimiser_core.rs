//! Behaviour of the optimiser: sampling, learning, allocation, reports.

use chrono::{DateTime, Duration, TimeZone, Utc};
use dynopt::optimiser::{
    AutoRetire, DelayModel, Experiment, OptimiserConfig, OptimiserError, Posterior,
};
use dynopt::{ExperimentId, Update, VariantId};
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 9, 0, 0).unwrap()
}

fn exposure(id: &ExperimentId, v: VariantId, at: DateTime<Utc>) -> Update {
    Update::Exposure {
        experiment: id.clone(),
        variant: v,
        at,
    }
}

fn click(id: &ExperimentId, v: VariantId, at: DateTime<Utc>, delay: Duration) -> Update {
    Update::Click {
        experiment: id.clone(),
        variant: v,
        exposed_at: Some(at),
        clicked_at: at + delay,
    }
}

fn experiment(config: OptimiserConfig, k: usize) -> (ExperimentId, Experiment, Vec<VariantId>) {
    let id = ExperimentId::new("exp");
    let mut e = Experiment::new(id.clone(), config).unwrap();
    let v = (0..k)
        .map(|i| e.add_variant(format!("v{i}")).unwrap())
        .collect();
    (id, e, v)
}

#[test]
fn beta_sampler_mean_and_variance_match_theory() {
    let mut rng = Pcg64::seed_from_u64(11);
    // Shapes below 1 (boost path), moderate and large.
    for (a, b) in [
        (0.3, 0.7),
        (0.5, 4.0),
        (1.0, 1.0),
        (2.5, 40.0),
        (300.0, 9_700.0),
    ] {
        let p = Posterior::new(a, b).unwrap();
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| p.sample(&mut rng)).collect();
        assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        // Standard error of the mean is sqrt(var / n); allow 5 of them.
        let se = (p.variance() / n as f64).sqrt();
        assert!(
            (mean - p.mean()).abs() < 5.0 * se,
            "Beta({a},{b}) mean {mean} vs {}",
            p.mean()
        );
        assert!(
            (var / p.variance() - 1.0).abs() < 0.03,
            "Beta({a},{b}) var {var} vs {}",
            p.variance()
        );
    }
}

#[test]
fn beta_sampler_cdf_matches_uniform_case() {
    // Beta(1,1) is uniform: the empirical CDF at 0.1..0.9 within 0.005.
    let mut rng = Pcg64::seed_from_u64(3);
    let p = Posterior::UNIFORM;
    let n = 100_000;
    let xs: Vec<f64> = (0..n).map(|_| p.sample(&mut rng)).collect();
    for q in 1..10 {
        let q = f64::from(q) / 10.0;
        let f = xs.iter().filter(|&&x| x <= q).count() as f64 / n as f64;
        assert!((f - q).abs() < 0.005, "F({q}) = {f}");
    }
}

#[test]
fn invalid_configs_are_typed_errors() {
    let mut c = OptimiserConfig::default();
    c.prior_alpha = -1.0;
    assert!(matches!(
        Experiment::new(ExperimentId::new("x"), c),
        Err(OptimiserError::Config(_))
    ));
    let mut c = OptimiserConfig::default();
    c.bucket = Duration::zero();
    assert!(Experiment::new(ExperimentId::new("x"), c).is_err());
    let mut c = OptimiserConfig::default();
    c.half_life = Some(Duration::milliseconds(500)); // was a NaN in float seconds: no TimeDelta is NaN
    assert!(Experiment::new(ExperimentId::new("x"), c).is_err());
    let mut c = OptimiserConfig::default();
    c.mc_draws = 1_000_000; // bounds the memory of a report
    assert!(Experiment::new(ExperimentId::new("x"), c).is_err());
}

#[test]
fn unknown_ids_and_empty_experiments_are_errors() {
    let (id, mut e, _) = experiment(OptimiserConfig::default(), 0);
    assert_eq!(e.assign_bytes(b"r"), Err(OptimiserError::NoActiveVariant));
    let mut rng = Pcg64::seed_from_u64(1);
    assert_eq!(e.draw(&mut rng), Err(OptimiserError::NoActiveVariant));
    assert!(matches!(
        e.apply(&exposure(&id, VariantId(9), t0())),
        Err(OptimiserError::UnknownVariant(VariantId(9)))
    ));
    let other = ExperimentId::new("other");
    let v = e.add_variant("a").unwrap();
    assert!(matches!(
        e.apply(&exposure(&other, v, t0())),
        Err(OptimiserError::WrongExperiment { .. })
    ));
    for i in 1..50 {
        e.add_variant(format!("{i}")).unwrap();
    }
    assert_eq!(e.add_variant("51st"), Err(OptimiserError::TooManyVariants));
}

/// Feeds `n` exposures per variant with true rates, clicks after `delay`.
fn feed(
    e: &mut Experiment,
    id: &ExperimentId,
    v: &[VariantId],
    rates: &[f64],
    n: u32,
    at: DateTime<Utc>,
    rng: &mut Pcg64,
) {
    use rand::RngExt;
    for (&var, &p) in v.iter().zip(rates) {
        for _ in 0..n {
            e.apply(&exposure(id, var, at)).unwrap();
            if rng.random::<f64>() < p {
                e.apply(&click(
                    id,
                    var,
                    at,
                    Duration::minutes(rng.random_range(1..30)),
                ))
                .unwrap();
            }
        }
    }
}

#[test]
fn allocation_favours_the_best_and_report_is_coherent() {
    let (id, mut e, v) = experiment(OptimiserConfig::default(), 3);
    let mut rng = Pcg64::seed_from_u64(5);
    feed(&mut e, &id, &v, &[0.02, 0.03, 0.05], 3000, t0(), &mut rng);
    let now = t0() + Duration::days(2);
    e.recompute_allocation(now, &mut rng);
    let alloc = e.allocation();
    assert!((alloc.iter().map(|x| x.1).sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(alloc[2].1 > 0.9, "{alloc:?}");
    let r = e.report(now, &mut rng);
    assert_eq!(r.leader, Some(v[2]));
    let psum: f64 = r.variants.iter().map(|x| x.p_best).sum();
    assert!((psum - 1.0).abs() < 1e-9);
    for x in &r.variants {
        assert!(
            x.ci_low < x.posterior_mean && x.posterior_mean < x.ci_high,
            "{x:?}"
        );
        assert_eq!(x.exposures, 3000);
        assert!(x.expected_loss >= 0.0);
        // Every exposure has matured after two days.
        assert!((x.effective_trials - 3000.0).abs() < 1.0, "{x:?}");
    }
    // The leader has the smallest expected loss.
    let min_loss = r
        .variants
        .iter()
        .map(|x| x.expected_loss)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(r.variants[2].expected_loss, min_loss);
    assert!(r.value_remaining >= 0.0);
}

#[test]
fn stopping_rule_waits_for_evidence() {
    let (id, mut e, v) = experiment(OptimiserConfig::default(), 2);
    let mut rng = Pcg64::seed_from_u64(8);
    feed(&mut e, &id, &v, &[0.03, 0.031], 200, t0(), &mut rng);
    let r = e.report(t0() + Duration::days(2), &mut rng);
    assert_eq!(r.winner, None, "value remaining {}", r.value_remaining);
    assert!(r.value_remaining > 0.01);
    feed(&mut e, &id, &v, &[0.02, 0.04], 40_000, t0(), &mut rng);
    let r = e.report(t0() + Duration::days(2), &mut rng);
    assert_eq!(
        r.winner,
        Some(v[1]),
        "value remaining {}",
        r.value_remaining
    );
}

#[test]
fn recent_exposures_are_not_counted_as_failures() {
    // Two equal variants; variant 1's exposures are all recent. With the
    // delay-aware model its posterior mean stays close to variant 0's; the
    // naive model punishes it.
    let run = |delay: DelayModel| {
        let mut c = OptimiserConfig::default();
        c.delay = delay;
        let (id, mut e, v) = experiment(c, 2);
        let mut rng = Pcg64::seed_from_u64(21);
        use rand::RngExt;
        let now = t0() + Duration::days(3);
        // Clicks at exponential delays with mean 2 hours, 3% rate.
        let serve = |e: &mut Experiment, var: VariantId, at: DateTime<Utc>, rng: &mut Pcg64| {
            e.apply(&exposure(&id, var, at)).unwrap();
            if rng.random::<f64>() < 0.03 {
                let d = -7200.0 * rng.random::<f64>().ln();
                let clicked = at + Duration::seconds(d as i64);
                if clicked <= now {
                    e.apply(&click(&id, var, at, Duration::seconds(d as i64)))
                        .unwrap();
                }
            }
        };
        for i in 0..20_000 {
            serve(&mut e, v[0], t0() + Duration::seconds(i * 8), &mut rng);
        }
        for i in 0..20_000 {
            serve(
                &mut e,
                v[1],
                now - Duration::minutes(90) + Duration::milliseconds(i * 270),
                &mut rng,
            );
        }
        e.refresh(now);
        (
            e.posterior(v[0]).unwrap().mean(),
            e.posterior(v[1]).unwrap().mean(),
        )
    };
    let (old, recent) = run(DelayModel::default());
    assert!(
        (recent / old - 1.0).abs() < 0.2,
        "delay-aware: {old} vs {recent}"
    );
    let (old_n, recent_n) = run(DelayModel::Immediate);
    assert!(recent_n / old_n < 0.6, "naive: {old_n} vs {recent_n}");
}

#[test]
fn discounting_forgets_old_evidence() {
    let mut c = OptimiserConfig::default();
    c.half_life = Some(Duration::days(1));
    c.delay = DelayModel::Immediate;
    let (id, mut e, v) = experiment(c, 2);
    let mut rng = Pcg64::seed_from_u64(2);
    // Variant 0 was great 20 days ago, bad now.
    feed(&mut e, &id, &v, &[0.10, 0.03], 5000, t0(), &mut rng);
    let later = t0() + Duration::days(20);
    feed(&mut e, &id, &v, &[0.01, 0.03], 5000, later, &mut rng);
    e.recompute_allocation(later + Duration::hours(1), &mut rng);
    let a = e.allocation();
    assert!(a[1].1 > 0.95, "{a:?}");
    let r = e.report(later + Duration::hours(1), &mut rng);
    assert!(
        r.variants[0].effective_trials < 5100.0,
        "{:?}",
        r.variants[0]
    );
}

#[test]
fn add_and_retire_keep_history() {
    let (id, mut e, v) = experiment(OptimiserConfig::default(), 2);
    let mut rng = Pcg64::seed_from_u64(4);
    feed(&mut e, &id, &v, &[0.02, 0.04], 2000, t0(), &mut rng);
    let before = e.report(t0() + Duration::days(1), &mut Pcg64::seed_from_u64(1));
    let w = e.add_variant("new copy").unwrap();
    assert_eq!(w, VariantId(2));
    assert!((e.allocation()[2].1 - 1.0 / 3.0).abs() < 1e-12);
    e.retire_variant(v[0]).unwrap();
    let alloc = e.allocation();
    assert_eq!(alloc.iter().map(|x| x.0).collect::<Vec<_>>(), vec![v[1], w]);
    assert!((alloc.iter().map(|x| x.1).sum::<f64>() - 1.0).abs() < 1e-12);
    for i in 0..1000u32 {
        assert_ne!(e.assign_bytes(&i.to_le_bytes()).unwrap(), v[0]);
    }
    // A late click for the retired variant still counts.
    e.apply(&click(&id, v[0], t0(), Duration::hours(3)))
        .unwrap();
    let after = e.report(t0() + Duration::days(1), &mut Pcg64::seed_from_u64(1));
    assert_eq!(after.variants[0].clicks, before.variants[0].clicks + 1);
    assert_eq!(after.variants[1].clicks, before.variants[1].clicks);
    assert_eq!(after.variants[1].exposures, before.variants[1].exposures);
    assert!(after.variants[0].retired && after.variants[0].p_best == 0.0);
    // New ids are never reused.
    assert_eq!(e.add_variant("another").unwrap(), VariantId(3));
}

#[test]
fn min_share_and_top_two() {
    let mut c = OptimiserConfig::default();
    c.min_share = 0.05;
    c.delay = DelayModel::Immediate;
    let (id, mut e, v) = experiment(c, 4);
    let mut rng = Pcg64::seed_from_u64(6);
    feed(
        &mut e,
        &id,
        &v,
        &[0.01, 0.02, 0.03, 0.06],
        3000,
        t0(),
        &mut rng,
    );
    e.recompute_allocation(t0(), &mut rng);
    for (_, s) in e.allocation() {
        assert!(s >= 0.05 - 1e-12);
    }

    let mut c = OptimiserConfig::default();
    c.top_two = Some(0.5);
    c.delay = DelayModel::Immediate;
    let (id, mut e, v) = experiment(c, 3);
    feed(&mut e, &id, &v, &[0.02, 0.05, 0.06], 3000, t0(), &mut rng);
    e.recompute_allocation(t0(), &mut rng);
    let a = e.allocation();
    // The leader gets about half, the challenger most of the rest.
    assert!(a[2].1 > 0.45 && a[2].1 < 0.75, "{a:?}");
    assert!(a[1].1 > 0.2, "{a:?}");
}

#[test]
fn consistent_losers_retire_automatically() {
    let mut c = OptimiserConfig::default();
    c.auto_retire = Some(AutoRetire {
        max_p_best: 0.001,
        min_exposures: 1000,
    });
    c.delay = DelayModel::Immediate;
    let (id, mut e, v) = experiment(c, 3);
    let mut rng = Pcg64::seed_from_u64(9);
    feed(&mut e, &id, &v, &[0.01, 0.05, 0.052], 4000, t0(), &mut rng);
    e.recompute_allocation(t0(), &mut rng);
    let retired: Vec<VariantId> = e.variants().filter(|x| x.2).map(|x| x.0).collect();
    assert_eq!(retired, vec![v[0]]);
    assert_eq!(e.allocation().len(), 2);
}

#[test]
fn per_request_draws_follow_posteriors() {
    let (id, mut e, v) = experiment(
        {
            let mut c = OptimiserConfig::default();
            c.delay = DelayModel::Immediate;
            c
        },
        2,
    );
    let mut rng = Pcg64::seed_from_u64(10);
    feed(&mut e, &id, &v, &[0.02, 0.02], 50, t0(), &mut rng);
    // Immediate mode: draws see updates at once, no refresh needed.
    for _ in 0..2000 {
        e.apply(&exposure(&id, v[1], t0())).unwrap();
        e.apply(&click(&id, v[1], t0(), Duration::zero())).unwrap();
    }
    let wins = (0..1000)
        .filter(|_| e.draw(&mut rng).unwrap() == v[1])
        .count();
    assert!(wins > 990, "{wins}");
}
