//! `sanitize IN.avro OUT.avro [--key-hex HEX]`: writes the PII-free Avro file of a
//! Braze Currents file (SPEC §3 and §6).
//!
//! With `--key-hex`, the key's bytes given in hex, a last field `recipient_key`
//! (the first 16 bytes of HMAC-SHA256(key, user_id) as 32 hex characters) is added.
//! Prints `sanitized N records; dropped: field, field, ...` on stderr. On bad input
//! it prints the error with its file offset, exits 1 and leaves no output file (the
//! output is written to a temporary name next to `OUT` and renamed on success).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dynopt::pii::{Pseudonymizer, SanitizeOptions, sanitize};

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
    let outcome =
        sanitize(&bytes, &options).map_err(|e| (1, format!("{}: {e}", input.display())))?;
    write_atomically(&output, &outcome.bytes)
        .map_err(|e| (1, format!("{}: {e}", output.display())))?;
    let dropped = if outcome.summary.dropped.is_empty() {
        "(none)".to_owned()
    } else {
        outcome.summary.dropped.join(", ")
    };
    Ok(format!(
        "sanitized {} records; dropped: {dropped}",
        outcome.summary.records
    ))
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over `path`,
/// so a failure never leaves a partial `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
