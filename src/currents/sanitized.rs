//! The sanitized-file format: what marks a file written by `sanitize` and what
//! it adds. The decoder reads it and `pii::sanitize` writes it; both take the
//! names from here, so the two sides cannot drift apart.
//!
//! A sanitized file is an ordinary Braze Currents Avro Object Container File
//! with the personal fields removed, plus:
//! - the metadata entry [`SANITIZED_KEY`] = [`SANITIZED_VERSION`];
//! - optionally a last field [`RECIPIENT_KEY_FIELD`] (`["null","string"]`,
//!   32 lowercase hex characters).

/// The metadata key that marks a file written by this crate's `sanitize`.
pub const SANITIZED_KEY: &str = "dynopt.sanitized";

/// The value of the [`SANITIZED_KEY`] metadata entry this version writes.
pub const SANITIZED_VERSION: &[u8] = b"1";

/// The name of the field `sanitize` appends when a pseudonymizer is configured.
pub const RECIPIENT_KEY_FIELD: &str = "recipient_key";

/// The Avro schema JSON of the [`RECIPIENT_KEY_FIELD`] field, as `sanitize` appends it.
pub(crate) const RECIPIENT_KEY_DOC: &str = "dynopt: pseudonymous recipient key, the first 16 bytes of HMAC-SHA256(host key, user_id) as 32 lowercase hex characters; null where user_id was [REDACTED]";
