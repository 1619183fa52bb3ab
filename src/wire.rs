//! The wire primitives every parser and writer in the crate shares: Avro
//! zig-zag varints, length-prefixed strings, hex digits and percent-decoding.
//! One place each, so that a fix to one reaches every caller.

/// The value of one hex digit (either case).
pub(crate) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
