//! Why the hot decode path does not use apache-avro's reader: the same corrupt
//! Currents files read by dynopt and by apache-avro (a dev-dependency used only
//! here and in the benches). dynopt gives a typed error with the events decoded
//! before it; what apache-avro does is measured (records returned, error or not,
//! bytes allocated) and asserted as observed, so that a change in either is seen.
//!
//! `cargo test --test apache_avro_corrupt -- --nocapture` prints the figures quoted
//! in the README (*Why not apache-avro's reader*).

use std::alloc::System;

use cap::Cap;
use dynopt::currents::{
    Codec, DecodeErrorKind as K, DecodeOptions, OcfWriter, decode_file, encode_long, encode_str,
};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

const SCHEMA: &str = r#"{"type":"record","name":"Click","namespace":"dataexport.S3.inner.users.messages.email","fields":[
  {"name":"id","type":"string"},
  {"name":"user_id","type":"string","doc":"[PII] Braze user id"},
  {"name":"time","type":"int"},
  {"name":"email_address","type":"string","doc":"[PII] address"},
  {"name":"url","type":["null","string"],"default":null},
  {"name":"suspected_bot_click_reason","type":["null",{"type":"array","items":"string"}],"default":null}]}"#;
const SYNC: [u8; 16] = *b"corrupt-sync-mk!";
const MB: f64 = 1024.0 * 1024.0;

/// One record; `reasons` is the claimed item count of the array (its items follow
/// only when `items` is true).
fn record(i: usize, reasons: i64, items: bool, out: &mut Vec<u8>) {
    encode_str(&format!("9d32b42e-d5ff-4e16-a188-{i:012}"), out);
    encode_str(&format!("5f1a2b3c4d5e6f7a8b9c{i:04}"), out);
    encode_long(1_773_893_055 + i as i64, out);
    encode_str(&format!("user{i}@mail.example.net"), out);
    encode_long(1, out); // url: the string branch
    encode_str(
        "https://shop.example.com/spring?utm_source=braze&dov=1",
        out,
    );
    encode_long(1, out); // the array branch
    encode_long(reasons, out);
    if items {
        for _ in 0..reasons {
            encode_str("user_agent", out);
        }
    }
    if reasons != 0 {
        encode_long(0, out);
    }
}

fn records(range: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in range {
        record(i, 1, true, &mut out);
    }
    out
}

/// A valid file of `blocks` blocks of 100 records.
fn file(codec: Codec, blocks: usize) -> (OcfWriter, Vec<u8>) {
    let w = OcfWriter::new(SCHEMA, codec, &[], SYNC);
    let mut out = Vec::new();
    w.header(&mut out);
    for b in 0..blocks {
        w.write_block(100, &records(b * 100..b * 100 + 100), &mut out);
    }
    (w, out)
}

/// What apache-avro made of a file: records returned, the first error, and the
/// bytes it allocated meanwhile (the allocator's running total).
struct Avro {
    records: usize,
    error: Option<String>,
    allocated: usize,
}

fn apache_avro(bytes: &[u8]) -> Avro {
    let before = ALLOC.total_allocated();
    let mut records = 0;
    let mut error = None;
    match apache_avro::Reader::new(bytes) {
        Err(e) => error = Some(e.to_string()),
        Ok(reader) => {
            for value in reader {
                match value {
                    Ok(_) => records += 1,
                    Err(e) => {
                        error = Some(e.to_string());
                        break;
                    }
                }
            }
        }
    }
    Avro {
        records,
        error,
        allocated: ALLOC.total_allocated() - before,
    }
}

/// dynopt on the same bytes: events kept, the error kind, bytes allocated.
fn dynopt(bytes: &[u8]) -> (usize, Option<K>, usize) {
    let before = ALLOC.total_allocated();
    let outcome = decode_file(bytes, &DecodeOptions::default());
    let allocated = ALLOC.total_allocated() - before;
    (
        outcome.events.len(),
        outcome.error.map(|e| e.kind().clone()),
        allocated,
    )
}

fn report(case: &str, len: usize, avro: &Avro, ours: &(usize, Option<K>, usize)) {
    println!(
        "{case}: file {len} bytes | apache-avro: {} records, {}, {:.1} MiB allocated | dynopt: {} events, {:?}, {:.1} MiB allocated",
        avro.records,
        avro.error
            .as_deref()
            .map_or("no error".to_owned(), |e| format!("error \"{e}\"")),
        avro.allocated as f64 / MB,
        ours.0,
        ours.1,
        ours.2 as f64 / MB,
    );
}

/// All cases in one test, one after the other: the allocation figures are the
/// allocator's running total, which a concurrent test would disturb.
#[test]
fn corrupt_files_dynopt_errors_where_apache_avro_loses_records_or_allocates() {
    // 1. Truncated inside the header of the fourth block (its record count is a
    //    two-byte varint; one byte is left). 100 records of the file are gone.
    let (_, mut bytes) = file(Codec::Null, 4);
    let (_, three) = file(Codec::Null, 3);
    bytes.truncate(three.len() + 1);
    let avro = apache_avro(&bytes);
    let ours = dynopt(&bytes);
    report("truncated block header", bytes.len(), &avro, &ours);
    assert_eq!(ours.0, 300);
    assert_eq!(ours.1, Some(K::Truncated));
    assert_eq!(avro.records, 300);
    assert_eq!(
        avro.error, None,
        "apache-avro ends silently: the loss is not reported"
    );

    // 2. A block whose count says 50 while it holds 100 records.
    let w = OcfWriter::new(SCHEMA, Codec::Null, &[], SYNC);
    let mut bytes = Vec::new();
    w.header(&mut bytes);
    w.write_block(100, &records(0..100), &mut bytes);
    w.write_block(50, &records(100..200), &mut bytes);
    let avro = apache_avro(&bytes);
    let ours = dynopt(&bytes);
    report(
        "block count lower than its records",
        bytes.len(),
        &avro,
        &ours,
    );
    assert_eq!(ours.1, Some(K::RecordCountMismatch));
    assert_eq!(ours.0, 150, "the records decoded before the error stay");
    assert_eq!(avro.records, 150);
    assert_eq!(avro.error, None, "apache-avro drops the other 50 silently");

    // 3. A block that claims 400 MiB in a file of a few hundred bytes.
    let mut bytes = Vec::new();
    w.header(&mut bytes);
    encode_long(100, &mut bytes);
    encode_long(400 << 20, &mut bytes);
    bytes.extend_from_slice(&records(0..2));
    let avro = apache_avro(&bytes);
    let ours = dynopt(&bytes);
    report("huge claimed block size", bytes.len(), &avro, &ours);
    assert!(ours.1.is_some(), "dynopt refuses the block");
    assert!(ours.2 < 1 << 20, "dynopt allocates nothing of the claim");
    assert!(avro.error.is_some());
    assert!(
        avro.allocated >= 400 << 20,
        "apache-avro allocates the claim first"
    );

    // 4. A string that claims 300 MiB inside a small block.
    let mut rec = Vec::new();
    encode_long(300 << 20, &mut rec);
    rec.extend_from_slice(b"9d32b42e");
    let mut bytes = Vec::new();
    w.header(&mut bytes);
    w.write_block(1, &rec, &mut bytes);
    let avro = apache_avro(&bytes);
    let ours = dynopt(&bytes);
    report("huge claimed string length", bytes.len(), &avro, &ours);
    assert_eq!(ours.1, Some(K::LengthOutOfRange));
    assert!(ours.2 < 1 << 20);
    assert!(avro.error.is_some());
    println!(
        "  apache-avro allocated {:.1} MiB for a 300 MiB claim",
        avro.allocated as f64 / MB
    );

    // 5. An array that claims 4 million items, none present.
    let mut rec = Vec::new();
    record(0, 4_000_000, false, &mut rec);
    let mut bytes = Vec::new();
    w.header(&mut bytes);
    w.write_block(1, &rec, &mut bytes);
    let avro = apache_avro(&bytes);
    let ours = dynopt(&bytes);
    report("huge claimed array count", bytes.len(), &avro, &ours);
    assert!(ours.1.is_some(), "dynopt refuses the array");
    assert!(ours.2 < 1 << 20);
    assert!(avro.error.is_some());

    // 6. A deflate bomb: one block of 256 MiB of zeros, compressed about 1000:1.
    let zeros = vec![0u8; 256 << 20];
    let mut compressed = Vec::new();
    {
        use std::io::Write;
        let mut enc =
            flate2::write::DeflateEncoder::new(&mut compressed, flate2::Compression::best());
        enc.write_all(&zeros).expect("writing to a Vec cannot fail");
        enc.finish().expect("writing to a Vec cannot fail");
    }
    drop(zeros);
    let mut bytes = Vec::new();
    OcfWriter::new(SCHEMA, Codec::Deflate, &[], SYNC).header(&mut bytes);
    encode_long(1, &mut bytes);
    encode_long(compressed.len() as i64, &mut bytes);
    bytes.extend_from_slice(&compressed);
    bytes.extend_from_slice(&SYNC);
    let avro = apache_avro(&bytes);
    let ours = dynopt(&bytes);
    report("deflate bomb", bytes.len(), &avro, &ours);
    assert_eq!(ours.1, Some(K::InflateRatioExceeded));
    assert!(
        ours.2 < 64 << 20,
        "dynopt stops inflating at the ratio limit"
    );
    assert_eq!(avro.error, None, "apache-avro accepts the bomb");
    assert!(avro.allocated >= 256 << 20, "and inflates all of it");
}
