//! `inspect FILE...`: decodes Braze Currents email files and prints one JSON object
//! per event on stdout (see docs/design.md, *Example programs*).
//!
//! Each object starts with `"event_type"` (for example `"users.messages.email.Click"`),
//! then every field of that event type's typed event (newest schema plus the announced
//! v12 fields, in schema order) that the default PII policy ([`Policy::default`]) lets
//! through, named as in Braze's schema, `null` where the file lacks it; `time` and
//! `send_time` are UNIX seconds; `url` is scrubbed by the policy's URL scrubber; a
//! field the file's schema documents as `[PII]` prints `null`. No
//! personal field or value is ever printed: which fields print is decided by
//! [`output_of`] alone, and a value still wrapped in `Pii` prints only through the
//! URL scrubber.
//!
//! On a bad file the events decoded before the error are printed, the error goes to
//! stderr with the file name, byte offset and field, and the next file is read; the
//! exit status is 1 when any file failed.
//!
//! For a file written by `sanitize` (metadata `dynopt.sanitized`), each object ends
//! with `"recipient_key"`: the pseudonymous key of the record (32 hex characters,
//! `null` where the record has none), to check against the key Liquid computes.
//!
//! ```sh
//! cargo run --release --example inspect -- users.messages.email.Click/*.avro
//! ```

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use dynopt::RecipientKey;
use dynopt::currents::{
    DecodeError, DecodeOptions, Event, FieldDef, FieldKind, FieldValue, ObjectKey, Reader,
};
use dynopt::pii::{Policy, holds_personal_value};

/// How a typed field appears in the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    /// Printed as its JSON value (`null` when absent).
    Value,
    /// The clicked URL, printed scrubbed (`null` when absent).
    ScrubbedUrl,
    /// Not printed at all.
    Omit,
}

/// The one place that decides which typed fields print: those the policy allows
/// whose values are not personal. The clicked `url` prints only scrubbed.
fn output_of(policy: &Policy, def: &FieldDef) -> Output {
    if !policy.allows(def.name) {
        return Output::Omit;
    }
    match def.kind {
        FieldKind::Url => Output::ScrubbedUrl,
        FieldKind::RequiredPiiString | FieldKind::PiiString | FieldKind::Attributes => Output::Omit,
        _ => Output::Value,
    }
}

fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

/// Appends the JSON of a non-personal value. `Pii` values never reach the output:
/// they print as `null` should a future field kind slip past [`output_of`].
fn push_value(out: &mut String, value: &FieldValue<'_>) {
    match value {
        FieldValue::Str(s) => push_json_str(out, s),
        FieldValue::Time(t) => out.push_str(&t.timestamp().to_string()),
        FieldValue::Int(n) => out.push_str(&n.to_string()),
        FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        FieldValue::StrList(items) => {
            out.push('[');
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_str(out, s);
            }
            out.push(']');
        }
        _ => out.push_str("null"),
    }
}

/// One event as a JSON object, `event_type` first, then the printed fields in order.
/// `tagged` lists the file's writer fields documented `[PII]`: their values print
/// as `null` whatever the policy says.
/// `key` is `Some` for a sanitized file: its `recipient_key` (pseudonymous) prints
/// last, `null` where the record has none.
fn event_json(
    policy: &Policy,
    tagged: &[&str],
    event: &Event<'_>,
    key: Option<Option<RecipientKey>>,
) -> String {
    // The record's personal values: no printed value may hold one.
    let mut personal: Vec<&str> = Vec::new();
    for (def, value) in event.values() {
        match value {
            FieldValue::Pii(p)
                if matches!(
                    def.kind,
                    FieldKind::RequiredPiiString | FieldKind::PiiString
                ) && !matches!(def.name, "user_agent" | "gender" | "country" | "language") =>
            {
                personal.push(p.expose());
                if let Some((local, _)) = p.expose().split_once('@') {
                    personal.push(local);
                }
            }
            FieldValue::Str(s) if tagged.contains(&def.name) => personal.push(s),
            _ => {}
        }
    }
    let mut out = String::with_capacity(512);
    out.push_str("{\"event_type\":");
    push_json_str(&mut out, event.event_type().name());
    for (def, value) in event.values() {
        let how = output_of(policy, def);
        if how == Output::Omit {
            continue;
        }
        out.push(',');
        push_json_str(&mut out, def.name);
        out.push(':');
        if tagged.contains(&def.name) {
            out.push_str("null");
            continue;
        }
        let holds = |s: &str| holds_personal_value(s, &personal);
        match (how, &value) {
            (Output::ScrubbedUrl, FieldValue::Pii(url)) => {
                push_json_str(
                    &mut out,
                    &policy.url_scrubber().scrub_with(url.expose(), &personal),
                );
            }
            (_, FieldValue::Str(s)) if holds(s) => out.push_str("null"),
            (_, FieldValue::StrList(items)) if items.iter().any(|s| holds(s)) => {
                out.push_str("null");
            }
            (Output::ScrubbedUrl, _) => out.push_str("null"),
            _ => push_value(&mut out, &value),
        }
    }
    if let Some(key) = key {
        out.push_str(",\"recipient_key\":");
        match key {
            Some(k) => push_json_str(&mut out, &k.to_string()),
            None => out.push_str("null"),
        }
    }
    out.push('}');
    out
}

/// Why reading a file stopped early.
enum Failure {
    /// The file could not be read.
    Io(io::Error),
    /// The bytes are not a valid Currents file past some point.
    Decode(DecodeError),
}

/// Prints the events of one file; stops at the first error (after printing the
/// events decoded before it). `Err(None)` means stdout is gone.
fn inspect(
    name: &str,
    bytes: &[u8],
    out: &mut impl Write,
    printed: &mut u64,
) -> Result<(), Option<Failure>> {
    let mut options = DecodeOptions::default();
    // A schema that does not name its event type (a bare `Conversion` record)
    // takes the type from the path's `event_type=` segment, as Braze lays out keys.
    options.fallback_event_type = ObjectKey::parse(name).ok().and_then(|k| k.event_type);
    let policy = Policy::default();
    let mut reader = Reader::new(bytes, &options).map_err(|e| Some(Failure::Decode(e)))?;
    let tagged_names: Vec<String> = reader
        .writer_fields()
        .iter()
        .filter(|f| f.pii_tag)
        .map(|f| f.name.clone())
        .collect();
    let tagged: Vec<&str> = tagged_names.iter().map(String::as_str).collect();
    let sanitized = reader.is_sanitized();
    while let Some(block) = reader.next_block() {
        let block = block.map_err(|e| Some(Failure::Decode(e)))?;
        for keyed in block.keyed_events() {
            let (event, key) = keyed.map_err(|e| Some(Failure::Decode(e)))?;
            let key = sanitized.then_some(key);
            let line = event_json(&policy, &tagged, &event, key);
            writeln!(out, "{line}").map_err(|_| None)?;
            *printed += 1;
        }
    }
    Ok(())
}

const USAGE: &str = "usage: inspect FILE...";

const HELP: &str = "\
inspect: print the events of Braze Currents email files as JSON, one per line

usage: inspect FILE...

Decodes Currents Avro files (any email or conversion event type, any schema
version since 2018, codec null or deflate), as Braze writes them or as `sanitize` writes them,
and prints one JSON object per event: \"event_type\" first, then the fields the
default PII allowlist lets through, in schema order, null where the file lacks
them; times as UNIX seconds; the url with personal query parameters removed. No
personal field is ever printed. For a file written by `sanitize` the last field is
\"recipient_key\" (pseudonymous: 32 hex characters, the first half of Liquid's
`hmac_sha256_hex` of the Braze id), so that it can be checked against the key the
Connected Content call sends.

A file whose schema does not say which conversion type it holds (a bare
`Conversion` record) takes the type from the `event_type=` part of its path,
as in Braze's object keys.

A corrupt file keeps the events decoded before the error; the error goes to
stderr with the file, byte offset and field, and the next file is read.

options:
  -h, --help   print this help

examples:
  inspect users.messages.email.Click/*.avro
  inspect clean.avro | grep -o '\"recipient_key\":\"[0-9a-f]*\"' | sort | uniq -c
  inspect target/campaign/currents/sanitized/*/*/*/*/*.avro | head -3

exit status: 0 when every file decoded, 1 when a file could not be read or is
corrupt, 2 on bad arguments.
";

/// The files to read, or `None` for `--help`.
fn parse_args() -> Result<Option<Vec<OsString>>, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut files = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Value(v) => files.push(v),
            other => return Err(other.unexpected().to_string()),
        }
    }
    if files.is_empty() {
        return Err("no file given".to_owned());
    }
    Ok(Some(files))
}

fn main() -> ExitCode {
    let files = match parse_args() {
        Ok(Some(files)) => files,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("inspect: {msg}\n{USAGE}\n(inspect --help for more)");
            return ExitCode::from(2);
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for file in &files {
        let name = file.to_string_lossy();
        let mut printed = 0;
        let result = match std::fs::read(file) {
            Ok(bytes) => inspect(&name, &bytes, &mut out, &mut printed),
            Err(e) => Err(Some(Failure::Io(e))),
        };
        match result {
            Ok(()) => {}
            Err(None) => {
                // stdout closed (for example `inspect FILE | head`): nothing more to do.
                return if failed {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                };
            }
            Err(Some(failure)) => {
                failed = true;
                // Flush the events printed so far before the message, so that they
                // come first when stdout and stderr go to the same place.
                let _ = out.flush();
                match failure {
                    Failure::Io(e) => eprintln!("inspect: {name}: cannot read the file: {e}"),
                    Failure::Decode(e) => eprintln!(
                        "inspect: {name}: {e} ({printed} events printed before the error)"
                    ),
                }
            }
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
