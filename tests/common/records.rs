//! Hand-encoded Currents records written with `dynopt`'s own `OcfWriter`, for the
//! `currents_*` tests: shapes picked from `tests/data/currents-schema-shapes.json`
//! (through [`super::fixtures::shapes`]), random values of any Avro type, the
//! encoder, and [`check`], which compares a decoded event with the record written.

use dynopt::currents::{Codec, Event, FieldValue, OcfWriter, encode_bool, encode_long, encode_str};
use rand::{Rng, RngExt};
use serde_json::{Value, json};

use super::fixtures;

/// Which published shape of an event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// The oldest (2018-11-05).
    Oldest,
    /// The newest, not counting the 2021 Kafka-Connect-style variant.
    Newest,
    /// The 2021-06-30 Kafka-Connect-style variant.
    KafkaConnect,
}

/// A published shape: an event type's record name and which of its shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeRef {
    /// Record name (`Click`).
    pub record: &'static str,
    /// Which of its shapes.
    pub pick: Pick,
}

/// Newest published Click shape (2026-02-24).
pub const CLICK_NEWEST: ShapeRef = ShapeRef {
    record: "Click",
    pick: Pick::Newest,
};
/// Oldest Click shape (2018-11-05).
pub const CLICK_2018: ShapeRef = ShapeRef {
    record: "Click",
    pick: Pick::Oldest,
};
/// The 2021 Kafka-Connect-style Click variant.
pub const CLICK_2021: ShapeRef = ShapeRef {
    record: "Click",
    pick: Pick::KafkaConnect,
};
/// Newest Open shape (2026-01-23).
pub const OPEN_NEWEST: ShapeRef = ShapeRef {
    record: "Open",
    pick: Pick::Newest,
};
/// Oldest Open shape (2018-11-05).
pub const OPEN_2018: ShapeRef = ShapeRef {
    record: "Open",
    pick: Pick::Oldest,
};
/// Newest Deferral shape (has `attempt_count` int).
pub const DEFERRAL_NEWEST: ShapeRef = ShapeRef {
    record: "Deferral",
    pick: Pick::Newest,
};

/// One field of a shape: name and Avro type.
#[derive(Clone, Debug)]
pub struct ShapeField {
    pub name: String,
    pub ty: Value,
    pub pii: bool,
}

/// The fields of a published shape, in writer order.
pub fn fields(shape: ShapeRef) -> Vec<ShapeField> {
    let mut of_record = fixtures::shapes()
        .into_iter()
        .filter(|s| s.record == shape.record);
    let found = match shape.pick {
        Pick::Oldest => of_record.next(),
        Pick::Newest => of_record.rfind(|s| !s.is_kafka_connect()),
        Pick::KafkaConnect => of_record.find(|s| s.is_kafka_connect()),
    };
    let found = found.unwrap_or_else(|| panic!("no published shape {shape:?}"));
    found
        .fields
        .into_iter()
        .map(|f| ShapeField {
            name: f.name,
            ty: f.ty,
            pii: f.pii_tag,
        })
        .collect()
}

/// The fields of a generator shape (for example a conversion schema from
/// [`fixtures::conversion_shapes`]), in writer order.
pub fn fields_of(shape: &fixtures::Shape) -> Vec<ShapeField> {
    shape
        .fields
        .iter()
        .map(|f| ShapeField {
            name: f.name.clone(),
            ty: f.ty.clone(),
            pii: f.pii_tag,
        })
        .collect()
}

/// The writer schema JSON of a record `name` in `namespace` with `fields`.
pub fn schema(name: &str, namespace: &str, fields: &[ShapeField]) -> String {
    let fs: Vec<Value> = fields
        .iter()
        .map(|f| {
            let mut o = json!({"name": f.name, "type": f.ty});
            if f.ty.is_array() {
                o["default"] = Value::Null;
            }
            if f.pii {
                o["doc"] = json!(format!("[PII] {}", f.name));
            }
            o
        })
        .collect();
    json!({"type": "record", "name": name, "namespace": namespace, "fields": fs}).to_string()
}

/// A test value.
#[derive(Clone, Debug, PartialEq)]
pub enum TVal {
    Null,
    Str(String),
    Long(i64),
    Bool(bool),
    Double(f64),
    List(Vec<TVal>),
}

fn hex(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16usize)]))
        .collect()
}

fn uuid(rng: &mut impl Rng) -> String {
    format!(
        "{}-{}-4{}-a{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 3),
        hex(rng, 3),
        hex(rng, 12)
    )
}

/// A realistic string for a field name.
pub fn realistic_str(rng: &mut impl Rng, name: &str) -> String {
    match name {
        "id" => uuid(rng),
        "user_id" | "dispatch_id" | "send_id" | "link_id" | "app_group_id" => hex(rng, 24),
        n if n.ends_with("_id") => uuid(rng),
        "email_address" => format!("user{}@example.com", rng.random_range(0..1_000_000u32)),
        "url" => format!(
            "https://www.example.com/landing/{}?utm_source=braze&utm_campaign=spring&dov=v{}.{}&lid={}",
            hex(rng, 16),
            rng.random_range(0..5u32),
            1_700_000_000 + rng.random_range(0..10_000_000u32),
            hex(rng, 12)
        ),
        "user_agent" => format!(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            rng.random_range(0..9u32)
        ),
        "timezone" => "Europe/Zürich".to_owned(),
        "machine_open" => "true".to_owned(),
        n if n.ends_with("_name") => {
            format!("Spring sale – variant {} ✉", rng.random_range(0..100u32))
        }
        _ => format!("{}-{}", name, rng.random_range(0..1000u32)),
    }
}

/// A random value of Avro type `ty` for field `name` (about 5% nulls in unions).
pub fn random_value(rng: &mut impl Rng, name: &str, ty: &Value) -> TVal {
    match ty {
        Value::String(t) => match t.as_str() {
            "null" => TVal::Null,
            "string" => TVal::Str(realistic_str(rng, name)),
            "int" => {
                if name == "time" || name == "send_time" {
                    TVal::Long(1_700_000_000 + rng.random_range(0..100_000_000i64))
                } else {
                    TVal::Long(rng.random_range(-1000..100_000i64))
                }
            }
            "long" => TVal::Long(rng.random_range(-(1i64 << 40)..(1i64 << 40))),
            "boolean" => TVal::Bool(rng.random_range(0..2u8) == 1),
            "double" => TVal::Double(f64::from(rng.random_range(0..1000u32)) / 8.0),
            other => panic!("unsupported type {other}"),
        },
        Value::Array(branches) => {
            let null = branches.iter().position(|b| b == "null");
            let non_null: Vec<usize> = (0..branches.len()).filter(|i| Some(*i) != null).collect();
            if null.is_some() && (non_null.is_empty() || rng.random_range(0..20u8) == 0) {
                TVal::Null
            } else {
                let b = non_null[rng.random_range(0..non_null.len())];
                random_value(rng, name, &branches[b])
            }
        }
        Value::Object(o) if o["type"] == "array" => {
            let n = rng.random_range(0..3usize);
            let items = &o["items"];
            TVal::List(
                (0..n)
                    .map(|_| {
                        if name == "suspected_bot_click_reason" {
                            TVal::Str(
                                ["user_agent", "ip_address"][rng.random_range(0..2usize)].into(),
                            )
                        } else {
                            random_value(rng, name, items)
                        }
                    })
                    .collect(),
            )
        }
        other => panic!("unsupported type {other}"),
    }
}

/// Encodes `v` as Avro type `ty`.
pub fn encode(ty: &Value, v: &TVal, out: &mut Vec<u8>) {
    match (ty, v) {
        (Value::Array(branches), v) => {
            let want = |b: &Value| {
                matches!(
                    (b.as_str(), v),
                    (Some("null"), TVal::Null)
                        | (Some("string"), TVal::Str(_))
                        | (Some("int" | "long"), TVal::Long(_))
                        | (Some("boolean"), TVal::Bool(_))
                        | (Some("double"), TVal::Double(_))
                        | (None, TVal::List(_))
                )
            };
            let i = branches
                .iter()
                .position(want)
                .expect("random_value draws only values of one of the union's branches");
            encode_long(i as i64, out);
            encode(&branches[i], v, out);
        }
        (_, TVal::Null) => {}
        (_, TVal::Str(s)) => encode_str(s, out),
        (_, TVal::Long(n)) => encode_long(*n, out),
        (_, TVal::Bool(b)) => encode_bool(*b, out),
        (_, TVal::Double(d)) => out.extend_from_slice(&d.to_le_bytes()),
        (Value::Object(o), TVal::List(items)) => {
            if !items.is_empty() {
                encode_long(items.len() as i64, out);
                for it in items {
                    encode(&o["items"], it, out);
                }
            }
            encode_long(0, out);
        }
        (t, v) => panic!("cannot encode {v:?} as {t}"),
    }
}

/// One random record of a shape.
pub fn random_record(rng: &mut impl Rng, fields: &[ShapeField]) -> Vec<TVal> {
    fields
        .iter()
        .map(|f| random_value(rng, &f.name, &f.ty))
        .collect()
}

/// Encodes one record.
pub fn encode_record(fields: &[ShapeField], rec: &[TVal], out: &mut Vec<u8>) {
    for (f, v) in fields.iter().zip(rec) {
        encode(&f.ty, v, out);
    }
}

/// A file of `blocks` (each a list of records).
pub fn file(
    schema_json: &str,
    codec: Codec,
    metadata: &[(&str, &[u8])],
    fields: &[ShapeField],
    blocks: &[Vec<Vec<TVal>>],
) -> Vec<u8> {
    let w = OcfWriter::new(schema_json, codec, metadata, *b"\x01sync-marker-xyz");
    let mut out = Vec::new();
    w.header(&mut out);
    for b in blocks {
        let mut recs = Vec::new();
        for r in b {
            encode_record(fields, r, &mut recs);
        }
        w.write_block(b.len() as u64, &recs, &mut out);
    }
    out
}

/// Checks a decoded event against the record it came from: every writer
/// field the typed event knows has the written value; every typed field the
/// writer lacks is null.
pub fn check(ev: &Event<'_>, fields: &[ShapeField], rec: &[TVal]) {
    for def in ev.event_type().fields() {
        let got = ev
            .get(def.name)
            .expect("the name comes from the event type's own field list");
        let expected = fields
            .iter()
            .position(|f| f.name == def.name)
            .map(|i| &rec[i]);
        match (expected, got) {
            (None | Some(TVal::Null), FieldValue::Null) => {}
            (Some(TVal::Str(s)), FieldValue::Str(g)) => assert_eq!(g, s, "{}", def.name),
            (Some(TVal::Str(s)), FieldValue::Pii(g)) => assert_eq!(*g.expose(), s, "{}", def.name),
            (Some(TVal::Long(n)), FieldValue::Time(t)) => {
                assert_eq!(t.timestamp(), *n, "{}", def.name)
            }
            (Some(TVal::Long(n)), FieldValue::Int(g)) => assert_eq!(g, *n, "{}", def.name),
            (Some(TVal::Bool(b)), FieldValue::Bool(g)) => assert_eq!(g, *b, "{}", def.name),
            (Some(TVal::List(items)), FieldValue::StrList(g)) => {
                let want: Vec<&str> = items
                    .iter()
                    .map(|i| match i {
                        TVal::Str(s) => s.as_str(),
                        other => panic!("{other:?}"),
                    })
                    .collect();
                let got: Vec<&str> = g.iter().map(|c| &**c).collect();
                assert_eq!(got, want, "{}", def.name);
            }
            (Some(v @ TVal::List(_)), FieldValue::PiiAvro(raw)) => {
                // Custom attributes: the array's own Avro bytes.
                let ty = &fields
                    .iter()
                    .find(|f| f.name == def.name)
                    .expect("the expected value comes from this field")
                    .ty;
                let array_ty = match ty {
                    Value::Array(branches) => branches
                        .iter()
                        .find(|b| b.is_object())
                        .expect("a union with an array branch"),
                    other => other,
                };
                let mut want = Vec::new();
                encode(array_ty, v, &mut want);
                assert_eq!(*raw.expose(), want.as_slice(), "{}", def.name);
            }
            // Required fields the writer lacks (sanitized files): empty.
            (None, FieldValue::Pii(g)) => assert_eq!(*g.expose(), "", "{}", def.name),
            (e, g) => panic!("field {}: expected {e:?}, got {g:?}", def.name),
        }
    }
}
