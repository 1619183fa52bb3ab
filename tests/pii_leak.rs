//! Leak tests (see docs/design.md, *PII policy and filter*): for every published schema
//! shape (and the v12 shapes), plant a unique marker in every field the default policy
//! drops, and emails, phone numbers, tokens and user ids inside URL query strings; then
//! scan everything the crate can emit for the markers: clean events (JSON and `Debug`),
//! raw events' `Debug`, filter reports, sanitized Avro bytes (raw and decompressed),
//! what apache-avro reads from them, summaries, error messages of corrupted files, and
//! the `inspect` example's output when it is built.

mod common;

use std::path::PathBuf;
use std::process::Command;

use apache_avro::Reader as AvroReader;
use common::fixtures::{self as fx, GenCodec, Kind, Val};
use dynopt::currents::{DecodeOptions, EventType, Reader, decode_file};
use dynopt::pii::{Filter, Policy, Pseudonymizer, SanitizeOptions, sanitize};
use proptest::prelude::*;

const RECORDS: usize = 4;

/// Everything planted in one file.
struct Planted {
    bytes: Vec<u8>,
    markers: Vec<String>,
}

fn marker(si: usize, rec: usize, fi: usize) -> String {
    format!("ZQXM{si:03}r{rec}f{fi:02}Q")
}

/// A value of `kind` that carries `m` wherever a string can.
fn marked(kind: &Kind, m: &str) -> Val {
    match kind {
        Kind::Str => Val::Str(m.to_owned()),
        Kind::Nullable(k) => marked(k, m),
        Kind::Array(k)
            if matches!(**k, Kind::Str) || **k == Kind::Nullable(Box::new(Kind::Str)) =>
        {
            Val::Array(vec![marked(k, m), marked(k, &format!("{m}b"))])
        }
        Kind::Array(_) => Val::Array(Vec::new()),
        Kind::Int | Kind::Long => Val::Int(7),
        Kind::Bool => Val::Bool(true),
        Kind::Double => Val::Double(1.5),
    }
}

/// An ordinary value for a kept field.
fn ordinary(name: &str, kind: &Kind, rec: usize) -> Val {
    match kind {
        Kind::Str => Val::Str(format!("ok-{name}-{rec}")),
        Kind::Nullable(k) => ordinary(name, k, rec),
        Kind::Array(k) if contains_string(k) => Val::Array(vec![Val::Str("user_agent".into())]),
        Kind::Array(_) => Val::Array(Vec::new()),
        Kind::Int | Kind::Long if matches!(name, "time" | "send_time") => {
            Val::Int(1_767_225_600 + rec as i64)
        }
        Kind::Int | Kind::Long => Val::Int(3),
        Kind::Bool => Val::Bool(rec.is_multiple_of(2)),
        Kind::Double => Val::Double(0.5),
    }
}

/// A clicked URL with personal data planted in its query string and fragment.
fn planted_url(si: usize, rec: usize, markers: &mut Vec<String>) -> String {
    let email = format!("zqxmail{si:03}r{rec}");
    let encoded = format!("zqxenc{si:03}r{rec}");
    let double = format!("zqxdbl{si:03}r{rec}");
    let token = format!("zqxtok{si:03}r{rec}");
    let uid = format!("zqxuid{si:03}r{rec}");
    let phone = format!("91827{si:03}{rec:02}");
    let frag = format!("zqxfrag{si:03}r{rec}");
    markers.extend([
        email.clone(),
        encoded.clone(),
        double.clone(),
        token.clone(),
        uid.clone(),
        phone.clone(),
        frag.clone(),
    ]);
    format!(
        "https://shop.example.com/p/{rec}?utm_source=braze&ref={email}@example.com&x={encoded}%40example.com\
         &y={double}%2540example.org&token={token}&uid={uid}&call=%2B{phone}&dov=v2.1767225600&lid=ab12\
         #/account?email={frag}@example.com"
    )
}

fn plant(shape: &fx::Shape, si: usize, codec: GenCodec) -> Planted {
    let et = EventType::from_name(&shape.event_type).expect("event type");
    let policy = Policy::default();
    let mut markers = Vec::new();
    let mut records = Vec::new();
    for rec in 0..RECORDS {
        let mut row = Vec::new();
        for (fi, f) in shape.fields.iter().enumerate() {
            let kind = Kind::parse(&f.ty);
            let dropped = policy.verdict(et, &f.name, f.pii_tag).is_err();
            let v = if f.name == "url" {
                Val::Str(planted_url(si, rec, &mut markers))
            } else if f.name == "email_address" {
                let m = marker(si, rec, fi);
                markers.push(m.clone());
                Val::Str(format!("{m}@example.com"))
            } else if f.name == "user_id" && rec == 3 {
                Val::Str("[REDACTED]".into())
            } else if dropped {
                let m = marker(si, rec, fi);
                if contains_string(&kind) {
                    markers.push(m.clone());
                }
                marked(&kind, &m)
            } else {
                ordinary(&f.name, &kind, rec)
            };
            row.push(v);
        }
        records.push(row);
    }
    let (bytes, _) = fx::write_ocf(shape, &records, codec, 512, [si as u8; 16], &[]);
    Planted { bytes, markers }
}

fn contains_string(kind: &Kind) -> bool {
    match kind {
        Kind::Str => true,
        Kind::Nullable(k) | Kind::Array(k) => contains_string(k),
        _ => false,
    }
}

fn assert_clean(label: &str, what: &str, hay: &[u8], markers: &[String]) {
    for m in markers {
        let found = hay
            .windows(m.len())
            .any(|w| w.eq_ignore_ascii_case(m.as_bytes()));
        assert!(!found, "{label}: marker {m} leaked into {what}");
    }
}

fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let p = dir.join("examples").join(name);
    p.exists().then_some(p)
}

/// Every output surface of the crate for one planted file.
fn surfaces(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let decode = DecodeOptions::default();
    for (name, filter) in [
        ("default filter", Filter::default()),
        (
            "keyed filter",
            Filter::default().with_pseudonymizer(Pseudonymizer::keyed(b"k")),
        ),
    ] {
        let clean = filter.clean_file(bytes, &decode);
        assert!(clean.error.is_none(), "{name}: {:?}", clean.error);
        assert_eq!(clean.events.len(), RECORDS);
        out.push((
            format!("{name}: clean events JSON"),
            serde_json::to_vec(&clean.events).expect("json"),
        ));
        out.push((
            format!("{name}: clean events Debug"),
            format!("{:?}", clean.events).into(),
        ));
        out.push((
            format!("{name}: report Display"),
            clean.report.to_string().into(),
        ));
        out.push((
            format!("{name}: report Debug"),
            format!("{:?}", clean.report).into(),
        ));
        out.push((
            format!("{name}: report JSON"),
            serde_json::to_vec(&clean.report).expect("json"),
        ));
    }
    let raw = decode_file(bytes, &decode);
    out.push((
        "raw events Debug".into(),
        format!("{:?}", raw.events).into(),
    ));
    for (name, options) in [
        ("sanitize", SanitizeOptions::default()),
        (
            "sanitize keyed",
            SanitizeOptions::default().with_pseudonymizer(Pseudonymizer::plain()),
        ),
    ] {
        let s = sanitize(bytes, &options).expect("sanitizes");
        out.push((
            format!("{name}: summary Debug"),
            format!("{:?}", s.summary).into(),
        ));
        out.push((format!("{name}: bytes"), s.bytes.clone()));
        let mut r = Reader::new(&s.bytes, &decode).expect("reads");
        let mut data = Vec::new();
        while let Some(b) = r.next_block() {
            data.extend_from_slice(b.expect("block").data());
        }
        out.push((format!("{name}: decompressed blocks"), data));
        let avro: Vec<String> = AvroReader::new(&s.bytes[..])
            .expect("apache-avro reads")
            .map(|v| format!("{:?}", v.expect("record")))
            .collect();
        assert_eq!(avro.len(), RECORDS);
        out.push((format!("{name}: apache-avro values"), avro.concat().into()));
        let back = Filter::default().clean_file(&s.bytes, &decode);
        out.push((
            format!("{name}: clean events of the sanitized file"),
            serde_json::to_vec(&back.events).expect("json"),
        ));
    }
    // Corrupted copies: every error message.
    let cuts = [bytes.len() / 2, bytes.len() - 5, bytes.len() * 3 / 4];
    for (i, cut) in cuts.into_iter().enumerate() {
        let mut bad = bytes[..cut].to_vec();
        if i == 2 {
            // Overwrite a run in the middle with 0xff: absurd lengths, bad UTF-8.
            let mid = bytes.len() / 2;
            bad = bytes.to_vec();
            bad[mid..mid + 8].fill(0xff);
        }
        let err = sanitize(&bad, &SanitizeOptions::default()).expect_err("corrupt input fails");
        out.push((
            format!("sanitize error {i}"),
            format!("{err} {err:?}").into(),
        ));
        let clean = Filter::default().clean_file(&bad, &decode);
        out.push((
            format!("clean_file error {i}"),
            format!("{:?}", clean.error).into(),
        ));
        if let Some(e) = &clean.error {
            out.push((
                format!("clean_file error {i} Display"),
                e.to_string().into(),
            ));
        }
        let raw = decode_file(&bad, &decode);
        out.push((
            format!("decode_file error {i}"),
            format!("{:?}", raw.error).into(),
        ));
    }
    out
}

#[test]
fn no_marker_leaves_for_any_shape() {
    let mut shapes = fx::shapes();
    shapes.extend(fx::v12_shapes(false));
    shapes.extend(fx::v12_shapes(true));
    let inspect = example("inspect");
    let tmp = std::env::temp_dir().join(format!("dynopt-leak-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let mut checked = 0usize;
    for (si, shape) in shapes.iter().enumerate() {
        for codec in GenCodec::ALL {
            let label = format!("{} {}", shape.label, codec.name());
            let p = plant(shape, si, codec);
            // The planted file really carries the markers (the test can fail).
            let raw = decode_file(&p.bytes, &DecodeOptions::default());
            assert!(raw.error.is_none(), "{label}: {:?}", raw.error);
            if codec == GenCodec::Null {
                for m in &p.markers {
                    let there = p.bytes.windows(m.len()).any(|w| w == m.as_bytes());
                    assert!(there, "{label}: {m} not planted");
                }
            }
            assert!(
                p.markers.len() >= 2 * RECORDS,
                "{label}: {}",
                p.markers.len()
            );
            for (what, hay) in surfaces(&p.bytes) {
                assert_clean(&label, &what, &hay, &p.markers);
                checked += 1;
            }
            if let Some(bin) = &inspect {
                let file = tmp.join(format!("{si}-{}.avro", codec.name()));
                std::fs::write(&file, &p.bytes).expect("write");
                let o = Command::new(bin).arg(&file).output().expect("runs inspect");
                assert!(o.status.success(), "{label}: inspect failed");
                assert_eq!(o.stdout.iter().filter(|&&b| b == b'\n').count(), RECORDS);
                assert_clean(&label, "inspect stdout", &o.stdout, &p.markers);
                assert_clean(&label, "inspect stderr", &o.stderr, &p.markers);
                let bad = tmp.join(format!("{si}-{}-bad.avro", codec.name()));
                std::fs::write(&bad, &p.bytes[..p.bytes.len() - 5]).expect("write");
                let o = Command::new(bin).arg(&bad).output().expect("runs inspect");
                assert!(
                    !o.status.success(),
                    "{label}: inspect accepts a truncated file"
                );
                assert_clean(
                    &label,
                    "inspect on a bad file",
                    &[o.stdout, o.stderr].concat(),
                    &p.markers,
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!(
        "scanned {checked} outputs of {} files{}",
        shapes.len() * 2,
        if inspect.is_some() {
            " plus inspect"
        } else {
            " (inspect example not built)"
        }
    );
}

#[test]
fn allowing_user_agent_lets_it_through() {
    // The scan above would catch user agents; this shows the policy is what stops them.
    let shape = fx::newest_shape("Click");
    let p = plant(&shape, 999, GenCodec::Null);
    let fi = shape.field_index("user_agent").expect("user_agent");
    let m = marker(999, 0, fi);
    let policy = Policy::default().allow("user_agent").expect("allowed");
    let clean = Filter::new(policy).clean_file(&p.bytes, &DecodeOptions::default());
    assert_eq!(clean.events[0].user_agent.as_deref(), Some(m.as_str()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Generated personal values in every dropped field of the newest Click shape, and
    /// emails in the URL: none reaches the clean events or the sanitized bytes.
    #[test]
    fn generated_personal_values_never_leave(
        uid in "[a-f0-9]{24}",
        local in "[a-z][a-z0-9._-]{3,20}",
        domain in "[a-z]{2,10}\\.(com|net|de)",
        ua in "[ -~]{12,80}",
        param in "[a-z_]{1,10}",
        enc in 0u8..3,
    ) {
        let shape = fx::newest_shape("Click");
        let email = format!("{local}@{domain}");
        let in_url = match enc {
            0 => email.clone(),
            1 => email.replace('@', "%40"),
            _ => email.replace('@', "%2540"),
        };
        let url = format!("https://a.example/?utm_medium=email&{param}={in_url}&dov=v1");
        let row: Vec<Val> = shape.fields.iter().map(|f| match f.name.as_str() {
            "user_id" => Val::Str(uid.clone()),
            "email_address" | "external_user_id" => Val::Str(email.clone()),
            "user_agent" => Val::Str(ua.clone()),
            "url" => Val::Str(url.clone()),
            n => ordinary(n, &Kind::parse(&f.ty), 0),
        }).collect();
        let (bytes, _) = fx::write_ocf(&shape, [&row], GenCodec::Null, 4096, [1; 16], &[]);
        let clean = Filter::default().clean_file(&bytes, &DecodeOptions::default());
        prop_assert!(clean.error.is_none());
        let json = serde_json::to_string(&clean.events).expect("json");
        let s = sanitize(&bytes, &SanitizeOptions::default()).expect("sanitizes");
        for needle in [&uid, &local, &ua] {
            prop_assert!(!json.contains(needle.as_str()), "{needle} in {json}");
            let found = s.bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            prop_assert!(!found, "{needle} in sanitized bytes");
        }
        prop_assert_eq!(clean.events[0].url.as_deref(), Some("https://a.example/?utm_medium=email&dov=v1"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Any published shape, generated values in every field the policy drops (and an
    /// email in the URL): none reaches clean events, the report or sanitized bytes.
    #[test]
    fn any_shape_generated_values_never_leave(
        shape_index in 0usize..200,
        values in prop::collection::vec("[A-Za-z0-9 ._:/-]{12,40}", 48),
        email_local in "[a-z]{6,12}[0-9]{3}",
        deflate in any::<bool>(),
    ) {
        let mut shapes = fx::shapes();
        shapes.extend(fx::v12_shapes(false));
        let shape = &shapes[shape_index % shapes.len()];
        let et = EventType::from_name(&shape.event_type).expect("type");
        let policy = Policy::default();
        let mut secrets = Vec::new();
        let row: Vec<Val> = shape.fields.iter().enumerate().map(|(i, f)| {
            let kind = Kind::parse(&f.ty);
            if f.name == "url" {
                secrets.push(email_local.clone());
                Val::Str(format!("https://a.example/x?utm_source=b&who={email_local}%40example.com&dov=v1"))
            } else if policy.verdict(et, &f.name, f.pii_tag).is_err() && contains_string(&kind) {
                let v = format!("{}#{i}", values[i % values.len()]);
                secrets.push(v.clone());
                marked(&kind, &v)
            } else {
                ordinary(&f.name, &kind, 0)
            }
        }).collect();
        let codec = if deflate { GenCodec::Deflate } else { GenCodec::Null };
        let (bytes, _) = fx::write_ocf(shape, [&row, &row], codec, 4096, [9; 16], &[]);
        let clean = Filter::default().clean_file(&bytes, &DecodeOptions::default());
        prop_assert!(clean.error.is_none(), "{:?}", clean.error);
        let mut hay = serde_json::to_vec(&clean.events).expect("json");
        hay.extend(format!("{:?} {}", clean.events, clean.report).bytes());
        let s = sanitize(&bytes, &SanitizeOptions::default().with_pseudonymizer(Pseudonymizer::plain()))
            .expect("sanitizes");
        let mut r = Reader::new(&s.bytes, &DecodeOptions::default()).expect("reads");
        while let Some(b) = r.next_block() {
            hay.extend_from_slice(b.expect("block").data());
        }
        hay.extend_from_slice(&s.bytes);
        for secret in &secrets {
            let found = hay.windows(secret.len()).any(|w| w == secret.as_bytes());
            prop_assert!(!found, "{}: {secret:?} left", shape.label);
        }
    }
}
