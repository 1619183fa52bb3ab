//! Corrupt files crafted with `OcfWriter`: every failure listed in docs/design.md,
//! *Errors and panics*, gives the right error kind, file offset and field, never a
//! panic, and keeps the events decoded before it.

mod common;

use common::records::*;
use dynopt::currents::{
    Codec, DecodeError, DecodeErrorKind as K, DecodeOptions, OcfWriter, Reader, decode_file,
    decode_reader, encode_long, encode_str,
};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde_json::json;

const NS: &str = "dataexport.S3.inner.users.messages.email";
const SYNC: [u8; 16] = *b"\x01sync-marker-xyz";

struct Fixture {
    fields: Vec<ShapeField>,
    schema: String,
    recs: Vec<Vec<TVal>>,
}

fn fixture(seed: u64, n: usize) -> Fixture {
    fixture_with(seed, n, false)
}

/// With `extra`, a future field is appended: the writer schema is then no
/// longer a prefix of the typed fields, so the generic plan decodes it instead
/// of the straight-line fast path.
fn fixture_with(seed: u64, n: usize, extra: bool) -> Fixture {
    let mut fields = fields(CLICK_NEWEST);
    if extra {
        fields.push(ShapeField {
            name: "future_field".into(),
            ty: json!(["null", "long"]),
            pii: false,
        });
    }
    let schema = schema("Click", NS, &fields);
    let mut rng = Pcg64::seed_from_u64(seed);
    let recs = (0..n).map(|_| random_record(&mut rng, &fields)).collect();
    Fixture {
        fields,
        schema,
        recs,
    }
}

fn idx(f: &Fixture, name: &str) -> usize {
    f.fields
        .iter()
        .position(|x| x.name == name)
        .expect("field exists")
}

/// Encodes records; in record `bad_rec`, field `bad_field` is replaced by `bytes`.
/// Returns the bytes and the position of the replaced field within them.
fn records(f: &Fixture, bad: Option<(usize, usize, &[u8])>) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut at = usize::MAX;
    for (r, rec) in f.recs.iter().enumerate() {
        for (i, (field, v)) in f.fields.iter().zip(rec).enumerate() {
            match bad {
                Some((br, bf, bytes)) if br == r && bf == i => {
                    at = out.len();
                    out.extend_from_slice(bytes);
                }
                _ => encode(&field.ty, v, &mut out),
            }
        }
    }
    (out, at)
}

fn writer(f: &Fixture, codec: Codec) -> OcfWriter {
    OcfWriter::new(&f.schema, codec, &[], SYNC)
}

/// A file with one good block of `f.recs`, then one block of `bad` records.
/// Returns (file, file offset of the second block's data, records in block 1).
fn two_blocks(f: &Fixture, bad_block: &[u8], bad_count: u64, codec: Codec) -> (Vec<u8>, usize) {
    let w = writer(f, codec);
    let mut file = Vec::new();
    w.header(&mut file);
    let (good, _) = records(f, None);
    w.write_block(f.recs.len() as u64, &good, &mut file);
    let second = file.len();
    w.write_block(bad_count, bad_block, &mut file);
    (file, second)
}

fn varint_len(v: i64) -> usize {
    let mut b = Vec::new();
    encode_long(v, &mut b);
    b.len()
}

fn assert_good_prefix(out: &dynopt::currents::FileOutcome, f: &Fixture, n: usize) {
    assert_eq!(out.events.len(), n, "events before the error are kept");
    for (ev, rec) in out.events.iter().zip(&f.recs) {
        check(ev, &f.fields, rec);
    }
}

/// Decodes a file whose first block is good and whose second block holds a
/// corrupt field; checks kind, exact offset, field and the kept events.
fn field_error(field: &str, bytes: &[u8], kind: K) -> DecodeError {
    field_error_with(field, bytes, kind.clone(), true);
    field_error_with(field, bytes, kind, false)
}

fn field_error_with(field: &str, bytes: &[u8], kind: K, extra: bool) -> DecodeError {
    let f = fixture_with(7, 5, extra);
    let fi = idx(&f, field);
    let (bad, at) = records(&f, Some((2, fi, bytes)));
    let (file, second) = two_blocks(&f, &bad, 5, Codec::Null);
    let data_start = second + varint_len(5) + varint_len(bad.len() as i64);
    let out = decode_file(&file, &DecodeOptions::default());
    let e = out.error.clone().expect("an error");
    assert_eq!(*e.kind(), kind, "{e}");
    assert_eq!(e.field(), Some(field), "{e}");
    assert_eq!(e.offset(), Some((data_start + at) as u64), "{e}");
    assert_eq!(e.record_index(), Some(2), "{e}");
    // Block 1 (5 records) and the 2 good records of block 2 stay.
    assert_eq!(out.events.len(), 7);
    for (ev, rec) in out.events.iter().zip(f.recs.iter().chain(&f.recs)) {
        check(ev, &f.fields, rec);
    }
    // The same error through the deflate codec names the block and the position.
    let (file, second) = two_blocks(&f, &bad, 5, Codec::Deflate);
    let out = decode_file(&file, &DecodeOptions::default());
    let d = out.error.expect("an error");
    assert_eq!(*d.kind(), kind);
    assert_eq!(d.field(), Some(field));
    assert_eq!(d.offset(), Some(second as u64));
    assert_eq!(d.block_position(), Some(at as u64));
    assert_eq!(out.events.len(), 7);
    e
}

#[test]
fn huge_string_length() {
    let mut b = Vec::new();
    encode_long(1, &mut b); // union branch "string"
    encode_long(1 << 40, &mut b);
    b.extend_from_slice(b"https://");
    let e = field_error("url", &b, K::LengthOutOfRange);
    let msg = e.to_string();
    // The message names the kind and the limit, never the length read (a
    // misread length may be a personal number); it used to echo it.
    assert!(!msg.contains("1099511627776"), "{msg}");
    assert!(msg.contains("bytes remaining"), "{msg}");
    assert!(msg.contains("field `url`"), "{msg}");
    // A negative length is out of range too.
    let mut b = Vec::new();
    encode_long(-3, &mut b);
    field_error("id", &b, K::LengthOutOfRange);
}

#[test]
fn invalid_utf8() {
    let mut b = Vec::new();
    encode_long(1, &mut b);
    encode_long(4, &mut b);
    b.extend_from_slice(&[b'a', 0xff, 0xfe, b'b']);
    field_error("campaign_name", &b, K::InvalidUtf8);
    let mut b = Vec::new();
    encode_long(2, &mut b);
    b.extend_from_slice(&[0xc3, 0x28]);
    field_error("id", &b, K::InvalidUtf8);
}

#[test]
fn invalid_booleans() {
    field_error("is_amp", &[2, 2], K::InvalidBool);
    field_error("is_suspected_bot_click", &[2, 0xff], K::InvalidBool);
}

#[test]
fn ints_out_of_range() {
    // `time` is an Avro int: 2^31 is outside.
    let mut b = Vec::new();
    encode_long(1 << 31, &mut b);
    field_error("time", &b, K::IntOutOfRange);
    // A varint longer than 10 bytes.
    field_error("time", &[0xff; 11], K::IntOutOfRange);
    // An over-long union index.
    field_error("url", &[0x80; 12], K::IntOutOfRange);
}

#[test]
fn union_index_out_of_range() {
    field_error("url", &[4], K::BadUnionIndex);
    let mut b = Vec::new();
    encode_long(-1, &mut b);
    field_error("dispatch_id", &b, K::BadUnionIndex);
    // Arrays: a bad array block count inside suspected_bot_click_reason.
    let mut b = Vec::new();
    encode_long(1, &mut b);
    encode_long(1 << 40, &mut b);
    field_error("suspected_bot_click_reason", &b, K::LengthOutOfRange);
}

#[test]
fn record_count_mismatch() {
    let f = fixture(8, 6);
    let (recs, _) = records(&f, None);
    // Count one too small, zero, one too large.
    for (count, kept) in [(5u64, 5usize), (0, 0), (7, 6)] {
        for codec in [Codec::Null, Codec::Deflate] {
            let w = writer(&f, codec);
            let mut file = Vec::new();
            w.header(&mut file);
            let first = file.len();
            w.write_block(count, &recs, &mut file);
            let out = decode_file(&file, &DecodeOptions::default());
            let e = out.error.clone().expect("count mismatch is an error");
            assert_eq!(*e.kind(), K::RecordCountMismatch, "{count}: {e}");
            assert_eq!(e.field(), None);
            if codec == Codec::Deflate {
                assert_eq!(e.offset(), Some(first as u64));
            }
            assert_good_prefix(&out, &f, kept);
        }
    }
}

#[test]
fn bad_block_counts_and_sizes() {
    let f = fixture(9, 3);
    let (recs, _) = records(&f, None);
    let w = writer(&f, Codec::Null);
    let mut head = Vec::new();
    w.header(&mut head);
    let mut good = head.clone();
    w.write_block(3, &recs, &mut good);
    let second = good.len();

    let case = |count: i64, size: i64, data: &[u8]| {
        let mut file = good.clone();
        encode_long(count, &mut file);
        encode_long(size, &mut file);
        file.extend_from_slice(data);
        file.extend_from_slice(&SYNC);
        let out = decode_file(&file, &DecodeOptions::default());
        assert_good_prefix(&out, &f, 3);
        out.error.expect("an error")
    };
    let e = case(-1, recs.len() as i64, &recs);
    assert_eq!(*e.kind(), K::BadBlockCount);
    assert_eq!(e.offset(), Some(second as u64));
    let e = case(1 << 40, recs.len() as i64, &recs);
    assert_eq!(*e.kind(), K::BadBlockCount);
    let e = case(3, -5, &recs);
    assert_eq!(*e.kind(), K::BadBlockSize);
    assert_eq!(e.offset(), Some((second + 1) as u64));
    // A block claiming 500 MB in a small file: refused without allocating it.
    let e = case(3, 500_000_000, &recs);
    assert_eq!(*e.kind(), K::Truncated, "{e}");
    let e = case(3, 1 << 40, &recs);
    assert_eq!(*e.kind(), K::BlockTooLarge, "{e}");
    let mut small = DecodeOptions::default();
    small.max_block_bytes = 100;
    let out = decode_file(&good, &small);
    assert_eq!(out.error.map(|e| e.kind().clone()), Some(K::BlockTooLarge));
}

#[test]
fn corrupt_sync_marker_keeps_earlier_blocks() {
    let f = fixture(10, 4);
    let (recs, _) = records(&f, None);
    for codec in [Codec::Null, Codec::Deflate] {
        let w = writer(&f, codec);
        let mut file = Vec::new();
        w.header(&mut file);
        w.write_block(4, &recs, &mut file);
        w.write_block(4, &recs, &mut file);
        let last = file.len() - 3;
        file[last] ^= 0x40;
        let out = decode_file(&file, &DecodeOptions::default());
        let e = out.error.clone().expect("bad sync");
        assert_eq!(*e.kind(), K::BadSyncMarker);
        assert_eq!(e.offset(), Some((file.len() - 16) as u64));
        assert_good_prefix(&out, &f, 4);

        // The streaming reader returns block 1, then the error once, then None.
        let mut r = Reader::new(&file, &DecodeOptions::default()).expect("header");
        assert!(r.next_block().expect("block 1").is_ok());
        assert!(r.next_block().expect("block 2").is_err());
        assert!(r.next_block().is_none());
        assert!(r.next_block().is_none());
    }
}

#[test]
fn truncation_at_every_length() {
    let f = fixture(11, 3);
    let (recs, _) = records(&f, None);
    for codec in [Codec::Null, Codec::Deflate] {
        let w = writer(&f, codec);
        let mut file = Vec::new();
        w.header(&mut file);
        let header_len = file.len();
        w.write_block(3, &recs, &mut file);
        let block1 = file.len();
        w.write_block(3, &recs, &mut file);
        for cut in 0..file.len() {
            let out = decode_file(&file[..cut], &DecodeOptions::default());
            if cut == header_len || cut == block1 {
                assert!(out.error.is_none(), "clean end at {cut}");
            } else {
                let e = out.error.clone().expect("truncated");
                assert!(
                    matches!(
                        e.kind(),
                        K::Truncated | K::BadMagic | K::LengthOutOfRange | K::BadHeader
                    ),
                    "cut {cut}: {e}"
                );
                if cut >= 4 {
                    assert_ne!(*e.kind(), K::BadMagic, "cut {cut}");
                }
            }
            let kept = if cut >= block1 { 3 } else { 0 };
            assert_good_prefix(&out, &f, kept);
        }
    }
}

#[test]
fn header_errors() {
    let f = fixture(12, 1);
    let e = decode_file(b"Obj\x02rest", &DecodeOptions::default())
        .error
        .expect("bad magic");
    assert_eq!((e.kind(), e.offset()), (&K::BadMagic, Some(0)));
    let e = decode_file(b"PK\x03\x04", &DecodeOptions::default())
        .error
        .expect("bad magic");
    assert_eq!(*e.kind(), K::BadMagic);
    let e = decode_file(b"Ob", &DecodeOptions::default())
        .error
        .expect("truncated");
    assert_eq!(*e.kind(), K::Truncated);

    // Unsupported codec.
    let mut file = b"Obj\x01".to_vec();
    encode_long(2, &mut file);
    encode_str("avro.schema", &mut file);
    encode_str(&f.schema, &mut file);
    encode_str("avro.codec", &mut file);
    encode_str("snappy", &mut file);
    encode_long(0, &mut file);
    file.extend_from_slice(&SYNC);
    let e = decode_file(&file, &DecodeOptions::default())
        .error
        .expect("codec");
    assert_eq!(*e.kind(), K::UnsupportedCodec("snappy".into()));

    // Missing schema.
    let mut file = b"Obj\x01".to_vec();
    encode_long(1, &mut file);
    encode_str("avro.codec", &mut file);
    encode_str("null", &mut file);
    encode_long(0, &mut file);
    file.extend_from_slice(&SYNC);
    let e = decode_file(&file, &DecodeOptions::default())
        .error
        .expect("no schema");
    assert_eq!(*e.kind(), K::BadHeader);

    // Absurd metadata count, absurd value length.
    let mut file = b"Obj\x01".to_vec();
    encode_long(1 << 50, &mut file);
    let e = decode_file(&file, &DecodeOptions::default())
        .error
        .expect("count");
    assert_eq!((e.kind(), e.offset()), (&K::BadHeader, Some(4)));
    let mut file = b"Obj\x01".to_vec();
    encode_long(1, &mut file);
    encode_str("avro.schema", &mut file);
    encode_long(1 << 40, &mut file);
    file.extend_from_slice(b"{}");
    let e = decode_file(&file, &DecodeOptions::default())
        .error
        .expect("length");
    assert_eq!(*e.kind(), K::LengthOutOfRange);

    // Header larger than the configured limit.
    let mut opts = DecodeOptions::default();
    opts.max_header_bytes = 100;
    let w = writer(&f, Codec::Null);
    let mut file = Vec::new();
    w.header(&mut file);
    let e = decode_file(&file, &opts).error.expect("too large");
    assert_eq!(*e.kind(), K::BadHeader);
}

#[test]
fn decode_reader_is_bounded_and_reports_io_errors() {
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let e = decode_reader(Failing, &DecodeOptions::default())
        .error
        .expect("io error");
    assert!(matches!(e.kind(), K::Io(m) if m.contains("disk on fire")));

    let f = fixture(13, 2);
    let (recs, _) = records(&f, None);
    let w = writer(&f, Codec::Null);
    let mut file = Vec::new();
    w.header(&mut file);
    w.write_block(2, &recs, &mut file);
    let mut opts = DecodeOptions::default();
    opts.max_file_bytes = file.len() as u64 - 1;
    let e = decode_reader(&file[..], &opts).error.expect("too large");
    assert_eq!(*e.kind(), K::FileTooLarge);
    opts.max_file_bytes = file.len() as u64;
    assert!(decode_reader(&file[..], &opts).error.is_none());
}

#[test]
fn deep_nesting_in_an_unknown_field_is_bounded() {
    // An unknown recursive field: {"next": ["null", Node]} nested 10,000 deep.
    let mut fields = fields(CLICK_2018);
    fields.truncate(4); // id, user_id, external_user_id, time
    let schema_json = json!({"type":"record","name":"Click","fields":[
        {"name":"id","type":"string"},{"name":"user_id","type":"string"},
        {"name":"time","type":"int"},{"name":"email_address","type":"string"},
        {"name":"tree","type":{"type":"record","name":"Node","fields":[
            {"name":"next","type":["null","Node"]}]}}
    ]})
    .to_string();
    let w = OcfWriter::new(&schema_json, Codec::Null, &[], SYNC);
    let mut rec = Vec::new();
    encode_str("id-1", &mut rec);
    encode_str("u", &mut rec);
    encode_long(1_700_000_000, &mut rec);
    encode_str("a@b.c", &mut rec);
    let depth_ok = 20;
    for _ in 0..depth_ok {
        encode_long(1, &mut rec);
    }
    encode_long(0, &mut rec);
    let mut file = Vec::new();
    w.header(&mut file);
    w.write_block(1, &rec, &mut file);
    let out = decode_file(&file, &DecodeOptions::default());
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.unknown_fields, ["tree"]);

    let mut rec2 = rec[..rec.len() - depth_ok - 1].to_vec();
    rec2.extend(std::iter::repeat_n(2u8, 10_000));
    rec2.push(0);
    let mut file = Vec::new();
    w.header(&mut file);
    w.write_block(1, &rec2, &mut file);
    let e = decode_file(&file, &DecodeOptions::default())
        .error
        .expect("too deep");
    assert_eq!(*e.kind(), K::TooDeep);
    assert_eq!(e.field(), Some("tree"));
}

/// Raw deflate of `n` zero bytes, streamed (no `n`-byte allocation).
fn zeros_deflated(n: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::best(), false);
    let zeros = vec![0u8; 1 << 20];
    let mut out = Vec::with_capacity(n / 900 + 1024);
    let mut fed = 0;
    while fed < n {
        let chunk = &zeros[..(n - fed).min(zeros.len())];
        let before = c.total_in();
        if out.capacity() - out.len() < 64 * 1024 {
            out.reserve(1 << 20);
        }
        c.compress_vec(chunk, &mut out, FlushCompress::None)
            .expect("compresses");
        fed += (c.total_in() - before) as usize;
    }
    loop {
        out.reserve(64 * 1024);
        if c.compress_vec(&[], &mut out, FlushCompress::Finish)
            .expect("finishes")
            == flate2::Status::StreamEnd
        {
            break;
        }
    }
    out
}

#[test]
fn deflate_bomb_is_refused_within_the_cap() {
    let f = fixture(14, 2);
    let (recs, _) = records(&f, None);
    let bomb = zeros_deflated(400 << 20);
    assert!(
        bomb.len() > 300_000 && bomb.len() < 1_000_000,
        "{}",
        bomb.len()
    );
    let w = writer(&f, Codec::Deflate);
    let mut file = Vec::new();
    w.header(&mut file);
    w.write_block(2, &recs, &mut file);
    let second = file.len();
    encode_long(2, &mut file);
    encode_long(bomb.len() as i64, &mut file);
    let data_at = file.len();
    file.extend_from_slice(&bomb);
    file.extend_from_slice(&SYNC);

    // Default options: ratio 100 bounds the block at 100 x its compressed size.
    let out = decode_file(&file, &DecodeOptions::default());
    let e = out.error.clone().expect("bomb refused");
    assert_eq!(*e.kind(), K::InflateRatioExceeded, "{e}");
    assert_eq!(e.offset(), Some(data_at as u64));
    let bound = bomb.len() * 100;
    assert!(
        e.to_string().contains(&format!("beyond {bound} bytes")),
        "{e}"
    );
    assert_good_prefix(&out, &f, 2);
    assert!(second < data_at);

    // A tighter absolute cap wins over the ratio.
    let mut opts = DecodeOptions::default();
    opts.max_block_bytes = 1 << 20;
    let e = decode_file(&file, &opts).error.expect("bomb refused");
    assert_eq!(*e.kind(), K::BlockTooLarge, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("limit of {} bytes", 1 << 20)),
        "{e}"
    );

    // Garbage instead of deflate data.
    let mut bad = file[..second].to_vec();
    encode_long(2, &mut bad);
    encode_long(64, &mut bad);
    bad.extend_from_slice(&[0xff; 64]);
    bad.extend_from_slice(&SYNC);
    let e = decode_file(&bad, &DecodeOptions::default())
        .error
        .expect("bad deflate");
    assert_eq!(*e.kind(), K::BadDeflate, "{e}");

    // A deflate stream cut short.
    let (good, _) = records(&f, None);
    let mut full = Vec::new();
    writer(&f, Codec::Deflate).write_block(2, &good, &mut full);
    let mut cut = file[..second].to_vec();
    let comp = zeros_deflated(10_000);
    encode_long(2, &mut cut);
    encode_long((comp.len() / 2) as i64, &mut cut);
    cut.extend_from_slice(&comp[..comp.len() / 2]);
    cut.extend_from_slice(&SYNC);
    let e = decode_file(&cut, &DecodeOptions::default())
        .error
        .expect("cut deflate");
    assert_eq!(*e.kind(), K::BadDeflate, "{e}");
}
