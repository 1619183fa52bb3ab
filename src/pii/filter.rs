//! The filter from raw typed events to clean events.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::url::{
    LayerMemo, Layers, MemoHasher, Needles, Trial, UNSCREENED, holds_in, memo_hasher,
};
use super::{CleanEvent, FilterReport, Policy, Pseudonymizer, RecipientKey, UrlScrubber};
use crate::currents::{
    DecodeError, DecodeOptions, Event, EventType, RECIPIENT_KEY_FIELD, Reader, each_keyed_event,
};
use crate::vocab::{Pii, Text};

macro_rules! slots {
    ( ; $( $name:ident : $kind:ident, $class:ident, $doc:literal; )* ) => {
        /// The fields a [`CleanEvent`] carries, one bit each in a mask.
        #[allow(non_camel_case_types, reason = "one variant per Braze field name")]
        #[derive(Clone, Copy)]
        #[repr(u8)]
        enum Slot { $($name,)* }

        const SLOT_NAMES: &[&str] = &[$(stringify!($name),)*];
    };
}

for_each_field!(carried_fields ! slots [] []);

const _: () = assert!(SLOT_NAMES.len() <= 64, "the slot mask is a u64");

const fn bit(slot: Slot) -> u64 {
    1u64 << (slot as u8)
}

fn slot_mask(name: &str) -> u64 {
    SLOT_NAMES
        .iter()
        .position(|s| *s == name)
        .map_or(0, |i| 1u64 << i)
}

/// A raw field value as its clean event field: owned, no wrapper.
trait Take {
    type Clean;
    /// The clean value, unless absent or holding one of the record's personal
    /// values (`personal`); `texts`, when given, shares the file's repeated
    /// texts and their decoding layers.
    fn kept(
        &self,
        slot: Slot,
        personal: &Needles<'_>,
        texts: Option<&mut FileTexts>,
    ) -> Self::Clean;
}

/// A kept text: shared through the file's texts when there are any.
#[inline]
fn kept_text(
    v: &str,
    slot: Slot,
    personal: &Needles<'_>,
    texts: Option<&mut FileTexts>,
) -> Option<Text> {
    match texts {
        Some(t) => t.kept(slot, v, personal),
        None => (personal.is_empty() || !holds_in(v, personal)).then(|| Text::from(v)),
    }
}

/// Kept strings, and quasi-identifying ones (`Pii`), carried only when the
/// policy allows them: `$text` reads the value (`$v`) as an `Option<&str>`.
macro_rules! take_text {
    ($($t:ty, $v:ident => $text:expr;)*) => {$(
        impl Take for $t {
            type Clean = Option<Text>;
            #[inline]
            fn kept(
                &self,
                slot: Slot,
                personal: &Needles<'_>,
                texts: Option<&mut FileTexts>,
            ) -> Option<Text> {
                let $v = self;
                kept_text($text?, slot, personal, texts)
            }
        }
    )*};
}

take_text! {
    Option<Cow<'_, str>>, v => v.as_deref();
    Option<Pii<Cow<'_, str>>>, v => v.as_ref().map(|p| &**p.expose());
}

impl Take for Option<Vec<Cow<'_, str>>> {
    type Clean = Option<Vec<String>>;
    fn kept(&self, _: Slot, personal: &Needles<'_>, _: Option<&mut FileTexts>) -> Self::Clean {
        let l = self.as_ref()?;
        if !personal.is_empty() && l.iter().any(|v| holds_in(v, personal)) {
            return None;
        }
        Some(l.iter().map(|s| s.clone().into_owned()).collect())
    }
}

macro_rules! take_copy {
    ($($t:ty),*) => {$(
        impl Take for Option<$t> {
            type Clean = Option<$t>;
            #[inline]
            fn kept(&self, _: Slot, _: &Needles<'_>, _: Option<&mut FileTexts>) -> Option<$t> {
                *self
            }
        }
    )*};
}

take_copy!(bool, i64, DateTime<Utc>);

/// The texts of one file that repeat from record to record (ids, names, user
/// agents), each kept once with its decoding layers: a record's kept field then
/// costs a comparison with the last value of its slot (or a lookup) and the
/// search for the record's own personal values, and no allocation. Bounded in
/// entries and text length; a slot whose values do not repeat stops being
/// remembered.
pub(crate) struct FileTexts {
    /// Per slot, the entry of its last value (`entries` index + 1; 0: none).
    last: [u32; SLOT_NAMES.len()],
    /// Lookups and hits per slot, to stop remembering a slot of unique values.
    seen: [Trial; SLOT_NAMES.len()],
    index: HashMap<Text, u32, MemoHasher>,
    /// Each text, its layers, and its stamp in the layer memo's screen.
    entries: Vec<(Text, Layers, u32)>,
    /// The buffer a URL is scrubbed into before it is copied.
    scratch: String,
}

impl FileTexts {
    /// The empty texts of the file whose sync marker is `seed`.
    fn new(seed: [u8; 16]) -> Self {
        FileTexts {
            last: [0; SLOT_NAMES.len()],
            seen: [Trial::default(); SLOT_NAMES.len()],
            index: HashMap::with_hasher(memo_hasher(seed)),
            entries: Vec::new(),
            scratch: String::new(),
        }
    }

    /// At most this many texts are remembered.
    const MAX_TEXTS: usize = 8192;
    /// Longer texts are not remembered.
    const MAX_LEN: usize = 512;

    /// `v` of `slot` as a shared text, unless it holds one of `personal`.
    #[inline]
    fn kept(&mut self, slot: Slot, v: &str, personal: &Needles<'_>) -> Option<Text> {
        let i = slot as usize;
        if let Some((a, layers, stamp)) = (self.last[i] as usize)
            .checked_sub(1)
            .and_then(|k| self.entries.get(k))
            && **a == *v
        {
            return (!layers.stamped_text_holds(v, *stamp, personal)).then(|| a.clone());
        }
        self.kept_slow(i, v, personal)
    }

    #[inline(never)]
    fn kept_slow(&mut self, i: usize, v: &str, personal: &Needles<'_>) -> Option<Text> {
        // (Every slot has a trial: `i` is a slot.)
        let trial = self.seen.get_mut(i)?;
        if trial.unique() {
            // Unique values: decoded and copied alone (not remembered either
            // as a text or in the layer memo).
            return (!Layers::of_text(v).text_holds(v, personal)).then(|| Text::from(v));
        }
        let found = self.index.get(v).copied();
        trial.count(found.is_some());
        let k = match found {
            Some(k) => k as usize,
            None => {
                let layers = Layers::of_text(v);
                if self.entries.len() >= Self::MAX_TEXTS || v.len() > Self::MAX_LEN {
                    return (!layers.text_holds(v, personal)).then(|| Text::from(v));
                }
                let a = Text::from(v);
                let k = self.entries.len();
                // Not screened for this record (stamped after its screen).
                let stamp = personal.memo().map_or(UNSCREENED, |m| layers.screen(v, m));
                self.index.insert(a.clone(), k as u32);
                self.entries.push((a, layers, stamp));
                k
            }
        };
        self.last[i] = k as u32 + 1;
        let (a, layers, stamp) = self.entries.get(k)?;
        (!layers.stamped_text_holds(v, *stamp, personal)).then(|| a.clone())
    }
}

/// Copies one field of a raw event into the clean event when the mask keeps it;
/// `url` is scrubbed on the way. Required fields are set by `CleanEvent::new`
/// and personal fields have no place in a clean event.
macro_rules! copy_field {
    (Url, Kept, $doc:literal, $c:ident, $e:ident, $m:ident, $scrubber:ident, $p:ident, $t:ident, $name:ident) => {
        if $m & bit(Slot::$name) != 0 {
            $c.$name = $e.$name.as_ref().map(|u| {
                // Built straight into the kept value (the same text as
                // `scrub_with`, without checking it clean first), in the
                // file's scratch buffer when there is one.
                let u = u.expose();
                match $t.as_deref_mut() {
                    Some(t) => {
                        $scrubber.scrub_into(u, $p, &mut t.scratch);
                        Text::from(t.scratch.as_str())
                    }
                    None => {
                        let mut s = String::with_capacity(u.len());
                        $scrubber.scrub_into(u, $p, &mut s);
                        Text::from(s)
                    }
                }
            });
        }
    };
    ($kind:ident, Kept, $doc:literal, $c:ident, $e:ident, $m:ident, $scrubber:ident, $p:ident, $t:ident, $name:ident) => {
        if $m & bit(Slot::$name) != 0 {
            $c.$name = Take::kept(&$e.$name, Slot::$name, $p, $t.as_deref_mut());
        }
    };
    ($kind:ident, Quasi, $doc:literal, $c:ident, $e:ident, $m:ident, $scrubber:ident, $p:ident, $t:ident, $name:ident) => {
        if $m & bit(Slot::$name) != 0 {
            $c.$name = Take::kept(&$e.$name, Slot::$name, $p, $t.as_deref_mut());
        }
    };
    ($kind:ident, Required, $($rest:tt)*) => {};
    ($kind:ident, Personal, $($rest:tt)*) => {};
}

macro_rules! copy_fields {
    ( ; $(
        $(#[$meta:meta])*
        $ty:ident = $full:literal { $($field:ident),* $(,)? } + { $($announced:ident),* $(,)? }
    )* ) => {
        /// Copies the fields of `event` that `m` keeps into `c`; a kept value
        /// holding one of `p` (the record's personal values) is not copied.
        #[inline(always)]
        fn copy_fields(
            event: &Event<'_>,
            c: &mut CleanEvent,
            m: u64,
            scrubber: &UrlScrubber,
            p: &Needles<'_>,
            mut t: Option<&mut FileTexts>,
        ) {
            match event {
                $( Event::$ty(e) => {
                    $( field!($field, copy_field, c, e, m, scrubber, p, t, $field); )*
                    $( field!($announced, copy_field, c, e, m, scrubber, p, t, $announced); )*
                } )*
            }
        }

        /// Collects the record's personal values into `out`: its personal
        /// identifiers and free text (not the low-entropy `gender`, `country`,
        /// `language`), the local part of its address, and the string values of
        /// the carried fields in `tagged` (tagged `[PII]` in the file).
        fn personal_values<'e>(event: &'e Event<'_>, tagged: u64, out: &mut Personal<'e>) {
            match event {
                $( Event::$ty(e) => {
                    $( field!($field, push_personal, e, tagged, out, $field); )*
                    $( field!($announced, push_personal, e, tagged, out, $announced); )*
                } )*
            }
        }
    };
}

/// Pushes one field's value to the record's personal values (see `personal_values`).
macro_rules! push_personal {
    (RequiredPiiString, Personal, $doc:literal, $e:ident, $t:ident, $out:ident, $name:ident) => {
        $out.push(stringify!($name), $e.$name.expose());
    };
    (PiiString, Personal, $doc:literal, $e:ident, $t:ident, $out:ident, $name:ident) => {
        if let Some(v) = &$e.$name {
            $out.push(stringify!($name), v.expose());
        }
    };
    (String, $class:ident, $doc:literal, $e:ident, $t:ident, $out:ident, $name:ident) => {
        if $t != 0
            && $t & bit(Slot::$name) != 0
            && let Some(v) = &$e.$name
        {
            $out.push("", v);
        }
    };
    (PiiString, Quasi, $doc:literal, $e:ident, $t:ident, $out:ident, $name:ident) => {
        if $t != 0
            && $t & bit(Slot::$name) != 0
            && let Some(v) = &$e.$name
        {
            $out.push("", v.expose());
        }
    };
    ($kind:ident, $class:ident, $doc:literal, $e:ident, $t:ident, $out:ident, $name:ident) => {};
}

for_each_event!(copy_fields !);

/// The personal values of one record, on the stack (no allocation per record).
pub(crate) struct Personal<'e> {
    vals: [&'e str; 40],
    n: usize,
}

impl<'e> Personal<'e> {
    pub(crate) fn new() -> Self {
        Personal {
            vals: [""; 40],
            n: 0,
        }
    }

    /// Adds the value of field `name` (the local part of an address too); empty,
    /// short and `[REDACTED]` values are not worth searching for.
    pub(crate) fn push(&mut self, name: &str, v: &'e str) {
        if matches!(name, "gender" | "country" | "language") {
            return;
        }
        if name == "email_address"
            && let Some((local, _)) = v.split_once('@')
        {
            self.push_one(local);
        }
        self.push_one(v);
    }

    fn push_one(&mut self, v: &'e str) {
        if v.len() < 5 || v == super::REDACTED {
            return;
        }
        if let Some(slot) = self.vals.get_mut(self.n) {
            *slot = v;
            self.n += 1;
        }
    }

    /// The values collected.
    pub(crate) fn as_slice(&self) -> &[&'e str] {
        &self.vals[..self.n]
    }
}

/// The filter from raw typed events (from the decoder, holding PII) to
/// [`CleanEvent`]s (owned, no personal field, `url` scrubbed, `recipient_key` set
/// when a [`Pseudonymizer`] is configured or the file carried it).
///
/// A field the policy allows but [`CleanEvent`] has no place for (a host-allowed
/// custom field) is not carried by clean events; [`sanitize`](super::sanitize) keeps it
/// in the Avro output.
///
/// The policy is compiled once into a field mask. Per file, [`Filter::for_file`]
/// takes the file's writer fields with their `[PII]` tags, records what is dropped
/// in a [`FilterReport`] and gives a [`FileFilter`]; per event,
/// [`FileFilter::clean`] copies only the allowed fields.
///
/// ```
/// use dynopt::currents::{Click, Event, EventType};
/// use dynopt::pii::{Filter, FilterReport, Pii, Policy, Pseudonymizer};
/// use std::borrow::Cow;
///
/// let filter = Filter::new(Policy::default()).with_pseudonymizer(Pseudonymizer::keyed(b"secret_key"));
/// let mut report = FilterReport::new();
/// // The writer fields of the file, with their `[PII]` tags (the decoder's `Reader` lists them).
/// let fields = [("id", false), ("user_id", true), ("time", false), ("email_address", true), ("url", false), ("shoe_size", false)];
/// let file = filter.for_file(EventType::Click, fields, &mut report);
///
/// let mut click = Click::empty();
/// click.id = Cow::Borrowed("ev-1");
/// click.user_id = Pii::new(Cow::Borrowed("hey"));
/// click.email_address = Pii::new(Cow::Borrowed("jane@example.com"));
/// click.url = Some(Pii::new(Cow::Borrowed("https://shop.example/?email=jane@example.com&dov=b")));
/// let clean = file.clean(&Event::Click(click));
/// assert_eq!(clean.url.as_deref(), Some("https://shop.example/?dov=b"));
/// assert_eq!(clean.recipient_key.map(|k| k.to_string()).as_deref(), Some("8df897f8da3d7992fe57c8dbc6f27578"));
/// assert!(!serde_json::to_string(&clean)?.contains("jane"));
/// assert_eq!(report.unknown(EventType::Click), ["shoe_size"]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Filter {
    policy: Policy,
    pseudonymizer: Option<Pseudonymizer>,
    /// Slots the policy allows, before any file's tags.
    mask: u64,
}

impl Default for Filter {
    fn default() -> Self {
        Filter::new(Policy::default())
    }
}

impl Filter {
    /// A filter applying `policy`, without a pseudonymizer.
    pub fn new(policy: Policy) -> Filter {
        let mask = SLOT_NAMES
            .iter()
            .filter(|n| policy.allows(n) && !super::ALWAYS_PERSONAL.contains(n))
            .fold(0u64, |m, n| m | slot_mask(n));
        Filter {
            policy,
            pseudonymizer: None,
            mask,
        }
    }

    /// Computes `recipient_key` from each event's `user_id` with `p`.
    #[must_use]
    pub fn with_pseudonymizer(mut self, p: Pseudonymizer) -> Filter {
        self.pseudonymizer = Some(p);
        self
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The pseudonymizer, if configured.
    pub fn pseudonymizer(&self) -> Option<&Pseudonymizer> {
        self.pseudonymizer.as_ref()
    }

    /// Prepares the filter for one file of `event_type` whose writer schema has
    /// `writer_fields` (name, tagged `[PII]`), in any order. Records every dropped
    /// writer field in `report`.
    pub fn for_file<'n>(
        &self,
        event_type: EventType,
        writer_fields: impl IntoIterator<Item = (&'n str, bool)>,
        report: &mut FilterReport,
    ) -> FileFilter<'_> {
        let mut mask = self.mask;
        let mut tagged_mask = 0;
        for (name, tagged) in writer_fields {
            if tagged {
                tagged_mask |= slot_mask(name);
            }
            if let Err(reason) = self.policy.verdict(event_type, name, tagged) {
                report.record(event_type, name, reason);
                mask &= !slot_mask(name);
            }
        }
        FileFilter {
            filter: self,
            event_type,
            mask,
            tagged: tagged_mask,
        }
    }

    /// Prepares the filter for events of `event_type` without a file's schema (no
    /// `[PII]` tags known): only the policy applies.
    pub fn for_type(&self, event_type: EventType) -> FileFilter<'_> {
        FileFilter {
            filter: self,
            event_type,
            mask: self.mask,
            tagged: 0,
        }
    }
}

/// A [`Filter`] prepared for one file: per-event work only.
#[derive(Clone, Debug)]
pub struct FileFilter<'a> {
    filter: &'a Filter,
    event_type: EventType,
    mask: u64,
    /// Carried fields the file tags `[PII]`: their values are personal values
    /// of the record.
    tagged: u64,
}

impl FileFilter<'_> {
    /// The event type of the file.
    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    /// Whether the clean events of this file carry `field` (a [`CleanEvent`] field
    /// name such as `user_agent`).
    pub fn keeps(&self, field: &str) -> bool {
        matches!(field, "id" | "time") || self.mask & slot_mask(field) != 0
    }

    /// The clean event of `event`; `recipient_key` from the pseudonymizer, if any.
    pub fn clean(&self, event: &Event<'_>) -> CleanEvent {
        self.clean_keyed(event, None)
    }

    /// The clean event of `event` with a recipient key read from a sanitized file
    /// (used when present; else the pseudonymizer's key of `user_id`, if configured).
    pub fn clean_keyed(&self, event: &Event<'_>, key: Option<RecipientKey>) -> CleanEvent {
        self.clean_with(event, key, &[])
    }

    /// [`clean_keyed`](Self::clean_keyed) with more personal values of the
    /// record than its typed fields hold (`extra`: name and value, for example
    /// a Custom HTTP `user.device_id` on an event type without `device_id`).
    pub(crate) fn clean_with(
        &self,
        event: &Event<'_>,
        key: Option<RecipientKey>,
        extra: &[(&str, &str)],
    ) -> CleanEvent {
        self.clean_memo(event, key, extra, None)
    }

    /// [`clean_with`](Self::clean_with), remembering in `memo` the file's
    /// texts: their decoding layers, and the repeated ones shared.
    fn clean_memo(
        &self,
        event: &Event<'_>,
        key: Option<RecipientKey>,
        extra: &[(&str, &str)],
        memo: Option<&mut FileMemo>,
    ) -> CleanEvent {
        let mut c = CleanEvent::new(event.event_type(), event.id(), event.time());
        c.recipient_key = key.or_else(|| {
            self.filter
                .pseudonymizer
                .as_ref()
                .and_then(|p| p.key_for(event.user_id().expose()))
        });
        let mut personal = Personal::new();
        personal_values(event, self.tagged, &mut personal);
        for (name, v) in extra {
            personal.push(name, v);
        }
        let (needles, texts) = match memo {
            Some(m) => (
                Needles::with_memo(personal.as_slice(), &m.layers),
                Some(&mut m.texts),
            ),
            None => (Needles::new(personal.as_slice()), None),
        };
        copy_fields(
            event,
            &mut c,
            self.mask,
            self.filter.policy.url_scrubber(),
            &needles,
            texts,
        );
        c
    }
}

/// What the filter remembers of one file: the decoding layers of its texts and
/// its repeated kept texts.
pub(crate) struct FileMemo {
    layers: RefCell<LayerMemo>,
    texts: FileTexts,
}

impl FileMemo {
    /// The empty memo of the file whose sync marker is `seed`.
    fn new(seed: [u8; 16]) -> Self {
        FileMemo {
            layers: RefCell::new(LayerMemo::new(seed)),
            texts: FileTexts::new(seed),
        }
    }
}

/// The clean events of one file, what was dropped, and the error that stopped
/// decoding (the events decoded before it stay).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CleanFile {
    /// The event type, when the header could be read.
    pub event_type: Option<EventType>,
    /// The clean events, in file order.
    pub events: Vec<CleanEvent>,
    /// What the filter dropped.
    pub report: FilterReport,
    /// Whether the file was written by [`sanitize`](super::sanitize).
    pub sanitized: bool,
    /// The error that stopped decoding, if any.
    pub error: Option<DecodeError>,
}

impl Filter {
    /// Prepares the filter for the file `reader` reads (its writer fields and their
    /// `[PII]` tags), recording dropped fields in `report`. A sanitized file's
    /// `recipient_key` field is not reported.
    ///
    /// The streaming path, one block in memory at a time:
    ///
    /// ```
    /// use dynopt::currents::{DecodeError, DecodeOptions, Reader};
    /// use dynopt::pii::{CleanEvent, Filter, FilterReport};
    ///
    /// fn for_each_clean(
    ///     bytes: &[u8],
    ///     filter: &Filter,
    ///     mut sink: impl FnMut(CleanEvent),
    /// ) -> Result<FilterReport, DecodeError> {
    ///     let mut reader = Reader::new(bytes, &DecodeOptions::default())?;
    ///     let mut report = FilterReport::new();
    ///     let file = filter.for_reader(&reader, &mut report);
    ///     while let Some(block) = reader.next_block() {
    ///         for item in block?.keyed_events() {
    ///             let (event, key) = item?;
    ///             sink(file.clean_keyed(&event, key));
    ///         }
    ///     }
    ///     Ok(report)
    /// }
    /// assert!(for_each_clean(b"not avro", &Filter::default(), |_| {}).is_err());
    /// ```
    pub fn for_reader(&self, reader: &Reader<'_>, report: &mut FilterReport) -> FileFilter<'_> {
        let sanitized = reader.is_sanitized();
        self.for_file(
            reader.event_type(),
            reader
                .writer_fields()
                .iter()
                .filter(|f| !(sanitized && f.name == RECIPIENT_KEY_FIELD))
                .map(|f| (f.name.as_str(), f.pii_tag)),
            report,
        )
    }

    /// Decodes a whole file (a Braze file or one written by [`sanitize`](super::sanitize)) straight
    /// into clean events: the optimising side's path. Never panics; the events
    /// decoded before an error stay.
    pub fn clean_file(&self, bytes: &[u8], options: &DecodeOptions) -> CleanFile {
        let mut events = Vec::new();
        let mut out = self.each_clean(bytes, options, &mut events, |events, e| events.push(e));
        out.events = events;
        out
    }

    /// [`clean_file`](Self::clean_file) one event at a time: each clean event
    /// goes to `sink` as it is decoded, so memory holds one block and the
    /// file's shared texts, whatever the file's size. The returned
    /// [`CleanFile`] has no events (they went to `sink`); its report, flags and
    /// error are those `clean_file` gives. Never panics.
    ///
    /// ```
    /// use dynopt::currents::DecodeOptions;
    /// use dynopt::pii::Filter;
    ///
    /// let mut clicks = 0;
    /// let done = Filter::default().clean_each(b"not avro", &DecodeOptions::default(), |_| clicks += 1);
    /// assert!(done.error.is_some() && done.events.is_empty() && clicks == 0);
    /// ```
    pub fn clean_each(
        &self,
        bytes: &[u8],
        options: &DecodeOptions,
        mut sink: impl FnMut(CleanEvent),
    ) -> CleanFile {
        // A list of nothing: never full, so the output cap never applies.
        self.each_clean(bytes, options, &mut Vec::<()>::new(), |_, e| sink(e))
    }

    /// The clean events of a file, each given to `sink` with `out` (the list
    /// the whole-file cap watches); the report, flags and error.
    fn each_clean<T>(
        &self,
        bytes: &[u8],
        options: &DecodeOptions,
        out: &mut Vec<T>,
        mut sink: impl FnMut(&mut Vec<T>, CleanEvent),
    ) -> CleanFile {
        let mut done = CleanFile {
            event_type: None,
            events: Vec::new(),
            report: FilterReport::new(),
            sanitized: false,
            error: None,
        };
        let mut reader = match Reader::new(bytes, options) {
            Ok(r) => r,
            Err(e) => {
                done.error = Some(e);
                return done;
            }
        };
        done.event_type = Some(reader.event_type());
        done.sanitized = reader.is_sanitized();
        let file = self.for_reader(&reader, &mut done.report);
        let mut memo = FileMemo::new(reader.sync_marker());
        let (_, error) = each_keyed_event(&mut reader, out, 0, |out, event, key| {
            sink(out, file.clean_memo(&event, key, &[], Some(&mut memo)));
        });
        done.error = error;
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currents::FieldKind;

    #[test]
    fn every_clean_slot_is_an_allowlisted_name_or_user_agent() {
        for n in SLOT_NAMES {
            assert!(super::super::default_allows(n) || *n == "user_agent", "{n}");
        }
        assert!(SLOT_NAMES.len() <= 64);
        // Every non-PII typed field of every event type has a slot.
        for et in EventType::ALL {
            for f in et.fields() {
                let personal = matches!(
                    f.kind,
                    FieldKind::RequiredPiiString | FieldKind::PiiString | FieldKind::Attributes
                );
                if !personal && !matches!(f.name, "id" | "time") {
                    assert!(slot_mask(f.name) != 0, "{et}: {}", f.name);
                }
            }
        }
    }
}
