//! The `sanitize` example as a subprocess (see docs/design.md, *Example programs*):
//! every schema shape, both codecs, with and without `--key-hex`, corrupt inputs, and
//! URLs carrying emails, phone numbers and tokens.

#[path = "support/cli.rs"]
mod cli;
mod common;

use std::path::Path;
use std::process::{Command, Output};

use cli::{TempDir, example_bin};
use common::fixtures::{self as fx, GenCodec, GenOptions, Val};
use dynopt::currents::{DecodeOptions, EventType};
use dynopt::pii::{Filter, Policy, Pseudonymizer};

fn run(args: &[&Path], extra: &[&str]) -> Output {
    Command::new(example_bin("sanitize"))
        .args(args)
        .args(extra)
        .output()
        .expect("the example runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn expected_dropped(shape: &fx::Shape) -> Vec<String> {
    let et = EventType::from_name(&shape.event_type).expect("type");
    let policy = Policy::default();
    shape
        .fields
        .iter()
        .filter(|f| policy.verdict(et, &f.name, f.pii_tag).is_err())
        .map(|f| f.name.clone())
        .collect()
}

#[test]
fn every_shape_through_the_cli() {
    let dir = TempDir::new("shapes");
    let mut shapes = fx::shapes();
    shapes.extend(fx::v12_shapes(false));
    let key_hex = "7365637265745f6b6579"; // "secret_key"
    let p = Pseudonymizer::keyed(b"secret_key");
    for (i, shape) in shapes.iter().enumerate() {
        let codec = if i % 2 == 0 {
            GenCodec::Null
        } else {
            GenCodec::Deflate
        };
        let g = fx::generate(shape, &GenOptions::new(30, 40 + i as u64, codec));
        let input = dir.0.join(format!("in-{i}.avro"));
        let output = dir.0.join(format!("out-{i}.avro"));
        std::fs::write(&input, &g.bytes).expect("write input");
        let keyed = i % 3 == 0;
        let extra: &[&str] = if keyed { &["--key-hex", key_hex] } else { &[] };
        let o = run(&[&input, &output], extra);
        let err = stderr(&o);
        assert!(o.status.success(), "{}: {err}", shape.label);
        assert!(o.stdout.is_empty());
        let want = format!(
            "sanitized 30 records; dropped: {}\n",
            expected_dropped(shape).join(", ")
        );
        assert_eq!(err, want, "{}", shape.label);
        let out = std::fs::read(&output).expect("output written");
        // No email address or user id of the input is in the output.
        for r in 0..30 {
            for name in ["email_address", "user_id"] {
                let v = g.value(r, name).and_then(Val::as_str).expect("value");
                assert!(
                    !out.windows(v.len()).any(|w| w == v.as_bytes()),
                    "{}: {name} leaked",
                    shape.label
                );
            }
        }
        // A truncated copy of the same file: exit 1, the offset, no output file.
        let cut = g.bytes.len() - 1 - (i % 40);
        let bad = dir.0.join(format!("bad-{i}.avro"));
        let bad_out = dir.0.join(format!("bad-out-{i}.avro"));
        std::fs::write(&bad, &g.bytes[..cut]).expect("write");
        let o = run(&[&bad, &bad_out], extra);
        assert_eq!(o.status.code(), Some(1), "{}: {}", shape.label, stderr(&o));
        assert!(
            stderr(&o).contains("at byte "),
            "{}: {}",
            shape.label,
            stderr(&o)
        );
        assert!(!bad_out.exists(), "{}: partial output", shape.label);
        let clean = Filter::default().clean_file(&out, &DecodeOptions::default());
        assert!(clean.error.is_none(), "{}: {:?}", shape.label, clean.error);
        assert!(clean.sanitized);
        assert_eq!(clean.events.len(), 30);
        for (r, e) in clean.events.iter().enumerate() {
            let uid = g.value(r, "user_id").and_then(Val::as_str).expect("uid");
            let want = if keyed { p.key_for(uid) } else { None };
            assert_eq!(e.recipient_key, want, "{}", shape.label);
        }
    }
    // Only inputs and complete outputs remain: no temporary or partial files.
    for f in dir.files() {
        assert!(
            f.starts_with("in-")
                || f.starts_with("out-")
                || (f.starts_with("bad-") && !f.starts_with("bad-out-")),
            "{f}"
        );
    }
}

#[test]
fn corrupt_input_fails_with_the_offset_and_leaves_no_file() {
    let dir = TempDir::new("corrupt");
    let shape = fx::newest_shape("Click");
    for codec in GenCodec::ALL {
        let g = fx::generate(&shape, &GenOptions::new(50, 8, codec));
        let last = g.blocks.last().expect("blocks");
        let mid = g.blocks[g.blocks.len() / 2];
        let mut flipped = g.bytes.clone();
        // Break the sync marker of the middle block.
        flipped[mid.end - 3] ^= 0x55;
        let mut bad_len = g.bytes.clone();
        bad_len[last.data_offset - 1] = 0x7f; // a block size past the end
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("truncated", g.bytes[..g.bytes.len() - 7].to_vec()),
            ("truncated header", g.bytes[..g.header_len / 2].to_vec()),
            ("bad magic", [b"Obj\x02".as_slice(), &g.bytes[4..]].concat()),
            ("bad sync", flipped),
            ("bad block size", bad_len),
            ("empty", Vec::new()),
        ];
        for (what, bytes) in cases {
            let input = dir.0.join("bad.avro");
            let output = dir.0.join("out.avro");
            std::fs::write(&input, &bytes).expect("write");
            let o = run(&[&input, &output], &[]);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{what} {codec:?}: {err}");
            assert!(err.contains("bad.avro"), "{what}: names the file: {err}");
            if !bytes.is_empty() {
                assert!(err.contains("at byte "), "{what}: names the offset: {err}");
            }
            assert!(!err.contains("panicked"), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(!output.exists(), "{what}: partial output left");
            assert_eq!(dir.files(), ["bad.avro"], "{what}: stray files");
        }
    }
}

#[test]
fn usage_errors() {
    let dir = TempDir::new("usage");
    let shape = fx::newest_shape("Open");
    let g = fx::generate(&shape, &GenOptions::new(3, 1, GenCodec::Null));
    let input = dir.0.join("in.avro");
    std::fs::write(&input, &g.bytes).expect("write");
    let out = dir.0.join("out.avro");
    let missing = dir.0.join("missing.avro");
    for (args, extra, code) in [
        (vec![input.as_path()], vec![], 2),
        (
            vec![input.as_path(), out.as_path()],
            vec!["--key-hex", "xyz"],
            2,
        ),
        (vec![input.as_path(), out.as_path()], vec!["--key-hex"], 2),
        (vec![input.as_path(), out.as_path()], vec!["--bogus"], 2),
        (vec![missing.as_path(), out.as_path()], vec![], 1),
    ] {
        let o = run(&args, &extra);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{args:?} {extra:?}: {}",
            stderr(&o)
        );
        assert!(!out.exists());
    }
    // Success with the key given as `--key-hex=HEX`.
    let o = run(&[&input, &out], &["--key-hex=00ff"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.exists());
}

#[test]
fn urls_with_emails_phones_and_tokens() {
    let dir = TempDir::new("urls");
    let shape = fx::newest_shape("Click");
    let g = fx::generate(&shape, &GenOptions::new(6, 2, GenCodec::Deflate));
    let ui = shape.field_index("url").expect("url");
    let urls = [
        (
            "https://shop.example.com/a?utm_source=braze&email=jane.doe%40example.com&dov=v2.1767225600",
            "https://shop.example.com/a?utm_source=braze&dov=v2.1767225600",
        ),
        (
            "https://shop.example.com/b?ref=jane.doe@example.com&lid=x1",
            "https://shop.example.com/b?lid=x1",
        ),
        (
            "https://shop.example.com/c?phone=%2B1%20555%20123%204567&q=shoes",
            "https://shop.example.com/c?q=shoes",
        ),
        (
            "https://shop.example.com/d?to=5551234567&utm_campaign=spring",
            "https://shop.example.com/d?utm_campaign=spring",
        ),
        (
            "https://shop.example.com/e?token=eyJhbGciOi&t=abc&uid=5f1a2b3c&dov=v1",
            "https://shop.example.com/e?dov=v1",
        ),
        (
            "https://shop.example.com/f?x=jane%2540example.com#top",
            "https://shop.example.com/f#top",
        ),
    ];
    let mut records = g.records.clone();
    for (r, (u, _)) in urls.iter().enumerate() {
        records[r][ui] = Val::Str((*u).to_owned());
    }
    let (bytes, _) = fx::write_ocf(&shape, &records, GenCodec::Deflate, 4096, g.sync, &[]);
    let input = dir.0.join("in.avro");
    let output = dir.0.join("out.avro");
    std::fs::write(&input, &bytes).expect("write");
    let o = run(&[&input, &output], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::fs::read(&output).expect("output");
    let clean = Filter::default().clean_file(&out, &DecodeOptions::default());
    let got: Vec<Option<&str>> = clean.events.iter().map(|e| e.url.as_deref()).collect();
    let want: Vec<Option<&str>> = urls.iter().map(|(_, w)| Some(*w)).collect();
    assert_eq!(got, want);
}

#[test]
fn help_goes_to_stdout_and_explains_the_key() {
    for flag in ["--help", "-h"] {
        let o = Command::new(example_bin("sanitize"))
            .arg(flag)
            .output()
            .expect("the example runs");
        assert_eq!(o.status.code(), Some(0), "{flag}: {}", stderr(&o));
        assert!(o.stderr.is_empty());
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(help.contains("usage: sanitize IN.avro OUT.avro"), "{help}");
        assert!(help.contains("PII-free"), "says what the tool does: {help}");
        assert!(help.contains("printf %s SECRET | xxd -p"), "{help}");
        assert!(help.contains("examples:"), "{help}");
    }
    // A usage error goes to stderr, with the usage line, and exits 2.
    let o = Command::new(example_bin("sanitize"))
        .arg("--key-hex")
        .output()
        .expect("the example runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("usage: sanitize"), "{}", stderr(&o));
}
