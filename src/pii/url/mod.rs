//! URL scrubbing: personal query parameters out, the variant tag and campaign tags in.

use std::borrow::Cow;

mod needles;
mod params;
mod text;

pub use needles::holds_personal_value;
pub(crate) use needles::{
    LayerMemo, Layers, MemoHasher, Needles, Trial, UNSCREENED, holds_in, holds_in_field,
    memo_hasher,
};
use params::*;
pub use text::PHONE_MIN_DIGITS;
pub(crate) use text::has_ip;
use text::*;

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

/// How deep URLs nested in parameter values (`?next=https://...`) are scrubbed;
/// a URL nested deeper is removed.
const MAX_NESTED_URLS: usize = 3;

/// The number of digits that makes a run phone-number-like in a path segment
/// and in the values of kept parameters (`utm_*`, `lid`), where dates such as
/// `20240101` are common; a run led by `+` needs only [`PHONE_MIN_DIGITS`].
const PHONE_MIN_DIGITS_KEPT: usize = 9;

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
pub(crate) enum Verdict {
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

    /// The scrubbed URL of a record whose personal values are `needles`, written
    /// into `out` (cleared first): the same text as [`UrlScrubber::scrub_with`]
    /// gives, built in one pass without the clean check first (for callers that
    /// copy the result anyway, or that compare it with the input themselves).
    pub(crate) fn scrub_into(&self, url: &str, needles: &Needles<'_>, out: &mut String) {
        out.clear();
        self.rebuild_into(url, needles, 0, out);
    }

    /// The scrubbed URL, built part by part.
    fn rebuild(&self, url: &str, needles: &Needles<'_>, depth: usize) -> String {
        let mut out = String::with_capacity(url.len());
        self.rebuild_into(url, needles, depth, &mut out);
        out
    }

    /// [`UrlScrubber::rebuild`], appended to `out`.
    fn rebuild_into(&self, url: &str, needles: &Needles<'_>, depth: usize, out: &mut String) {
        let (before_fragment, fragment) = match find_byte(url, b'#') {
            Some(i) => (&url[..i], Some(&url[i + 1..])),
            None => (url, None),
        };
        let (base, query) = match find_byte(before_fragment, b'?') {
            Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
            None => (before_fragment, None),
        };
        self.push_base(base, out, needles);
        if let Some(q) = query {
            let mark = out.len();
            out.push('?');
            if !self.push_query(q, out, needles, depth) {
                out.truncate(mark);
            }
        }
        if let Some(f) = fragment {
            self.push_fragment(f, out, needles, depth);
        }
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
        let (base, query) = match find_byte(url, b'?') {
            Some(i) => (&url[..i], Some(&url[i + 1..])),
            None => (url, None),
        };
        let (_, rest) = split_scheme(base);
        let path = match rest.strip_prefix("//") {
            Some(after) => {
                let end = find_byte(after, b'/').unwrap_or(after.len());
                let host = &after[..end];
                if needles.found_in(host) || needles.found_in(&decode(host)) {
                    return false;
                }
                &after[end..]
            }
            None => rest,
        };
        if split_byte(path, b'/').any(|seg| self.segment_is_personal(seg, needles)) {
            return false;
        }
        match query {
            None => true,
            Some(q) => {
                !q.is_empty()
                    && split_byte(q, b'&').all(|p| {
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
            let end = find_byte(after, b'/').unwrap_or(after.len());
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
        for (i, segment) in split_byte(path, b'/').enumerate() {
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
        let (head, query) = match find_byte(fragment, b'?') {
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
        // A parameter that repeats through a file (`utm_source=braze`) is
        // judged once: what does not depend on the record is remembered, and
        // each record only searches the remembered layers for its own values.
        let Some(memo) = needles.memo() else {
            return self.param_verdict_full(param, needles, depth);
        };
        let known = memo.borrow_mut().judge_param(param, needles);
        match known {
            Some(Some(v)) => return v,
            Some(None) => return self.param_verdict_full(param, needles, depth),
            None => {}
        }
        if !memo.borrow().remembers_params() {
            return self.param_verdict_full(param, needles, depth);
        }
        let facts = self.param_facts(param, depth);
        let verdict = match &facts {
            Some(f) => f.verdict(needles, UNSCREENED),
            None => self.param_verdict_full(param, needles, depth),
        };
        memo.borrow_mut().remember_param(param, facts);
        verdict
    }

    /// What the verdict on `param` is without the record's own values: `None`
    /// when it also depends on them in another way (a nested URL).
    fn param_facts(&self, param: &str, depth: usize) -> Option<ParamFacts> {
        let none = Needles::new(&[]);
        match self.param_verdict_full(param, &none, depth) {
            Verdict::Drop => return Some(ParamFacts::Drop),
            Verdict::Replace(_) => return None,
            Verdict::Keep => {}
        }
        let (raw_name, raw_value) = match find_byte(param, b'=') {
            Some(i) => (&param[..i], &param[i + 1..]),
            None => (param, ""),
        };
        let mut layers = Vec::new();
        plain_layers(raw_name, &mut layers)?;
        plain_layers(raw_value, &mut layers)?;
        Some(ParamFacts::Layers(layers))
    }

    fn param_verdict_full(&self, param: &str, needles: &Needles<'_>, depth: usize) -> Verdict {
        let (raw_name, raw_value) = match find_byte(param, b'=') {
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

/// The verdict on a parameter without the record's own values (see
/// `UrlScrubber::param_facts`).
pub(crate) enum ParamFacts {
    /// Dropped whatever the record.
    Drop,
    /// Kept unless one of these texts (the decoding layers of its name and
    /// value) holds one of the record's values.
    Layers(Vec<String>),
}

impl ParamFacts {
    /// The verdict for a record (`needles`), the facts stamped `stamp` when
    /// remembered (see [`Needles::screened`]).
    pub(super) fn verdict(&self, needles: &Needles<'_>, stamp: u32) -> Verdict {
        match self {
            ParamFacts::Drop => Verdict::Drop,
            ParamFacts::Layers(_) if needles.screened(stamp) => Verdict::Keep,
            ParamFacts::Layers(l) if l.iter().any(|t| needles.found_in(t)) => Verdict::Drop,
            ParamFacts::Layers(_) => Verdict::Keep,
        }
    }
}

/// Appends `raw` and its decoding layers (the ones `value_verdict` reads) to
/// `out`; `None` when a layer is a URL (scrubbed with the record's values).
/// Empty texts hold nothing and are not kept.
fn plain_layers(raw: &str, out: &mut Vec<String>) -> Option<()> {
    let mut layer: Cow<'_, str> = Cow::Borrowed(raw);
    for _ in 0..=DECODE_ROUNDS {
        if layer.is_empty() {
            return Some(());
        }
        let sum = Summary::of(&layer);
        if sum.any(C_SLASH) && looks_like_url(&layer) {
            return None;
        }
        let encoded = sum.any(C_PCT) && has_escape(&layer);
        let next = if encoded || sum.may_be_base64() {
            next_layer(&layer)
        } else {
            None
        };
        out.push(layer.into_owned());
        match next {
            None => return Some(()),
            Some(n) => layer = Cow::Owned(n),
        }
    }
    Some(())
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

/// The index of the first `b` (an ASCII byte, so never inside a character) in `s`.
#[inline]
fn find_byte(s: &str, b: u8) -> Option<usize> {
    memchr::memchr(b, s.as_bytes())
}

/// `s` split at every `b` (an ASCII byte), like `str::split` with that character.
#[inline]
fn split_byte(s: &str, b: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match find_byte(r, b) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn split_scheme(s: &str) -> (Option<&str>, &str) {
    let Some(i) = find_byte(s, b':') else {
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
        // `+` is a space in a query string, whether or not escapes follow.
        if !b.contains(&b'+') && (!b.contains(&b'%') || !(0..b.len()).any(|i| is_escape(b, i))) {
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
mod tests;
