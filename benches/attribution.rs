//! Attribution throughput and memory.
//!
//! - `attribution/clicks/*`: click events handled per second once decoded
//!   (clean events built up front), against 1 million tracked exposures.
//! - `attribution/exposures/*`: exposures recorded per second.
//! - Before the criterion groups, bytes per tracked exposure in exposure-join
//!   mode are measured with a counting global allocator at
//!   `DYNOPT_BENCH_MEM_EXPOSURES` exposures (default 10 million; 0 skips).
//!
//! `cargo bench --bench attribution -- --warm-up-time 1 --measurement-time 3 --sample-size 10`

use std::alloc::System;
use std::hint::black_box;

use cap::Cap;
use chrono::{DateTime, TimeDelta, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use dynopt::attribution::{Attribution, AttributionConfig, Mode, Scope};
use dynopt::currents::EventType;
use dynopt::pii::{CleanEvent, RecipientKey};
use dynopt::{ExperimentId, VariantId};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

const T0: i64 = 1_750_000_000;
const EXPOSURES: usize = 1_000_000;
const CLICKS: usize = 200_000;

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).expect("in range")
}

fn keys(n: usize, seed: u64) -> Vec<RecipientKey> {
    let mut rng = Pcg64::seed_from_u64(seed);
    (0..n).map(|_| RecipientKey(rng.random())).collect()
}

fn state(mode: Mode, keys: &[RecipientKey]) -> (Attribution, ExperimentId) {
    let id = ExperimentId::new("bench");
    let mut a = Attribution::new();
    a.add_experiment(
        id.clone(),
        AttributionConfig::new(Scope::campaign("camp"), mode),
    )
    .expect("fresh");
    for (i, k) in keys.iter().enumerate() {
        a.record_exposure(
            &id,
            *k,
            VariantId((i % 5) as u32),
            at(T0 + (i / 100) as i64),
        )
        .expect("known");
    }
    while a.poll_update().is_some() {}
    (a, id)
}

/// A realistic mix: clicks of exposed recipients (several per clicker),
/// redeliveries, bots, unexposed recipients, other campaigns.
fn clicks(keys: &[RecipientKey], seed: u64) -> Vec<CleanEvent> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut out: Vec<CleanEvent> = Vec::with_capacity(CLICKS);
    while out.len() < CLICKS {
        let roll = rng.random_range(0..100);
        if roll < 5 && !out.is_empty() {
            let again = out[rng.random_range(0..out.len())].clone();
            out.push(again);
            continue;
        }
        let i = rng.random_range(0..keys.len());
        let served = T0 + (i / 100) as i64;
        let time = served + rng.random_range(60..6 * 3600);
        let mut e = CleanEvent::new(
            EventType::Click,
            format!("{:032x}", rng.random::<u128>()),
            at(time),
        );
        e.campaign_id = Some(if roll < 10 { "other" } else { "camp" }.into());
        e.message_variation_id = Some("5f0c2d9a1b7e4c0012345678".into());
        // 10..15: a recipient nobody exposed (unattributable in join mode).
        e.recipient_key = Some(if (10..15).contains(&roll) {
            RecipientKey(rng.random())
        } else {
            keys[i]
        });
        e.url = Some(format!(
            "https://shop.example.com/products/item?utm_source=braze&utm_medium=email&dov={}.{served}&lid=abc123xyz",
            i % 5
        ).into());
        e.is_suspected_bot_click = Some((15..20).contains(&roll));
        out.push(e);
    }
    out
}

fn bench_clicks(c: &mut Criterion) {
    let ks = keys(EXPOSURES, 1);
    let events = clicks(&ks, 2);
    let now = at(T0 + EXPOSURES as i64 / 100 + 8 * 3600);
    let mut g = c.benchmark_group("attribution/clicks");
    g.throughput(Throughput::Elements(events.len() as u64));
    for (name, mode) in [
        ("exposure_join", Mode::ExposureJoin),
        ("url_tag", Mode::url_tag()),
    ] {
        let (base, _) = state(mode, &ks);
        g.bench_function(name, |b| {
            b.iter_batched(
                || base.clone(),
                |mut a| {
                    for e in &events {
                        black_box(a.handle_event(e, now));
                    }
                    a
                },
                BatchSize::PerIteration,
            )
        });
        // Redelivery of the whole batch: every click is a duplicate.
        let mut seen = base.clone();
        seen.handle_events(&events, now);
        while seen.poll_update().is_some() {}
        g.bench_function(format!("{name}_redelivered"), |b| {
            b.iter_batched(
                || seen.clone(),
                |mut a| {
                    for e in &events {
                        black_box(a.handle_event(e, now));
                    }
                    a
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn bench_exposures(c: &mut Criterion) {
    let ks = keys(EXPOSURES, 3);
    let mut g = c.benchmark_group("attribution/exposures");
    g.throughput(Throughput::Elements(ks.len() as u64));
    for presize in [false, true] {
        let name = if presize { "record_presized" } else { "record" };
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let id = ExperimentId::new("bench");
                    let mut a = Attribution::new();
                    let mut cfg =
                        AttributionConfig::new(Scope::campaign("camp"), Mode::ExposureJoin);
                    if presize {
                        cfg.expected_exposures = ks.len();
                    }
                    a.add_experiment(id.clone(), cfg).expect("fresh");
                    (a, id, Vec::with_capacity(ks.len()))
                },
                |(mut a, id, mut updates)| {
                    for (i, k) in ks.iter().enumerate() {
                        let now = at(T0 + (i / 100) as i64);
                        black_box(
                            a.record_exposure(&id, *k, VariantId((i % 5) as u32), now)
                                .ok(),
                        );
                    }
                    a.drain_updates(&mut updates);
                    (a, updates)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// Bytes per tracked exposure: everything allocated and live, and the peak.
fn memory() {
    let n: usize = std::env::var("DYNOPT_BENCH_MEM_EXPOSURES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    if n == 0 {
        return;
    }
    let ks = keys(n, 4);
    let live0 = ALLOC.allocated();
    let peak_before = ALLOC.max_allocated();
    let total0 = ALLOC.total_allocated();
    let id = ExperimentId::new("mem");
    let mut a = Attribution::new();
    a.add_experiment(
        id.clone(),
        AttributionConfig::new(Scope::campaign("c"), Mode::ExposureJoin),
    )
    .expect("fresh");
    let start = std::time::Instant::now();
    for (i, k) in ks.iter().enumerate() {
        a.record_exposure(
            &id,
            *k,
            VariantId((i % 10) as u32),
            at(T0 + (i / 1000) as i64),
        )
        .expect("known");
        while a.poll_update().is_some() {}
    }
    let secs = start.elapsed().as_secs_f64();
    let live = ALLOC.allocated() - live0;
    // The key vector was allocated before, so the allocator's high-water mark
    // after it is this measurement's peak unless an earlier one was higher.
    let peak = ALLOC.max_allocated().max(peak_before) - live0;
    let total = ALLOC.total_allocated() - total0;
    println!(
        "attribution/memory: {n} exposures: live {:.2} B/exposure, peak {:.2} B/exposure, \
         cumulative {:.2} B/exposure, memory_bytes() {:.2} B/exposure ({:.0} exposures/s incl. counting)",
        live as f64 / n as f64,
        peak as f64 / n as f64,
        total as f64 / n as f64,
        a.memory_bytes() as f64 / n as f64,
        n as f64 / secs,
    );
    // A later expiry frees everything once the window has passed.
    let freed = a.expire(at(T0 + n as i64 / 1000) + TimeDelta::days(9));
    assert_eq!(freed, n);
}

/// Nanoseconds this thread has spent on a CPU (Linux), to report events
/// per CPU-second (per core) on a shared machine where wall time includes
/// time spent waiting for a core.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Click events per CPU-second, best of five passes over a fresh state.
fn cpu_throughput() {
    if cpu_ns().is_none() {
        return;
    }
    let ks = keys(EXPOSURES, 1);
    let events = clicks(&ks, 2);
    let now = at(T0 + EXPOSURES as i64 / 100 + 8 * 3600);
    for (name, mode) in [
        ("exposure_join", Mode::ExposureJoin),
        ("url_tag", Mode::url_tag()),
    ] {
        let (base, _) = state(mode, &ks);
        let mut best = f64::MAX;
        let mut buckets = None;
        for _ in 0..5 {
            let mut a = base.clone();
            let t = cpu_ns().unwrap_or(0);
            for e in &events {
                black_box(a.handle_event(e, now));
            }
            let mut updates = Vec::new();
            a.drain_updates(&mut updates);
            let dt = cpu_ns().unwrap_or(0).saturating_sub(t) as f64 / 1e9;
            best = best.min(dt);
            buckets = Some(a.report().clicks);
        }
        println!(
            "attribution/cpu/{name}: {:.2} M click events per CPU-second ({} events, best of 5); buckets {:?}",
            events.len() as f64 / best / 1e6,
            events.len(),
            buckets
        );
    }
}

criterion_group!(benches, bench_clicks, bench_exposures);

fn main() {
    memory();
    cpu_throughput();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
