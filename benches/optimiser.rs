//! Optimiser benchmarks: sticky assign, per-request draw, allocation
//! recompute, posterior update, snapshot serialise/restore.

use std::hint::black_box;

use chrono::{Duration, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dynopt::optimiser::{DelayModel, Experiment, OptimiserConfig, OptimiserSnapshot};
use dynopt::pii::RecipientKey;
use dynopt::{ExperimentId, Update, VariantId};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

/// An experiment with `k` variants and some history (delay-aware, default config).
fn experiment(k: usize, config: OptimiserConfig) -> (Experiment, Vec<VariantId>) {
    let id = ExperimentId::new("bench");
    let mut e = Experiment::new(id.clone(), config).expect("valid config");
    let vs: Vec<VariantId> = (0..k)
        .map(|i| e.add_variant(format!("v{i}")).expect("<= 50"))
        .collect();
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut rng = Pcg64::seed_from_u64(1);
    for i in 0..20_000i64 {
        let v = vs[i as usize % k];
        let at = t0 + Duration::seconds(i);
        e.apply(&Update::Exposure {
            experiment: id.clone(),
            variant: v,
            at,
        })
        .expect("known");
        if rng.random::<f64>() < 0.02 + 0.001 * f64::from(v.0) {
            let d = Duration::seconds(rng.random_range(10..20_000));
            e.apply(&Update::Click {
                experiment: id.clone(),
                variant: v,
                exposed_at: Some(at),
                clicked_at: at + d,
            })
            .expect("known");
        }
    }
    e.recompute_allocation(t0 + Duration::hours(6), &mut rng);
    (e, vs)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("optimiser");
    g.throughput(Throughput::Elements(1));
    for k in [2usize, 10, 50] {
        let (e, _) = experiment(k, OptimiserConfig::default());
        let keys: Vec<RecipientKey> = (0..1024u32)
            .map(|i| {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&i.to_le_bytes());
                RecipientKey(b)
            })
            .collect();
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::new("assign", k), &k, |b, _| {
            b.iter(|| {
                i = (i + 1) & 1023;
                black_box(e.assign(black_box(&keys[i])).expect("active"))
            })
        });
        let mut rng = Pcg64::seed_from_u64(2);
        g.bench_with_input(BenchmarkId::new("draw", k), &k, |b, _| {
            b.iter(|| black_box(e.draw(&mut rng).expect("active")))
        });
    }
    // Peers in the same run: one Thompson draw over K = 10 with rand_distr.
    let shapes: Vec<(f64, f64)> = (0..10).map(|i| (30.0 + f64::from(i), 970.0)).collect();
    let betas: Vec<rand_distr::Beta<f64>> = shapes
        .iter()
        .map(|&(a, b)| rand_distr::Beta::new(a, b).expect("valid"))
        .collect();
    let gammas: Vec<(rand_distr::Gamma<f64>, rand_distr::Gamma<f64>)> = shapes
        .iter()
        .map(|&(a, b)| {
            (
                rand_distr::Gamma::new(a, 1.0).expect("valid"),
                rand_distr::Gamma::new(b, 1.0).expect("valid"),
            )
        })
        .collect();
    let mut rng = Pcg64::seed_from_u64(4);
    g.bench_function("peer_rand_distr_beta_draw/10", |b| {
        b.iter(|| {
            let mut best = (0, -1.0);
            for (i, d) in betas.iter().enumerate() {
                let x = rng.sample(d);
                if x > best.1 {
                    best = (i, x);
                }
            }
            black_box(best.0)
        })
    });
    g.bench_function("peer_rand_distr_gamma_pair_draw/10", |b| {
        b.iter(|| {
            let mut best = (0, -1.0);
            for (i, (ga, gb)) in gammas.iter().enumerate() {
                let x: f64 = rng.sample(ga);
                let y: f64 = rng.sample(gb);
                let v = x / (x + y);
                if v > best.1 {
                    best = (i, v);
                }
            }
            black_box(best.0)
        })
    });
    let posts: Vec<dynopt::optimiser::Posterior> = shapes
        .iter()
        .map(|&(a, b)| dynopt::optimiser::Posterior::new(a, b).expect("valid"))
        .collect();
    g.bench_function("posterior_sample_draw/10", |b| {
        b.iter(|| {
            let mut best = (0, -1.0);
            for (i, p) in posts.iter().enumerate() {
                let v = p.sample(&mut rng);
                if v > best.1 {
                    best = (i, v);
                }
            }
            black_box(best.0)
        })
    });
    let (e, _) = experiment(10, OptimiserConfig::default());
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 7, 0, 0).unwrap();
    let mut rng = Pcg64::seed_from_u64(3);
    g.bench_function("recompute_allocation/k10_10000draws_delay_aware", |b| {
        b.iter_batched_ref(
            || e.clone(),
            |e| e.recompute_allocation(now, &mut rng),
            criterion::BatchSize::SmallInput,
        )
    });
    let mut imm = OptimiserConfig::default();
    imm.delay = DelayModel::Immediate;
    let (ei, vs) = experiment(10, imm);
    g.bench_function("recompute_allocation/k10_10000draws_immediate", |b| {
        b.iter_batched_ref(
            || ei.clone(),
            |e| e.recompute_allocation(now, &mut rng),
            criterion::BatchSize::SmallInput,
        )
    });
    // Posterior update: one exposure (plus a click every 40th) applied.
    let mut ea = e.clone();
    let mut n = 0i64;
    let exp_id = ExperimentId::new("bench");
    g.bench_function("apply_update", |b| {
        b.iter(|| {
            n += 1;
            let at = now + Duration::seconds(n / 16);
            let v = vs[(n % 10) as usize];
            ea.apply(black_box(&Update::Exposure {
                experiment: exp_id.clone(),
                variant: v,
                at,
            }))
            .expect("known");
        })
    });
    g.bench_function("refresh_posteriors/k10", |b| {
        b.iter_batched_ref(
            || e.clone(),
            |e| e.refresh(now),
            criterion::BatchSize::SmallInput,
        )
    });
    let snap = e.snapshot();
    let bytes = snap.to_json();
    println!("snapshot: {} bytes of JSON", bytes.len());
    g.bench_function("snapshot_serialise_json", |b| {
        b.iter(|| black_box(e.snapshot().to_json()))
    });
    g.bench_function("snapshot_restore_json", |b| {
        b.iter(|| {
            black_box(
                Experiment::restore(
                    OptimiserSnapshot::from_json(black_box(&bytes)).expect("parses"),
                )
                .expect("valid"),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
