//! Every published Braze Currents email schema shape (79, from 2018 to today), plus the
//! announced v12 fields, and every published conversion schema (19, parsed from
//! `tests/data/currents-conversion-schemas.md`) decodes with both codecs into typed events whose every value
//! equals what the generator wrote; fields a shape lacks are `None`, extra fields are
//! reported as unknown, and no personal value shows in `Debug`.

mod common;

use common::fixtures::{self as fx, GenCodec, GenOptions, Generated, Shape, Val};
use dynopt::currents::{
    Codec, DecodeOptions, Event, EventType, FieldKind, FieldValue, Reader, decode_file,
};

const RECORDS: usize = 120;

fn event_type_of(shape: &Shape) -> EventType {
    EventType::from_name(&shape.event_type).expect("a known event type")
}

/// Whether a value has the shape a field of `kind` must have (`Null` only for the
/// optional kinds).
fn fits(kind: FieldKind, value: &FieldValue<'_>) -> bool {
    matches!(
        (kind, value),
        (
            FieldKind::String
                | FieldKind::PiiString
                | FieldKind::Url
                | FieldKind::Time
                | FieldKind::Bool
                | FieldKind::Int
                | FieldKind::StringList
                | FieldKind::Attributes,
            FieldValue::Null
        ) | (FieldKind::Attributes, FieldValue::PiiAvro(_))
            | (
                FieldKind::RequiredString | FieldKind::String,
                FieldValue::Str(_)
            )
            | (
                FieldKind::RequiredPiiString | FieldKind::PiiString | FieldKind::Url,
                FieldValue::Pii(_)
            )
            | (
                FieldKind::RequiredTime | FieldKind::Time,
                FieldValue::Time(_)
            )
            | (FieldKind::Bool, FieldValue::Bool(_))
            | (FieldKind::Int, FieldValue::Int(_))
            | (FieldKind::StringList, FieldValue::StrList(_))
    )
}

/// Checks one decoded event against record `r` of the generated file: every typed
/// field, read by name through the library's accessors, holds the generated value.
fn check_event(g: &Generated, r: usize, event: &Event<'_>) {
    let label = &g.shape.label;
    let et = event.event_type();
    let values: Vec<_> = event.values().collect();
    let defs = et.fields();
    assert_eq!(values.len(), defs.len(), "{label}: field list of {et}");
    for ((def, got), want_def) in values.iter().zip(defs) {
        let name = def.name;
        assert_eq!(name, want_def.name, "{label}: field order of {et}");
        assert!(
            fits(def.kind, got),
            "{label}: {name} has kind {:?}",
            def.kind
        );
        let ctx = format!("{label} record {r} field {name}");
        match g.value(r, name) {
            None | Some(Val::Null) => {
                assert_eq!(*got, FieldValue::Null, "{ctx}: want None, got {got:?}")
            }
            Some(Val::Str(want)) => {
                let s = match got {
                    FieldValue::Str(s) => *s,
                    FieldValue::Pii(p) => *p.expose(),
                    other => panic!("{ctx}: want {want:?}, got {other:?}"),
                };
                assert_eq!(s, want, "{ctx}");
            }
            Some(Val::Int(want)) => match got {
                FieldValue::Int(v) => assert_eq!(v, want, "{ctx}"),
                FieldValue::Time(t) => assert_eq!(t.timestamp(), *want, "{ctx}"),
                other => panic!("{ctx}: want {want}, got {other:?}"),
            },
            Some(Val::Bool(want)) => assert_eq!(*got, FieldValue::Bool(*want), "{ctx}"),
            Some(Val::Array(items)) if def.kind == FieldKind::Attributes => {
                let FieldValue::PiiAvro(raw) = got else {
                    panic!("{ctx}: want custom attributes, got {got:?}");
                };
                assert_eq!(*raw.expose(), avro_array(items).as_slice(), "{ctx}");
            }
            Some(Val::Array(items)) => {
                let FieldValue::StrList(list) = got else {
                    panic!("{ctx}: want {items:?}, got {got:?}");
                };
                let want: Vec<&str> = items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .expect("string lists hold strings in every shape")
                    })
                    .collect();
                let got: Vec<&str> = list.iter().map(|s| &**s).collect();
                assert_eq!(got, want, "{ctx}");
            }
            Some(Val::Double(d)) => panic!("{ctx}: a typed field holds a double {d}"),
        }
        // The by-name accessor agrees with the in-order walk.
        let via_get = event
            .get(name)
            .expect("every typed field is reachable by name");
        assert_eq!(via_get, *got, "{ctx}: get() disagrees with values()");
    }
    assert_eq!(
        event.id(),
        g.value(r, "id")
            .and_then(Val::as_str)
            .expect("every shape has a required string `id`")
    );
}

/// The Avro encoding of an array of `["null", T]` items, as one block.
fn avro_array(items: &[Val]) -> Vec<u8> {
    let mut out = Vec::new();
    if !items.is_empty() {
        fx::put_long(items.len() as i64, &mut out);
        for item in items {
            match item {
                Val::Null => fx::put_long(0, &mut out),
                Val::Str(s) => {
                    fx::put_long(1, &mut out);
                    fx::put_bytes(s.as_bytes(), &mut out);
                }
                Val::Int(n) => {
                    fx::put_long(1, &mut out);
                    fx::put_long(*n, &mut out);
                }
                Val::Bool(b) => {
                    fx::put_long(1, &mut out);
                    out.push(u8::from(*b));
                }
                Val::Double(d) => {
                    fx::put_long(1, &mut out);
                    out.extend_from_slice(&d.to_le_bytes());
                }
                Val::Array(_) => panic!("custom attributes hold no nested arrays"),
            }
        }
    }
    fx::put_long(0, &mut out);
    out
}

/// No personal value in `Debug` of the events; the wrapper shows `[REDACTED]`.
fn check_debug_is_redacted(g: &Generated, events: &[Event<'_>]) {
    let personal = g.personal_strings();
    assert!(
        !personal.is_empty(),
        "{}: the file holds personal data",
        g.shape.label
    );
    let debug = format!("{events:?}");
    assert!(debug.contains("[REDACTED]"));
    for p in &personal {
        assert!(
            !debug.contains(p.as_str()),
            "{}: Debug shows a personal value {p:?}",
            g.shape.label
        );
    }
}

fn check_file(shape: &Shape, seed: u64, codec: GenCodec) {
    let label = &shape.label;
    let g = fx::generate(shape, &GenOptions::new(RECORDS, seed, codec));
    let et = event_type_of(shape);
    let options = DecodeOptions::default();

    // Header.
    let mut reader = Reader::new(&g.bytes, &options)
        .unwrap_or_else(|e| panic!("{label} {codec:?}: header refused: {e}"));
    assert_eq!(reader.event_type(), et, "{label}");
    let want_codec = match codec {
        GenCodec::Null => Codec::Null,
        GenCodec::Deflate => Codec::Deflate,
    };
    assert_eq!(reader.codec(), want_codec, "{label}");
    assert!(!reader.is_sanitized());
    assert_eq!(reader.schema_json(), g.schema_json, "{label}");
    assert_eq!(reader.sync_marker(), g.sync, "{label}");
    let known: Vec<&str> = et.fields().iter().map(|f| f.name).collect();
    let want_unknown: Vec<&str> = shape
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| !known.contains(n))
        .collect();
    assert_eq!(
        reader.unknown_fields(),
        want_unknown,
        "{label}: unknown fields"
    );
    let wf = reader.writer_fields();
    assert_eq!(wf.len(), shape.fields.len(), "{label}");
    for (w, f) in wf.iter().zip(&shape.fields) {
        assert_eq!(w.name, f.name, "{label}: writer order");
        assert_eq!(w.pii_tag, f.pii_tag, "{label}: [PII] tag of {}", f.name);
        assert_eq!(
            w.known,
            known.contains(&f.name.as_str()),
            "{label} {}",
            f.name
        );
    }

    // Streaming, borrowed.
    let mut r = 0;
    let mut block_index = 0;
    let mut borrowed = Vec::new();
    while let Some(block) = reader.next_block() {
        let block = block.unwrap_or_else(|e| panic!("{label} {codec:?}: block refused: {e}"));
        let info = g.blocks[block_index];
        assert_eq!(block.count(), info.count, "{label} block {block_index}");
        assert_eq!(
            block.offset(),
            info.offset as u64,
            "{label} block {block_index}"
        );
        for event in block.events() {
            let event = event.unwrap_or_else(|e| panic!("{label} {codec:?}: record {r}: {e}"));
            assert_eq!(event.event_type(), et);
            check_event(&g, r, &event);
            borrowed.push(event.into_owned());
            r += 1;
        }
        block_index += 1;
    }
    assert_eq!(r, RECORDS, "{label} {codec:?}: record count");
    assert_eq!(block_index, g.blocks.len(), "{label}: block count");
    check_debug_is_redacted(&g, &borrowed);

    // Whole file, owned.
    let outcome = decode_file(&g.bytes, &options);
    assert!(outcome.error.is_none(), "{label}: {:?}", outcome.error);
    assert_eq!(outcome.event_type, Some(et));
    assert_eq!(outcome.unknown_fields, want_unknown);
    assert!(!outcome.sanitized);
    assert_eq!(outcome.events.len(), RECORDS);
    assert_eq!(outcome.recipient_keys, vec![None; RECORDS]);
    for (r, event) in outcome.events.iter().enumerate() {
        check_event(&g, r, event);
    }
    assert_eq!(
        outcome.events, borrowed,
        "{label}: decode_file equals the streaming decode"
    );
}

#[test]
fn field_lists_agree_with_the_typed_events() {
    // Every typed field of every event type has a value (`values()` skips none).
    for &et in EventType::ALL {
        let shape = fx::shapes()
            .into_iter()
            .chain(fx::conversion_shapes())
            .rev()
            .find(|s| s.event_type == et.name())
            .expect("every event type has a shape");
        let g = fx::generate(&shape, &GenOptions::new(1, 1, GenCodec::Null));
        let outcome = decode_file(&g.bytes, &DecodeOptions::default());
        let event = &outcome.events[0];
        let names: Vec<&str> = event.values().map(|(d, _)| d.name).collect();
        let want: Vec<&str> = et.fields().iter().map(|f| f.name).collect();
        assert_eq!(names, want, "{et}");
    }
}

#[test]
fn every_published_shape_decodes_with_every_value() {
    let shapes = fx::shapes();
    assert_eq!(shapes.len(), 79);
    for (i, shape) in shapes.iter().enumerate() {
        for codec in GenCodec::ALL {
            check_file(shape, 1000 + i as u64, codec);
        }
    }
}

#[test]
fn every_published_conversion_schema_decodes_with_every_value() {
    let shapes = fx::conversion_shapes();
    let per_type = |t: &str| shapes.iter().filter(|s| s.event_type == t).count();
    assert_eq!(
        (
            per_type("users.campaigns.Conversion"),
            per_type("users.canvas.Conversion"),
            per_type("users.canvas.experimentstep.Conversion"),
        ),
        (8, 8, 3),
        "every version listed in the facts"
    );
    for (i, shape) in shapes.iter().enumerate() {
        for codec in GenCodec::ALL {
            check_file(shape, 7000 + i as u64, codec);
        }
        // Every writer field of every published version is a typed field.
        let g = fx::generate(shape, &GenOptions::new(3, 9, GenCodec::Null));
        let reader = Reader::new(&g.bytes, &DecodeOptions::default()).expect("decodes");
        assert!(reader.unknown_fields().is_empty(), "{}", shape.label);
    }
}

#[test]
fn conversion_typed_fields_are_the_newest_schema_then_older_ones() {
    let shapes = fx::conversion_shapes();
    for et in EventType::ALL.iter().filter(|e| e.is_conversion()) {
        let of_type: Vec<&Shape> = shapes
            .iter()
            .filter(|s| s.event_type == et.name())
            .collect();
        let newest = of_type
            .iter()
            .max_by_key(|s| s.first_seen.clone())
            .expect("a shape per conversion type");
        let newest_names: Vec<&str> = newest.fields.iter().map(|f| f.name.as_str()).collect();
        let ours: Vec<&str> = et.fields().iter().map(|f| f.name).collect();
        assert_eq!(&ours[..newest_names.len()], newest_names.as_slice(), "{et}");
        // The rest: exactly the fields only older versions have.
        let mut older: Vec<&str> = of_type
            .iter()
            .flat_map(|s| s.fields.iter().map(|f| f.name.as_str()))
            .filter(|n| !newest_names.contains(n))
            .collect();
        older.sort_unstable();
        older.dedup();
        let mut rest = ours[newest_names.len()..].to_vec();
        rest.sort_unstable();
        assert_eq!(rest, older, "{et}");
        assert_eq!(
            et.published_fields(),
            et.fields(),
            "{et}: nothing announced"
        );
        assert_eq!(et.record_name(), "Conversion");
    }
}

#[test]
fn kafka_connect_2021_variant_decodes_and_reports_its_extra_fields() {
    for shape in fx::shapes().iter().filter(|s| s.is_kafka_connect()) {
        let g = fx::generate(shape, &GenOptions::new(5, 3, GenCodec::Null));
        let reader = Reader::new(&g.bytes, &DecodeOptions::default()).expect("decodes");
        for extra in [
            "gender",
            "string_custom_attributes",
            "float_custom_attributes",
            "campaign_api_id",
        ] {
            let known = event_type_of(shape)
                .fields()
                .iter()
                .any(|f| f.name == extra);
            assert_eq!(
                reader.unknown_fields().iter().any(|u| u == extra),
                !known,
                "{}: {extra}",
                shape.label
            );
        }
        // [PII] tags sit in `connect.doc` inside the field types.
        let tagged: Vec<&str> = reader
            .writer_fields()
            .iter()
            .filter(|w| w.pii_tag)
            .map(|w| w.name.as_str())
            .collect();
        assert!(tagged.contains(&"email_address"), "{}", shape.label);
        assert!(tagged.contains(&"external_user_id"), "{}", shape.label);
    }
}

#[test]
fn v12_fields_decode_into_the_typed_events() {
    for long in [false, true] {
        let shapes = fx::v12_shapes(long);
        for (i, shape) in shapes.iter().enumerate() {
            for codec in GenCodec::ALL {
                check_file(shape, 5000 + i as u64, codec);
            }
            // The v12 fields are typed fields, not unknown ones, and hold values.
            let g = fx::generate(shape, &GenOptions::new(RECORDS, 7, GenCodec::Null));
            let outcome = decode_file(&g.bytes, &DecodeOptions::default());
            assert!(outcome.unknown_fields.is_empty(), "{}", shape.label);
            for (name, _, _) in fx::v12_fields(&shape.record) {
                let present = outcome
                    .events
                    .iter()
                    .filter(|e| !matches!(e.get(name), Some(FieldValue::Null) | None))
                    .count();
                assert!(present > RECORDS / 2, "{} {name}: {present}", shape.label);
            }
        }
    }
}

#[test]
fn click_send_time_precedes_the_click() {
    let shape = fx::v12_shapes(false)
        .into_iter()
        .find(|s| s.record == "Click")
        .expect("Click v12");
    let g = fx::generate(&shape, &GenOptions::new(200, 11, GenCodec::Deflate));
    let outcome = decode_file(&g.bytes, &DecodeOptions::default());
    let mut with_send_time = 0;
    for e in &outcome.events {
        let Event::Click(c) = e else {
            panic!("a Click file")
        };
        if let Some(send) = c.send_time {
            assert!(send < c.time);
            with_send_time += 1;
        }
    }
    assert!(with_send_time > 150);
}

#[test]
fn pii_kinds_are_exactly_the_fields_off_the_allowlist() {
    // Every generated personal field lands in a Pii-wrapped typed field or is unknown.
    for shape in fx::shapes().into_iter().chain(fx::conversion_shapes()) {
        let et = event_type_of(&shape);
        for f in &shape.fields {
            let Some(def) = et.fields().iter().find(|d| d.name == f.name) else {
                continue;
            };
            if fx::PERSONAL_FIELDS.contains(&f.name.as_str())
                || f.pii_tag
                || f.name.ends_with("_custom_attributes")
            {
                assert!(
                    matches!(
                        def.kind,
                        FieldKind::RequiredPiiString
                            | FieldKind::PiiString
                            | FieldKind::Url
                            | FieldKind::Attributes
                    ),
                    "{}: {} is personal but typed {:?}",
                    shape.label,
                    f.name,
                    def.kind
                );
            }
        }
    }
}
