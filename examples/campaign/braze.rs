//! The customer side's view of Braze: Currents Click, Open, Unsubscribe and
//! campaign Conversion files with the newest published schemas, written byte for byte as Braze
//! writes them (Avro Object Container Files, personal data included).

use dynopt::currents::{
    Codec, EventType, FieldKind, OcfWriter, encode_long, encode_opt_bool, encode_opt_long,
    encode_opt_str, encode_str, encode_str_array,
};
use dynopt::pii::ALWAYS_PERSONAL;

/// The schema JSON Braze embeds in a file of `kind`: the newest published
/// fields as the crate knows them (`EventType::published_fields`), with Braze's
/// Avro types and its `[PII]` tags on the personal fields.
pub(crate) fn schema(kind: EventType) -> String {
    let fields: Vec<String> = written_fields(kind)
        .map(|f| {
            let name = f.name;
            let doc = if ALWAYS_PERSONAL.contains(&name) {
                format!("[PII] {name} of the recipient")
            } else {
                format!("{name} of the event")
            };
            let ty = match f.kind {
                FieldKind::RequiredString | FieldKind::RequiredPiiString => r#""string""#,
                FieldKind::RequiredTime => r#""int""#,
                FieldKind::Bool => r#"["null","boolean"],"default":null"#,
                FieldKind::Int | FieldKind::Time => r#"["null","int"],"default":null"#,
                FieldKind::StringList => {
                    r#"["null",{"type":"array","items":"string"}],"default":null"#
                }
                // String, PiiString, Url and any kind a later crate version adds.
                _ => r#"["null","string"],"default":null"#,
            };
            format!(r#"{{"name":"{name}","type":{ty},"doc":"{doc}"}}"#)
        })
        .collect();
    let (name, ns) = (kind.record_name(), kind.namespace());
    format!(
        r#"{{"type":"record","name":"{name}","namespace":"dataexport.S3.inner.{ns}","doc":"{name} events","fields":[{}]}}"#,
        fields.join(",")
    )
}

/// The fields this simulated Braze writes for `kind`: the newest published
/// ones, without the custom attribute maps of conversions (left out, as a
/// workspace without custom attributes exports them).
fn written_fields(kind: EventType) -> impl Iterator<Item = &'static dynopt::currents::FieldDef> {
    kind.published_fields()
        .iter()
        .filter(|f| f.kind != FieldKind::Attributes)
}

/// One event as Braze records it (a click, an open or an unsubscribe).
/// Personal fields included: this is the customer side, before `sanitize`.
#[derive(Clone)]
pub(crate) struct EventRecord {
    pub(crate) kind: EventType,
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) external_user_id: String,
    pub(crate) email_address: String,
    pub(crate) time: i64,
    pub(crate) url: String,
    pub(crate) user_agent: String,
    pub(crate) send_id: String,
    pub(crate) dispatch_id: String,
    pub(crate) link_id: String,
    pub(crate) suspected_bot: bool,
    /// Opens: `"true"` for a machine open (Apple Mail Privacy Protection).
    pub(crate) machine_open: Option<&'static str>,
}

/// Campaign constants shared by the Braze side and the host's attribution scope.
pub(crate) const CAMPAIGN_ID: &str = "8f2c1e6a-spring-sale";
pub(crate) const MESSAGE_VARIATION_ID: &str = "2d7b9c40-subject-test";

/// The value this simulated Braze writes for field `name` of event `c`; `None`
/// writes null (the canvas fields of a campaign, fields this example leaves out).
fn event_value<'c>(c: &'c EventRecord, name: &str) -> Option<Value<'c>> {
    let bot = c.suspected_bot;
    Some(match name {
        "id" => Value::Str(&c.id),
        "user_id" => Value::Str(&c.user_id),
        "dispatch_id" => Value::Str(&c.dispatch_id),
        "external_user_id" => Value::Str(&c.external_user_id),
        "time" => Value::Long(c.time),
        "timezone" => Value::Str("Europe/London"),
        "campaign_id" => Value::Str(CAMPAIGN_ID),
        "campaign_name" => Value::Str("Spring sale 2026"),
        "message_variation_id" => Value::Str(MESSAGE_VARIATION_ID),
        "message_variation_name" => Value::Str("Subject line (optimised)"),
        "email_address" => Value::Str(&c.email_address),
        "url" => Value::Str(&c.url),
        "machine_open" => Value::Str(c.machine_open?),
        "conversion_behavior_index" => Value::Long(0),
        "conversion_behavior" => Value::Str(r#"{"type":"purchase","window":259200}"#),
        "send_id" => Value::Str(&c.send_id),
        "user_agent" => Value::Str(&c.user_agent),
        "ip_pool" => Value::Str("marketing-pool"),
        "link_id" => Value::Str(&c.link_id),
        "link_alias" => Value::Str("shop_now"),
        "esp" => Value::Str("sendgrid"),
        "from_domain" => Value::Str("mail.shop.example.com"),
        "is_amp" => Value::Bool(false),
        "app_group_id" => Value::Str("5e3c0a1b2c3d4e5f6a7b8c9d"),
        "device_class" => Value::Str(if bot { "other" } else { "desktop" }),
        "device_os" => Value::Str("Windows"),
        "browser" => Value::Str("Chrome"),
        "mailbox_provider" => Value::Str("Gmail"),
        "is_suspected_bot_click" => Value::Bool(bot),
        "suspected_bot_click_reason" if bot => Value::List(&["user_agent", "ip_address"]),
        _ => return None,
    })
}

/// A value of one field.
enum Value<'c> {
    Str(&'c str),
    Long(i64),
    Bool(bool),
    List(&'static [&'static str]),
}

fn encode_event(c: &EventRecord, out: &mut Vec<u8>) {
    for f in written_fields(c.kind) {
        let value = event_value(c, f.name);
        if f.kind.is_required() {
            match value {
                Some(Value::Str(s)) => encode_str(s, out),
                Some(Value::Long(n)) => encode_long(n, out),
                // Every required field (id, user_id, time, email_address) has a value above.
                _ => unreachable!("required field {} has a value", f.name),
            }
            continue;
        }
        match value {
            None => encode_opt_str(None, out),
            Some(Value::Str(s)) => encode_opt_str(Some(s), out),
            Some(Value::Long(n)) => encode_opt_long(Some(n), out),
            Some(Value::Bool(b)) => encode_opt_bool(Some(b), out),
            Some(Value::List(items)) => {
                // ["null", array<string>]: branch 1, then the array.
                encode_long(1, out);
                encode_str_array(items, out);
            }
        }
    }
}

/// Writes one Currents delivery: a file of `kind` holding `events` (all of
/// that kind), as Braze would.
pub(crate) fn write_file(kind: EventType, events: &[EventRecord], sync: [u8; 16]) -> Vec<u8> {
    let schema = schema(kind);
    let writer = OcfWriter::new(&schema, Codec::Deflate, &[], sync);
    let mut file = Vec::new();
    writer.header(&mut file);
    let mut records = Vec::with_capacity(events.len() * 700);
    for c in events {
        encode_event(c, &mut records);
    }
    writer.write_block(events.len() as u64, &records, &mut file);
    file
}

/// The integration segment of the object keys: Braze names every file after the
/// cluster and the Current's integration id.
const INTEGRATION: &str = "dataexport.prod-03.S3.integration.65f0c2d1a9b3e4001234abcd";
/// The schema-id segment of the keys (opaque; Braze changes it with the schema).
const SCHEMA_SEGMENT: &str = "332";

/// The object key Braze gives a file of `kind`, relative to the Current's folder path:
/// `<integration>/event_type=users.messages.email.<Kind>/date=YYYY-MM-DD-HH/<schema id>/<zone>/<integration>+<partition>+<offset>.avro`,
/// with the UTC hour the events were queued (`queued_at`, UNIX seconds) and the
/// offset of the file's first record in its partition. `ObjectKey::parse` reads it.
pub(crate) fn object_key(kind: EventType, queued_at: i64, offset: u64) -> String {
    let hour = chrono::DateTime::from_timestamp(queued_at, 0)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH)
        .format("%Y-%m-%d-%H");
    format!(
        "{INTEGRATION}/event_type={}/date={hour}/{SCHEMA_SEGMENT}/0/{INTEGRATION}+0+{offset}.avro",
        kind.name()
    )
}
