//! The host facade's durable state: binary snapshot encode and restore at
//! 1 million tracked exposures (16-byte random keys, as HMAC pseudonyms
//! look), and the exposure journal's encode and decode.
//!
//! `cargo bench --bench host -- --warm-up-time 1 --measurement-time 3 --sample-size 10`
//! (`DYNOPT_BENCH_HOST_EXPOSURES` changes the size; default 1,000,000).

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dynopt::ExperimentId;
use dynopt::attribution::{Mode, Scope};
use dynopt::host::{ExperimentDef, Host, JournalEntry, SegmentReader, decode_segment};
use dynopt::pii::RecipientKey;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

const T0: i64 = 1_750_000_000;

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).expect("in range")
}

fn size() -> usize {
    std::env::var("DYNOPT_BENCH_HOST_EXPOSURES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// A host with `n` exposures served, and their journal entries.
fn host(n: usize) -> (Host, Vec<JournalEntry>) {
    let mut h = Host::new();
    h.add_experiment(
        ExperimentDef::new("bench", Scope::campaign("camp"), Mode::ExposureJoin, 0x5eed)
            .variant("A")
            .variant("B")
            .variant("C"),
    )
    .expect("valid");
    let id = ExperimentId::new("bench");
    let mut rng = Pcg64::seed_from_u64(3);
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let (_, e) = h
            .serve(&id, RecipientKey(rng.random()), at(T0 + (i / 50) as i64))
            .expect("serves");
        entries.push(e);
    }
    (h, entries)
}

fn bench_state(c: &mut Criterion) {
    let n = size();
    let (h, entries) = host(n);
    let bytes = h.snapshot();
    println!(
        "host state: {n} exposures, {} bytes ({:.2} bytes per exposure)",
        bytes.len(),
        bytes.len() as f64 / n as f64
    );
    let mut g = c.benchmark_group("host/state");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("snapshot", |b| b.iter(|| black_box(h.snapshot())));
    g.bench_function("restore", |b| {
        b.iter(|| black_box(Host::restore(black_box(&bytes)).expect("restores")))
    });
    g.finish();

    let mut journal = Vec::new();
    for e in &entries {
        e.encode(&mut journal);
    }
    let mut g = c.benchmark_group("host/journal");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("encode", |b| {
        let mut out = Vec::with_capacity(journal.len());
        b.iter(|| {
            out.clear();
            for e in &entries {
                e.encode(&mut out);
            }
            black_box(out.len())
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| black_box(decode_segment(black_box(&journal)).entries.len()))
    });
    g.bench_function("decode_streamed", |b| {
        b.iter(|| black_box(SegmentReader::new(black_box(&journal)).count()))
    });
    g.finish();
}

criterion_group!(benches, bench_state);
criterion_main!(benches);
