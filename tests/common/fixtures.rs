//! Deterministic generator of Braze Currents email Avro files, for every published
//! schema shape (`tests/data/currents-schema-shapes.json`) plus the announced v12 fields.
//!
//! Independent of `dynopt`: the schema JSON is built from the shape list, the files are
//! written with `apache-avro`'s `Writer` (our own header keeps the schema JSON exactly as
//! built, Kafka-Connect attributes included), and every record's values are returned
//! so that tests can check every decoded value. Values are realistic (24-hex user ids,
//! UUID event ids, 60–120-character URLs with query strings, ~100-character user
//! agents, ~5% nulls in optional fields) and depend only on the seed (`Pcg64`).
//!
//! Used by `tests/` (through `tests/common/mod.rs`) and by `benches/currents.rs`
//! (through `#[path]`).

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;

use apache_avro::types::Value as Avro;
use apache_avro::{DeflateSettings, Schema, Writer};
use chrono::{NaiveDate, TimeZone, Utc};
use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::{Value as Json, json};

/// The published shapes, as Braze's sample files show them.
pub const SHAPES_JSON: &str = include_str!("../data/currents-schema-shapes.json");

/// Probability that an optional (`["null", T]`) field is null.
pub const NULL_RATE: f64 = 0.05;

/// One field of a shape: `[name, type, has_default, pii_tag]`.
#[derive(Clone, Debug)]
pub struct ShapeField {
    /// Field name.
    pub name: String,
    /// Avro type JSON, without documentation.
    pub ty: Json,
    /// Whether the field has `"default": null`.
    pub has_default: bool,
    /// Whether the field's documentation starts with `[PII]`.
    pub pii_tag: bool,
}

/// One schema shape.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Full event type name, e.g. `users.messages.email.Click`.
    pub event_type: String,
    /// Date of the first sample with this shape (`YYYY-MM-DD`).
    pub first_seen: String,
    /// Avro namespace.
    pub namespace: String,
    /// Avro record name (the short event type name).
    pub record: String,
    /// Fields in writer order.
    pub fields: Vec<ShapeField>,
    /// A label for messages: `Click@2021-06-30#3`.
    pub label: String,
}

fn parse_field(f: &Json) -> ShapeField {
    let a = f.as_array().expect("shape field is an array");
    ShapeField {
        name: a[0].as_str().expect("field name").to_owned(),
        ty: a[1].clone(),
        has_default: a[2].as_bool().expect("has_default"),
        pii_tag: a[3].as_bool().expect("pii_tag"),
    }
}

/// Every published shape (79), in file order (per event type, oldest first).
pub fn shapes() -> Vec<Shape> {
    let root: Json = serde_json::from_str(SHAPES_JSON).expect("shapes JSON parses");
    let mut out = Vec::new();
    for (event_type, list) in root.as_object().expect("object") {
        for (i, s) in list.as_array().expect("array").iter().enumerate() {
            let record = s["record"].as_str().expect("record").to_owned();
            let first_seen = s["first_seen"].as_str().expect("first_seen").to_owned();
            out.push(Shape {
                event_type: event_type.clone(),
                label: format!("{record}@{first_seen}#{i}"),
                first_seen,
                namespace: s["namespace"].as_str().expect("namespace").to_owned(),
                record,
                fields: s["fields"]
                    .as_array()
                    .expect("fields")
                    .iter()
                    .map(parse_field)
                    .collect(),
            });
        }
    }
    out
}

/// The newest published shape of an event type (short or full name).
pub fn newest_shape(event_type: &str) -> Shape {
    let short = event_type.rsplit('.').next().unwrap_or(event_type);
    shapes()
        .into_iter()
        .rev()
        .find(|s| s.record == short && !s.is_kafka_connect())
        .expect("event type has a shape")
}

/// The Currents v12 fields Braze announced, per record name: `(name, type, pii)`.
pub fn v12_fields(record: &str) -> Vec<(&'static str, Json, bool)> {
    let send_time = ("send_time", json!(["null", "int"]), false);
    match record {
        "Click" => vec![
            send_time,
            ("has_url_parameters", json!(["null", "boolean"]), false),
            ("link_aliasing_enabled", json!(["null", "boolean"]), false),
        ],
        "Open" | "Delivery" | "Bounce" | "SoftBounce" | "Deferral" | "MarkAsSpam" => {
            vec![send_time]
        }
        "Abort" => vec![("message_extras", json!(["null", "string"]), true)],
        _ => Vec::new(),
    }
}

/// For every event type with announced v12 fields: the newest shape plus those fields,
/// appended at the end. With `long_send_time`, `send_time` is written as
/// `["null","long"]` instead of `["null","int"]`.
pub fn v12_shapes(long_send_time: bool) -> Vec<Shape> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for s in shapes().into_iter().rev() {
        if s.is_kafka_connect() || seen.contains(&s.record) {
            continue;
        }
        seen.push(s.record.clone());
        let extra = v12_fields(&s.record);
        if extra.is_empty() {
            continue;
        }
        let mut shape = s.clone();
        for (name, mut ty, pii) in extra {
            if long_send_time && name == "send_time" {
                ty = json!(["null", "long"]);
            }
            shape.fields.push(ShapeField {
                name: name.to_owned(),
                ty,
                has_default: true,
                pii_tag: pii,
            });
        }
        shape.first_seen = "2026-09-02".to_owned();
        shape.label = format!(
            "{}@v12{}",
            shape.record,
            if long_send_time { "-long" } else { "" }
        );
        out.push(shape);
    }
    out.reverse();
    out
}

fn describe(name: &str) -> String {
    match name {
        "id" => "Globally unique ID for this event".to_owned(),
        "user_id" => "Braze user ID of the user who performed this event".to_owned(),
        "external_user_id" => "External user ID of the user".to_owned(),
        "email_address" => "Email address of the user".to_owned(),
        "time" => "UNIX timestamp at which the event happened".to_owned(),
        "url" => "URL that the user clicked on".to_owned(),
        "user_agent" => "User agent on which the event occurred".to_owned(),
        other => format!("{} of the event", other.replace('_', " ")),
    }
}

fn doc_for(field: &ShapeField) -> String {
    if field.pii_tag {
        format!("[PII] {}", describe(&field.name))
    } else {
        describe(&field.name)
    }
}

/// JSON with object keys in insertion order (Avro schemas conventionally start with
/// `"type"` and `"name"`; `serde_json` without `preserve_order` would sort them).
enum J {
    Raw(Json),
    Obj(Vec<(&'static str, J)>),
    Arr(Vec<J>),
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Raw(v) => out.push_str(&v.to_string()),
            J::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Json::from(*k).to_string());
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
        }
    }
}

/// A type with its documentation in a `connect.doc` attribute (Kafka Connect style).
fn with_connect_doc(ty: &Json, doc: &str) -> J {
    match ty {
        Json::String(_) => J::Obj(vec![
            ("type", J::Raw(ty.clone())),
            ("connect.doc", J::Raw(json!(doc))),
        ]),
        Json::Object(m) => J::Obj(vec![
            ("type", J::Raw(m["type"].clone())),
            ("items", J::Raw(m["items"].clone())),
            ("connect.doc", J::Raw(json!(doc))),
        ]),
        other => panic!("unexpected type {other}"),
    }
}

impl Shape {
    /// The 2021-06-30 Kafka-Connect-style variant (namespace `users.messages.email`).
    pub fn is_kafka_connect(&self) -> bool {
        self.namespace == "users.messages.email"
    }

    /// Index of a field by name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The Avro writer schema JSON, fields in exactly the shape's order.
    pub fn schema_json(&self) -> String {
        let connect = self.is_kafka_connect();
        let fields: Vec<J> = self
            .fields
            .iter()
            .map(|f| {
                let doc = doc_for(f);
                let mut m = vec![("name", J::Raw(json!(f.name)))];
                if connect {
                    let ty = match &f.ty {
                        Json::Array(branches) => J::Arr(
                            branches
                                .iter()
                                .map(|b| {
                                    if b == "null" {
                                        J::Raw(b.clone())
                                    } else {
                                        with_connect_doc(b, &doc)
                                    }
                                })
                                .collect(),
                        ),
                        other => with_connect_doc(other, &doc),
                    };
                    m.push(("type", ty));
                } else {
                    m.push(("type", J::Raw(f.ty.clone())));
                    m.push(("doc", J::Raw(json!(doc))));
                }
                if f.has_default {
                    m.push(("default", J::Raw(Json::Null)));
                }
                J::Obj(m)
            })
            .collect();
        let mut root = vec![
            ("type", J::Raw(json!("record"))),
            ("name", J::Raw(json!(self.record))),
            ("namespace", J::Raw(json!(self.namespace))),
        ];
        let doc = json!(format!("{} event", self.event_type));
        if !connect {
            root.push(("doc", J::Raw(doc.clone())));
        }
        root.push(("fields", J::Arr(fields)));
        if connect {
            root.push(("connect.doc", J::Raw(doc)));
            root.push(("connect.version", J::Raw(json!(1))));
            root.push((
                "connect.name",
                J::Raw(json!(format!("{}.{}", self.namespace, self.record))),
            ));
        }
        let mut out = String::new();
        J::Obj(root).write(&mut out);
        out
    }
}

/// The Avro type of a field, as far as values are concerned.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `string`
    Str,
    /// `int`
    Int,
    /// `long`
    Long,
    /// `boolean`
    Bool,
    /// `double`
    Double,
    /// `{"type":"array","items":K}`
    Array(Box<Kind>),
    /// `["null", K]`
    Nullable(Box<Kind>),
}

impl Kind {
    /// Parses a shape type JSON.
    pub fn parse(ty: &Json) -> Kind {
        match ty {
            Json::String(s) => match s.as_str() {
                "string" => Kind::Str,
                "int" => Kind::Int,
                "long" => Kind::Long,
                "boolean" => Kind::Bool,
                "double" => Kind::Double,
                other => panic!("unexpected primitive {other}"),
            },
            Json::Array(b) => {
                assert_eq!(b.len(), 2, "unions are [null, T]");
                assert_eq!(b[0], "null");
                Kind::Nullable(Box::new(Kind::parse(&b[1])))
            }
            Json::Object(m) => {
                assert_eq!(m["type"], "array");
                Kind::Array(Box::new(Kind::parse(&m["items"])))
            }
            other => panic!("unexpected type {other}"),
        }
    }
}

/// An expected value, independent of the decoder under test.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// Avro null.
    Null,
    /// A string.
    Str(String),
    /// An int or long (times are UNIX seconds).
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A double.
    Double(f64),
    /// An array.
    Array(Vec<Val>),
}

impl Val {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    fn to_avro(&self, kind: &Kind) -> Avro {
        match (kind, self) {
            (Kind::Nullable(_), Val::Null) => Avro::Union(0, Box::new(Avro::Null)),
            (Kind::Nullable(k), v) => Avro::Union(1, Box::new(v.to_avro(k))),
            (Kind::Str, Val::Str(s)) => Avro::String(s.clone()),
            (Kind::Int, Val::Int(i)) => {
                Avro::Int(i32::try_from(*i).expect("generated ints fit in i32"))
            }
            (Kind::Long, Val::Int(i)) => Avro::Long(*i),
            (Kind::Bool, Val::Bool(b)) => Avro::Boolean(*b),
            (Kind::Double, Val::Double(d)) => Avro::Double(*d),
            (Kind::Array(k), Val::Array(items)) => {
                Avro::Array(items.iter().map(|v| v.to_avro(k)).collect())
            }
            (k, v) => panic!("value {v:?} does not fit {k:?}"),
        }
    }
}

/// Codec of a generated file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenCodec {
    /// `null`
    Null,
    /// `deflate` (raw deflate, as the Avro spec says)
    Deflate,
}

impl GenCodec {
    /// Both codecs.
    pub const ALL: [GenCodec; 2] = [GenCodec::Null, GenCodec::Deflate];

    fn avro(self) -> apache_avro::Codec {
        match self {
            GenCodec::Null => apache_avro::Codec::Null,
            GenCodec::Deflate => apache_avro::Codec::Deflate(DeflateSettings::default()),
        }
    }

    /// The `avro.codec` name.
    pub fn name(self) -> &'static str {
        match self {
            GenCodec::Null => "null",
            GenCodec::Deflate => "deflate",
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Number of records.
    pub records: usize,
    /// Seed of the `Pcg64` that draws every value.
    pub seed: u64,
    /// Codec.
    pub codec: GenCodec,
    /// Uncompressed bytes after which a block is closed (apache-avro's `block_size`;
    /// Java's Avro and Kafka Connect use 64,000).
    pub block_bytes: usize,
    /// Extra metadata entries in the header.
    pub metadata: Vec<(String, Vec<u8>)>,
    /// Probability that a generated campaign/canvas/step/variation name contains a
    /// non-ASCII word (`Été`, `Día`, `Größe`, `🎉`, `セール`). Tests use a high rate
    /// for UTF-8 coverage; Braze data from English-language workspaces is mostly ASCII.
    pub non_ascii_names: f64,
}

impl GenOptions {
    /// `records` records, `seed`, `codec`, blocks of about 4 KB (several blocks per file).
    pub fn new(records: usize, seed: u64, codec: GenCodec) -> Self {
        GenOptions {
            records,
            seed,
            codec,
            block_bytes: 4096,
            metadata: Vec::new(),
            non_ascii_names: 0.5,
        }
    }
}

/// A block as written: where it starts and what its header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// File offset of the block's record count.
    pub offset: usize,
    /// Record count.
    pub count: u64,
    /// File offset of the (compressed) data.
    pub data_offset: usize,
    /// Length of the (compressed) data.
    pub data_len: usize,
    /// File offset just past the 16-byte sync marker.
    pub end: usize,
}

/// A generated file and the values written into it.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The shape it was written with.
    pub shape: Shape,
    /// The OCF bytes.
    pub bytes: Vec<u8>,
    /// The writer schema JSON as stored in the header.
    pub schema_json: String,
    /// Per record, the values in shape field order.
    pub records: Vec<Vec<Val>>,
    /// Length of the header (magic, metadata, sync marker).
    pub header_len: usize,
    /// The sync marker.
    pub sync: [u8; 16],
    /// The blocks, in file order.
    pub blocks: Vec<BlockInfo>,
}

impl Generated {
    /// The value of field `name` in record `rec`, or `None` when the shape lacks the field.
    pub fn value(&self, rec: usize, name: &str) -> Option<&Val> {
        self.shape.field_index(name).map(|i| &self.records[rec][i])
    }

    /// Every personal string written into the file (user ids, emails, external ids,
    /// free-text fields that embed them, user agents, device ids, custom attributes):
    /// none may appear in PII-free output. Short values (`"F"`, `"US"`) are left out
    /// because they would match by accident.
    pub fn personal_strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for rec in &self.records {
            for (f, v) in self.shape.fields.iter().zip(rec) {
                let personal = f.pii_tag
                    || PERSONAL_FIELDS.contains(&f.name.as_str())
                    || f.name == "url"
                    || f.name.ends_with("_custom_attributes");
                if personal {
                    collect_strings(v, &mut out);
                }
            }
        }
        out.retain(|s| s.len() >= 12);
        out.sort();
        out.dedup();
        out
    }
}

fn collect_strings(v: &Val, out: &mut Vec<String>) {
    match v {
        Val::Str(s) => out.push(s.clone()),
        Val::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

/// Fields that hold personal or quasi-identifying data in every shape.
pub const PERSONAL_FIELDS: &[&str] = &[
    "user_id",
    "external_user_id",
    "email_address",
    "message_extras",
    "bounce_reason",
    "deferral_reason",
    "abort_log",
    "retry_log",
    "gender",
    "country",
    "language",
    "device_id",
    "user_agent",
];

/// Appends an Avro `long` (zig-zag varint).
pub fn put_long(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Appends Avro `bytes`/`string`.
pub fn put_bytes(b: &[u8], out: &mut Vec<u8>) {
    put_long(b.len() as i64, out);
    out.extend_from_slice(b);
}

/// Reads an Avro `long` at `*pos` (test helper, panics on bad input).
pub fn get_long(bytes: &[u8], pos: &mut usize) -> i64 {
    let mut z: u64 = 0;
    let mut shift = 0;
    loop {
        let b = bytes[*pos];
        *pos += 1;
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// An OCF header: magic, metadata map (`avro.schema`, `avro.codec`, extras), sync marker.
pub fn ocf_header(
    schema_json: &str,
    codec: &str,
    metadata: &[(String, Vec<u8>)],
    sync: [u8; 16],
) -> Vec<u8> {
    let mut out = b"Obj\x01".to_vec();
    put_long(2 + metadata.len() as i64, &mut out);
    put_bytes(b"avro.schema", &mut out);
    put_bytes(schema_json.as_bytes(), &mut out);
    put_bytes(b"avro.codec", &mut out);
    put_bytes(codec.as_bytes(), &mut out);
    for (k, v) in metadata {
        put_bytes(k.as_bytes(), &mut out);
        put_bytes(v, &mut out);
    }
    put_long(0, &mut out);
    out.extend_from_slice(&sync);
    out
}

/// Walks the blocks of a well-formed OCF file whose header is `header_len` bytes long.
pub fn walk_blocks(bytes: &[u8], header_len: usize) -> Vec<BlockInfo> {
    let mut blocks = Vec::new();
    let mut pos = header_len;
    while pos < bytes.len() {
        let offset = pos;
        let count = get_long(bytes, &mut pos) as u64;
        let len = get_long(bytes, &mut pos) as usize;
        let data_offset = pos;
        pos += len + 16;
        blocks.push(BlockInfo {
            offset,
            count,
            data_offset,
            data_len: len,
            end: pos,
        });
    }
    blocks
}

/// Writes an OCF file of `shape` with the given values (which must fit the shape).
pub fn write_ocf<R: AsRef<[Val]>>(
    shape: &Shape,
    records: impl IntoIterator<Item = R>,
    codec: GenCodec,
    block_bytes: usize,
    sync: [u8; 16],
    metadata: &[(String, Vec<u8>)],
) -> (Vec<u8>, usize) {
    let schema_json = shape.schema_json();
    let schema = Schema::parse_str(&schema_json).expect("apache-avro parses the shape schema");
    let header = ocf_header(&schema_json, codec.name(), metadata, sync);
    let header_len = header.len();
    let kinds: Vec<Kind> = shape.fields.iter().map(|f| Kind::parse(&f.ty)).collect();
    let mut writer = Writer::builder()
        .schema(&schema)
        .writer(header)
        .codec(codec.avro())
        .block_size(block_bytes)
        .marker(sync)
        .has_header(true)
        .build()
        .expect("writer builds");
    for rec in records {
        let fields = shape
            .fields
            .iter()
            .zip(&kinds)
            .zip(rec.as_ref())
            .map(|((f, k), v)| (f.name.clone(), v.to_avro(k)))
            .collect();
        writer
            .append_value(Avro::Record(fields))
            .expect("apache-avro writes the record");
    }
    (writer.into_inner().expect("flush"), header_len)
}

/// Generates a file of `shape` with realistic, seeded values.
pub fn generate(shape: &Shape, opts: &GenOptions) -> Generated {
    let mut rng = Pcg64::seed_from_u64(opts.seed);
    let mut sync = [0u8; 16];
    rng.fill_bytes(&mut sync);
    let mut g = ValueGen::new(shape, opts.non_ascii_names);
    let records: Vec<Vec<Val>> = (0..opts.records)
        .map(|_| g.record(shape, &mut rng))
        .collect();
    let (bytes, header_len) = write_ocf(
        shape,
        &records,
        opts.codec,
        opts.block_bytes,
        sync,
        &opts.metadata,
    );
    let blocks = walk_blocks(&bytes, header_len);
    Generated {
        shape: shape.clone(),
        schema_json: shape.schema_json(),
        bytes,
        records,
        header_len,
        sync,
        blocks,
    }
}

/// The same bytes as [`generate`] (same seed, same values), without keeping the
/// values: for large benchmark files. Returns the bytes and the blocks.
pub fn generate_file(shape: &Shape, opts: &GenOptions) -> (Vec<u8>, Vec<BlockInfo>) {
    let mut rng = Pcg64::seed_from_u64(opts.seed);
    let mut sync = [0u8; 16];
    rng.fill_bytes(&mut sync);
    let mut g = ValueGen::new(shape, opts.non_ascii_names);
    let records = (0..opts.records).map(|_| g.record(shape, &mut rng));
    let (bytes, header_len) = write_ocf(
        shape,
        records,
        opts.codec,
        opts.block_bytes,
        sync,
        &opts.metadata,
    );
    let blocks = walk_blocks(&bytes, header_len);
    (bytes, blocks)
}

// ---------------------------------------------------------------------------------------
// Values

fn hex<R: Rng + ?Sized>(rng: &mut R, n: usize) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    (0..n)
        .map(|_| H[rng.random_range(0..16usize)] as char)
        .collect()
}

fn uuid<R: Rng + ?Sized>(rng: &mut R) -> String {
    let h = hex(rng, 32);
    let variant = ["8", "9", "a", "b"][rng.random_range(0..4usize)];
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        variant,
        &h[17..20],
        &h[20..32]
    )
}

fn pick<'a, R: Rng + ?Sized>(rng: &mut R, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0 Thunderbird/115.10.1 Lightning/115",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36 Edg/123.0",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy) GoogleImageProxy/1.0",
    "Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
];

const FIRST: &[&str] = &[
    "jane", "john", "maria", "li", "ahmed", "sofia", "lukas", "chloe", "mateo", "aiko", "zoe",
];
const LAST: &[&str] = &[
    "doe", "smith", "garcia", "wang", "khan", "rossi", "muller", "martin", "silva", "sato",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "icloud.com",
    "example.org",
    "acme-corp.co.uk",
];
const WORDS: &[&str] = &[
    "Spring",
    "Sale",
    "Welcome",
    "Series",
    "Win-back",
    "Newsletter",
    "Flash",
    "Deal",
    "Onboarding",
    "Reminder",
    "Cart",
    "Loyalty",
];

/// Per-file state: pools of campaign-level values (a file holds a few campaigns and
/// canvases, so these repeat, which makes deflate ratios realistic).
struct ValueGen {
    pools: HashMap<String, Vec<String>>,
    base_time: i64,
    non_ascii_names: f64,
}

const NON_ASCII_WORDS: &[&str] = &["Été", "Día", "Größe", "🎉", "セール"];

/// Fields whose value is unique per event (never pooled).
fn is_unique(name: &str) -> bool {
    matches!(
        name,
        "id" | "user_id"
            | "external_user_id"
            | "email_address"
            | "url"
            | "message_extras"
            | "bounce_reason"
            | "deferral_reason"
            | "abort_log"
            | "retry_log"
            | "device_id"
            | "user_agent"
            | "recipient_domain"
    )
}

struct RecordCtx {
    non_ascii_names: f64,
    time: i64,
    email: String,
    user_id: String,
    external: String,
}

impl ValueGen {
    fn new(shape: &Shape, non_ascii_names: f64) -> Self {
        let date = NaiveDate::parse_from_str(&shape.first_seen, "%Y-%m-%d").expect("date");
        let base_time = Utc
            .from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
            .timestamp();
        ValueGen {
            pools: HashMap::new(),
            base_time,
            non_ascii_names,
        }
    }

    fn record<R: Rng + ?Sized>(&mut self, shape: &Shape, rng: &mut R) -> Vec<Val> {
        let first = pick(rng, FIRST);
        let last = pick(rng, LAST);
        let n: u32 = rng.random_range(1..100_000);
        let ctx = RecordCtx {
            non_ascii_names: self.non_ascii_names,
            time: self.base_time + rng.random_range(0..30 * 86_400),
            email: format!("{first}.{last}{n}@{}", pick(rng, DOMAINS)),
            user_id: hex(rng, 24),
            external: format!("crm-{}", hex(rng, 12)),
        };
        shape
            .fields
            .iter()
            .map(|f| self.value(&f.name, &Kind::parse(&f.ty), &ctx, rng))
            .collect()
    }

    fn value<R: Rng + ?Sized>(
        &mut self,
        name: &str,
        kind: &Kind,
        ctx: &RecordCtx,
        rng: &mut R,
    ) -> Val {
        match kind {
            Kind::Nullable(inner) => {
                if rng.random_bool(NULL_RATE) {
                    Val::Null
                } else {
                    self.value(name, inner, ctx, rng)
                }
            }
            Kind::Str => Val::Str(self.string(name, ctx, rng)),
            Kind::Int | Kind::Long => Val::Int(match name {
                "time" => ctx.time,
                // minutes to days before the event
                "send_time" => ctx.time - rng.random_range(30..4 * 86_400),
                "attempt_count" => rng.random_range(1..8),
                _ => rng.random_range(1_500_000_000..1_800_000_000),
            }),
            Kind::Bool => Val::Bool(match name {
                "is_suspected_bot_click" => rng.random_bool(0.1),
                _ => rng.random_bool(0.5),
            }),
            Kind::Double => Val::Double(f64::from(rng.random_range(0..100_000u32)) / 100.0),
            Kind::Array(item) => {
                if name == "suspected_bot_click_reason" {
                    let mut reasons = Vec::new();
                    if rng.random_bool(0.3) {
                        reasons.push(Val::Str("user_agent".to_owned()));
                    }
                    if rng.random_bool(0.2) {
                        reasons.push(Val::Str("ip_address".to_owned()));
                    }
                    Val::Array(reasons)
                } else {
                    let n = rng.random_range(0..4usize);
                    Val::Array(
                        (0..n)
                            .map(|i| self.value(&format!("{name}[{i}]"), item, ctx, rng))
                            .collect(),
                    )
                }
            }
        }
    }

    fn string<R: Rng + ?Sized>(&mut self, name: &str, ctx: &RecordCtx, rng: &mut R) -> String {
        if is_unique(name) || name.contains('[') {
            return fresh_string(name, ctx, rng);
        }
        let size = match name {
            "app_group_id" | "app_group_api_id" | "from_domain" | "machine_open" => 1,
            "esp" | "ip_pool" | "timezone" | "device_class" | "device_os" | "device_model"
            | "browser" | "mailbox_provider" | "abort_type" | "retry_type" | "gender"
            | "country" | "language" => 8,
            // A five-minute file spans many campaigns, canvases, steps and links.
            _ => 120,
        };
        if !self.pools.contains_key(name) {
            let pool = (0..size).map(|_| fresh_string(name, ctx, rng)).collect();
            self.pools.insert(name.to_owned(), pool);
        }
        let pool = &self.pools[name];
        pool[rng.random_range(0..pool.len())].clone()
    }
}

fn url<R: Rng + ?Sized>(ctx: &RecordCtx, rng: &mut R) -> String {
    loop {
        let host = pick(
            rng,
            &[
                "https://www.acme-shop.com",
                "https://shop.example.com",
                "http://blog.example.org",
            ],
        );
        let mut u = format!(
            "{host}/{}/{}-{}?utm_source=braze&utm_medium=email&utm_campaign={}",
            pick(rng, &["products", "collections", "blog", "c"]),
            pick(rng, &["summer", "shoes", "new-in", "gift-guide"]),
            rng.random_range(1..10_000u32),
            pick(rng, &["spring_sale", "welcome", "winback_q3"]),
        );
        if rng.random_bool(0.7) {
            u.push_str(&format!("&lid={}", hex(rng, 8)));
        }
        if rng.random_bool(0.5) {
            u.push_str(&format!(
                "&dov=v{}.{}",
                rng.random_range(1..6u32),
                ctx.time - 3600
            ));
        }
        if rng.random_bool(0.1) {
            u.push_str(&format!("&email={}", ctx.email.replace('@', "%40")));
        }
        if rng.random_bool(0.05) {
            u.push_str(&format!("&uid={}", ctx.user_id));
        }
        if (60..=120).contains(&u.len()) {
            return u;
        }
    }
}

fn user_agent<R: Rng + ?Sized>(rng: &mut R) -> String {
    let base = pick(rng, USER_AGENTS);
    // Vary the version numbers like real traffic does.
    let mut out = String::with_capacity(base.len() + 8);
    for (i, part) in base.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        if i % 2 == 1 && part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() {
            out.push_str(&rng.random_range(0..200u32).to_string());
        } else {
            out.push_str(part);
        }
    }
    out
}

fn name_string<R: Rng + ?Sized>(non_ascii: f64, rng: &mut R) -> String {
    let n = rng.random_range(2..5usize);
    let mut words: Vec<&str> = (0..n).map(|_| pick(rng, WORDS)).collect();
    if rng.random_bool(non_ascii) {
        let at = rng.random_range(0..n);
        words[at] = pick(rng, NON_ASCII_WORDS);
    }
    format!("{} {}", words.join(" "), rng.random_range(2018..2027u32))
}

fn fresh_string<R: Rng + ?Sized>(name: &str, ctx: &RecordCtx, rng: &mut R) -> String {
    let domain = ctx.email.rsplit('@').next().unwrap_or("example.com");
    match name {
        "id" | "device_id" => uuid(rng),
        "user_id" => ctx.user_id.clone(),
        "external_user_id" => ctx.external.clone(),
        "email_address" => ctx.email.clone(),
        "url" => url(ctx, rng),
        "user_agent" => user_agent(rng),
        "message_extras" => format!(
            "{{\"coupon\":\"SAVE-{}\",\"customer\":\"{}\"}}",
            hex(rng, 6),
            ctx.external
        ),
        "bounce_reason" => format!(
            "550 5.1.1 <{}>: Recipient address rejected: User unknown",
            ctx.email
        ),
        "deferral_reason" => format!(
            "421 4.7.28 [{}] Our system has detected an unusual rate of mail for <{}>",
            ctx.user_id, ctx.email
        ),
        "abort_log" => format!(
            "Liquid abort_message for {}: no coupon left for {}",
            ctx.external, ctx.email
        ),
        "retry_log" => format!("Retrying send to {} (user {})", ctx.email, ctx.user_id),
        "recipient_domain" => domain.to_owned(),
        "timezone" => pick(
            rng,
            &[
                "America/New_York",
                "Europe/Berlin",
                "Asia/Tokyo",
                "America/Los_Angeles",
                "Europe/London",
                "Australia/Sydney",
            ],
        )
        .to_owned(),
        "ip_pool" => format!("marketing_pool_{}", rng.random_range(1..4u32)),
        "sending_ip" => format!(
            "168.245.{}.{}",
            rng.random_range(0..256u32),
            rng.random_range(1..255u32)
        ),
        "esp" => pick(rng, &["sendgrid", "sparkpost", "amazon_ses"]).to_owned(),
        "from_domain" => "mail.acme-shop.com".to_owned(),
        "link_alias" => format!(
            "{}_{}",
            pick(rng, &["cta_button", "hero_image", "footer_link", "product"]),
            rng.random_range(1..5u32)
        ),
        "machine_open" => "true".to_owned(),
        "device_class" => pick(rng, &["desktop", "mobile", "tablet"]).to_owned(),
        "device_os" => pick(rng, &["iOS", "Android", "Windows", "Mac OS X"]).to_owned(),
        "device_model" => pick(rng, &["iPhone", "Pixel 8", "Galaxy S23", "iPad"]).to_owned(),
        "browser" => pick(rng, &["Chrome", "Safari", "Firefox", "Edge"]).to_owned(),
        "mailbox_provider" => pick(rng, &["Gmail", "Yahoo", "Outlook", "Apple"]).to_owned(),
        "abort_type" => {
            pick(rng, &["liquid_abort_message", "rate_limit", "quiet_hours"]).to_owned()
        }
        "retry_type" => pick(rng, &["rate_limited", "connection_error"]).to_owned(),
        "gender" => pick(rng, &["F", "M", "O", "N"]).to_owned(),
        "country" => pick(rng, &["US", "DE", "JP", "BR", "FR"]).to_owned(),
        "language" => pick(rng, &["en", "de", "ja", "pt", "fr"]).to_owned(),
        n if n.ends_with("_api_id") => uuid(rng),
        n if n.ends_with("_id") => hex(rng, 24),
        n if n.ends_with("_name") => name_string(ctx.non_ascii_names, rng),
        n if n.starts_with("string_custom_attributes") => {
            format!("{} {}", pick(rng, WORDS), hex(rng, 10))
        }
        other => format!("{other}-{}", hex(rng, 8)),
    }
}
