//! Typed Braze Currents email events (newest schema plus the announced v12 fields).
//!
//! One struct per event type. Strings are [`Cow`]s: the decoder borrows them from the
//! decompressed block (`Click<'block>`), and [`Click::into_owned`] gives a `Click<'static>`.
//! Every field that is not on the default allowlist of the `pii` module (and the
//! unscrubbed `url`) sits in a [`Pii`] wrapper, which cannot be serialised and prints
//! `[REDACTED]`.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::plan::{Code, Cur, Fail, Typed, Val};
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

/// Static description of one typed field: its Braze name and the shape it expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// The field name as Braze spells it in the Avro schema.
    pub name: &'static str,
    /// The shape the field expects.
    pub kind: FieldKind,
}

macro_rules! field_ty {
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

macro_rules! field_default {
    (RequiredString) => {
        Cow::Borrowed("")
    };
    (RequiredPiiString) => {
        Pii::new(Cow::Borrowed(""))
    };
    (RequiredTime) => {
        DateTime::<Utc>::UNIX_EPOCH
    };
    ($other:ident) => {
        None
    };
}

macro_rules! field_owned {
    (RequiredString, $v:expr) => {
        Cow::Owned($v.into_owned())
    };
    (RequiredPiiString, $v:expr) => {
        Pii::new(Cow::Owned($v.into_inner().into_owned()))
    };
    (RequiredTime, $v:expr) => {
        $v
    };
    (String, $v:expr) => {
        $v.map(|s| Cow::Owned(s.into_owned()))
    };
    (PiiString, $v:expr) => {
        $v.map(|p| Pii::new(Cow::Owned(p.into_inner().into_owned())))
    };
    (Url, $v:expr) => {
        $v.map(|p| Pii::new(Cow::Owned(p.into_inner().into_owned())))
    };
    (Bool, $v:expr) => {
        $v
    };
    (Int, $v:expr) => {
        $v
    };
    (Time, $v:expr) => {
        $v
    };
    (StringList, $v:expr) => {
        $v.map(|l| l.into_iter().map(|s| Cow::Owned(s.into_owned())).collect())
    };
}

macro_rules! field_get {
    (RequiredString, $v:expr) => {
        FieldValue::Str(&$v)
    };
    (RequiredPiiString, $v:expr) => {
        FieldValue::Pii(Pii::new(&**$v.expose()))
    };
    (RequiredTime, $v:expr) => {
        FieldValue::Time($v)
    };
    (String, $v:expr) => {
        match &$v {
            Some(s) => FieldValue::Str(s),
            None => FieldValue::Null,
        }
    };
    (PiiString, $v:expr) => {
        match &$v {
            Some(p) => FieldValue::Pii(Pii::new(&**p.expose())),
            None => FieldValue::Null,
        }
    };
    (Url, $v:expr) => {
        match &$v {
            Some(p) => FieldValue::Pii(Pii::new(&**p.expose())),
            None => FieldValue::Null,
        }
    };
    (Bool, $v:expr) => {
        match $v {
            Some(b) => FieldValue::Bool(b),
            None => FieldValue::Null,
        }
    };
    (Int, $v:expr) => {
        match $v {
            Some(n) => FieldValue::Int(n),
            None => FieldValue::Null,
        }
    };
    (Time, $v:expr) => {
        match $v {
            Some(t) => FieldValue::Time(t),
            None => FieldValue::Null,
        }
    };
    (StringList, $v:expr) => {
        match &$v {
            Some(l) => FieldValue::StrList(l),
            None => FieldValue::Null,
        }
    };
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

macro_rules! field_read {
    (RequiredString, $dst:expr, $cur:expr) => {
        $dst = Cow::Borrowed($cur.str()?)
    };
    (RequiredPiiString, $dst:expr, $cur:expr) => {
        $dst = Pii::new(Cow::Borrowed($cur.str()?))
    };
    (RequiredTime, $dst:expr, $cur:expr) => {
        $dst = $cur.int_time()?
    };
    (String, $dst:expr, $cur:expr) => {
        if $cur.present()? {
            $dst = Some(Cow::Borrowed($cur.str()?));
        }
    };
    (PiiString, $dst:expr, $cur:expr) => {
        if $cur.present()? {
            $dst = Some(Pii::new(Cow::Borrowed($cur.str()?)));
        }
    };
    (Url, $dst:expr, $cur:expr) => {
        if $cur.present()? {
            $dst = Some(Pii::new(Cow::Borrowed($cur.str()?)));
        }
    };
    (Bool, $dst:expr, $cur:expr) => {
        if $cur.present()? {
            $dst = Some($cur.boolean()?);
        }
    };
    (Int, $dst:expr, $cur:expr) => {
        if $cur.present()? {
            $dst = Some($cur.int()?);
        }
    };
    (Time, $dst:expr, $cur:expr) => {
        if $cur.present()? {
            $dst = Some($cur.int_time()?);
        }
    };
    (StringList, $dst:expr, $cur:expr) => {
        if $cur.present()? {
            $dst = Some($cur.str_list()?);
        }
    };
}

macro_rules! field_set {
    (RequiredString, $dst:expr, $v:expr) => {
        if let Val::Str(s) = $v {
            $dst = Cow::Borrowed(s);
        }
    };
    (RequiredPiiString, $dst:expr, $v:expr) => {
        if let Val::Str(s) = $v {
            $dst = Pii::new(Cow::Borrowed(s));
        }
    };
    (RequiredTime, $dst:expr, $v:expr) => {
        if let Val::Time(t) = $v {
            $dst = t;
        }
    };
    (String, $dst:expr, $v:expr) => {
        if let Val::Str(s) = $v {
            $dst = Some(Cow::Borrowed(s));
        }
    };
    (PiiString, $dst:expr, $v:expr) => {
        if let Val::Str(s) = $v {
            $dst = Some(Pii::new(Cow::Borrowed(s)));
        }
    };
    (Url, $dst:expr, $v:expr) => {
        if let Val::Str(s) = $v {
            $dst = Some(Pii::new(Cow::Borrowed(s)));
        }
    };
    (Bool, $dst:expr, $v:expr) => {
        if let Val::Bool(b) = $v {
            $dst = Some(b);
        }
    };
    (Int, $dst:expr, $v:expr) => {
        if let Val::Long(n) = $v {
            $dst = Some(n);
        }
    };
    (Time, $dst:expr, $v:expr) => {
        if let Val::Time(t) = $v {
            $dst = Some(t);
        }
    };
    (StringList, $dst:expr, $v:expr) => {
        if let Val::List(l) = $v {
            $dst = Some(l);
        }
    };
}

macro_rules! events {
    ($(
        $(#[$meta:meta])*
        $ty:ident = $variant:ident, $full:literal {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident ),* $(,)?
        }
    )*) => {
        $(
            $(#[$meta])*
            #[derive(Clone, Debug, PartialEq)]
            #[non_exhaustive]
            pub struct $ty<'a> {
                $(
                    $(#[$fmeta])*
                    #[doc = concat!("\n\nBraze field `", stringify!($field), "` (", stringify!($kind), ").")]
                    pub $field: field_ty!($kind),
                )*
            }

            impl<'a> $ty<'a> {
                /// The typed fields of this event, in the newest schema's order
                /// (announced v12 fields last).
                pub const FIELDS: &'static [FieldDef] = &[
                    $( FieldDef { name: stringify!($field), kind: FieldKind::$kind }, )*
                ];

                /// The event type of this struct.
                pub const EVENT_TYPE: EventType = EventType::$variant;

                /// An event with every optional field `None`, empty required strings
                /// and `time` at the UNIX epoch (decoders fill it in).
                pub fn empty() -> Self {
                    Self { $( $field: field_default!($kind), )* }
                }

                /// The value of the field at `slot` (its index in `FIELDS`), or
                /// `None` when `slot` is out of range.
                #[allow(non_upper_case_globals)]
                pub fn value(&self, slot: usize) -> Option<FieldValue<'_>> {
                    #[allow(non_camel_case_types, dead_code)]
                    enum Slot { $($field),* }
                    $( const $field: usize = Slot::$field as usize; )*
                    match slot {
                        $( $field => Some(field_get!($kind, self.$field)), )*
                        _ => None,
                    }
                }

                /// Copies every borrowed string, detaching the event from the decoded block.
                pub fn into_owned(self) -> $ty<'static> {
                    $ty { $( $field: field_owned!($kind, self.$field), )* }
                }
            }
        )*

        /// The 11 Braze Currents email event types.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
                 serde::Serialize, serde::Deserialize)]
        #[non_exhaustive]
        pub enum EventType {
            $(
                #[doc = concat!("`", $full, "`")]
                #[serde(rename = $full)]
                $variant,
            )*
        }

        impl EventType {
            /// Every event type, in a fixed order.
            pub const ALL: &'static [EventType] = &[ $( EventType::$variant, )* ];

            /// The full Braze name, for example `users.messages.email.Click`.
            pub const fn name(self) -> &'static str {
                match self { $( EventType::$variant => $full, )* }
            }

            /// The short name, which is also the Avro record name, for example `Click`.
            pub const fn short_name(self) -> &'static str {
                match self { $( EventType::$variant => stringify!($variant), )* }
            }

            /// The typed fields of this event type, in the newest schema's order.
            pub const fn fields(self) -> &'static [FieldDef] {
                match self { $( EventType::$variant => $ty::FIELDS, )* }
            }

            /// Parses a full name (`users.messages.email.Click`) or a short
            /// record name (`Click`). Case-sensitive, as Braze writes them.
            pub fn from_name(name: &str) -> Option<EventType> {
                let short = name.strip_prefix("users.messages.email.").unwrap_or(name);
                match short {
                    $( stringify!($variant) => Some(EventType::$variant), )*
                    _ => None,
                }
            }
        }

        /// A decoded event of any of the 11 types.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Event<'a> {
            $(
                #[doc = concat!("`", $full, "`")]
                $variant($ty<'a>),
            )*
        }

        impl<'a> Event<'a> {
            /// The event type.
            pub fn event_type(&self) -> EventType {
                match self { $( Event::$variant(_) => EventType::$variant, )* }
            }

            /// Copies every borrowed string, detaching the event from the decoded block.
            pub fn into_owned(self) -> Event<'static> {
                match self { $( Event::$variant(e) => Event::$variant(e.into_owned()), )* }
            }

            /// An empty event of type `event_type` (see the structs' `empty`).
            pub fn empty(event_type: EventType) -> Self {
                match event_type { $( EventType::$variant => Event::$variant($ty::empty()), )* }
            }

            /// The Currents event id (`id`).
            pub fn id(&self) -> &str {
                match self { $( Event::$variant(e) => &e.id, )* }
            }

            /// The event time (`time`).
            pub fn time(&self) -> DateTime<Utc> {
                match self { $( Event::$variant(e) => e.time, )* }
            }

            /// The value of the field at `slot` (its index in the event type's
            /// [`fields`](EventType::fields)), or `None` when out of range.
            pub fn value(&self, slot: usize) -> Option<FieldValue<'_>> {
                match self { $( Event::$variant(e) => e.value(slot), )* }
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

            /// The Braze user id (personal data, wrapped).
            pub fn user_id(&self) -> &Pii<Cow<'a, str>> {
                match self { $( Event::$variant(e) => &e.user_id, )* }
            }
        }

        $(
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
                #[allow(non_upper_case_globals)]
                fn set(&mut self, slot: usize, v: Val<'a>) {
                    // Slots are the indices in `FIELDS`; the plan only sends a
                    // value of the kind the slot's field expects. The constants
                    // named after the fields make this one jump table.
                    #[allow(non_camel_case_types, dead_code)]
                    enum Slot { $($field),* }
                    $( const $field: usize = Slot::$field as usize; )*
                    match slot {
                        $( $field => { field_set!($kind, self.$field, v); } )*
                        _ => {}
                    }
                }
            }

            impl<'a> $ty<'a> {
                #[inline(always)]
                #[allow(unused_assignments)]
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
                        field_read!($kind, self.$field, cur);
                        *i += 1;
                    )*
                    Ok(())
                }
            }

            impl<'a> From<$ty<'a>> for Event<'a> {
                fn from(e: $ty<'a>) -> Self { Event::$variant(e) }
            }
        )*
    };
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

events! {
    /// `users.messages.email.Send`: Braze sent the email.
    Send = Send, "users.messages.email.Send" {
        id: RequiredString, user_id: RequiredPiiString, dispatch_id: String,
        external_user_id: PiiString, time: RequiredTime, timezone: String,
        campaign_id: String, campaign_name: String, message_variation_id: String,
        message_variation_name: String, email_address: RequiredPiiString,
        canvas_id: String, canvas_name: String, canvas_variation_id: String,
        canvas_variation_name: String, canvas_step_id: String, canvas_step_name: String,
        send_id: String, ip_pool: String, message_extras: PiiString,
        app_group_id: String, from_domain: String,
    }

    /// `users.messages.email.Delivery`: the receiving server accepted the email.
    Delivery = Delivery, "users.messages.email.Delivery" {
        id: RequiredString, user_id: RequiredPiiString, dispatch_id: String,
        external_user_id: PiiString, time: RequiredTime, timezone: String,
        campaign_id: String, campaign_name: String, message_variation_id: String,
        message_variation_name: String, email_address: RequiredPiiString,
        canvas_id: String, canvas_name: String, canvas_variation_id: String,
        canvas_variation_name: String, canvas_step_id: String, canvas_step_name: String,
        send_id: String, sending_ip: String, ip_pool: String, esp: String,
        from_domain: String, app_group_id: String,
        /// Announced for Currents v12: time of the matching Send event.
        send_time: Time,
    }

    /// `users.messages.email.Open`: the recipient (or a machine) opened the email.
    Open = Open, "users.messages.email.Open" {
        id: RequiredString, user_id: RequiredPiiString, dispatch_id: String,
        external_user_id: PiiString, time: RequiredTime, timezone: String,
        campaign_id: String, campaign_name: String, message_variation_id: String,
        message_variation_name: String, email_address: RequiredPiiString,
        canvas_id: String, canvas_name: String, canvas_variation_id: String,
        canvas_variation_name: String, canvas_step_id: String, canvas_step_name: String,
        send_id: String, user_agent: PiiString, ip_pool: String,
        /// `"true"` when the open was triggered without user engagement (a string in Braze's schema).
        machine_open: String,
        esp: String, from_domain: String, is_amp: Bool, app_group_id: String,
        device_class: String, device_os: String, device_model: String, browser: String,
        mailbox_provider: String,
        /// Announced for Currents v12: time of the matching Send event.
        send_time: Time,
    }

    /// `users.messages.email.Click`: the recipient clicked a link.
    Click = Click, "users.messages.email.Click" {
        id: RequiredString, user_id: RequiredPiiString, dispatch_id: String,
        external_user_id: PiiString, time: RequiredTime, timezone: String,
        campaign_id: String, campaign_name: String, message_variation_id: String,
        message_variation_name: String, email_address: RequiredPiiString,
        /// The clicked URL, unscrubbed (may carry emails or tokens in its query string).
        url: Url,
        canvas_id: String, canvas_name: String, canvas_variation_id: String,
        canvas_variation_name: String, canvas_step_id: String, canvas_step_name: String,
        send_id: String, user_agent: PiiString, ip_pool: String, link_id: String,
        link_alias: String, esp: String, from_domain: String, is_amp: Bool,
        app_group_id: String, device_class: String, device_os: String,
        device_model: String, browser: String, mailbox_provider: String,
        is_suspected_bot_click: Bool, suspected_bot_click_reason: StringList,
        /// Announced for Currents v12: time of the matching Send event.
        send_time: Time,
        /// Announced for Currents v12: whether the clicked URL had query parameters.
        has_url_parameters: Bool,
        /// Announced for Currents v12: whether link aliasing was on for the workspace.
        link_aliasing_enabled: Bool,
    }

    /// `users.messages.email.Bounce`: hard bounce.
    Bounce = Bounce, "users.messages.email.Bounce" {
        id: RequiredString, user_id: RequiredPiiString, dispatch_id: String,
        external_user_id: PiiString, time: RequiredTime, timezone: String,
        campaign_id: String, campaign_name: String, message_variation_id: String,
        message_variation_name: String, email_address: RequiredPiiString,
        canvas_id: String, canvas_name: String, canvas_variation_id: String,
        canvas_variation_name: String, canvas_step_id: String, canvas_step_name: String,
        send_id: String, sending_ip: String, ip_pool: String, bounce_reason: PiiString,
        esp: String, from_domain: String, is_drop: Bool, app_group_id: String,
        /// Announced for Currents v12: time of the matching Send event.
        send_time: Time,
    }

    /// `users.messages.email.SoftBounce`: temporary delivery failure.
    SoftBounce = SoftBounce, "users.messages.email.SoftBounce" {
        id: RequiredString, user_id: RequiredPiiString, dispatch_id: String,
        external_user_id: PiiString, time: RequiredTime, timezone: String,
        campaign_id: String, campaign_name: String, message_variation_id: String,
        message_variation_name: String, email_address: RequiredPiiString,
        canvas_id: String, canvas_name: String, canvas_variation_id: String,
        canvas_variation_name: String, canvas_step_id: String, canvas_step_name: String,
        send_id: String, sending_ip: String, ip_pool: String, bounce_reason: PiiString,
        esp: String, from_domain: String, app_group_id: String,
        /// Announced for Currents v12: time of the matching Send event.
        send_time: Time,
    }

    /// `users.messages.email.Deferral`: the receiving server deferred the email.
    Deferral = Deferral, "users.messages.email.Deferral" {
        id: RequiredString, time: RequiredTime, user_id: RequiredPiiString,
        external_user_id: PiiString, app_group_id: String, send_id: String,
        campaign_id: String, message_variation_id: String, canvas_id: String,
        canvas_variation_id: String, canvas_step_id: String,
        canvas_step_message_variation_id: String, dispatch_id: String,
        email_address: RequiredPiiString, recipient_domain: String, esp: String,
        from_domain: String, ip_pool: String, sending_ip: String, timezone: String,
        deferral_reason: PiiString, attempt_count: Int, campaign_name: String,
        message_variation_name: String, canvas_name: String,
        canvas_variation_name: String, canvas_step_name: String,
        /// Announced for Currents v12: time of the matching Send event.
        send_time: Time,
    }

    /// `users.messages.email.Retry`: Braze retried a send.
    Retry = Retry, "users.messages.email.Retry" {
        app_group_id: String, external_user_id: PiiString, id: RequiredString,
        time: RequiredTime, user_id: RequiredPiiString, retry_type: String,
        retry_log: PiiString, send_id: String, dispatch_id: String,
        campaign_id: String, message_variation_id: String, canvas_id: String,
        canvas_variation_id: String, canvas_step_id: String,
        canvas_step_message_variation_id: String, gender: PiiString,
        country: PiiString, timezone: String, language: PiiString,
        email_address: RequiredPiiString, ip_pool: String, campaign_name: String,
        message_variation_name: String, canvas_name: String,
        canvas_variation_name: String, canvas_step_name: String, device_id: PiiString,
    }

    /// `users.messages.email.Abort`: Braze aborted the send.
    Abort = Abort, "users.messages.email.Abort" {
        abort_log: PiiString, abort_type: String, app_group_id: String,
        campaign_id: String, campaign_name: String, canvas_id: String,
        canvas_name: String, canvas_step_id: String,
        canvas_step_message_variation_id: String, canvas_step_name: String,
        canvas_variation_id: String, canvas_variation_name: String,
        device_id: PiiString, dispatch_id: String, email_address: RequiredPiiString,
        external_user_id: PiiString, id: RequiredString, ip_pool: String,
        message_variation_id: String, message_variation_name: String,
        send_id: String, time: RequiredTime, timezone: String,
        user_id: RequiredPiiString,
        /// Announced for Currents v12 (personal): key-value pairs tagged during Liquid rendering.
        message_extras: PiiString,
    }

    /// `users.messages.email.MarkAsSpam`: the recipient marked the email as spam.
    MarkAsSpam = MarkAsSpam, "users.messages.email.MarkAsSpam" {
        id: RequiredString, user_id: RequiredPiiString, dispatch_id: String,
        external_user_id: PiiString, time: RequiredTime, timezone: String,
        campaign_id: String, campaign_name: String, message_variation_id: String,
        message_variation_name: String, email_address: RequiredPiiString,
        canvas_id: String, canvas_name: String, canvas_variation_id: String,
        canvas_variation_name: String, canvas_step_id: String, canvas_step_name: String,
        send_id: String, user_agent: PiiString, ip_pool: String, esp: String,
        from_domain: String, app_group_id: String,
        /// Announced for Currents v12: time of the matching Send event.
        send_time: Time,
    }

    /// `users.messages.email.Unsubscribe`: the recipient unsubscribed.
    Unsubscribe = Unsubscribe, "users.messages.email.Unsubscribe" {
        id: RequiredString, user_id: RequiredPiiString, dispatch_id: String,
        external_user_id: PiiString, time: RequiredTime, timezone: String,
        campaign_id: String, campaign_name: String, message_variation_id: String,
        message_variation_name: String, email_address: RequiredPiiString,
        canvas_id: String, canvas_name: String, canvas_variation_id: String,
        canvas_variation_name: String, canvas_step_id: String, canvas_step_name: String,
        send_id: String, ip_pool: String, app_group_id: String,
    }
}
