//! The streaming container-file reader, blocks and the iterators over their records.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use flate2::{Decompress, FlushDecompress, Status};

use super::cursor::{Cur, Fail};
use super::error::{DecodeError, DecodeErrorKind};
use super::events::{Event, EventType};
use super::plan::Plan;
use super::sanitized::SANITIZED_KEY;
use super::schema::{TextShape, WriterField, parse_top};
use super::writer::{Codec, MAGIC};
use crate::vocab::RecipientKey;

/// Limits and options for decoding.
///
/// `Default` gives safe limits that fit the largest real Currents file several
/// times over (real blocks hold up to 100,000 events of about 1 KB, so ~100 MB;
/// deflate ratios on this data are about 3:1, decompression bombs above 1,000:1).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Absolute cap on a block's (decompressed) byte size. Default 512 MiB.
    pub max_block_bytes: usize,
    /// Cap on a deflate block's decompressed size as a multiple of its
    /// compressed size. Default 100.
    pub max_inflate_ratio: u32,
    /// Cap on the header (metadata map including the writer schema). Default 4 MiB.
    pub max_header_bytes: usize,
    /// Cap on the nesting depth of schemas and values (records, arrays, maps,
    /// unions). Default 64.
    pub max_depth: usize,
    /// Cap on the bytes [`decode_reader`](super::decode_reader) reads. Default 4 GiB.
    pub max_file_bytes: u64,
    /// The event type to assume when the schema's record name is not one of the
    /// 11 email event types (for example from [`ObjectKey`](super::ObjectKey)).
    /// Default `None`: such files are refused with
    /// [`DecodeErrorKind::NotAnEmailEvent`].
    pub fallback_event_type: Option<EventType>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_block_bytes: 512 << 20,
            max_inflate_ratio: 100,
            max_header_bytes: 4 << 20,
            max_depth: 64,
            max_file_bytes: 4 << 30,
            fallback_event_type: None,
        }
    }
}

/// A cursor over the file bytes, producing errors with file offsets.
struct FileCur<'f> {
    bytes: &'f [u8],
    pos: usize,
}

impl<'f> FileCur<'f> {
    fn err(&self, kind: DecodeErrorKind, at: usize) -> DecodeError {
        DecodeError::new(kind).at(at as u64)
    }

    fn long(&mut self) -> Result<i64, DecodeError> {
        let mut c = Cur::at(self.bytes, self.pos);
        let v = c
            .long()
            .map_err(|code| code.into_error().at(self.pos as u64))?;
        self.pos = c.pos;
        Ok(v)
    }

    fn take(&mut self, n: usize) -> Result<&'f [u8], DecodeError> {
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
    fn bytes(&mut self, limit: usize) -> Result<&'f [u8], DecodeError> {
        let start = self.pos;
        let len = self.long()?;
        let remaining = self.bytes.len() - self.pos;
        let n = usize::try_from(len).map_err(|_| {
            self.err(DecodeErrorKind::LengthOutOfRange, start)
                .with_detail(format!("negative length {len}"))
        })?;
        if n > remaining {
            return Err(self
                .err(DecodeErrorKind::LengthOutOfRange, start)
                .with_detail(format!(
                    "length {len} exceeds the {remaining} bytes remaining"
                )));
        }
        if n > limit {
            return Err(self
                .err(DecodeErrorKind::BadHeader, start)
                .with_detail(format!("length {len} exceeds the header limit of {limit}")));
        }
        self.take(n)
    }
}

/// Parsed header facts shared by the reader and its blocks.
struct Header {
    metadata: Vec<(String, Vec<u8>)>,
    schema_json: String,
    codec: Codec,
    sync: [u8; 16],
    sanitized: bool,
    writer_fields: Vec<WriterField>,
    unknown_fields: Vec<String>,
    record_name: String,
    namespace: Option<String>,
    data_start: usize,
}

fn parse_header(bytes: &[u8], options: &DecodeOptions) -> Result<(Header, Plan), DecodeError> {
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
                    .with_detail(format!(
                        "metadata count {count} exceeds the bytes remaining"
                    ))
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
    let top = parse_top(&schema_json, options.max_depth).map_err(|e| e.at(4))?;
    let short = top.name.rsplit('.').next().unwrap_or_default();
    let event_type = EventType::from_name(short)
        .or(options.fallback_event_type)
        .ok_or_else(|| {
            DecodeError::new(DecodeErrorKind::NotAnEmailEvent)
                .at(4)
                .with_detail(format!("record `{}`", top.name))
        })?;
    let record_name = top.name.clone();
    let namespace = top.namespace.clone();
    let (plan, writer_fields) =
        Plan::compile(top, event_type, sanitized, options.max_depth).map_err(|e| e.at(4))?;
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
            data_start: c.pos,
        },
        plan,
    ))
}

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

    /// The event type (from the schema's record name).
    pub fn event_type(&self) -> EventType {
        self.plan.event_type
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
    #[allow(clippy::should_implement_trait)]
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
                .with_detail(format!("negative record count {count}")));
        }
        let size_at = c.pos;
        let size = c.long()?;
        let size = usize::try_from(size).map_err(|_| {
            DecodeError::new(DecodeErrorKind::BadBlockSize)
                .at(size_at as u64)
                .with_detail(format!("negative block size {size}"))
        })?;
        let remaining = self.bytes.len() - c.pos;
        if size > self.options.max_block_bytes {
            return Err(DecodeError::new(DecodeErrorKind::BlockTooLarge)
                .at(size_at as u64)
                .with_detail(format!(
                    "block size {size} exceeds the limit of {} bytes",
                    self.options.max_block_bytes
                )));
        }
        if size > remaining {
            return Err(DecodeError::new(DecodeErrorKind::Truncated)
                .at(size_at as u64)
                .with_detail(format!(
                    "block size {size} exceeds the {remaining} bytes remaining"
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
                    "{count} records cannot fit in {} bytes",
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

/// One decompressed block of records.
///
/// Holds the record bytes borrowed from the file (null codec) or owned
/// (deflate). Iterate its records with [`events`](Block::events),
/// [`keyed_events`](Block::keyed_events) or [`record_spans`](Block::record_spans).
pub struct Block<'f> {
    data: Cow<'f, [u8]>,
    count: u64,
    offset: u64,
    data_offset: Option<u64>,
    plan: Arc<Plan>,
}

impl std::fmt::Debug for Block<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("count", &self.count)
            .field("offset", &self.offset)
            .field("len", &self.data.len())
            .finish()
    }
}

impl<'f> Block<'f> {
    /// The record count the block header claims.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The file offset of the block start (its record count).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The decompressed record bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The typed events of the block, borrowing their strings from it. Checks
    /// that the claimed count of records consumes the block's bytes exactly.
    pub fn events(&self) -> Events<'_> {
        Events { walk: self.walk() }
    }

    /// Each event with its `recipient_key` (for files written by `sanitize`
    /// with a pseudonymizer; `None` when absent or null, and always for Braze files).
    pub fn keyed_events(&self) -> KeyedEvents<'_> {
        KeyedEvents { walk: self.walk() }
    }

    /// Per record, the byte range (within [`data`](Block::data)) of every writer
    /// field, in writer order. Validates the Avro encoding of every field but
    /// does not check the UTF-8 of strings.
    pub fn record_spans(&self) -> RecordSpans<'_> {
        RecordSpans { walk: self.walk() }
    }

    fn walk(&self) -> Walk<'_> {
        Walk {
            cur: Cur::new(&self.data),
            plan: &self.plan,
            count: self.count,
            index: 0,
            done: false,
            offset: self.offset,
            data_offset: self.data_offset,
        }
    }
}

/// Shared iteration state over the records of a block.
struct Walk<'b> {
    cur: Cur<'b>,
    plan: &'b Plan,
    count: u64,
    index: u64,
    done: bool,
    offset: u64,
    data_offset: Option<u64>,
}

impl<'b> Walk<'b> {
    fn error(&self, fail: Fail) -> DecodeError {
        let mut e = fail.code.into_error();
        e = self.locate(e, fail.pos).with_record(self.index);
        if let Some(f) = fail.field.and_then(|i| self.plan.names.get(i)) {
            e = e.with_field(f.clone());
        }
        e
    }

    fn locate(&self, e: DecodeError, pos: usize) -> DecodeError {
        match self.data_offset {
            Some(d) => e.at(d + pos as u64).in_block(pos as u64),
            None => e.at(self.offset).in_block(pos as u64),
        }
    }

    /// Before each record: `Some(Err)` on a count mismatch, `Some(Ok)` to go on,
    /// `None` when done.
    #[inline]
    fn before(&mut self) -> Option<Result<(), DecodeError>> {
        if self.done {
            return None;
        }
        let at_end = self.cur.remaining() == 0;
        if self.index == self.count {
            self.done = true;
            if at_end {
                return None;
            }
            let e = DecodeError::new(DecodeErrorKind::RecordCountMismatch).with_detail(format!(
                "{} bytes remain after the {} records the block claims",
                self.cur.remaining(),
                self.count
            ));
            return Some(Err(self.locate(e, self.cur.pos)));
        }
        if at_end {
            self.done = true;
            let e = DecodeError::new(DecodeErrorKind::RecordCountMismatch).with_detail(format!(
                "the block claims {} records but holds {}",
                self.count, self.index
            ));
            return Some(Err(self.locate(e, self.cur.pos)));
        }
        Some(Ok(()))
    }

    #[inline(always)]
    fn event(&mut self, key: &mut Option<RecipientKey>) -> Option<Result<Event<'b>, DecodeError>> {
        if let Err(e) = self.before()? {
            return Some(Err(e));
        }
        let plan = self.plan;
        let cur = &mut self.cur;
        let mut ev = Event::empty(plan.event_type);
        let r = match &mut ev {
            Event::Click(e) => plan.decode(cur, e, key),
            Event::Open(e) => plan.decode(cur, e, key),
            Event::Send(e) => plan.decode(cur, e, key),
            Event::Delivery(e) => plan.decode(cur, e, key),
            Event::Bounce(e) => plan.decode(cur, e, key),
            Event::SoftBounce(e) => plan.decode(cur, e, key),
            Event::Deferral(e) => plan.decode(cur, e, key),
            Event::Retry(e) => plan.decode(cur, e, key),
            Event::Abort(e) => plan.decode(cur, e, key),
            Event::MarkAsSpam(e) => plan.decode(cur, e, key),
            Event::Unsubscribe(e) => plan.decode(cur, e, key),
        };
        match r {
            Ok(()) => {
                self.index += 1;
                Some(Ok(ev))
            }
            Err(fail) => {
                self.done = true;
                Some(Err(self.error(fail)))
            }
        }
    }
}

/// Iterator over the typed events of a [`Block`]. After an error it ends.
pub struct Events<'b> {
    walk: Walk<'b>,
}

impl<'b> Iterator for Events<'b> {
    type Item = Result<Event<'b>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.walk.event(&mut None)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.walk.count - self.walk.index).unwrap_or(usize::MAX);
        (0, left.checked_add(1))
    }
}

/// Iterator over the typed events of a [`Block`] with their recipient keys.
pub struct KeyedEvents<'b> {
    walk: Walk<'b>,
}

impl<'b> Iterator for KeyedEvents<'b> {
    type Item = Result<(Event<'b>, Option<RecipientKey>), DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let mut key = None;
        let ev = self.walk.event(&mut key)?;
        Some(ev.map(|e| (e, key)))
    }
}

/// The byte range of every writer field of one record, in writer order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordSpan {
    /// One range (within [`Block::data`]) per writer field.
    pub fields: Vec<Range<usize>>,
}

impl RecordSpan {
    /// The range of the whole record.
    pub fn record(&self) -> Range<usize> {
        match (self.fields.first(), self.fields.last()) {
            (Some(a), Some(b)) => a.start..b.end,
            _ => 0..0,
        }
    }
}

/// Iterator over the [`RecordSpan`]s of a [`Block`]. After an error it ends.
pub struct RecordSpans<'b> {
    walk: Walk<'b>,
}

impl Iterator for RecordSpans<'_> {
    type Item = Result<RecordSpan, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.walk.before()? {
            return Some(Err(e));
        }
        let mut fields = Vec::with_capacity(self.walk.plan.len());
        match self.walk.plan.spans(&mut self.walk.cur, &mut fields) {
            Ok(()) => {
                self.walk.index += 1;
                Some(Ok(RecordSpan { fields }))
            }
            Err(fail) => {
                self.walk.done = true;
                Some(Err(self.walk.error(fail)))
            }
        }
    }
}
