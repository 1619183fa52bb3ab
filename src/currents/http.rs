//! Braze's Custom HTTP Currents connector: the JSON envelope of a batch,
//! `{"events":[{"event_type","id","time","properties":{...},"user":{...}}, ...]}`,
//! decoded into the same typed [`Event`]s as the Avro files, field by field
//! through the event type's [`fields`](EventType::fields) and their kinds.
//!
//! The host-facing call is `pii::Filter::clean_http`, which runs these events
//! through the PII filter; this module holds the limits, the errors and the
//! decoding of one event.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Number, Value};

use super::cursor::{Val, time_from};
use super::events::{Event, EventType};
use super::kind::{FieldDef, FieldKind, Target};

/// Limits for decoding a Custom HTTP body (see `docs/design.md`, *Bounded memory*).
///
/// The parsed body is held as a JSON tree while its events are decoded. Before
/// parsing, a scan of the body bounds that tree's size from its objects, members
/// and arrays; a body whose bound exceeds [`MAX_TREE_FACTOR`](Self::MAX_TREE_FACTOR)
/// times [`max_body_bytes`](Self::max_body_bytes) is refused
/// ([`HttpError::TooComplex`]), so the tree never exceeds that (real events of
/// about 1 KB bound at under 10 times their size).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Largest body accepted, in bytes. Default 1 MiB (Braze sends up to 100
    /// events of about 1 KB per request by default).
    pub max_body_bytes: usize,
    /// Most events accepted in one batch. Default 1,000.
    pub max_events: usize,
    /// Deepest nesting of JSON values inside one event (the event object is
    /// level 1; `properties` members are at level 3). Default 16. The JSON parser
    /// itself refuses anything nested deeper than 128 levels.
    pub max_depth: usize,
}

impl HttpOptions {
    /// The JSON tree of a body is bounded by this many times
    /// [`max_body_bytes`](Self::max_body_bytes).
    pub const MAX_TREE_FACTOR: usize = 16;
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_body_bytes: 1 << 20,
            max_events: 1_000,
            max_depth: 16,
        }
    }
}

/// Why a whole Custom HTTP body was refused. Nothing in it names a value read
/// from the body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The body is larger than [`HttpOptions::max_body_bytes`].
    #[error("the body is {len} bytes, above the limit of {limit}")]
    BodyTooLarge {
        /// The body's length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The body is not well-formed JSON (or nests deeper than the parser's
    /// 128 levels); the position only.
    #[error("the body is not valid JSON ({what} at line {line}, column {column})")]
    NotJson {
        /// What is wrong: `"syntax error"` or `"unexpected end"`.
        what: &'static str,
        /// The line (1-based).
        line: usize,
        /// The column (1-based).
        column: usize,
    },
    /// The body's JSON tree could exceed [`HttpOptions::MAX_TREE_FACTOR`] times
    /// [`HttpOptions::max_body_bytes`] (a body of many tiny objects).
    #[error("the body's JSON tree could take {bound} bytes, above the limit of {limit}")]
    TooComplex {
        /// The bound computed from the body.
        bound: usize,
        /// The limit.
        limit: usize,
    },
    /// The body is JSON but not an object with an `events` array.
    #[error("the body is not an object with an `events` array")]
    NotAnEnvelope,
    /// The batch holds more than [`HttpOptions::max_events`] events.
    #[error("the batch holds {count} events, above the limit of {limit}")]
    TooManyEvents {
        /// The number of events in the batch.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

/// What is wrong with one event of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpEventErrorKind {
    /// The event, its `properties` or its `user` is not a JSON object.
    NotAnObject,
    /// A required member (`event_type`, `id`, `time`) is missing or null.
    Missing,
    /// The value does not match the field's kind (a string where a boolean
    /// belongs, a fraction for an integer, ...).
    WrongKind(FieldKind),
    /// An integer or a time outside the representable range.
    OutOfRange,
    /// The event nests deeper than [`HttpOptions::max_depth`].
    TooDeep,
}

/// One event of a batch that could not be decoded: its position in `events`,
/// the field at fault and what is wrong, never a value. The other events of the
/// batch are decoded as usual.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpEventError {
    /// The index of the event in the batch's `events` array.
    pub index: usize,
    /// The field at fault (a Braze field name, or `event_type`, `properties`,
    /// `user`), when one is.
    pub field: Option<&'static str>,
    /// What is wrong.
    pub kind: HttpEventErrorKind,
}

impl fmt::Display for HttpEventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {}", self.index)?;
        if let Some(field) = self.field {
            write!(f, ", field `{field}`")?;
        }
        match self.kind {
            HttpEventErrorKind::NotAnObject => f.write_str(": not a JSON object"),
            HttpEventErrorKind::Missing => f.write_str(": missing"),
            HttpEventErrorKind::WrongKind(k) => write!(f, ": the value is not of kind {k:?}"),
            HttpEventErrorKind::OutOfRange => f.write_str(": number out of range"),
            HttpEventErrorKind::TooDeep => f.write_str(": nested too deeply"),
        }
    }
}

impl std::error::Error for HttpEventError {}

/// An upper bound of the memory `serde_json` takes for the tree of `body`:
/// every object's first B-tree node (768 bytes), every member and array item
/// (128 bytes: its share of the nodes, its key and value), every array (64
/// bytes), plus the text itself. Counts the structural characters outside
/// strings; never fails.
fn tree_bound(body: &[u8]) -> usize {
    let (mut objects, mut items, mut arrays) = (0usize, 0usize, 0usize);
    let (mut in_string, mut escape) = (false, false);
    for &b in body {
        if in_string {
            match (escape, b) {
                (true, _) => escape = false,
                (false, b'\\') => escape = true,
                (false, b'"') => in_string = false,
                (false, _) => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => objects += 1,
            b'[' => arrays += 1,
            b',' | b':' => items += 1,
            _ => {}
        }
    }
    objects
        .saturating_mul(768)
        .saturating_add(items.saturating_add(1).saturating_mul(128))
        .saturating_add(arrays.saturating_mul(64))
        .saturating_add(body.len())
}

/// Parses a body into its `events` array, within the limits.
pub(crate) fn parse_body(body: &[u8], options: &HttpOptions) -> Result<Vec<Value>, HttpError> {
    if body.len() > options.max_body_bytes {
        return Err(HttpError::BodyTooLarge {
            len: body.len(),
            limit: options.max_body_bytes,
        });
    }
    let limit = options
        .max_body_bytes
        .saturating_mul(HttpOptions::MAX_TREE_FACTOR);
    let bound = tree_bound(body);
    if bound > limit {
        return Err(HttpError::TooComplex { bound, limit });
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| HttpError::NotJson {
        // The position only: serde_json's message may quote the input.
        what: if e.is_eof() {
            "unexpected end"
        } else {
            "syntax error"
        },
        line: e.line(),
        column: e.column(),
    })?;
    let Value::Object(mut top) = v else {
        return Err(HttpError::NotAnEnvelope);
    };
    let Some(Value::Array(events)) = top.remove("events") else {
        return Err(HttpError::NotAnEnvelope);
    };
    if events.len() > options.max_events {
        return Err(HttpError::TooManyEvents {
            count: events.len(),
            limit: options.max_events,
        });
    }
    Ok(events)
}

/// One decoded event of a batch, with what the PII filter needs besides it.
pub(crate) struct HttpEvent<'v> {
    pub(crate) event: Event<'v>,
    /// The known fields present (properties and `user` members the event type
    /// has), for the filter's report.
    pub(crate) present: Vec<&'static str>,
    /// Members the event type does not know (`properties` names, `user.*`).
    pub(crate) unknown: Vec<Cow<'v, str>>,
    /// Personal values the typed event has no field for, with their names:
    /// `user.external_user_id` and `user.device_id` on types without them, and
    /// properties the crate knows as personal on other types (an
    /// `email_address` sent with a conversion).
    pub(crate) extra_personal: Vec<(&'v str, &'v str)>,
    /// Kept text values left out because `drop_text` refused them.
    pub(crate) dropped_text: usize,
}

/// What one element of `events` is.
pub(crate) enum HttpItem<'v> {
    /// An event of a type the crate decodes.
    Event(Box<HttpEvent<'v>>),
    /// An event of another type: skipped.
    UnknownType,
}

/// Whether the crate's field list names `name` as personal.
fn is_personal_name(name: &str) -> bool {
    crate::fields::CATALOGUE
        .iter()
        .any(|(n, c)| *n == name && *c == crate::fields::FieldClass::Personal)
}

fn err(index: usize, field: Option<&'static str>, kind: HttpEventErrorKind) -> HttpEventError {
    HttpEventError { index, field, kind }
}

/// Whether `v` nests at most `max` levels (`v` itself is level `level`).
fn depth_ok(v: &Value, level: usize, max: usize) -> bool {
    if level > max {
        return false;
    }
    match v {
        Value::Array(items) => items.iter().all(|i| depth_ok(i, level + 1, max)),
        Value::Object(m) => m.values().all(|i| depth_ok(i, level + 1, max)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
    }
}

/// An integer, or a float without a fraction within the `i64` range.
fn integer(n: &Number) -> Result<i64, HttpEventErrorKind> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.as_u64().is_some() {
        return Err(HttpEventErrorKind::OutOfRange);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
        Some(f) if f.fract() == 0.0 => Err(HttpEventErrorKind::OutOfRange),
        _ => Err(HttpEventErrorKind::WrongKind(FieldKind::Int)),
    }
}

/// Maps an integer error to `wrong`, keeping `OutOfRange`.
fn keep_range(wrong: HttpEventErrorKind) -> impl Fn(HttpEventErrorKind) -> HttpEventErrorKind {
    move |k| match k {
        HttpEventErrorKind::OutOfRange => k,
        HttpEventErrorKind::NotAnObject
        | HttpEventErrorKind::Missing
        | HttpEventErrorKind::WrongKind(_)
        | HttpEventErrorKind::TooDeep => wrong,
    }
}

/// The typed value of field `def` from a JSON value; `Ok(None)` for null (and
/// for the custom attribute arrays, which are checked and not kept: they are
/// personal and never leave).
fn value_of<'v>(def: &FieldDef, v: &'v Value) -> Result<Option<Val<'v>>, HttpEventErrorKind> {
    let wrong = HttpEventErrorKind::WrongKind(def.kind);
    let (target, _) = def.kind.target();
    Ok(Some(match (target, v) {
        (_, Value::Null) => return Ok(None),
        (Target::Str, Value::String(s)) => Val::Str(s),
        (Target::Bool, Value::Bool(b)) => Val::Bool(*b),
        (Target::Long, Value::Number(n)) => Val::Long(integer(n).map_err(keep_range(wrong))?),
        (Target::Time, Value::Number(n)) => {
            let secs = integer(n).map_err(keep_range(wrong))?;
            Val::Time(time_from(secs).map_err(|_| HttpEventErrorKind::OutOfRange)?)
        }
        (Target::List, Value::Array(items)) => Val::List(
            items
                .iter()
                .map(|i| i.as_str().map(Cow::Borrowed).ok_or(wrong))
                .collect::<Result<_, _>>()?,
        ),
        (Target::Raw, Value::Array(_)) => return Ok(None),
        _ => return Err(wrong),
    }))
}

/// The members of an optional object member (`properties`, `user`).
fn object_member<'v>(
    index: usize,
    obj: &'v Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'v Map<String, Value>>, HttpEventError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(err(index, Some(name), HttpEventErrorKind::NotAnObject)),
    }
}

/// Decodes element `index` of a batch's `events`. `drop_text` is asked about
/// every non-personal text value, with its field's name (not `url`, which the
/// filter scrubs); a value it refuses is left out and counted.
pub(crate) fn decode_event<'v>(
    index: usize,
    v: &'v Value,
    options: &HttpOptions,
    drop_text: &dyn Fn(&str, &str) -> bool,
) -> Result<HttpItem<'v>, HttpEventError> {
    if !depth_ok(v, 1, options.max_depth) {
        return Err(err(index, None, HttpEventErrorKind::TooDeep));
    }
    let Value::Object(obj) = v else {
        return Err(err(index, None, HttpEventErrorKind::NotAnObject));
    };
    let et = match obj.get("event_type") {
        None | Some(Value::Null) => {
            return Err(err(index, Some("event_type"), HttpEventErrorKind::Missing));
        }
        Some(Value::String(s)) => match EventType::from_name(s) {
            Some(et) => et,
            None => return Ok(HttpItem::UnknownType),
        },
        Some(_) => {
            return Err(err(
                index,
                Some("event_type"),
                HttpEventErrorKind::WrongKind(FieldKind::RequiredString),
            ));
        }
    };
    let defs = et.fields();
    let mut out = HttpEvent {
        event: Event::empty(et),
        present: Vec::new(),
        unknown: Vec::new(),
        extra_personal: Vec::new(),
        dropped_text: 0,
    };
    let set = |out: &mut HttpEvent<'v>, name: &str, value: &'v Value| {
        let Some((slot, def)) = defs.iter().enumerate().find(|(_, d)| d.name == name) else {
            return Ok(false);
        };
        let typed = value_of(def, value).map_err(|k| err(index, Some(def.name), k))?;
        out.present.push(def.name);
        if let Some(typed) = typed {
            let refused = match (def.kind, &typed) {
                (FieldKind::String, Val::Str(s)) => drop_text(def.name, s),
                (FieldKind::StringList, Val::List(items)) => {
                    items.iter().any(|s| drop_text(def.name, s))
                }
                _ => false,
            };
            if refused {
                out.dropped_text += 1;
                return Ok(true);
            }
            out.event.set_slot(slot, typed);
        }
        Ok(true)
    };
    if let Some(props) = object_member(index, obj, "properties")? {
        for (name, value) in props {
            // The envelope's `id` and `time` are the event's.
            if matches!(name.as_str(), "id" | "time") {
                continue;
            }
            if !set(&mut out, name, value)? {
                if let Value::String(s) = value
                    && is_personal_name(name)
                {
                    out.extra_personal.push((name, s));
                }
                out.unknown.push(Cow::Borrowed(name));
            }
        }
    }
    if let Some(user) = object_member(index, obj, "user")? {
        for (name, value) in user {
            let member: &'static str = match name.as_str() {
                "user_id" => "user_id",
                "external_user_id" => "external_user_id",
                "device_id" => "device_id",
                "timezone" => "timezone",
                other => {
                    out.unknown.push(Cow::Owned(format!("user.{other}")));
                    continue;
                }
            };
            let Some(s) = (match value {
                Value::Null => None,
                Value::String(s) => Some(s.as_str()),
                _ => {
                    let kind = if member == "timezone" {
                        FieldKind::String
                    } else {
                        FieldKind::PiiString
                    };
                    return Err(err(
                        index,
                        Some(member),
                        HttpEventErrorKind::WrongKind(kind),
                    ));
                }
            }) else {
                continue;
            };
            if !set(&mut out, member, value)? && member != "timezone" {
                // A personal id the typed event has no field for: still one of
                // the record's personal values.
                out.extra_personal.push((member, s));
            }
        }
    }
    for (member, kind) in [
        ("id", FieldKind::RequiredString),
        ("time", FieldKind::RequiredTime),
    ] {
        match obj.get(member) {
            None | Some(Value::Null) => {
                return Err(err(index, Some(member), HttpEventErrorKind::Missing));
            }
            Some(value) => {
                let (slot, def) = defs
                    .iter()
                    .enumerate()
                    .find(|(_, d)| d.name == member)
                    .ok_or(err(
                        index,
                        Some(member),
                        HttpEventErrorKind::WrongKind(kind),
                    ))?;
                let typed = value_of(def, value)
                    .map_err(|k| err(index, Some(def.name), k))?
                    .ok_or(err(index, Some(member), HttpEventErrorKind::Missing))?;
                out.event.set_slot(slot, typed);
            }
        }
    }
    for name in obj.keys() {
        if !matches!(
            name.as_str(),
            "event_type" | "id" | "time" | "properties" | "user"
        ) {
            out.unknown.push(Cow::Borrowed(name));
        }
    }
    Ok(HttpItem::Event(Box::new(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_from_json_numbers() {
        let n = |s: &str| serde_json::from_str::<Number>(s).expect("a number");
        assert_eq!(integer(&n("42")), Ok(42));
        assert_eq!(integer(&n("-7")), Ok(-7));
        assert_eq!(integer(&n("1767225600.0")), Ok(1_767_225_600));
        assert_eq!(integer(&n("1e3")), Ok(1000));
        assert_eq!(
            integer(&n("18446744073709551615")),
            Err(HttpEventErrorKind::OutOfRange)
        );
        assert_eq!(integer(&n("1e300")), Err(HttpEventErrorKind::OutOfRange));
        assert!(matches!(
            integer(&n("0.5")),
            Err(HttpEventErrorKind::WrongKind(_))
        ));
    }

    #[test]
    fn tree_bounds() {
        // A real-sized Click event (about 1 KB) bounds at under 10 times its size.
        let ev = format!(
            r#"{{"event_type":"users.messages.email.Click","id":"0b8e5c52-9f4e-4c1e-8d7a-3f2b1c0d9e8f","time":1767225600,"properties":{{"app_group_id":"5a9ee6a2d4c3b3001b3f8a11","campaign_id":"{u}","campaign_name":"Spring sale 2026 – subject line test, wave 2","dispatch_id":"{u}","message_variation_id":"{u}","message_variation_name":"Variant B: 20% off ends Sunday","canvas_id":null,"canvas_name":null,"send_id":"{u}","url":"https://www.acme-shop.com/collections/summer-1234?utm_source=braze&utm_medium=email&utm_campaign=spring_sale&lid=abcd1234&dov=v2.1767222000","link_id":"{u}","link_alias":"cta_button_1","is_amp":false,"email_address":"jane.doe12345@gmail.com","user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148","esp":"sendgrid","from_domain":"mail.acme-shop.com","ip_pool":"marketing_pool_2","device_class":"mobile","device_os":"iOS","browser":"Safari","mailbox_provider":"Gmail","is_suspected_bot_click":false}},"user":{{"user_id":"5f1a2b3c4d5e6f7a8b9c0d1e","external_user_id":"crm-3f2b1c0d9e8f","device_id":null,"timezone":"Europe/Berlin"}}}}"#,
            u = "0b8e5c52-9f4e-4c1e-8d7a-3f2b1c0d9e8f"
        );
        let b = tree_bound(ev.as_bytes());
        assert!(ev.len() > 900 && b < 10 * ev.len(), "{b} for {}", ev.len());
        // Structure inside strings does not count.
        let quoted = br#""{{{{,,,:::\"{{""#;
        assert_eq!(tree_bound(quoted), 128 + quoted.len());
        // Tiny objects bound high and are refused under the default factor.
        let tiny = format!("{{\"events\":[{}]}}", vec![r#"{"a":0}"#; 2000].join(","));
        let o = HttpOptions {
            max_body_bytes: tiny.len(),
            ..HttpOptions::default()
        };
        assert!(matches!(
            parse_body(tiny.as_bytes(), &o),
            Err(HttpError::TooComplex { .. })
        ));
    }

    #[test]
    fn an_int_field_keeps_out_of_range() {
        let def = FieldDef {
            name: "attempt_count",
            kind: FieldKind::Int,
        };
        let big: Value = serde_json::from_str("1e300").expect("json");
        assert_eq!(
            value_of(&def, &big).err(),
            Some(HttpEventErrorKind::OutOfRange)
        );
        let frac: Value = serde_json::from_str("1.5").expect("json");
        assert_eq!(
            value_of(&def, &frac).err(),
            Some(HttpEventErrorKind::WrongKind(FieldKind::Int))
        );
    }
}
