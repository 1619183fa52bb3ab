//! `sanitize IN.avro OUT.avro [--key-hex HEX]` (`--help` for the details): writes the PII-free Avro file of a
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

use dynopt::currents::{DecodeOptions, ObjectKey};
use dynopt::pii::{Pseudonymizer, SanitizeError, SanitizeOptions, SanitizeSummary, sanitize_to};

const USAGE: &str = "usage: sanitize IN.avro OUT.avro [--key-hex HEX]";

const HELP: &str = "\
sanitize: write the PII-free copy of a Braze Currents email file

usage: sanitize IN.avro OUT.avro [--key-hex HEX]

Reads one Currents Avro file (any email event type, codec null or deflate) and
writes OUT.avro with the same schema minus every personal field (user ids, email
address, user agent, logs, custom attributes, fields documented [PII]), the url
scrubbed of emails, phone numbers and identifiers, every other value byte for
byte. Prints `sanitized N records; dropped: FIELD, ...` on stderr. On a corrupt
input it prints the error with its byte offset, exits 1 and leaves no OUT.avro.

options:
  --key-hex HEX   the shared secret's bytes in hex (the secret of the Liquid
                  filter `hmac_sha256_hex: 'SECRET'`); convert the secret with
                  `printf %s SECRET | xxd -p`. Adds a last field recipient_key:
                  the first 16 bytes of HMAC-SHA256(secret, user_id) in hex,
                  the recipient key the Connected Content call sends.
  -h, --help      print this help

examples:
  sanitize users.messages.email.Click.avro clean.avro
  sanitize in.avro out.avro --key-hex \"$(printf %s 'YOUR-SHARED-SECRET' | xxd -p | tr -d '\\n')\"
  sanitize in.avro out.avro --key-hex 7365637265745f6b6579    # the secret \"secret_key\"

exit status: 0 on success, 1 when a file cannot be read or written or the
input is corrupt, 2 on bad arguments.
";

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Cli::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Cli::Run(args)) => args,
        Err(msg) => {
            eprintln!("sanitize: {msg}\n{USAGE}\n(sanitize --help for more)");
            return ExitCode::from(2);
        }
    };
    match run(args) {
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

enum Cli {
    Help,
    Run(Args),
}

struct Args {
    input: PathBuf,
    output: PathBuf,
    key_hex: Option<String>,
}

fn parse_args() -> Result<Cli, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut paths = Vec::new();
    let mut key_hex = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(Cli::Help),
            Long("key-hex") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                key_hex = Some(v.string().map_err(|e| e.to_string())?);
            }
            Value(v) => paths.push(PathBuf::from(v)),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let [input, output] = <[PathBuf; 2]>::try_from(paths)
        .map_err(|p| format!("expected 2 files (IN.avro OUT.avro), got {}", p.len()))?;
    Ok(Cli::Run(Args {
        input,
        output,
        key_hex,
    }))
}

fn run(args: Args) -> Result<String, (u8, String)> {
    let Args {
        input,
        output,
        key_hex,
    } = args;
    let mut options = SanitizeOptions::default();
    // A schema that does not name its event type (a bare `Conversion` record)
    // takes the type from the path's `event_type=` segment (Braze's key layout).
    let mut decode = DecodeOptions::default();
    decode.fallback_event_type = ObjectKey::parse(&input.to_string_lossy())
        .ok()
        .and_then(|k| k.event_type);
    options = options.with_decode_options(decode);
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
