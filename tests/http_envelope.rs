//! The Custom HTTP (JSON) envelope decoder, `Filter::clean_http` (see
//! docs/design.md, *Custom HTTP batches*): random envelopes built from the
//! crate's own field tables decode value by value; a value of the wrong kind
//! rejects its event alone, naming the field and kind; unknown members and types
//! are counted; personal values planted in every position and encoding never
//! leave; truncated and garbled bodies give typed errors, never a panic or a
//! value in a message; the recipient key equals the Avro path's.

use dynopt::currents::{
    Codec, DecodeOptions, EventType, FieldKind, HttpError, HttpEventErrorKind, HttpOptions,
    OcfWriter, encode_long, encode_str,
};
use dynopt::pii::{CleanEvent, Filter, Policy, Pseudonymizer};
use proptest::prelude::*;
use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::{Value, json};

const T0: i64 = 1_767_225_600; // 2026-01-01

fn filter() -> Filter {
    Filter::new(Policy::new()).with_pseudonymizer(Pseudonymizer::keyed(b"http-test"))
}

fn body(events: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "events": events })).expect("serialises")
}

fn word<R: Rng>(rng: &mut R, prefix: &str) -> String {
    let n = rng.random_range(0..10u32);
    let tail: String = (0..n)
        .map(|_| char::from(b"abcdefghij-_ "[rng.random_range(0..13usize)]))
        .collect();
    format!("{prefix}{tail}")
}

/// A valid JSON value for a field of `kind` named `name`.
fn valid_value<R: Rng>(rng: &mut R, name: &str, kind: FieldKind) -> Value {
    match kind {
        FieldKind::RequiredString
        | FieldKind::RequiredPiiString
        | FieldKind::String
        | FieldKind::PiiString => json!(word(rng, &format!("k{name}"))),
        FieldKind::Url => json!(format!(
            "https://shop.example/p/{}?utm_source=braze&dov={}",
            rng.random_range(0..1000u32),
            rng.random_range(0..5u32)
        )),
        FieldKind::RequiredTime | FieldKind::Time => json!(T0 + rng.random_range(0..86_400i64)),
        FieldKind::Int => json!(rng.random_range(-5..1000i64)),
        FieldKind::Bool => json!(rng.random_bool(0.5)),
        FieldKind::StringList => json!([word(rng, "r"), word(rng, "s")]),
        FieldKind::Attributes => json!(["gold", null]),
        other => panic!("a new field kind {other:?}: teach this test a value"),
    }
}

/// A JSON value that no field of `kind` accepts.
fn wrong_value(kind: FieldKind) -> Value {
    match kind {
        FieldKind::RequiredString
        | FieldKind::RequiredPiiString
        | FieldKind::String
        | FieldKind::PiiString
        | FieldKind::Url => json!(17),
        FieldKind::RequiredTime | FieldKind::Time | FieldKind::Int => json!("soon"),
        FieldKind::Bool => json!("true"),
        FieldKind::StringList => json!(["ok", 3]),
        FieldKind::Attributes => json!({"a": 1}),
        other => panic!("a new field kind {other:?}: teach this test a wrong value"),
    }
}

/// What an event was generated as.
#[derive(Debug)]
enum Planned {
    Valid(Value),
    Unknown,
    Wrong {
        field: &'static str,
        kind: FieldKind,
    },
}

/// A random event: valid, of an unknown type, or with one value of the wrong kind.
fn random_event<R: Rng>(rng: &mut R, i: usize) -> (Value, Planned, usize) {
    if rng.random_bool(0.1) {
        let v = json!({"event_type": "users.messages.pushnotification.Send", "id": format!("p{i}"),
            "time": T0, "properties": {"app_id": "x"}});
        return (v, Planned::Unknown, 0);
    }
    let et = EventType::ALL[rng.random_range(0..EventType::ALL.len())];
    let mut props = serde_json::Map::new();
    let mut unknown = 0;
    for def in et.fields() {
        if matches!(def.name, "id" | "time" | "user_id") || rng.random_bool(0.3) {
            continue;
        }
        let v = if rng.random_bool(0.05) {
            Value::Null
        } else {
            valid_value(rng, def.name, def.kind)
        };
        props.insert(def.name.to_owned(), v);
    }
    if rng.random_bool(0.3) {
        props.insert("a_future_field".into(), json!({"nested": [1, 2]}));
        unknown += 1;
    }
    let mut ev = json!({
        "event_type": et.name(), "id": format!("ev-{i}"), "time": T0 + i as i64,
        "properties": props,
        "user": {"user_id": format!("user{i:04}abcdef"), "timezone": "Europe/Paris"},
    });
    if rng.random_bool(0.15) {
        let defs: Vec<_> = et.fields().iter().filter(|d| d.name != "user_id").collect();
        let def = defs[rng.random_range(0..defs.len())];
        let (field, kind) = (def.name, def.kind);
        if matches!(field, "id" | "time") {
            ev[field] = wrong_value(kind);
        } else {
            ev["properties"][field] = wrong_value(kind);
        }
        return (ev, Planned::Wrong { field, kind }, 0);
    }
    (ev.clone(), Planned::Valid(ev), unknown)
}

/// The clean value of `name` as JSON (null when absent).
fn clean_field(c: &CleanEvent, name: &str) -> Value {
    serde_json::to_value(c).expect("serialises")[name].clone()
}

fn check_valid(input: &Value, c: &CleanEvent, f: &Filter) {
    let et = EventType::from_name(input["event_type"].as_str().expect("a name")).expect("known");
    assert_eq!(c.event_type, et);
    assert_eq!(c.id, input["id"].as_str().expect("an id"));
    assert_eq!(c.time.timestamp(), input["time"].as_i64().expect("a time"));
    let uid = input["user"]["user_id"].as_str().expect("a user id");
    assert_eq!(
        c.recipient_key,
        f.pseudonymizer().and_then(|p| p.key_for(uid))
    );
    let props = input["properties"].as_object().expect("properties");
    for def in et.fields() {
        if matches!(def.name, "id" | "time") {
            continue;
        }
        let got = clean_field(c, def.name);
        let carried = dynopt::pii::DEFAULT_ALLOWLIST.contains(&def.name);
        let want = match (def.name, props.get(def.name)) {
            ("timezone", _) if carried => json!("Europe/Paris"),
            (_, Some(Value::Null)) => Value::Null,
            (_, Some(v)) if carried => match def.kind {
                FieldKind::Time => json!(
                    chrono::DateTime::from_timestamp(v.as_i64().expect("secs"), 0)
                        .expect("in range")
                ),
                _ => v.clone(),
            },
            _ => Value::Null,
        };
        if def.name == "url" && !want.is_null() {
            assert!(
                got.as_str().is_some_and(|u| u.contains("utm_source=braze")),
                "{et}: url"
            );
        } else {
            assert_eq!(got, want, "{et}: {}", def.name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Random envelopes: every valid event decodes value by value, in order;
    /// a wrong kind rejects its event alone, naming field and kind; unknown
    /// types and members are counted.
    #[test]
    fn random_envelopes_decode_value_by_value(seed in any::<u64>(), n in 0usize..25) {
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut events = Vec::new();
        let mut plans = Vec::new();
        let mut unknown_fields = 0;
        for i in 0..n {
            let (v, plan, unknown) = random_event(&mut rng, i);
            events.push(v);
            plans.push(plan);
            unknown_fields += unknown;
        }
        let f = filter();
        let out = f.clean_http(&body(&events), &HttpOptions::default()).expect("an envelope");
        let mut clean = out.events.iter();
        let mut rejected = out.rejected.iter();
        let mut unknown_types = 0;
        for (i, plan) in plans.iter().enumerate() {
            match plan {
                Planned::Valid(input) => check_valid(input, clean.next().expect("decoded"), &f),
                Planned::Unknown => unknown_types += 1,
                Planned::Wrong { field, kind } => {
                    let e = rejected.next().expect("rejected");
                    prop_assert_eq!(e.index, i);
                    prop_assert_eq!(e.field, Some(*field));
                    prop_assert_eq!(e.kind, HttpEventErrorKind::WrongKind(*kind));
                }
            }
        }
        prop_assert!(clean.next().is_none() && rejected.next().is_none());
        prop_assert_eq!(out.unknown_event_types, unknown_types);
        prop_assert_eq!(out.unknown_fields, unknown_fields);
    }
}

/// `s` with its characters written as JSON `\u` escapes (the same string once parsed).
fn json_escaped(s: &str) -> String {
    s.chars()
        .map(|c| format!("\\u{:04x}", u32::from(c)))
        .collect()
}

fn percent_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Planted personal values in every position (user ids, device id, address,
    /// user agent, personal properties, unknown members, IPs, URLs and kept text)
    /// and encoding (raw, JSON `\u` escapes, percent-encoded in URLs) never reach
    /// the clean events, the report or the rejections.
    #[test]
    fn planted_personal_values_never_leave(
        uid in "u[a-z0-9]{9,14}",
        ext in "x[a-z0-9]{9,14}",
        dev in "d[a-z0-9]{9,14}",
        local in "m[a-z]{7,10}",
        ua in "Mozilla/5\\.0 \\(Q[a-z]{8}\\)",
        octets in prop::array::uniform4(1u8..=254),
        type_index in 0..EventType::ALL.len(),
        position in 0u8..8,
        escaped in any::<bool>(),
    ) {
        let et = EventType::ALL[type_index];
        let email = format!("{local}@mail.example");
        let ip = octets.iter().map(u8::to_string).collect::<Vec<_>>().join(".");
        let has = |n: &str| et.fields().iter().any(|d| d.name == n);
        let mut props = serde_json::Map::new();
        props.insert("email_address".into(), json!(email));
        props.insert("user_agent".into(), json!(ua));
        props.insert("ip".into(), json!(ip));
        props.insert("client_ip_address".into(), json!(format!("at {ip}")));
        for p in ["bounce_reason", "deferral_reason", "abort_log", "retry_log", "message_extras"] {
            props.insert(p.into(), json!(format!("for {email} ({uid})")));
        }
        // One kept position holding a personal value, by `position`.
        let kept_text = ["campaign_name", "canvas_name", "link_alias", "conversion_behavior",
            "experiment_split_name", "ip_pool", "esp", "sending_ip"];
        let carrier = kept_text.iter().copied().find(|n| has(n)).unwrap_or("campaign_name");
        let value = match position {
            0 => uid.clone(),
            1 => ext.clone(),
            2 => dev.clone(),
            3 => email.clone(),
            4 => ip.clone(),
            5 => format!("promo-{uid}"),
            6 => format!("{local}-list"),
            _ => format!("v6 fe80::1:{}", octets[0]),
        };
        props.insert(carrier.into(), json!(value));
        props.insert("url".into(), json!(format!(
            "https://shop.example/{}/p?dov=1&e={}&d={}&x={}",
            percent_all(&uid), percent_all(&email), dev, ip)));
        props.insert("suspected_bot_click_reason".into(), json!([format!("ip {ip}"), "user_agent"]));
        let ev = json!({"event_type": et.name(), "id": "ev-1", "time": T0,
            "properties": props,
            "user": {"user_id": uid, "external_user_id": ext, "device_id": dev, "timezone": "UTC",
                     "email": email}});
        let mut text = serde_json::to_string(&json!({"events": [ev.clone(), {"event_type": et.name(),
            "id": "ev-2", "time": "bad", "user": {"user_id": uid}}]})).expect("serialises");
        if escaped {
            for v in [&uid, &ext, &dev, &local] {
                text = text.replace(v.as_str(), &json_escaped(v));
            }
        }
        let out = filter().clean_http(text.as_bytes(), &HttpOptions::default()).expect("decodes");
        prop_assert_eq!(out.events.len(), 1);
        prop_assert_eq!(out.rejected.len(), 1);
        let shown = format!("{} {:?} {}", serde_json::to_string(&out.events).expect("json"),
            out, out.rejected[0]).to_ascii_lowercase();
        let mut probes = vec![uid.clone(), ext.clone(), dev.clone(), local.clone(), ip.clone(),
            ua.to_ascii_lowercase(), percent_all(&uid).to_ascii_lowercase()];
        if position == 7 {
            probes.push(format!("fe80::1:{}", octets[0]));
        }
        for p in probes {
            prop_assert!(!shown.contains(&p), "{} leaked ({}, position {})", p, et, position);
        }
        // Not vacuous: the event is there, keyed, and the URL kept its tag.
        prop_assert!(out.events[0].recipient_key.is_some());
        if has("url") {
            prop_assert!(out.events[0].url.as_deref().is_some_and(|u| u.contains("dov=1")));
        }
    }
}

/// A realistic valid body with personal values, for the fuzz tests.
fn fuzz_seed(seed: u64) -> Vec<u8> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut events: Vec<Value> = (0..8).map(|i| random_event(&mut rng, i).0).collect();
    events.push(
        json!({"event_type":"users.messages.email.Click","id":"c","time":T0,
        "properties":{"email_address":"secretperson@mail.example","url":"https://a.example/?q=1"},
        "user":{"user_id":"secretuserid123"}}),
    );
    body(&events)
}

fn assert_no_secret(text: &str) {
    for s in ["secretperson", "secretuserid123", "user0000abcdef"] {
        assert!(!text.contains(s), "{s} in {text}");
    }
}

/// Truncation at every length, byte flips, insertions and garbage: never a
/// panic; a typed error or an outcome; no value in any message.
#[test]
fn truncated_and_garbled_bodies_give_typed_errors() {
    let f = filter();
    let opts = HttpOptions::default();
    let mut rng = Pcg64::seed_from_u64(0x4a50_2026);
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for s in 0..4u64 {
        let good = fuzz_seed(s);
        for cut in 0..good.len() {
            match f.clean_http(&good[..cut], &opts) {
                Ok(out) => assert_no_secret(&format!("{out:?}")),
                Err(e) => {
                    assert!(matches!(
                        e,
                        HttpError::NotJson { .. } | HttpError::NotAnEnvelope
                    ));
                    assert_no_secret(&format!("{e} {e:?}"));
                    *kinds
                        .entry(
                            format!("{e:?}")
                                .split([' ', '{'])
                                .next()
                                .unwrap_or("")
                                .to_owned(),
                        )
                        .or_default() += 1;
                }
            }
        }
        for _ in 0..1500 {
            let mut b = good.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..b.len());
                match rng.random_range(0..4u8) {
                    0 => b[at] ^= 1 << rng.random_range(0..8u32),
                    1 => {
                        let tokens = b"{}[]\",:0e-\\ nt";
                        b[at] = tokens[rng.random_range(0..tokens.len())];
                    }
                    2 => b.insert(at, rng.random()),
                    _ => {
                        b.remove(at);
                    }
                }
            }
            match f.clean_http(&b, &opts) {
                Ok(out) => {
                    let text = format!(
                        "{out:?} {}",
                        serde_json::to_string(&out.events).expect("json")
                    );
                    assert!(!text.contains("secretperson"), "{text}");
                    for e in &out.rejected {
                        assert_no_secret(&e.to_string());
                    }
                    *kinds.entry("ok".into()).or_default() += 1;
                }
                Err(e) => assert_no_secret(&format!("{e} {e:?}")),
            }
        }
    }
    for n in [0usize, 1, 7, 300, 5000] {
        let garbage: Vec<u8> = (0..n).map(|_| rng.random()).collect();
        assert!(f.clean_http(&garbage, &opts).is_err());
    }
    assert!(kinds.get("ok").copied().unwrap_or(0) > 100, "{kinds:?}");
}

#[test]
fn limits_are_typed_errors() {
    let f = filter();
    let ev = json!({"event_type":"users.messages.email.Open","id":"o","time":T0});
    let mut opts = HttpOptions::default();
    opts.max_events = 3;
    assert!(
        f.clean_http(&body(&[ev.clone(), ev.clone(), ev.clone()]), &opts)
            .is_ok()
    );
    assert_eq!(
        f.clean_http(
            &body(&[ev.clone(), ev.clone(), ev.clone(), ev.clone()]),
            &opts
        ),
        Err(HttpError::TooManyEvents { count: 4, limit: 3 })
    );
    let big = body(std::slice::from_ref(&ev));
    let mut small = HttpOptions::default();
    small.max_body_bytes = big.len() - 1;
    assert_eq!(
        f.clean_http(&big, &small),
        Err(HttpError::BodyTooLarge {
            len: big.len(),
            limit: big.len() - 1
        })
    );
    for not_envelope in [
        &b"[]"[..],
        b"{}",
        b"{\"events\":{}}",
        b"\"events\"",
        b"null",
    ] {
        assert_eq!(
            f.clean_http(not_envelope, &opts),
            Err(HttpError::NotAnEnvelope)
        );
    }
    // Deeper than the option: that event alone; deeper than the parser: the body.
    let mut deep = json!("x");
    for _ in 0..20 {
        deep = json!([deep]);
    }
    let nested = json!({"event_type":"users.messages.email.Open","id":"d","time":T0,
        "properties":{"future": deep}});
    let out = f
        .clean_http(&body(&[nested, ev.clone()]), &HttpOptions::default())
        .expect("ok");
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.rejected[0].kind, HttpEventErrorKind::TooDeep);
    let very_deep = format!("{{\"events\":[{}1{}]}}", "[".repeat(200), "]".repeat(200));
    assert!(matches!(
        f.clean_http(very_deep.as_bytes(), &HttpOptions::default()),
        Err(HttpError::NotJson { .. })
    ));
    // Missing and odd envelope members.
    let cases = [
        (
            json!({"id":"a","time":T0}),
            Some("event_type"),
            HttpEventErrorKind::Missing,
        ),
        (
            json!({"event_type":"users.messages.email.Open","time":T0}),
            Some("id"),
            HttpEventErrorKind::Missing,
        ),
        (
            json!({"event_type":"users.messages.email.Open","id":"a"}),
            Some("time"),
            HttpEventErrorKind::Missing,
        ),
        (
            json!({"event_type":"users.messages.email.Open","id":"a","time":1e300}),
            Some("time"),
            HttpEventErrorKind::OutOfRange,
        ),
        (
            json!({"event_type":"users.messages.email.Open","id":"a","time":1.5}),
            Some("time"),
            HttpEventErrorKind::WrongKind(FieldKind::RequiredTime),
        ),
        (
            json!({"event_type":"users.messages.email.Open","id":"a","time":T0,"properties":[]}),
            Some("properties"),
            HttpEventErrorKind::NotAnObject,
        ),
        (
            json!({"event_type":"users.messages.email.Open","id":"a","time":T0,"user":{"user_id":5}}),
            Some("user_id"),
            HttpEventErrorKind::WrongKind(FieldKind::PiiString),
        ),
        (
            json!({"event_type":7,"id":"a","time":T0}),
            Some("event_type"),
            HttpEventErrorKind::WrongKind(FieldKind::RequiredString),
        ),
        (
            json!("not an object"),
            None,
            HttpEventErrorKind::NotAnObject,
        ),
    ];
    for (i, (ev, field, kind)) in cases.into_iter().enumerate() {
        let out = f
            .clean_http(&body(&[ev]), &HttpOptions::default())
            .expect("an envelope");
        assert_eq!(out.rejected.len(), 1, "case {i}");
        assert_eq!(
            (out.rejected[0].field, out.rejected[0].kind),
            (field, kind),
            "case {i}"
        );
    }
    // A float time without a fraction is a time.
    let ok = json!({"event_type":"users.messages.email.Open","id":"a","time":1767225600.0});
    assert_eq!(
        f.clean_http(&body(&[ok]), &HttpOptions::default())
            .expect("ok")
            .events
            .len(),
        1
    );
}

#[test]
fn every_field_of_every_type_rejects_a_wrong_kind() {
    let f = filter();
    for &et in EventType::ALL {
        for def in et.fields() {
            let mut bad = json!({"event_type": et.name(), "id": "b", "time": T0, "properties": {}});
            if matches!(def.name, "id" | "time") {
                bad[def.name] = wrong_value(def.kind);
            } else {
                bad["properties"][def.name] = wrong_value(def.kind);
            }
            let good = json!({"event_type": et.name(), "id": "g", "time": T0});
            let out = f
                .clean_http(&body(&[bad, good]), &HttpOptions::default())
                .expect("ok");
            assert_eq!(out.events.len(), 1, "{et} {}", def.name);
            assert_eq!(out.events[0].id, "g");
            let e = &out.rejected[0];
            assert_eq!((e.index, e.field), (0, Some(def.name)), "{et}");
            assert_eq!(
                e.kind,
                HttpEventErrorKind::WrongKind(def.kind),
                "{et} {}",
                def.name
            );
            assert!(e.to_string().contains(def.name));
        }
    }
}

/// The JSON path keys a recipient exactly like the Avro path, so a host can mix them.
#[test]
fn recipient_keys_match_the_avro_path() {
    let f = filter();
    let hashed = "8df897f8da3d7992fe57c8dbc6f27578cfbf2dcc4d0fbb4000b8c924841d508e";
    for uid in ["5f1a2b3c4d5e6f7a8b9c0d1e", hashed, "[REDACTED]", ""] {
        let schema = r#"{"type":"record","name":"Conversion","namespace":"dataexport.S3.inner.users.campaigns",
          "fields":[{"name":"id","type":"string"},{"name":"user_id","type":"string"},
          {"name":"time","type":"int"},{"name":"campaign_id","type":"string"}]}"#;
        let w = OcfWriter::new(schema, Codec::Null, &[], [5; 16]);
        let mut file = Vec::new();
        w.header(&mut file);
        let mut rec = Vec::new();
        encode_str("ev-1", &mut rec);
        encode_str(uid, &mut rec);
        encode_long(T0, &mut rec);
        encode_str("cmp-1", &mut rec);
        w.write_block(1, &rec, &mut file);
        let avro = f.clean_file(&file, &DecodeOptions::default());
        assert!(avro.error.is_none());
        let ev = json!({"event_type":"users.campaigns.Conversion","id":"ev-1","time":T0,
            "properties":{"campaign_id":"cmp-1"},"user":{"user_id":uid}});
        let http = f
            .clean_http(&body(&[ev]), &HttpOptions::default())
            .expect("ok");
        assert_eq!(http.events, avro.events, "{uid}");
        assert_eq!(
            http.events[0].recipient_key.is_some(),
            !uid.is_empty() && uid != "[REDACTED]"
        );
    }
}

#[test]
fn quasi_fields_pass_only_when_allowed_and_the_report_names_fields() {
    let ev = json!({"event_type":"users.messages.email.Open","id":"o","time":T0,
        "properties":{"user_agent":"Mozilla/5.0 (X11)","email_address":"a@b.example","new_thing":1,
            "machine_open":"true"},
        "user":{"user_id":"u1234567","device_id":"dev-123456"}});
    let default = filter()
        .clean_http(&body(std::slice::from_ref(&ev)), &HttpOptions::default())
        .expect("ok");
    assert_eq!(default.events[0].user_agent, None);
    assert_eq!(default.events[0].machine_open.as_deref(), Some("true"));
    let report = default.report.to_string();
    for name in [
        "user_agent (not allowed)",
        "email_address (personal)",
        "new_thing (unknown)",
        "user_id (personal)",
    ] {
        assert!(report.contains(name), "{report}");
    }
    let allowing = Filter::new(Policy::new().allow("user_agent").expect("quasi"));
    let out = allowing
        .clean_http(&body(&[ev]), &HttpOptions::default())
        .expect("ok");
    assert_eq!(
        out.events[0].user_agent.as_deref(),
        Some("Mozilla/5.0 (X11)")
    );
    assert_eq!(out.unknown_fields, 1);
}

/// An IP address is dropped from every kept text but `sending_ip` (the sending
/// server's address, kept as the Avro export keeps it), with either family.
#[test]
fn ip_addresses_are_dropped_except_the_senders() {
    for ip in ["168.245.12.7", "2001:db8::1", "10.0.0.254"] {
        let ev = json!({
            "event_type": "users.messages.email.Delivery", "id": "o1", "time": T0,
            "properties": {
                "campaign_id": "cmp-1", "sending_ip": ip, "ip_pool": format!("pool {ip}"),
                "esp": format!("relay {ip}"),
            },
            "user": {"user_id": "u-1"}
        });
        let out = filter()
            .clean_http(&body(&[ev]), &HttpOptions::default())
            .expect("decodes");
        let c = &out.events[0];
        assert_eq!(c.sending_ip.as_deref(), Some(ip), "{ip}");
        assert_eq!(c.ip_pool, None, "{ip}");
        assert_eq!(c.esp, None, "{ip}");
        assert_eq!(c.campaign_id.as_deref(), Some("cmp-1"));
        assert_eq!(out.ip_values_dropped, 2, "{ip}");
    }
}
