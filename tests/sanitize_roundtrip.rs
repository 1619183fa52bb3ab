//! `sanitize` on generated files of every published schema shape (plus the v12
//! shapes), both codecs: schema, values byte for byte, url scrubbing, recipient keys,
//! block structure, and read-back with the crate's reader and with apache-avro.

mod common;

use apache_avro::Reader as AvroReader;
use apache_avro::types::Value as Avro;
use common::fixtures::{self as fx, GenCodec, GenOptions, Val};
use dynopt::currents::{Codec, DecodeOptions, EventType, Reader};
use dynopt::pii::{
    Filter, Policy, Pseudonymizer, RecipientKey, SanitizeOptions, sanitize, scrub_url,
};
use serde_json::Value as Json;

const KEY: &[u8] = b"secret_key";

fn all_shapes() -> Vec<fx::Shape> {
    let mut s = fx::shapes();
    s.extend(fx::v12_shapes(false));
    s.extend(fx::v12_shapes(true));
    s
}

/// See docs/design.md, *PII policy and filter*: the default policy keeps a field of a
/// shape when the allowlist names it and the shape does not tag it `[PII]` (the lists
/// are disjoint from the always-personal names, which the crate's unit tests check).
/// The allowlist applies per event type: an allowed name that this event type's
/// typed event lacks (an older schema's field) is dropped.
fn kept_by_default(name: &str, pii_tag: bool, et: EventType) -> bool {
    dynopt::pii::DEFAULT_ALLOWLIST.contains(&name)
        && !pii_tag
        && et.fields().iter().any(|d| d.name == name)
}

fn str_of(v: &Avro) -> Option<&str> {
    match v {
        Avro::String(s) => Some(s),
        Avro::Union(_, inner) => str_of(inner),
        _ => None,
    }
}

#[test]
fn every_shape_sanitizes_exactly() {
    let p = Pseudonymizer::keyed(KEY);
    let options = SanitizeOptions::default().with_pseudonymizer(p.clone());
    for (si, shape) in all_shapes().iter().enumerate() {
        let et = EventType::from_name(&shape.event_type).expect("event type");
        for codec in GenCodec::ALL {
            let label = format!("{} {}", shape.label, codec.name());
            let g = fx::generate(shape, &GenOptions::new(40, 1000 + si as u64, codec));
            let out = sanitize(&g.bytes, &options).unwrap_or_else(|e| panic!("{label}: {e}"));
            let s = &out.summary;
            assert_eq!(s.records, 40, "{label}");
            assert_eq!(s.blocks as usize, g.blocks.len(), "{label}");
            assert!(s.recipient_key, "{label}");
            let kept: Vec<&fx::ShapeField> = shape
                .fields
                .iter()
                .filter(|f| kept_by_default(&f.name, f.pii_tag, et))
                .collect();
            let dropped: Vec<&str> = shape
                .fields
                .iter()
                .filter(|f| !kept_by_default(&f.name, f.pii_tag, et))
                .map(|f| f.name.as_str())
                .collect();
            assert_eq!(s.dropped, dropped, "{label}");
            assert!(dropped.contains(&"user_id") && dropped.contains(&"email_address"));

            // The crate's reader: header, schema, docs, blocks.
            let mut r = Reader::new(&out.bytes, &DecodeOptions::default())
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            assert!(r.is_sanitized(), "{label}");
            assert_eq!(r.event_type(), et);
            let want_codec = match codec {
                GenCodec::Null => Codec::Null,
                GenCodec::Deflate => Codec::Deflate,
            };
            assert_eq!(r.codec(), want_codec, "{label}");
            assert_eq!(r.sync_marker(), g.sync, "{label}");
            let names: Vec<&str> = r.writer_fields().iter().map(|f| f.name.as_str()).collect();
            let mut want_names: Vec<&str> = kept.iter().map(|f| f.name.as_str()).collect();
            want_names.push("recipient_key");
            assert_eq!(names, want_names, "{label}");
            let in_schema: Json = serde_json::from_str(&g.schema_json).expect("json");
            let out_schema: Json = serde_json::from_str(r.schema_json()).expect("json");
            for f in out_schema["fields"].as_array().expect("fields") {
                let name = f["name"].as_str().expect("name");
                if name == "recipient_key" {
                    assert_eq!(f["type"], serde_json::json!(["null", "string"]));
                    assert_eq!(f["default"], Json::Null);
                    continue;
                }
                let orig = in_schema["fields"]
                    .as_array()
                    .expect("fields")
                    .iter()
                    .find(|o| o["name"] == name)
                    .expect("kept field is in the input schema");
                assert_eq!(f, orig, "{label}: field {name} with its documentation kept");
            }
            for k in ["name", "namespace", "doc", "connect.doc", "connect.name"] {
                assert_eq!(out_schema.get(k), in_schema.get(k), "{label}: {k}");
            }

            // Values, block by block: kept spans byte for byte, url scrubbed, key computed.
            let mut input = Reader::new(&g.bytes, &DecodeOptions::default()).expect("input");
            let in_index: Vec<usize> = kept
                .iter()
                .map(|k| shape.field_index(&k.name).expect("index"))
                .collect();
            let mut rec = 0usize;
            let mut blocks = 0;
            while let (Some(ib), Some(ob)) = (input.next_block(), r.next_block()) {
                let (ib, ob) = (ib.expect("input block"), ob.expect("output block"));
                assert_eq!(ib.count(), ob.count(), "{label}: block counts");
                blocks += 1;
                for (is, os) in ib.record_spans().zip(ob.record_spans()) {
                    let (is, os) = (is.expect("span"), os.expect("span"));
                    for (k, (f, &ii)) in kept.iter().zip(&in_index).enumerate() {
                        let a = &ib.data()[is.fields[ii].clone()];
                        let b = &ob.data()[os.fields[k].clone()];
                        if f.name == "url" {
                            let expected = match &g.records[rec][ii] {
                                Val::Str(u) => {
                                    let mut e = vec![2u8];
                                    let clean = scrub_url(u);
                                    fx::put_bytes(clean.as_bytes(), &mut e);
                                    e
                                }
                                _ => vec![0u8],
                            };
                            assert_eq!(b, &expected[..], "{label}: url of record {rec}");
                        } else {
                            assert_eq!(a, b, "{label}: {} of record {rec}", f.name);
                        }
                    }
                    let key_span = &ob.data()[os.fields[kept.len()].clone()];
                    let uid = g
                        .value(rec, "user_id")
                        .and_then(Val::as_str)
                        .expect("user id");
                    let mut want = Vec::new();
                    match p.key_for(uid) {
                        Some(k) => {
                            want.push(2);
                            fx::put_bytes(&k.to_hex(), &mut want);
                        }
                        None => want.push(0),
                    }
                    assert_eq!(key_span, &want[..], "{label}: key of record {rec}");
                    rec += 1;
                }
            }
            assert_eq!(rec, 40, "{label}");
            assert_eq!(blocks, g.blocks.len());

            // apache-avro reads the sanitized file directly.
            let avro = AvroReader::new(&out.bytes[..]).unwrap_or_else(|e| panic!("{label}: {e}"));
            let mut n = 0;
            for (i, value) in avro.enumerate() {
                let Avro::Record(fields) = value.unwrap_or_else(|e| panic!("{label}: {e}")) else {
                    panic!("{label}: not a record")
                };
                let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(names, want_names, "{label}");
                let id = fields
                    .iter()
                    .find(|(n, _)| n == "id")
                    .and_then(|(_, v)| str_of(v));
                assert_eq!(id, g.value(i, "id").and_then(Val::as_str), "{label}");
                let key = fields
                    .last()
                    .and_then(|(_, v)| str_of(v))
                    .map(str::to_owned);
                let uid = g
                    .value(i, "user_id")
                    .and_then(Val::as_str)
                    .expect("user id");
                assert_eq!(key, p.key_for(uid).map(|k| k.to_string()), "{label}");
                n += 1;
            }
            assert_eq!(n, 40, "{label}");
        }
    }
}

#[test]
fn sanitized_files_decode_into_clean_events_with_keys() {
    let p = Pseudonymizer::keyed(KEY);
    let options = SanitizeOptions::default().with_pseudonymizer(p.clone());
    let filter = Filter::new(Policy::default());
    let keyed_filter = Filter::new(Policy::default()).with_pseudonymizer(p.clone());
    for (si, shape) in fx::shapes().iter().enumerate().step_by(3) {
        let g = fx::generate(
            shape,
            &GenOptions::new(30, 77 + si as u64, GenCodec::Deflate),
        );
        let out = sanitize(&g.bytes, &options).expect("sanitizes");
        // The optimising side: sanitized file -> clean events, keys from the file.
        let clean = filter.clean_file(&out.bytes, &DecodeOptions::default());
        assert!(clean.error.is_none(), "{}: {:?}", shape.label, clean.error);
        assert!(clean.sanitized);
        // The customer side: Braze file -> clean events, keys from the pseudonymizer.
        let direct = keyed_filter.clean_file(&g.bytes, &DecodeOptions::default());
        assert!(direct.error.is_none());
        assert!(!direct.sanitized);
        assert_eq!(
            clean.events, direct.events,
            "{}: both paths agree",
            shape.label
        );
        for (i, e) in clean.events.iter().enumerate() {
            let uid = g.value(i, "user_id").and_then(Val::as_str).expect("uid");
            assert_eq!(e.recipient_key, p.key_for(uid));
            assert_eq!(Some(e.id.as_str()), g.value(i, "id").and_then(Val::as_str));
        }
        // The report of the sanitized file has nothing left to drop but what the
        // policy does not know in this shape.
        assert!(
            clean
                .report
                .dropped(clean.event_type.expect("type"))
                .all(|(n, _)| n != "user_id")
        );
    }
}

#[test]
fn sanitize_is_deterministic_and_idempotent() {
    let p = Pseudonymizer::keyed(KEY);
    let with_key = SanitizeOptions::default().with_pseudonymizer(p);
    for shape in fx::v12_shapes(false) {
        for codec in GenCodec::ALL {
            let g = fx::generate(&shape, &GenOptions::new(25, 5, codec));
            for options in [&SanitizeOptions::default(), &with_key] {
                let a = sanitize(&g.bytes, options).expect("sanitizes");
                let b = sanitize(&g.bytes, options).expect("sanitizes");
                assert_eq!(a.bytes, b.bytes, "{}: deterministic", shape.label);
                let again = sanitize(&a.bytes, options).expect("sanitizes a sanitized file");
                assert_eq!(again.bytes, a.bytes, "{}: idempotent", shape.label);
                assert!(
                    again.summary.dropped.is_empty(),
                    "{:?}",
                    again.summary.dropped
                );
            }
        }
    }
}

#[test]
fn redacted_and_hashed_user_ids() {
    let shape = fx::newest_shape("Click");
    let g = fx::generate(&shape, &GenOptions::new(3, 9, GenCodec::Null));
    let uid = shape.field_index("user_id").expect("user_id");
    let mut records = g.records.clone();
    records[0][uid] = Val::Str("[REDACTED]".into());
    let digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    records[1][uid] = Val::Str(digest.into());
    let (bytes, _) = fx::write_ocf(&shape, &records, GenCodec::Null, 4096, g.sync, &[]);
    let options = SanitizeOptions::default().with_pseudonymizer(Pseudonymizer::keyed(KEY));
    let out = sanitize(&bytes, &options).expect("sanitizes");
    let clean = Filter::default().clean_file(&out.bytes, &DecodeOptions::default());
    let keys: Vec<Option<RecipientKey>> = clean.events.iter().map(|e| e.recipient_key).collect();
    assert_eq!(keys[0], None);
    assert_eq!(keys[1], RecipientKey::from_hex(digest).ok());
    assert!(keys[2].is_some());
}

#[test]
fn policy_changes_what_is_kept() {
    let shape = fx::newest_shape("Click");
    let g = fx::generate(&shape, &GenOptions::new(10, 3, GenCodec::Null));
    let policy = Policy::default()
        .allow("user_agent")
        .expect("allowed")
        .deny("campaign_name")
        .expect("denied");
    let out = sanitize(
        &g.bytes,
        &SanitizeOptions::default().with_policy(policy.clone()),
    )
    .expect("sanitizes");
    assert!(!out.summary.recipient_key);
    assert!(out.summary.dropped.contains(&"campaign_name".to_owned()));
    assert!(!out.summary.dropped.contains(&"user_agent".to_owned()));
    let clean = Filter::new(policy).clean_file(&out.bytes, &DecodeOptions::default());
    for (i, e) in clean.events.iter().enumerate() {
        assert_eq!(
            e.user_agent.as_deref(),
            g.value(i, "user_agent").and_then(Val::as_str)
        );
        assert_eq!(e.campaign_name, None);
        assert_eq!(e.recipient_key, None);
    }
}

#[test]
fn deflate_level_changes_size_not_content() {
    let shape = fx::newest_shape("Click");
    let g = fx::generate(&shape, &GenOptions::new(200, 12, GenCodec::Deflate));
    let fast =
        sanitize(&g.bytes, &SanitizeOptions::default().with_deflate_level(1)).expect("sanitizes");
    let best =
        sanitize(&g.bytes, &SanitizeOptions::default().with_deflate_level(9)).expect("sanitizes");
    let stored =
        sanitize(&g.bytes, &SanitizeOptions::default().with_deflate_level(0)).expect("sanitizes");
    assert!(stored.bytes.len() > fast.bytes.len(), "level 0 stores");
    let decode = DecodeOptions::default();
    let a = Filter::default().clean_file(&fast.bytes, &decode);
    let b = Filter::default().clean_file(&best.bytes, &decode);
    let c = Filter::default().clean_file(&stored.bytes, &decode);
    assert!(a.error.is_none() && b.error.is_none() && c.error.is_none());
    assert_eq!(a.events.len(), 200);
    assert_eq!(a.events, b.events);
    assert_eq!(a.events, c.events);
}

#[test]
fn a_kept_field_naming_a_dropped_type_is_a_schema_error() {
    use dynopt::currents::{Codec as C, OcfWriter, encode_long, encode_str};
    use dynopt::pii::SanitizeError;
    // `shoe` (unknown, dropped) defines the enum `Size`; `size_again` (allowed by the
    // host) refers to it by name.
    let schema = r#"{"type":"record","name":"Click","fields":[
        {"name":"id","type":"string"},{"name":"user_id","type":"string"},
        {"name":"time","type":"int"},{"name":"email_address","type":"string"},
        {"name":"shoe","type":{"type":"enum","name":"Size","symbols":["S","M"]}},
        {"name":"size_again","type":"Size"}]}"#;
    let w = OcfWriter::new(schema, C::Null, &[], [3; 16]);
    let mut file = Vec::new();
    w.header(&mut file);
    let mut rec = Vec::new();
    encode_str("id-1", &mut rec);
    encode_str("u", &mut rec);
    encode_long(1_700_000_000, &mut rec);
    encode_str("a@b.c", &mut rec);
    encode_long(1, &mut rec);
    encode_long(0, &mut rec);
    w.write_block(1, &rec, &mut file);
    let policy = Policy::default().allow("size_again").expect("allowed");
    // The input itself is readable...
    assert!(Reader::new(&file, &DecodeOptions::default()).is_ok());
    // ...but the output without `shoe` would not be.
    match sanitize(&file, &SanitizeOptions::default().with_policy(policy)) {
        Err(SanitizeError::Schema(_)) => {}
        other => panic!("{other:?}"),
    }
}
