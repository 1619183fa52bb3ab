//! The sanitising rewrite: a Braze Currents Avro file in, a PII-free Avro file out.

use std::fmt;

use serde_json::Value;

use crate::wire;

use super::url::{Needles, Trial, holds_in, holds_in_field};
use super::{DropReason, FilterReport, Policy, Pseudonymizer};
use crate::currents::{
    Codec, DecodeError, DecodeOptions, EventType, FieldKind, OcfWriter, RECIPIENT_KEY_FIELD,
    Reader, SANITIZED_KEY, SANITIZED_VERSION, TextShape, WriterField,
};

/// What [`sanitize`] keeps and adds.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SanitizeOptions {
    /// Which fields may leave, and how `url` is scrubbed.
    pub policy: Policy,
    /// When set, a last field `recipient_key` (`["null","string"]`, 32 lowercase hex
    /// characters, null where the user id is `"[REDACTED]"`) is added.
    pub pseudonymizer: Option<Pseudonymizer>,
    /// Limits for reading the input.
    pub decode: DecodeOptions,
    /// The deflate level (0 to 9) for files whose codec is `deflate`; `None` uses the
    /// writer's default (6). Recompression dominates the cost of sanitizing a deflate
    /// file: level 1 is several times faster, for larger output.
    pub deflate_level: Option<u32>,
}

impl SanitizeOptions {
    /// The default policy, no pseudonymizer, default decode limits.
    pub fn new() -> SanitizeOptions {
        SanitizeOptions::default()
    }

    /// Uses `policy`.
    #[must_use]
    pub fn with_policy(mut self, policy: Policy) -> SanitizeOptions {
        self.policy = policy;
        self
    }

    /// Adds `recipient_key`, computed with `p`.
    #[must_use]
    pub fn with_pseudonymizer(mut self, p: Pseudonymizer) -> SanitizeOptions {
        self.pseudonymizer = Some(p);
        self
    }

    /// Recompresses deflate files at `level` (0 to 9).
    #[must_use]
    pub fn with_deflate_level(mut self, level: u32) -> SanitizeOptions {
        self.deflate_level = Some(level.min(9));
        self
    }

    /// Uses `decode` limits for the input.
    #[must_use]
    pub fn with_decode_options(mut self, decode: DecodeOptions) -> SanitizeOptions {
        self.decode = decode;
        self
    }
}

/// What [`sanitize`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SanitizeSummary {
    /// The event type of the file.
    pub event_type: EventType,
    /// The codec of the input, which the output uses too.
    pub codec: Codec,
    /// Records written (equal to records read).
    pub records: u64,
    /// Blocks written (equal to blocks read).
    pub blocks: u64,
    /// The dropped writer fields, in writer order.
    pub dropped: Vec<String>,
    /// The dropped fields with their reasons.
    pub report: FilterReport,
    /// Whether the output carries a `recipient_key` field.
    pub recipient_key: bool,
}

/// A sanitized file and what was done to it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SanitizeOutcome {
    /// The PII-free Avro Object Container File.
    pub bytes: Vec<u8>,
    /// What was done.
    pub summary: SanitizeSummary,
}

/// Why [`sanitize`] failed. Messages name positions and fields, never values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SanitizeError {
    /// The input is not a readable Currents file (the decoder's error, with its offset).
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// A kept value is malformed in a way the span walk does not check.
    #[error("in the block at byte {block_offset}, record {record}, field `{field}`: {reason}")]
    Corrupt {
        /// The file offset of the block.
        block_offset: u64,
        /// The record index within the block.
        record: u64,
        /// The writer field.
        field: String,
        /// What is wrong.
        reason: CorruptReason,
    },
    /// The writer schema could not be rewritten (not a JSON record).
    #[error("the writer schema cannot be rewritten: {0}")]
    Schema(&'static str),
    /// The output sink failed.
    #[error("writing the sanitized output failed: {0}")]
    Write(String),
}

/// What is wrong with a kept value (see [`SanitizeError::Corrupt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptReason {
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// A value's encoding does not fit its span.
    BadEncoding,
    /// A time is outside the range the decoder reads (its output would not decode).
    TimeOutOfRange,
    /// A kept `recipient_key` is neither null nor 32 lowercase hex characters.
    InvalidRecipientKey,
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CorruptReason::InvalidUtf8 => "string is not valid UTF-8",
            CorruptReason::BadEncoding => "value encoding does not fit the field",
            CorruptReason::TimeOutOfRange => "time outside the decodable range",
            CorruptReason::InvalidRecipientKey => {
                "recipient key is not 32 lowercase hex characters"
            }
        })
    }
}

impl SanitizeError {
    /// The file offset the error refers to, when known (the decoder's offset, or
    /// the start of the block holding a corrupt value).
    pub fn offset(&self) -> Option<u64> {
        match self {
            SanitizeError::Decode(e) => e.offset(),
            SanitizeError::Corrupt { block_offset, .. } => Some(*block_offset),
            SanitizeError::Schema(_) | SanitizeError::Write(_) => None,
        }
    }
}

/// How a string-like field is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StrShape {
    /// `"string"`.
    Plain,
    /// A union whose branch `n` is `"string"`.
    Union(i64),
}

impl StrShape {
    fn from_branch(branch: Option<i64>) -> StrShape {
        branch.map_or(StrShape::Plain, StrShape::Union)
    }
}

/// The per-record copying work of the rewrite, in output order.
#[derive(Clone, Debug)]
enum Op {
    /// Copy the byte range of writer fields `first..=last` (all kept, neighbours).
    Copy { first: usize, last: usize },
    /// Scrub writer field `i` (the url).
    Url { i: usize, shape: StrShape },
}

/// A kept value checked before it is copied (the span walk does not check UTF-8
/// or time ranges).
#[derive(Clone, Copy, Debug)]
enum Check {
    /// Writer field `i` is a string.
    Str { i: usize, shape: StrShape },
    /// Writer field `i` is an array of strings.
    StrList { i: usize, branch: Option<i64> },
    /// Writer field `i` is a time (`time`, `send_time`): within chrono's range.
    Time { i: usize },
    /// Writer field `i` is a kept `recipient_key`: null or 32 lowercase hex.
    Key { i: usize, shape: StrShape },
}

/// How a kept text field is written when it holds one of the record's personal
/// values: the same branch, empty.
#[derive(Clone, Copy, Debug)]
enum Blank {
    Str(StrShape),
    List(Option<i64>),
}

impl Blank {
    fn write(self, out: &mut Vec<u8>) {
        let branch = match self {
            Blank::Str(StrShape::Plain) | Blank::List(None) => None,
            Blank::Str(StrShape::Union(b)) | Blank::List(Some(b)) => Some(b),
        };
        if let Some(b) = branch {
            wire::write_long(b, out);
        }
        // An empty string and an empty array both encode as a single 0.
        wire::write_long(0, out);
    }
}

/// Whether an array-of-strings span holds one of `personal` (a malformed span
/// is left to [`check_str_list`]).
fn list_holds(span: &[u8], branch: Option<i64>, personal: &Needles<'_>) -> bool {
    let mut rest = span;
    if let Some(n) = branch {
        let Some((idx, used)) = read_long(rest) else {
            return false;
        };
        if idx != n {
            return false;
        }
        rest = &rest[used..];
    }
    loop {
        let Some((count, used)) = read_long(rest) else {
            return false;
        };
        rest = &rest[used..];
        if count == 0 {
            return false;
        }
        if count < 0 {
            let Some((_, used)) = read_long(rest) else {
                return false;
            };
            rest = &rest[used..];
        }
        for _ in 0..count.unsigned_abs() {
            let Some((len, used)) = read_long(rest) else {
                return false;
            };
            let Ok(len) = usize::try_from(len) else {
                return false;
            };
            let Some(body) = rest.get(used..used.saturating_add(len)) else {
                return false;
            };
            if std::str::from_utf8(body).is_ok_and(|t| holds_in(t, personal)) {
                return true;
            }
            rest = &rest[used + len..];
        }
    }
}

/// Reads one varint from the front of a span the reader already walked.
fn read_long(b: &[u8]) -> Option<(i64, usize)> {
    wire::read_long(b).ok()
}

/// Checks a string-like span (its encoding fits and the string is UTF-8, with a
/// fast path for ASCII, which nearly every Currents string is) and gives its
/// string bytes, `Ok(None)` for the null branch.
fn checked_str(span: &[u8], shape: StrShape) -> Result<Option<&[u8]>, CorruptReason> {
    let rest = match shape {
        StrShape::Plain => span,
        StrShape::Union(n) => {
            let (idx, used) = read_long(span).ok_or(CorruptReason::BadEncoding)?;
            if idx != n {
                return Ok(None);
            }
            &span[used..]
        }
    };
    let (len, used) = read_long(rest).ok_or(CorruptReason::BadEncoding)?;
    let bytes = &rest[used..];
    if usize::try_from(len).ok() != Some(bytes.len()) {
        return Err(CorruptReason::BadEncoding);
    }
    if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
        Ok(Some(bytes))
    } else {
        Err(CorruptReason::InvalidUtf8)
    }
}

/// The string bytes of a string-like span, `Ok(None)` for the null branch.
fn span_str(span: &[u8], shape: StrShape) -> Result<Option<&str>, CorruptReason> {
    let rest = match shape {
        StrShape::Plain => span,
        StrShape::Union(n) => {
            let (idx, used) = read_long(span).ok_or(CorruptReason::BadEncoding)?;
            if idx != n {
                return Ok(None);
            }
            &span[used..]
        }
    };
    let (len, used) = read_long(rest).ok_or(CorruptReason::BadEncoding)?;
    let bytes = &rest[used..];
    if usize::try_from(len).ok() != Some(bytes.len()) {
        return Err(CorruptReason::BadEncoding);
    }
    // `simdutf8`: the standard library's verdict, faster.
    simdutf8::basic::from_utf8(bytes)
        .map(Some)
        .map_err(|_| CorruptReason::InvalidUtf8)
}

fn check_str_list(span: &[u8], branch: Option<i64>) -> Result<(), CorruptReason> {
    let mut rest = span;
    if let Some(n) = branch {
        let (idx, used) = read_long(rest).ok_or(CorruptReason::BadEncoding)?;
        if idx != n {
            return Ok(());
        }
        rest = &rest[used..];
    }
    loop {
        let (count, used) = read_long(rest).ok_or(CorruptReason::BadEncoding)?;
        rest = &rest[used..];
        if count == 0 {
            return Ok(());
        }
        if count < 0 {
            // A negative count is followed by the block's byte size.
            let (_, used) = read_long(rest).ok_or(CorruptReason::BadEncoding)?;
            rest = &rest[used..];
        }
        for _ in 0..count.unsigned_abs() {
            let (len, used) = read_long(rest).ok_or(CorruptReason::BadEncoding)?;
            let len = usize::try_from(len).map_err(|_| CorruptReason::BadEncoding)?;
            let body = rest
                .get(used..used.saturating_add(len))
                .ok_or(CorruptReason::BadEncoding)?;
            if !body.is_ascii() {
                std::str::from_utf8(body).map_err(|_| CorruptReason::InvalidUtf8)?;
            }
            rest = &rest[used + len..];
        }
    }
}

/// The compiled rewrite of one file.
struct Plan {
    ops: Vec<Op>,
    checks: Vec<Check>,
    /// How each kept text field is blanked (by writer index).
    blanks: Vec<Option<Blank>>,
    /// Dropped personal or tagged text fields: the record's personal values.
    personal: Vec<(usize, Option<StrShape>, Option<Option<i64>>)>,
    /// Writer index and shape of `user_id`, for the pseudonymizer.
    user_id: Option<(usize, StrShape)>,
    add_key: bool,
    schema_json: String,
    dropped: Vec<String>,
    report: FilterReport,
    recipient_key_out: bool,
}

fn plan(reader: &Reader<'_>, options: &SanitizeOptions) -> Result<Plan, SanitizeError> {
    let et = reader.event_type();
    let sanitized_input = reader.is_sanitized();
    let fields: &[WriterField] = reader.writer_fields();
    let mut keep = vec![false; fields.len()];
    let mut ops: Vec<Op> = Vec::new();
    let mut checks: Vec<Check> = Vec::new();
    let mut dropped = Vec::new();
    let mut report = FilterReport::new();
    let mut user_id = None;
    let mut had_key = false;
    let mut blanks = vec![None; fields.len()];
    let mut personal = Vec::new();
    // A `dynopt.sanitized` marker is honoured only on a file without personal
    // fields: a forged marker on a Braze file must not carry a chosen
    // `recipient_key` through (it is dropped, and recomputed with a pseudonymizer).
    let honour_key = sanitized_input
        && !fields
            .iter()
            .any(|f| f.pii_tag || super::ALWAYS_PERSONAL.contains(&f.name.as_str()));
    for (i, f) in fields.iter().enumerate() {
        let (str_shape, list_shape) = match reader.text_shape(i) {
            TextShape::Str(branch) => (Some(StrShape::from_branch(branch)), None),
            TextShape::StrList(branch) => (None, Some(branch)),
            TextShape::Other => (None, None),
        };
        if f.name == "user_id" {
            user_id = str_shape.map(|s| (i, s));
        }
        let verdict = if f.name == RECIPIENT_KEY_FIELD && honour_key {
            had_key = true;
            Ok(())
        } else if f.name == RECIPIENT_KEY_FIELD && sanitized_input {
            Err(DropReason::Personal)
        } else {
            options.policy.verdict(et, &f.name, f.pii_tag)
        };
        let personal_field = f.pii_tag
            || (super::ALWAYS_PERSONAL.contains(&f.name.as_str())
                && !matches!(f.name.as_str(), "gender" | "country" | "language"));
        if verdict.is_err() && personal_field && (str_shape.is_some() || list_shape.is_some()) {
            personal.push((i, str_shape, list_shape));
        }
        let is_time = et.fields().iter().any(|d| {
            d.name == f.name && matches!(d.kind, FieldKind::Time | FieldKind::RequiredTime)
        });
        let op = match verdict {
            Ok(()) if f.name == "url" => match str_shape {
                Some(shape) => Some(Op::Url { i, shape }),
                None => {
                    // A url we cannot read as a string cannot be scrubbed: drop it.
                    report.record(et, &f.name, DropReason::NotAllowed);
                    None
                }
            },
            Ok(()) => {
                if f.name == RECIPIENT_KEY_FIELD {
                    match str_shape {
                        Some(shape) => checks.push(Check::Key { i, shape }),
                        None => return Err(SanitizeError::Schema("recipient_key is not a string")),
                    }
                } else if let Some(shape) = str_shape {
                    checks.push(Check::Str { i, shape });
                    blanks[i] = Some(Blank::Str(shape));
                } else if let Some(branch) = list_shape {
                    checks.push(Check::StrList { i, branch });
                    blanks[i] = Some(Blank::List(branch));
                } else if is_time {
                    checks.push(Check::Time { i });
                }
                Some(Op::Copy { first: i, last: i })
            }
            Err(reason) => {
                report.record(et, &f.name, reason);
                None
            }
        };
        match op {
            Some(op) => {
                keep[i] = true;
                // Merge copies of neighbouring kept fields into one range.
                if let (Op::Copy { first: _, last }, Some(Op::Copy { last: prev, .. })) =
                    (&op, ops.last_mut())
                    && *prev + 1 == *last
                {
                    *prev = *last;
                } else {
                    ops.push(op);
                }
            }
            None => dropped.push(f.name.clone()),
        }
    }
    let add_key = options.pseudonymizer.is_some() && !had_key;
    // A schema whose name does not say the event type (a bare `Conversion`
    // decoded with the host's fallback type) is written under the type's full
    // name, so that the output decodes on its own.
    let rename = (!reader.type_from_schema()).then_some(et);
    let schema_json = rewrite_schema(reader.schema_json(), fields, &keep, add_key, rename)?;
    Ok(Plan {
        ops,
        checks,
        blanks,
        personal,
        user_id,
        add_key,
        schema_json,
        dropped,
        report,
        recipient_key_out: add_key || had_key,
    })
}

fn rewrite_schema(
    schema_json: &str,
    fields: &[WriterField],
    keep: &[bool],
    add_key: bool,
    rename: Option<EventType>,
) -> Result<String, SanitizeError> {
    let mut schema: Value =
        serde_json::from_str(schema_json).map_err(|_| SanitizeError::Schema("not valid JSON"))?;
    if let (Some(et), Some(top)) = (rename, schema.as_object_mut()) {
        top.insert("name".to_owned(), Value::from(et.name()));
        top.remove("namespace");
    }
    let kept: std::collections::HashSet<&str> = fields
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(f, _)| f.name.as_str())
        .collect();
    let list = schema
        .get_mut("fields")
        .and_then(Value::as_array_mut)
        .ok_or(SanitizeError::Schema("the top level is not a record"))?;
    list.retain(|f| {
        f.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| kept.contains(n))
    });
    if add_key {
        list.push(serde_json::json!({
            "name": RECIPIENT_KEY_FIELD,
            "type": ["null", "string"],
            "default": null,
            "doc": crate::currents::RECIPIENT_KEY_DOC,
        }));
    }
    serde_json::to_string(&schema).map_err(|_| SanitizeError::Schema("cannot serialise"))
}

/// Sanitizes one Currents Avro Object Container File (see `docs/design.md`, *Sanitized files*).
///
/// The output schema is the input schema minus the dropped fields (documentation
/// kept), plus, with a pseudonymizer, a last field `recipient_key` of type
/// `["null","string"]` (default null; 32 lowercase hex characters, null where the user
/// id is `"[REDACTED]"`). `url` is scrubbed with the policy's [`UrlScrubber`](super::UrlScrubber);
/// every other kept value is copied byte for byte; every block keeps its record count;
/// the output uses the input's codec and sync marker and carries the metadata entry
/// `dynopt.sanitized`; the input's other metadata entries are not copied (they could
/// hold anything). A file that is already sanitized keeps its `recipient_key`, so
/// sanitizing twice gives the same bytes.
///
/// On corrupt input it returns the error (naming the offset) and no output at all.
///
/// ```
/// # use dynopt::pii::{sanitize, SanitizeOptions, SanitizeError};
/// // Not an Avro file: a typed error, never a panic.
/// let err = sanitize(b"not avro", &SanitizeOptions::default()).unwrap_err();
/// assert!(matches!(err, SanitizeError::Decode(_)));
/// ```
pub fn sanitize(input: &[u8], options: &SanitizeOptions) -> Result<SanitizeOutcome, SanitizeError> {
    let mut bytes = Vec::with_capacity(input.len());
    let summary = sanitize_with(input, options, |chunk| {
        bytes.extend_from_slice(chunk);
        Ok(())
    })?;
    Ok(SanitizeOutcome { bytes, summary })
}

/// [`sanitize`] into a [`std::io::Write`] sink, block by block: memory holds one
/// input block and one output block at a time.
///
/// On error the sink may hold a partial file: write to a temporary name and rename
/// it only on success (as the `sanitize` example does).
pub fn sanitize_to<W: std::io::Write + ?Sized>(
    input: &[u8],
    options: &SanitizeOptions,
    sink: &mut W,
) -> Result<SanitizeSummary, SanitizeError> {
    sanitize_with(input, options, |chunk| {
        sink.write_all(chunk)
            .map_err(|e| SanitizeError::Write(e.to_string()))
    })
}

fn sanitize_with(
    input: &[u8],
    options: &SanitizeOptions,
    mut emit: impl FnMut(&[u8]) -> Result<(), SanitizeError>,
) -> Result<SanitizeSummary, SanitizeError> {
    let mut reader = Reader::new(input, &options.decode)?;
    let plan = plan(&reader, options)?;
    let mut writer = OcfWriter::new(
        &plan.schema_json,
        reader.codec(),
        &[(SANITIZED_KEY, SANITIZED_VERSION)],
        reader.sync_marker(),
    );
    if let Some(level) = options.deflate_level {
        writer = writer.with_compression_level(level);
    }
    let scrubber = options.policy.url_scrubber();
    let mut chunk = Vec::new();
    writer.header(&mut chunk);
    // The rewritten schema must still be one this crate reads (a kept field could
    // name a type that only a dropped field defined).
    Reader::new(&chunk, &options.decode)
        .map_err(|_| SanitizeError::Schema("the schema without the dropped fields is not valid"))?;
    emit(&chunk)?;
    let mut records_out = Vec::new();
    // Kept fields of the current record that hold a personal value (reused).
    let mut blanked = vec![false; reader.writer_fields().len()];
    let mut blanked_list: Vec<usize> = Vec::new();
    // The scrubbed URL of the current record, reused across records.
    let mut url_buf = String::new();
    // Kept texts of this file without a decoding layer (repeated names, agents).
    let memo = std::cell::RefCell::new(super::url::LayerMemo::new(reader.sync_marker()));
    // Per writer field, whether its values repeat (worth the memo).
    let mut trials = vec![Trial::default(); reader.writer_fields().len()];
    let (mut records, mut blocks) = (0u64, 0u64);
    // The current record's field boundaries (reused).
    let mut bounds = Vec::new();
    while let Some(block) = reader.next_block() {
        let block = block?;
        records_out.clear();
        let data = block.data();
        let mut n = 0u64;
        let mut walk = block.record_bounds();
        while let Some(r) = walk.next_into(&mut bounds) {
            r?;
            // The range of writer field `i` (zero-size fields cost nothing).
            let f = |i: usize| block.span_of(&bounds, i);
            let corrupt = |i: usize, reason| SanitizeError::Corrupt {
                block_offset: block.offset(),
                record: n,
                field: reader
                    .writer_fields()
                    .get(i)
                    .map_or_else(String::new, |w| w.name.clone()),
                reason,
            };
            // The record's personal values, on the stack.
            let mut personal = super::filter::Personal::new();
            for (i, shape, _) in &plan.personal {
                if let Some(shape) = shape
                    && let Ok(Some(v)) = span_str(&data[f(*i)], *shape)
                {
                    let name = reader
                        .writer_fields()
                        .get(*i)
                        .map_or("", |w| w.name.as_str());
                    personal.push(name, v);
                }
            }
            let personal = Needles::with_memo(personal.as_slice(), &memo);
            let personal = &personal;
            for &i in &blanked_list {
                blanked[i] = false;
            }
            blanked_list.clear();
            for check in &plan.checks {
                match *check {
                    Check::Str { i, shape } => {
                        let span = &data[f(i)];
                        // Checked (encoding, UTF-8) and read in one step.
                        let value = checked_str(span, shape).map_err(|r| corrupt(i, r))?;
                        if !personal.is_empty()
                            && value.is_some_and(|v| holds_in_field(v, personal, &mut trials[i]))
                        {
                            blanked[i] = true;
                            blanked_list.push(i);
                        }
                    }
                    Check::StrList { i, branch } => {
                        let span = &data[f(i)];
                        check_str_list(span, branch).map_err(|r| corrupt(i, r))?;
                        if !personal.is_empty() && list_holds(span, branch, personal) {
                            blanked[i] = true;
                            blanked_list.push(i);
                        }
                    }
                    Check::Time { i } => {
                        if !reader.time_in_range(i, &data[f(i)]) {
                            return Err(corrupt(i, CorruptReason::TimeOutOfRange));
                        }
                    }
                    Check::Key { i, shape } => {
                        let ok = match span_str(&data[f(i)], shape) {
                            Ok(None) => true,
                            Ok(Some(k)) => {
                                k.len() == 32
                                    && k.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                            }
                            Err(_) => false,
                        };
                        if !ok {
                            return Err(corrupt(i, CorruptReason::InvalidRecipientKey));
                        }
                    }
                }
            }
            for op in &plan.ops {
                match *op {
                    Op::Copy { first, last } if blanked_list.is_empty() => {
                        records_out.extend_from_slice(&data[f(first).start..f(last).end]);
                    }
                    Op::Copy { first, last } => {
                        for j in first..=last {
                            match plan.blanks[j] {
                                Some(blank) if blanked[j] => blank.write(&mut records_out),
                                _ => records_out.extend_from_slice(&data[f(j)]),
                            }
                        }
                    }
                    Op::Url { i, shape } => {
                        let bytes = &data[f(i)];
                        match span_str(bytes, shape).map_err(|r| corrupt(i, r))? {
                            None => records_out.extend_from_slice(bytes),
                            Some(url) => {
                                // One pass into a reused buffer; unchanged URLs
                                // are copied as they were encoded.
                                scrubber.scrub_into(url, personal, &mut url_buf);
                                if url_buf == url {
                                    records_out.extend_from_slice(bytes);
                                } else {
                                    if let StrShape::Union(b) = shape {
                                        wire::write_long(b, &mut records_out);
                                    }
                                    wire::write_bytes(url_buf.as_bytes(), &mut records_out);
                                }
                            }
                        }
                    }
                }
            }
            if plan.add_key {
                let key = match plan.user_id {
                    Some((i, shape)) => span_str(&data[f(i)], shape)
                        .map_err(|r| corrupt(i, r))?
                        .and_then(|uid| options.pseudonymizer.as_ref()?.key_for(uid)),
                    None => None,
                };
                match key {
                    None => wire::write_long(0, &mut records_out),
                    Some(k) => {
                        wire::write_long(1, &mut records_out);
                        wire::write_long(32, &mut records_out);
                        records_out.extend_from_slice(&k.to_hex());
                    }
                }
            }
            n += 1;
        }
        if n != block.count() {
            return Err(SanitizeError::Corrupt {
                block_offset: block.offset(),
                record: n,
                field: String::new(),
                reason: CorruptReason::BadEncoding,
            });
        }
        chunk.clear();
        writer.write_block(n, &records_out, &mut chunk);
        emit(&chunk)?;
        records += n;
        blocks += 1;
        reader.recycle(block);
    }
    Ok(SanitizeSummary {
        event_type: reader.event_type(),
        codec: reader.codec(),
        records,
        blocks,
        dropped: plan.dropped,
        report: plan.report,
        recipient_key: plan.recipient_key_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_round_trip() {
        for v in [0i64, 1, -1, 63, 64, -65, 1 << 40, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            wire::write_long(v, &mut b);
            assert_eq!(read_long(&b), Some((v, b.len())));
        }
        assert_eq!(read_long(&[0x80; 11]), None);
        assert_eq!(read_long(&[]), None);
    }

    #[test]
    fn span_strings() {
        let mut b = Vec::new();
        wire::write_long(1, &mut b);
        wire::write_bytes("héllo".as_bytes(), &mut b);
        assert_eq!(span_str(&b, StrShape::Union(1)), Ok(Some("héllo")));
        assert_eq!(span_str(&[0], StrShape::Union(1)), Ok(None));
        assert_eq!(
            span_str(&[2, 0xff], StrShape::Plain),
            Err(CorruptReason::InvalidUtf8)
        );
        assert_eq!(
            span_str(&[4, b'a'], StrShape::Plain),
            Err(CorruptReason::BadEncoding)
        );
    }
}
