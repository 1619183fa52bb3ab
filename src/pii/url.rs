//! URL scrubbing: personal query parameters out, the variant tag and campaign tags in.

use std::borrow::Cow;

use crate::wire::{is_escape, percent_decode};

/// Query parameter names (compared case-insensitively, after percent-decoding)
/// that identify a person and are always removed, whatever their value.
pub const DEFAULT_IDENTIFIER_PARAMS: &[&str] = &[
    "email",
    "e",
    "mail",
    "uid",
    "user_id",
    "userid",
    "user",
    "username",
    "login",
    "external_id",
    "external_user_id",
    "braze_id",
    "customer_id",
    "subscriber_id",
    "contact_id",
    "token",
    "t",
    "access_token",
    "id_token",
    "refresh_token",
    "auth",
    "key",
    "api_key",
    "apikey",
    "password",
    "pwd",
    "session",
    "sessionid",
    "sid",
    "phone",
    "tel",
    "mobile",
    "msisdn",
    "name",
    "first_name",
    "last_name",
    "fname",
    "lname",
    "address",
    "zip",
    "dob",
    "ip",
    "sig",
    "signature",
];

/// Substrings that make a parameter name an identifier (`subscriber_email`,
/// `auth_token`, `mobile_phone`, ...), compared case-insensitively.
const IDENTIFIER_SUBSTRINGS: &[&str] = &["email", "token", "phone", "passw", "secret"];

/// Parameter names kept even when their value looks like a phone number (a
/// date, a serve time) or their name matches an identifier. An email address
/// in the value still removes them.
const DEFAULT_KEEP_PARAMS: &[&str] = &["lid"];

/// How many rounds of percent-decoding a value goes through before the checks
/// (`%2540` is a double-encoded `@`).
const DECODE_ROUNDS: usize = 3;

/// The number of digits that makes a run of digits phone-number-like.
pub const PHONE_MIN_DIGITS: usize = 7;

/// Removes personal data from URLs (see `docs/design.md`, *URL scrubbing*).
///
/// A query parameter is **removed** when
/// - its name (percent-decoded, case-insensitive) is a known identifier
///   ([`DEFAULT_IDENTIFIER_PARAMS`] plus [`UrlScrubber::with_identifier`]) or contains
///   `email`, `token`, `phone`, `passw` or `secret`;
/// - its name or value, percent-decoded up to three times (so `%40` and `%2540` count)
///   with `+` read as a space, contains an `@` (an email address or anything like one);
/// - its name or value contains a phone-number-like run: at least
///   [`PHONE_MIN_DIGITS`] digits, optionally led by `+`, where up to two of space,
///   `-`, `.`, `/`, `+` or parentheses may separate digits (`+1 (555) 123-4567`, `5551234567`).
///
/// The variant tag parameter (default `dov`), every `utm_*` parameter and `lid` are
/// **kept** even when their name or a long run of digits would remove them
/// (`dov=b.1767225600` carries a UNIX time); an `@` in their value still removes them.
///
/// Beyond the query string: user information before the host (`https://jane:pw@host/`)
/// is removed, a path segment holding an `@` becomes `redacted` (also the whole path
/// of `mailto:`, `tel:` and `sms:` URLs), and the fragment is scrubbed like a query
/// string (`#access_token=...`, `#/route?email=...`; a plain fragment such as `#top`
/// is one parameter without a value).
///
/// The result is always a valid URL reference: kept parts are copied byte for byte,
/// and any byte that may not appear in a URL (spaces, controls, non-ASCII, a `%` not
/// followed by two hex digits) is percent-encoded. It never panics.
///
/// ```
/// use dynopt::pii::scrub_url;
/// let url = "https://shop.example/p?utm_source=braze&email=jane%40example.com&dov=b.1767225600&ref=x";
/// assert_eq!(scrub_url(url), "https://shop.example/p?utm_source=braze&dov=b.1767225600&ref=x");
/// assert_eq!(scrub_url("https://x.example/?to=+1%20555%20123%204567#top"), "https://x.example/#top");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlScrubber {
    variant_tag: String,
    extra_identifiers: Vec<String>,
    extra_keep: Vec<String>,
}

impl Default for UrlScrubber {
    fn default() -> Self {
        UrlScrubber {
            variant_tag: String::from("dov"),
            extra_identifiers: Vec::new(),
            extra_keep: Vec::new(),
        }
    }
}

/// Scrubs `url` with the default [`UrlScrubber`].
pub fn scrub_url(url: &str) -> Cow<'_, str> {
    UrlScrubber::default().scrub(url)
}

impl UrlScrubber {
    /// Uses `name` as the variant tag parameter instead of `dov`.
    #[must_use]
    pub fn with_variant_tag(mut self, name: impl Into<String>) -> Self {
        self.variant_tag = name.into();
        self
    }

    /// Adds a parameter name (case-insensitive) that is always removed.
    #[must_use]
    pub fn with_identifier(mut self, name: impl Into<String>) -> Self {
        self.extra_identifiers
            .push(name.into().to_ascii_lowercase());
        self
    }

    /// Adds a parameter name (case-insensitive) kept like `utm_*` and `lid`.
    #[must_use]
    pub fn with_kept(mut self, name: impl Into<String>) -> Self {
        self.extra_keep.push(name.into().to_ascii_lowercase());
        self
    }

    /// The variant tag parameter name.
    pub fn variant_tag(&self) -> &str {
        &self.variant_tag
    }

    /// Scrubs one URL (see the type's documentation for the rules).
    ///
    /// Borrows the input when nothing had to change.
    pub fn scrub<'u>(&self, url: &'u str) -> Cow<'u, str> {
        if self.is_clean(url) {
            return Cow::Borrowed(url);
        }
        let out = self.rebuild(url);
        if out == url {
            Cow::Borrowed(url)
        } else {
            Cow::Owned(out)
        }
    }

    /// The scrubbed URL, built part by part.
    fn rebuild(&self, url: &str) -> String {
        let mut out = String::with_capacity(url.len());
        let (before_fragment, fragment) = match url.find('#') {
            Some(i) => (&url[..i], Some(&url[i + 1..])),
            None => (url, None),
        };
        let (base, query) = match before_fragment.find('?') {
            Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
            None => (before_fragment, None),
        };
        self.push_base(base, &mut out);
        if let Some(q) = query {
            let mark = out.len();
            out.push('?');
            if !self.push_query(q, &mut out) {
                out.truncate(mark);
            }
        }
        if let Some(f) = fragment {
            self.push_fragment(f, &mut out);
        }
        out
    }

    /// Whether `url` comes out of [`UrlScrubber::scrub`] unchanged, checked without
    /// building anything (the common case: only campaign tags in the query). Returns
    /// `false` whenever in doubt; the building path is the reference.
    fn is_clean(&self, url: &str) -> bool {
        let b = url.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            let ok = match c {
                b'@' | b'#' => false,
                b'%' => is_escape(b, i),
                _ => is_url_byte(c),
            };
            if !ok {
                return false;
            }
        }
        if has_opaque_personal_scheme(url) {
            return false;
        }
        let (base, query) = match url.find('?') {
            Some(i) => (&url[..i], Some(&url[i + 1..])),
            None => (url, None),
        };
        if base.contains('%') && decode(base).contains('@') {
            return false;
        }
        match query {
            None => true,
            Some(q) => {
                !q.is_empty()
                    && q.split('&')
                        .all(|p| !p.is_empty() && !self.is_personal_param(p))
            }
        }
    }

    /// Scheme, authority (without user information) and path.
    fn push_base(&self, base: &str, out: &mut String) {
        let (scheme, rest) = split_scheme(base);
        if let Some(s) = scheme {
            push_encoded(s, out);
            out.push(':');
            if ["mailto", "tel", "sms", "callto"]
                .iter()
                .any(|p| s.eq_ignore_ascii_case(p))
            {
                if !rest.is_empty() {
                    out.push_str("redacted");
                }
                return;
            }
        }
        let path = if let Some(after) = rest.strip_prefix("//") {
            let end = after.find('/').unwrap_or(after.len());
            let authority = &after[..end];
            // User information (`user:password@`) identifies a person: drop it.
            let host = match authority.rfind('@') {
                Some(i) => &authority[i + 1..],
                None => authority,
            };
            out.push_str("//");
            push_encoded(host, out);
            &after[end..]
        } else {
            rest
        };
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            if decoded_contains_at(segment) {
                out.push_str("redacted");
            } else {
                push_encoded(segment, out);
            }
        }
    }

    /// Pushes the kept parameters of `query`; returns whether any was kept.
    fn push_query(&self, query: &str, out: &mut String) -> bool {
        let mut kept = false;
        for param in query.split('&') {
            if param.is_empty() || self.is_personal_param(param) {
                continue;
            }
            if kept {
                out.push('&');
            }
            push_encoded(param, out);
            kept = true;
        }
        kept
    }

    fn push_fragment(&self, fragment: &str, out: &mut String) {
        let (head, query) = match fragment.find('?') {
            Some(i) => (&fragment[..i], Some(&fragment[i + 1..])),
            None => (fragment, None),
        };
        let mark = out.len();
        out.push('#');
        // The fragment is scrubbed like a query string (`#access_token=...`,
        // `#/route?email=...`); a plain fragment is one parameter without a value.
        self.push_query(head, out);
        if let Some(q) = query {
            let qmark = out.len();
            out.push('?');
            if !self.push_query(q, out) {
                out.truncate(qmark);
            }
        }
        if out.len() == mark + 1 {
            out.truncate(mark);
        }
    }

    fn is_personal_param(&self, param: &str) -> bool {
        let (raw_name, raw_value) = match param.find('=') {
            Some(i) => (&param[..i], &param[i + 1..]),
            None => (param, ""),
        };
        let name = decode(raw_name);
        let value = decode(raw_value);
        if name.contains('@') || value.contains('@') {
            return true;
        }
        let mut buf = [0u8; 48];
        let owned;
        let lower: &[u8] = if let Some(dst) = buf.get_mut(..name.len()) {
            dst.copy_from_slice(name.as_bytes());
            dst.make_ascii_lowercase();
            dst
        } else {
            owned = name.to_ascii_lowercase();
            owned.as_bytes()
        };
        if self.is_kept_name(lower) {
            return false;
        }
        if DEFAULT_IDENTIFIER_PARAMS
            .iter()
            .any(|n| n.as_bytes() == lower)
            || self.extra_identifiers.iter().any(|n| n.as_bytes() == lower)
            || IDENTIFIER_SUBSTRINGS
                .iter()
                .any(|s| lower.windows(s.len()).any(|w| w == s.as_bytes()))
        {
            return true;
        }
        has_phone_run(&name) || has_phone_run(&value)
    }

    /// `lower` is the parameter name in ASCII lowercase.
    fn is_kept_name(&self, lower: &[u8]) -> bool {
        lower.eq_ignore_ascii_case(self.variant_tag.as_bytes())
            || lower.starts_with(b"utm_")
            || DEFAULT_KEEP_PARAMS.iter().any(|n| n.as_bytes() == lower)
            || self.extra_keep.iter().any(|n| n.as_bytes() == lower)
    }
}

fn split_scheme(s: &str) -> (Option<&str>, &str) {
    let Some(i) = s.find(':') else {
        return (None, s);
    };
    let scheme = &s[..i];
    let valid = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if valid {
        (Some(scheme), &s[i + 1..])
    } else {
        (None, s)
    }
}

fn has_opaque_personal_scheme(url: &str) -> bool {
    let (scheme, rest) = split_scheme(url);
    scheme.is_some_and(|s| {
        ["mailto", "tel", "sms", "callto"]
            .iter()
            .any(|p| s.eq_ignore_ascii_case(p))
    }) && !rest.is_empty()
}

fn decoded_contains_at(s: &str) -> bool {
    s.contains('@') || (s.contains('%') && decode(s).contains('@'))
}

/// Bytes allowed verbatim in a URL reference (RFC 3986 unreserved, reserved and `%`),
/// except `#`: the first `#` starts the fragment and is written by the scrubber, any
/// later one is encoded.
const URL_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let extra = b"-._~:/?[]@!$&'()*+,;=%";
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric();
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
};

fn is_url_byte(b: u8) -> bool {
    URL_BYTES[usize::from(b)]
}

/// Copies `s`, percent-encoding every byte that may not appear in a URL
/// (and a `%` that does not start a `%XX` escape).
fn push_encoded(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let ok = if c == b'%' {
            is_escape(b, i)
        } else {
            is_url_byte(c)
        };
        if !ok {
            push_ascii_run(s, start, i, out);
            out.push('%');
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 15)]));
            start = i + 1;
        }
    }
    push_ascii_run(s, start, b.len(), out);
}

/// Pushes `s[start..end]`, a run of URL bytes (all ASCII, so both ends are
/// character boundaries when the run is not empty).
fn push_ascii_run(s: &str, start: usize, end: usize, out: &mut String) {
    if start < end
        && let Some(run) = s.get(start..end)
    {
        out.push_str(run);
    }
}

/// Percent-decodes (up to [`DECODE_ROUNDS`] times) and reads `+` as a space,
/// lossily, for the checks only.
fn decode(s: &str) -> Cow<'_, str> {
    let mut cur = match percent_decode(s.as_bytes()) {
        Cow::Borrowed(_) => return Cow::Borrowed(s),
        Cow::Owned(v) => v,
    };
    for _ in 1..DECODE_ROUNDS {
        if !cur.contains(&b'%') {
            break;
        }
        match percent_decode(&cur) {
            Cow::Owned(next) if next != cur => cur = next,
            _ => break,
        }
    }
    Cow::Owned(String::from_utf8_lossy(&cur).into_owned())
}

/// Whether `s` holds at least [`PHONE_MIN_DIGITS`] digits in one run, where a
/// run may start with `+` and its digits may be separated by up to two of
/// space, `-`, `.`, `/`, `+` or parentheses (`+1 (555) 123-4567`).
fn has_phone_run(s: &str) -> bool {
    let mut digits = 0usize;
    let mut seps = 0usize;
    for c in s.bytes() {
        if c.is_ascii_digit() {
            digits += 1;
            seps = 0;
            if digits >= PHONE_MIN_DIGITS {
                return true;
            }
        } else if matches!(c, b' ' | b'-' | b'.' | b'/' | b'(' | b')' | b'+') {
            seps += 1;
            if seps > 2 {
                digits = 0;
            }
        } else {
            digits = 0;
            seps = 0;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_emails_phones_and_identifiers() {
        let cases = [
            (
                "https://a.example/p?email=jane@example.com&utm_source=braze",
                "https://a.example/p?utm_source=braze",
            ),
            (
                "https://a.example/p?x=jane%40example.com&y=1",
                "https://a.example/p?y=1",
            ),
            (
                "https://a.example/p?x=jane%2540example.com&y=1",
                "https://a.example/p?y=1",
            ),
            (
                "https://a.example/p?ref=call+%2B1+(555)+123-4567",
                "https://a.example/p",
            ),
            (
                "https://a.example/p?token=abc&t=1&uid=9",
                "https://a.example/p",
            ),
            (
                "https://a.example/p?User_Email=a&AuthToken=b&q=shoes",
                "https://a.example/p?q=shoes",
            ),
            (
                "https://a.example/p?dov=b.1767225600&utm_campaign=20240101&lid=1234567890",
                "https://a.example/p?dov=b.1767225600&utm_campaign=20240101&lid=1234567890",
            ),
            (
                "https://a.example/p?utm_content=jane@x.io",
                "https://a.example/p",
            ),
            (
                "https://jane:pw@a.example/u/jane%40example.com/x",
                "https://a.example/u/redacted/x",
            ),
            ("mailto:jane@example.com", "mailto:redacted"),
            ("tel:+15551234567", "tel:redacted"),
            (
                "https://a.example/#/r?email=jane@x.io&tab=2",
                "https://a.example/#/r?tab=2",
            ),
            ("https://a.example/#access_token=abc", "https://a.example/"),
            ("https://a.example/#jane@example.com", "https://a.example/"),
            (
                "https://a.example/a b?q=é",
                "https://a.example/a%20b?q=%C3%A9",
            ),
            ("https://a.example/?q=100%", "https://a.example/?q=100%25"),
            ("https://a.example/?&&q=1&&", "https://a.example/?q=1"),
        ];
        for (input, want) in cases {
            assert_eq!(scrub_url(input), want, "{input}");
        }
    }

    #[test]
    fn borrows_when_clean() {
        let u = "https://a.example/p?utm_source=x&dov=a#top";
        assert!(matches!(scrub_url(u), Cow::Borrowed(_)));
        assert!(matches!(scrub_url("https://a.example/p"), Cow::Borrowed(_)));
    }

    #[test]
    fn configurable_names() {
        let s = UrlScrubber::default()
            .with_variant_tag("v")
            .with_identifier("Member")
            .with_kept("order");
        assert_eq!(
            s.scrub("https://a.example/?v=1.1767225600&member=x&order=12345678&dov=2.1767225600"),
            "https://a.example/?v=1.1767225600&order=12345678"
        );
    }

    proptest::proptest! {
        /// The check-only fast path never skips a change the building path makes.
        #[test]
        fn clean_check_agrees_with_rebuild(
            s in "(https?://)?[a-z@:%0-9.A-F]{0,10}(/[a-z@%0-9+.A-F-]{0,8}){0,3}(\\?[a-z0-9@%+=&._A-F-]{0,40})?(#[a-z0-9=&?]{0,6})?"
        ) {
            let sc = UrlScrubber::default();
            if sc.is_clean(&s) {
                proptest::prop_assert_eq!(sc.rebuild(&s), s);
            }
        }
    }

    #[test]
    fn phone_runs() {
        for yes in [
            "5551234",
            "+1 555 123 4567",
            "(555) 123-4567",
            "555.123.4567",
        ] {
            assert!(has_phone_run(yes), "{yes}");
        }
        for no in [
            "123456",
            "12 34 56",
            "a1b2c3d4e5f6g7",
            "1---234567",
            "12-34-56",
        ] {
            assert!(!has_phone_run(no), "{no}");
        }
    }
}
