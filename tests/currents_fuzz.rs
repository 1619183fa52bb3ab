//! Seeded mutation testing of the OCF decoder (the stable-toolchain stand-in for a
//! fuzz target): bit flips, byte stores, truncations, splices, insertions,
//! deletions and block-count edits of valid files written with `OcfWriter` from
//! the newest and the 2018 Click and Open schemas (and the 2021 variant), and the
//! newest and 2021 internal conversion schemas, both codecs. No input may panic or hang; when an error is returned, the events
//! decoded before it must be exactly the original events of the untouched
//! prefix. `DYNOPT_FUZZ_ITERS=N` runs N inputs (default 3,000).

mod common;

use std::collections::BTreeMap;

use common::records::*;
use dynopt::currents::{
    Codec, DecodeErrorKind, DecodeOptions, Event, OcfWriter, Reader, decode_file, encode_long,
};
use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64;

const SYNC: [u8; 16] = *b"\x07fuzz-sync-01234";

struct Seed {
    bytes: Vec<u8>,
    events: Vec<Event<'static>>,
    /// Per original record: the file offset after which a mutation can no
    /// longer change it (end of the record for null, end of block for deflate).
    safe_until: Vec<usize>,
    /// (offset of the block's count varint, count, byte size, end of the count varint)
    blocks: Vec<(usize, u64)>,
}

fn make_seed(shape: ShapeRef, record: &str, ns: &str, codec: Codec, seed: u64) -> Seed {
    make_seed_of(&fields(shape), record, ns, codec, seed)
}

fn make_seed_of(fields: &[ShapeField], record: &str, ns: &str, codec: Codec, seed: u64) -> Seed {
    let fields = fields.to_vec();
    let schema = schema(record, ns, &fields);
    let mut rng = Pcg64::seed_from_u64(seed);
    let w = OcfWriter::new(&schema, codec, &[("origin", b"fuzz")], SYNC);
    let mut bytes = Vec::new();
    w.header(&mut bytes);
    let mut safe_until = Vec::new();
    let mut blocks = Vec::new();
    for n in [3usize, 1, 5] {
        let recs: Vec<Vec<TVal>> = (0..n).map(|_| random_record(&mut rng, &fields)).collect();
        let mut data = Vec::new();
        let mut ends = Vec::new();
        for r in &recs {
            encode_record(&fields, r, &mut data);
            ends.push(data.len());
        }
        let start = bytes.len();
        blocks.push((start, n as u64));
        w.write_block(n as u64, &data, &mut bytes);
        let data_start = match codec {
            Codec::Null => {
                let mut h = Vec::new();
                encode_long(n as i64, &mut h);
                encode_long(data.len() as i64, &mut h);
                start + h.len()
            }
            _ => 0,
        };
        for e in ends {
            safe_until.push(match codec {
                Codec::Null => data_start + e,
                _ => bytes.len(),
            });
        }
    }
    let out = decode_file(&bytes, &DecodeOptions::default());
    assert!(out.error.is_none(), "seed decodes: {:?}", out.error);
    Seed {
        bytes,
        events: out.events,
        safe_until,
        blocks,
    }
}

fn seeds() -> Vec<Seed> {
    let ns = "dataexport.S3.inner.users.messages.email";
    let mut v = Vec::new();
    for (i, codec) in [Codec::Null, Codec::Deflate].into_iter().enumerate() {
        let s = i as u64 * 100;
        v.push(make_seed(CLICK_NEWEST, "Click", ns, codec, s + 1));
        v.push(make_seed(OPEN_NEWEST, "Open", ns, codec, s + 2));
        v.push(make_seed(CLICK_2018, "Click", ns, codec, s + 3));
        v.push(make_seed(OPEN_2018, "Open", ns, codec, s + 4));
        v.push(make_seed(
            CLICK_2021,
            "Click",
            "users.messages.email",
            codec,
            s + 5,
        ));
        // Conversions: the newest schema of each type and the 2021 internal variants.
        let conversions = common::fixtures::conversion_shapes();
        for (j, shape) in conversions.iter().enumerate().filter(|(j, s)| {
            s.is_kafka_connect()
                || conversions
                    .get(j + 1)
                    .is_none_or(|n| n.event_type != s.event_type)
        }) {
            v.push(make_seed_of(
                &fields_of(shape),
                &shape.record,
                &shape.namespace,
                codec,
                s + 10 + j as u64,
            ));
        }
    }
    v
}

enum Mutation {
    /// Bytes changed from this offset on (flips, stores, splices, inserts, deletes).
    From(usize),
    /// Truncated to this length.
    Truncate(usize),
    /// A block count edited: every event decoded must be original.
    Count,
}

fn mutate(rng: &mut Pcg64, seed: &Seed, others: &[Seed]) -> (Vec<u8>, Mutation) {
    let mut b = seed.bytes.clone();
    let len = b.len();
    match rng.random_range(0..8u32) {
        0 | 1 => {
            let flips = rng.random_range(1..=4usize);
            let mut first = usize::MAX;
            for _ in 0..flips {
                let i = rng.random_range(0..len);
                b[i] ^= 1 << rng.random_range(0..8u32);
                first = first.min(i);
            }
            (b, Mutation::From(first))
        }
        2 => {
            let i = rng.random_range(0..len);
            const INTERESTING: [u8; 8] = [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 0x3f];
            b[i] = INTERESTING[rng.random_range(0..INTERESTING.len())];
            (b, Mutation::From(i))
        }
        3 => {
            let cut = rng.random_range(0..len);
            b.truncate(cut);
            (b, Mutation::Truncate(cut))
        }
        4 => {
            // Splice a range of another seed over a random position.
            let o = &others[rng.random_range(0..others.len())].bytes;
            let from = rng.random_range(0..o.len());
            let n = rng.random_range(1..=64usize).min(o.len() - from);
            let at = rng.random_range(0..len);
            let end = (at + n).min(len);
            b.splice(at..end, o[from..from + n].iter().copied());
            (b, Mutation::From(at))
        }
        5 => {
            let at = rng.random_range(0..=len);
            let n = rng.random_range(1..=16usize);
            let ins: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            b.splice(at..at, ins);
            (b, Mutation::From(at))
        }
        6 => {
            let at = rng.random_range(0..len);
            let n = rng.random_range(1..=16usize).min(len - at);
            b.drain(at..at + n);
            (b, Mutation::From(at))
        }
        _ => {
            let (start, count) = seed.blocks[rng.random_range(0..seed.blocks.len())];
            let new: i64 = match rng.random_range(0..5u32) {
                0 => count as i64 - 1,
                1 => count as i64 + 1,
                2 => 0,
                3 => -1,
                _ => 1 << rng.random_range(20..62u32),
            };
            let mut old = Vec::new();
            encode_long(count as i64, &mut old);
            let mut rep = Vec::new();
            encode_long(new, &mut rep);
            b.splice(start..start + old.len(), rep);
            (b, Mutation::Count)
        }
    }
}

fn iterations() -> usize {
    std::env::var("DYNOPT_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000)
}

#[test]
fn mutated_files_never_panic_and_keep_a_true_prefix() {
    let seeds = seeds();
    let mut rng = Pcg64::seed_from_u64(0x5eed_2026);
    let iters = iterations();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let opts = DecodeOptions::default();
    for it in 0..iters {
        let si = rng.random_range(0..seeds.len());
        let seed = &seeds[si];
        let (input, m) = mutate(&mut rng, seed, &seeds);
        let out = decode_file(&input, &opts);

        // The streaming path, record spans included, must not panic either.
        if let Ok(mut r) = Reader::new(&input, &opts) {
            while let Some(Ok(block)) = r.next_block() {
                for s in block.record_spans() {
                    if s.is_err() {
                        break;
                    }
                }
                for k in block.keyed_events() {
                    if k.is_err() {
                        break;
                    }
                }
            }
        }

        let key = match &out.error {
            None => "ok".to_owned(),
            Some(e) => {
                let k = format!("{:?}", e.kind());
                k.split('(').next().unwrap_or_default().to_owned()
            }
        };
        *kinds.entry(key).or_default() += 1;
        let Some(err) = &out.error else { continue };
        // Every error names an offset within (or just past) the input.
        if let Some(o) = err.offset() {
            assert!(
                o <= input.len() as u64,
                "iteration {it}: offset {o} beyond input: {err}"
            );
        }
        let untouched = match m {
            Mutation::From(at) | Mutation::Truncate(at) => {
                seed.safe_until.iter().take_while(|end| **end <= at).count()
            }
            Mutation::Count => usize::MAX,
        };
        let check_n = out.events.len().min(untouched);
        for i in 0..check_n {
            assert_eq!(
                out.events[i], seed.events[i],
                "iteration {it} (seed {si}): event {i} before the error differs ({err})"
            );
        }
        if matches!(m, Mutation::Count) {
            assert!(
                matches!(
                    err.kind(),
                    DecodeErrorKind::RecordCountMismatch | DecodeErrorKind::BadBlockCount
                ),
                "iteration {it}: count edit gave {err}"
            );
        }
        if let Mutation::Truncate(_) = m {
            assert_eq!(out.events[..], seed.events[..out.events.len()]);
        }
    }
    eprintln!("{iters} mutated inputs; outcomes: {kinds:?}");
    // The mutations must reach a good spread of error kinds.
    let reached = kinds.keys().filter(|k| *k != "ok").count();
    assert!(
        reached >= 8,
        "only {reached} error kinds reached: {kinds:?}"
    );
}

#[test]
fn random_bytes_after_a_valid_header_never_panic() {
    let seeds = seeds();
    let mut rng = Pcg64::seed_from_u64(99);
    for _ in 0..iterations() / 10 {
        let seed = &seeds[rng.random_range(0..seeds.len())];
        let header_len = seed.blocks[0].0;
        let mut b = seed.bytes[..header_len].to_vec();
        let n = rng.random_range(0..512usize);
        b.extend((0..n).map(|_| rng.random::<u8>()));
        let out = decode_file(&b, &DecodeOptions::default());
        assert!(out.events.len() <= n);
        let _ = rng.next_u64();
    }
}
