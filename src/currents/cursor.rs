//! The cursor over decompressed block data: Avro primitives (zig-zag varints,
//! length-prefixed strings and bytes, booleans, union branches, array blocks),
//! each bounded by the bytes remaining, and the window of validated UTF-8 that
//! lets strings be sliced without validating each one alone.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::error::{DecodeError, DecodeErrorKind};
use crate::wire::{self, VarintError};

/// A decoded value on its way into a typed field.
pub(crate) enum Val<'a> {
    Str(&'a str),
    Long(i64),
    Time(DateTime<Utc>),
    Bool(bool),
    List(Vec<Cow<'a, str>>),
    /// The encoded bytes of a value (custom attribute arrays).
    Raw(&'a [u8]),
}

/// The low-level failure inside a record; converted to a [`DecodeError`] with
/// the offset and field name by the caller.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Code {
    Truncated,
    /// A length is negative (`negative`) or exceeds the `remaining` bytes.
    Length {
        negative: bool,
        remaining: usize,
    },
    Utf8,
    Bool,
    Varint,
    IntRange,
    TimeRange,
    Union {
        n: usize,
    },
    Enum {
        n: usize,
    },
    Depth,
    Key,
}

impl Code {
    pub(crate) fn into_error(self) -> DecodeError {
        use DecodeErrorKind as K;
        match self {
            Code::Truncated => DecodeError::new(K::Truncated),
            // Details name the kind and the limits, never a value read from
            // the record (a misread length or index may be a personal number).
            Code::Length {
                negative,
                remaining,
            } => DecodeError::new(K::LengthOutOfRange).with_detail(if negative {
                String::from("negative length")
            } else {
                format!("length exceeds the {remaining} bytes remaining")
            }),
            Code::Utf8 => DecodeError::new(K::InvalidUtf8),
            Code::Bool => DecodeError::new(K::InvalidBool).with_detail("byte is neither 0 nor 1"),
            Code::Varint => DecodeError::new(K::IntOutOfRange)
                .with_detail("varint longer than 10 bytes or beyond 64 bits"),
            Code::IntRange => {
                DecodeError::new(K::IntOutOfRange).with_detail("value is outside the int range")
            }
            Code::TimeRange => DecodeError::new(K::IntOutOfRange)
                .with_detail("seconds value is outside the time range"),
            Code::Union { n } => DecodeError::new(K::BadUnionIndex)
                .with_detail(format!("branch index outside a {n}-branch union")),
            Code::Enum { n } => DecodeError::new(K::BadUnionIndex)
                .with_detail(format!("symbol index outside a {n}-symbol enum")),
            Code::Depth => DecodeError::new(K::TooDeep),
            Code::Key => DecodeError::new(K::InvalidRecipientKey),
        }
    }
}

/// A failure inside a record: what, where (position in the block data of the
/// start of the failing field's value) and which writer field.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fail {
    pub(crate) code: Code,
    pub(crate) pos: usize,
    pub(crate) field: Option<usize>,
}

/// A cursor over block data. Reads never advance past the end, and a failed
/// read of a primitive leaves the position where the primitive started.
///
/// Strings are validated through a window of already-validated UTF-8 (`valid`,
/// starting at `valid_start` in `buf`): a run of bytes that looks like UTF-8 is
/// validated at once with SIMD (`simdutf8`), which is several times faster than
/// validating each short string, and slicing a `&str` at char boundaries needs
/// no unsafe code. A string starts right after its length varint, whose last
/// byte is ASCII, so a valid string lies inside the run scanned from its first
/// byte; anything else falls back to validating the string alone.
pub(crate) struct Cur<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
    valid: &'a str,
    valid_start: usize,
}

impl<'a> Cur<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cur {
            buf,
            pos: 0,
            valid: "",
            valid_start: 0,
        }
    }

    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Self {
        Cur {
            buf,
            pos,
            valid: "",
            valid_start: 0,
        }
    }

    /// The UTF-8 string at `s..e` of `buf`, from the validated window when possible.
    #[inline(always)]
    fn utf8(&mut self, s: usize, e: usize) -> Option<&'a str> {
        let off = s.wrapping_sub(self.valid_start);
        let end = e.wrapping_sub(self.valid_start);
        let v = self.valid;
        if end <= v.len() && off <= end && v.is_char_boundary(off) && v.is_char_boundary(end) {
            // Both ends checked: the slice cannot fail.
            return Some(&v[off..end]);
        }
        self.refill(s, e)
    }

    #[inline(never)]
    fn refill(&mut self, s: usize, e: usize) -> Option<&'a str> {
        let rest = &self.buf[s..];
        let run = utf8_run(rest);
        if run >= e - s {
            // Validate the whole run at once (long runs are several times
            // faster than many short strings) and slice strings out of it.
            if let Ok(window) = simdutf8::basic::from_utf8(&rest[..run]) {
                self.valid = window;
                self.valid_start = s;
                return window.get(..e - s);
            }
        }
        std::str::from_utf8(&self.buf[s..e]).ok()
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// A zig-zag varint `long`.
    #[inline(always)]
    pub(crate) fn long(&mut self) -> Result<i64, Code> {
        let Some(&b) = self.buf.get(self.pos) else {
            return Err(Code::Truncated);
        };
        if b < 0x80 {
            self.pos += 1;
            return Ok(((b >> 1) as i64) ^ -((b & 1) as i64));
        }
        self.long_slow()
    }

    #[inline(never)]
    fn long_slow(&mut self) -> Result<i64, Code> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match wire::read_long(rest) {
            Ok((v, used)) => {
                self.pos += used;
                Ok(v)
            }
            Err(VarintError::Truncated) => Err(Code::Truncated),
            Err(VarintError::Overlong) => Err(Code::Varint),
        }
    }

    /// A zig-zag varint `int` (within the 32-bit range).
    #[inline(always)]
    pub(crate) fn int(&mut self) -> Result<i64, Code> {
        let start = self.pos;
        let v = self.long()?;
        if i32::try_from(v).is_err() {
            self.pos = start;
            return Err(Code::IntRange);
        }
        Ok(v)
    }

    #[inline(always)]
    pub(crate) fn boolean(&mut self) -> Result<bool, Code> {
        match self.buf.get(self.pos) {
            Some(0) => {
                self.pos += 1;
                Ok(false)
            }
            Some(1) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Err(Code::Bool),
            None => Err(Code::Truncated),
        }
    }

    /// A length prefix, checked against the bytes remaining after it.
    #[inline(always)]
    fn len(&mut self) -> Result<usize, Code> {
        let start = self.pos;
        let len = self.long()?;
        let remaining = self.remaining();
        match usize::try_from(len) {
            Ok(n) if n <= remaining => Ok(n),
            _ => {
                self.pos = start;
                Err(Code::Length {
                    negative: len < 0,
                    remaining,
                })
            }
        }
    }

    #[inline(always)]
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Code> {
        let n = self.len()?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline(always)]
    pub(crate) fn str(&mut self) -> Result<&'a str, Code> {
        let start = self.pos;
        let n = self.len()?;
        let s = self.pos;
        match self.utf8(s, s + n) {
            Some(v) => {
                self.pos = s + n;
                Ok(v)
            }
            None => {
                self.pos = start;
                Err(Code::Utf8)
            }
        }
    }

    /// An `array<string>`, strings borrowed.
    pub(crate) fn str_list(&mut self) -> Result<Vec<Cow<'a, str>>, Code> {
        let mut out = Vec::new();
        loop {
            let (n, _) = self.block_count(false)?;
            if n == 0 {
                return Ok(out);
            }
            // `n` is bounded by the bytes remaining; keep the reservation modest anyway.
            out.reserve(n.min(64));
            for _ in 0..n {
                out.push(Cow::Borrowed(self.str()?));
            }
        }
    }

    /// The branch of a `["null", T]` union: `false` for null, `true` for `T`.
    #[inline(always)]
    pub(crate) fn present(&mut self) -> Result<bool, Code> {
        match self.buf.get(self.pos) {
            Some(0) => {
                self.pos += 1;
                Ok(false)
            }
            Some(2) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => {
                // Read the varint only to report an overlong one as such.
                let start = self.pos;
                self.long()?;
                self.pos = start;
                Err(Code::Union { n: 2 })
            }
            None => Err(Code::Truncated),
        }
    }

    /// An `int` of UNIX seconds.
    #[inline(always)]
    pub(crate) fn int_time(&mut self) -> Result<DateTime<Utc>, Code> {
        let v = self.int()?;
        time_from(v)
    }

    #[inline]
    pub(crate) fn advance(&mut self, n: usize) -> Result<(), Code> {
        if n > self.remaining() {
            return Err(Code::Truncated);
        }
        self.pos += n;
        Ok(())
    }

    /// The item count of the next array or map block (0 ends the value).
    /// Negative counts are followed by the block's byte size, which is checked
    /// and returned.
    #[inline]
    pub(crate) fn block_count(
        &mut self,
        zero_size_items: bool,
    ) -> Result<(usize, Option<usize>), Code> {
        let start = self.pos;
        let c = self.long()?;
        let (count, size) = if c < 0 {
            let Some(abs) = c.checked_neg() else {
                self.pos = start;
                return Err(Code::Length {
                    negative: c < 0,
                    remaining: self.remaining(),
                });
            };
            let size = self.len()?;
            (abs, Some(size))
        } else {
            (c, None)
        };
        let remaining = self.remaining();
        match usize::try_from(count) {
            // Every item that is not zero-size takes at least one byte.
            Ok(n) if zero_size_items || n <= remaining => Ok((n, size)),
            _ => {
                self.pos = start;
                Err(Code::Length {
                    negative: count < 0,
                    remaining,
                })
            }
        }
    }
}

/// The length of the prefix of `b` that looks like UTF-8: ASCII 16 bytes at a
/// time, multi-byte characters by their lead and continuation bytes. It only
/// chooses where a validation window ends: `str::from_utf8` decides validity.
#[inline]
fn utf8_run(b: &[u8]) -> usize {
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let word = |c: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        u64::from_le_bytes(w)
    };
    let mut i = 0;
    loop {
        while let Some(c) = b.get(i..i + 32) {
            if (word(&c[..8]) | word(&c[8..16]) | word(&c[16..24]) | word(&c[24..])) & HIGH != 0 {
                break;
            }
            i += 32;
        }
        while let Some(c) = b.get(i..i + 8) {
            let x = word(c) & HIGH;
            if x != 0 {
                i += (x.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        let Some(&lead) = b.get(i) else {
            return i;
        };
        if lead < 0x80 {
            i += 1;
            continue;
        }
        let width = match lead {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return i,
        };
        match b.get(i + 1..i + width) {
            Some(cont) if cont.iter().all(|c| (0x80..0xc0).contains(c)) => i += width,
            _ => return i,
        }
    }
}

pub(crate) fn time_from(secs: i64) -> Result<DateTime<Utc>, Code> {
    DateTime::from_timestamp(secs, 0).ok_or(Code::TimeRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currents::writer::encode_long;

    #[test]
    fn varints_round_trip_and_reject_overlong() {
        let values = [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            -300,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
        ];
        let mut buf = Vec::new();
        for v in values {
            encode_long(v, &mut buf);
        }
        let mut cur = Cur::new(&buf);
        for v in values {
            assert_eq!(cur.long().ok(), Some(v));
        }
        assert_eq!(cur.remaining(), 0);
        assert!(matches!(cur.long(), Err(Code::Truncated)));

        // 11 bytes of continuation: too long.
        let long = [0xffu8; 11];
        assert!(matches!(Cur::new(&long).long(), Err(Code::Varint)));
        // Tenth byte carrying more than one bit overflows 64 bits.
        let mut over = vec![0xffu8; 9];
        over.push(0x02);
        assert!(matches!(Cur::new(&over).long(), Err(Code::Varint)));
        // Int range.
        let mut b = Vec::new();
        encode_long(i64::from(i32::MAX) + 1, &mut b);
        let mut c = Cur::new(&b);
        assert!(matches!(c.int(), Err(Code::IntRange)));
        assert_eq!(c.pos, 0, "failed reads do not advance");
    }

    #[test]
    fn strings_are_bounded_and_validated() {
        let mut b = Vec::new();
        encode_long(1 << 40, &mut b);
        b.extend_from_slice(b"abc");
        assert!(matches!(
            Cur::new(&b).str(),
            Err(Code::Length {
                negative: false,
                remaining: 3
            })
        ));
        let mut b = Vec::new();
        encode_long(2, &mut b);
        b.extend_from_slice(&[0xc3, 0x28]);
        assert!(matches!(Cur::new(&b).str(), Err(Code::Utf8)));
        assert!(matches!(Cur::new(&[2]).boolean(), Err(Code::Bool)));
    }

    #[test]
    fn utf8_window_slices_only_valid_strings() {
        // Strings separated by length varints >= 64 (non-ASCII bytes), a
        // non-ASCII string, an empty string and finally an invalid one.
        let long = "x".repeat(100);
        let parts: [&[u8]; 6] = [
            b"abc",
            long.as_bytes(),
            "Zürich – ✉".as_bytes(),
            b"",
            b"tail",
            &[b'o', b'k', 0xe2, 0x82],
        ];
        let mut b = Vec::new();
        for p in parts {
            encode_long(p.len() as i64, &mut b);
            b.extend_from_slice(p);
        }
        let mut c = Cur::new(&b);
        assert_eq!(c.str().ok(), Some("abc"));
        assert_eq!(c.str().ok(), Some(long.as_str()));
        assert_eq!(c.str().ok(), Some("Zürich – ✉"));
        assert_eq!(c.str().ok(), Some(""));
        assert_eq!(c.str().ok(), Some("tail"));
        let before = c.pos;
        assert!(matches!(c.str(), Err(Code::Utf8)));
        assert_eq!(c.pos, before);
        assert_eq!(utf8_run(b"0123456789abcdef0123\xff"), 20);
        assert_eq!(utf8_run("0123456789abcdef_é_–_🎉!".as_bytes()), 29);
        assert_eq!(utf8_run(&[b'a', 0xc3, 0x28]), 1);
        assert_eq!(utf8_run(&[b'a', 0xe2, 0x82]), 1);
        assert_eq!(utf8_run(&[0x80]), 0);
        assert_eq!(utf8_run(b""), 0);
    }
}
