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
    /// unions). Default 64; values above [`DecodeOptions::MAX_DEPTH`] are
    /// clamped to it, so that recursive data cannot overflow the stack.
    pub max_depth: usize,
    /// Cap on the bytes [`decode_reader`](super::decode_reader) reads. Default 4 GiB.
    pub max_file_bytes: u64,
    /// The constant part of the cap on the memory the whole-file APIs
    /// ([`decode_file`](super::decode_file), [`decode_reader`](super::decode_reader)
    /// and `Filter::clean_file`) may use for their output: the events (their
    /// in-memory size plus 64 bytes of allocation overhead, times the capacity
    /// of the list that holds them) plus an upper bound of their strings (the
    /// bytes of the blocks decoded so far). The cap is this plus
    /// [`max_output_per_input_byte`](DecodeOptions::max_output_per_input_byte)
    /// times the input's size. Decoding stops with
    /// [`DecodeErrorKind::OutputTooLarge`](super::DecodeErrorKind::OutputTooLarge)
    /// before the cap is exceeded; the events decoded before stay. Default
    /// 384 MiB (a real file of 100,000 events of about 1 KB needs about 190 MB). The streaming
    /// path ([`Reader`](super::Reader), [`Block::events`](super::Block::events),
    /// `Filter::clean_each`) holds one block at a time and has no such cap.
    pub max_output_bytes: usize,
    /// The part of the output cap that grows with the input: this many bytes
    /// per input byte (the file's bytes, compressed as they come). Default 4, so
    /// the whole-file APIs never hold more than 4 × the input plus
    /// [`max_output_bytes`](DecodeOptions::max_output_bytes): a large file of
    /// ordinary events decodes whole, while a small file of tiny records (which
    /// would expand a hundredfold into events) stops with a typed error.
    pub max_output_per_input_byte: usize,
    /// The event type to assume when the schema's name does not identify one
    /// (an unknown record name, or a `Conversion` record without a namespace
    /// saying which of the three conversion types it is); for example the
    /// `event_type=` segment of the file's [`ObjectKey`](super::ObjectKey).
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
            max_output_bytes: 384 << 20,
            max_output_per_input_byte: 4,
            fallback_event_type: None,
        }
    }
}

impl DecodeOptions {
    /// The largest [`max_depth`](DecodeOptions::max_depth) that takes effect:
    /// deeper settings are clamped to it (each level is a stack frame of the
    /// value walk; 256 levels fit the smallest thread stacks with room to spare).
    pub const MAX_DEPTH: usize = 256;

    /// The output cap of the whole-file APIs for an input of `input_len` bytes.
    pub(crate) fn output_cap(&self, input_len: usize) -> usize {
        self.max_output_bytes
            .saturating_add(self.max_output_per_input_byte.saturating_mul(input_len))
    }

    /// `max_depth`, clamped to [`DecodeOptions::MAX_DEPTH`].
    pub(crate) fn effective_max_depth(&self) -> usize {
        self.max_depth.min(Self::MAX_DEPTH)
    }
}
