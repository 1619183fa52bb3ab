//! What a [`FieldKind`] means, in one place: its Rust type in the typed events
//! (`kind_ty!`), the decode target it accepts from a writer schema
//! ([`FieldKind::target`]), and its per-value behaviour ([`Slot`]: empty value,
//! straight-line read, store from the plan, borrowed view, detach).

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::cursor::{Code, Cur, Val};
use crate::vocab::Pii;

/// The Avro-level shape a typed field expects from the writer schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldKind {
    /// Required `string` (for example `id`).
    RequiredString,
    /// Required `string` holding personal data (`user_id`, `email_address`).
    RequiredPiiString,
    /// Required `int` of UNIX seconds (`time`).
    RequiredTime,
    /// `["null","string"]`, not personal.
    String,
    /// `["null","string"]` that is dropped by the default policy (personal or quasi-identifying).
    PiiString,
    /// `["null","string"]`: the clicked URL, held unscrubbed in a [`Pii`] wrapper.
    Url,
    /// `["null","boolean"]`.
    Bool,
    /// `["null","int"]` (or `long`).
    Int,
    /// `["null","int"]` (or `long`) of UNIX seconds (`send_time`).
    Time,
    /// `["null", {"type":"array","items":"string"}]`.
    StringList,
}

/// The kind of value a typed field accepts from the wire, whatever the writer's
/// exact Avro type (`int` or `long`, a bare type or a union with `null`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Str,
    Time,
    Long,
    Bool,
    List,
}

impl FieldKind {
    /// The decode target and whether the field is required (a bare type that
    /// every record has; optional fields are `["null", T]` in Braze's schemas).
    pub(crate) const fn target(self) -> (Target, bool) {
        match self {
            FieldKind::RequiredString | FieldKind::RequiredPiiString => (Target::Str, true),
            FieldKind::RequiredTime => (Target::Time, true),
            FieldKind::String | FieldKind::PiiString | FieldKind::Url => (Target::Str, false),
            FieldKind::Time => (Target::Time, false),
            FieldKind::Int => (Target::Long, false),
            FieldKind::Bool => (Target::Bool, false),
            FieldKind::StringList => (Target::List, false),
        }
    }

    /// Whether every record must carry the field.
    pub const fn is_required(self) -> bool {
        self.target().1
    }

    /// Whether the typed event holds the value in a [`Pii`] wrapper (personal
    /// and quasi-identifying strings, and the unscrubbed `url`).
    pub const fn is_wrapped(self) -> bool {
        match self {
            FieldKind::RequiredPiiString | FieldKind::PiiString | FieldKind::Url => true,
            FieldKind::RequiredString
            | FieldKind::RequiredTime
            | FieldKind::String
            | FieldKind::Bool
            | FieldKind::Int
            | FieldKind::Time
            | FieldKind::StringList => false,
        }
    }
}

/// Static description of one typed field: its Braze name and the shape it expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// The field name as Braze spells it in the Avro schema.
    pub name: &'static str,
    /// The shape the field expects.
    pub kind: FieldKind,
}

/// A borrowed view of one typed field's value, for generic code (printing,
/// tests, filters) that walks the fields of any event by name.
///
/// Personal fields (and the unscrubbed `url`) stay wrapped in [`Pii`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum FieldValue<'e> {
    /// The optional field is absent (null, or missing from the file's schema).
    Null,
    /// A non-personal string.
    Str(&'e str),
    /// A personal string, or the unscrubbed `url`.
    Pii(Pii<&'e str>),
    /// A time (`time`, `send_time`).
    Time(DateTime<Utc>),
    /// An integer (`attempt_count`).
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A list of strings (`suspected_bot_click_reason`).
    StrList(&'e [Cow<'e, str>]),
}

/// The Rust type of a field of each kind in the typed events (`'a` is the
/// block the strings borrow from).
macro_rules! kind_ty {
    (RequiredString) => { Cow<'a, str> };
    (RequiredPiiString) => { Pii<Cow<'a, str>> };
    (RequiredTime) => { DateTime<Utc> };
    (String) => { Option<Cow<'a, str>> };
    (PiiString) => { Option<Pii<Cow<'a, str>>> };
    (Url) => { Option<Pii<Cow<'a, str>>> };
    (Bool) => { Option<bool> };
    (Int) => { Option<i64> };
    (Time) => { Option<DateTime<Utc>> };
    (StringList) => { Option<Vec<Cow<'a, str>>> };
}
pub(crate) use kind_ty;

/// The per-value behaviour of each field type (one impl per Rust type of
/// `kind_ty!`; `PiiString` and `Url` share theirs).
pub(crate) trait Slot<'a>: Sized {
    /// The same type with its strings owned.
    type Detached;
    /// The value before decoding: `None`, an empty string, or the UNIX epoch.
    fn empty() -> Self;
    /// Reads the value in its canonical Braze wire shape (bare for required
    /// fields, `["null", T]` for optional ones).
    fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code>;
    /// Stores a value the plan decoded for this slot; the plan only sends the
    /// [`Val`] that the field's [`Target`] accepts, so other values cannot occur.
    fn set(&mut self, v: Val<'a>);
    /// The borrowed view.
    fn view(&self) -> FieldValue<'_>;
    /// Copies borrowed strings, detaching the value from the block.
    fn detach(self) -> Self::Detached;
}

/// Reads `["null", T]`: `None` for the null branch, else `read(cur)`.
#[inline(always)]
fn optional<'a, T>(
    cur: &mut Cur<'a>,
    read: impl FnOnce(&mut Cur<'a>) -> Result<T, Code>,
) -> Result<Option<T>, Code> {
    if cur.present()? {
        read(cur).map(Some)
    } else {
        Ok(None)
    }
}

fn detach_str(s: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(s.into_owned())
}

impl<'a> Slot<'a> for Cow<'a, str> {
    type Detached = Cow<'static, str>;
    fn empty() -> Self {
        Cow::Borrowed("")
    }
    #[inline(always)]
    fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code> {
        *self = Cow::Borrowed(cur.str()?);
        Ok(())
    }
    #[inline(always)]
    fn set(&mut self, v: Val<'a>) {
        if let Val::Str(s) = v {
            *self = Cow::Borrowed(s);
        }
    }
    fn view(&self) -> FieldValue<'_> {
        FieldValue::Str(self)
    }
    fn detach(self) -> Self::Detached {
        detach_str(self)
    }
}

impl<'a> Slot<'a> for Pii<Cow<'a, str>> {
    type Detached = Pii<Cow<'static, str>>;
    fn empty() -> Self {
        Pii::new(Cow::Borrowed(""))
    }
    #[inline(always)]
    fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code> {
        *self = Pii::new(Cow::Borrowed(cur.str()?));
        Ok(())
    }
    #[inline(always)]
    fn set(&mut self, v: Val<'a>) {
        if let Val::Str(s) = v {
            *self = Pii::new(Cow::Borrowed(s));
        }
    }
    fn view(&self) -> FieldValue<'_> {
        FieldValue::Pii(Pii::new(&**self.expose()))
    }
    fn detach(self) -> Self::Detached {
        Pii::new(detach_str(self.into_inner()))
    }
}

impl<'a> Slot<'a> for DateTime<Utc> {
    type Detached = DateTime<Utc>;
    fn empty() -> Self {
        DateTime::<Utc>::UNIX_EPOCH
    }
    #[inline(always)]
    fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code> {
        *self = cur.int_time()?;
        Ok(())
    }
    #[inline(always)]
    fn set(&mut self, v: Val<'a>) {
        if let Val::Time(t) = v {
            *self = t;
        }
    }
    fn view(&self) -> FieldValue<'_> {
        FieldValue::Time(*self)
    }
    fn detach(self) -> Self::Detached {
        self
    }
}

impl<'a> Slot<'a> for Option<Cow<'a, str>> {
    type Detached = Option<Cow<'static, str>>;
    fn empty() -> Self {
        None
    }
    #[inline(always)]
    fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code> {
        if let Some(s) = optional(cur, Cur::str)? {
            *self = Some(Cow::Borrowed(s));
        }
        Ok(())
    }
    #[inline(always)]
    fn set(&mut self, v: Val<'a>) {
        if let Val::Str(s) = v {
            *self = Some(Cow::Borrowed(s));
        }
    }
    fn view(&self) -> FieldValue<'_> {
        self.as_deref().map_or(FieldValue::Null, FieldValue::Str)
    }
    fn detach(self) -> Self::Detached {
        self.map(detach_str)
    }
}

impl<'a> Slot<'a> for Option<Pii<Cow<'a, str>>> {
    type Detached = Option<Pii<Cow<'static, str>>>;
    fn empty() -> Self {
        None
    }
    #[inline(always)]
    fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code> {
        if let Some(s) = optional(cur, Cur::str)? {
            *self = Some(Pii::new(Cow::Borrowed(s)));
        }
        Ok(())
    }
    #[inline(always)]
    fn set(&mut self, v: Val<'a>) {
        if let Val::Str(s) = v {
            *self = Some(Pii::new(Cow::Borrowed(s)));
        }
    }
    fn view(&self) -> FieldValue<'_> {
        self.as_ref().map_or(FieldValue::Null, |p| {
            FieldValue::Pii(Pii::new(&**p.expose()))
        })
    }
    fn detach(self) -> Self::Detached {
        self.map(|p| Pii::new(detach_str(p.into_inner())))
    }
}

impl<'a> Slot<'a> for Option<bool> {
    type Detached = Option<bool>;
    fn empty() -> Self {
        None
    }
    #[inline(always)]
    fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code> {
        if let Some(b) = optional(cur, Cur::boolean)? {
            *self = Some(b);
        }
        Ok(())
    }
    #[inline(always)]
    fn set(&mut self, v: Val<'a>) {
        if let Val::Bool(b) = v {
            *self = Some(b);
        }
    }
    fn view(&self) -> FieldValue<'_> {
        self.map_or(FieldValue::Null, FieldValue::Bool)
    }
    fn detach(self) -> Self::Detached {
        self
    }
}

impl<'a> Slot<'a> for Option<i64> {
    type Detached = Option<i64>;
    fn empty() -> Self {
        None
    }
    #[inline(always)]
    fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code> {
        if let Some(n) = optional(cur, Cur::int)? {
            *self = Some(n);
        }
        Ok(())
    }
    #[inline(always)]
    fn set(&mut self, v: Val<'a>) {
        if let Val::Long(n) = v {
            *self = Some(n);
        }
    }
    fn view(&self) -> FieldValue<'_> {
        self.map_or(FieldValue::Null, FieldValue::Int)
    }
    fn detach(self) -> Self::Detached {
        self
    }
}

impl<'a> Slot<'a> for Option<DateTime<Utc>> {
    type Detached = Option<DateTime<Utc>>;
    fn empty() -> Self {
        None
    }
    #[inline(always)]
    fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code> {
        if let Some(t) = optional(cur, Cur::int_time)? {
            *self = Some(t);
        }
        Ok(())
    }
    #[inline(always)]
    fn set(&mut self, v: Val<'a>) {
        if let Val::Time(t) = v {
            *self = Some(t);
        }
    }
    fn view(&self) -> FieldValue<'_> {
        self.map_or(FieldValue::Null, FieldValue::Time)
    }
    fn detach(self) -> Self::Detached {
        self
    }
}

impl<'a> Slot<'a> for Option<Vec<Cow<'a, str>>> {
    type Detached = Option<Vec<Cow<'static, str>>>;
    fn empty() -> Self {
        None
    }
    #[inline(always)]
    fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code> {
        if let Some(l) = optional(cur, Cur::str_list)? {
            *self = Some(l);
        }
        Ok(())
    }
    #[inline(always)]
    fn set(&mut self, v: Val<'a>) {
        if let Val::List(l) = v {
            *self = Some(l);
        }
    }
    fn view(&self) -> FieldValue<'_> {
        self.as_deref()
            .map_or(FieldValue::Null, FieldValue::StrList)
    }
    fn detach(self) -> Self::Detached {
        self.map(|l| l.into_iter().map(detach_str).collect())
    }
}
