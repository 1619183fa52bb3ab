//! The test-file generator itself: every shape's file reads back through `apache-avro`
//! (an independent Avro implementation) with exactly the values the generator reports,
//! the header keeps the schema JSON as built, and the values look like Braze's.

mod common;

use apache_avro::Reader as AvroReader;
use apache_avro::types::Value as Avro;
use common::fixtures::{self as fx, GenCodec, GenOptions, Val};
use serde_json::Value as Json;

fn from_avro(v: &Avro) -> Val {
    match v {
        Avro::Null => Val::Null,
        Avro::Union(_, inner) => from_avro(inner),
        Avro::String(s) => Val::Str(s.clone()),
        Avro::Int(i) => Val::Int(i64::from(*i)),
        Avro::Long(i) => Val::Int(*i),
        Avro::Boolean(b) => Val::Bool(*b),
        Avro::Double(d) => Val::Double(*d),
        Avro::Array(items) => Val::Array(items.iter().map(from_avro).collect()),
        other => panic!("unexpected value {other:?}"),
    }
}

#[test]
fn there_are_79_published_shapes_over_11_event_types() {
    let shapes = fx::shapes();
    assert_eq!(shapes.len(), 79);
    let mut types: Vec<&str> = shapes.iter().map(|s| s.record.as_str()).collect();
    types.dedup();
    assert_eq!(types.len(), 11);
    assert_eq!(shapes.iter().filter(|s| s.is_kafka_connect()).count(), 8);
    // 7 types gain send_time (Click also has_url_parameters, link_aliasing_enabled),
    // Abort gains message_extras.
    assert_eq!(fx::v12_shapes(false).len(), 8);
}

#[test]
fn every_shape_round_trips_through_apache_avro() {
    let mut shapes = fx::shapes();
    shapes.extend(fx::v12_shapes(false));
    shapes.extend(fx::v12_shapes(true));
    for (i, shape) in shapes.iter().enumerate() {
        for codec in GenCodec::ALL {
            let g = fx::generate(shape, &GenOptions::new(60, i as u64, codec));
            assert!(g.blocks.len() >= 2, "{}: want several blocks", shape.label);
            assert_eq!(g.blocks.iter().map(|b| b.count).sum::<u64>(), 60);
            assert_eq!(g.blocks.last().map(|b| b.end), Some(g.bytes.len()));
            let reader = AvroReader::new(&g.bytes[..]).expect("apache-avro reads the header");
            let mut n = 0;
            for (r, value) in reader.enumerate() {
                let Avro::Record(fields) = value.expect("apache-avro reads the record") else {
                    panic!("not a record");
                };
                let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                let want: Vec<&str> = shape.fields.iter().map(|f| f.name.as_str()).collect();
                assert_eq!(names, want, "{}: field order", shape.label);
                for ((name, v), expected) in fields.iter().zip(&g.records[r]) {
                    assert_eq!(&from_avro(v), expected, "{} record {r} {name}", shape.label);
                }
                n += 1;
            }
            assert_eq!(n, 60, "{}", shape.label);
        }
    }
}

#[test]
fn header_keeps_the_schema_json_with_docs_and_connect_attributes() {
    for shape in fx::shapes() {
        let g = fx::generate(&shape, &GenOptions::new(3, 1, GenCodec::Null));
        let hay = &g.bytes[..g.header_len];
        let pos = hay
            .windows(g.schema_json.len())
            .position(|w| w == g.schema_json.as_bytes());
        assert!(
            pos.is_some(),
            "{}: schema JSON stored verbatim",
            shape.label
        );
        let schema: Json = serde_json::from_str(&g.schema_json).expect("schema is JSON");
        assert_eq!(schema["name"], shape.record.as_str());
        assert_eq!(schema["namespace"], shape.namespace.as_str());
        for (f, sf) in schema["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .zip(&shape.fields)
        {
            let doc = if shape.is_kafka_connect() {
                assert!(f.get("doc").is_none());
                assert!(schema.get("connect.name").is_some());
                let ty = match &f["type"] {
                    Json::Array(b) => b[1].clone(),
                    other => other.clone(),
                };
                ty["connect.doc"].as_str().expect("connect.doc").to_owned()
            } else {
                f["doc"].as_str().expect("doc").to_owned()
            };
            assert_eq!(
                doc.starts_with("[PII]"),
                sf.pii_tag,
                "{} {}",
                shape.label,
                sf.name
            );
        }
    }
}

#[test]
fn values_are_realistic_and_deterministic() {
    let shape = fx::newest_shape("Click");
    let a = fx::generate(&shape, &GenOptions::new(2000, 7, GenCodec::Deflate));
    let b = fx::generate(&shape, &GenOptions::new(2000, 7, GenCodec::Deflate));
    assert_eq!(a.bytes, b.bytes, "same seed, same bytes");
    let streamed = fx::generate_file(&shape, &GenOptions::new(2000, 7, GenCodec::Deflate));
    assert_eq!(
        streamed.0, a.bytes,
        "generate_file writes what generate reports"
    );
    assert_eq!(streamed.1, a.blocks);
    let c = fx::generate(&shape, &GenOptions::new(2000, 8, GenCodec::Deflate));
    assert_ne!(a.records, c.records);

    let mut nulls = 0;
    let mut optional = 0;
    for r in 0..a.records.len() {
        let id = a.value(r, "id").and_then(Val::as_str).expect("id");
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        let user = a
            .value(r, "user_id")
            .and_then(Val::as_str)
            .expect("user id");
        assert_eq!(user.len(), 24);
        assert!(user.bytes().all(|b| b.is_ascii_hexdigit()));
        if let Some(url) = a.value(r, "url").and_then(Val::as_str) {
            assert!((60..=120).contains(&url.len()), "{url}");
            assert!(url.contains('?'));
        }
        if let Some(ua) = a.value(r, "user_agent").and_then(Val::as_str) {
            assert!((90..=130).contains(&ua.len()), "{ua}");
        }
        for (f, v) in shape.fields.iter().zip(&a.records[r]) {
            if f.has_default {
                optional += 1;
                nulls += usize::from(*v == Val::Null);
            }
        }
    }
    let rate = nulls as f64 / optional as f64;
    let names_with_non_ascii = |g: &fx::Generated| {
        (0..g.records.len())
            .filter_map(|r| g.value(r, "campaign_name").and_then(Val::as_str))
            .filter(|s| !s.is_ascii())
            .count()
    };
    assert!(names_with_non_ascii(&a) > 100, "UTF-8 coverage");
    let ascii = fx::generate(
        &shape,
        &GenOptions {
            non_ascii_names: 0.0,
            ..GenOptions::new(500, 7, GenCodec::Null)
        },
    );
    assert_eq!(names_with_non_ascii(&ascii), 0);
    assert!((0.04..0.06).contains(&rate), "null rate {rate}");
    // Compressible like real Currents data (about 3:1 in 64,000-byte blocks), not
    // like random bytes nor like one record repeated.
    let big = |codec| GenOptions {
        block_bytes: 64_000,
        ..GenOptions::new(2000, 7, codec)
    };
    let raw = fx::generate_file(&shape, &big(GenCodec::Null)).0;
    let deflated = fx::generate_file(&shape, &big(GenCodec::Deflate)).0;
    let ratio = raw.len() as f64 / deflated.len() as f64;
    assert!((2.5..4.5).contains(&ratio), "deflate ratio {ratio}");
}
