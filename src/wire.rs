//! The wire primitives every parser and writer in the crate shares: Avro
//! zig-zag varints and length-prefixed bytes, fixed-width little-endian words,
//! hex digits and percent-decoding.
//! One place each, so that a fix to one reaches every caller.

use std::borrow::Cow;

/// Appends a zig-zag varint `long` (also the encoding of `int`, enum indices,
/// union branch indices, lengths and block counts).
#[inline]
pub(crate) fn write_long(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends Avro `bytes` (or a `string`'s UTF-8): the length as a `long`, then the bytes.
#[inline]
pub(crate) fn write_bytes(b: &[u8], out: &mut Vec<u8>) {
    // A slice's length always fits in i64 on supported targets.
    write_long(i64::try_from(b.len()).unwrap_or(i64::MAX), out);
    out.extend_from_slice(b);
}

/// Why a varint could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The bytes end inside the varint.
    Truncated,
    /// Longer than 10 bytes, or beyond 64 bits.
    Overlong,
}

/// Reads one zig-zag varint `long` from the front of `b`: the value and the
/// number of bytes it took.
#[inline]
pub(crate) fn read_long(b: &[u8]) -> Result<(i64, usize), VarintError> {
    let mut v: u64 = 0;
    let mut shift = 0u32;
    let mut p = 0;
    loop {
        let Some(&byte) = b.get(p) else {
            return Err(VarintError::Truncated);
        };
        p += 1;
        if shift == 63 && byte > 1 {
            // The tenth byte may only carry the last bit.
            return Err(VarintError::Overlong);
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok((((v >> 1) as i64) ^ -((v & 1) as i64), p));
        }
        shift += 7;
        if shift > 63 {
            return Err(VarintError::Overlong);
        }
    }
}

/// The little-endian `u32` at `b[i..i + 4]` (the caller has checked the length).
pub(crate) fn u32_le(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// The little-endian `u64` at `b[i..i + 8]` (the caller has checked the length).
pub(crate) fn u64_le(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

/// The value of one hex digit (either case).
#[inline]
pub(crate) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The byte of a pair of hex digits (either case).
#[inline]
pub(crate) fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    Some((hex_val(hi)? << 4) | hex_val(lo)?)
}

/// Decodes pairs of hex digits into `out`, one byte per pair, stopping at the
/// shorter of the two; `None` when a digit is not hex.
pub(crate) fn decode_hex_into(hex: &[u8], out: &mut [u8]) -> Option<()> {
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *o = hex_byte(pair[0], pair[1])?;
    }
    Some(())
}

/// Whether `b[i..]` starts with a `%XX` escape.
#[inline]
pub(crate) fn is_escape(b: &[u8], i: usize) -> bool {
    b.get(i) == Some(&b'%')
        && b.get(i + 1..i + 3)
            .is_some_and(|p| hex_byte(p[0], p[1]).is_some())
}

/// One round of form-style percent-decoding: `%XX` to its byte and `+` to a
/// space; an invalid escape stays as written. Borrows when there is nothing to
/// decode.
pub(crate) fn percent_decode(s: &[u8]) -> Cow<'_, [u8]> {
    if !s.iter().any(|&c| c == b'%' || c == b'+') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if let Some(byte) = s.get(i + 1..i + 3).and_then(|p| hex_byte(p[0], p[1])) => {
                out.push(byte);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overlong() {
        for v in [0i64, 1, -1, 63, -64, 64, 300, -300, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            write_long(v, &mut b);
            assert_eq!(read_long(&b), Ok((v, b.len())));
            assert_eq!(read_long(&b[..b.len() - 1]), Err(VarintError::Truncated));
        }
        assert_eq!(read_long(&[0xff; 11]), Err(VarintError::Overlong));
        let mut over = vec![0xffu8; 9];
        over.push(0x02);
        assert_eq!(read_long(&over), Err(VarintError::Overlong));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(&*percent_decode(b"a%40b+c"), b"a@b c");
        assert_eq!(&*percent_decode(b"100%"), b"100%");
        assert_eq!(&*percent_decode(b"%zz%4"), b"%zz%4");
        assert!(matches!(percent_decode(b"plain"), Cow::Borrowed(_)));
        assert_eq!(&*percent_decode(b"%2540"), b"%40");
    }
}
