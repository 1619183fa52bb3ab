//! `sanitize IN.avro OUT.avro [--key-hex HEX]`: writes the PII-free Avro file of a
//! Braze Currents file (see docs/design.md, *Sanitized files* and *Example programs*).
//!
//! With `--key-hex`, the key's bytes given in hex, a last field `recipient_key`
//! (the first 16 bytes of HMAC-SHA256(key, user_id) as 32 hex characters) is added.
//! Prints `sanitized N records; dropped: field, field, ...` on stderr. On bad input
//! it prints the error with its file offset, exits 1 and leaves no output file (the
//! output streams block by block into a temporary file next to `OUT`, renamed over
//! `OUT` only on success).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dynopt::pii::{Pseudonymizer, SanitizeError, SanitizeOptions, SanitizeSummary, sanitize_to};

const USAGE: &str = "usage: sanitize IN.avro OUT.avro [--key-hex HEX]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(line) => {
            eprintln!("{line}");
            ExitCode::SUCCESS
        }
        Err((code, msg)) => {
            eprintln!("sanitize: {msg}");
            ExitCode::from(code)
        }
    }
}

fn run(args: Vec<String>) -> Result<String, (u8, String)> {
    let mut paths = Vec::new();
    let mut key_hex = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--key-hex" => {
                let v = it
                    .next()
                    .ok_or((2, format!("--key-hex needs a value\n{USAGE}")))?;
                key_hex = Some(v);
            }
            "-h" | "--help" => return Err((2, USAGE.to_owned())),
            s if s.starts_with("--key-hex=") => key_hex = Some(s["--key-hex=".len()..].to_owned()),
            s if s.starts_with("--") => return Err((2, format!("unknown option {s}\n{USAGE}"))),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let [input, output] = <[PathBuf; 2]>::try_from(paths).map_err(|_| (2, USAGE.to_owned()))?;
    let mut options = SanitizeOptions::default();
    if let Some(hex) = key_hex {
        let p = Pseudonymizer::keyed_hex(&hex).map_err(|e| (2, format!("--key-hex: {e}")))?;
        options = options.with_pseudonymizer(p);
    }
    let bytes = std::fs::read(&input).map_err(|e| (1, format!("{}: {e}", input.display())))?;
    let summary = sanitize_atomically(&bytes, &options, &output).map_err(|e| match e {
        Failure::Input(e) => (1, format!("{}: {e}", input.display())),
        Failure::Output(e) => (1, format!("{}: {e}", output.display())),
    })?;
    let dropped = if summary.dropped.is_empty() {
        "(none)".to_owned()
    } else {
        summary.dropped.join(", ")
    };
    Ok(format!(
        "sanitized {} records; dropped: {dropped}",
        summary.records
    ))
}

enum Failure {
    Input(SanitizeError),
    Output(std::io::Error),
}

/// Sanitizes into a temporary file next to `path`, then renames it over `path`, so
/// a failure never leaves a partial `path` (the temporary file is removed).
fn sanitize_atomically(
    bytes: &[u8],
    options: &SanitizeOptions,
    path: &Path,
) -> Result<SanitizeSummary, Failure> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(Failure::Output)?;
        let mut sink = BufWriter::new(file);
        let summary = sanitize_to(bytes, options, &mut sink).map_err(|e| match e {
            SanitizeError::Write(_) => Failure::Output(std::io::Error::other(e.to_string())),
            other => Failure::Input(other),
        })?;
        sink.flush().map_err(Failure::Output)?;
        drop(sink);
        std::fs::rename(&tmp, path).map_err(Failure::Output)?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
