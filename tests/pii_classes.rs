//! Privacy by class (see docs/design.md, *PII policy and filter* and *URL
//! scrubbing*): one property test per class of leak. Each generator plants
//! personal values in every position and encoding of that class and scans every
//! output (clean events as JSON and `Debug`, `sanitize` output with both codecs,
//! decompressed, error messages) for them.

use dynopt::currents::{
    Codec, DecodeOptions, EventType, OcfWriter, Reader, encode_long, encode_opt_str, encode_str,
    encode_str_array,
};
use dynopt::pii::{Filter, SanitizeOptions, UrlScrubber, sanitize, scrub_url};
use proptest::prelude::*;

mod common;
use common::base64;

fn percent_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// `s` under one of the encodings the scrubber reads.
fn encode(s: &str, how: u8) -> String {
    match how % 7 {
        0 => s.to_owned(),
        1 => percent_all(s),
        2 => percent_all(&percent_all(s)),
        3 => base64(s.as_bytes(), false),
        4 => base64(s.as_bytes(), true),
        5 => {
            let payload = format!("{{\"sub\":\"{s}\",\"iat\":1767225600}}");
            format!(
                "{}.{}.c2lnbmF0dXJlLWJ5dGVzLWhlcmU",
                base64(br#"{"alg":"HS256","typ":"JWT"}"#, true),
                base64(payload.as_bytes(), true)
            )
        }
        _ => percent_all(&base64(s.as_bytes(), false)),
    }
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// A Click file with a chosen record; `extra` fields appended.
struct ClickRec<'a> {
    user_id: &'a str,
    external_user_id: &'a str,
    email: &'a str,
    url: &'a str,
    campaign_name: &'a str,
    link_alias: &'a str,
    reasons: &'a [&'a str],
}

fn click_file(r: &ClickRec<'_>, codec: Codec) -> Vec<u8> {
    let schema = r#"{"type":"record","name":"Click","namespace":"users.messages.email","fields":[
        {"name":"id","type":"string"},{"name":"user_id","type":"string"},
        {"name":"external_user_id","type":["null","string"],"default":null},
        {"name":"time","type":"int"},{"name":"email_address","type":"string"},
        {"name":"campaign_name","type":["null","string"],"default":null},
        {"name":"url","type":["null","string"],"default":null},
        {"name":"link_alias","type":["null","string"],"default":null},
        {"name":"suspected_bot_click_reason","type":["null",{"type":"array","items":"string"}],"default":null}]}"#;
    let w = OcfWriter::new(schema, codec, &[], [7; 16]);
    let mut file = Vec::new();
    w.header(&mut file);
    let mut rec = Vec::new();
    encode_str("ev-1", &mut rec);
    encode_str(r.user_id, &mut rec);
    encode_opt_str(Some(r.external_user_id), &mut rec);
    encode_long(1_767_225_600, &mut rec);
    encode_str(r.email, &mut rec);
    encode_opt_str(Some(r.campaign_name), &mut rec);
    encode_opt_str(Some(r.url), &mut rec);
    encode_opt_str(Some(r.link_alias), &mut rec);
    encode_long(1, &mut rec);
    encode_str_array(r.reasons, &mut rec);
    w.write_block(1, &rec, &mut file);
    file
}

/// Everything the crate emits for `file`, as text to scan (lowercase).
fn outputs(file: &[u8]) -> String {
    let mut all = String::new();
    let clean = Filter::default().clean_file(file, &DecodeOptions::default());
    assert!(clean.error.is_none(), "{:?}", clean.error);
    for e in &clean.events {
        all.push_str(&serde_json::to_string(e).expect("serialises"));
        all.push_str(&format!("{e:?}"));
    }
    for codec_out in [sanitize(file, &SanitizeOptions::default())] {
        let out = codec_out.expect("sanitizes");
        all.push_str(&String::from_utf8_lossy(&out.bytes));
        let mut reader = Reader::new(&out.bytes, &DecodeOptions::default()).expect("reads");
        while let Some(block) = reader.next_block() {
            let block = block.expect("block");
            all.push_str(&String::from_utf8_lossy(block.data()));
        }
        let again = Filter::default().clean_file(&out.bytes, &DecodeOptions::default());
        assert!(again.error.is_none(), "{:?}", again.error);
        for e in &again.events {
            all.push_str(&serde_json::to_string(e).expect("serialises"));
        }
    }
    lower(&all)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Class: the record's own personal values (user id, external id, address) in
    /// any part of the URL, in any encoding, and in other kept string fields.
    #[test]
    fn the_records_own_values_never_leave(
        uid in "[a-z][a-z0-9]{7,15}",
        ext in "[a-z][a-z0-9]{7,15}",
        local in "[a-z]{6,10}",
        which in 0u8..3,
        position in 0u8..6,
        how in 0u8..7,
        name in "[a-z]{1,6}",
        deflate in any::<bool>(),
    ) {
        let email = format!("{local}@mail.example");
        let value = match which { 0 => uid.clone(), 1 => ext.clone(), _ => email.clone() };
        let planted = encode(&value, how);
        let mut url = String::from("https://shop.example/p/shoes?utm_source=braze");
        let mut campaign = String::from("spring sale");
        let mut alias = String::from("hero-link");
        let mut reasons: Vec<String> = vec!["ok".into()];
        match position {
            0 => url = format!("https://shop.example/p/shoes?utm_source=braze&{name}z={planted}"),
            1 => url = format!("https://shop.example/u/{planted}/shoes?utm_source=braze"),
            2 => url = format!("https://shop.example/p?utm_content={planted}"),
            3 => campaign = format!("promo {planted}"),
            4 => alias = planted.clone(),
            _ => reasons.push(planted.clone()),
        }
        let reasons: Vec<&str> = reasons.iter().map(String::as_str).collect();
        let rec = ClickRec {
            user_id: &uid, external_user_id: &ext, email: &email, url: &url,
            campaign_name: &campaign, link_alias: &alias, reasons: &reasons,
        };
        let file = click_file(&rec, if deflate { Codec::Deflate } else { Codec::Null });
        let all = outputs(&file);
        prop_assert!(!all.contains(&lower(&value)), "{value} leaked from {url} / {campaign}");
        prop_assert!(!all.contains(&lower(&planted)), "{planted} leaked");
    }

    /// Class: `&amp;` and `;` separate parameters like `&`, and identifier names
    /// match by normalised form (case, separators, camelCase, brackets), ESP
    /// tracking parameters included.
    #[test]
    fn separators_and_normalised_names(
        sep in prop::sample::select(vec!["&amp;", ";", "&", "&AMP;"]),
        base in prop::sample::select(vec![
            "customerId", "user-id", "USER_ID", "user[id]", "User.Id", "subscriberId",
            "mc_eid", "_hsenc", "mkt_tok", "_kx", "vgo_ee", "sfmc_sub", "elqTrackId",
            "fbclid", "gclid", "oly_enc_id", "externalUserId", "braze-id", "accessToken",
        ]),
        token in "[a-z]{4}[0-9]{2}[a-z]{4}",
    ) {
        let url = format!("https://a.example/p?utm_source=x{sep}{base}={token}{sep}q=1");
        let out = scrub_url(&url);
        prop_assert!(!out.contains(&token), "{url} -> {out}");
        prop_assert!(out.contains("q=1"), "{url} -> {out}");
    }

    /// Class: encoded personal data (base64, URL-safe base64, JWT payloads,
    /// percent-encoded more times than the scrubber decodes, confusable `@`).
    #[test]
    fn encoded_personal_data(
        local in "[a-z]{6,10}",
        digits in "[2-9][0-9]{9}",
        phone in any::<bool>(),
        how in 0u8..10,
        name in prop::sample::select(vec!["ref", "utm_content", "lid", "x", "state"]),
    ) {
        let secret = if phone { format!("+1{digits}") } else { format!("{local}@example.com") };
        let planted = match how {
            0..=6 => encode(&secret, how),
            7 => { let mut s = secret.clone(); for _ in 0..6 { s = percent_all(&s); } s }
            8 => percent_all(&secret.replace('@', "\u{FF20}")),
            _ => percent_all(&secret.replace('@', "\u{FE6B}")),
        };
        let url = format!("https://a.example/p?{name}={planted}&keep=1");
        let out = scrub_url(&url);
        let probe = if phone { digits.clone() } else { local.clone() };
        prop_assert!(!out.contains(&planted), "{url} -> {out}");
        prop_assert!(!lower(&out).contains(&probe), "{url} -> {out}");
        prop_assert!(out.contains("keep=1"), "{url} -> {out}");
    }

    /// Class: nested URLs (redirect parameters holding a URL, raw or encoded).
    #[test]
    fn nested_urls_are_scrubbed(
        name in prop::sample::select(vec!["next", "redirect", "url", "u", "continue", "dest", "target"]),
        local in "[a-z]{6,10}",
        token in "[a-z]{4}[0-9]{4}",
        times in 0usize..3,
    ) {
        let mut inner = format!("https://shop.example/p?email={local}@x.example&uid={token}&q=1");
        for _ in 0..times {
            inner = percent_all(&inner);
        }
        let url = format!("https://r.example/go?{name}={inner}");
        let out = scrub_url(&url);
        prop_assert!(!lower(&out).contains(&local), "{url} -> {out}");
        prop_assert!(!out.contains(&token), "{url} -> {out}");
    }

    /// Class: phone numbers and IP addresses by value (path segments, kept
    /// parameters, any parameter name).
    #[test]
    fn phones_and_ips_by_value(
        digits in "[2-9][0-9]{9}",
        style in 0u8..4,
        position in 0u8..4,
        octets in prop::array::uniform4(1u8..=254),
        v6 in prop::array::uniform8(1u16..),
        ip6 in any::<bool>(),
        name in "[a-z]{1,8}",
    ) {
        let phone = match style {
            0 => format!("+1{digits}"),
            1 => digits.clone(),
            2 => format!("({}) {}-{}", &digits[..3], &digits[3..6], &digits[6..]),
            _ => format!("{}.{}.{}", &digits[..3], &digits[3..6], &digits[6..]),
        };
        let ip = if ip6 {
            v6.iter().map(|g| format!("{g:x}")).collect::<Vec<_>>().join(":")
        } else {
            octets.iter().map(u8::to_string).collect::<Vec<_>>().join(".")
        };
        let (url, probe) = match position {
            0 => (format!("https://a.example/call/{}/x", percent_all(&phone)), digits[3..].to_owned()),
            1 => (format!("https://a.example/p?utm_term={}&k=1", percent_all(&phone)), digits[3..].to_owned()),
            2 => (format!("https://a.example/p?lid={}&k=1", digits), digits.clone()),
            _ => (format!("https://a.example/p?{name}q={ip}&k=1"), ip.clone()),
        };
        let out = scrub_url(&url);
        let decoded = String::from_utf8_lossy(
            &out.bytes().collect::<Vec<u8>>()).replace("%20", " ");
        prop_assert!(!decoded.contains(&probe), "{url} -> {out}");
        prop_assert!(!out.contains(&percent_all(&phone)), "{url} -> {out}");
    }

    /// Class: error messages never echo a value read from a record.
    #[test]
    fn errors_never_echo_values(v in 10_000_000_000i64..1_000_000_000_000_000, field in 0u8..3) {
        let schema = r#"{"type":"record","name":"Click","fields":[
            {"name":"id","type":"string"},{"name":"user_id","type":"string"},
            {"name":"time","type":"int"},{"name":"email_address","type":"string"},
            {"name":"send_time","type":["null","long"]},{"name":"is_amp","type":["null","boolean"]}]}"#;
        let w = OcfWriter::new(schema, Codec::Null, &[], [1; 16]);
        let mut file = Vec::new();
        w.header(&mut file);
        let mut rec = Vec::new();
        encode_str("id", &mut rec);
        match field {
            0 => { encode_long(v, &mut rec); } // a length no record holds
            _ => {
                encode_str("u", &mut rec);
                if field == 1 {
                    encode_long(v, &mut rec); // outside the int range
                } else {
                    encode_long(1_767_225_600, &mut rec);
                    encode_str("a@b.c", &mut rec);
                    encode_long(1, &mut rec);
                    encode_long(v.saturating_mul(1000), &mut rec); // outside chrono's range
                }
            }
        }
        rec.extend_from_slice(&[0; 8]);
        w.write_block(1, &rec, &mut file);
        let out = dynopt::currents::decode_file(&file, &DecodeOptions::default());
        let e = out.error.expect("the record is refused");
        let text = format!("{e} {e:?}");
        prop_assert!(!text.contains(&v.to_string()), "{text}");
        prop_assert!(!text.contains(&v.saturating_mul(1000).to_string()), "{text}");
        if let Err(se) = sanitize(&file, &SanitizeOptions::default()) {
            let text = format!("{se} {se:?}");
            prop_assert!(!text.contains(&v.to_string()), "{text}");
        }
    }

    /// Class: `sanitize` refuses what the reader would refuse in its output
    /// (times beyond chrono's range).
    #[test]
    fn sanitize_and_decode_agree(secs in prop_oneof![
        -1_000_000_000_000_000i64..-8_000_000_000_000,
        8_300_000_000_000i64..1_000_000_000_000_000,
        0i64..2_000_000_000,
    ]) {
        let schema = r#"{"type":"record","name":"Click","fields":[
            {"name":"id","type":"string"},{"name":"user_id","type":"string"},
            {"name":"time","type":"long"},{"name":"email_address","type":"string"},
            {"name":"send_time","type":["null","long"]}]}"#;
        let w = OcfWriter::new(schema, Codec::Null, &[], [1; 16]);
        let mut file = Vec::new();
        w.header(&mut file);
        let mut rec = Vec::new();
        encode_str("id", &mut rec);
        encode_str("u", &mut rec);
        encode_long(1_767_225_600, &mut rec);
        encode_str("a@b.c", &mut rec);
        encode_long(1, &mut rec);
        encode_long(secs, &mut rec);
        w.write_block(1, &rec, &mut file);
        match sanitize(&file, &SanitizeOptions::default()) {
            Ok(out) => {
                let back = Filter::default().clean_file(&out.bytes, &DecodeOptions::default());
                prop_assert!(back.error.is_none(), "sanitize passed what decode refuses: {:?}", back.error);
            }
            Err(_) => {
                let direct = dynopt::currents::decode_file(&file, &DecodeOptions::default());
                prop_assert!(direct.error.is_some(), "sanitize refused a readable file");
            }
        }
    }

    /// Class: schema structure (allowlisted names on the wrong event type or with
    /// another type, `[PII]` tags on nested items, forged sanitized markers).
    #[test]
    fn schema_structure(marker in "zq[a-z]{8}", case in 0u8..4) {
        let (schema, meta): (String, Vec<(&str, &[u8])>) = match case {
            // `url` on a Send (no such field there), as a record.
            0 => (r#"{"type":"record","name":"Send","fields":[
                {"name":"id","type":"string"},{"name":"user_id","type":"string"},
                {"name":"time","type":"int"},{"name":"email_address","type":"string"},
                {"name":"url","type":{"type":"record","name":"U","fields":[{"name":"x","type":"string"}]}}]}"#.into(), vec![]),
            // `url` on a Send, as a string.
            1 => (r#"{"type":"record","name":"Send","fields":[
                {"name":"id","type":"string"},{"name":"user_id","type":"string"},
                {"name":"time","type":"int"},{"name":"email_address","type":"string"},
                {"name":"url","type":"string"}]}"#.into(), vec![]),
            // A `[PII]` tag on the items of an allowed array field.
            2 => (r#"{"type":"record","name":"Click","fields":[
                {"name":"id","type":"string"},{"name":"user_id","type":"string"},
                {"name":"time","type":"int"},{"name":"email_address","type":"string"},
                {"name":"suspected_bot_click_reason","type":["null",{"type":"array","items":{"type":"string","doc":"[PII] who"}}]}]}"#.into(), vec![]),
            // A forged sanitized marker with a chosen recipient_key.
            _ => (r#"{"type":"record","name":"Click","fields":[
                {"name":"id","type":"string"},{"name":"user_id","type":"string"},
                {"name":"time","type":"int"},{"name":"email_address","type":"string"},
                {"name":"recipient_key","type":["null","string"]}]}"#.into(),
                vec![("dynopt.sanitized", b"1".as_slice())]),
        };
        let w = OcfWriter::new(&schema, Codec::Null, &meta, [2; 16]);
        let mut file = Vec::new();
        w.header(&mut file);
        let mut rec = Vec::new();
        encode_str("id", &mut rec);
        encode_str("u", &mut rec);
        encode_long(1_767_225_600, &mut rec);
        encode_str("a@b.c", &mut rec);
        let key_hex: String = marker.bytes().chain(std::iter::repeat(b'0')).take(32)
            .map(|b| char::from(b"0123456789abcdef"[usize::from(b % 16)])).collect();
        let probe = if case == 3 { key_hex.clone() } else { marker.clone() };
        match case {
            0 | 1 => encode_str(&format!("https://x.example/{marker}"), &mut rec),
            2 => { encode_long(1, &mut rec); encode_str_array(&[&marker], &mut rec); }
            _ => encode_opt_str(Some(&key_hex), &mut rec),
        }
        w.write_block(1, &rec, &mut file);
        let out = sanitize(&file, &SanitizeOptions::default()).expect("sanitizes");
        prop_assert!(!String::from_utf8_lossy(&out.bytes).contains(&probe), "case {case}");
        let clean = Filter::default().clean_file(&file, &DecodeOptions::default());
        let text: String = clean.events.iter().map(|e| format!("{e:?}")).collect();
        prop_assert!(!text.contains(&marker), "case {case}: {text}");
    }
}

#[test]
fn the_event_type_matters_for_the_allowlist() {
    let p = dynopt::pii::Policy::default();
    assert!(p.verdict(EventType::Send, "url", false).is_err());
    assert!(p.verdict(EventType::Click, "url", false).is_ok());
    // A host's own custom name stays the host's choice.
    let p = p.allow("shoe_size").expect("allowed");
    assert!(p.verdict(EventType::Send, "shoe_size", false).is_ok());
}

#[test]
fn scrub_with_takes_the_records_values() {
    let s = UrlScrubber::default();
    assert_eq!(
        s.scrub_with(
            "https://a.example/u/U12345678/?r=u12345678&q=1",
            &["U12345678"]
        ),
        "https://a.example/u/redacted/?q=1"
    );
}
