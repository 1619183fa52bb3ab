//! The limits and options of decoding.

use super::events::EventType;

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
    /// [`DecodeErrorKind::NotAnEmailEvent`](super::DecodeErrorKind::NotAnEmailEvent).
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
