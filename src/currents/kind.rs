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
    /// `["null", {"type":"array","items":["null", T]}]`: a user's custom
    /// attributes (T is `string`, `boolean`, `long` or `double`; any array is
    /// accepted). Always personal: the typed event holds the array's Avro bytes,
    /// undecoded, in a [`Pii`] wrapper.
    Attributes,
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
    /// Any array, kept as its encoded bytes.
    Raw,
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
            FieldKind::Attributes => (Target::Raw, false),
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
            FieldKind::RequiredPiiString
            | FieldKind::PiiString
            | FieldKind::Url
            | FieldKind::Attributes => true,
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
    /// A personal value held as its Avro encoding (the custom attribute arrays).
    PiiAvro(Pii<&'e [u8]>),
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
    (Attributes) => { Option<Pii<Cow<'a, [u8]>>> };
}
pub(crate) use kind_ty;

/// The per-value behaviour of each field type (the Rust types of `kind_ty!`):
/// empty value, canonical read, store from the plan, borrowed view, detach.
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

/// A present value of one field type: what a required field holds and what an
/// optional field holds inside its `Some`.
pub(crate) trait Present<'a>: Sized {
    /// The same type with its strings owned.
    type Detached;
    /// The value a required field has before decoding.
    fn empty() -> Self;
    /// Reads the value (the bare Avro type).
    fn read(cur: &mut Cur<'a>) -> Result<Self, Code>;
    /// The value, when `v` is of this type.
    fn from_val(v: Val<'a>) -> Option<Self>;
    /// The borrowed view.
    fn view(&self) -> FieldValue<'_>;
    /// Copies borrowed strings.
    fn detach(self) -> Self::Detached;
}

/// Required fields hold a present value.
macro_rules! required_slot {
    ($($t:ty),*) => {$(
        impl<'a> Slot<'a> for $t {
            type Detached = <$t as Present<'a>>::Detached;
            fn empty() -> Self {
                <$t as Present<'a>>::empty()
            }
            #[inline(always)]
            fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code> {
                *self = <$t as Present<'a>>::read(cur)?;
                Ok(())
            }
            #[inline(always)]
            fn set(&mut self, v: Val<'a>) {
                if let Some(x) = <$t as Present<'a>>::from_val(v) {
                    *self = x;
                }
            }
            fn view(&self) -> FieldValue<'_> {
                Present::view(self)
            }
            fn detach(self) -> Self::Detached {
                Present::detach(self)
            }
        }
    )*};
}

required_slot!(Cow<'a, str>, Pii<Cow<'a, str>>, DateTime<Utc>);

/// Optional fields are `["null", T]` on the wire and `None` when absent.
impl<'a, T: Present<'a>> Slot<'a> for Option<T> {
    type Detached = Option<T::Detached>;
    fn empty() -> Self {
        None
    }
    #[inline(always)]
    fn read(&mut self, cur: &mut Cur<'a>) -> Result<(), Code> {
        if cur.present()? {
            *self = Some(T::read(cur)?);
        }
        Ok(())
    }
    #[inline(always)]
    fn set(&mut self, v: Val<'a>) {
        if let Some(x) = T::from_val(v) {
            *self = Some(x);
        }
    }
    fn view(&self) -> FieldValue<'_> {
        self.as_ref().map_or(FieldValue::Null, T::view)
    }
    fn detach(self) -> Self::Detached {
        self.map(T::detach)
    }
}

fn detach_str(s: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(s.into_owned())
}

impl<'a> Present<'a> for Cow<'a, str> {
    type Detached = Cow<'static, str>;
    fn empty() -> Self {
        Cow::Borrowed("")
    }
    #[inline(always)]
    fn read(cur: &mut Cur<'a>) -> Result<Self, Code> {
        cur.str().map(Cow::Borrowed)
    }
    #[inline(always)]
    fn from_val(v: Val<'a>) -> Option<Self> {
        match v {
            Val::Str(s) => Some(Cow::Borrowed(s)),
            Val::Long(_) | Val::Time(_) | Val::Bool(_) | Val::List(_) | Val::Raw(_) => None,
        }
    }
    fn view(&self) -> FieldValue<'_> {
        FieldValue::Str(self)
    }
    fn detach(self) -> Self::Detached {
        detach_str(self)
    }
}

impl<'a> Present<'a> for Pii<Cow<'a, str>> {
    type Detached = Pii<Cow<'static, str>>;
    fn empty() -> Self {
        Pii::new(Cow::Borrowed(""))
    }
    #[inline(always)]
    fn read(cur: &mut Cur<'a>) -> Result<Self, Code> {
        cur.str().map(|s| Pii::new(Cow::Borrowed(s)))
    }
    #[inline(always)]
    fn from_val(v: Val<'a>) -> Option<Self> {
        Cow::from_val(v).map(Pii::new)
    }
    fn view(&self) -> FieldValue<'_> {
        FieldValue::Pii(Pii::new(&**self.expose()))
    }
    fn detach(self) -> Self::Detached {
        Pii::new(detach_str(self.into_inner()))
    }
}

impl<'a> Present<'a> for Vec<Cow<'a, str>> {
    type Detached = Vec<Cow<'static, str>>;
    fn empty() -> Self {
        Vec::new()
    }
    #[inline(always)]
    fn read(cur: &mut Cur<'a>) -> Result<Self, Code> {
        cur.str_list()
    }
    #[inline(always)]
    fn from_val(v: Val<'a>) -> Option<Self> {
        match v {
            Val::List(l) => Some(l),
            Val::Str(_) | Val::Long(_) | Val::Time(_) | Val::Bool(_) | Val::Raw(_) => None,
        }
    }
    fn view(&self) -> FieldValue<'_> {
        FieldValue::StrList(self)
    }
    fn detach(self) -> Self::Detached {
        self.into_iter().map(detach_str).collect()
    }
}

impl<'a> Present<'a> for Pii<Cow<'a, [u8]>> {
    type Detached = Pii<Cow<'static, [u8]>>;
    fn empty() -> Self {
        Pii::new(Cow::Borrowed(&[]))
    }
    /// Never called: a raw value needs its writer type to be walked, so the
    /// plan never takes the straight-line path for it (see `compile::canonical`).
    fn read(_: &mut Cur<'a>) -> Result<Self, Code> {
        Err(Code::Union { n: 0 })
    }
    #[inline(always)]
    fn from_val(v: Val<'a>) -> Option<Self> {
        match v {
            Val::Raw(b) => Some(Pii::new(Cow::Borrowed(b))),
            Val::Str(_) | Val::Long(_) | Val::Time(_) | Val::Bool(_) | Val::List(_) => None,
        }
    }
    fn view(&self) -> FieldValue<'_> {
        FieldValue::PiiAvro(Pii::new(&**self.expose()))
    }
    fn detach(self) -> Self::Detached {
        Pii::new(Cow::Owned(self.into_inner().into_owned()))
    }
}

/// `Present` for the plain values: `bool`, `i64` and times.
macro_rules! copy_present {
    ($t:ty, $empty:expr, $read:path, $val:ident, $view:ident) => {
        impl<'a> Present<'a> for $t {
            type Detached = $t;
            fn empty() -> Self {
                $empty
            }
            #[inline(always)]
            fn read(cur: &mut Cur<'a>) -> Result<Self, Code> {
                $read(cur)
            }
            #[inline(always)]
            fn from_val(v: Val<'a>) -> Option<Self> {
                if let Val::$val(x) = v { Some(x) } else { None }
            }
            fn view(&self) -> FieldValue<'_> {
                FieldValue::$view(*self)
            }
            fn detach(self) -> Self::Detached {
                self
            }
        }
    };
}

copy_present!(bool, false, Cur::boolean, Bool, Bool);
copy_present!(i64, 0, Cur::int, Long, Int);
copy_present!(
    DateTime<Utc>,
    DateTime::<Utc>::UNIX_EPOCH,
    Cur::int_time,
    Time,
    Time
);
