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
    let (blocks, error) = each_keyed_event(&mut reader, &mut out.events, |events, ev, key| {
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
pub(crate) fn each_keyed_event<T>(
    reader: &mut Reader<'_>,
    out: &mut Vec<T>,
    mut sink: impl FnMut(&mut Vec<T>, Event<'_>, Option<RecipientKey>),
) -> (u64, Option<DecodeError>) {
    let mut blocks = 0;
    while let Some(block) = reader.next_block() {
        let block = match block {
            Ok(b) => b,
            Err(e) => return (blocks, Some(e)),
        };
        // A modest reservation: an event is ~800 bytes in memory while a
        // record can be a few bytes, so the claimed count must not drive it.
        out.reserve(usize::try_from(block.count()).unwrap_or(0).min(1024));
        for r in block.keyed_events() {
            match r {
                Ok((ev, key)) => sink(out, ev, key),
                Err(e) => return (blocks, Some(e)),
            }
        }
        blocks += 1;
        reader.recycle(block);
    }
    (blocks, None)
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
