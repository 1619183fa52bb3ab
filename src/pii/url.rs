//! URL scrubbing: personal query parameters out, the variant tag and campaign tags in.

use std::borrow::Cow;

use crate::wire::{is_escape, percent_decode};

/// Query parameter names that identify a person (or a recipient's tracking
/// session) and are always removed, whatever their value. Compared by normalised
/// form: ASCII case, `-`, `_`, `.`, spaces and brackets are ignored, so `userId`,
/// `user-id`, `USER_ID` and `user[id]` all match `user_id`.
///
/// Besides generic names, the list holds the per-recipient tracking parameters
/// that email service providers and marketing platforms add to links: Mailchimp
/// (`mc_eid`), HubSpot (`_hsenc`, `_hsmi`, `__hssc`, `__hstc`, `__hsfp`), Marketo
/// (`mkt_tok`), Klaviyo (`_kx`, `_ke`), ActiveCampaign (`vgo_ee`), Salesforce
/// Marketing Cloud (`sfmc_sub`, `sfmc_id`, `subscriberkey`), Oracle Eloqua
/// (`elqTrackId`, `elq`, `elqaid`, `elqat`), Omeda (`oly_enc_id`, `oly_anon_id`),
/// ConvertKit (`ck_subscriber_id`), Vero (`vero_id`, `vero_conv`),
/// Bronto (`_bta_tid`, `_bta_c`), Brevo (`_se`), and the ad platforms' click ids
/// (`gclid`, `fbclid`, `msclkid`, `dclid`, `yclid`, `twclid`, `ttclid`,
/// `li_fat_id`, `igshid`, `wickedid`, Google's linker `_gl`).
pub const DEFAULT_IDENTIFIER_PARAMS: &[&str] = &[
    "email",
    "e",
    "mail",
    "uid",
    "user_id",
    "user",
    "username",
    "login",
    "external_id",
    "external_user_id",
    "braze_id",
    "customer",
    "customer_id",
    "subscriber",
    "subscriber_id",
    "contact",
    "contact_id",
    "member_id",
    "recipient",
    "recipient_id",
    "person_id",
    "profile_id",
    "account_id",
    "visitor_id",
    "device_id",
    "eid",
    "token",
    "t",
    "access_token",
    "id_token",
    "refresh_token",
    "jwt",
    "auth",
    "code",
    "otp",
    "key",
    "api_key",
    "password",
    "pwd",
    "session",
    "session_id",
    "sid",
    "phone",
    "tel",
    "mobile",
    "msisdn",
    "name",
    "first_name",
    "last_name",
    "full_name",
    "fname",
    "lname",
    "address",
    "zip",
    "postcode",
    "dob",
    "birthday",
    "ip",
    "ip_address",
    "sig",
    "signature",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "__hssc",
    "__hstc",
    "__hsfp",
    "mkt_tok",
    "_kx",
    "_ke",
    "vgo_ee",
    "sfmc_sub",
    "sfmc_id",
    "subscriberkey",
    "elqTrackId",
    "elq",
    "elqaid",
    "elqat",
    "oly_enc_id",
    "oly_anon_id",
    "ck_subscriber_id",
    "vero_id",
    "vero_conv",
    "_bta_tid",
    "_bta_c",
    "_se",
    "gclid",
    "fbclid",
    "msclkid",
    "dclid",
    "yclid",
    "twclid",
    "ttclid",
    "li_fat_id",
    "igshid",
    "wickedid",
    "_gl",
];

/// A set of normalised parameter names, hashed with [`NameHasher`].
type NameSet = std::collections::HashSet<Vec<u8>, std::hash::BuildHasherDefault<NameHasher>>;

/// A small multiplicative hash for short parameter names (the set is fixed and
/// built from constants, so no flooding resistance is needed).
#[derive(Clone, Copy, Default)]
struct NameHasher(u64);

impl std::hash::Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// [`DEFAULT_IDENTIFIER_PARAMS`], normalised, built once.
fn default_identifiers() -> &'static NameSet {
    static SET: std::sync::OnceLock<NameSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        DEFAULT_IDENTIFIER_PARAMS
            .iter()
            .map(|n| normalize_vec(n.as_bytes()))
            .collect()
    })
}

/// Substrings that make a (normalised) parameter name an identifier
/// (`subscriber_email`, `auth_token`, `mobile_phone`, ...).
const IDENTIFIER_SUBSTRINGS: &[&str] = &["email", "token", "phone", "passw", "secret"];

/// Parameter names kept even when their name matches an identifier or their
/// value holds a run of digits shorter than [`PHONE_MIN_DIGITS_KEPT`].
const DEFAULT_KEEP_PARAMS: &[&str] = &["lid"];

/// How many decoding steps (percent-decoding, base64, a JWT's payload) a value
/// goes through before the checks give up; a value still encoded after that
/// many steps is treated as personal.
const DECODE_ROUNDS: usize = 4;

/// How deep URLs nested in parameter values (`?next=https://...`) are scrubbed;
/// a URL nested deeper is removed.
const MAX_NESTED_URLS: usize = 3;

/// The number of digits that makes a run of digits phone-number-like.
pub const PHONE_MIN_DIGITS: usize = 7;

/// The number of digits that makes a run phone-number-like in a path segment
/// and in the values of kept parameters (`utm_*`, `lid`), where dates such as
/// `20240101` are common; a run led by `+` needs only [`PHONE_MIN_DIGITS`].
const PHONE_MIN_DIGITS_KEPT: usize = 9;

/// Personal values shorter than this are not searched for (they would match
/// ordinary text).
const MIN_PERSONAL_LEN: usize = 5;

/// Removes personal data from URLs (see `docs/design.md`, *URL scrubbing*).
///
/// Query parameters are separated by `&`, `;` and the HTML-escaped `&amp;`;
/// kept ones are joined by `&`. A parameter is **removed** when
/// - its name, normalised (ASCII case, `-`, `_`, `.`, spaces and brackets
///   ignored), is a known identifier ([`DEFAULT_IDENTIFIER_PARAMS`] plus
///   [`UrlScrubber::with_identifier`]) or contains `email`, `token`, `phone`,
///   `passw` or `secret`;
/// - its name or value, in any of up to four decoding steps (percent-decoding,
///   base64 or URL-safe base64 that decodes to text, the segments of a JWT),
///   contains an `@` or a confusable one (`＠`, `﹫`, `(at)`, `[at]`), an IPv4 or
///   IPv6 address, a phone-number-like run (at least [`PHONE_MIN_DIGITS`] digits,
///   optionally led by `+`, up to two of space, `-`, `.`, `/`, `+` or parentheses
///   between digits), or one of the record's personal values
///   ([`UrlScrubber::scrub_with`]);
/// - its value is still encoded after four decoding steps.
///
/// A value that is itself a URL (`?next=https://...`, raw or percent-encoded) is
/// scrubbed recursively (three levels; deeper ones are removed) and written back
/// percent-encoded.
///
/// The variant tag parameter (default `dov`), every `utm_*` parameter and `lid` are
/// **kept** even when their name would remove them; the tag also keeps any digits
/// (`dov=b.1767225600` carries a UNIX time), `utm_*` and `lid` keep runs of up to
/// eight digits (dates). Every other rule still applies to them.
///
/// Beyond the query string: user information before the host
/// (`https://jane:pw@host/`) is removed, a host holding a personal value becomes
/// `redacted`, a path segment that the value rules would remove (with runs of at
/// least nine digits, or seven led by `+`, for phones) becomes `redacted` (so does
/// the whole path of `mailto:`, `tel:` and `sms:` URLs), and the fragment is
/// scrubbed like a query string (`#access_token=...`, `#/route?email=...`; a plain
/// fragment such as `#top` is one parameter without a value).
///
/// The result is always a valid URL reference: kept parts are copied byte for byte,
/// and any byte that may not appear in a URL (spaces, controls, non-ASCII, a `%` not
/// followed by two hex digits) is percent-encoded. It never panics, and the
/// common case (nothing to remove) allocates nothing.
///
/// ```
/// use dynopt::pii::{scrub_url, UrlScrubber};
/// let url = "https://shop.example/p?utm_source=braze&email=jane%40example.com&dov=b.1767225600&ref=x";
/// assert_eq!(scrub_url(url), "https://shop.example/p?utm_source=braze&dov=b.1767225600&ref=x");
/// assert_eq!(scrub_url("https://x.example/?to=+1%20555%20123%204567#top"), "https://x.example/#top");
/// assert_eq!(scrub_url("https://x.example/?a=1&amp;customerId=42;q=2"), "https://x.example/?a=1&q=2");
/// // The record's own user id, wherever it is.
/// let s = UrlScrubber::default();
/// assert_eq!(s.scrub_with("https://x.example/u/5f1a2b3c/?r=5f1a2b3c", &["5f1a2b3c"]), "https://x.example/u/redacted/");
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

/// What the checks decided for one parameter or value.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    Drop,
    /// Keep with this (already percent-encoded) value: a nested URL, scrubbed.
    Replace(String),
}

/// Which phone rule applies to a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PhoneRule {
    /// [`PHONE_MIN_DIGITS`] digits.
    Any,
    /// [`PHONE_MIN_DIGITS_KEPT`] digits, or [`PHONE_MIN_DIGITS`] led by `+`.
    Long,
    /// No phone check (the variant tag).
    Off,
}

/// The record's personal values worth searching for, with a filter of the byte
/// triples that start them: one strided pass over a text finds them all, ASCII
/// case-insensitively, without allocating.
///
/// Every value is at least `min_len` bytes long, so any occurrence covers a
/// triple of bytes starting at a multiple of `min_len - 2`; only those triples
/// are looked up in the filter (built from the triples of each value's first
/// `min_len` bytes), and only a hit is checked byte for byte.
pub(crate) struct Needles<'a> {
    vals: &'a [&'a str],
    /// A bit per [`triple_hash`] of the triples in the first `min_len` bytes of
    /// the values.
    triples: [u64; TRIPLE_WORDS],
    min_len: usize,
}

/// The size of the triple filter, in 64-bit words.
const TRIPLE_WORDS: usize = 64;

/// The filter slot of a byte triple: from the low five bits of each byte, so
/// that the two ASCII cases of a letter share a slot.
fn triple_hash(a: u8, b: u8, c: u8) -> usize {
    let x = (u32::from(a & 31) << 10) | (u32::from(b & 31) << 5) | u32::from(c & 31);
    // 4096 slots: the top twelve bits of a multiplicative hash.
    (x.wrapping_mul(0x9E37_79B1) >> 20) as usize
}

impl<'a> Needles<'a> {
    pub(crate) fn new(vals: &'a [&'a str]) -> Self {
        let min_len = vals
            .iter()
            .map(|v| v.len())
            .filter(|&n| n >= MIN_PERSONAL_LEN)
            .min()
            .unwrap_or(usize::MAX);
        let mut triples = [0u64; TRIPLE_WORDS];
        for v in vals {
            if v.len() >= MIN_PERSONAL_LEN
                && let Some(head) = v.as_bytes().get(..min_len)
            {
                for w in head.windows(3) {
                    let h = triple_hash(w[0], w[1], w[2]);
                    triples[h >> 6] |= 1 << (h & 63);
                }
            }
        }
        Needles {
            vals,
            triples,
            min_len,
        }
    }

    /// Whether there is any value to search for.
    pub(crate) fn is_empty(&self) -> bool {
        self.min_len == usize::MAX
    }

    /// Whether `hay` contains one of the values, ASCII case-insensitively.
    #[inline]
    fn found_in(&self, hay: &str) -> bool {
        self.found_in_bytes(hay.as_bytes())
    }

    /// [`Needles::found_in`] on bytes.
    #[inline]
    fn found_in_bytes(&self, b: &[u8]) -> bool {
        if b.len() < self.min_len {
            return false;
        }
        // `min_len` is at least `MIN_PERSONAL_LEN` here, so the step is at least 3.
        let step = self.min_len - 2;
        let mut p = 0;
        while p + 2 < b.len() {
            let h = triple_hash(b[p], b[p + 1], b[p + 2]);
            if self.triples[h >> 6] & (1 << (h & 63)) != 0 && self.found_around(b, p, step) {
                return true;
            }
            p += step;
        }
        false
    }

    /// Whether a value starts at one of the `step` positions whose first
    /// `min_len` bytes cover the triple at `p`.
    #[inline(never)]
    fn found_around(&self, b: &[u8], p: usize, step: usize) -> bool {
        (p.saturating_sub(step - 1)..=p).any(|i| {
            let rest = &b[i..];
            self.vals.iter().any(|n| {
                let n = n.as_bytes();
                n.len() >= MIN_PERSONAL_LEN
                    && rest.len() >= n.len()
                    && rest[0].eq_ignore_ascii_case(&n[0])
                    && rest[..n.len()].eq_ignore_ascii_case(n)
            })
        })
    }
}

/// Byte classes of [`Summary`].
const C_AT: u16 = 1;
const C_PCT: u16 = 2;
const C_BRACKET: u16 = 4;
const C_HIGH: u16 = 8;
const C_UPPER: u16 = 16;
const C_LOWER: u16 = 32;
const C_SLASH: u16 = 64;
const C_DIGIT: u16 = 128;
const C_DOT: u16 = 256;
const C_COLON: u16 = 512;

/// The class bits of each byte.
const CLASS: [u16; 256] = {
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
struct Summary {
    flags: u16,
    digits: usize,
    dots: usize,
    colons: usize,
    len: usize,
}

impl Summary {
    fn of(s: &str) -> Self {
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

    fn any(&self, flags: u16) -> bool {
        self.flags & flags != 0
    }

    /// [`has_at_sign`] can hold only with an `@`, a non-ASCII byte or a bracket.
    fn may_have_at_sign(&self) -> bool {
        self.any(C_AT | C_HIGH | C_BRACKET)
    }

    /// [`has_phone`] needs at least [`PHONE_MIN_DIGITS`] digits.
    fn may_have_phone(&self) -> bool {
        self.digits >= PHONE_MIN_DIGITS
    }

    /// [`has_ip`] needs three dots or two colons.
    fn may_have_ip(&self) -> bool {
        self.dots >= 3 || self.colons >= 2
    }

    /// [`base64_text`] needs eight bytes with both ASCII cases.
    fn may_be_base64(&self) -> bool {
        self.len >= 8 && self.flags & (C_UPPER | C_LOWER) == (C_UPPER | C_LOWER)
    }
}

/// Whether `b` holds a `%`, and whether it holds both ASCII cases (one pass
/// without branches, which the compiler vectorises).
fn pct_and_cases(b: &[u8]) -> (bool, bool) {
    let (mut pct, mut upper, mut lower) = (false, false, false);
    for &c in b {
        pct |= c == b'%';
        upper |= c.wrapping_sub(b'A') < 26;
        lower |= c.wrapping_sub(b'a') < 26;
    }
    (pct, upper && lower)
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

/// Whether `text`, in any decoded form the URL scrubber reads (percent-decoding,
/// base64, JWT segments; up to the decoding bound), contains one of `personal`
/// (a record's personal values; values shorter than five bytes are ignored), or
/// is still encoded at the bound. The filter and [`sanitize`](super::sanitize)
/// drop a kept string field of a record for which this holds.
///
/// ```
/// use dynopt::pii::holds_personal_value;
/// assert!(holds_personal_value("promo-U12345", &["u12345"]));
/// assert!(holds_personal_value("amFuZUBleGFtcGxlLmNvbQ", &["jane@example.com"]));
/// assert!(!holds_personal_value("spring-sale", &["u12345"]));
/// ```
pub fn holds_personal_value(text: &str, personal: &[&str]) -> bool {
    holds_in(text, &Needles::new(personal))
}

/// [`holds_personal_value`] with the values prepared once per record.
#[inline]
pub(crate) fn holds_in(text: &str, needles: &Needles<'_>) -> bool {
    holds_in_bytes(text.as_bytes(), needles)
}

/// [`holds_in`] on the bytes of a string (not UTF-8: nothing to decode).
#[inline]
pub(crate) fn holds_in_bytes(text: &[u8], needles: &Needles<'_>) -> bool {
    if needles.is_empty() {
        return false;
    }
    if needles.found_in_bytes(text) {
        return true;
    }
    // Not encoded (no escape, and not both cases, which a base64 token of text
    // needs): the search above was the whole check.
    let (pct, both_cases) = pct_and_cases(text);
    if !(pct || (both_cases && text.len() >= 8)) {
        return false;
    }
    std::str::from_utf8(text).is_ok_and(|t| holds_in_layers(t, pct, needles))
}

/// The decoding layers of [`holds_in`], after the text itself was searched
/// (`pct`: whether it holds a `%`).
#[inline(never)]
fn holds_in_layers(text: &str, pct: bool, needles: &Needles<'_>) -> bool {
    let mut layer: Cow<'_, str> = Cow::Borrowed(text);
    for round in 0..=DECODE_ROUNDS {
        let next = if round == 0 {
            // `next_layer` without searching the text for an escape again.
            if pct && has_escape(text) {
                next_layer(text)
            } else {
                base64_text(text)
            }
        } else if needles.found_in(&layer) {
            return true;
        } else {
            next_layer(&layer)
        };
        match next {
            None => return false,
            Some(_) if round == DECODE_ROUNDS => return true,
            Some(next) => layer = Cow::Owned(next),
        }
    }
    true
}

impl UrlScrubber {
    /// Uses `name` as the variant tag parameter instead of `dov`.
    #[must_use]
    pub fn with_variant_tag(mut self, name: impl Into<String>) -> Self {
        self.variant_tag = name.into();
        self
    }

    /// Adds a parameter name (compared by normalised form) that is always removed.
    #[must_use]
    pub fn with_identifier(mut self, name: impl Into<String>) -> Self {
        self.extra_identifiers.push(name.into());
        self
    }

    /// Adds a parameter name (compared by normalised form) kept like `utm_*` and `lid`.
    #[must_use]
    pub fn with_kept(mut self, name: impl Into<String>) -> Self {
        self.extra_keep.push(name.into());
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
        self.scrub_with(url, &[])
    }

    /// Scrubs one URL of a record whose personal fields held `personal` (its user
    /// ids, email address, `[PII]`-tagged values): besides the rules of
    /// [`UrlScrubber::scrub`], any parameter (name or value) and any path segment
    /// holding one of them, in any decoded form, is removed, and a host holding
    /// one becomes `redacted`. Values shorter than five bytes are not searched.
    ///
    /// Borrows the input when nothing had to change.
    pub fn scrub_with<'u>(&self, url: &'u str, personal: &[&str]) -> Cow<'u, str> {
        self.scrub_at(url, &Needles::new(personal), 0)
    }

    /// [`UrlScrubber::scrub_with`] with the values prepared once per record.
    pub(crate) fn scrub_needles<'u>(&self, url: &'u str, needles: &Needles<'_>) -> Cow<'u, str> {
        self.scrub_at(url, needles, 0)
    }

    fn scrub_at<'u>(&self, url: &'u str, needles: &Needles<'_>, depth: usize) -> Cow<'u, str> {
        if self.is_clean(url, needles, depth) {
            return Cow::Borrowed(url);
        }
        let out = self.rebuild(url, needles, depth);
        if out == url {
            Cow::Borrowed(url)
        } else {
            Cow::Owned(out)
        }
    }

    /// The scrubbed URL, built part by part.
    fn rebuild(&self, url: &str, needles: &Needles<'_>, depth: usize) -> String {
        let mut out = String::with_capacity(url.len());
        let (before_fragment, fragment) = match url.find('#') {
            Some(i) => (&url[..i], Some(&url[i + 1..])),
            None => (url, None),
        };
        let (base, query) = match before_fragment.find('?') {
            Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
            None => (before_fragment, None),
        };
        self.push_base(base, &mut out, needles);
        if let Some(q) = query {
            let mark = out.len();
            out.push('?');
            if !self.push_query(q, &mut out, needles, depth) {
                out.truncate(mark);
            }
        }
        if let Some(f) = fragment {
            self.push_fragment(f, &mut out, needles, depth);
        }
        out
    }

    /// Whether `url` comes out of [`UrlScrubber::scrub`] unchanged, checked without
    /// building anything (the common case: only campaign tags in the query). Returns
    /// `false` whenever in doubt; the building path is the reference.
    fn is_clean(&self, url: &str, needles: &Needles<'_>, depth: usize) -> bool {
        let b = url.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            let ok = match c {
                b'@' | b'#' | b';' => false,
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
        let (_, rest) = split_scheme(base);
        let path = match rest.strip_prefix("//") {
            Some(after) => {
                let end = after.find('/').unwrap_or(after.len());
                let host = &after[..end];
                if needles.found_in(host) || needles.found_in(&decode(host)) {
                    return false;
                }
                &after[end..]
            }
            None => rest,
        };
        if path
            .split('/')
            .any(|seg| self.segment_is_personal(seg, needles))
        {
            return false;
        }
        match query {
            None => true,
            Some(q) => {
                !q.is_empty()
                    && q.split('&').all(|p| {
                        !p.is_empty() && self.param_verdict(p, needles, depth) == Verdict::Keep
                    })
            }
        }
    }

    /// Scheme, authority (without user information) and path.
    fn push_base(&self, base: &str, out: &mut String, needles: &Needles<'_>) {
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
            if needles.found_in(host) || needles.found_in(&decode(host)) {
                out.push_str("redacted");
            } else {
                push_encoded(host, out);
            }
            &after[end..]
        } else {
            rest
        };
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            if self.segment_is_personal(segment, needles) {
                out.push_str("redacted");
            } else {
                push_encoded(segment, out);
            }
        }
    }

    /// Whether a path segment holds personal data (the value rules, with the
    /// long-run phone rule).
    fn segment_is_personal(&self, segment: &str, needles: &Needles<'_>) -> bool {
        !segment.is_empty()
            && value_verdict(self, segment, PhoneRule::Long, needles, MAX_NESTED_URLS)
                != Verdict::Keep
    }

    /// Pushes the kept parameters of `query`; returns whether any was kept.
    fn push_query(
        &self,
        query: &str,
        out: &mut String,
        needles: &Needles<'_>,
        depth: usize,
    ) -> bool {
        let mut kept = false;
        for param in Params::new(query) {
            if param.is_empty() {
                continue;
            }
            let verdict = self.param_verdict(param, needles, depth);
            if verdict == Verdict::Drop {
                continue;
            }
            if kept {
                out.push('&');
            }
            match verdict {
                Verdict::Keep => push_encoded(param, out),
                Verdict::Replace(value) => {
                    let name = param.split_once('=').map_or(param, |(n, _)| n);
                    push_encoded(name, out);
                    out.push('=');
                    out.push_str(&value);
                }
                Verdict::Drop => {}
            }
            kept = true;
        }
        kept
    }

    fn push_fragment(&self, fragment: &str, out: &mut String, needles: &Needles<'_>, depth: usize) {
        let (head, query) = match fragment.find('?') {
            Some(i) => (&fragment[..i], Some(&fragment[i + 1..])),
            None => (fragment, None),
        };
        let mark = out.len();
        out.push('#');
        // The fragment is scrubbed like a query string (`#access_token=...`,
        // `#/route?email=...`); a plain fragment is one parameter without a value.
        self.push_query(head, out, needles, depth);
        if let Some(q) = query {
            let qmark = out.len();
            out.push('?');
            if !self.push_query(q, out, needles, depth) {
                out.truncate(qmark);
            }
        }
        if out.len() == mark + 1 {
            out.truncate(mark);
        }
    }

    fn param_verdict(&self, param: &str, needles: &Needles<'_>, depth: usize) -> Verdict {
        let (raw_name, raw_value) = match param.find('=') {
            Some(i) => (&param[..i], &param[i + 1..]),
            None => (param, ""),
        };
        let name = decode(raw_name);
        let mut buf = [0u8; 64];
        let owned;
        let norm: &[u8] = match normalize_into(name.as_bytes(), &mut buf) {
            Some(n) => &buf[..n],
            None => {
                owned = normalize_vec(name.as_bytes());
                &owned
            }
        };
        let rule = if norm_eq(self.variant_tag.as_bytes(), norm) {
            PhoneRule::Off
        } else if self.is_kept_name(norm) {
            PhoneRule::Long
        } else if default_identifiers().contains(norm)
            || self
                .extra_identifiers
                .iter()
                .any(|n| norm_eq(n.as_bytes(), norm))
            || IDENTIFIER_SUBSTRINGS
                .iter()
                .any(|s| norm.windows(s.len()).any(|w| w == s.as_bytes()))
        {
            return Verdict::Drop;
        } else {
            PhoneRule::Any
        };
        if value_verdict(self, raw_name, rule, needles, MAX_NESTED_URLS) != Verdict::Keep {
            return Verdict::Drop;
        }
        value_verdict(self, raw_value, rule, needles, depth)
    }

    /// `norm` is the normalised parameter name.
    fn is_kept_name(&self, norm: &[u8]) -> bool {
        norm.starts_with(b"utm")
            || DEFAULT_KEEP_PARAMS
                .iter()
                .any(|n| norm_eq(n.as_bytes(), norm))
            || self.extra_keep.iter().any(|n| norm_eq(n.as_bytes(), norm))
    }
}

/// The checks of one value (or name, or path segment) through its decoding
/// layers; a value that is a URL is scrubbed at `depth + 1`.
fn value_verdict(
    scrubber: &UrlScrubber,
    raw: &str,
    rule: PhoneRule,
    needles: &Needles<'_>,
    depth: usize,
) -> Verdict {
    if raw.is_empty() {
        return Verdict::Keep;
    }
    let mut layer: Cow<'_, str> = Cow::Borrowed(raw);
    for round in 0..=DECODE_ROUNDS {
        let sum = Summary::of(&layer);
        // Phones and addresses are read from decoded text only (escapes such as
        // `%00` would otherwise join runs of digits).
        let encoded = sum.any(C_PCT) && has_escape(&layer);
        if text_is_personal(&layer, &sum, rule, needles, encoded) {
            return Verdict::Drop;
        }
        if sum.any(C_SLASH) && looks_like_url(&layer) {
            if depth >= MAX_NESTED_URLS {
                return Verdict::Drop;
            }
            return match scrubber.scrub_at(&layer, needles, depth + 1) {
                Cow::Borrowed(_) => Verdict::Keep,
                Cow::Owned(inner) => Verdict::Replace(encode_component(&inner)),
            };
        }
        // Not encoded and no base64 token: no next layer.
        let next = if encoded || sum.may_be_base64() {
            next_layer(&layer)
        } else {
            None
        };
        match next {
            None => return Verdict::Keep,
            // Still encoded at the bound: treated as personal.
            Some(_) if round == DECODE_ROUNDS => return Verdict::Drop,
            Some(next) => layer = Cow::Owned(next),
        }
    }
    Verdict::Drop
}

/// The checks of one decoded layer (`sum` is its [`Summary`]).
fn text_is_personal(
    s: &str,
    sum: &Summary,
    rule: PhoneRule,
    needles: &Needles<'_>,
    encoded: bool,
) -> bool {
    (sum.may_have_at_sign() && has_at_sign(s))
        || needles.found_in(s)
        || (!encoded
            && ((sum.may_have_phone() && has_phone(s, rule)) || (sum.may_have_ip() && has_ip(s))))
}

/// Whether `s` holds a `%XX` escape.
fn has_escape(s: &str) -> bool {
    let b = s.as_bytes();
    b.contains(&b'%') && (0..b.len()).any(|i| is_escape(b, i))
}

/// An `@`, a confusable one (full-width `＠`, small `﹫`), or `(at)` / `[at]`.
fn has_at_sign(s: &str) -> bool {
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
fn looks_like_url(s: &str) -> bool {
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
fn next_layer(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if has_escape(s) {
        let d = percent_decode(b);
        return Some(String::from_utf8_lossy(&d).into_owned());
    }
    base64_text(s)
}

/// The bytes of the base64 alphabets (standard and URL-safe).
const B64_BYTES: [bool; 256] = {
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
fn is_b64(c: u8) -> bool {
    B64_BYTES[usize::from(c)]
}

/// The text of a base64 token or of a JWT's segments, when at least one decodes
/// to text (printable, at least four characters). Tokens shorter than eight
/// characters are not read, and `s` is read only when one of its tokens of at
/// least eight characters has both ASCII cases (base64 of text nearly always
/// has both; hex ids, UUIDs and words do not get decoded).
fn base64_text(s: &str) -> Option<String> {
    if s.len() < 8 {
        return None;
    }
    let mut mixed_case = false;
    let mut out: Option<String> = None;
    let mut stack = [0u8; 192];
    // Tokens of the alphabet (in free text, between spaces and punctuation),
    // and the segments of a JWT. Every non-ASCII byte separates, as its
    // character would.
    for seg in s.as_bytes().split(|&c| !is_b64(c)) {
        if seg.len() < 8 {
            continue;
        }
        mixed_case = mixed_case || pct_and_cases(seg).1;
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
    out.filter(|_| mixed_case)
}

/// Whether the first six bytes a token (at least eight characters) decodes to
/// may start text: no ASCII control but tab and newline, no byte that is invalid
/// UTF-8 whatever follows. A `false` means the whole token is not text.
fn head_may_be_text(seg: &[u8]) -> bool {
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
fn b64_decode(t: &[u8], out: &mut [u8]) -> usize {
    fn val(c: u8) -> u32 {
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
fn has_ip(s: &str) -> bool {
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

/// The parameters of a query string: separated by `&`, `;` and the
/// HTML-escaped `&amp;` (whose `amp;` is not a parameter).
struct Params<'q> {
    rest: Option<&'q str>,
    after_amp: bool,
}

impl<'q> Params<'q> {
    fn new(q: &'q str) -> Self {
        Params {
            rest: Some(q),
            after_amp: false,
        }
    }
}

impl<'q> Iterator for Params<'q> {
    type Item = &'q str;
    fn next(&mut self) -> Option<&'q str> {
        loop {
            let rest = self.rest?;
            let (item, sep) = match rest.find(['&', ';']) {
                Some(i) => {
                    self.rest = Some(&rest[i + 1..]);
                    (&rest[..i], Some(rest.as_bytes()[i]))
                }
                None => {
                    self.rest = None;
                    (rest, None)
                }
            };
            let was_after_amp = self.after_amp;
            self.after_amp = sep == Some(b'&');
            if was_after_amp && sep == Some(b';') && item.eq_ignore_ascii_case("amp") {
                // `&amp;`: the escape itself, not a parameter.
                continue;
            }
            return Some(item);
        }
    }
}

/// The normalised form of a byte of a parameter name: ASCII lowercase, and no
/// separator (`-`, `_`, `.`, space, brackets).
fn norm_byte(b: u8) -> Option<u8> {
    match b {
        b'-' | b'_' | b'.' | b' ' | b'[' | b']' => None,
        _ => Some(b.to_ascii_lowercase()),
    }
}

/// Normalises `name` into `buf`; `None` when it does not fit.
fn normalize_into(name: &[u8], buf: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    for &c in name {
        if let Some(c) = norm_byte(c) {
            *buf.get_mut(n)? = c;
            n += 1;
        }
    }
    Some(n)
}

fn normalize_vec(name: &[u8]) -> Vec<u8> {
    name.iter().copied().filter_map(norm_byte).collect()
}

/// Whether `name`, normalised, equals `norm` (already normalised).
fn norm_eq(name: &[u8], norm: &[u8]) -> bool {
    let mut it = name.iter().copied().filter_map(norm_byte);
    for &c in norm {
        if it.next() != Some(c) {
            return false;
        }
    }
    it.next().is_none()
}

/// Percent-encodes everything but RFC 3986 unreserved bytes (a value put back
/// into a query string).
fn encode_component(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(c));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 15)]));
        }
    }
    out
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

/// Percent-decodes up to [`DECODE_ROUNDS`] times, lossily (for name checks).
fn decode(s: &str) -> Cow<'_, str> {
    let mut cur: Cow<'_, str> = Cow::Borrowed(s);
    for _ in 0..DECODE_ROUNDS {
        let b = cur.as_bytes();
        if !b.contains(&b'%') || !(0..b.len()).any(|i| is_escape(b, i)) {
            break;
        }
        let next = String::from_utf8_lossy(&percent_decode(b)).into_owned();
        cur = Cow::Owned(next);
    }
    cur
}

/// Whether `s` holds a phone-number-like run under `rule`: digits in one run,
/// optionally led by `+`, where up to two of space, `-`, `.`, `/`, `+` or
/// parentheses may separate digits (`+1 (555) 123-4567`).
fn has_phone(s: &str, rule: PhoneRule) -> bool {
    let min = match rule {
        PhoneRule::Any => PHONE_MIN_DIGITS,
        PhoneRule::Long => PHONE_MIN_DIGITS_KEPT,
        PhoneRule::Off => return false,
    };
    let mut digits = 0usize;
    let mut seps = 0usize;
    let mut plus = false;
    let mut prev_plus = false;
    for c in s.bytes() {
        if c.is_ascii_digit() {
            if digits == 0 {
                plus = prev_plus;
            }
            digits += 1;
            seps = 0;
            if digits >= min || (plus && digits >= PHONE_MIN_DIGITS) {
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
        prev_plus = c == b'+';
    }
    false
}

/// The old name of the phone check, kept for the unit tests.
#[cfg(test)]
fn has_phone_run(s: &str) -> bool {
    has_phone(s, PhoneRule::Any)
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
                "https://a.example/p?dov=b.1767225600&utm_campaign=20240101&lid=ab123456",
                "https://a.example/p?dov=b.1767225600&utm_campaign=20240101&lid=ab123456",
            ),
            (
                // A phone-length run in a kept parameter is removed (it was kept before).
                "https://a.example/p?utm_campaign=20240101&lid=1234567890",
                "https://a.example/p?utm_campaign=20240101",
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
            if sc.is_clean(&s, &Needles::new(&[]), 0) {
                proptest::prop_assert_eq!(sc.rebuild(&s, &Needles::new(&[]), 0), s.clone());
            }
            let needles = ["abcde1"];
            if sc.is_clean(&s, &Needles::new(&needles), 0) {
                proptest::prop_assert_eq!(sc.rebuild(&s, &Needles::new(&needles), 0), s);
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
