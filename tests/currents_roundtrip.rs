//! Property: random field values written with `OcfWriter` (both codecs, random
//! block splits) decode to exactly those values, and record spans re-encode them;
//! for the email shapes and every published conversion schema.

mod common;

use common::records::*;
use dynopt::currents::{Codec, DecodeOptions, Reader};
use proptest::prelude::*;
use serde_json::Value;

fn value_strategy(name: &str, ty: &Value) -> BoxedStrategy<TVal> {
    match ty {
        Value::String(t) => match t.as_str() {
            "string" => any::<String>().prop_map(TVal::Str).boxed(),
            "int" if name == "time" || name == "send_time" => (i32::MIN..=i32::MAX)
                .prop_map(|v| TVal::Long(i64::from(v)))
                .boxed(),
            "int" => (i32::MIN..=i32::MAX)
                .prop_map(|v| TVal::Long(i64::from(v)))
                .boxed(),
            "long" => any::<i64>().prop_map(TVal::Long).boxed(),
            "boolean" => any::<bool>().prop_map(TVal::Bool).boxed(),
            "double" => any::<f64>().prop_map(TVal::Double).boxed(),
            other => panic!("type {other}"),
        },
        Value::Array(branches) => {
            let opts: Vec<BoxedStrategy<TVal>> = branches
                .iter()
                .map(|b| {
                    if b == "null" {
                        Just(TVal::Null).boxed()
                    } else {
                        value_strategy(name, b)
                    }
                })
                .collect();
            proptest::strategy::Union::new(opts).boxed()
        }
        Value::Object(o) if o["type"] == "array" => {
            proptest::collection::vec(value_strategy(name, &o["items"]), 0..4)
                .prop_map(TVal::List)
                .boxed()
        }
        other => panic!("type {other}"),
    }
}

fn record_strategy(fields: &[ShapeField]) -> BoxedStrategy<Vec<TVal>> {
    let parts: Vec<BoxedStrategy<TVal>> = fields
        .iter()
        .map(|f| value_strategy(&f.name, &f.ty))
        .collect();
    parts.prop_map(|v| v).boxed()
}

fn run(shape: ShapeRef, ns: &str, recs: &[Vec<TVal>], split: usize, deflate: bool) {
    let fields = fields(shape);
    run_fields("Click", ns, &fields, recs, split, deflate);
}

fn run_fields(
    record: &str,
    ns: &str,
    fields: &[ShapeField],
    recs: &[Vec<TVal>],
    split: usize,
    deflate: bool,
) {
    let fields = fields.to_vec();
    let schema = schema(record, ns, &fields);
    let codec = if deflate { Codec::Deflate } else { Codec::Null };
    let split = split.min(recs.len());
    let blocks = vec![recs[..split].to_vec(), recs[split..].to_vec()];
    let bytes = file(&schema, codec, &[], &fields, &blocks);
    let mut reader = Reader::new(&bytes, &DecodeOptions::default()).expect("header");
    let mut i = 0;
    while let Some(block) = reader.next_block() {
        let block = block.expect("block");
        for (ev, span) in block.events().zip(block.record_spans()) {
            let ev = ev.expect("record");
            let span = span.expect("spans");
            check(&ev, &fields, &recs[i]);
            for ((r, f), v) in span.fields.iter().zip(&fields).zip(&recs[i]) {
                let mut enc = Vec::new();
                encode(&f.ty, v, &mut enc);
                assert_eq!(&block.data()[r.clone()], &enc[..]);
            }
            i += 1;
        }
    }
    assert_eq!(i, recs.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn newest_click_values_round_trip(
        recs in proptest::collection::vec(record_strategy(&fields(CLICK_NEWEST)), 1..8),
        split in 0usize..8,
        deflate in any::<bool>(),
    ) {
        run(CLICK_NEWEST, "dataexport.S3.inner.users.messages.email", &recs, split, deflate);
    }

    /// Every published conversion schema (the record name `Conversion` is
    /// shared; the namespace tells the three types apart).
    #[test]
    fn conversion_values_round_trip(
        (i, recs) in (0..common::fixtures::conversion_shapes().len()).prop_flat_map(|i| {
            let shape = &common::fixtures::conversion_shapes()[i];
            (Just(i), proptest::collection::vec(record_strategy(&fields_of(shape)), 1..5))
        }),
        split in 0usize..5,
        deflate in any::<bool>(),
    ) {
        let shape = &common::fixtures::conversion_shapes()[i];
        run_fields(&shape.record, &shape.namespace, &fields_of(shape), &recs, split, deflate);
    }

    #[test]
    fn kafka_connect_variant_values_round_trip(
        recs in proptest::collection::vec(record_strategy(&fields(CLICK_2021)), 1..5),
        split in 0usize..5,
        deflate in any::<bool>(),
    ) {
        run(CLICK_2021, "users.messages.email", &recs, split, deflate);
    }
}
