//! Hostile shapes (see docs/design.md, *Bounded memory on untrusted input*): every
//! case gives a typed error or bounded work, under a 1 GiB allocation cap (the
//! `cap` crate's counting allocator, so this file needs no `unsafe`).

use std::alloc::System;
use std::time::Instant;

use cap::Cap;
use dynopt::attribution::{AttributionConfig, Mode, Scope};
use dynopt::currents::{
    Codec, DecodeErrorKind, DecodeOptions, OcfWriter, Reader, decode_file, encode_long, encode_str,
};
use dynopt::pii::Filter;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, 1 << 30);

const BASE: &str = r#"{"name":"id","type":"string"},{"name":"user_id","type":"string"},
    {"name":"time","type":"int"},{"name":"email_address","type":"string"}"#;

/// A Click record schema with `fields` (JSON field objects, comma-separated).
fn click_schema(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"Click","fields":[{fields}]}}"#)
}

/// A null-codec writer for `schema`, and a file holding its header.
fn started(schema: &str) -> (OcfWriter, Vec<u8>) {
    let w = OcfWriter::new(schema, Codec::Null, &[], [1; 16]);
    let mut file = Vec::new();
    w.header(&mut file);
    (w, file)
}

fn minimal_record(out: &mut Vec<u8>) {
    encode_str("", out);
    encode_str("", out);
    encode_long(0, out);
    encode_str("", out);
}

#[test]
fn a_wide_header_parses_in_linear_time() {
    let mut fields = String::from(BASE);
    for i in 0..110_000 {
        fields.push_str(&format!(r#",{{"name":"f{i}","type":"null"}}"#));
    }
    let schema = click_schema(&fields);
    assert!(schema.len() < 4 << 20);
    let (_, file) = started(&schema);
    let t = Instant::now();
    let reader = Reader::new(&file, &DecodeOptions::default()).expect("reads");
    let took = t.elapsed();
    assert_eq!(reader.writer_fields().len(), 110_004);
    // 45 s before (quadratic); well under a second now, even unoptimised.
    assert!(took.as_secs_f64() < 5.0, "{took:?}");
}

#[test]
fn null_fields_cost_nothing_per_record() {
    let mut fields = String::from(BASE);
    for i in 0..4_000 {
        fields.push_str(&format!(r#",{{"name":"n{i}","type":"null"}}"#));
    }
    let schema = click_schema(&fields);
    let (w, mut file) = started(&schema);
    let mut rec = Vec::new();
    for _ in 0..200_000 {
        minimal_record(&mut rec);
    }
    w.write_block(200_000, &rec, &mut file);
    let t = Instant::now();
    let out = decode_file(&file, &DecodeOptions::default());
    let took = t.elapsed();
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.events.len(), 200_000);
    // 4,000 fields x 200,000 records would be 800 million steps.
    assert!(took.as_secs_f64() < 10.0, "{took:?}");
    // `sanitize` walks only the fields that take bytes too.
    let t = Instant::now();
    let clean =
        dynopt::pii::sanitize(&file, &dynopt::pii::SanitizeOptions::default()).expect("sanitizes");
    let took = t.elapsed();
    assert_eq!(clean.summary.records, 200_000);
    assert!(clean.summary.dropped.iter().any(|d| d == "n3999"));
    assert!(took.as_secs_f64() < 10.0, "{took:?}");
}

#[test]
fn whole_file_memory_is_capped_with_a_typed_error() {
    let (w, mut file) = started(&click_schema(BASE));
    let mut rec = Vec::new();
    for _ in 0..2_000_000 {
        minimal_record(&mut rec);
    }
    w.write_block(2_000_000, &rec, &mut file);
    assert!(file.len() < 9 << 20);
    for whole in [0, 1] {
        let before = ALLOC.allocated();
        let error = if whole == 0 {
            let out = decode_file(&file, &DecodeOptions::default());
            assert!(!out.events.is_empty());
            out.error
        } else {
            let out = Filter::default().clean_file(&file, &DecodeOptions::default());
            assert!(!out.events.is_empty());
            out.error
        };
        let e = error.expect("2,000,000 events exceed the default cap");
        assert_eq!(e.kind(), &DecodeErrorKind::OutputTooLarge);
        assert!(ALLOC.allocated() <= before + (1 << 20), "output freed");
    }
    // A smaller cap gives the error earlier; the streaming path has none.
    let mut small = DecodeOptions::default();
    small.max_output_bytes = 16 << 20;
    let out = decode_file(&file, &small);
    assert_eq!(
        out.error.map(|e| e.kind().clone()),
        Some(DecodeErrorKind::OutputTooLarge)
    );
    let mut reader = Reader::new(&file, &DecodeOptions::default()).expect("reads");
    let mut n = 0;
    while let Some(block) = reader.next_block() {
        n += block.expect("block").events().count();
    }
    assert_eq!(n, 2_000_000);
    assert!(ALLOC.max_allocated() < 1 << 30);
}

#[test]
fn max_depth_is_clamped() {
    let schema = click_schema(&format!(
        r#"{BASE},
        {{"name":"deep","type":{{"type":"record","name":"R","fields":[{{"name":"next","type":["null","R"]}}]}}}}"#
    ));
    let (w, mut file) = started(&schema);
    let mut rec = Vec::new();
    minimal_record(&mut rec);
    for _ in 0..200_000 {
        encode_long(1, &mut rec);
    }
    encode_long(0, &mut rec);
    w.write_block(1, &rec, &mut file);
    let mut options = DecodeOptions::default();
    options.max_depth = usize::MAX;
    // Run on a small stack: a recursion the clamp did not stop would overflow it.
    let h = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || decode_file(&file, &options).error.map(|e| e.kind().clone()))
        .expect("spawns");
    assert_eq!(
        h.join().expect("no overflow"),
        Some(DecodeErrorKind::TooDeep)
    );
}

#[test]
fn an_absurd_capacity_hint_is_refused() {
    let mut c = AttributionConfig::new(Scope::campaign("c"), Mode::ExposureJoin);
    c.expected_exposures = 1 << 32;
    assert!(c.validate().is_err());
    c.expected_exposures = 10_000_000;
    assert!(c.validate().is_ok());
}

#[test]
fn the_output_cap_grows_with_the_input() {
    // 2,000 records of long strings: the events take about twice the input.
    let (w, mut file) = started(&click_schema(BASE));
    let mut rec = Vec::new();
    for i in 0..2_000 {
        encode_str(&format!("{i:01000}"), &mut rec);
        encode_str("", &mut rec);
        encode_long(0, &mut rec);
        encode_str("", &mut rec);
    }
    w.write_block(2_000, &rec, &mut file);
    let mut opts = DecodeOptions::default();
    opts.max_output_bytes = 1 << 20;
    for whole in [false, true] {
        // With the default 4 bytes per input byte the file decodes whole...
        let before = ALLOC.allocated();
        let (n, error) = if whole {
            let out = Filter::default().clean_file(&file, &opts);
            (out.events.len(), out.error)
        } else {
            let out = decode_file(&file, &opts);
            let peak = ALLOC.allocated() - before;
            assert!(peak <= (1 << 20) + 4 * file.len(), "{peak} bytes held");
            (out.events.len(), out.error)
        };
        assert!(error.is_none(), "{error:?}");
        assert_eq!(n, 2_000);
    }
    // ...and with none, the constant part alone stops it, with a typed error.
    opts.max_output_per_input_byte = 0;
    let out = decode_file(&file, &opts);
    assert!(out.events.len() < 2_000);
    assert_eq!(
        out.error.map(|e| e.kind().clone()),
        Some(DecodeErrorKind::OutputTooLarge)
    );
}

#[test]
fn whole_file_lists_are_sized_once_for_what_the_bytes_can_hold() {
    let schema = click_schema(BASE);
    // Three blocks of 700 records: the lists are sized for 2,100 at once.
    let (w, mut file) = started(&schema);
    for _ in 0..3 {
        let mut rec = Vec::new();
        for _ in 0..700 {
            minimal_record(&mut rec);
        }
        w.write_block(700, &rec, &mut file);
    }
    let out = decode_file(&file, &DecodeOptions::default());
    assert!(out.error.is_none());
    assert_eq!((out.events.len(), out.events.capacity()), (2_100, 2_100));
    let clean = Filter::default().clean_file(&file, &DecodeOptions::default());
    assert_eq!(
        (clean.events.len(), clean.events.capacity()),
        (2_100, 2_100)
    );
    // A block that claims a billion records in 40 bytes is refused with a
    // typed error, and nothing was reserved for its claim.
    let (w, mut file) = started(&schema);
    let mut rec = Vec::new();
    for _ in 0..10 {
        minimal_record(&mut rec);
    }
    w.write_block(1_000_000_000, &rec, &mut file);
    let out = decode_file(&file, &DecodeOptions::default());
    assert_eq!(
        out.error.map(|e| e.kind().clone()),
        Some(DecodeErrorKind::BadBlockCount)
    );
    assert!(out.events.capacity() <= 10, "{}", out.events.capacity());
}
