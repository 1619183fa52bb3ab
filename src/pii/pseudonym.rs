//! Pseudonymous recipient keys from Braze user ids.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::RecipientKey;
use crate::wire::decode_hex_into;

/// The value Braze writes in place of a field it was told to redact.
pub const REDACTED: &str = "[REDACTED]";

/// Turns a Braze user id into a 16-byte [`RecipientKey`] (see `docs/design.md`, *Pseudonyms*).
///
/// - **Keyed** ([`Pseudonymizer::keyed`]): the first 16 bytes of
///   HMAC-SHA256(host key, user id). Braze Liquid's
///   `{{ ${braze_id} | hmac_sha256_hex: 'secret' }}` computes the same HMAC with the
///   UTF-8 bytes of `secret` as the key; [`RecipientKey::from_hex`] truncates its 64 hex
///   characters to the same key.
/// - **Plain** ([`Pseudonymizer::plain`]): the first 16 bytes of SHA-256(user id),
///   matching Liquid's `sha2` filter.
///
/// In both modes a user id that is already 64 hex characters (Braze's Currents "Hash"
/// transformation wrote SHA-256 of the id) is taken as that digest's first 16 bytes,
/// and a user id of `"[REDACTED]"` (or an empty one) yields no key, never a key shared
/// by every such recipient.
///
/// The host key is held inside the HMAC state and never printed: `Debug` shows
/// only the mode.
///
/// ```
/// use dynopt::pii::{Pseudonymizer, RecipientKey};
/// let p = Pseudonymizer::keyed(b"secret_key");
/// // HMAC-SHA256("secret_key", "hey") = 8df897f8da3d7992fe57c8dbc6f27578cfbf2dcc4d0fbb4000b8c924841d508e
/// let liquid = "8df897f8da3d7992fe57c8dbc6f27578cfbf2dcc4d0fbb4000b8c924841d508e";
/// assert_eq!(p.key_for("hey"), Some(RecipientKey::from_hex(liquid)?));
/// assert_eq!(p.key_for("[REDACTED]"), None);
/// assert_eq!(format!("{p:?}"), "Pseudonymizer(keyed, key: [REDACTED])");
/// # Ok::<(), dynopt::pii::InvalidRecipientKey>(())
/// ```
#[derive(Clone)]
pub struct Pseudonymizer {
    mode: Mode,
}

#[derive(Clone)]
enum Mode {
    /// The HMAC state right after keying; cloned per user id.
    Keyed(Box<Hmac<Sha256>>),
    Plain,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mode {
            Mode::Keyed(_) => f.write_str("Pseudonymizer(keyed, key: [REDACTED])"),
            Mode::Plain => f.write_str("Pseudonymizer(plain)"),
        }
    }
}

/// The host key given in hex is not an even number of hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a host key in hex must be a non-empty, even number of hex digits")]
pub struct InvalidHostKey;

impl Pseudonymizer {
    /// Keyed mode with the host's secret as bytes (any length; for a Liquid
    /// `hmac_sha256_hex: 'secret'` filter, the UTF-8 bytes of `secret`).
    pub fn keyed(key: &[u8]) -> Pseudonymizer {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .expect("HMAC accepts keys of any length");
        Pseudonymizer {
            mode: Mode::Keyed(Box::new(mac)),
        }
    }

    /// Keyed mode with the key's bytes given as hex digits (as the `sanitize`
    /// example's `--key-hex` takes them).
    pub fn keyed_hex(hex: &str) -> Result<Pseudonymizer, InvalidHostKey> {
        let b = hex.trim().as_bytes();
        if b.is_empty() || !b.len().is_multiple_of(2) {
            return Err(InvalidHostKey);
        }
        let mut key = vec![0u8; b.len() / 2];
        if decode_hex_into(b, &mut key).is_none() {
            key.fill(0);
            return Err(InvalidHostKey);
        }
        let p = Pseudonymizer::keyed(&key);
        key.fill(0);
        Ok(p)
    }

    /// Plain mode: SHA-256 without a secret (anyone who knows a user id can
    /// compute its key; prefer [`Pseudonymizer::keyed`]).
    pub const fn plain() -> Pseudonymizer {
        Pseudonymizer { mode: Mode::Plain }
    }

    /// Whether this pseudonymizer uses a host key.
    pub const fn is_keyed(&self) -> bool {
        matches!(self.mode, Mode::Keyed(_))
    }

    /// The recipient key of a Braze user id, or `None` for `"[REDACTED]"` and the
    /// empty string.
    pub fn key_for(&self, user_id: &str) -> Option<RecipientKey> {
        if user_id.is_empty() || user_id == REDACTED {
            return None;
        }
        if user_id.len() == 64
            && user_id.bytes().all(|c| c.is_ascii_hexdigit())
            && let Ok(k) = RecipientKey::from_hex(user_id)
        {
            return Some(k);
        }
        let mut out = [0u8; 16];
        match &self.mode {
            Mode::Keyed(mac) => {
                let mut mac = (**mac).clone();
                mac.update(user_id.as_bytes());
                let digest = mac.finalize().into_bytes();
                out.copy_from_slice(&digest[..16]);
            }
            Mode::Plain => {
                let digest = Sha256::digest(user_id.as_bytes());
                out.copy_from_slice(&digest[..16]);
            }
        }
        Some(RecipientKey(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liquid_test_vector() {
        let want = RecipientKey::from_hex(
            "8df897f8da3d7992fe57c8dbc6f27578cfbf2dcc4d0fbb4000b8c924841d508e",
        )
        .expect("valid hex");
        assert_eq!(
            Pseudonymizer::keyed(b"secret_key").key_for("hey"),
            Some(want)
        );
        // "secret_key" in hex.
        let hex = "7365637265745f6b6579";
        let p = Pseudonymizer::keyed_hex(hex).expect("valid hex key");
        assert_eq!(p.key_for("hey"), Some(want));
        assert_eq!(
            p.key_for("hey").map(|k| k.to_string()).as_deref(),
            Some("8df897f8da3d7992fe57c8dbc6f27578")
        );
    }

    #[test]
    fn plain_mode_is_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (FIPS 180-2).
        let want = RecipientKey::from_hex("ba7816bf8f01cfea414140de5dae2223").expect("hex");
        assert_eq!(Pseudonymizer::plain().key_for("abc"), Some(want));
    }

    #[test]
    fn hashed_redacted_and_empty_ids() {
        let digest = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        let want = RecipientKey::from_hex("ba7816bf8f01cfea414140de5dae2223").expect("hex");
        for p in [Pseudonymizer::plain(), Pseudonymizer::keyed(b"k")] {
            assert_eq!(p.key_for(digest), Some(want));
            assert_eq!(p.key_for(REDACTED), None);
            assert_eq!(p.key_for(""), None);
        }
        assert_ne!(
            Pseudonymizer::keyed(b"k").key_for("abc"),
            Pseudonymizer::keyed(b"l").key_for("abc")
        );
    }

    #[test]
    fn bad_hex_keys() {
        for bad in ["", "abc", "zz", "0g"] {
            assert_eq!(Pseudonymizer::keyed_hex(bad).err(), Some(InvalidHostKey));
        }
        let p = Pseudonymizer::keyed_hex("00ff").expect("valid");
        assert!(p.is_keyed());
        assert!(!format!("{p:?}").contains("00ff"));
    }
}
