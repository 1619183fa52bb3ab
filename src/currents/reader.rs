//! The streaming container-file reader: limits, the block loop and inflation.

use std::borrow::Cow;
use std::sync::Arc;

use flate2::{Decompress, FlushDecompress, Status};

use super::block::Block;
use super::error::{DecodeError, DecodeErrorKind};
use super::events::EventType;
use super::header::{FileCur, Header, parse_header};
use super::options::DecodeOptions;
use super::plan::Plan;
use super::schema::{TextShape, WriterField};
use super::writer::Codec;

/// Streaming reader over the bytes of one Avro Object Container File.
///
/// [`Reader::new`] parses and validates the header (magic, metadata, writer
/// schema, codec, sync marker) and compiles the writer schema into a decoding
/// plan; [`Reader::next_block`] then yields one decompressed [`Block`] at a time.
pub struct Reader<'f> {
    bytes: &'f [u8],
    pos: usize,
    options: DecodeOptions,
    header: Header,
    plan: Arc<Plan>,
    done: bool,
    inflater: Option<Decompress>,
    spare: Vec<u8>,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("event_type", &self.plan.event_type)
            .field("codec", &self.header.codec)
            .field("position", &self.pos)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Reader<'_> {
    /// The size of the input, in bytes.
    pub(crate) fn input_len(&self) -> usize {
        self.bytes.len()
    }
}

impl<'f> Reader<'f> {
    /// Parses and validates the header and compiles the decoding plan.
    pub fn new(bytes: &'f [u8], options: &DecodeOptions) -> Result<Reader<'f>, DecodeError> {
        let (header, plan) = parse_header(bytes, options)?;
        Ok(Reader {
            bytes,
            pos: header.data_start,
            options: options.clone(),
            header,
            plan: Arc::new(plan),
            done: false,
            inflater: None,
            spare: Vec::new(),
        })
    }

    /// The options the reader was created with.
    pub(crate) fn options(&self) -> &DecodeOptions {
        &self.options
    }

    /// The event type (from the schema's record name).
    pub fn event_type(&self) -> EventType {
        self.plan.event_type
    }

    /// Whether the writer schema's name gave the event type (else it came from
    /// [`DecodeOptions::fallback_event_type`]).
    pub(crate) fn type_from_schema(&self) -> bool {
        self.header.named
    }

    /// The block codec.
    pub fn codec(&self) -> Codec {
        self.header.codec
    }

    /// Whether the file metadata carries the `dynopt.sanitized` key (a file
    /// written by `sanitize`).
    pub fn is_sanitized(&self) -> bool {
        self.header.sanitized
    }

    /// Writer fields the typed event does not know, in writer order.
    pub fn unknown_fields(&self) -> &[String] {
        &self.header.unknown_fields
    }

    /// Every writer field, in writer order.
    pub fn writer_fields(&self) -> &[WriterField] {
        &self.header.writer_fields
    }

    /// How writer field `i` holds text (for rewriting records without decoding them).
    pub(crate) fn text_shape(&self, i: usize) -> TextShape {
        self.plan
            .field_nodes
            .get(i)
            .map_or(TextShape::Other, |n| self.plan.schema.text_shape(*n))
    }

    /// Whether the value of writer field `i` in `span` (its bytes, as
    /// [`Block::record_spans`](super::Block::record_spans) gives them) is a time the
    /// typed decoder accepts: an `int` or `long` (bare or in a union) of seconds
    /// within chrono's range, or any non-numeric branch. `sanitize` checks the
    /// time fields it copies with it, so that its output decodes.
    pub(crate) fn time_in_range(&self, i: usize, span: &[u8]) -> bool {
        use super::schema::Node;
        let Some(&node) = self.plan.field_nodes.get(i) else {
            return true;
        };
        let nodes = &self.plan.schema.nodes;
        let mut rest = span;
        let mut node = node;
        if let Some(Node::Union(branches)) = nodes.get(node as usize) {
            let Ok((idx, used)) = crate::wire::read_long(rest) else {
                return false;
            };
            match usize::try_from(idx).ok().and_then(|k| branches.get(k)) {
                Some(&b) => node = b,
                None => return false,
            }
            rest = &rest[used..];
        }
        match nodes.get(node as usize) {
            Some(Node::Int | Node::Long) => crate::wire::read_long(rest)
                .ok()
                .is_some_and(|(v, _)| super::cursor::time_from(v).is_ok()),
            _ => true,
        }
    }

    /// The writer record's name as written (`Click`, or a full name).
    pub fn record_name(&self) -> &str {
        &self.header.record_name
    }

    /// The writer record's namespace, when the schema declares one
    /// (`dataexport.S3.inner.users.messages.email`, or `users.messages.email` in 2021).
    pub fn namespace(&self) -> Option<&str> {
        self.header.namespace.as_deref()
    }

    /// The writer schema as stored in the header.
    pub fn schema_json(&self) -> &str {
        &self.header.schema_json
    }

    /// Every header metadata entry, in file order.
    pub fn metadata(&self) -> &[(String, Vec<u8>)] {
        &self.header.metadata
    }

    /// The file's 16-byte sync marker.
    pub fn sync_marker(&self) -> [u8; 16] {
        self.header.sync
    }

    /// The file offset of the next block.
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    /// Hands a finished block's buffer back for reuse by the next deflate block.
    pub fn recycle(&mut self, block: Block<'f>) {
        if let Cow::Owned(v) = block.data
            && v.capacity() > self.spare.capacity()
        {
            self.spare = v;
        }
    }

    /// The next block (decompressed, bounded by the options), or `None` at a
    /// clean end of file. After an error, every later call returns `None`: the
    /// error is reported once.
    #[allow(
        clippy::should_implement_trait,
        reason = "an inherent method, so callers can hand blocks back with `recycle` between calls (a `for` loop would hold the reader borrowed)"
    )]
    pub fn next_block(&mut self) -> Option<Result<Block<'f>, DecodeError>> {
        if self.done {
            return None;
        }
        if self.pos == self.bytes.len() {
            self.done = true;
            return None;
        }
        let r = self.read_block();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }

    /// The number of records the blocks left claim, as far as their framing
    /// reads cleanly, each block's claim bounded by the records its bytes can
    /// hold (every field that takes bytes takes at least one; a deflate block
    /// is counted as if it inflated eight times): a hint to size an output
    /// list once. A valid file's hint is its record count; a block that
    /// claims more than its bytes can hold adds only what they can.
    pub(crate) fn records_hint(&self) -> usize {
        let min_record = self.plan.sized.len().max(1);
        let ratio = match self.header.codec {
            Codec::Null => 1,
            Codec::Deflate => 8,
        };
        let mut c = FileCur {
            bytes: self.bytes,
            pos: self.pos,
        };
        let mut n = 0usize;
        while c.pos < self.bytes.len() {
            let (Ok(count), Ok(size)) = (c.long(), c.long()) else {
                break;
            };
            let (Ok(count), Ok(size)) = (usize::try_from(count), usize::try_from(size)) else {
                break;
            };
            if c.take(size).is_err() || c.take(16).is_err() {
                break;
            }
            n = n.saturating_add(count.min(size.saturating_mul(ratio) / min_record));
        }
        n
    }

    fn read_block(&mut self) -> Result<Block<'f>, DecodeError> {
        let offset = self.pos;
        let mut c = FileCur {
            bytes: self.bytes,
            pos: self.pos,
        };
        let count = c.long()?;
        if count < 0 {
            return Err(DecodeError::new(DecodeErrorKind::BadBlockCount)
                .at(offset as u64)
                .with_detail("negative record count"));
        }
        let size_at = c.pos;
        let size = c.long()?;
        let size = usize::try_from(size).map_err(|_| {
            DecodeError::new(DecodeErrorKind::BadBlockSize)
                .at(size_at as u64)
                .with_detail("negative block size")
        })?;
        let remaining = self.bytes.len() - c.pos;
        if size > self.options.max_block_bytes {
            return Err(DecodeError::new(DecodeErrorKind::BlockTooLarge)
                .at(size_at as u64)
                .with_detail(format!(
                    "block size exceeds the limit of {} bytes",
                    self.options.max_block_bytes
                )));
        }
        if size > remaining {
            return Err(DecodeError::new(DecodeErrorKind::Truncated)
                .at(size_at as u64)
                .with_detail(format!(
                    "block size exceeds the {remaining} bytes remaining"
                )));
        }
        let data_at = c.pos;
        let raw = c.take(size)?;
        let sync_at = c.pos;
        let sync = c
            .take(16)
            .map_err(|e| e.with_detail("missing sync marker"))?;
        if sync != self.header.sync {
            return Err(DecodeError::new(DecodeErrorKind::BadSyncMarker).at(sync_at as u64));
        }
        let (data, data_offset) = match self.header.codec {
            Codec::Null => (Cow::Borrowed(raw), Some(data_at as u64)),
            Codec::Deflate => {
                let buf = self.inflate(raw, data_at)?;
                (Cow::Owned(buf), None)
            }
        };
        // Every email event record holds at least the `id` length byte.
        let count = u64::try_from(count).unwrap_or(0);
        if count > data.len() as u64 {
            return Err(DecodeError::new(DecodeErrorKind::BadBlockCount)
                .at(offset as u64)
                .with_detail(format!(
                    "the record count cannot fit in {} bytes",
                    data.len()
                )));
        }
        self.pos = c.pos;
        Ok(Block {
            data,
            count,
            offset: offset as u64,
            data_offset,
            plan: Arc::clone(&self.plan),
        })
    }

    fn inflate(&mut self, raw: &[u8], data_at: usize) -> Result<Vec<u8>, DecodeError> {
        let by_ratio = raw
            .len()
            .saturating_mul(self.options.max_inflate_ratio as usize);
        let cap = self.options.max_block_bytes;
        let bound = by_ratio.min(cap);
        let dec = self.inflater.get_or_insert_with(|| Decompress::new(false));
        dec.reset(false);
        let mut out = std::mem::take(&mut self.spare);
        out.clear();
        let initial = raw.len().saturating_mul(4).max(4096).min(bound);
        if out.capacity() < initial {
            out.reserve_exact(initial);
        }
        let err = |kind: DecodeErrorKind| DecodeError::new(kind).at(data_at as u64);
        let ratio = self.options.max_inflate_ratio;
        let exceeded = || {
            if bound == cap && by_ratio > cap {
                err(DecodeErrorKind::BlockTooLarge)
                    .with_detail(format!("block inflates beyond the limit of {cap} bytes"))
            } else {
                err(DecodeErrorKind::InflateRatioExceeded).with_detail(format!(
                    "{} compressed bytes inflate beyond {bound} bytes (ratio {ratio})",
                    raw.len()
                ))
            }
        };
        loop {
            let in_before = dec.total_in();
            let consumed = usize::try_from(in_before).unwrap_or(usize::MAX);
            let input = raw.get(consumed..).unwrap_or_default();
            let out_before = out.len();
            let status = dec
                .decompress_vec(input, &mut out, FlushDecompress::None)
                .map_err(|e| err(DecodeErrorKind::BadDeflate).with_detail(e.to_string()))?;
            if out.len() > bound {
                // Only possible with a recycled buffer larger than the bound.
                return Err(exceeded());
            }
            if status == Status::StreamEnd {
                break;
            }
            if out.len() == out.capacity() {
                if out.len() >= bound {
                    return Err(exceeded());
                }
                let grow = out.len().max(4096).min(bound - out.len());
                out.reserve_exact(grow);
                continue;
            }
            if dec.total_in() == in_before && out.len() == out_before {
                return Err(err(DecodeErrorKind::BadDeflate)
                    .with_detail("deflate stream ends before its final block"));
            }
        }
        Ok(out)
    }
}
