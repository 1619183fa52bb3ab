//! Reads the typed fields of any decoded event by name, in `EventType::fields()` order.
//!
//! Shared by the tests and the `inspect` example (through `#[path]`). The field lists
//! below repeat `src/currents/events.rs`; `tests/currents_shapes.rs` checks that they
//! agree with `EventType::fields()` (names, order and kinds), so a change there fails
//! the tests instead of going unnoticed.

#![allow(dead_code, unreachable_pub)]

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use dynopt::currents::{Event, FieldKind};
use dynopt::pii::Pii;

/// A borrowed view of one typed field's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldRef<'e> {
    /// A string that is not personal (required fields are always `Some`).
    Str(Option<&'e str>),
    /// A personal (or unscrubbed) string, still wrapped.
    Pii(Option<Pii<&'e str>>),
    /// A boolean.
    Bool(Option<bool>),
    /// An integer.
    Int(Option<i64>),
    /// A time, as UNIX seconds.
    Time(Option<i64>),
    /// A list of strings.
    StrList(Option<&'e [Cow<'e, str>]>),
}

impl FieldRef<'_> {
    /// Whether the value is absent (the file lacks the field, or it is null).
    pub fn is_none(&self) -> bool {
        match self {
            FieldRef::Str(v) => v.is_none(),
            FieldRef::Pii(v) => v.is_none(),
            FieldRef::Bool(v) => v.is_none(),
            FieldRef::Int(v) | FieldRef::Time(v) => v.is_none(),
            FieldRef::StrList(v) => v.is_none(),
        }
    }

    /// Whether this view has the shape a field of `kind` must have.
    pub fn fits(&self, kind: FieldKind) -> bool {
        matches!(
            (kind, self),
            (
                FieldKind::RequiredString | FieldKind::String,
                FieldRef::Str(_)
            ) | (
                FieldKind::RequiredPiiString | FieldKind::PiiString | FieldKind::Url,
                FieldRef::Pii(_)
            ) | (FieldKind::RequiredTime | FieldKind::Time, FieldRef::Time(_))
                | (FieldKind::Bool, FieldRef::Bool(_))
                | (FieldKind::Int, FieldRef::Int(_))
                | (FieldKind::StringList, FieldRef::StrList(_))
        )
    }
}

/// Conversion of each typed field type into a [`FieldRef`].
pub trait AsFieldRef {
    /// The borrowed view.
    fn field_ref(&self) -> FieldRef<'_>;
}

impl AsFieldRef for Cow<'_, str> {
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Str(Some(self))
    }
}

impl AsFieldRef for Option<Cow<'_, str>> {
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Str(self.as_deref())
    }
}

impl AsFieldRef for Pii<Cow<'_, str>> {
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Pii(Some(Pii::new(self.expose().as_ref())))
    }
}

impl AsFieldRef for Option<Pii<Cow<'_, str>>> {
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Pii(self.as_ref().map(|p| Pii::new(p.expose().as_ref())))
    }
}

impl AsFieldRef for DateTime<Utc> {
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Time(Some(self.timestamp()))
    }
}

impl AsFieldRef for Option<DateTime<Utc>> {
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Time(self.map(|t| t.timestamp()))
    }
}

impl AsFieldRef for Option<bool> {
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Bool(*self)
    }
}

impl AsFieldRef for Option<i64> {
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::Int(*self)
    }
}

impl AsFieldRef for Option<Vec<Cow<'_, str>>> {
    fn field_ref(&self) -> FieldRef<'_> {
        FieldRef::StrList(self.as_deref())
    }
}

macro_rules! field_lists {
    ($($variant:ident { $($field:ident),* $(,)? })*) => {
        /// Every typed field of `event` with its value, in `EventType::fields()` order.
        /// Empty for an event type this list does not know yet.
        pub fn field_refs<'e>(event: &'e Event<'_>) -> Vec<(&'static str, FieldRef<'e>)> {
            match event {
                $( Event::$variant(e) => vec![ $( (stringify!($field), e.$field.field_ref()), )* ], )*
                _ => Vec::new(),
            }
        }
    };
}

field_lists! {
    Send {
        id,
        user_id,
        dispatch_id,
        external_user_id,
        time,
        timezone,
        campaign_id,
        campaign_name,
        message_variation_id,
        message_variation_name,
        email_address,
        canvas_id,
        canvas_name,
        canvas_variation_id,
        canvas_variation_name,
        canvas_step_id,
        canvas_step_name,
        send_id,
        ip_pool,
        message_extras,
        app_group_id,
        from_domain,
    }
    Delivery {
        id,
        user_id,
        dispatch_id,
        external_user_id,
        time,
        timezone,
        campaign_id,
        campaign_name,
        message_variation_id,
        message_variation_name,
        email_address,
        canvas_id,
        canvas_name,
        canvas_variation_id,
        canvas_variation_name,
        canvas_step_id,
        canvas_step_name,
        send_id,
        sending_ip,
        ip_pool,
        esp,
        from_domain,
        app_group_id,
        send_time,
    }
    Open {
        id,
        user_id,
        dispatch_id,
        external_user_id,
        time,
        timezone,
        campaign_id,
        campaign_name,
        message_variation_id,
        message_variation_name,
        email_address,
        canvas_id,
        canvas_name,
        canvas_variation_id,
        canvas_variation_name,
        canvas_step_id,
        canvas_step_name,
        send_id,
        user_agent,
        ip_pool,
        machine_open,
        esp,
        from_domain,
        is_amp,
        app_group_id,
        device_class,
        device_os,
        device_model,
        browser,
        mailbox_provider,
        send_time,
    }
    Click {
        id,
        user_id,
        dispatch_id,
        external_user_id,
        time,
        timezone,
        campaign_id,
        campaign_name,
        message_variation_id,
        message_variation_name,
        email_address,
        url,
        canvas_id,
        canvas_name,
        canvas_variation_id,
        canvas_variation_name,
        canvas_step_id,
        canvas_step_name,
        send_id,
        user_agent,
        ip_pool,
        link_id,
        link_alias,
        esp,
        from_domain,
        is_amp,
        app_group_id,
        device_class,
        device_os,
        device_model,
        browser,
        mailbox_provider,
        is_suspected_bot_click,
        suspected_bot_click_reason,
        send_time,
        has_url_parameters,
        link_aliasing_enabled,
    }
    Bounce {
        id,
        user_id,
        dispatch_id,
        external_user_id,
        time,
        timezone,
        campaign_id,
        campaign_name,
        message_variation_id,
        message_variation_name,
        email_address,
        canvas_id,
        canvas_name,
        canvas_variation_id,
        canvas_variation_name,
        canvas_step_id,
        canvas_step_name,
        send_id,
        sending_ip,
        ip_pool,
        bounce_reason,
        esp,
        from_domain,
        is_drop,
        app_group_id,
        send_time,
    }
    SoftBounce {
        id,
        user_id,
        dispatch_id,
        external_user_id,
        time,
        timezone,
        campaign_id,
        campaign_name,
        message_variation_id,
        message_variation_name,
        email_address,
        canvas_id,
        canvas_name,
        canvas_variation_id,
        canvas_variation_name,
        canvas_step_id,
        canvas_step_name,
        send_id,
        sending_ip,
        ip_pool,
        bounce_reason,
        esp,
        from_domain,
        app_group_id,
        send_time,
    }
    Deferral {
        id,
        time,
        user_id,
        external_user_id,
        app_group_id,
        send_id,
        campaign_id,
        message_variation_id,
        canvas_id,
        canvas_variation_id,
        canvas_step_id,
        canvas_step_message_variation_id,
        dispatch_id,
        email_address,
        recipient_domain,
        esp,
        from_domain,
        ip_pool,
        sending_ip,
        timezone,
        deferral_reason,
        attempt_count,
        campaign_name,
        message_variation_name,
        canvas_name,
        canvas_variation_name,
        canvas_step_name,
        send_time,
    }
    Retry {
        app_group_id,
        external_user_id,
        id,
        time,
        user_id,
        retry_type,
        retry_log,
        send_id,
        dispatch_id,
        campaign_id,
        message_variation_id,
        canvas_id,
        canvas_variation_id,
        canvas_step_id,
        canvas_step_message_variation_id,
        gender,
        country,
        timezone,
        language,
        email_address,
        ip_pool,
        campaign_name,
        message_variation_name,
        canvas_name,
        canvas_variation_name,
        canvas_step_name,
        device_id,
    }
    Abort {
        abort_log,
        abort_type,
        app_group_id,
        campaign_id,
        campaign_name,
        canvas_id,
        canvas_name,
        canvas_step_id,
        canvas_step_message_variation_id,
        canvas_step_name,
        canvas_variation_id,
        canvas_variation_name,
        device_id,
        dispatch_id,
        email_address,
        external_user_id,
        id,
        ip_pool,
        message_variation_id,
        message_variation_name,
        send_id,
        time,
        timezone,
        user_id,
        message_extras,
    }
    MarkAsSpam {
        id,
        user_id,
        dispatch_id,
        external_user_id,
        time,
        timezone,
        campaign_id,
        campaign_name,
        message_variation_id,
        message_variation_name,
        email_address,
        canvas_id,
        canvas_name,
        canvas_variation_id,
        canvas_variation_name,
        canvas_step_id,
        canvas_step_name,
        send_id,
        user_agent,
        ip_pool,
        esp,
        from_domain,
        app_group_id,
        send_time,
    }
    Unsubscribe {
        id,
        user_id,
        dispatch_id,
        external_user_id,
        time,
        timezone,
        campaign_id,
        campaign_name,
        message_variation_id,
        message_variation_name,
        email_address,
        canvas_id,
        canvas_name,
        canvas_variation_id,
        canvas_variation_name,
        canvas_step_id,
        canvas_step_name,
        send_id,
        ip_pool,
        app_group_id,
    }
}
