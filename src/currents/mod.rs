//! Braze Currents events (the 11 email types and the three conversion types):
//! typed events and Avro Object Container File decoding.
//!
//! The types you need:
//! - [`Reader`]: parses a file's header and compiles its writer schema once into a
//!   decoding plan, then yields decompressed [`Block`]s.
//! - [`Block::events`]: typed [`Event`]s borrowing their strings from the block
//!   (no allocation per string); [`Event::into_owned`] detaches them.
//! - [`decode_file`] / [`decode_reader`]: the whole file into owned events, keeping
//!   the events decoded before an error.
//! - [`DecodeError`]: kind, file offset and field of anything wrong with the input.
//! - [`OcfWriter`] and the `encode_*` helpers: write container files.
//!
//! Fields are resolved **by name** against the writer schema embedded in each file,
//! so every schema version from 2018 on decodes; writer fields the typed event
//! does not know are skipped and reported by [`Reader::unknown_fields`]. Codecs:
//! `null` and `deflate` (raw deflate, inflated with `zlib-rs`). All sizes are
//! bounded by the bytes remaining and by [`DecodeOptions`]; bad input gives an
//! error, never a panic.
//!
//! The event type comes from the writer schema's full name: the three
//! conversion types share the record name `Conversion` and are told apart by
//! the namespace (`users.campaigns`, `users.canvas`,
//! `users.canvas.experimentstep`, with or without Braze's `dataexport.S3.inner.`
//! prefix). A name that says nothing more (a bare `Conversion`) needs
//! [`DecodeOptions::fallback_event_type`], for example from the `event_type=`
//! segment of the file's [`ObjectKey`].
//!
//! Braze's Custom HTTP connector sends the same events as JSON; its limits and
//! errors are [`HttpOptions`], [`HttpError`] and [`HttpEventError`], and
//! `pii::Filter::clean_http` decodes a body straight into clean events.
//!
//! ```
//! use dynopt::currents::{
//!     decode_file, encode_long, encode_opt_str, encode_str, Codec, DecodeOptions, Event,
//!     OcfWriter, Reader,
//! };
//!
//! // A tiny Click file with an old (2018-style) schema plus a future field.
//! let schema = r#"{"type":"record","name":"Click","namespace":"dataexport.S3.inner.users.messages.email",
//!   "fields":[{"name":"id","type":"string"},{"name":"user_id","type":"string"},
//!             {"name":"time","type":"int"},{"name":"email_address","type":"string"},
//!             {"name":"future_field","type":["null","string"],"default":null},
//!             {"name":"url","type":["null","string"],"default":null}]}"#;
//! let writer = OcfWriter::new(schema, Codec::Deflate, &[], *b"0123456789abcdef");
//! let mut file = Vec::new();
//! writer.header(&mut file);
//! let mut records = Vec::new();
//! encode_str("7d4e1f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6", &mut records);
//! encode_str("5f1a2b3c4d5e6f7a8b9c0d1e", &mut records);
//! encode_long(1_717_000_000, &mut records);
//! encode_str("jane@example.com", &mut records);
//! encode_opt_str(Some("something new"), &mut records);
//! encode_opt_str(Some("https://example.com/?dov=v2"), &mut records);
//! writer.write_block(1, &records, &mut file);
//!
//! // Streaming, borrowing strings from the block:
//! let mut reader = Reader::new(&file, &DecodeOptions::default())?;
//! assert_eq!(reader.unknown_fields(), ["future_field"]);
//! while let Some(block) = reader.next_block() {
//!     for event in block?.events() {
//!         let Event::Click(click) = event? else { unreachable!("a Click file") };
//!         assert_eq!(click.time.timestamp(), 1_717_000_000);
//!         assert_eq!(click.url.as_ref().map(|u| &**u.expose()), Some("https://example.com/?dov=v2"));
//!     }
//! }
//!
//! // Or the whole file at once, owned:
//! let outcome = decode_file(&file, &DecodeOptions::default());
//! assert!(outcome.error.is_none());
//! assert_eq!(outcome.events.len(), 1);
//! # Ok::<(), dynopt::currents::DecodeError>(())
//! ```

mod block;
mod compile;
mod cursor;
mod error;
mod events;
mod file;
mod header;
mod http;
mod key;
mod kind;
mod options;
mod plan;
mod reader;
mod sanitized;
mod schema;
mod writer;

pub use block::{Block, Events, KeyedEvents, RecordSpan, RecordSpans};
pub use error::{DecodeError, DecodeErrorKind};
pub use events::{
    Abort, Bounce, CampaignConversion, CanvasConversion, Click, Deferral, Delivery, Event,
    EventType, ExperimentStepConversion, MarkAsSpam, Open, Retry, Send, SoftBounce, Unsubscribe,
};
pub(crate) use file::each_keyed_event;
pub use file::{FileOutcome, decode_file, decode_reader};
pub use http::{HttpError, HttpEventError, HttpEventErrorKind, HttpOptions};
pub(crate) use http::{HttpItem, decode_event, parse_body};
pub use key::{ObjectKey, ObjectKeyError};
pub use kind::{FieldDef, FieldKind, FieldValue};
pub use options::DecodeOptions;
pub use reader::Reader;
pub(crate) use sanitized::RECIPIENT_KEY_DOC;
pub use sanitized::{RECIPIENT_KEY_FIELD, SANITIZED_KEY, SANITIZED_VERSION};
pub(crate) use schema::TextShape;
pub use schema::WriterField;
pub use writer::{
    Codec, MAGIC, OcfWriter, encode_bool, encode_bytes, encode_long, encode_opt_bool,
    encode_opt_long, encode_opt_str, encode_str, encode_str_array,
};
