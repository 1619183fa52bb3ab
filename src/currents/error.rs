//! The decoding error: a kind, a byte offset and a field name, boxed.

use std::fmt;

/// What went wrong while decoding a Currents file.
///
/// Every kind is caused by the input bytes (or by a limit in
/// [`DecodeOptions`](super::DecodeOptions)); none means misuse of the API.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ends in the middle of a header, block or record.
    Truncated,
    /// The file does not start with the Avro magic `Obj\x01`.
    BadMagic,
    /// The header metadata is malformed (bad map, missing `avro.schema`, too large).
    BadHeader,
    /// The header names a codec this crate does not read (the codec's name).
    UnsupportedCodec(String),
    /// The writer schema is not valid JSON or not a valid Avro schema (the reason).
    BadSchema(String),
    /// The writer schema's name is not one of the Braze event types the crate
    /// decodes (the 11 email types and the three conversion types), or is a bare
    /// `Conversion` that names none of the three alone, and no
    /// [`DecodeOptions::fallback_event_type`](super::DecodeOptions) was given.
    NotAnEmailEvent,
    /// A field the typed event requires (`id`, `time`, `user_id`, and
    /// `email_address` on the email types) is missing from the writer schema.
    MissingRequiredField,
    /// A known field has a writer type that cannot be read into the typed field.
    IncompatibleFieldType,
    /// A block does not end with the file's 16-byte sync marker.
    BadSyncMarker,
    /// A block's record count is negative or larger than its bytes can hold.
    BadBlockCount,
    /// A block's byte size is negative.
    BadBlockSize,
    /// A block is larger than [`DecodeOptions::max_block_bytes`](super::DecodeOptions).
    BlockTooLarge,
    /// A deflate block inflates beyond [`DecodeOptions::max_inflate_ratio`](super::DecodeOptions)
    /// times its compressed size (a decompression bomb).
    InflateRatioExceeded,
    /// A deflate block is not a valid raw deflate stream.
    BadDeflate,
    /// A string, bytes, array or map length is negative or exceeds the bytes remaining.
    LengthOutOfRange,
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// A boolean byte is neither 0 nor 1.
    InvalidBool,
    /// A varint is longer than 10 bytes, overflows 64 bits, an `int` is outside
    /// the 32-bit range, or a time is outside the representable range.
    IntOutOfRange,
    /// A union branch index is outside the union.
    BadUnionIndex,
    /// A block holds more or fewer records than its count claims.
    RecordCountMismatch,
    /// Nested values (records, arrays, maps) are deeper than
    /// [`DecodeOptions::max_depth`](super::DecodeOptions).
    TooDeep,
    /// A `recipient_key` value is not 32 hex characters.
    InvalidRecipientKey,
    /// The input is larger than [`DecodeOptions::max_file_bytes`](super::DecodeOptions)
    /// (only [`decode_reader`](super::decode_reader)).
    FileTooLarge,
    /// A whole-file API's output would exceed
    /// [`DecodeOptions::max_output_bytes`](super::DecodeOptions); the events
    /// decoded before stay. Use the streaming [`Reader`](super::Reader) for such files.
    OutputTooLarge,
    /// Reading from the `std::io::Read` source failed (the I/O error's message).
    Io(String),
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DecodeErrorKind::Truncated => "truncated input",
            DecodeErrorKind::BadMagic => "not an Avro object container file (bad magic)",
            DecodeErrorKind::BadHeader => "malformed file header",
            DecodeErrorKind::UnsupportedCodec(c) => return write!(f, "unsupported codec `{c}`"),
            DecodeErrorKind::BadSchema(r) => return write!(f, "bad writer schema: {r}"),
            DecodeErrorKind::NotAnEmailEvent => {
                "the schema does not name a Braze event type this crate decodes"
            }
            DecodeErrorKind::MissingRequiredField => "required field missing from the schema",
            DecodeErrorKind::IncompatibleFieldType => "field type incompatible with the event",
            DecodeErrorKind::BadSyncMarker => "bad sync marker",
            DecodeErrorKind::BadBlockCount => "bad block record count",
            DecodeErrorKind::BadBlockSize => "bad block size",
            DecodeErrorKind::BlockTooLarge => "block too large",
            DecodeErrorKind::InflateRatioExceeded => "deflate block exceeds the inflate ratio",
            DecodeErrorKind::BadDeflate => "invalid deflate data",
            DecodeErrorKind::LengthOutOfRange => "length out of range",
            DecodeErrorKind::InvalidUtf8 => "invalid UTF-8 in a string",
            DecodeErrorKind::InvalidBool => "invalid boolean",
            DecodeErrorKind::IntOutOfRange => "integer out of range",
            DecodeErrorKind::BadUnionIndex => "union index out of range",
            DecodeErrorKind::RecordCountMismatch => "block record count does not match its bytes",
            DecodeErrorKind::TooDeep => "values nested too deeply",
            DecodeErrorKind::InvalidRecipientKey => "invalid recipient key",
            DecodeErrorKind::FileTooLarge => "file too large",
            DecodeErrorKind::OutputTooLarge => "decoded output exceeds the memory cap",
            DecodeErrorKind::Io(e) => return write!(f, "read error: {e}"),
        };
        f.write_str(s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    kind: DecodeErrorKind,
    offset: Option<u64>,
    block_position: Option<u64>,
    record: Option<u64>,
    field: Option<String>,
    detail: Option<String>,
}

/// A decoding error: its [kind](DecodeError::kind), the file byte
/// [offset](DecodeError::offset) and the writer [field](DecodeError::field) when known.
///
/// Boxed so that `Result`s stay small. `Display` reads like
/// ``at byte 1234, field `url`: length out of range (string length 1099511627776 exceeds the 812 bytes remaining)``.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodeError(Box<Inner>);

impl DecodeError {
    pub(crate) fn new(kind: DecodeErrorKind) -> Self {
        DecodeError(Box::new(Inner {
            kind,
            offset: None,
            block_position: None,
            record: None,
            field: None,
            detail: None,
        }))
    }

    pub(crate) fn at(mut self, offset: u64) -> Self {
        self.0.offset = Some(offset);
        self
    }

    pub(crate) fn in_block(mut self, position: u64) -> Self {
        self.0.block_position = Some(position);
        self
    }

    pub(crate) fn with_record(mut self, record: u64) -> Self {
        self.0.record = Some(record);
        self
    }

    pub(crate) fn with_field(mut self, field: impl Into<String>) -> Self {
        self.0.field = Some(field.into());
        self
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.0.kind
    }

    /// The byte offset in the file where the problem was found. For the null
    /// codec this is the exact byte; inside a deflate block it is the offset of
    /// the block, and [`block_position`](Self::block_position) gives the position
    /// in the decompressed data.
    pub fn offset(&self) -> Option<u64> {
        self.0.offset
    }

    /// The position within the decompressed block data, for errors inside a block.
    pub fn block_position(&self) -> Option<u64> {
        self.0.block_position
    }

    /// The index of the record within its block, for errors inside a record.
    pub fn record_index(&self) -> Option<u64> {
        self.0.record
    }

    /// The writer field being decoded (or the schema field at fault), when known.
    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// A human-readable detail (for example the offending length), when any.
    pub fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.0;
        let mut sep = "";
        if let Some(o) = i.offset {
            write!(f, "at byte {o}")?;
            sep = ", ";
        }
        if let Some(p) = i.block_position {
            write!(f, "{sep}block position {p}")?;
            sep = ", ";
        }
        if let Some(r) = i.record {
            write!(f, "{sep}record {r}")?;
            sep = ", ";
        }
        if let Some(field) = &i.field {
            write!(f, "{sep}field `{field}`")?;
            sep = ", ";
        }
        if !sep.is_empty() {
            f.write_str(": ")?;
        }
        write!(f, "{}", i.kind)?;
        if let Some(d) = &i.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeError")
            .field("kind", &self.0.kind)
            .field("offset", &self.0.offset)
            .field("block_position", &self.0.block_position)
            .field("record", &self.0.record)
            .field("field", &self.0.field)
            .field("detail", &self.0.detail)
            .finish()
    }
}

impl std::error::Error for DecodeError {}

impl From<DecodeErrorKind> for DecodeError {
    fn from(kind: DecodeErrorKind) -> Self {
        DecodeError::new(kind)
    }
}
