//! Pseudonymous recipient keys.

use std::fmt;
use std::str::FromStr;

use crate::wire::{decode_hex_into, hex_val};

/// A 16-byte pseudonymous recipient key: the first 16 bytes of
/// HMAC-SHA256(host key, Braze user id), or of SHA-256(user id) in plain mode.
///
/// It is a fixed-size value, printed and serialised as 32 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecipientKey(pub [u8; 16]);

impl RecipientKey {
    /// The key's bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses 32 hex characters, or the first 32 of a 64-hex HMAC/SHA-256 digest
    /// (as Braze Liquid's `hmac_sha256_hex` prints it). Case-insensitive.
    pub fn from_hex(s: &str) -> Result<RecipientKey, InvalidRecipientKey> {
        let b = s.as_bytes();
        if b.len() != 32 && b.len() != 64 {
            return Err(InvalidRecipientKey);
        }
        let mut out = [0u8; 16];
        decode_hex_into(&b[..32], &mut out).ok_or(InvalidRecipientKey)?;
        if b.len() == 64 && !b[32..].iter().all(|c| hex_val(*c).is_some()) {
            return Err(InvalidRecipientKey);
        }
        Ok(RecipientKey(out))
    }

    /// Writes the 32 lowercase hex characters into a stack buffer.
    pub fn to_hex(&self) -> [u8; 32] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, byte) in self.0.iter().enumerate() {
            out[2 * i] = HEX[(byte >> 4) as usize];
            out[2 * i + 1] = HEX[(byte & 15) as usize];
        }
        out
    }
}

/// The text is not 32 (or 64) hex characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a recipient key is 32 hex characters (or a 64-hex digest to truncate)")]
pub struct InvalidRecipientKey;

impl fmt::Display for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        // The buffer holds only ASCII hex digits.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientKey({self})")
    }
}

impl FromStr for RecipientKey {
    type Err = InvalidRecipientKey;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecipientKey::from_hex(s)
    }
}

impl serde::Serialize for RecipientKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RecipientKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s.len() != 32 {
            return Err(serde::de::Error::custom(InvalidRecipientKey));
        }
        RecipientKey::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let k = RecipientKey([
            0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xff,
        ]);
        let s = k.to_string();
        assert_eq!(s, "deadbeef000102030405060708090aff");
        assert_eq!(RecipientKey::from_hex(&s), Ok(k));
        assert_eq!(RecipientKey::from_hex(&s.to_uppercase()), Ok(k));
        assert!(RecipientKey::from_hex("xyz").is_err());
        assert!(RecipientKey::from_hex(&"g".repeat(32)).is_err());
        let json = serde_json::to_string(&k).expect("serialises");
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(
            serde_json::from_str::<RecipientKey>(&json).expect("parses"),
            k
        );
    }
}
