//! The three Braze conversion event types (see docs/design.md, *Currents
//! decoding* and *PII policy and filter*): how a file's event type is found when
//! all three share the record name `Conversion`, object keys in Braze's prefix
//! layout, hostile custom attribute arrays, and privacy: personal values planted
//! in every personal position of every published conversion schema never reach
//! a clean event, `sanitize`'s output or `inspect`.

#[path = "support/cli.rs"]
mod cli;
mod common;

use std::process::Command;

use common::fixtures::{self as fx, Shape};
use common::records::{ShapeField, TVal, fields_of, file, schema};
use dynopt::currents::{
    Codec, DecodeErrorKind, DecodeOptions, Event, EventType, ObjectKey, Reader, decode_file,
    encode_long, encode_str,
};
use dynopt::pii::{Filter, Policy, Pseudonymizer, SanitizeOptions, sanitize};
use proptest::prelude::*;

const T0: i64 = 1_767_225_600; // 2026-01-01

const CONVERSIONS: [EventType; 3] = [
    EventType::CampaignConversion,
    EventType::CanvasConversion,
    EventType::ExperimentStepConversion,
];

/// The newest published schema of a conversion type.
fn newest(et: EventType) -> Shape {
    fx::conversion_shapes()
        .into_iter()
        .filter(|s| s.event_type == et.name())
        .max_by_key(|s| s.first_seen.clone())
        .expect("every conversion type has published schemas")
}

/// A value for every field: the required ones set, the rest null.
fn minimal(fields: &[ShapeField]) -> Vec<TVal> {
    fields
        .iter()
        .map(|f| match (f.name.as_str(), &f.ty) {
            ("time", _) => TVal::Long(T0),
            (name, serde_json::Value::String(t)) if t == "string" => TVal::Str(format!("v-{name}")),
            _ => TVal::Null,
        })
        .collect()
}

fn one_record_file(record: &str, ns: &str, fields: &[ShapeField]) -> Vec<u8> {
    let schema = schema(record, ns, fields);
    file(&schema, Codec::Null, &[], fields, &[vec![minimal(fields)]])
}

#[test]
fn the_namespace_tells_the_three_conversion_types_apart() {
    for et in CONVERSIONS {
        let fields = fields_of(&newest(et));
        let ns = et.namespace();
        let full = et.name();
        let inner = format!("dataexport.S3.inner.{ns}");
        let full_inner = format!("dataexport.S3.inner.{full}");
        for (record, namespace) in [
            ("Conversion", inner.as_str()),
            ("Conversion", ns),
            (full_inner.as_str(), ""),
            (full, ""),
            (full, "some.other.namespace"),
        ] {
            let bytes = one_record_file(record, namespace, &fields);
            let out = decode_file(&bytes, &DecodeOptions::default());
            assert!(
                out.error.is_none(),
                "{record} in `{namespace}`: {:?}",
                out.error
            );
            assert_eq!(out.event_type, Some(et), "{record} in `{namespace}`");
            assert_eq!(out.events[0].event_type(), et);
        }
    }
    // The email types keep their lenient record-name match in any namespace.
    assert_eq!(
        EventType::from_schema_name("users.campaigns.Click"),
        Some(EventType::Click)
    );
    assert_eq!(EventType::from_schema_name("Click"), Some(EventType::Click));
    for ambiguous in [
        "Conversion",
        "users.messages.email.Conversion",
        "dataexport.S3.inner.users.Conversion",
        "xusers.campaigns.Conversion",
    ] {
        assert_eq!(EventType::from_schema_name(ambiguous), None, "{ambiguous}");
    }
    assert_eq!(EventType::from_name("Conversion"), None);
    for et in CONVERSIONS {
        assert_eq!(EventType::from_name(et.name()), Some(et));
        assert_eq!(EventType::from_name(et.short_name()), Some(et));
        assert_eq!(et.record_name(), "Conversion");
        assert!(et.is_conversion());
    }
    assert_eq!(EventType::Click.record_name(), "Click");
    assert_eq!(EventType::Click.namespace(), "users.messages.email");
    assert!(!EventType::Click.is_conversion());
}

#[test]
fn a_bare_conversion_record_needs_the_object_keys_event_type() {
    let et = EventType::CanvasConversion;
    let fields = fields_of(&newest(et));
    let bytes = one_record_file("Conversion", "", &fields);
    let err = Reader::new(&bytes, &DecodeOptions::default()).expect_err("ambiguous");
    assert_eq!(*err.kind(), DecodeErrorKind::NotAnEmailEvent);

    let key = ObjectKey::parse(
        "currents/dataexport.prod-03.S3.integration.5a9e/event_type=users.canvas.Conversion/\
         date=2026-02-24-09/341/0/dataexport.prod-03.S3.integration.5a9e+0+12.avro",
    )
    .expect("a Braze key");
    assert_eq!(key.event_type, Some(et));
    let mut options = DecodeOptions::default();
    options.fallback_event_type = key.event_type;
    let out = decode_file(&bytes, &options);
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.event_type, Some(et));

    // Sanitizing writes the full name, so that the output decodes on its own.
    let sanitized = sanitize(
        &bytes,
        &SanitizeOptions::new().with_decode_options(options.clone()),
    )
    .expect("sanitizes");
    let reader = Reader::new(&sanitized.bytes, &DecodeOptions::default()).expect("decodes alone");
    assert_eq!(reader.event_type(), et);
    assert_eq!(reader.record_name(), et.name());
    // Sanitizing again gives the same bytes.
    let again = sanitize(&sanitized.bytes, &SanitizeOptions::new()).expect("sanitizes");
    assert_eq!(again.bytes, sanitized.bytes);
    // A file whose name says the type keeps its name.
    let named = one_record_file("Conversion", "users.canvas", &fields);
    let out = sanitize(&named, &SanitizeOptions::new()).expect("sanitizes");
    let reader = Reader::new(&out.bytes, &DecodeOptions::default()).expect("decodes");
    assert_eq!(reader.record_name(), "Conversion");
    assert_eq!(reader.namespace(), Some("users.canvas"));
}

#[test]
fn conversions_require_id_time_and_user_id_but_no_address() {
    for et in CONVERSIONS {
        let all = fields_of(&newest(et));
        assert!(!all.iter().any(|f| f.name == "email_address"));
        let bytes = one_record_file(et.record_name(), et.namespace(), &all);
        assert!(
            decode_file(&bytes, &DecodeOptions::default())
                .error
                .is_none()
        );
        for missing in ["id", "time", "user_id"] {
            let fields: Vec<ShapeField> =
                all.iter().filter(|f| f.name != missing).cloned().collect();
            let bytes = one_record_file(et.record_name(), et.namespace(), &fields);
            let err = Reader::new(&bytes, &DecodeOptions::default()).expect_err("refused");
            assert_eq!(*err.kind(), DecodeErrorKind::MissingRequiredField, "{et}");
            assert_eq!(err.field(), Some(missing));
        }
    }
}

/// A 2021-style Canvas conversion whose `string_custom_attributes` field has
/// the writer type `ty`, with the attribute bytes `attrs` (after the union branch).
fn canvas_file_with_attributes(ty: &str, attrs: &[u8]) -> Vec<u8> {
    let schema = format!(
        r#"{{"type":"record","name":"Conversion","namespace":"users.canvas","fields":[
        {{"name":"id","type":"string"}},{{"name":"user_id","type":"string"}},
        {{"name":"time","type":"int"}},
        {{"name":"string_custom_attributes","type":["null",{ty}],"default":null}}]}}"#
    );
    let w = dynopt::currents::OcfWriter::new(&schema, Codec::Null, &[], [3; 16]);
    let mut out = Vec::new();
    w.header(&mut out);
    let mut rec = Vec::new();
    encode_str("ev-1", &mut rec);
    encode_str("5f1a2b3c4d5e6f7a8b9c0d1e", &mut rec);
    encode_long(T0, &mut rec);
    encode_long(1, &mut rec);
    rec.extend_from_slice(attrs);
    w.write_block(1, &rec, &mut out);
    out
}

#[test]
fn hostile_custom_attribute_arrays_give_typed_errors() {
    let items = r#"{"type":"array","items":["null","string"]}"#;
    let mut huge = Vec::new();
    encode_long(i64::MAX / 4, &mut huge); // a count no block holds
    let mut negative_size = Vec::new();
    encode_long(-3, &mut negative_size);
    encode_long(1 << 40, &mut negative_size); // a byte size beyond the block
    let mut bad_branch = Vec::new();
    encode_long(1, &mut bad_branch);
    encode_long(7, &mut bad_branch); // branch 7 of a 2-branch union
    for (what, bytes) in [
        ("huge count", huge),
        ("negative count, huge size", negative_size),
        ("bad branch", bad_branch),
    ] {
        let out = decode_file(
            &canvas_file_with_attributes(items, &bytes),
            &DecodeOptions::default(),
        );
        let e = out.error.expect(what);
        assert_eq!(e.field(), Some("string_custom_attributes"), "{what}: {e}");
        assert!(out.events.is_empty());
    }
    // Values nested deeper than the limit (a recursive item type).
    let recursive = r#"{"type":"array","items":{"type":"record","name":"R",
        "fields":[{"name":"next","type":["null","R"]}]}}"#;
    let mut nested = Vec::new();
    encode_long(1, &mut nested);
    for _ in 0..100 {
        encode_long(1, &mut nested);
    }
    encode_long(0, &mut nested);
    encode_long(0, &mut nested);
    let file = canvas_file_with_attributes(recursive, &nested);
    let out = decode_file(&file, &DecodeOptions::default());
    assert_eq!(
        out.error.map(|e| e.kind().clone()),
        Some(DecodeErrorKind::TooDeep)
    );
    let mut opts = DecodeOptions::default();
    opts.max_depth = 256;
    assert!(
        decode_file(&file, &opts).error.is_none(),
        "within a larger limit"
    );
    // A type that is not an array cannot be read as custom attributes.
    let err = Reader::new(
        &canvas_file_with_attributes(r#""string""#, &[]),
        &DecodeOptions::default(),
    )
    .expect_err("refused");
    assert_eq!(*err.kind(), DecodeErrorKind::IncompatibleFieldType);
    // A well-formed one decodes, held as its bytes, wrapped.
    let mut ok = Vec::new();
    encode_long(1, &mut ok);
    encode_long(1, &mut ok);
    encode_str("gold-tier-member", &mut ok);
    encode_long(0, &mut ok);
    let out = decode_file(
        &canvas_file_with_attributes(items, &ok),
        &DecodeOptions::default(),
    );
    assert!(out.error.is_none(), "{:?}", out.error);
    let Event::CanvasConversion(c) = &out.events[0] else {
        panic!("a Canvas conversion");
    };
    let raw = c.string_custom_attributes.as_ref().expect("present");
    assert_eq!(&**raw.expose(), ok.as_slice());
    assert!(!format!("{:?}", out.events).contains("gold-tier"));
}

/// `s` under one of several encodings (raw, percent, base64, reversed case).
fn encode_as(s: &str, how: u8) -> String {
    match how % 3 {
        0 => s.to_owned(),
        1 => s.bytes().map(|b| format!("%{b:02X}")).collect(),
        _ => s.to_ascii_uppercase(),
    }
}

/// A record of `shape` with personal values planted in every personal position,
/// and (`behavior`) the user id inside the kept `conversion_behavior` text.
fn planted_record(shape: &Shape, p: &Planted, behavior: bool) -> Vec<TVal> {
    fields_of(shape)
        .iter()
        .map(|f| {
            let name = f.name.as_str();
            let string = |s: String| TVal::Str(s);
            let optional = f.ty.is_array();
            match name {
                "id" => string("ev-0001".into()),
                "time" => TVal::Long(T0),
                "user_id" => string(p.user_id.clone()),
                "external_user_id" => string(p.external.clone()),
                "device_id" => string(p.device.clone()),
                "gender" | "country" | "language" => string(format!("{}{name}", p.profile)),
                "conversion_behavior_index" => TVal::Long(1),
                "conversion_behavior" if behavior => string(format!(
                    r#"{{"type":"custom_event","name":"{}"}}"#,
                    encode_as(&p.user_id, p.how)
                )),
                n if n.ends_with("_custom_attributes") => {
                    let item = match n {
                        "string_custom_attributes" => string(p.attribute.clone()),
                        "boolean_custom_attributes" => TVal::Bool(true),
                        "time_custom_attributes" => TVal::Long(T0),
                        _ => TVal::Double(1.5),
                    };
                    TVal::List(vec![item, TVal::Null])
                }
                _ if optional || f.ty == "string" => string(format!("k-{name}")),
                _ => TVal::Null,
            }
        })
        .collect()
}

#[derive(Debug)]
struct Planted {
    user_id: String,
    external: String,
    device: String,
    profile: String,
    attribute: String,
    how: u8,
}

impl Planted {
    fn probes(&self) -> Vec<String> {
        let mut v = vec![
            self.user_id.clone(),
            self.external.clone(),
            self.device.clone(),
            self.attribute.clone(),
            encode_as(&self.user_id, self.how),
        ];
        for f in ["gender", "country", "language"] {
            v.push(format!("{}{f}", self.profile));
        }
        v.into_iter().map(|s| s.to_ascii_lowercase()).collect()
    }
}

fn conversion_file(shape: &Shape, p: &Planted, behavior: bool, codec: Codec) -> Vec<u8> {
    let fields = fields_of(shape);
    let rec = planted_record(shape, p, behavior);
    // The generator's own schema (Kafka-Connect style for the 2021 variant, `[PII]`
    // tags where the facts have them).
    let schema = shape.schema_json();
    file(
        &schema,
        codec,
        &[],
        &fields,
        &[vec![rec.clone()], vec![rec]],
    )
}

/// Everything the library emits for `bytes`, lowercased.
fn library_outputs(bytes: &[u8], et: EventType, p: &Planted) -> String {
    let mut all = String::new();
    let filter = Filter::new(Policy::new()).with_pseudonymizer(Pseudonymizer::keyed(b"k"));
    let clean = filter.clean_file(bytes, &DecodeOptions::default());
    assert!(clean.error.is_none(), "{:?}", clean.error);
    assert_eq!(clean.event_type, Some(et));
    for e in &clean.events {
        all.push_str(&serde_json::to_string(e).expect("clean events serialise"));
        all.push_str(&format!("{e:?}"));
        // Not vacuous: the kept conversion fields are carried.
        assert_eq!(e.conversion_behavior_index, Some(1));
        assert!(e.recipient_key.is_some());
        assert!(e.campaign_id.is_some() || e.canvas_id.is_some());
    }
    // Raw events wrap every personal field (the kept `conversion_behavior` text
    // is the filter's to judge, so the user id planted there is left out here).
    let raw = format!("{:?}", decode_file(bytes, &DecodeOptions::default()).events);
    all.push_str(
        &raw.replace(&p.user_id, "")
            .replace(&encode_as(&p.user_id, p.how), ""),
    );
    for options in [
        SanitizeOptions::new(),
        SanitizeOptions::new().with_pseudonymizer(Pseudonymizer::keyed(b"k")),
    ] {
        let out = sanitize(bytes, &options).expect("sanitizes");
        all.push_str(&String::from_utf8_lossy(&out.bytes));
        let mut reader = Reader::new(&out.bytes, &DecodeOptions::default()).expect("decodes");
        while let Some(block) = reader.next_block() {
            all.push_str(&String::from_utf8_lossy(block.expect("block").data()));
        }
        let again = Filter::default().clean_file(&out.bytes, &DecodeOptions::default());
        assert!(again.error.is_none(), "{:?}", again.error);
        for e in &again.events {
            all.push_str(&serde_json::to_string(e).expect("clean events serialise"));
        }
    }
    all.to_ascii_lowercase()
}

fn planted_strategy() -> impl Strategy<Value = Planted> {
    (
        "u[a-z0-9]{9,15}",
        "x[a-z0-9]{9,15}",
        "d[a-z0-9]{9,15}",
        "g[a-z]{8}",
        "a[a-z0-9]{9,15}",
        0u8..3,
    )
        .prop_map(
            |(user_id, external, device, profile, attribute, how)| Planted {
                user_id,
                external,
                device,
                profile,
                attribute,
                how,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Class: personal values of a conversion (user ids, device id, profile
    /// fields, custom attributes, and the user id inside kept text) in every
    /// published schema version, with both codecs.
    #[test]
    fn personal_conversion_values_never_leave(
        shape_index in 0..fx::conversion_shapes().len(),
        planted in planted_strategy(),
        behavior in any::<bool>(),
        deflate in any::<bool>(),
    ) {
        let shape = &fx::conversion_shapes()[shape_index];
        let et = EventType::from_name(&shape.event_type).expect("a conversion type");
        let codec = if deflate { Codec::Deflate } else { Codec::Null };
        let bytes = conversion_file(shape, &planted, behavior, codec);
        let all = library_outputs(&bytes, et, &planted);
        for probe in planted.probes() {
            prop_assert!(!all.contains(&probe), "{}: {probe} leaked", shape.label);
        }
    }
}

#[test]
fn every_version_planted_and_inspected() {
    let dir = cli::TempDir::new("conversions-inspect");
    let shapes = fx::conversion_shapes();
    let mut paths = Vec::new();
    let mut probes = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        let p = Planted {
            user_id: format!("uid{i:02}qwertyuiop"),
            external: format!("ext{i:02}asdfghjkl"),
            device: format!("dev{i:02}zxcvbnmlk"),
            profile: format!("prof{i:02}mnbvc"),
            attribute: format!("attr{i:02}poiuytrew"),
            how: (i % 3) as u8,
        };
        let et = EventType::from_name(&shape.event_type).expect("a conversion type");
        let bytes = conversion_file(shape, &p, i % 2 == 0, Codec::Deflate);
        // The library's outputs, every version.
        let all = library_outputs(&bytes, et, &p);
        for probe in p.probes() {
            assert!(!all.contains(&probe), "{}: {probe} leaked", shape.label);
        }
        // Named as Braze names it, under the prefix layout.
        let sub = format!("event_type={}/date=2026-02-24-09/0", shape.event_type);
        std::fs::create_dir_all(dir.0.join(&sub)).expect("temp dir");
        paths.push(dir.write(&format!("{sub}/x+0+{i}.avro"), &bytes));
        probes.extend(p.probes());
    }
    let out = Command::new(cli::example_bin("inspect"))
        .args(&paths)
        .output()
        .expect("inspect runs");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().count(), 2 * shapes.len());
    for (line, shape) in stdout.lines().step_by(2).zip(&shapes) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(v["event_type"], shape.event_type.as_str());
        assert_eq!(v["conversion_behavior_index"], 1);
    }
    let text = format!("{stdout}{stderr}").to_ascii_lowercase();
    for probe in &probes {
        assert!(!text.contains(probe), "inspect shows {probe}");
    }
}

/// The command-line tools read a bare `Conversion` file's type from its path.
#[test]
fn the_tools_take_a_bare_conversions_type_from_its_path() {
    let dir = cli::TempDir::new("conversions-bare");
    let et = EventType::ExperimentStepConversion;
    let bytes = one_record_file("Conversion", "", &fields_of(&newest(et)));
    let sub = format!("event_type={}/date=2026-02-24-09/0", et.name());
    std::fs::create_dir_all(dir.0.join(&sub)).expect("temp dir");
    let input = dir.write(&format!("{sub}/x+0+1.avro"), &bytes);
    let output = dir.0.join("clean.avro");
    let status = Command::new(cli::example_bin("sanitize"))
        .arg(&input)
        .arg(&output)
        .output()
        .expect("sanitize runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let clean = std::fs::read(&output).expect("written");
    let out = decode_file(&clean, &DecodeOptions::default());
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.event_type, Some(et));
    let inspected = Command::new(cli::example_bin("inspect"))
        .arg(&input)
        .output()
        .expect("inspect runs");
    assert!(inspected.status.success());
    let line = String::from_utf8(inspected.stdout).expect("UTF-8");
    assert!(
        line.starts_with(&format!("{{\"event_type\":\"{}\"", et.name())),
        "{line}"
    );
    // Without the path's help the file is refused, with a typed message.
    let plain = dir.write("plain.avro", &bytes);
    let refused = Command::new(cli::example_bin("inspect"))
        .arg(&plain)
        .output()
        .expect("inspect runs");
    assert_eq!(refused.status.code(), Some(1));
}
