//! The customer side's view of Braze: Currents Click files with the newest
//! published schema, written byte for byte as Braze writes them (Avro Object
//! Container Files, personal data included).

use dynopt::currents::{
    Codec, OcfWriter, encode_long, encode_opt_bool, encode_opt_str, encode_str, encode_str_array,
};

/// The newest Braze Click schema (Currents v10): name, nullable, `[PII]` tag, type.
const CLICK_FIELDS: &[(&str, &str, bool)] = &[
    ("id", "string", false),
    ("user_id", "string", true),
    ("dispatch_id", "ostring", false),
    ("external_user_id", "ostring", true),
    ("time", "int", false),
    ("timezone", "ostring", false),
    ("campaign_id", "ostring", false),
    ("campaign_name", "ostring", false),
    ("message_variation_id", "ostring", false),
    ("message_variation_name", "ostring", false),
    ("email_address", "string", true),
    ("url", "ostring", false),
    ("canvas_id", "ostring", false),
    ("canvas_name", "ostring", false),
    ("canvas_variation_id", "ostring", false),
    ("canvas_variation_name", "ostring", false),
    ("canvas_step_id", "ostring", false),
    ("canvas_step_name", "ostring", false),
    ("send_id", "ostring", false),
    ("user_agent", "ostring", false),
    ("ip_pool", "ostring", false),
    ("link_id", "ostring", false),
    ("link_alias", "ostring", false),
    ("esp", "ostring", false),
    ("from_domain", "ostring", false),
    ("is_amp", "obool", false),
    ("app_group_id", "ostring", false),
    ("device_class", "ostring", false),
    ("device_os", "ostring", false),
    ("device_model", "ostring", false),
    ("browser", "ostring", false),
    ("mailbox_provider", "ostring", false),
    ("is_suspected_bot_click", "obool", false),
    ("suspected_bot_click_reason", "oarray", false),
];

/// The schema JSON Braze embeds in a Click file.
pub(crate) fn click_schema() -> String {
    let fields: Vec<String> = CLICK_FIELDS
        .iter()
        .map(|(name, ty, pii)| {
            let doc = if *pii {
                format!("[PII] {name} of the recipient")
            } else {
                format!("{name} of the event")
            };
            let ty = match *ty {
                "string" => r#""string""#.to_string(),
                "int" => r#""int""#.to_string(),
                "ostring" => r#"["null","string"],"default":null"#.to_string(),
                "obool" => r#"["null","boolean"],"default":null"#.to_string(),
                _ => r#"["null",{"type":"array","items":"string"}],"default":null"#.to_string(),
            };
            format!(r#"{{"name":"{name}","type":{ty},"doc":"{doc}"}}"#)
        })
        .collect();
    format!(
        r#"{{"type":"record","name":"Click","namespace":"dataexport.S3.inner.users.messages.email","doc":"Email click","fields":[{}]}}"#,
        fields.join(",")
    )
}

/// One click as Braze records it. Personal fields included: this is the
/// customer side, before `sanitize`.
pub(crate) struct ClickRecord {
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
}

/// Campaign constants shared by the Braze side and the host's attribution scope.
pub(crate) const CAMPAIGN_ID: &str = "8f2c1e6a-spring-sale";
pub(crate) const MESSAGE_VARIATION_ID: &str = "2d7b9c40-subject-test";

fn encode_click(c: &ClickRecord, out: &mut Vec<u8>) {
    encode_str(&c.id, out);
    encode_str(&c.user_id, out);
    encode_opt_str(Some(&c.dispatch_id), out);
    encode_opt_str(Some(&c.external_user_id), out);
    encode_long(c.time, out);
    encode_opt_str(Some("Europe/London"), out);
    encode_opt_str(Some(CAMPAIGN_ID), out);
    encode_opt_str(Some("Spring sale 2026"), out);
    encode_opt_str(Some(MESSAGE_VARIATION_ID), out);
    encode_opt_str(Some("Subject line (optimised)"), out);
    encode_str(&c.email_address, out);
    encode_opt_str(Some(&c.url), out);
    for _ in 0..6 {
        encode_opt_str(None, out); // canvas_* fields: this is a campaign
    }
    encode_opt_str(Some(&c.send_id), out);
    encode_opt_str(Some(&c.user_agent), out);
    encode_opt_str(Some("marketing-pool"), out);
    encode_opt_str(Some(&c.link_id), out);
    encode_opt_str(Some("shop_now"), out);
    encode_opt_str(Some("sendgrid"), out);
    encode_opt_str(Some("mail.shop.example.com"), out);
    encode_opt_bool(Some(false), out);
    encode_opt_str(Some("5e3c0a1b2c3d4e5f6a7b8c9d"), out);
    encode_opt_str(Some(if c.suspected_bot { "other" } else { "desktop" }), out);
    encode_opt_str(Some("Windows"), out);
    encode_opt_str(None, out);
    encode_opt_str(Some("Chrome"), out);
    encode_opt_str(Some("Gmail"), out);
    encode_opt_bool(Some(c.suspected_bot), out);
    if c.suspected_bot {
        // ["null", array<string>]: branch 1, then the array.
        encode_long(1, out);
        encode_str_array(&["user_agent", "ip_address"], out);
    } else {
        encode_opt_str(None, out);
    }
}

/// Writes one Currents delivery: a Click file holding `clicks`, as Braze would.
pub(crate) fn write_click_file(clicks: &[ClickRecord], sync: [u8; 16]) -> Vec<u8> {
    let schema = click_schema();
    let writer = OcfWriter::new(&schema, Codec::Deflate, &[], sync);
    let mut file = Vec::new();
    writer.header(&mut file);
    let mut records = Vec::with_capacity(clicks.len() * 700);
    for c in clicks {
        encode_click(c, &mut records);
    }
    writer.write_block(clicks.len() as u64, &records, &mut file);
    file
}
