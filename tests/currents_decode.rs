//! Decoding valid Currents files written with `OcfWriter`: every value checked.

mod common;

use common::records::*;
use dynopt::currents::{
    Codec, DecodeErrorKind, DecodeOptions, Event, EventType, Reader, decode_file, decode_reader,
};
use dynopt::pii::RecipientKey;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde_json::json;

const NS: &str = "dataexport.S3.inner.users.messages.email";

fn roundtrip(record: &str, ns: &str, shape: ShapeRef, codec: Codec, seed: u64) {
    let fields = fields(shape);
    let schema = schema(record, ns, &fields);
    let mut rng = Pcg64::seed_from_u64(seed);
    let blocks: Vec<Vec<Vec<TVal>>> = [7usize, 1, 40]
        .iter()
        .map(|n| (0..*n).map(|_| random_record(&mut rng, &fields)).collect())
        .collect();
    let bytes = file(&schema, codec, &[], &fields, &blocks);
    let all: Vec<&Vec<TVal>> = blocks.iter().flatten().collect();

    // Streaming, borrowed.
    let mut reader = Reader::new(&bytes, &DecodeOptions::default()).expect("header");
    assert_eq!(reader.event_type().short_name(), record);
    assert_eq!(reader.codec(), codec);
    assert_eq!(reader.writer_fields().len(), fields.len());
    let mut i = 0;
    let mut nblocks = 0;
    while let Some(block) = reader.next_block() {
        let block = block.expect("valid block");
        assert_eq!(block.count() as usize, blocks[nblocks].len());
        nblocks += 1;
        for ev in block.events() {
            let ev = ev.expect("valid record");
            check(&ev, &fields, all[i]);
            i += 1;
        }
    }
    assert_eq!(nblocks, 3);
    assert_eq!(i, all.len());

    // Whole file, owned.
    let out = decode_file(&bytes, &DecodeOptions::default());
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.events.len(), all.len());
    for (ev, rec) in out.events.iter().zip(&all) {
        check(ev, &fields, rec);
    }
    assert!(out.recipient_keys.iter().all(Option::is_none));
    let again = decode_reader(&bytes[..], &DecodeOptions::default());
    assert_eq!(again.events, out.events);
}

#[test]
fn newest_and_oldest_shapes_null_and_deflate() {
    for codec in [Codec::Null, Codec::Deflate] {
        roundtrip("Click", NS, CLICK_NEWEST, codec, 1);
        roundtrip("Click", NS, CLICK_2018, codec, 2);
        roundtrip("Open", NS, OPEN_NEWEST, codec, 3);
        roundtrip("Open", NS, OPEN_2018, codec, 4);
        roundtrip("Deferral", NS, DEFERRAL_NEWEST, codec, 5);
    }
}

#[test]
fn kafka_connect_2021_variant_decodes_with_unknown_fields() {
    roundtrip("Click", "users.messages.email", CLICK_2021, Codec::Null, 6);
    let fields = fields(CLICK_2021);
    let bytes = file(
        &schema("Click", "users.messages.email", &fields),
        Codec::Null,
        &[],
        &fields,
        &[],
    );
    let reader = Reader::new(&bytes, &DecodeOptions::default()).expect("header");
    assert_eq!(reader.namespace(), Some("users.messages.email"));
    let unknown = reader.unknown_fields();
    for f in [
        "device_id",
        "app_group_api_id",
        "campaign_api_id",
        "gender",
        "country",
        "language",
        "string_custom_attributes",
        "number_custom_attributes",
    ] {
        assert!(unknown.iter().any(|u| u == f), "{f} unknown: {unknown:?}");
    }
    assert!(!unknown.iter().any(|u| u == "app_group_id" || u == "url"));
    // PII tags come through both `doc` and (here) the field doc.
    let tagged: Vec<&str> = reader
        .writer_fields()
        .iter()
        .filter(|f| f.pii_tag)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        tagged,
        [
            "external_user_id",
            "gender",
            "country",
            "language",
            "email_address"
        ]
    );
}

#[test]
fn connect_doc_inside_the_type_is_a_pii_tag() {
    let schema = json!({"type":"record","name":"users.messages.email.Click","fields":[
        {"name":"id","type":"string"},
        {"name":"user_id","type":{"type":"string","connect.doc":"[PII] Braze user ID"}},
        {"name":"time","type":"int"},
        {"name":"email_address","type":"string","doc":"  [PII] email"},
        {"name":"gender","type":["null",{"type":"string","connect.doc":"[PII] gender"}],"default":null},
        {"name":"url","type":["null",{"type":"string","connect.doc":"clicked URL"}],"default":null}
    ]})
    .to_string();
    let w = dynopt::currents::OcfWriter::new(&schema, Codec::Null, &[], [0; 16]);
    let mut bytes = Vec::new();
    w.header(&mut bytes);
    let mut reader = Reader::new(&bytes, &DecodeOptions::default()).expect("header");
    assert_eq!(reader.event_type(), EventType::Click);
    let tags: Vec<bool> = reader.writer_fields().iter().map(|f| f.pii_tag).collect();
    assert_eq!(tags, [false, true, false, true, true, false]);
    assert!(
        reader.next_block().is_none(),
        "a file without blocks is empty, not an error"
    );
}

fn header_error(schema: &str, metadata: &[(&str, &[u8])]) -> dynopt::currents::DecodeError {
    let w = dynopt::currents::OcfWriter::new(schema, Codec::Null, metadata, [0; 16]);
    let mut bytes = Vec::new();
    w.header(&mut bytes);
    Reader::new(&bytes, &DecodeOptions::default()).expect_err("header must be refused")
}

#[test]
fn required_fields_and_types_are_checked_at_header_time() {
    let mut f = fields(CLICK_NEWEST);
    f.retain(|f| f.name != "email_address");
    let e = header_error(&schema("Click", NS, &f), &[]);
    assert_eq!(*e.kind(), DecodeErrorKind::MissingRequiredField);
    assert_eq!(e.field(), Some("email_address"));

    let mut f = fields(CLICK_NEWEST);
    f.retain(|f| f.name != "time");
    let e = header_error(&schema("Click", NS, &f), &[("dynopt.sanitized", b"1")]);
    assert_eq!(*e.kind(), DecodeErrorKind::MissingRequiredField);
    assert_eq!(e.field(), Some("time"));

    let mut f = fields(CLICK_NEWEST);
    f[11].ty = json!(["null", "int"]); // url
    let e = header_error(&schema("Click", NS, &f), &[]);
    assert_eq!(*e.kind(), DecodeErrorKind::IncompatibleFieldType);
    assert_eq!(e.field(), Some("url"));

    let mut f = fields(CLICK_NEWEST);
    f[0].ty = json!(["null", "string"]); // id must not be nullable
    let e = header_error(&schema("Click", NS, &f), &[]);
    assert_eq!(*e.kind(), DecodeErrorKind::IncompatibleFieldType);
    assert_eq!(e.field(), Some("id"));

    let e = header_error(&schema("PushSend", NS, &fields(CLICK_NEWEST)), &[]);
    assert_eq!(*e.kind(), DecodeErrorKind::NotAnEmailEvent);

    let e = header_error("{not json", &[]);
    assert!(matches!(e.kind(), DecodeErrorKind::BadSchema(_)));
}

#[test]
fn fallback_event_type_and_type_widening() {
    // Record name unknown; event type from the object key. `time` as long,
    // `url` as a bare string, `is_amp` as ["boolean","null"].
    let schema = json!({"type":"record","name":"Event","fields":[
        {"name":"id","type":"string"},{"name":"user_id","type":"string"},
        {"name":"time","type":"long"},{"name":"email_address","type":"string"},
        {"name":"url","type":"string"},{"name":"is_amp","type":["boolean","null"]},
        {"name":"send_time","type":["null","int"]}
    ]})
    .to_string();
    let fields = vec![
        ShapeField {
            name: "id".into(),
            ty: json!("string"),
            pii: false,
        },
        ShapeField {
            name: "user_id".into(),
            ty: json!("string"),
            pii: false,
        },
        ShapeField {
            name: "time".into(),
            ty: json!("long"),
            pii: false,
        },
        ShapeField {
            name: "email_address".into(),
            ty: json!("string"),
            pii: false,
        },
        ShapeField {
            name: "url".into(),
            ty: json!("string"),
            pii: false,
        },
        ShapeField {
            name: "is_amp".into(),
            ty: json!(["boolean", "null"]),
            pii: false,
        },
        ShapeField {
            name: "send_time".into(),
            ty: json!(["null", "int"]),
            pii: false,
        },
    ];
    let rec = vec![
        TVal::Str("e1".into()),
        TVal::Str("u1".into()),
        TVal::Long(1_800_000_000_000 / 1000),
        TVal::Str("a@b.c".into()),
        TVal::Str("https://x.example/".into()),
        TVal::Bool(true),
        TVal::Long(1_700_000_000),
    ];
    let bytes = file(&schema, Codec::Null, &[], &fields, &[vec![rec.clone()]]);
    assert_eq!(
        *Reader::new(&bytes, &DecodeOptions::default())
            .expect_err("refused")
            .kind(),
        DecodeErrorKind::NotAnEmailEvent
    );
    let mut opts = DecodeOptions::default();
    opts.fallback_event_type = Some(EventType::Click);
    let out = decode_file(&bytes, &opts);
    assert!(out.error.is_none(), "{:?}", out.error);
    check(&out.events[0], &fields, &rec);
}

#[test]
fn sanitized_files_carry_recipient_keys() {
    let mut f = fields(CLICK_NEWEST);
    f.retain(|f| f.name != "user_id" && f.name != "email_address" && f.name != "external_user_id");
    f.push(ShapeField {
        name: "recipient_key".into(),
        ty: json!(["null", "string"]),
        pii: false,
    });
    let schema = schema("Click", NS, &f);
    let mut rng = Pcg64::seed_from_u64(9);
    let key = RecipientKey([0xab; 16]);
    let recs: Vec<Vec<TVal>> = (0..5)
        .map(|i| {
            let mut r = random_record(&mut rng, &f);
            *r.last_mut().expect("fields") = if i == 2 {
                TVal::Null
            } else {
                TVal::Str(key.to_string())
            };
            r
        })
        .collect();
    let bytes = file(
        &schema,
        Codec::Deflate,
        &[("dynopt.sanitized", b"1")],
        &f,
        std::slice::from_ref(&recs),
    );
    let out = decode_file(&bytes, &DecodeOptions::default());
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.sanitized);
    assert!(out.unknown_fields.is_empty(), "{:?}", out.unknown_fields);
    assert_eq!(
        out.recipient_keys,
        [Some(key), Some(key), None, Some(key), Some(key)]
    );
    for (ev, rec) in out.events.iter().zip(&recs) {
        check(ev, &f, rec);
        let Event::Click(c) = ev else {
            panic!("a click")
        };
        assert_eq!(*c.user_id.expose(), "");
    }

    // Without the metadata flag the same schema is a Braze file lacking user_id.
    let bytes = file(&schema, Codec::Null, &[], &f, &[recs]);
    let out = decode_file(&bytes, &DecodeOptions::default());
    assert_eq!(
        out.error.map(|e| e.kind().clone()),
        Some(DecodeErrorKind::MissingRequiredField)
    );

    // A malformed key is an error naming the field.
    let mut recs2 = vec![random_record(&mut rng, &f)];
    *recs2[0].last_mut().expect("fields") = TVal::Str("not-hex".into());
    let bytes = file(
        &schema,
        Codec::Null,
        &[("dynopt.sanitized", b"")],
        &f,
        &[recs2],
    );
    let out = decode_file(&bytes, &DecodeOptions::default());
    let e = out.error.expect("bad key");
    assert_eq!(*e.kind(), DecodeErrorKind::InvalidRecipientKey);
    assert_eq!(e.field(), Some("recipient_key"));
}

#[test]
fn record_spans_cover_every_field_exactly() {
    let fields = fields(CLICK_2021);
    let schema = schema("Click", "users.messages.email", &fields);
    let mut rng = Pcg64::seed_from_u64(11);
    let recs: Vec<Vec<TVal>> = (0..20).map(|_| random_record(&mut rng, &fields)).collect();
    for codec in [Codec::Null, Codec::Deflate] {
        let bytes = file(&schema, codec, &[], &fields, std::slice::from_ref(&recs));
        let mut reader = Reader::new(&bytes, &DecodeOptions::default()).expect("header");
        let block = reader.next_block().expect("a block").expect("valid");
        let mut pos = 0;
        let mut n = 0;
        for (span, rec) in block.record_spans().zip(&recs) {
            let span = span.expect("valid record");
            assert_eq!(span.fields.len(), fields.len());
            for ((range, f), v) in span.fields.iter().zip(&fields).zip(rec) {
                assert_eq!(range.start, pos, "contiguous");
                let mut enc = Vec::new();
                encode(&f.ty, v, &mut enc);
                assert_eq!(&block.data()[range.clone()], &enc[..], "{}", f.name);
                pos = range.end;
            }
            n += 1;
        }
        assert_eq!(n, recs.len());
        assert_eq!(pos, block.data().len());
        assert!(reader.next_block().is_none());
    }
}
