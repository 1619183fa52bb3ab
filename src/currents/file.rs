//! Whole-file convenience decoding into owned events.

use std::io::Read;

use super::error::{DecodeError, DecodeErrorKind};
use super::events::{Event, EventType};
use super::options::DecodeOptions;
use super::reader::Reader;
use crate::vocab::RecipientKey;

/// The result of decoding a whole file: every event decoded before the first
/// error, and the error (if any).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct FileOutcome {
    /// The event type, when the header could be read.
    pub event_type: Option<EventType>,
    /// The decoded events, in file order (owned).
    pub events: Vec<Event<'static>>,
    /// The recipient key of each event (parallel to `events`); always `None`
    /// for Braze files.
    pub recipient_keys: Vec<Option<RecipientKey>>,
    /// Writer fields the typed event does not know.
    pub unknown_fields: Vec<String>,
    /// Whether the file was written by `sanitize`.
    pub sanitized: bool,
    /// The number of blocks read without error.
    pub blocks: u64,
    /// The first error; the events before it are kept.
    pub error: Option<DecodeError>,
}

/// Decodes a whole file into owned events. Never panics; the records decoded
/// before an error stay in the outcome.
pub fn decode_file(bytes: &[u8], options: &DecodeOptions) -> FileOutcome {
    let mut out = FileOutcome::default();
    let mut reader = match Reader::new(bytes, options) {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    out.event_type = Some(reader.event_type());
    out.unknown_fields = reader.unknown_fields().to_vec();
    out.sanitized = reader.is_sanitized();
    let keys = &mut out.recipient_keys;
    let extra = 2 * std::mem::size_of::<Option<RecipientKey>>();
    let (blocks, error) =
        each_keyed_event(&mut reader, &mut out.events, extra, |events, ev, key| {
            events.push(ev.into_owned());
            keys.push(key);
        });
    out.blocks = blocks;
    out.error = error;
    out
}

/// The block loop of the whole-file decoders: every event of every block with
/// its recipient key, in file order, handed to `sink` with the output `out`,
/// until the first error. Returns the number of blocks read without error and
/// the error, if any; blocks are recycled.
///
/// Memory is bounded by [`DecodeOptions::max_output_bytes`] plus
/// [`DecodeOptions::max_output_per_input_byte`] times the input: `out` grows under
/// the cap (each item costs its size, `extra` bytes of side tables and 64 bytes
/// of allocation overhead; the blocks decoded so far bound the strings), and
/// decoding stops with [`DecodeErrorKind::OutputTooLarge`] before it is exceeded.
pub(crate) fn each_keyed_event<T>(
    reader: &mut Reader<'_>,
    out: &mut Vec<T>,
    extra: usize,
    mut sink: impl FnMut(&mut Vec<T>, Event<'_>, Option<RecipientKey>),
) -> (u64, Option<DecodeError>) {
    let cap = reader.options().output_cap(reader.input_len());
    let per_item = std::mem::size_of::<T>()
        .saturating_add(extra)
        .saturating_add(64);
    // Sized once for the records the file claims (within the cap), not grown
    // by doubling: no copies of a growing list.
    if out.is_empty() {
        let budget = cap / per_item.max(1);
        out.reserve_exact(reader.records_hint().min(budget));
    }
    let mut strings = 0usize;
    let mut blocks = 0;
    while let Some(block) = reader.next_block() {
        let block = match block {
            Ok(b) => b,
            Err(e) => return (blocks, Some(e)),
        };
        strings = strings.saturating_add(block.data().len());
        let mut full = false;
        let walked = block.for_each_keyed(|ev, key| {
            if out.len() == out.capacity() && !grow(out, per_item, strings, cap) {
                full = true;
                return false;
            }
            sink(out, ev, key);
            true
        });
        if full {
            let e = DecodeError::new(DecodeErrorKind::OutputTooLarge)
                .at(block.offset())
                .with_detail(format!(
                    "the decoded events would exceed the output cap ({cap} bytes)"
                ));
            return (blocks, Some(e));
        }
        if let Err(e) = walked {
            return (blocks, Some(e));
        }
        blocks += 1;
        reader.recycle(block);
    }
    (blocks, None)
}

/// Grows `out` (full) under the cap: doubling, or as far as the cap allows.
/// Returns `false` when not one more item fits.
fn grow<T>(out: &mut Vec<T>, per_item: usize, strings: usize, cap: usize) -> bool {
    let budget = cap.saturating_sub(strings) / per_item.max(1);
    let len = out.len();
    let want = len.saturating_mul(2).max(64).min(budget);
    if want <= len {
        return false;
    }
    out.reserve_exact(want - len);
    true
}

/// Reads at most [`DecodeOptions::max_file_bytes`] from `r`, then decodes like
/// [`decode_file`]. A larger input is refused with
/// [`DecodeErrorKind::FileTooLarge`]; a read error is [`DecodeErrorKind::Io`].
pub fn decode_reader<R: Read>(r: R, options: &DecodeOptions) -> FileOutcome {
    let mut bytes = Vec::new();
    let limit = options.max_file_bytes;
    match r.take(limit.saturating_add(1)).read_to_end(&mut bytes) {
        Ok(_) => {}
        Err(e) => {
            return FileOutcome {
                error: Some(
                    DecodeError::new(DecodeErrorKind::Io(e.to_string())).at(bytes.len() as u64),
                ),
                ..FileOutcome::default()
            };
        }
    }
    if bytes.len() as u64 > limit {
        return FileOutcome {
            error: Some(
                DecodeError::new(DecodeErrorKind::FileTooLarge)
                    .at(limit)
                    .with_detail(format!("the input exceeds the limit of {limit} bytes")),
            ),
            ..FileOutcome::default()
        };
    }
    decode_file(&bytes, options)
}
