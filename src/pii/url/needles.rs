//! The record's own personal values, searched for in every kept text.

use std::cell::RefCell;
use std::collections::HashMap;

use super::text::{DECODE_ROUNDS, base64_text, has_escape, next_layer, pct_and_letters};

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
    /// Texts of this file already found to have no decoding layer (see
    /// [`LayerMemo`]), when the caller keeps one.
    memo: Option<&'a RefCell<LayerMemo>>,
    /// A bit per [`triple_hash`] of the triples in the first `min_len` bytes of
    /// the values.
    triples: [u64; TRIPLE_WORDS],
    min_len: usize,
    /// Texts the memo stamped below this hold none of the values (see
    /// [`Screen`]); 0 when not screened.
    screened: u32,
}

/// The size of the triple filter, in 64-bit words.
pub(super) const TRIPLE_WORDS: usize = 32;

/// The filter slot of a byte triple: from the low five bits of each byte, so
/// that the two ASCII cases of a letter share a slot.
pub(super) fn triple_hash(a: u8, b: u8, c: u8) -> usize {
    triple_slot((u32::from(a & 31) << 10) | (u32::from(b & 31) << 5) | u32::from(c & 31))
}

/// The filter slot of a triple's 15-bit key: 2048 slots, the top eleven bits
/// of a multiplicative hash.
#[inline]
fn triple_slot(x: u32) -> usize {
    (x.wrapping_mul(0x9E37_79B1) >> 21) as usize
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
                // `triple_hash` of each triple, the key rolled one byte at a time.
                let mut x = 0u32;
                for (i, &c) in head.iter().enumerate() {
                    x = ((x << 5) | u32::from(c & 31)) & 0x7FFF;
                    if i >= 2 {
                        let h = triple_slot(x);
                        triples[h >> 6] |= 1 << (h & 63);
                    }
                }
            }
        }
        Needles {
            vals,
            memo: None,
            triples,
            min_len,
            screened: 0,
        }
    }

    /// [`Needles::new`] that remembers, in `memo`, the texts that have no
    /// decoding layer (campaign names, user agents and other values that repeat
    /// through a file), so that only their plain search is repeated.
    pub(crate) fn with_memo(vals: &'a [&'a str], memo: &'a RefCell<LayerMemo>) -> Self {
        Needles {
            memo: Some(memo),
            screened: memo.borrow().screen.clear_below(vals),
            ..Needles::new(vals)
        }
    }

    /// Whether the memo's texts stamped `stamp` are known to hold none of the
    /// values (their windows were screened before this record).
    #[inline]
    pub(crate) fn screened(&self, stamp: u32) -> bool {
        stamp < self.screened
    }

    /// The file's memo, when the caller keeps one.
    pub(crate) fn memo(&self) -> Option<&'a RefCell<LayerMemo>> {
        self.memo
    }

    /// Whether there is any value to search for.
    pub(crate) fn is_empty(&self) -> bool {
        self.min_len == usize::MAX
    }

    /// Whether `hay` contains one of the values, ASCII case-insensitively.
    #[inline]
    pub(super) fn found_in(&self, hay: &str) -> bool {
        self.found_in_bytes(hay.as_bytes())
    }

    /// [`Needles::found_in`] on bytes.
    #[inline]
    pub(super) fn found_in_bytes(&self, b: &[u8]) -> bool {
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
    pub(super) fn found_around(&self, b: &[u8], p: usize, step: usize) -> bool {
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

/// Whether `text`, in any decoded form the URL scrubber reads (percent-decoding,
/// base64, JWT segments; up to the decoding bound), contains one of `personal`
/// (a record's personal values; values shorter than five bytes are ignored), or
/// is still encoded at the bound. The filter and [`sanitize`](crate::pii::sanitize)
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
    holds_core(text.as_bytes(), Some(text), needles, None)
}

/// [`holds_in`] on the bytes of a string (not UTF-8: nothing to decode) of
/// a field whose values `trial` counts: a field whose values do not repeat
/// stops going through the memo.
#[inline]
pub(crate) fn holds_in_field(text: &[u8], needles: &Needles<'_>, trial: &mut Trial) -> bool {
    holds_core(text, None, needles, Some(trial))
}

/// Lookups and hits of one field's values in a file's memo, to stop
/// remembering a field whose values do not repeat (ids).
#[derive(Clone, Copy, Default)]
pub(crate) struct Trial {
    tries: u32,
    hits: u32,
}

impl Trial {
    /// After this many lookups, a field that found fewer than a quarter of its
    /// values remembered is no longer remembered.
    const LOOKUPS: u32 = 512;

    /// Whether the field's values are not worth remembering.
    #[inline]
    pub(crate) fn unique(&self) -> bool {
        self.tries >= Self::LOOKUPS && self.hits < self.tries / 4
    }

    /// Counts a lookup (`hit`: found remembered).
    #[inline]
    pub(crate) fn count(&mut self, hit: bool) {
        self.tries = self.tries.saturating_add(1);
        self.hits = self.hits.saturating_add(u32::from(hit));
    }
}

/// [`holds_in`] and [`holds_in_field`]; `known` is `text` as a string when the caller has it
/// (no second UTF-8 check).
#[inline(always)]
fn holds_core(
    text: &[u8],
    known: Option<&str>,
    needles: &Needles<'_>,
    mut trial: Option<&mut Trial>,
) -> bool {
    if needles.is_empty() {
        return false;
    }
    // Not encoded (no escape, and no letter, which a base64 token of text
    // needs): the search of the text itself is the whole check.
    let (pct, letters) = pct_and_letters(text);
    if !(pct || (letters && text.len() >= 8)) {
        return needles.found_in_bytes(text);
    }
    // A text the memo knows: no decoding, and no search at all when the
    // record's values were screened out of it and its layers.
    let memo = needles
        .memo
        .filter(|_| !trial.as_ref().is_some_and(|t| t.unique()));
    if let Some(memo) = memo {
        let found = memo.borrow().lookup(text, needles);
        if let Some(t) = &mut trial {
            t.count(found.is_some());
        }
        if let Some(found) = found {
            return found;
        }
    }
    if needles.found_in_bytes(text) {
        return true;
    }
    let Some(t) = known.or_else(|| std::str::from_utf8(text).ok()) else {
        return false;
    };
    let layers = Layers::of(t, pct);
    let found = layers.holds(needles);
    if let Some(memo) = memo {
        memo.borrow_mut().remember(text, layers);
    }
    found
}

/// The decoding layers of a text (percent-decoding, base64, JWT segments), which
/// do not depend on the record: the first up to the decoding bound, and whether
/// the last one could still be decoded (then the text counts as personal).
pub(crate) struct Layers {
    layers: Vec<String>,
    encoded_at_bound: bool,
}

impl Layers {
    /// The layers of any text: none when it cannot be encoded (no escape, and
    /// no letter, which a base64 token of text needs).
    pub(crate) fn of_text(t: &str) -> Layers {
        let (pct, letters) = pct_and_letters(t.as_bytes());
        if pct || (letters && t.len() >= 8) {
            Layers::of(t, pct)
        } else {
            Layers {
                layers: Vec::new(),
                encoded_at_bound: false,
            }
        }
    }

    /// Whether `t`, whose layers these are, holds one of `needles` (the
    /// verdict of [`holds_in`] without decoding `t` again).
    #[inline]
    pub(crate) fn text_holds(&self, t: &str, needles: &Needles<'_>) -> bool {
        !needles.is_empty() && (needles.found_in(t) || self.holds(needles))
    }

    /// [`Layers::text_holds`] for a text the memo stamped `stamp` when it
    /// screened `t` and these layers: no search when the record's values were
    /// screened out.
    #[inline]
    pub(crate) fn stamped_text_holds(&self, t: &str, stamp: u32, needles: &Needles<'_>) -> bool {
        if needles.screened(stamp) {
            !needles.is_empty() && self.encoded_at_bound
        } else {
            self.text_holds(t, needles)
        }
    }

    /// Adds `t` and these layers (its own) to the memo's screen; the stamp to
    /// keep with them.
    pub(crate) fn screen(&self, t: &str, memo: &RefCell<LayerMemo>) -> u32 {
        let mut m = memo.borrow_mut();
        m.screen.add(t.as_bytes());
        for l in &self.layers {
            m.screen.add(l.as_bytes());
        }
        m.screen.stamp()
    }

    /// The layers of `t` (`pct`: whether it holds a `%`).
    #[inline(never)]
    fn of(t: &str, pct: bool) -> Layers {
        // `next_layer` without searching the text for an escape again.
        let first = if pct && has_escape(t) {
            next_layer(t)
        } else {
            base64_text(t)
        };
        let mut layers = Vec::new();
        let Some(first) = first else {
            return Layers {
                layers,
                encoded_at_bound: false,
            };
        };
        layers.push(first);
        for round in 1..=DECODE_ROUNDS {
            let Some(next) = layers.last().and_then(|l| next_layer(l)) else {
                break;
            };
            if round == DECODE_ROUNDS {
                return Layers {
                    layers,
                    encoded_at_bound: true,
                };
            }
            layers.push(next);
        }
        Layers {
            layers,
            encoded_at_bound: false,
        }
    }

    /// Whether a layer holds one of `needles`, or the text is still encoded at
    /// the bound.
    fn holds(&self, needles: &Needles<'_>) -> bool {
        self.encoded_at_bound || self.layers.iter().any(|l| needles.found_in(l))
    }
}

/// The windows of [`MIN_PERSONAL_LEN`] bytes (ASCII lowercased) of every
/// text a file's memo remembers, in a two-probe Bloom filter: a record whose
/// values' first windows are all absent has none of its values in any of
/// those texts (an occurrence would put its first window there), so their
/// search is skipped. A false hit only costs the search. Each remembered text
/// is stamped when added; a record's screen covers the stamps before it.
#[derive(Default)]
pub(crate) struct Screen {
    /// `1 << SCREEN_BITS` bits, allocated with the first text.
    bits: Vec<u64>,
    /// The stamp of the next text added.
    next: u32,
}

/// The screen holds `1 << SCREEN_BITS` bits (256 KiB).
const SCREEN_BITS: u32 = 21;

/// The stamp of a text that was not screened (never covered by a record's
/// screen: always searched).
pub(crate) const UNSCREENED: u32 = u32::MAX;

impl Screen {
    /// The two bit positions of a window (its first [`MIN_PERSONAL_LEN`] bytes).
    #[inline]
    fn probes(w: &[u8]) -> (usize, usize) {
        let mut x = 0u64;
        for &c in w.iter().take(MIN_PERSONAL_LEN) {
            x = (x << 8) | u64::from(c.to_ascii_lowercase());
        }
        let h = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mask = (1usize << SCREEN_BITS) - 1;
        (
            (h >> (64 - SCREEN_BITS)) as usize,
            (h >> 20) as usize & mask,
        )
    }

    #[inline]
    fn get(&self, i: usize) -> bool {
        self.bits
            .get(i >> 6)
            .is_some_and(|w| w & (1 << (i & 63)) != 0)
    }

    fn add(&mut self, text: &[u8]) {
        if self.bits.is_empty() {
            self.bits = vec![0; 1 << (SCREEN_BITS - 6)];
        }
        for w in text.windows(MIN_PERSONAL_LEN) {
            let (a, b) = Screen::probes(w);
            if let Some(x) = self.bits.get_mut(a >> 6) {
                *x |= 1 << (a & 63);
            }
            if let Some(x) = self.bits.get_mut(b >> 6) {
                *x |= 1 << (b & 63);
            }
        }
    }

    /// The stamp of the texts added since the last stamp.
    fn stamp(&mut self) -> u32 {
        let s = self.next;
        self.next = self.next.saturating_add(1);
        s
    }

    /// The stamps below which no text holds one of `vals` (0 when one of
    /// their first windows may be in a text).
    fn clear_below(&self, vals: &[&str]) -> u32 {
        if self.next == 0 {
            return 0;
        }
        for v in vals {
            if let Some(w) = v.as_bytes().get(..MIN_PERSONAL_LEN) {
                let (a, b) = Screen::probes(w);
                if self.get(a) && self.get(b) {
                    return 0;
                }
            }
        }
        self.next
    }
}

/// Personal values shorter than this are not searched for (they would match
/// ordinary text).
pub(super) const MIN_PERSONAL_LEN: usize = 5;

/// The decoding layers of texts of one file (campaign and canvas names, user
/// agents and other values that repeat through it), so that each record only
/// searches them for its own values. Kept for one call of `clean_file` or
/// `sanitize` and dropped with it; bounded in entries and in text length.
pub(crate) struct LayerMemo {
    texts: HashMap<Box<[u8]>, (Layers, u32), MemoHasher>,
    /// URL parameters (`name=value`) judged without the record's values, with
    /// their stamps; `None` for one that depends on them otherwise (a nested URL).
    params: HashMap<Box<str>, (Option<super::ParamFacts>, u32), MemoHasher>,
    /// The windows of the texts above.
    screen: Screen,
    /// Parameter lookups and hits, to stop remembering a file of unique ones.
    param_seen: Trial,
}

impl LayerMemo {
    /// An empty memo for the file whose sync marker is `seed` (see
    /// [`memo_hasher`]).
    pub(crate) fn new(seed: [u8; 16]) -> LayerMemo {
        LayerMemo {
            texts: HashMap::with_hasher(memo_hasher(seed)),
            params: HashMap::with_hasher(memo_hasher(seed)),
            screen: Screen::default(),
            param_seen: Trial::default(),
        }
    }

    /// At most this many texts are remembered.
    const MAX_TEXTS: usize = 4096;
    /// Longer texts are not remembered.
    const MAX_LEN: usize = 512;

    /// The verdict for `text` when its layers are known (the search of the
    /// text itself included).
    fn lookup(&self, text: &[u8], needles: &Needles<'_>) -> Option<bool> {
        if self.texts.is_empty() {
            return None;
        }
        self.texts.get(text).map(|(l, stamp)| {
            if needles.screened(*stamp) {
                l.encoded_at_bound
            } else {
                needles.found_in_bytes(text) || l.holds(needles)
            }
        })
    }

    /// The verdict on URL parameter `param` from what is remembered of it:
    /// `Some(Some(v))` when known, `Some(None)` when it must be judged in full
    /// (a nested URL), `None` when not remembered.
    pub(super) fn judge_param(
        &mut self,
        param: &str,
        needles: &Needles<'_>,
    ) -> Option<Option<super::Verdict>> {
        if self.params.is_empty() {
            return None;
        }
        let found = self.params.get(param)?;
        self.param_seen.count(true);
        let (facts, stamp) = found;
        Some(facts.as_ref().map(|f| f.verdict(needles, *stamp)))
    }

    /// Whether new parameters are still worth remembering: not past the
    /// bound, and after a trial, found again often enough.
    pub(super) fn remembers_params(&self) -> bool {
        self.params.len() < Self::MAX_TEXTS && !self.param_seen.unique()
    }

    /// Remembers the facts of `param` (counted as a lookup that missed).
    pub(super) fn remember_param(&mut self, param: &str, facts: Option<super::ParamFacts>) {
        self.param_seen.count(false);
        if param.len() <= Self::MAX_LEN {
            if let Some(super::ParamFacts::Layers(layers)) = &facts {
                for l in layers {
                    self.screen.add(l.as_bytes());
                }
            }
            let stamp = self.screen.stamp();
            self.params.insert(param.into(), (facts, stamp));
        }
    }

    fn remember(&mut self, text: &[u8], layers: Layers) {
        if self.texts.len() < Self::MAX_TEXTS && text.len() <= Self::MAX_LEN {
            self.screen.add(text);
            for l in &layers.layers {
                self.screen.add(l.as_bytes());
            }
            let stamp = self.screen.stamp();
            self.texts.insert(text.into(), (layers, stamp));
        }
    }
}

/// The hasher of a file's memo tables: `foldhash`, seeded with the file's sync
/// marker (random bytes its writer chose), so that texts a sender controls
/// (user agents, links) cannot be made to collide in advance, and the same
/// file always hashes the same way (no hidden randomness).
pub(crate) type MemoHasher = foldhash::fast::FixedState;

/// The [`MemoHasher`] of the file whose sync marker is `seed`.
pub(crate) fn memo_hasher(seed: [u8; 16]) -> MemoHasher {
    let (a, b) = seed.split_at(8);
    let word = |x: &[u8]| x.iter().fold(0u64, |w, &c| (w << 8) | u64::from(c));
    foldhash::fast::FixedState::with_seed(word(a) ^ word(b).rotate_left(32))
}
