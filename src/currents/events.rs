//! Typed Braze Currents events: the 11 email event types (newest schema plus the
//! announced v12 fields) and the three conversion event types (every published
//! schema's fields).
//!
//! One struct per event type, generated from the crate's one field list. Strings
//! are [`Cow`]s: the decoder borrows them from the decompressed block
//! (`Click<'block>`), and [`Click::into_owned`] gives a `Click<'static>`. Every
//! field that is not on the default allowlist of the `pii` module (and the
//! unscrubbed `url`) sits in a [`Pii`] wrapper, which cannot be serialised and
//! prints `[REDACTED]`.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::cursor::{Code, Cur, Fail, Val};
use super::kind::{FieldDef, FieldKind, FieldValue, Slot, kind_ty};
use super::plan::Plan;
use crate::vocab::{Pii, RecipientKey};

/// Implemented for every typed event struct: store a value into the field at
/// `slot` (the index in `FIELDS`), or decode a canonical prefix straight-line.
pub(crate) trait Typed<'a>: Sized {
    /// Stores `v` into the field at `slot`.
    fn set(&mut self, slot: usize, v: Val<'a>);

    /// Straight-line decoding of the first `n` typed fields, for writer schemas
    /// whose fields are exactly those, in `FIELDS` order, with the canonical
    /// Braze types.
    fn decode_prefix(&mut self, cur: &mut Cur<'a>, n: usize) -> Result<(), Fail>;
}

// Field lookups for `field!(name, callback, ...)` (see `crate::fields`).
macro_rules! ty_of {
    ($kind:ident, $class:ident, $doc:literal) => {
        kind_ty!($kind)
    };
}
macro_rules! doc_of {
    ($kind:ident, $class:ident, $doc:literal, $name:ident) => {
        concat!(
            $doc,
            "\n\nBraze field `",
            stringify!($name),
            "` (",
            stringify!($kind),
            ")."
        )
    };
}
macro_rules! kind_of {
    ($kind:ident, $class:ident, $doc:literal) => {
        FieldKind::$kind
    };
}

macro_rules! events {
    ( ; $(
        $(#[$meta:meta])*
        $ty:ident = $full:literal { $($field:ident),* $(,)? } + { $($announced:ident),* $(,)? }
    )* ) => {
        $( events!(@one $(#[$meta])* $ty = $full { $($field,)* $($announced,)* } published { $($field,)* }); )*

        /// The Braze Currents event types the crate decodes: the 11 email event
        /// types and the three conversion event types.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
                 serde::Serialize, serde::Deserialize)]
        #[non_exhaustive]
        pub enum EventType {
            $(
                #[doc = concat!("`", $full, "`")]
                #[serde(rename = $full)]
                $ty,
            )*
        }

        impl EventType {
            /// Every event type, in a fixed order.
            pub const ALL: &'static [EventType] = &[ $( EventType::$ty, )* ];

            /// The full Braze name, for example `users.messages.email.Click`.
            pub const fn name(self) -> &'static str {
                match self { $( EventType::$ty => $full, )* }
            }

            /// The short name, the Rust variant's, for example `Click` or
            /// `CampaignConversion`. For the email types it is also the Avro
            /// record name; the three conversion types share the record name
            /// `Conversion` (see [`record_name`](Self::record_name)).
            pub const fn short_name(self) -> &'static str {
                match self { $( EventType::$ty => stringify!($ty), )* }
            }

            /// The Avro record name: the last part of the full name (`Click`,
            /// `Conversion`).
            pub const fn record_name(self) -> &'static str {
                split_full_name(self.name()).1
            }

            /// The namespace of the full name, for example `users.messages.email`
            /// or `users.canvas.experimentstep`. Braze's files prefix it with
            /// `dataexport.S3.inner.` (except the 2021-06-30 internal variant).
            pub const fn namespace(self) -> &'static str {
                split_full_name(self.name()).0
            }

            /// Whether this is one of the conversion event types.
            pub const fn is_conversion(self) -> bool {
                matches!(self, EventType::CampaignConversion | EventType::CanvasConversion
                    | EventType::ExperimentStepConversion)
            }

            /// The typed fields of this event type, in the newest schema's order.
            pub const fn fields(self) -> &'static [FieldDef] {
                match self { $( EventType::$ty => $ty::FIELDS, )* }
            }

            /// The fields Braze has published for this event type: the newest
            /// published schema's fields in order, without the announced ones.
            pub const fn published_fields(self) -> &'static [FieldDef] {
                match self { $( EventType::$ty => $ty::FIELDS.split_at($ty::PUBLISHED).0, )* }
            }

            /// Parses a full name (`users.messages.email.Click`,
            /// `users.campaigns.Conversion`) or a [short name](Self::short_name)
            /// (`Click`, `CampaignConversion`). Case-sensitive, as Braze writes
            /// them. The bare record name `Conversion` names no single type.
            pub fn from_name(name: &str) -> Option<EventType> {
                match name {
                    $( $full | stringify!($ty) => Some(EventType::$ty), )*
                    _ => None,
                }
            }

            /// The event type of an Avro writer schema's full name (namespace
            /// and record name): the full Braze name, with any prefix such as
            /// `dataexport.S3.inner.`; or, for the email types, whose record
            /// names are unique, the record name in any namespace. `None` for
            /// a bare or unknown `Conversion` and every other name.
            pub fn from_schema_name(full_name: &str) -> Option<EventType> {
                for et in EventType::ALL {
                    let n = et.name();
                    if full_name == n
                        || full_name
                            .strip_suffix(n)
                            .is_some_and(|prefix| prefix.ends_with('.'))
                    {
                        return Some(*et);
                    }
                }
                let record = full_name.rsplit('.').next().unwrap_or(full_name);
                EventType::ALL
                    .iter()
                    .copied()
                    .find(|et| !et.is_conversion() && et.record_name() == record)
            }
        }

        /// A decoded event of any of the types.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Event<'a> {
            $(
                #[doc = concat!("`", $full, "`")]
                $ty($ty<'a>),
            )*
        }

        impl<'a> Event<'a> {
            /// The event type.
            pub fn event_type(&self) -> EventType {
                match self { $( Event::$ty(_) => EventType::$ty, )* }
            }

            /// Copies every borrowed string, detaching the event from the decoded block.
            pub fn into_owned(self) -> Event<'static> {
                match self { $( Event::$ty(e) => Event::$ty(e.into_owned()), )* }
            }

            /// An empty event of type `event_type` (see the structs' `empty`).
            pub fn empty(event_type: EventType) -> Self {
                match event_type { $( EventType::$ty => Event::$ty($ty::empty()), )* }
            }

            /// The Currents event id (`id`).
            pub fn id(&self) -> &str {
                match self { $( Event::$ty(e) => &e.id, )* }
            }

            /// The event time (`time`).
            pub fn time(&self) -> DateTime<Utc> {
                match self { $( Event::$ty(e) => e.time, )* }
            }

            /// The value of the field at `slot` (its index in the event type's
            /// [`fields`](EventType::fields)), or `None` when out of range.
            #[allow(non_upper_case_globals, reason = "slot constants named after the Braze fields")]
            pub fn value(&self, slot: usize) -> Option<FieldValue<'_>> {
                match self { $( Event::$ty(e) => e.value(slot), )* }
            }

            /// The value of the typed field named `name`, or `None` when this
            /// event type has no such field.
            pub fn get(&self, name: &str) -> Option<FieldValue<'_>> {
                let slot = self.event_type().fields().iter().position(|f| f.name == name)?;
                self.value(slot)
            }

            /// Every typed field with its value, in the newest schema's order.
            pub fn values(&self) -> impl Iterator<Item = (&'static FieldDef, FieldValue<'_>)> + '_ {
                self.event_type()
                    .fields()
                    .iter()
                    .enumerate()
                    .filter_map(move |(i, f)| Some((f, self.value(i)?)))
            }

            /// Decodes one record with `plan` into this (empty) event.
            #[inline(always)]
            pub(crate) fn decode_with(
                &mut self,
                plan: &Plan,
                cur: &mut Cur<'a>,
                key: &mut Option<RecipientKey>,
            ) -> Result<(), Fail> {
                match self { $( Event::$ty(e) => plan.decode(cur, e, key), )* }
            }

            /// Stores `v` into the field at `slot` (its index in the event
            /// type's fields); a value of another kind than the slot's is ignored.
            pub(crate) fn set_slot(&mut self, slot: usize, v: Val<'a>) {
                match self { $( Event::$ty(e) => Typed::set(e, slot, v), )* }
            }

            /// The Braze user id (personal data, wrapped).
            pub fn user_id(&self) -> &Pii<Cow<'a, str>> {
                match self { $( Event::$ty(e) => &e.user_id, )* }
            }
        }

    };
    (@one $(#[$meta:meta])* $ty:ident = $full:literal { $($field:ident,)* } published { $($published:ident,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub struct $ty<'a> {
            $(
                #[doc = field!($field, doc_of, $field)]
                pub $field: field!($field, ty_of),
            )*
        }

        impl<'a> $ty<'a> {
            /// The typed fields of this event, in the newest schema's order
            /// (announced v12 fields last).
            pub const FIELDS: &'static [FieldDef] = &[
                $( FieldDef { name: stringify!($field), kind: field!($field, kind_of) }, )*
            ];

            /// How many of [`FIELDS`](Self::FIELDS) Braze has published (the
            /// rest are announced for a future schema).
            pub const PUBLISHED: usize = [$(stringify!($published)),*].len();

            /// The event type of this struct.
            pub const EVENT_TYPE: EventType = EventType::$ty;

            /// An event with every optional field `None`, empty required strings
            /// and `time` at the UNIX epoch (decoders fill it in).
            pub fn empty() -> Self {
                Self { $( $field: Slot::empty(), )* }
            }

            /// The value of the field at `slot` (its index in `FIELDS`), or
            /// `None` when `slot` is out of range.
            #[allow(non_upper_case_globals, reason = "slot constants named after the Braze fields")]
            pub fn value(&self, slot: usize) -> Option<FieldValue<'_>> {
                #[allow(non_camel_case_types, reason = "one variant per Braze field name")]
                enum Slots { $($field),* }
                $( const $field: usize = Slots::$field as usize; )*
                match slot {
                    $( $field => Some(Slot::view(&self.$field)), )*
                    _ => None, // past the last field
                }
            }

            /// Copies every borrowed string, detaching the event from the decoded block.
            pub fn into_owned(self) -> $ty<'static> {
                $ty { $( $field: Slot::detach(self.$field), )* }
            }

            #[inline(always)]
            fn read_prefix(
                &mut self,
                cur: &mut Cur<'a>,
                n: usize,
                i: &mut usize,
                start: &mut usize,
            ) -> Result<(), Code> {
                $(
                    if *i == n {
                        return Ok(());
                    }
                    *start = cur.pos;
                    Slot::read(&mut self.$field, cur)?;
                    *i += 1;
                )*
                Ok(())
            }
        }

        impl<'a> Typed<'a> for $ty<'a> {
            #[inline(always)]
            fn decode_prefix(&mut self, cur: &mut Cur<'a>, n: usize) -> Result<(), Fail> {
                let mut i = 0usize;
                let mut start = cur.pos;
                // Errors report the start of the failing field's value.
                self.read_prefix(cur, n, &mut i, &mut start)
                    .map_err(|code| Fail { code, pos: start, field: Some(i) })
            }

            #[inline(always)]
            #[allow(non_upper_case_globals, reason = "slot constants named after the Braze fields")]
            fn set(&mut self, slot: usize, v: Val<'a>) {
                // Slots are the indices in `FIELDS`; the plan only sends a value
                // of the kind the slot's field expects. Matching on the
                // discriminants makes this one jump table.
                #[allow(non_camel_case_types, reason = "one variant per Braze field name")]
                enum Slots { $($field),* }
                $( const $field: usize = Slots::$field as usize; )*
                match slot {
                    $( $field => Slot::set(&mut self.$field, v), )*
                    _ => {} // the plan never sends a slot past the last field
                }
            }
        }

        impl<'a> From<$ty<'a>> for Event<'a> {
            fn from(e: $ty<'a>) -> Self { Event::$ty(e) }
        }
    };
}

/// Splits `a.b.C` into `("a.b", "C")` (`("", name)` without a dot), at compile time.
const fn split_full_name(name: &'static str) -> (&'static str, &'static str) {
    let b = name.as_bytes();
    let mut i = b.len();
    while i > 0 {
        i -= 1;
        if b[i] == b'.' {
            let (ns, rest) = name.split_at(i);
            let (_, record) = rest.split_at(1);
            return (ns, record);
        }
    }
    ("", name)
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

for_each_event!(events !);
