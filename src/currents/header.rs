//! The container file's header: magic, metadata, writer schema, codec and sync
//! marker, parsed and validated before any block is read.

use super::cursor::Cur;
use super::error::{DecodeError, DecodeErrorKind};
use super::events::EventType;
use super::options::DecodeOptions;
use super::plan::Plan;
use super::sanitized::SANITIZED_KEY;
use super::schema::{WriterField, parse_top};
use super::writer::{Codec, MAGIC};

/// A cursor over the file bytes, producing errors with file offsets.
pub(super) struct FileCur<'f> {
    pub(super) bytes: &'f [u8],
    pub(super) pos: usize,
}

impl<'f> FileCur<'f> {
    pub(super) fn err(&self, kind: DecodeErrorKind, at: usize) -> DecodeError {
        DecodeError::new(kind).at(at as u64)
    }

    pub(super) fn long(&mut self) -> Result<i64, DecodeError> {
        let mut c = Cur::at(self.bytes, self.pos);
        let v = c
            .long()
            .map_err(|code| code.into_error().at(self.pos as u64))?;
        self.pos = c.pos;
        Ok(v)
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'f [u8], DecodeError> {
        if n > self.bytes.len() - self.pos {
            return Err(self
                .err(DecodeErrorKind::Truncated, self.pos)
                .with_detail(format!(
                    "{n} bytes needed, {} remaining",
                    self.bytes.len() - self.pos
                )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A length-prefixed byte string, bounded by the bytes remaining and `limit`.
    pub(super) fn bytes(&mut self, limit: usize) -> Result<&'f [u8], DecodeError> {
        let start = self.pos;
        let len = self.long()?;
        let remaining = self.bytes.len() - self.pos;
        let n = usize::try_from(len).map_err(|_| {
            self.err(DecodeErrorKind::LengthOutOfRange, start)
                .with_detail("negative length")
        })?;
        if n > remaining {
            return Err(self
                .err(DecodeErrorKind::LengthOutOfRange, start)
                .with_detail(format!("length exceeds the {remaining} bytes remaining")));
        }
        if n > limit {
            return Err(self
                .err(DecodeErrorKind::BadHeader, start)
                .with_detail(format!("length exceeds the header limit of {limit}")));
        }
        self.take(n)
    }
}

/// Parsed header facts shared by the reader and its blocks.
pub(super) struct Header {
    pub(super) metadata: Vec<(String, Vec<u8>)>,
    pub(super) schema_json: String,
    pub(super) codec: Codec,
    pub(super) sync: [u8; 16],
    pub(super) sanitized: bool,
    pub(super) writer_fields: Vec<WriterField>,
    pub(super) unknown_fields: Vec<String>,
    pub(super) record_name: String,
    pub(super) namespace: Option<String>,
    /// Whether the schema's name gave the event type (not the fallback).
    pub(super) named: bool,
    pub(super) data_start: usize,
}

pub(super) fn parse_header(
    bytes: &[u8],
    options: &DecodeOptions,
) -> Result<(Header, Plan), DecodeError> {
    let mut c = FileCur { bytes, pos: 0 };
    if bytes.len() < 4 {
        if MAGIC.starts_with(bytes) {
            return Err(DecodeError::new(DecodeErrorKind::Truncated).at(0));
        }
        return Err(DecodeError::new(DecodeErrorKind::BadMagic).at(0));
    }
    if bytes[..4] != MAGIC {
        return Err(DecodeError::new(DecodeErrorKind::BadMagic).at(0));
    }
    c.pos = 4;
    let limit = options.max_header_bytes;
    let mut metadata: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let start = c.pos;
        if start > limit {
            return Err(c
                .err(DecodeErrorKind::BadHeader, start)
                .with_detail(format!("header exceeds the limit of {limit} bytes")));
        }
        let count = c.long()?;
        if count == 0 {
            break;
        }
        let n = if count < 0 {
            // Negative count: followed by the block's byte size.
            let _size = c.long()?;
            count.checked_neg().unwrap_or(i64::MAX)
        } else {
            count
        };
        // Each entry takes at least two bytes.
        let remaining = bytes.len() - c.pos;
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= remaining / 2)
            .ok_or_else(|| {
                c.err(DecodeErrorKind::BadHeader, start)
                    .with_detail("metadata count exceeds the bytes remaining")
            })?;
        for _ in 0..n {
            let kstart = c.pos;
            let k = c.bytes(limit)?;
            let k = std::str::from_utf8(k).map_err(|_| {
                c.err(DecodeErrorKind::BadHeader, kstart)
                    .with_detail("metadata key is not UTF-8")
            })?;
            let v = c.bytes(limit)?;
            metadata.push((k.to_owned(), v.to_vec()));
            if c.pos > limit {
                return Err(c
                    .err(DecodeErrorKind::BadHeader, kstart)
                    .with_detail(format!("header exceeds the limit of {limit} bytes")));
            }
        }
    }
    let sync_at = c.pos;
    let sync: [u8; 16] = c
        .take(16)?
        .try_into()
        .map_err(|_| c.err(DecodeErrorKind::Truncated, sync_at))?;
    let get = |key: &str| metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let codec = match get("avro.codec").map(|v| v.as_slice()) {
        None | Some(b"null") | Some(b"") => Codec::Null,
        Some(b"deflate") => Codec::Deflate,
        Some(other) => {
            return Err(DecodeError::new(DecodeErrorKind::UnsupportedCodec(
                String::from_utf8_lossy(other).into_owned(),
            ))
            .at(4));
        }
    };
    let schema_bytes = get("avro.schema").ok_or_else(|| {
        DecodeError::new(DecodeErrorKind::BadHeader)
            .at(4)
            .with_detail("no `avro.schema` entry")
    })?;
    let schema_json = std::str::from_utf8(schema_bytes)
        .map_err(|_| DecodeError::new(DecodeErrorKind::BadSchema("not UTF-8".into())).at(4))?
        .to_owned();
    let sanitized = get(SANITIZED_KEY).is_some();
    let max_depth = options.effective_max_depth();
    let top = parse_top(&schema_json, max_depth).map_err(|e| e.at(4))?;
    let full_name = match &top.namespace {
        Some(ns) if !ns.is_empty() && !top.name.contains('.') => format!("{ns}.{}", top.name),
        _ => top.name.clone(),
    };
    let named = EventType::from_schema_name(&full_name);
    let event_type = named.or(options.fallback_event_type).ok_or_else(|| {
        DecodeError::new(DecodeErrorKind::NotAnEmailEvent)
            .at(4)
            .with_detail(format!("record `{}`", top.name))
    })?;
    let record_name = top.name.clone();
    let namespace = top.namespace.clone();
    let (plan, writer_fields) =
        Plan::compile(top, event_type, sanitized, max_depth).map_err(|e| e.at(4))?;
    let unknown_fields = writer_fields
        .iter()
        .filter(|f| !f.known)
        .map(|f| f.name.clone())
        .collect();
    Ok((
        Header {
            metadata,
            schema_json,
            codec,
            sync,
            sanitized,
            writer_fields,
            unknown_fields,
            record_name,
            namespace,
            named: named.is_some(),
            data_start: c.pos,
        },
        plan,
    ))
}
