//! # dynopt
//!
//! The pure core of a real-time language optimiser for email sent through Braze.
//!
//! dynopt does no I/O, reads no clock and uses no global random number generator:
//! bytes go in, values and bytes come out; the host supplies time, randomness,
//! storage and transport.
//!
//! ```text
//!  Connected Content call ─► optimiser: assign(experiment, recipient) ─► variant + tag
//!         └─► attribution: record exposure(experiment, recipient, variant, now)
//!  Braze file bytes ─► currents: decode ─► RawEvent (holds PII) ─► pii: Filter ─► CleanEvent ─► attribution
//!                                       └► pii: sanitize ─► PII-free Avro ─► currents: decode ─► CleanEvent
//! ```
//!
//! Modules, each with one job, data flowing one way:
//! [`currents`] → [`pii`] → [`attribution`] → [`optimiser`].

pub mod attribution;
pub mod currents;
pub mod optimiser;
pub mod pii;

pub use attribution::{ExperimentId, Update, VariantId};
