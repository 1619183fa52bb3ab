//! Nothing personal leaves: the redacting wrapper, the allowlist [`Policy`], the
//! [`Filter`] from raw events to [`CleanEvent`]s, URL scrubbing, pseudonymous
//! recipient keys and the sanitising rewrite of Avro files.
//!
//! The types a host needs:
//! - [`Policy`]: which fields may leave (default [`DEFAULT_ALLOWLIST`]; [`ALWAYS_PERSONAL`]
//!   names and `[PII]`-tagged fields never do) and how `url` is scrubbed ([`UrlScrubber`]).
//! - [`Pseudonymizer`]: Braze user id to [`RecipientKey`] (HMAC-SHA256 with the host's key).
//! - [`Filter`]: raw typed events to [`CleanEvent`]s, reporting what it dropped in a
//!   [`FilterReport`]; [`Filter::clean_file`] takes a whole file (from Braze, or written
//!   by [`sanitize`]) straight to clean events.
//! - [`sanitize`] / [`sanitize_to`]: a Braze Avro file in, a PII-free Avro file out
//!   (what the customer side hands to the optimising side).

mod clean;
mod filter;
mod http;
mod policy;
mod pseudonym;
mod sanitize;
mod url;

pub use crate::currents::{RECIPIENT_KEY_FIELD, SANITIZED_VERSION};
pub use crate::vocab::{InvalidRecipientKey, Pii, RecipientKey};
pub use clean::CleanEvent;
pub use filter::{CleanFile, FileFilter, Filter};
pub use http::HttpOutcome;
pub use policy::{DropReason, FilterReport, Policy, PolicyError, REQUIRED_FIELDS};
pub use pseudonym::{InvalidHostKey, Pseudonymizer, REDACTED};
pub use sanitize::{
    CorruptReason, SanitizeError, SanitizeOptions, SanitizeOutcome, SanitizeSummary, sanitize,
    sanitize_to,
};
pub use url::{
    DEFAULT_IDENTIFIER_PARAMS, PHONE_MIN_DIGITS, UrlScrubber, holds_personal_value, scrub_url,
};

use crate::fields::{FieldClass, count_of, names_of};

const ALLOWED: &[FieldClass] = &[FieldClass::Required, FieldClass::Kept];
const PERSONAL: &[FieldClass] = &[FieldClass::Personal];

/// The fields that the default policy lets through (see `docs/design.md`,
/// *PII policy and filter*), for every event type that has them. `url` passes only
/// after scrubbing. Everything else, and every field the policy does not know,
/// is dropped. Generated from the crate's one field list.
pub const DEFAULT_ALLOWLIST: &[&str] = &names_of::<{ count_of(ALLOWED) }>(ALLOWED);

/// Fields that are personal whatever a schema's documentation says: no policy
/// can allow them. Generated from the crate's one field list.
pub const ALWAYS_PERSONAL: &[&str] = &names_of::<{ count_of(PERSONAL) }>(PERSONAL);

/// Whether the default policy lets `field` through.
pub fn default_allows(field: &str) -> bool {
    DEFAULT_ALLOWLIST.contains(&field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currents::EventType;

    #[test]
    fn allowlist_and_pii_wrapping_agree() {
        // Every typed field outside the default allowlist must be wrapped (or be the url).
        for et in EventType::ALL {
            for f in et.fields() {
                let wrapped = f.kind.is_wrapped();
                assert_eq!(
                    !default_allows(f.name) || f.name == "url",
                    wrapped,
                    "{et}: {}",
                    f.name
                );
                assert!(!(default_allows(f.name) && ALWAYS_PERSONAL.contains(&f.name)));
            }
        }
    }
}
