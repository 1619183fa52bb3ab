//! What personal data looks like in a piece of text: the byte-class summary
//! that gates the checks, at-signs, escapes, nested URLs, base64 layers and IP
//! addresses.

use crate::wire::{is_escape, percent_decode};

/// Byte classes of [`Summary`].
pub(super) const C_AT: u16 = 1;
pub(super) const C_PCT: u16 = 2;
pub(super) const C_BRACKET: u16 = 4;
pub(super) const C_HIGH: u16 = 8;
pub(super) const C_UPPER: u16 = 16;
pub(super) const C_LOWER: u16 = 32;
pub(super) const C_SLASH: u16 = 64;
pub(super) const C_DIGIT: u16 = 128;
pub(super) const C_DOT: u16 = 256;
pub(super) const C_COLON: u16 = 512;

/// The class bits of each byte.
pub(super) const CLASS: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c.is_ascii_uppercase() {
            C_UPPER
        } else if c.is_ascii_lowercase() {
            C_LOWER
        } else if c.is_ascii_digit() {
            C_DIGIT
        } else if c >= 0x80 {
            C_HIGH
        } else {
            match c {
                b'@' => C_AT,
                b'%' => C_PCT,
                b'(' | b'[' => C_BRACKET,
                b'/' => C_SLASH,
                b'.' => C_DOT,
                b':' => C_COLON,
                _ => 0,
            }
        };
        i += 1;
    }
    t
};

/// What one pass over a text tells about it: which checks can possibly hold.
/// Each check below is skipped only when its own scan could not succeed.
#[derive(Clone, Copy)]
pub(super) struct Summary {
    flags: u16,
    digits: usize,
    dots: usize,
    colons: usize,
    len: usize,
}

impl Summary {
    pub(super) fn of(s: &str) -> Self {
        let (mut flags, mut digits, mut dots, mut colons) = (0u16, 0usize, 0usize, 0usize);
        for &b in s.as_bytes() {
            let c = CLASS[usize::from(b)];
            flags |= c;
            digits += usize::from(c & C_DIGIT != 0);
            dots += usize::from(c & C_DOT != 0);
            colons += usize::from(c & C_COLON != 0);
        }
        Summary {
            flags,
            digits,
            dots,
            colons,
            len: s.len(),
        }
    }

    pub(super) fn any(&self, flags: u16) -> bool {
        self.flags & flags != 0
    }

    /// [`has_at_sign`] can hold only with an `@`, a non-ASCII byte or a bracket.
    pub(super) fn may_have_at_sign(&self) -> bool {
        self.any(C_AT | C_HIGH | C_BRACKET)
    }

    /// [`has_phone`] needs at least [`PHONE_MIN_DIGITS`] digits.
    pub(super) fn may_have_phone(&self) -> bool {
        self.digits >= PHONE_MIN_DIGITS
    }

    /// [`has_ip`] needs three dots or two colons.
    pub(super) fn may_have_ip(&self) -> bool {
        self.dots >= 3 || self.colons >= 2
    }

    /// [`base64_text`] needs eight bytes with an ASCII letter.
    pub(super) fn may_be_base64(&self) -> bool {
        self.len >= 8 && self.flags & (C_UPPER | C_LOWER) != 0
    }
}

/// Whether `b` holds a `%` (`memchr`), and whether it holds an ASCII letter
/// (nearly every text has one near its start).
pub(super) fn pct_and_letters(b: &[u8]) -> (bool, bool) {
    let pct = memchr::memchr(b'%', b).is_some();
    let letter = b.iter().any(|&c| (c | 0x20).wrapping_sub(b'a') < 26);
    (pct, letter)
}

/// Whether `s` holds a `%XX` escape.
pub(super) fn has_escape(s: &str) -> bool {
    let b = s.as_bytes();
    memchr::memchr_iter(b'%', b).any(|i| is_escape(b, i))
}

/// An `@`, a confusable one (full-width `＠`, small `﹫`), or `(at)` / `[at]`.
pub(super) fn has_at_sign(s: &str) -> bool {
    let b = s.as_bytes();
    if b.contains(&b'@') {
        return true;
    }
    if !s.is_ascii() && (s.contains('\u{FF20}') || s.contains('\u{FE6B}')) {
        return true;
    }
    (b.contains(&b'(') || b.contains(&b'[')) && (contains_ci(b, b"(at)") || contains_ci(b, b"[at]"))
}

/// Whether `s` looks like an absolute URL or a scheme-relative one.
pub(super) fn looks_like_url(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with("//")
        || t.find("://").is_some_and(|i| {
            i > 0
                && t[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        })
}

/// The next decoding layer of `s`: percent-decoded when it holds an escape, else
/// base64 (standard or URL-safe, or the segments of a JWT) when that decodes to
/// text; `None` when `s` is not encoded.
pub(super) fn next_layer(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if has_escape(s) {
        let d = percent_decode(b);
        return Some(String::from_utf8_lossy(&d).into_owned());
    }
    base64_text(s)
}

/// The bytes of the base64 alphabets (standard and URL-safe).
pub(super) const B64_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_');
        i += 1;
    }
    t
};

/// Whether a byte is in the base64 alphabets (standard or URL-safe).
pub(super) fn is_b64(c: u8) -> bool {
    B64_BYTES[usize::from(c)]
}

/// The text of a base64 token or of a JWT's segments, when at least one decodes
/// to text (printable, at least four characters). Tokens shorter than eight
/// characters or without an ASCII letter are not read (base64 of text may have
/// a single case: `ZDB0MG00Y20=` is `d0t0m4cm`); a token whose first six
/// decoded bytes cannot start text is dropped after decoding those.
pub(super) fn base64_text(s: &str) -> Option<String> {
    if s.len() < 8 {
        return None;
    }
    let mut letters = false;
    let mut out: Option<String> = None;
    let mut stack = [0u8; 192];
    // Tokens of the alphabet (in free text, between spaces and punctuation),
    // and the segments of a JWT. Every non-ASCII byte separates, as its
    // character would.
    for seg in s.as_bytes().split(|&c| !is_b64(c)) {
        if seg.len() < 8 {
            continue;
        }
        letters = letters || pct_and_letters(seg).1;
        if !head_may_be_text(seg) {
            continue;
        }
        // Decoded on the stack; only a long token needs the heap.
        let need = seg.len() / 4 * 3 + 3;
        let mut heap = Vec::new();
        let dst: &mut [u8] = if need <= stack.len() {
            &mut stack
        } else {
            heap.resize(need, 0);
            &mut heap
        };
        let n = b64_decode(seg, dst);
        let text = &dst[..n];
        if n >= 4
            && let Ok(text) = std::str::from_utf8(text)
            && text
                .chars()
                .all(|c| !c.is_control() || c == '\n' || c == '\t')
        {
            let o = out.get_or_insert_with(String::new);
            if !o.is_empty() {
                o.push(' ');
            }
            o.push_str(text);
        }
    }
    out.filter(|_| letters)
}

/// Whether the first six bytes a token (at least eight characters) decodes to
/// may start text: no ASCII control but tab and newline, no byte that is invalid
/// UTF-8 whatever follows. A `false` means the whole token is not text.
pub(super) fn head_may_be_text(seg: &[u8]) -> bool {
    let mut head = [0u8; 6];
    let n = b64_decode(seg.get(..8).unwrap_or(seg), &mut head);
    let head = &head[..n];
    if head
        .iter()
        .any(|&b| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f)
    {
        return false;
    }
    if head.is_ascii() {
        return true;
    }
    // An error with a length is invalid whatever bytes follow; one without is a
    // sequence cut short by the end of the head.
    std::str::from_utf8(head).map_or_else(|e| e.error_len().is_none(), |_| true)
}

/// Decodes unpadded base64 (either alphabet; `t` holds only alphabet bytes)
/// into `out` (at least `t.len() / 4 * 3 + 3` bytes); returns the length.
pub(super) fn b64_decode(t: &[u8], out: &mut [u8]) -> usize {
    pub(super) fn val(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' | b'-' => 62,
            _ => 63,
        }
    }
    let mut n = 0;
    for chunk in t.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c) << (18 - 6 * i);
        }
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        let take = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => 0,
        };
        for &b in &bytes[..take] {
            if let Some(slot) = out.get_mut(n) {
                *slot = b;
                n += 1;
            }
        }
    }
    n
}

/// Whether `s` holds an IPv4 or IPv6 address (a token of hex digits, `.` and
/// `:` that parses as one).
pub(crate) fn has_ip(s: &str) -> bool {
    let b = s.as_bytes();
    let dots = b.iter().filter(|&&c| c == b'.').count();
    let colons = b.iter().filter(|&&c| c == b':').count();
    if dots < 3 && colons < 2 {
        return false;
    }
    s.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
        .filter(|t| t.len() >= 3)
        .any(|t| {
            let t = t.trim_matches('.');
            t.parse::<std::net::Ipv4Addr>().is_ok()
                || (t.len() >= 6
                    && t.split(':').filter(|g| !g.is_empty()).count() >= 2
                    && t.parse::<std::net::Ipv6Addr>().is_ok())
                // An IPv4 address inside a longer dotted run (`v1.10.0.0.1`).
                || t.split(':').any(|p| {
                    let parts: Vec<&str> = p.split('.').collect();
                    parts.len() >= 4
                        && parts
                            .windows(4)
                            .any(|w| w.join(".").parse::<std::net::Ipv4Addr>().is_ok())
                })
        })
}

/// Whether `hay` contains `needle`, ASCII case-insensitively.
pub(crate) fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if hay.len() < needle.len() {
        return false;
    }
    let f = first.to_ascii_lowercase();
    let last_start = hay.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        if hay[i].to_ascii_lowercase() == f
            && hay[i + 1..i + needle.len()].eq_ignore_ascii_case(rest)
        {
            return true;
        }
        i += 1;
    }
    false
}

/// How many decoding steps (percent-decoding, base64, a JWT's payload) a value
/// goes through before the checks give up; a value still encoded after that
/// many steps is treated as personal.
pub(super) const DECODE_ROUNDS: usize = 4;

/// The number of digits that makes a run of digits phone-number-like.
pub const PHONE_MIN_DIGITS: usize = 7;
