//! The crate keeps one field list: every per-field table (the typed events,
//! `CleanEvent`, the filter's slots, `DEFAULT_ALLOWLIST`, `ALWAYS_PERSONAL`,
//! sanitize's output) is generated from it. These tests walk every field of
//! every event type through every table, so a field that one table knows and
//! another does not (a second, hand-kept list) fails here.

mod common;

use std::collections::BTreeSet;

use dynopt::currents::{
    Codec, DecodeOptions, EventType, FieldKind, FieldValue, OcfWriter, decode_file, encode_long,
    encode_opt_bool, encode_opt_long, encode_opt_str, encode_str, encode_str_array,
};
use dynopt::pii::{
    ALWAYS_PERSONAL, DEFAULT_ALLOWLIST, Filter, Policy, SanitizeOptions, default_allows, sanitize,
};

const T0: i64 = 1_767_225_600; // 2026-01-01

/// Braze's Avro type for a field of `kind`.
fn avro_type(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::RequiredString | FieldKind::RequiredPiiString => r#""string""#,
        FieldKind::RequiredTime => r#""int""#,
        FieldKind::Bool => r#"["null","boolean"],"default":null"#,
        FieldKind::Int | FieldKind::Time => r#"["null","int"],"default":null"#,
        FieldKind::StringList => r#"["null",{"type":"array","items":"string"}],"default":null"#,
        FieldKind::Attributes => {
            r#"["null",{"type":"array","items":["null","string"]}],"default":null"#
        }
        FieldKind::String | FieldKind::PiiString | FieldKind::Url => {
            r#"["null","string"],"default":null"#
        }
        other => panic!("a new field kind {other:?}: teach this test its Avro type"),
    }
}

/// A distinct value for field `i` named `name`, as a string the JSON of a
/// clean event would show.
fn string_value(name: &str) -> String {
    if name == "url" {
        "https://shop.example.com/spring?dov=1".to_owned()
    } else {
        format!("value-of-{name}")
    }
}

/// One file of `et` with every typed field, each with a distinct non-null value.
fn file_with_every_field(et: EventType) -> Vec<u8> {
    let fields: Vec<String> = et
        .fields()
        .iter()
        .map(|f| format!(r#"{{"name":"{}","type":{}}}"#, f.name, avro_type(f.kind)))
        .collect();
    let schema = format!(
        r#"{{"type":"record","name":"{}","namespace":"dataexport.S3.inner.{}","fields":[{}]}}"#,
        et.record_name(),
        et.namespace(),
        fields.join(",")
    );
    let mut rec = Vec::new();
    for (i, f) in et.fields().iter().enumerate() {
        let s = string_value(f.name);
        match f.kind {
            FieldKind::RequiredString | FieldKind::RequiredPiiString => encode_str(&s, &mut rec),
            FieldKind::RequiredTime => encode_long(T0, &mut rec),
            FieldKind::String | FieldKind::PiiString | FieldKind::Url => {
                encode_opt_str(Some(&s), &mut rec)
            }
            FieldKind::Bool => encode_opt_bool(Some(true), &mut rec),
            FieldKind::Int => encode_opt_long(Some(i as i64 + 1), &mut rec),
            FieldKind::Time => encode_opt_long(Some(T0 - 60), &mut rec),
            FieldKind::StringList => {
                encode_long(1, &mut rec);
                encode_str_array(&[&s], &mut rec);
            }
            FieldKind::Attributes => {
                // Branch 1 of the union: an array of one item, branch 1: the string.
                encode_long(1, &mut rec);
                encode_long(1, &mut rec);
                encode_long(1, &mut rec);
                encode_str(&s, &mut rec);
                encode_long(0, &mut rec);
            }
            other => panic!("a new field kind {other:?}: teach this test a value"),
        }
    }
    let writer = OcfWriter::new(&schema, Codec::Null, &[], [7; 16]);
    let mut file = Vec::new();
    writer.header(&mut file);
    writer.write_block(1, &rec, &mut file);
    file
}

fn typed_names() -> BTreeSet<&'static str> {
    EventType::ALL
        .iter()
        .flat_map(|et| et.fields().iter().map(|f| f.name))
        .collect()
}

#[test]
fn every_typed_field_has_one_class() {
    for name in typed_names() {
        let personal = ALWAYS_PERSONAL.contains(&name);
        let allowed = DEFAULT_ALLOWLIST.contains(&name);
        // Quasi-identifying fields are neither: dropped by default, allowable.
        let quasi = !personal && !allowed;
        assert_eq!(allowed, default_allows(name), "{name}");
        assert!(
            !(personal && allowed),
            "{name} is both personal and allowed"
        );
        if quasi {
            assert!(Policy::new().allow(name).is_ok(), "{name}");
        } else if personal {
            assert!(Policy::new().allow(name).is_err(), "{name}");
        }
    }
    // The one quasi-identifying field: dropped by default, allowable. A field
    // missing from a hand-kept allowlist would show up here.
    let quasi: Vec<&str> = typed_names()
        .into_iter()
        .filter(|n| !ALWAYS_PERSONAL.contains(n) && !DEFAULT_ALLOWLIST.contains(n))
        .collect();
    assert_eq!(quasi, ["user_agent"]);
    // Every name the policy lists is a typed field of some event type.
    let typed = typed_names();
    for name in DEFAULT_ALLOWLIST.iter().chain(ALWAYS_PERSONAL) {
        assert!(typed.contains(name), "{name} is listed but no event has it");
    }
}

#[test]
fn published_fields_are_a_prefix_of_fields() {
    for et in EventType::ALL {
        let all = et.fields();
        let published = et.published_fields();
        assert!(published.len() <= all.len(), "{et}");
        assert_eq!(published, &all[..published.len()], "{et}");
        assert!(published.iter().any(|f| f.name == "id"), "{et}");
    }
}

#[test]
fn every_field_reaches_every_table() {
    let quasi: Vec<&str> = typed_names()
        .into_iter()
        .filter(|n| !ALWAYS_PERSONAL.contains(n) && !DEFAULT_ALLOWLIST.contains(n))
        .collect();
    let mut policy = Policy::new();
    for n in &quasi {
        policy = policy.allow(n).expect("quasi fields can be allowed");
    }
    let mut clean_keys_seen = BTreeSet::new();
    for &et in EventType::ALL {
        let file = file_with_every_field(et);

        // The decoder fills every typed field.
        let decoded = decode_file(&file, &DecodeOptions::default());
        assert!(decoded.error.is_none(), "{et}: {:?}", decoded.error);
        assert!(decoded.unknown_fields.is_empty(), "{et}");
        let event = &decoded.events[0];
        for (def, value) in event.values() {
            assert_ne!(
                value,
                FieldValue::Null,
                "{et}: {} was not decoded",
                def.name
            );
            assert_eq!(
                matches!(value, FieldValue::Pii(_) | FieldValue::PiiAvro(_)),
                def.kind.is_wrapped(),
                "{et}: {}",
                def.name
            );
        }

        // The filter carries every field that is not personal, under its own name.
        let filter = Filter::new(policy.clone());
        let clean = filter.clean_file(&file, &DecodeOptions::default());
        assert!(clean.error.is_none(), "{et}");
        let json = serde_json::to_value(&clean.events[0]).expect("clean events serialise");
        let obj = json.as_object().expect("an object");
        for f in et.fields() {
            let personal = ALWAYS_PERSONAL.contains(&f.name);
            let got = obj.get(f.name);
            if personal {
                assert!(got.is_none(), "{et}: personal {} has a clean field", f.name);
                assert!(
                    !json.to_string().contains(&string_value(f.name)),
                    "{et}: the value of personal {} leaves",
                    f.name
                );
            } else {
                let got = got.unwrap_or_else(|| panic!("{et}: clean events lack {}", f.name));
                assert!(!got.is_null(), "{et}: {} was not carried", f.name);
                if matches!(
                    f.kind,
                    FieldKind::String | FieldKind::PiiString | FieldKind::Url
                ) {
                    assert_eq!(got.as_str(), Some(string_value(f.name).as_str()), "{et}");
                }
                clean_keys_seen.insert(f.name);
            }
        }

        // Sanitize keeps exactly the allowed fields, and its output decodes to
        // the same clean events.
        let out = sanitize(&file, &SanitizeOptions::new().with_policy(policy.clone()))
            .expect("a well-formed file sanitizes");
        let again = filter.clean_file(&out.bytes, &DecodeOptions::default());
        assert!(again.error.is_none(), "{et}");
        assert_eq!(again.events, clean.events, "{et}");
        for f in et.fields() {
            assert_eq!(
                out.summary.dropped.iter().any(|d| d == f.name),
                ALWAYS_PERSONAL.contains(&f.name),
                "{et}: {}",
                f.name
            );
        }
    }
    // Every clean-event field (but the envelope) is a typed field some event carried.
    let probe = Filter::default().clean_file(
        &file_with_every_field(EventType::Click),
        &DecodeOptions::default(),
    );
    let json = serde_json::to_value(&probe.events[0]).expect("clean events serialise");
    for key in json.as_object().expect("an object").keys() {
        if matches!(key.as_str(), "event_type" | "recipient_key") {
            continue;
        }
        assert!(
            clean_keys_seen.contains(key.as_str()),
            "CleanEvent has `{key}`, which no event type's field list carries"
        );
    }
}

/// The newest published shape of each event type, from the schema facts in
/// `tests/data/currents-schema-shapes.json` and
/// `tests/data/currents-conversion-schemas.md` (independent of the crate's list).
/// Conversion types list after the newest schema's fields those only older
/// versions have (the 2021-06-30 internal variant's).
#[test]
fn published_fields_are_the_newest_published_schema() {
    let facts: serde_json::Value =
        serde_json::from_str(include_str!("data/currents-schema-shapes.json"))
            .expect("the shapes file is JSON");
    let conversions = common::fixtures::conversion_shapes();
    for et in EventType::ALL.iter().filter(|e| e.is_conversion()) {
        let newest = conversions
            .iter()
            .filter(|s| s.event_type == et.name())
            .max_by_key(|s| s.first_seen.clone())
            .expect("every conversion type has published schemas");
        let names: Vec<&str> = newest.fields.iter().map(|f| f.name.as_str()).collect();
        let ours: Vec<&str> = et.published_fields().iter().map(|f| f.name).collect();
        assert_eq!(&ours[..names.len()], names.as_slice(), "{et}");
        for extra in &ours[names.len()..] {
            assert!(
                conversions
                    .iter()
                    .any(|s| s.event_type == et.name()
                        && s.fields.iter().any(|f| f.name == *extra)),
                "{et}: {extra} is in no published version"
            );
        }
    }
    for et in EventType::ALL.iter().filter(|e| !e.is_conversion()) {
        let shapes = facts[et.name()]
            .as_array()
            .expect("every event type has shapes");
        let newest = shapes
            .iter()
            .max_by_key(|s| s["first_seen"].as_str().unwrap_or_default())
            .expect("at least one shape");
        let names: Vec<&str> = newest["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f[0].as_str().expect("a field name"))
            .collect();
        let ours: Vec<&str> = et.published_fields().iter().map(|f| f.name).collect();
        assert_eq!(ours, names, "{et}");
    }
}
