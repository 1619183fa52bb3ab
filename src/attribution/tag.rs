//! The variant tag carried in clicked links: `dov=<variant>` or
//! `dov=<variant>.<serve time in UNIX seconds>`.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::vocab::VariantId;
use crate::wire::percent_decode;

/// The default name of the tag's query parameter.
pub const DEFAULT_TAG_PARAM: &str = "dov";

/// A variant tag: the variant served and, optionally, when it was served.
///
/// Its [`Display`](fmt::Display) is the parameter value the email template
/// writes into links (`3` or `3.1700000000`); [`parse_tag`] reads it back.
///
/// ```
/// use chrono::DateTime;
/// use dynopt::attribution::{parse_tag, Tag};
/// use dynopt::VariantId;
///
/// let served = DateTime::from_timestamp(1_700_000_000, 0).expect("in range");
/// let tag = Tag { variant: VariantId(3), served_at: Some(served) };
/// assert_eq!(tag.to_string(), "3.1700000000");
/// let url = format!("https://example.com/sale?utm_source=braze&dov={tag}&lid=abc#top");
/// assert_eq!(parse_tag(&url, "dov"), Ok(tag));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The variant served.
    pub variant: VariantId,
    /// When it was served (second precision), when the template wrote it.
    pub served_at: Option<DateTime<Utc>>,
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.served_at {
            Some(t) => write!(f, "{}.{}", self.variant.0, t.timestamp()),
            None => write!(f, "{}", self.variant.0),
        }
    }
}

/// Why a URL yields no tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// The URL has no parameter of that name.
    #[error("the URL carries no variant tag")]
    Missing,
    /// The parameter is present but is not `<variant>` or `<variant>.<seconds>`.
    #[error("the variant tag is malformed")]
    Malformed,
    /// The parameter appears more than once with different values.
    #[error("the URL carries conflicting variant tags")]
    Conflicting,
}

/// Reads the variant tag named `param` from a URL.
///
/// The query (between `?` and `#`) is searched first; when it has no such
/// parameter, a query inside the fragment (`#/page?dov=3`, as single-page
/// apps write it) is searched. Parameters may come in any order, separated by
/// `&` or `;` (so an HTML-escaped `&amp;` works too); names and values may be
/// percent-encoded (`+` is a space); the name matches ASCII
/// case-insensitively. Other parameters (`utm_*`, `lid`, ...) are ignored.
/// Repeating the tag with the same value is fine; with different values it is
/// [`TagError::Conflicting`]. Never panics, whatever the input.
pub fn parse_tag(url: &str, param: &str) -> Result<Tag, TagError> {
    let (main, fragment) = match url.split_once('#') {
        Some((m, f)) => (m, Some(f)),
        None => (url, None),
    };
    let query = main.split_once('?').map(|(_, q)| q);
    if let Some(q) = query {
        match scan(q, param) {
            Err(TagError::Missing) => {}
            other => return other,
        }
    }
    match fragment.and_then(|f| f.split_once('?')) {
        Some((_, q)) => scan(q, param),
        None => Err(TagError::Missing),
    }
}

fn scan(query: &str, param: &str) -> Result<Tag, TagError> {
    let param = param.as_bytes();
    let mut found: Option<Tag> = None;
    for part in query.as_bytes().split(|&c| c == b'&' || c == b';') {
        let (name, value) = match part.iter().position(|&c| c == b'=') {
            Some(eq) => (&part[..eq], &part[eq + 1..]),
            None => (part, &[][..]),
        };
        let matches = if name.iter().any(|&c| c == b'%' || c == b'+') {
            percent_decode(name).eq_ignore_ascii_case(param)
        } else {
            name.eq_ignore_ascii_case(param)
        };
        if !matches {
            continue;
        }
        let tag = parse_value(&percent_decode(value)).ok_or(TagError::Malformed)?;
        match found {
            Some(prev) if prev != tag => return Err(TagError::Conflicting),
            _ => found = Some(tag),
        }
    }
    found.ok_or(TagError::Missing)
}

fn digits(s: &[u8], max_len: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max_len || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s.iter()
            .fold(0u64, |acc, &c| acc * 10 + u64::from(c - b'0')),
    )
}

fn parse_value(v: &[u8]) -> Option<Tag> {
    let (variant, secs) = match v.iter().position(|&c| c == b'.') {
        Some(dot) => (&v[..dot], Some(&v[dot + 1..])),
        None => (v, None),
    };
    let variant = u32::try_from(digits(variant, 10)?).ok()?;
    let served_at = match secs {
        None => None,
        Some(s) => {
            let secs = i64::try_from(digits(s, 12)?).ok()?;
            Some(DateTime::from_timestamp(secs, 0)?)
        }
    };
    Some(Tag {
        variant: VariantId(variant),
        served_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: u32, s: Option<i64>) -> Tag {
        Tag {
            variant: VariantId(v),
            served_at: s.and_then(|s| DateTime::from_timestamp(s, 0)),
        }
    }

    #[test]
    fn reads_tags_in_any_shape() {
        let ok = [
            ("https://x.com/?dov=3", t(3, None)),
            (
                "https://x.com/p?a=1&dov=3.1700000000&utm_source=b",
                t(3, Some(1_700_000_000)),
            ),
            (
                "https://x.com/p?utm_campaign=x&lid=abc123&dov=12",
                t(12, None),
            ),
            ("https://x.com/p?dov=4#section?dov=9", t(4, None)),
            ("https://x.com/#/page?dov=7", t(7, None)),
            ("https://x.com/p?DOV=7", t(7, None)),
            (
                "https://x.com/p?%64ov=5%2E1700000001",
                t(5, Some(1_700_000_001)),
            ),
            ("https://x.com/p?a=1&amp;dov=8", t(8, None)),
            ("https://x.com/p?dov=2&dov=2", t(2, None)),
            ("https://x.com/p?x=%zz&dov=1;y=2", t(1, None)),
        ];
        for (url, want) in ok {
            assert_eq!(parse_tag(url, "dov"), Ok(want), "{url}");
        }
        let bad = [
            ("https://x.com/", TagError::Missing),
            ("https://x.com/?dovx=1&xdov=2", TagError::Missing),
            ("https://x.com/#dov=1", TagError::Missing),
            ("https://x.com/?dov=", TagError::Malformed),
            ("https://x.com/?dov=a", TagError::Malformed),
            ("https://x.com/?dov=1.", TagError::Malformed),
            ("https://x.com/?dov=1.2.3", TagError::Malformed),
            ("https://x.com/?dov=-1", TagError::Malformed),
            ("https://x.com/?dov=99999999999", TagError::Malformed),
            ("https://x.com/?dov=1&dov=2", TagError::Conflicting),
            ("https://x.com/?dov=%", TagError::Malformed),
        ];
        for (url, want) in bad {
            assert_eq!(parse_tag(url, "dov"), Err(want), "{url}");
        }
        assert_eq!(parse_tag("https://x.com/?v=3", "v"), Ok(t(3, None)));
    }

    #[test]
    fn display_round_trips() {
        for tag in [t(0, None), t(u32::MAX, Some(0)), t(42, Some(4_102_444_800))] {
            let url = format!("https://x.com/a?b=c&dov={tag}");
            assert_eq!(parse_tag(&url, "dov"), Ok(tag));
        }
    }
}
