//! `pii` throughput on the same generated 100,000-record Click file as the decode
//! bench (newest published schema, realistic values, blocks of about 64,000 bytes).
//!
//! Groups (records/s; the file sizes are printed so MB/s follows):
//! - `pii_null/*`, `pii_deflate/*`: typed decode (`Reader` → blocks → borrowed events,
//!   the reference measured in the same run), the decoder's record spans alone (the
//!   floor under `sanitize`), `sanitize` without and with a
//!   pseudonymizer, `sanitize` with `url` denied (what URL scrubbing costs), for
//!   deflate also recompressing at level 1, and decode + filter into clean events
//!   (`Filter::clean_file`, and `Filter::clean_each`, which streams them).
//! - `pii_filter/*`: the filter alone on events decoded beforehand (events/s), with
//!   and without a pseudonymizer, and `scrub_url` on the file's URLs.
//!
//! Target (see docs/design.md, *Performance targets*): `sanitize` (null codec) ≥ 0.40 ×
//! typed decode.
//!
//! Quick run: `cargo bench --bench pii -- --warm-up-time 1 --measurement-time 3 --sample-size 10`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dynopt::currents::{DecodeOptions, Event, Reader, decode_file};
use dynopt::pii::{
    Filter, FilterReport, Policy, Pseudonymizer, SanitizeOptions, sanitize, scrub_url,
};

#[path = "../tests/common/fixtures/mod.rs"]
mod fixtures;

use fixtures::{GenCodec, GenOptions};

const RECORDS: usize = 100_000;
const BLOCK_BYTES: usize = 64_000;
const SEED: u64 = 20_260_902;

fn click_file(codec: GenCodec) -> Vec<u8> {
    let shape = fixtures::newest_shape("Click");
    fixtures::generate_file(
        &shape,
        &GenOptions {
            block_bytes: BLOCK_BYTES,
            non_ascii_names: 0.05,
            realistic: true,
            ..GenOptions::new(RECORDS, SEED, codec)
        },
    )
    .0
}

fn decode_count(bytes: &[u8]) -> usize {
    let mut r = Reader::new(bytes, &DecodeOptions::default()).expect("valid file");
    let mut n = 0;
    while let Some(b) = r.next_block() {
        let b = b.expect("valid block");
        for e in b.events() {
            black_box(e.expect("valid event"));
            n += 1;
        }
        r.recycle(b);
    }
    n
}

fn bench_codec(c: &mut Criterion, codec: GenCodec) {
    let bytes = click_file(codec);
    eprintln!(
        "pii_{}: {} records, {} bytes ({:.1} MB)",
        codec.name(),
        RECORDS,
        bytes.len(),
        bytes.len() as f64 / 1e6
    );
    let plain = SanitizeOptions::default();
    let keyed = SanitizeOptions::default().with_pseudonymizer(Pseudonymizer::keyed(b"host secret"));
    let mut g = c.benchmark_group(format!("pii_{}", codec.name()));
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("decode_typed", |b| {
        b.iter(|| assert_eq!(decode_count(black_box(&bytes)), RECORDS))
    });
    g.bench_function("record_spans_only", |b| {
        b.iter(|| {
            let mut r = Reader::new(black_box(&bytes), &DecodeOptions::default()).expect("valid");
            let mut n = 0usize;
            while let Some(block) = r.next_block() {
                let block = block.expect("valid block");
                for s in block.record_spans() {
                    n += s.expect("valid record").fields.len();
                }
                r.recycle(block);
            }
            n
        })
    });
    g.bench_function("sanitize", |b| {
        b.iter(|| {
            let out = sanitize(black_box(&bytes), &plain).expect("sanitizes");
            assert_eq!(out.summary.records, RECORDS as u64);
            out
        })
    });
    let no_url = SanitizeOptions::default()
        .with_policy(Policy::default().deny("url").expect("url is not required"));
    g.bench_function("sanitize_no_url", |b| {
        b.iter(|| sanitize(black_box(&bytes), &no_url).expect("sanitizes"))
    });
    g.bench_function("sanitize_keyed", |b| {
        b.iter(|| sanitize(black_box(&bytes), &keyed).expect("sanitizes"))
    });
    if codec == GenCodec::Deflate {
        let fast = SanitizeOptions::default().with_deflate_level(1);
        g.bench_function("sanitize_level1", |b| {
            b.iter(|| sanitize(black_box(&bytes), &fast).expect("sanitizes"))
        });
    }
    let filter = Filter::default().with_pseudonymizer(Pseudonymizer::keyed(b"host secret"));
    g.bench_function("decode_and_filter_keyed", |b| {
        b.iter(|| {
            let clean = filter.clean_file(black_box(&bytes), &DecodeOptions::default());
            assert_eq!(clean.events.len(), RECORDS);
            clean
        })
    });
    g.bench_function("clean_each_keyed", |b| {
        b.iter(|| {
            let mut n = 0usize;
            let done = filter.clean_each(black_box(&bytes), &DecodeOptions::default(), |e| {
                black_box(e);
                n += 1;
            });
            assert!(done.error.is_none() && n == RECORDS);
        })
    });
    g.finish();
}

fn bench_null(c: &mut Criterion) {
    bench_codec(c, GenCodec::Null);
}

fn bench_deflate(c: &mut Criterion) {
    bench_codec(c, GenCodec::Deflate);
}

fn bench_filter(c: &mut Criterion) {
    let bytes = click_file(GenCodec::Null);
    let decoded = decode_file(&bytes, &DecodeOptions::default());
    let events: Vec<Event<'static>> = decoded.events;
    assert_eq!(events.len(), RECORDS);
    let reader = Reader::new(&bytes, &DecodeOptions::default()).expect("valid");
    let plain = Filter::default();
    let keyed = Filter::default().with_pseudonymizer(Pseudonymizer::keyed(b"host secret"));
    let mut report = FilterReport::new();
    let plain_file = plain.for_reader(&reader, &mut report);
    let keyed_file = keyed.for_reader(&reader, &mut report);
    let mut g = c.benchmark_group("pii_filter");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("clean", |b| {
        b.iter(|| {
            for e in &events {
                black_box(plain_file.clean(black_box(e)));
            }
        })
    });
    g.bench_function("clean_keyed", |b| {
        b.iter(|| {
            for e in &events {
                black_box(keyed_file.clean(black_box(e)));
            }
        })
    });
    let urls: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Click(c) => c.url.as_ref().map(|u| u.expose().to_string()),
            _ => None,
        })
        .collect();
    g.throughput(Throughput::Elements(urls.len() as u64));
    g.bench_function("scrub_url", |b| {
        b.iter(|| {
            for u in &urls {
                black_box(scrub_url(black_box(u)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_null, bench_deflate, bench_filter);
criterion_main!(benches);
