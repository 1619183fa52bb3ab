//! Decode throughput on a generated 100,000-record Click file (newest published schema,
//! realistic values, ~5% nulls; blocks of about 64,000 bytes as Java's Avro and Kafka
//! Connect write them), `null` and `deflate` codecs.
//!
//! Groups (each reports records/s and bytes/s of the file as stored):
//! - `currents_null/*`, `currents_deflate/*`: dynopt typed decode (`Reader` → blocks →
//!   borrowed events), dynopt `decode_file` to owned events, and the hand-specialised
//!   decoder below (the practical limit, see docs/design.md, *Performance targets*)
//!   with and without UTF-8 validation, and its all-fields variant (every field of the
//!   newest schema, validated); for deflate also inflate-only of every block (flate2's
//!   zlib-rs backend: the target reference; miniz_oxide for comparison).
//! - `currents_intl_null/*`, `currents_intl_deflate/*`: the same file with half of the
//!   campaign/canvas names holding a non-ASCII word (5% in the main file), dynopt typed
//!   against the specialised decoder and inflate-only.
//! - `currents_apache_avro/*`: apache-avro 0.22 on a 10,000-record subset, generic
//!   `Value` reader and serde into a struct, for reference.
//!
//! Targets: dynopt typed / specialised-validating ≥ 0.60 (null codec), dynopt typed
//! (deflate) / zlib-rs inflate-only ≥ 0.80.
//!
//! Quick run: `cargo bench --bench currents -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dynopt::currents::{DecodeOptions, Reader, decode_file};

#[path = "../tests/common/fixtures/mod.rs"]
mod fixtures;

use fixtures::{BlockInfo, GenCodec, GenOptions};

/// Records in the benchmark file.
const RECORDS: usize = 100_000;
/// Records in the apache-avro subset.
const AVRO_RECORDS: usize = 10_000;
/// Uncompressed block size (Java's `DataFileWriter` default sync interval).
const BLOCK_BYTES: usize = 64_000;
const SEED: u64 = 20_260_902;

struct File {
    bytes: Vec<u8>,
    blocks: Vec<BlockInfo>,
}

/// Share of campaign/canvas/step/variation names with a non-ASCII word in the main
/// benchmark file (most workspaces name campaigns in ASCII; accents and emoji occur).
const NON_ASCII_NAMES: f64 = 0.05;
/// The same for the `currents_intl_*` groups: every other name has a non-ASCII word
/// (a workspace that writes names in French, Spanish, German or Japanese, or with emoji).
const NON_ASCII_NAMES_INTL: f64 = 0.5;

fn click_file(records: usize, codec: GenCodec) -> File {
    click_file_with(records, codec, NON_ASCII_NAMES)
}

fn click_file_with(records: usize, codec: GenCodec, non_ascii_names: f64) -> File {
    let shape = fixtures::newest_shape("Click");
    assert_eq!(
        shape.fields.len(),
        34,
        "the newest Click schema has 34 fields"
    );
    let g = fixtures::generate_file(
        &shape,
        &GenOptions {
            block_bytes: BLOCK_BYTES,
            non_ascii_names,
            realistic: true,
            ..GenOptions::new(records, SEED, codec)
        },
    );
    File {
        bytes: g.0,
        blocks: g.1,
    }
}

// ---------------------------------------------------------------------------------------
// The hand-specialised decoder: newest Click schema only, 12 fields extracted (see
// docs/design.md, *Performance targets*).

/// The 12 fields attribution needs.
#[derive(Debug)]
#[allow(dead_code, reason = "fields are read only through black_box")]
struct Click12<S> {
    id: S,
    time: i64,
    user_id: S,
    dispatch_id: Option<S>,
    send_id: Option<S>,
    campaign_id: Option<S>,
    message_variation_id: Option<S>,
    canvas_step_id: Option<S>,
    url: Option<S>,
    link_alias: Option<S>,
    user_agent: Option<S>,
    is_suspected_bot_click: Option<bool>,
}

/// Every field of the newest Click schema, borrowed and validated: what a decoder
/// hand-written for this one schema costs when it extracts everything (compare with
/// dynopt's typed decode, which also extracts everything but for any schema version).
#[derive(Debug)]
#[allow(dead_code, reason = "fields are read only through black_box")]
struct ClickAll<'a> {
    id: &'a str,
    user_id: &'a str,
    dispatch_id: Option<&'a str>,
    external_user_id: Option<&'a str>,
    time: i64,
    timezone: Option<&'a str>,
    campaign_id: Option<&'a str>,
    campaign_name: Option<&'a str>,
    message_variation_id: Option<&'a str>,
    message_variation_name: Option<&'a str>,
    email_address: &'a str,
    url: Option<&'a str>,
    canvas_id: Option<&'a str>,
    canvas_name: Option<&'a str>,
    canvas_variation_id: Option<&'a str>,
    canvas_variation_name: Option<&'a str>,
    canvas_step_id: Option<&'a str>,
    canvas_step_name: Option<&'a str>,
    send_id: Option<&'a str>,
    user_agent: Option<&'a str>,
    ip_pool: Option<&'a str>,
    link_id: Option<&'a str>,
    link_alias: Option<&'a str>,
    esp: Option<&'a str>,
    from_domain: Option<&'a str>,
    is_amp: Option<bool>,
    app_group_id: Option<&'a str>,
    device_class: Option<&'a str>,
    device_os: Option<&'a str>,
    device_model: Option<&'a str>,
    browser: Option<&'a str>,
    mailbox_provider: Option<&'a str>,
    is_suspected_bot_click: Option<bool>,
    suspected_bot_click_reason: Option<Vec<&'a str>>,
}

/// How the specialised decoder turns string bytes into values.
trait Text<'a>: Sized {
    fn from_bytes(b: &'a [u8]) -> Option<Self>;
}

impl<'a> Text<'a> for &'a str {
    #[inline]
    fn from_bytes(b: &'a [u8]) -> Option<Self> {
        std::str::from_utf8(b).ok()
    }
}

/// No validation (reference only: the crate forbids `unsafe`, so the bytes stay bytes).
impl<'a> Text<'a> for &'a [u8] {
    #[inline]
    fn from_bytes(b: &'a [u8]) -> Option<Self> {
        Some(b)
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn long(&mut self) -> Option<i64> {
        let mut z: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
    }

    #[inline]
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.long()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    #[inline]
    fn text<S: Text<'a>>(&mut self) -> Option<S> {
        S::from_bytes(self.bytes()?)
    }

    #[inline]
    fn skip_bytes(&mut self) -> Option<()> {
        self.bytes().map(|_| ())
    }

    #[inline]
    fn union(&mut self) -> Option<bool> {
        match self.long()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    #[inline]
    fn opt_text<S: Text<'a>>(&mut self) -> Option<Option<S>> {
        if self.union()? {
            self.text().map(Some)
        } else {
            Some(None)
        }
    }

    #[inline]
    fn skip_opt(&mut self) -> Option<()> {
        if self.union()? {
            self.skip_bytes()
        } else {
            Some(())
        }
    }

    #[inline]
    fn bool(&mut self) -> Option<bool> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        match b {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    #[inline]
    fn opt_bool(&mut self) -> Option<Option<bool>> {
        if self.union()? {
            self.bool().map(Some)
        } else {
            Some(None)
        }
    }

    fn skip_opt_string_array(&mut self) -> Option<()> {
        if !self.union()? {
            return Some(());
        }
        loop {
            let n = self.long()?;
            if n == 0 {
                return Some(());
            }
            if n < 0 {
                self.long()?; // block byte size
            }
            for _ in 0..n.unsigned_abs() {
                self.skip_bytes()?;
            }
        }
    }

    fn opt_str_array(&mut self) -> Option<Option<Vec<&'a str>>> {
        if !self.union()? {
            return Some(None);
        }
        let mut out = Vec::new();
        loop {
            let n = self.long()?;
            if n == 0 {
                return Some(Some(out));
            }
            if n < 0 {
                self.long()?; // block byte size
            }
            for _ in 0..n.unsigned_abs() {
                out.push(self.text()?);
            }
        }
    }

    /// Every field of one newest-schema Click record, all strings validated.
    #[inline]
    fn click_all(&mut self) -> Option<ClickAll<'a>> {
        let id = self.text()?;
        let user_id = self.text()?;
        let dispatch_id = self.opt_text()?;
        let external_user_id = self.opt_text()?;
        let time = self.long()?;
        if i32::try_from(time).is_err() {
            return None;
        }
        Some(ClickAll {
            id,
            user_id,
            dispatch_id,
            external_user_id,
            time,
            timezone: self.opt_text()?,
            campaign_id: self.opt_text()?,
            campaign_name: self.opt_text()?,
            message_variation_id: self.opt_text()?,
            message_variation_name: self.opt_text()?,
            email_address: self.text()?,
            url: self.opt_text()?,
            canvas_id: self.opt_text()?,
            canvas_name: self.opt_text()?,
            canvas_variation_id: self.opt_text()?,
            canvas_variation_name: self.opt_text()?,
            canvas_step_id: self.opt_text()?,
            canvas_step_name: self.opt_text()?,
            send_id: self.opt_text()?,
            user_agent: self.opt_text()?,
            ip_pool: self.opt_text()?,
            link_id: self.opt_text()?,
            link_alias: self.opt_text()?,
            esp: self.opt_text()?,
            from_domain: self.opt_text()?,
            is_amp: self.opt_bool()?,
            app_group_id: self.opt_text()?,
            device_class: self.opt_text()?,
            device_os: self.opt_text()?,
            device_model: self.opt_text()?,
            browser: self.opt_text()?,
            mailbox_provider: self.opt_text()?,
            is_suspected_bot_click: self.opt_bool()?,
            suspected_bot_click_reason: self.opt_str_array()?,
        })
    }

    /// One record of the newest (34-field) Click schema.
    #[inline]
    fn click<S: Text<'a>>(&mut self) -> Option<Click12<S>> {
        let id = self.text()?; // 0 id
        let user_id = self.text()?; // 1 user_id
        let dispatch_id = self.opt_text()?; // 2
        self.skip_opt()?; // 3 external_user_id
        let time = self.long()?; // 4 time
        if i32::try_from(time).is_err() {
            return None;
        }
        self.skip_opt()?; // 5 timezone
        let campaign_id = self.opt_text()?; // 6
        self.skip_opt()?; // 7 campaign_name
        let message_variation_id = self.opt_text()?; // 8
        self.skip_opt()?; // 9 message_variation_name
        self.skip_bytes()?; // 10 email_address
        let url = self.opt_text()?; // 11
        for _ in 12..16 {
            self.skip_opt()?; // canvas_id, canvas_name, canvas_variation_id, canvas_variation_name
        }
        let canvas_step_id = self.opt_text()?; // 16
        self.skip_opt()?; // 17 canvas_step_name
        let send_id = self.opt_text()?; // 18
        let user_agent = self.opt_text()?; // 19
        self.skip_opt()?; // 20 ip_pool
        self.skip_opt()?; // 21 link_id
        let link_alias = self.opt_text()?; // 22
        self.skip_opt()?; // 23 esp
        self.skip_opt()?; // 24 from_domain
        self.opt_bool()?; // 25 is_amp
        for _ in 26..32 {
            self.skip_opt()?; // app_group_id, device_class, device_os, device_model, browser, mailbox_provider
        }
        let is_suspected_bot_click = self.opt_bool()?; // 32
        self.skip_opt_string_array()?; // 33 suspected_bot_click_reason
        Some(Click12 {
            id,
            time,
            user_id,
            dispatch_id,
            send_id,
            campaign_id,
            message_variation_id,
            canvas_step_id,
            url,
            link_alias,
            user_agent,
            is_suspected_bot_click,
        })
    }
}

/// Decodes one block's records; checks that they consume the block exactly.
#[inline]
fn specialised_block<'a, S: Text<'a> + std::fmt::Debug>(data: &'a [u8], count: u64) -> usize {
    let mut c = Cursor { buf: data, pos: 0 };
    for _ in 0..count {
        let rec = c.click::<S>().expect("valid record");
        black_box(&rec);
    }
    assert_eq!(c.pos, data.len(), "block consumed exactly");
    count as usize
}

/// Raw inflate of one block into `out` (cleared first) with flate2 (zlib-rs backend).
fn inflate_zlib_rs(d: &mut flate2::Decompress, input: &[u8], out: &mut Vec<u8>) {
    d.reset(false);
    out.clear();
    loop {
        let status = d
            .decompress_vec(
                &input[d.total_in() as usize..],
                out,
                flate2::FlushDecompress::Finish,
            )
            .expect("valid deflate");
        if status == flate2::Status::StreamEnd {
            return;
        }
        out.reserve(out.capacity().max(64 * 1024));
    }
}

/// Raw inflate of one block into `out` with miniz_oxide (apache-avro's backend).
fn inflate_miniz(input: &[u8], out: &mut Vec<u8>) {
    let v = miniz_oxide::inflate::decompress_to_vec(input).expect("valid deflate");
    *out = v;
}

fn specialised_file<'a, S: Text<'a> + std::fmt::Debug>(file: &'a File) -> usize {
    let mut n = 0;
    for b in &file.blocks {
        n += specialised_block::<S>(
            &file.bytes[b.data_offset..b.data_offset + b.data_len],
            b.count,
        );
    }
    n
}

fn specialised_all_fields_file(file: &File) -> usize {
    let mut n = 0;
    for b in &file.blocks {
        let data = &file.bytes[b.data_offset..b.data_offset + b.data_len];
        let mut c = Cursor { buf: data, pos: 0 };
        for _ in 0..b.count {
            black_box(&c.click_all().expect("valid record"));
        }
        assert_eq!(c.pos, data.len(), "block consumed exactly");
        n += b.count as usize;
    }
    n
}

fn specialised_deflate_file(file: &File, validate: bool, d: &mut flate2::Decompress) -> usize {
    let mut buf = Vec::with_capacity(4 * BLOCK_BYTES);
    let mut n = 0;
    for b in &file.blocks {
        inflate_zlib_rs(
            d,
            &file.bytes[b.data_offset..b.data_offset + b.data_len],
            &mut buf,
        );
        n += if validate {
            specialised_block::<&str>(&buf, b.count)
        } else {
            specialised_block::<&[u8]>(&buf, b.count)
        };
    }
    n
}

// ---------------------------------------------------------------------------------------
// dynopt

fn dynopt_typed(bytes: &[u8], options: &DecodeOptions) -> usize {
    let mut reader = Reader::new(bytes, options).expect("valid header");
    let mut n = 0;
    while let Some(block) = reader.next_block() {
        let block = block.expect("valid block");
        for event in block.events() {
            black_box(&event.expect("valid record"));
            n += 1;
        }
        reader.recycle(block); // reuse the inflate buffer
    }
    n
}

fn dynopt_owned(bytes: &[u8], options: &DecodeOptions) -> usize {
    let outcome = decode_file(bytes, options);
    assert!(outcome.error.is_none());
    let n = outcome.events.len();
    black_box(outcome);
    n
}

// ---------------------------------------------------------------------------------------
// apache-avro

/// The 12 fields, via serde (apache-avro ignores the other writer fields).
#[derive(serde::Deserialize, Debug)]
#[serde(rename = "Click")] // apache-avro's serde path wants the record name
#[allow(dead_code, reason = "fields are read only through black_box")]
struct ClickSerde {
    id: String,
    time: i32,
    user_id: String,
    dispatch_id: Option<String>,
    send_id: Option<String>,
    campaign_id: Option<String>,
    message_variation_id: Option<String>,
    canvas_step_id: Option<String>,
    url: Option<String>,
    link_alias: Option<String>,
    user_agent: Option<String>,
    is_suspected_bot_click: Option<bool>,
}

fn apache_avro_value(bytes: &[u8]) -> usize {
    let reader = apache_avro::Reader::new(bytes).expect("valid header");
    let mut n = 0;
    for v in reader {
        black_box(v.expect("valid record"));
        n += 1;
    }
    n
}

fn apache_avro_serde(bytes: &[u8]) -> usize {
    let reader = apache_avro::Reader::new(bytes).expect("valid header");
    let mut n = 0;
    for v in reader.into_deser_iter::<ClickSerde>() {
        black_box(v.expect("valid record"));
        n += 1;
    }
    n
}

// ---------------------------------------------------------------------------------------

fn configure<'c>(
    c: &'c mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    g
}

fn bench_currents(c: &mut Criterion) {
    let options = DecodeOptions::default();
    let null = click_file(RECORDS, GenCodec::Null);
    let deflate = click_file(RECORDS, GenCodec::Deflate);
    assert_eq!(null.blocks.len(), deflate.blocks.len());
    eprintln!(
        "Click file: {RECORDS} records, {} blocks, null {} bytes ({:.0} B/record), deflate {} bytes ({:.2}:1)",
        null.blocks.len(),
        null.bytes.len(),
        null.bytes.len() as f64 / RECORDS as f64,
        deflate.bytes.len(),
        null.bytes.len() as f64 / deflate.bytes.len() as f64
    );
    // Sanity: every decoder sees every record.
    assert_eq!(specialised_file::<&str>(&null), RECORDS);
    assert_eq!(specialised_all_fields_file(&null), RECORDS);
    assert_eq!(dynopt_typed(&null.bytes, &options), RECORDS);
    assert_eq!(dynopt_typed(&deflate.bytes, &options), RECORDS);

    let records = RECORDS as u64;
    {
        let mut g = configure(c, "currents_null");
        g.throughput(Throughput::ElementsAndBytes {
            elements: records,
            bytes: null.bytes.len() as u64,
        });
        g.bench_function("dynopt_typed_borrowed", |b| {
            b.iter(|| dynopt_typed(&null.bytes, &options))
        });
        g.bench_function("dynopt_decode_file_owned", |b| {
            b.iter(|| dynopt_owned(&null.bytes, &options))
        });
        g.bench_function("specialised_12_fields_utf8", |b| {
            b.iter(|| specialised_file::<&str>(&null))
        });
        g.bench_function("specialised_12_fields_no_utf8_check", |b| {
            b.iter(|| specialised_file::<&[u8]>(&null))
        });
        g.bench_function("specialised_all_fields_utf8", |b| {
            b.iter(|| specialised_all_fields_file(&null))
        });
        g.finish();
    }
    {
        let mut g = configure(c, "currents_deflate");
        g.throughput(Throughput::ElementsAndBytes {
            elements: records,
            bytes: deflate.bytes.len() as u64,
        });
        g.bench_function("dynopt_typed_borrowed", |b| {
            b.iter(|| dynopt_typed(&deflate.bytes, &options))
        });
        g.bench_function("dynopt_decode_file_owned", |b| {
            b.iter(|| dynopt_owned(&deflate.bytes, &options))
        });
        let mut d = flate2::Decompress::new(false);
        g.bench_function("inflate_only_zlib_rs", |b| {
            let mut buf = Vec::with_capacity(4 * BLOCK_BYTES);
            b.iter(|| {
                for blk in &deflate.blocks {
                    inflate_zlib_rs(
                        &mut d,
                        &deflate.bytes[blk.data_offset..blk.data_offset + blk.data_len],
                        &mut buf,
                    );
                    black_box(&buf);
                }
            })
        });
        g.bench_function("inflate_only_miniz_oxide", |b| {
            let mut buf = Vec::new();
            b.iter(|| {
                for blk in &deflate.blocks {
                    inflate_miniz(
                        &deflate.bytes[blk.data_offset..blk.data_offset + blk.data_len],
                        &mut buf,
                    );
                    black_box(&buf);
                }
            })
        });
        g.bench_function("specialised_12_fields_utf8_zlib_rs", |b| {
            b.iter(|| specialised_deflate_file(&deflate, true, &mut d))
        });
        g.finish();
    }
}

/// The decoder's ASCII fast paths meet non-ASCII names: dynopt typed against the
/// 12-field specialised decoder (null) and against inflate-only (deflate).
fn bench_intl(c: &mut Criterion) {
    let options = DecodeOptions::default();
    let null = click_file_with(RECORDS, GenCodec::Null, NON_ASCII_NAMES_INTL);
    let deflate = click_file_with(RECORDS, GenCodec::Deflate, NON_ASCII_NAMES_INTL);
    assert_eq!(dynopt_typed(&null.bytes, &options), RECORDS);
    let records = RECORDS as u64;
    {
        let mut g = configure(c, "currents_intl_null");
        g.throughput(Throughput::ElementsAndBytes {
            elements: records,
            bytes: null.bytes.len() as u64,
        });
        g.bench_function("dynopt_typed_borrowed", |b| {
            b.iter(|| dynopt_typed(&null.bytes, &options))
        });
        g.bench_function("specialised_12_fields_utf8", |b| {
            b.iter(|| specialised_file::<&str>(&null))
        });
        g.finish();
    }
    {
        let mut g = configure(c, "currents_intl_deflate");
        g.throughput(Throughput::ElementsAndBytes {
            elements: records,
            bytes: deflate.bytes.len() as u64,
        });
        g.bench_function("dynopt_typed_borrowed", |b| {
            b.iter(|| dynopt_typed(&deflate.bytes, &options))
        });
        let mut d = flate2::Decompress::new(false);
        g.bench_function("inflate_only_zlib_rs", |b| {
            let mut buf = Vec::with_capacity(4 * BLOCK_BYTES);
            b.iter(|| {
                for blk in &deflate.blocks {
                    inflate_zlib_rs(
                        &mut d,
                        &deflate.bytes[blk.data_offset..blk.data_offset + blk.data_len],
                        &mut buf,
                    );
                    black_box(&buf);
                }
            })
        });
        g.finish();
    }
}

fn bench_apache_avro(c: &mut Criterion) {
    let null = click_file(AVRO_RECORDS, GenCodec::Null);
    let deflate = click_file(AVRO_RECORDS, GenCodec::Deflate);
    assert_eq!(apache_avro_value(&null.bytes), AVRO_RECORDS);
    assert_eq!(apache_avro_serde(&null.bytes), AVRO_RECORDS);
    let mut g = configure(c, "currents_apache_avro");
    g.throughput(Throughput::ElementsAndBytes {
        elements: AVRO_RECORDS as u64,
        bytes: null.bytes.len() as u64,
    });
    g.bench_function("null_value", |b| b.iter(|| apache_avro_value(&null.bytes)));
    g.bench_function("null_serde_12_fields", |b| {
        b.iter(|| apache_avro_serde(&null.bytes))
    });
    g.throughput(Throughput::ElementsAndBytes {
        elements: AVRO_RECORDS as u64,
        bytes: deflate.bytes.len() as u64,
    });
    g.bench_function("deflate_serde_12_fields", |b| {
        b.iter(|| apache_avro_serde(&deflate.bytes))
    });
    g.finish();
}

criterion_group!(benches, bench_currents, bench_intl, bench_apache_avro);
criterion_main!(benches);
