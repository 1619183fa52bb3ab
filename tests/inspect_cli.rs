//! The `inspect` example, run as a subprocess (see docs/design.md, *Example programs*):
//! one JSON object per event with `event_type` first and the allowlisted fields in
//! schema order; no personal value on stdout or stderr; bad files report file, offset
//! and field, keep the events decoded before the error, do not stop the other files,
//! and make the exit status 1.

#[path = "support/cli.rs"]
mod cli;
mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use cli::{TempDir, example_bin};
use common::fixtures::{self as fx, GenCodec, GenOptions, Generated, Val};
use dynopt::currents::EventType;
use dynopt::pii::{DEFAULT_ALLOWLIST, scrub_url};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value as Json;

fn run(files: &[PathBuf]) -> (Output, String, String) {
    let out = Command::new(example_bin("inspect"))
        .args(files)
        .output()
        .expect("inspect runs");
    let stdout = String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8");
    let stderr = String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8");
    (out, stdout, stderr)
}

/// A JSON object with its keys in document order.
struct Ordered(Vec<(String, Json)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Json>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn parse_line(line: &str) -> Vec<(String, Json)> {
    let obj: Ordered =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
    obj.0
}

/// The keys `inspect` prints for an event type (docs/design.md, *Example programs*),
/// computed from the allowlist (`url` printed scrubbed).
fn expected_keys(et: EventType) -> Vec<&'static str> {
    let mut keys = vec!["event_type"];
    keys.extend(
        et.fields()
            .iter()
            .filter(|f| DEFAULT_ALLOWLIST.contains(&f.name))
            .map(|f| f.name),
    );
    keys
}

fn expected_json(v: Option<&Val>) -> Json {
    match v {
        None | Some(Val::Null) => Json::Null,
        Some(Val::Str(s)) => Json::from(s.as_str()),
        Some(Val::Int(i)) => Json::from(*i),
        Some(Val::Bool(b)) => Json::from(*b),
        Some(Val::Double(d)) => Json::from(*d),
        Some(Val::Array(items)) => {
            Json::Array(items.iter().map(|i| expected_json(Some(i))).collect())
        }
    }
}

/// Checks `lines` against the records of `g` from `first_record` on, value by value.
fn check_lines(g: &Generated, lines: &[&str], first_record: usize) {
    let et = EventType::from_name(&g.shape.event_type).expect("event type");
    let keys = expected_keys(et);
    for (i, line) in lines.iter().enumerate() {
        let r = first_record + i;
        assert!(
            line.starts_with(&format!("{{\"event_type\":\"{}\"", et.name())),
            "{}: event_type first: {line}",
            g.shape.label
        );
        let obj = parse_line(line);
        let got_keys: Vec<&str> = obj.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got_keys, keys, "{}: keys and order", g.shape.label);
        for (k, v) in &obj[1..] {
            let want = match g.value(r, k) {
                Some(Val::Str(u)) if k == "url" => Json::from(scrub_url(u).into_owned()),
                other => expected_json(other),
            };
            assert_eq!(v, &want, "{} record {r} field {k}", g.shape.label);
        }
    }
}

fn assert_no_personal_data(text: &str, files: &[&Generated], what: &str) {
    assert!(!text.contains('@'), "{what} shows an email address");
    assert!(
        !text.contains("[REDACTED]"),
        "{what} prints a redacted field"
    );
    for g in files {
        // Whole URLs count as personal in the generator; the scrubbed url may equal
        // its input when nothing personal was in it (the `@` check above and the
        // user ids below cover what a URL can leak).
        for p in g
            .personal_strings()
            .into_iter()
            .filter(|p| !p.starts_with("http"))
        {
            assert!(
                !text.contains(&p),
                "{what} shows a personal value of {}",
                g.shape.label
            );
        }
    }
}

#[test]
fn every_shape_prints_allowlisted_fields_in_schema_order() {
    let dir = TempDir::new("inspect-shapes");
    let mut shapes = fx::shapes();
    shapes.extend(fx::v12_shapes(false));
    shapes.extend(fx::conversion_shapes());
    let mut generated = Vec::new();
    let mut paths = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        let codec = if i % 2 == 0 {
            GenCodec::Null
        } else {
            GenCodec::Deflate
        };
        let g = fx::generate(shape, &GenOptions::new(25 + i % 7, 300 + i as u64, codec));
        paths.push(dir.write(&format!("{i:02}.avro"), &g.bytes));
        generated.push(g);
    }
    let (out, stdout, stderr) = run(&paths);
    assert!(
        out.status.success(),
        "exit status {:?}: {stderr}",
        out.status
    );
    assert_eq!(stderr, "");
    let lines: Vec<&str> = stdout.lines().collect();
    let total: usize = generated.iter().map(|g| g.records.len()).sum();
    assert_eq!(lines.len(), total);
    let mut at = 0;
    for g in &generated {
        let n = g.records.len();
        check_lines(g, &lines[at..at + n], 0);
        at += n;
    }
    let refs: Vec<&Generated> = generated.iter().collect();
    assert_no_personal_data(&stdout, &refs, "stdout");
}

#[test]
fn bad_files_are_reported_and_the_others_still_print() {
    let dir = TempDir::new("inspect-bad");
    let click = fx::newest_shape("Click");
    let opts = |seed, codec| GenOptions::new(60, seed, codec);
    let good1 = fx::generate(&click, &opts(1, GenCodec::Null));
    let good2 = fx::generate(&fx::newest_shape("Deferral"), &opts(2, GenCodec::Deflate));
    let base = fx::generate(&click, &opts(3, GenCodec::Null));
    let deflated = fx::generate(&click, &opts(4, GenCodec::Deflate));
    assert!(base.blocks.len() >= 3 && deflated.blocks.len() >= 3);

    // Truncated in the middle of the third block.
    let b2 = base.blocks[2];
    let truncated = &base.bytes[..b2.data_offset + b2.data_len / 2];
    let complete_before: u64 = base.blocks[..2].iter().map(|b| b.count).sum();
    // Wrong magic.
    let mut bad_magic = base.bytes.clone();
    bad_magic[2] = b'x';
    // Second block: the first record's `id` length becomes -64.
    let b1 = base.blocks[1];
    let mut bad_length = base.bytes.clone();
    bad_length[b1.data_offset] = 0x7f;
    // Deflate: the second block's compressed bytes scrambled.
    let d1 = deflated.blocks[1];
    let mut bad_deflate = deflated.bytes.clone();
    for b in &mut bad_deflate[d1.data_offset + 2..d1.data_offset + d1.data_len / 2] {
        *b ^= 0x5a;
    }
    let missing = dir.0.join("missing.avro");

    let paths = vec![
        dir.write("good1.avro", &good1.bytes),
        dir.write("truncated.avro", truncated),
        dir.write("bad-magic.avro", &bad_magic),
        dir.write("bad-length.avro", &bad_length),
        dir.write("bad-deflate.avro", &bad_deflate),
        missing.clone(),
        dir.write("good2.avro", &good2.bytes),
    ];
    let (out, stdout, stderr) = run(&paths);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");

    let err_line = |file: &str| -> &str {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(file)).collect();
        assert_eq!(lines.len(), 1, "one message for {file}: {stderr}");
        lines[0]
    };
    for file in [
        "truncated.avro",
        "bad-magic.avro",
        "bad-length.avro",
        "bad-deflate.avro",
    ] {
        let line = err_line(file);
        assert!(line.contains("at byte "), "offset named: {line}");
    }
    assert!(err_line("bad-magic.avro").contains("at byte 0"), "{stderr}");
    let bl = err_line("bad-length.avro");
    assert!(bl.contains(&format!("at byte {}", b1.data_offset)), "{bl}");
    assert!(bl.contains("field `id`"), "{bl}");
    assert!(err_line("missing.avro").contains("cannot read"), "{stderr}");
    assert_eq!(stderr.lines().count(), 5, "{stderr}");

    // stdout: good1, the complete blocks of the truncated file, the first block of
    // bad-length, the blocks of bad-deflate before the scrambled one (at least), good2.
    let lines: Vec<&str> = stdout.lines().collect();
    let mut at = 0;
    check_lines(&good1, &lines[at..at + 60], 0);
    at += 60;
    let n = complete_before as usize;
    check_lines(&base, &lines[at..at + n], 0);
    at += n;
    // bad-length: the first block only.
    let n0 = base.blocks[0].count as usize;
    check_lines(&base, &lines[at..at + n0], 0);
    at += n0;
    // bad-deflate: block 0 decodes; block 1 must not produce events silently wrong
    // beyond what its bytes hold, and nothing after the error.
    let d0 = deflated.blocks[0].count as usize;
    check_lines(&deflated, &lines[at..at + d0], 0);
    at += d0;
    let rest = lines.len() - at;
    assert!(rest >= 60, "good2 printed");
    let extra = rest - 60;
    assert!(
        extra < deflated.blocks[1].count as usize,
        "{extra} events from the scrambled block"
    );
    at += extra;
    check_lines(&good2, &lines[at..], 0);
    assert_eq!(lines.len() - at, 60);

    let all = [&good1, &good2, &base, &deflated];
    assert_no_personal_data(&stdout, &all, "stdout");
    assert_no_personal_data(&stderr, &all, "stderr");
}

#[test]
fn no_arguments_is_a_usage_error() {
    let out = Command::new(example_bin("inspect"))
        .output()
        .expect("inspect runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    assert!(out.stdout.is_empty());
}

#[test]
fn mutated_files_never_panic_and_every_line_is_json() {
    use rand::{RngExt, SeedableRng};
    let dir = TempDir::new("inspect-mutated");
    let shapes = fx::shapes();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(99);
    let mut paths = Vec::new();
    let n: usize = std::env::var("DYNOPT_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    for i in 0..n {
        let shape = &shapes[rng.random_range(0..shapes.len())];
        let codec = if rng.random_bool(0.5) {
            GenCodec::Null
        } else {
            GenCodec::Deflate
        };
        let g = fx::generate(shape, &GenOptions::new(20, i as u64, codec));
        let mut bytes = g.bytes.clone();
        match rng.random_range(0..3u32) {
            0 => {
                for _ in 0..rng.random_range(1..8u32) {
                    let at = rng.random_range(0..bytes.len());
                    bytes[at] ^= 1 << rng.random_range(0..8u32);
                }
            }
            1 => bytes.truncate(rng.random_range(0..bytes.len())),
            _ => {
                // Overwrite a few bytes past the header with 0xff (absurd varints).
                let at = rng.random_range(g.header_len..bytes.len());
                let end = (at + rng.random_range(1..12usize)).min(bytes.len());
                bytes[at..end].fill(0xff);
            }
        }
        paths.push(dir.write(&format!("m{i:03}.avro"), &bytes));
    }
    let (out, stdout, stderr) = run(&paths);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{:?}", out.status);
    assert_eq!(out.status.code() == Some(1), !stderr.is_empty(), "{stderr}");
    for line in stdout.lines() {
        assert!(
            line.starts_with("{\"event_type\":\"users.messages.email."),
            "{line}"
        );
        parse_line(line);
    }
    for line in stderr.lines() {
        assert!(line.starts_with("inspect: "), "{line}");
        assert!(line.contains(".avro: at byte "), "{line}");
    }
    assert!(
        stderr.lines().count() >= n / 2,
        "most mutations are detected: {stderr}"
    );
}

#[test]
fn help_goes_to_stdout_with_exit_0() {
    for flag in ["--help", "-h"] {
        let out = Command::new(example_bin("inspect"))
            .arg(flag)
            .output()
            .expect("inspect runs");
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(out.stderr.is_empty());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("usage: inspect FILE..."), "{help}");
        assert!(
            help.contains("recipient_key") && help.contains("examples:"),
            "{help}"
        );
    }
    let out = Command::new(example_bin("inspect"))
        .arg("--bogus")
        .output()
        .expect("inspect runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: inspect"));
}

/// A sanitized file prints its pseudonymous `recipient_key` last: the key Liquid's
/// `hmac_sha256_hex` gives for the record's `user_id`; null without a pseudonymizer.
#[test]
fn sanitized_files_print_the_recipient_key() {
    use dynopt::pii::{Pseudonymizer, SanitizeOptions, sanitize};
    let dir = TempDir::new("inspect-keys");
    let shape = fx::newest_shape("Click");
    let g = fx::generate(&shape, &GenOptions::new(12, 5, GenCodec::Deflate));
    let p = Pseudonymizer::keyed(b"YOUR-SHARED-SECRET");
    let keyed = sanitize(
        &g.bytes,
        &SanitizeOptions::new().with_pseudonymizer(p.clone()),
    )
    .expect("a generated file sanitizes");
    let plain = sanitize(&g.bytes, &SanitizeOptions::new()).expect("sanitizes");
    let paths = [
        dir.write("keyed.avro", &keyed.bytes),
        dir.write("plain.avro", &plain.bytes),
    ];
    let (out, stdout, stderr) = run(&paths);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<Vec<(String, Json)>> = stdout.lines().map(parse_line).collect();
    assert_eq!(lines.len(), 24);
    for (r, line) in lines.iter().enumerate() {
        let (name, value) = line.last().expect("fields");
        assert_eq!(name, "recipient_key");
        if r < 12 {
            let user_id = g
                .value(r, "user_id")
                .and_then(Val::as_str)
                .expect("user_id");
            let want = p.key_for(user_id).expect("a key").to_string();
            assert_eq!(value, &Json::from(want));
        } else {
            assert_eq!(value, &Json::Null);
        }
    }
}
