//! Seeded mutation fuzz of `sanitize` (and of `Filter::clean_file` on the same
//! inputs): thousands of mutated generated files under `cargo test`; set
//! `DYNOPT_FUZZ_ITERS` for a long run. Never a panic; a success must read back;
//! a failure is a typed error naming an offset when it is about the file's bytes.

mod common;

use std::collections::BTreeMap;

use common::fixtures::{self as fx, GenCodec, GenOptions};
use dynopt::currents::{DecodeErrorKind, DecodeOptions, Reader};
use dynopt::pii::{Filter, Pseudonymizer, SanitizeError, SanitizeOptions, sanitize, sanitize_to};
use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64;

fn iters() -> usize {
    std::env::var("DYNOPT_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let shapes = fx::shapes();
    for (i, shape) in shapes.iter().enumerate().step_by(9) {
        for codec in GenCodec::ALL {
            let mut o = GenOptions::new(6, i as u64, codec);
            o.block_bytes = 1024;
            out.push(fx::generate(shape, &o).bytes);
        }
    }
    for (i, shape) in fx::conversion_shapes().iter().enumerate().step_by(3) {
        let mut o = GenOptions::new(6, 50 + i as u64, GenCodec::ALL[i % 2]);
        o.block_bytes = 1024;
        out.push(fx::generate(shape, &o).bytes);
    }
    for shape in fx::v12_shapes(false).iter().take(2) {
        out.push(fx::generate(shape, &GenOptions::new(5, 3, GenCodec::Deflate)).bytes);
    }
    out
}

fn mutate<R: Rng + ?Sized>(rng: &mut R, b: &mut Vec<u8>) {
    if b.is_empty() {
        b.push(rng.random());
        return;
    }
    let i = rng.random_range(0..b.len());
    match rng.random_range(0..8) {
        0 => b[i] ^= 1 << rng.random_range(0..8),
        1 => b[i] = rng.random(),
        2 => b.truncate(i),
        3 => {
            // A huge or negative varint.
            let v: [&[u8]; 4] = [
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                &[0x01],
                &[0xfe, 0xff, 0xff, 0xff, 0x0f],
                &[
                    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                ],
            ];
            let s = v[rng.random_range(0..v.len())];
            let end = (i + s.len()).min(b.len());
            b.splice(i..end, s.iter().copied());
        }
        4 => {
            let n = rng.random_range(1..16).min(b.len() - i);
            b.drain(i..i + n);
        }
        5 => {
            let n = rng.random_range(1..64).min(b.len() - i);
            let chunk = b[i..i + n].to_vec();
            let at = rng.random_range(0..=b.len());
            b.splice(at..at, chunk);
        }
        6 => {
            let n = rng.random_range(1..8);
            for _ in 0..n {
                b.insert(i, rng.random());
            }
        }
        _ => {
            let j = rng.random_range(0..b.len());
            b.swap(i, j);
        }
    }
}

fn kind_name(e: &SanitizeError) -> String {
    match e {
        SanitizeError::Decode(d) => {
            let k = format!("{:?}", d.kind());
            k.split('(').next().unwrap_or(&k).to_owned()
        }
        SanitizeError::Corrupt { reason, .. } => format!("Corrupt/{reason:?}"),
        other => format!("{other:?}")
            .split('(')
            .next()
            .unwrap_or("?")
            .to_owned(),
    }
}

#[test]
fn mutated_files_never_panic_and_errors_are_typed() {
    let seeds = seeds();
    let mut rng = Pcg64::seed_from_u64(0x5a71_7153);
    let options = SanitizeOptions::default().with_pseudonymizer(Pseudonymizer::keyed(b"k"));
    let decode = DecodeOptions::default();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let (mut ok, mut failed) = (0usize, 0usize);
    let n = iters();
    for it in 0..n {
        let mut b = seeds[it % seeds.len()].clone();
        for _ in 0..rng.random_range(1..4) {
            mutate(&mut rng, &mut b);
        }
        let result = sanitize(&b, &options);
        let mut sink = Vec::new();
        let streamed = sanitize_to(&b, &options, &mut sink);
        let clean = Filter::default().clean_file(&b, &decode);
        match result {
            Ok(out) => {
                ok += 1;
                let summary = streamed.expect("the sink variant agrees");
                assert_eq!(sink, out.bytes, "iteration {it}: sink variant differs");
                assert_eq!(summary, out.summary);
                let back = Filter::default().clean_file(&out.bytes, &decode);
                assert!(
                    back.error.is_none(),
                    "iteration {it}: output unreadable: {:?}",
                    back.error
                );
                assert_eq!(back.events.len() as u64, out.summary.records);
                assert!(Reader::new(&out.bytes, &decode).is_ok());
                // What sanitize accepted, the filter decodes completely too, unless
                // the damage is bad UTF-8 in a field sanitize dropped without reading.
                match &clean.error {
                    None => assert_eq!(clean.events.len() as u64, out.summary.records),
                    Some(e) => {
                        let field = e.field().unwrap_or_default().to_owned();
                        assert!(
                            matches!(e.kind(), DecodeErrorKind::InvalidUtf8)
                                && out.summary.dropped.contains(&field),
                            "iteration {it}: sanitize accepted what the decoder refuses: {e}"
                        );
                    }
                }
            }
            Err(e) => {
                failed += 1;
                assert!(
                    streamed.is_err(),
                    "iteration {it}: the sink variant succeeded"
                );
                let msg = e.to_string();
                assert!(!msg.is_empty());
                if matches!(e, SanitizeError::Corrupt { .. }) {
                    assert!(e.offset().is_some(), "iteration {it}: {msg}");
                }
                *kinds.entry(kind_name(&e)).or_default() += 1;
            }
        }
    }
    eprintln!(
        "sanitize fuzz: {n} inputs, {ok} sanitized, {failed} rejected; error kinds: {kinds:?}"
    );
    assert!(ok > 0 && failed > 0, "the mutations reach both outcomes");
    assert!(kinds.len() >= 5, "too few error kinds reached: {kinds:?}");
}
