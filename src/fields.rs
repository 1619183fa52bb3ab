//! The one field list: every Braze Currents field the crate knows (email and
//! conversion events), once, and which of them each event type has.
//!
//! Everything per-field is generated from the two lists below with the
//! callback-macro pattern (`for_each_field!(callback ! extra tokens)` calls
//! `callback! { extra tokens; <the list> }`):
//! - the typed event structs, [`FieldDef`](crate::currents::FieldDef) tables and
//!   per-kind decoding (`currents::events`);
//! - the [`CleanEvent`](crate::pii::CleanEvent) fields and the filter's slot map
//!   and per-event copy (`pii::clean`, `pii::filter`);
//! - [`DEFAULT_ALLOWLIST`](crate::pii::DEFAULT_ALLOWLIST) and
//!   [`ALWAYS_PERSONAL`](crate::pii::ALWAYS_PERSONAL).
//!
//! Adding a non-personal Braze field is one line in `for_each_field!` plus its
//! name in the event types that have it.
//!
//! Each field has a [`FieldKind`](crate::currents::FieldKind) (its Avro shape and
//! Rust type) and a class:
//! - `Required`: every clean event carries it (`id`, `time`);
//! - `Kept`: on the default allowlist, carried by clean events;
//! - `Quasi`: quasi-identifying, dropped by default, carried by clean events
//!   when the host's policy allows it;
//! - `Personal`: never leaves, whatever the policy says.

/// Calls `$cb! { $pre ; name: Kind, Class, "doc"; ... }` with every known field.
macro_rules! for_each_field {
    ($cb:ident ! $($pre:tt)*) => {
        $cb! { $($pre)* ;
            id: RequiredString, Required, "The Currents event id: unique per event, repeated when Braze redelivers it.";
            time: RequiredTime, Required, "When the event happened (UNIX seconds in the file).";
            dispatch_id: String, Kept, "The id of the dispatch (one send of a campaign or Canvas step).";
            send_id: String, Kept, "The message send id.";
            app_group_id: String, Kept, "The Braze workspace (app group) id.";
            campaign_id: String, Kept, "The campaign id.";
            campaign_name: String, Kept, "The campaign name.";
            message_variation_id: String, Kept, "The campaign's message variation id.";
            message_variation_name: String, Kept, "The campaign's message variation name.";
            canvas_id: String, Kept, "The Canvas id.";
            canvas_name: String, Kept, "The Canvas name.";
            canvas_variation_id: String, Kept, "The Canvas variation id.";
            canvas_variation_name: String, Kept, "The Canvas variation name.";
            canvas_step_id: String, Kept, "The Canvas step id.";
            canvas_step_name: String, Kept, "The Canvas step name.";
            canvas_step_message_variation_id: String, Kept, "The Canvas step's message variation id.";
            timezone: String, Kept, "The recipient's time zone name.";
            url: Url, Kept, "The clicked URL: unscrubbed in raw events (it may carry emails or tokens in its query string), scrubbed in clean events.";
            link_id: String, Kept, "The id of the clicked link.";
            link_alias: String, Kept, "The alias of the clicked link.";
            esp: String, Kept, "The email service provider.";
            from_domain: String, Kept, "The sending domain.";
            ip_pool: String, Kept, "The IP pool used for the send.";
            sending_ip: String, Kept, "The IP address the email was sent from.";
            is_amp: Bool, Kept, "Whether the event came from the AMP version of the email.";
            machine_open: String, Kept, "`\"true\"` when the open was triggered without user engagement (a string in Braze's schema).";
            device_class: String, Kept, "The class of device (desktop, mobile, ...).";
            device_os: String, Kept, "The device's operating system.";
            device_model: String, Kept, "The device model.";
            browser: String, Kept, "The browser.";
            mailbox_provider: String, Kept, "The mailbox provider.";
            is_suspected_bot_click: Bool, Kept, "Whether Braze suspects a bot click.";
            suspected_bot_click_reason: StringList, Kept, "Why Braze suspects a bot click.";
            is_drop: Bool, Kept, "Whether the bounce was a drop (never attempted).";
            attempt_count: Int, Kept, "The delivery attempt number.";
            recipient_domain: String, Kept, "The recipient's email domain.";
            abort_type: String, Kept, "Why Braze aborted the send (a category).";
            retry_type: String, Kept, "Why Braze retried the send (a category).";
            send_time: Time, Kept, "Announced for Currents v12: time of the matching Send event.";
            has_url_parameters: Bool, Kept, "Announced for Currents v12: whether the clicked URL had query parameters.";
            link_aliasing_enabled: Bool, Kept, "Announced for Currents v12: whether link aliasing was on for the workspace.";
            app_id: String, Kept, "The id of the app in the workspace the event is attributed to (a Braze configuration id).";
            app_group_api_id: String, Kept, "The API identifier of the workspace (a Braze configuration id).";
            app_api_id: String, Kept, "The API identifier of the app (a Braze configuration id).";
            campaign_api_id: String, Kept, "The API identifier of the campaign (a Braze configuration id).";
            message_variation_api_id: String, Kept, "The API identifier of the campaign's message variation (a Braze configuration id).";
            canvas_api_id: String, Kept, "The API identifier of the Canvas (a Braze configuration id).";
            canvas_variation_api_id: String, Kept, "The API identifier of the Canvas variation (a Braze configuration id).";
            canvas_step_api_id: String, Kept, "The API identifier of the Canvas step (a Braze configuration id).";
            canvas_step_message_variation_api_id: String, Kept, "The API identifier of the Canvas step's message variation (a Braze configuration id).";
            experiment_step_id: String, Kept, "The id of the Canvas experiment step.";
            experiment_split_id: String, Kept, "The id of the experiment step's split (path) the user was in.";
            experiment_split_name: String, Kept, "The name of the experiment step's split (path).";
            conversion_behavior_index: Int, Kept, "Which of the campaign's or Canvas's conversion events the user performed (0 is the primary one).";
            conversion_behavior: String, Kept, "The conversion event's definition as the campaign or Canvas configures it (JSON text: type, window, event name); configuration, not the user's data.";
            user_agent: PiiString, Quasi, "The user agent: quasi-identifying, dropped unless the host's policy allows it.";
            user_id: RequiredPiiString, Personal, "The Braze user id (personal).";
            external_user_id: PiiString, Personal, "The host's external user id (personal).";
            email_address: RequiredPiiString, Personal, "The recipient's email address (personal).";
            message_extras: PiiString, Personal, "Key-value pairs tagged during Liquid rendering (personal).";
            bounce_reason: PiiString, Personal, "The receiving server's bounce message (personal: it may quote the address).";
            deferral_reason: PiiString, Personal, "The receiving server's deferral message (personal).";
            abort_log: PiiString, Personal, "Braze's abort log (personal).";
            retry_log: PiiString, Personal, "Braze's retry log (personal).";
            gender: PiiString, Personal, "The recipient's gender (personal).";
            country: PiiString, Personal, "The recipient's country (personal).";
            language: PiiString, Personal, "The recipient's language (personal).";
            device_id: PiiString, Personal, "The recipient's device id (personal).";
            string_custom_attributes: Attributes, Personal, "The user's string custom attributes (personal, with or without a `[PII]` tag).";
            boolean_custom_attributes: Attributes, Personal, "The user's boolean custom attributes (personal).";
            time_custom_attributes: Attributes, Personal, "The user's time custom attributes (personal).";
            float_custom_attributes: Attributes, Personal, "The user's float custom attributes (personal).";
            number_custom_attributes: Attributes, Personal, "The user's number custom attributes (personal).";
        }
    };
}

/// Calls `$cb! { $pre ; EventType = "full name" { fields in the newest published
/// schema's order, then the fields only older published versions have } + {
/// fields announced but not yet published } ... }` with every event type. Each field name must be in [`for_each_field!`]; `@head` and
/// `@canvas` stand for the runs of fields most event types share (see
/// [`expand_groups!`]), expanded before the callback sees the list.
macro_rules! for_each_event {
    ($cb:ident ! $($pre:tt)*) => {
        expand_groups! { @events $cb [$($pre)*] []
            /// `users.messages.email.Send`: Braze sent the email.
            Send = "users.messages.email.Send" {
                @head, @canvas, ip_pool, message_extras, app_group_id, from_domain,
            } + {}
            /// `users.messages.email.Delivery`: the receiving server accepted the email.
            Delivery = "users.messages.email.Delivery" {
                @head, @canvas, sending_ip, ip_pool, esp, from_domain, app_group_id,
            } + { send_time, }
            /// `users.messages.email.Open`: the recipient (or a machine) opened the email.
            Open = "users.messages.email.Open" {
                @head, @canvas, user_agent, ip_pool, machine_open, esp, from_domain, is_amp,
                app_group_id, device_class, device_os, device_model, browser, mailbox_provider,
            } + { send_time, }
            /// `users.messages.email.Click`: the recipient clicked a link.
            Click = "users.messages.email.Click" {
                @head, url, @canvas, user_agent, ip_pool, link_id, link_alias, esp, from_domain,
                is_amp, app_group_id, device_class, device_os, device_model, browser,
                mailbox_provider, is_suspected_bot_click, suspected_bot_click_reason,
            } + { send_time, has_url_parameters, link_aliasing_enabled, }
            /// `users.messages.email.Bounce`: hard bounce.
            Bounce = "users.messages.email.Bounce" {
                @head, @canvas, sending_ip, ip_pool, bounce_reason, esp, from_domain, is_drop,
                app_group_id,
            } + { send_time, }
            /// `users.messages.email.SoftBounce`: temporary delivery failure.
            SoftBounce = "users.messages.email.SoftBounce" {
                @head, @canvas, sending_ip, ip_pool, bounce_reason, esp, from_domain, app_group_id,
            } + { send_time, }
            /// `users.messages.email.Deferral`: the receiving server deferred the email.
            Deferral = "users.messages.email.Deferral" {
                id, time, user_id, external_user_id, app_group_id, send_id, campaign_id,
                message_variation_id, canvas_id, canvas_variation_id, canvas_step_id,
                canvas_step_message_variation_id, dispatch_id, email_address, recipient_domain, esp,
                from_domain, ip_pool, sending_ip, timezone, deferral_reason, attempt_count,
                campaign_name, message_variation_name, canvas_name, canvas_variation_name,
                canvas_step_name,
            } + { send_time, }
            /// `users.messages.email.Retry`: Braze retried a send.
            Retry = "users.messages.email.Retry" {
                app_group_id, external_user_id, id, time, user_id, retry_type, retry_log, send_id,
                dispatch_id, campaign_id, message_variation_id, canvas_id, canvas_variation_id,
                canvas_step_id, canvas_step_message_variation_id, gender, country, timezone,
                language, email_address, ip_pool, campaign_name, message_variation_name,
                canvas_name, canvas_variation_name, canvas_step_name, device_id,
            } + {}
            /// `users.messages.email.Abort`: Braze aborted the send.
            Abort = "users.messages.email.Abort" {
                abort_log, abort_type, app_group_id, campaign_id, campaign_name, canvas_id,
                canvas_name, canvas_step_id, canvas_step_message_variation_id, canvas_step_name,
                canvas_variation_id, canvas_variation_name, device_id, dispatch_id, email_address,
                external_user_id, id, ip_pool, message_variation_id, message_variation_name,
                send_id, time, timezone, user_id,
            } + { message_extras, }
            /// `users.messages.email.MarkAsSpam`: the recipient marked the email as spam.
            MarkAsSpam = "users.messages.email.MarkAsSpam" {
                @head, @canvas, user_agent, ip_pool, esp, from_domain, app_group_id,
            } + { send_time, }
            /// `users.messages.email.Unsubscribe`: the recipient unsubscribed.
            Unsubscribe = "users.messages.email.Unsubscribe" {
                @head, @canvas, ip_pool, app_group_id,
            } + {}
            /// `users.campaigns.Conversion`: the user performed one of a campaign's
            /// conversion events. The 2021-06-30 internal variant's profile fields
            /// follow the newest schema's.
            CampaignConversion = "users.campaigns.Conversion" {
                id, user_id, external_user_id, app_id, time, timezone, campaign_id,
                campaign_name, message_variation_id, message_variation_name, send_id,
                conversion_behavior_index, conversion_behavior, app_group_id,
                dispatch_id, device_id, app_group_api_id, app_api_id, campaign_api_id,
                message_variation_api_id, gender, country, language, string_custom_attributes,
                boolean_custom_attributes, time_custom_attributes, float_custom_attributes,
                number_custom_attributes,
            } + {}
            /// `users.canvas.Conversion`: the user performed one of a Canvas's
            /// conversion events. The 2021-06-30 internal variant's fields follow
            /// the newest schema's.
            CanvasConversion = "users.canvas.Conversion" {
                id, user_id, external_user_id, app_id, time, timezone, canvas_id, canvas_name,
                canvas_variation_id, canvas_variation_name, canvas_step_id, canvas_step_name,
                conversion_behavior_index, conversion_behavior, app_group_id,
                device_id, app_group_api_id, app_api_id, canvas_step_message_variation_id,
                canvas_api_id, canvas_variation_api_id, canvas_step_api_id,
                canvas_step_message_variation_api_id, gender, country, language,
                string_custom_attributes, boolean_custom_attributes, time_custom_attributes,
                float_custom_attributes, number_custom_attributes,
            } + {}
            /// `users.canvas.experimentstep.Conversion`: the user converted after a
            /// Canvas experiment step.
            ExperimentStepConversion = "users.canvas.experimentstep.Conversion" {
                id, user_id, external_user_id, app_id, time, canvas_id, canvas_name,
                canvas_variation_id, canvas_variation_name, canvas_step_id, canvas_step_name,
                experiment_step_id, experiment_split_id, experiment_split_name,
                conversion_behavior_index, conversion_behavior,
            } + {}
        }
    };
}

/// Expands the field groups of [`for_each_event!`]'s lists, one token at a time,
/// then calls the callback with plain lists. The groups:
/// - `@head`: the fields every message event starts with;
/// - `@canvas`: the Canvas ids and names, then `send_id`.
macro_rules! expand_groups {
    (@events $cb:ident [$($pre:tt)*] [$($done:tt)*]) => {
        $cb! { $($pre)* ; $($done)* }
    };
    (@events $cb:ident $pre:tt $done:tt
        $(#[$m:meta])* $ty:ident = $full:literal { $($f:tt)* } + { $($a:tt)* } $($rest:tt)*
    ) => {
        expand_groups! { @fields $cb $pre $done [$(#[$m])* $ty = $full] [] ($($f)*) ($($a)*) $($rest)* }
    };
    (@fields $cb:ident $pre:tt $done:tt $head:tt [$($acc:tt)*] (@head, $($f:tt)*) $($rest:tt)*) => {
        expand_groups! { @fields $cb $pre $done $head [$($acc)*
            id, user_id, dispatch_id, external_user_id, time, timezone, campaign_id,
            campaign_name, message_variation_id, message_variation_name, email_address,
        ] ($($f)*) $($rest)* }
    };
    (@fields $cb:ident $pre:tt $done:tt $head:tt [$($acc:tt)*] (@canvas, $($f:tt)*) $($rest:tt)*) => {
        expand_groups! { @fields $cb $pre $done $head [$($acc)*
            canvas_id, canvas_name, canvas_variation_id, canvas_variation_name,
            canvas_step_id, canvas_step_name, send_id,
        ] ($($f)*) $($rest)* }
    };
    (@fields $cb:ident $pre:tt $done:tt $head:tt [$($acc:tt)*] ($name:ident, $($f:tt)*) $($rest:tt)*) => {
        expand_groups! { @fields $cb $pre $done $head [$($acc)* $name,] ($($f)*) $($rest)* }
    };
    (@fields $cb:ident $pre:tt [$($done:tt)*] [$($head:tt)*] [$($acc:tt)*] () ($($a:tt)*) $($rest:tt)*) => {
        expand_groups! { @events $cb $pre [$($done)* $($head)* { $($acc)* } + { $($a)* }] $($rest)* }
    };
}

/// Defines `field!(name, callback, args...)`, which calls
/// `callback!(Kind, Class, "doc", args...)` for the field `name`: the per-field
/// lookup the event and filter generators use. Defined from `for_each_field!`
/// (the `$d` token carries a `$` into the inner macro's definition).
macro_rules! define_field_lookup {
    ($d:tt ; $( $name:ident : $kind:ident, $class:ident, $doc:literal; )*) => {
        macro_rules! field {
            $(
                ($name, $d cb:ident $d($d args:tt)*) => {
                    $d cb!($kind, $class, $doc $d($d args)*)
                };
            )*
        }
    };
}

for_each_field!(define_field_lookup ! $);

/// Calls `$cb! { $pre ; name: Kind, Class, "doc"; ... }` with the fields that
/// clean events carry (`Kept` and `Quasi`), in the list's order. Invoked as
/// `for_each_field!(carried_fields ! callback [pre tokens] [])`.
macro_rules! carried_fields {
    ($cb:ident [$($pre:tt)*] [$($acc:tt)*] ;) => {
        $cb! { $($pre)* ; $($acc)* }
    };
    ($cb:ident [$($pre:tt)*] [$($acc:tt)*] ; $n:ident : $k:ident, Kept, $d:literal; $($rest:tt)*) => {
        carried_fields! { $cb [$($pre)*] [$($acc)* $n : $k, Kept, $d;] ; $($rest)* }
    };
    ($cb:ident [$($pre:tt)*] [$($acc:tt)*] ; $n:ident : $k:ident, Quasi, $d:literal; $($rest:tt)*) => {
        carried_fields! { $cb [$($pre)*] [$($acc)* $n : $k, Quasi, $d;] ; $($rest)* }
    };
    ($cb:ident [$($pre:tt)*] [$($acc:tt)*] ; $n:ident : $k:ident, Required, $d:literal; $($rest:tt)*) => {
        carried_fields! { $cb [$($pre)*] [$($acc)*] ; $($rest)* }
    };
    ($cb:ident [$($pre:tt)*] [$($acc:tt)*] ; $n:ident : $k:ident, Personal, $d:literal; $($rest:tt)*) => {
        carried_fields! { $cb [$($pre)*] [$($acc)*] ; $($rest)* }
    };
}

/// What may happen to a field (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldClass {
    /// Every clean event carries it (`id`, `time`).
    Required,
    /// On the default allowlist.
    Kept,
    /// Quasi-identifying: dropped unless the host allows it.
    Quasi,
    /// Never leaves.
    Personal,
}

macro_rules! catalogue {
    ( ; $( $name:ident : $kind:ident, $class:ident, $doc:literal; )* ) => {
        /// Every known field with its class, in the list's order.
        pub(crate) const CATALOGUE: &[(&str, FieldClass)] =
            &[ $( (stringify!($name), FieldClass::$class), )* ];
    };
}

for_each_field!(catalogue !);

/// How many fields of [`CATALOGUE`] have one of `classes`.
pub(crate) const fn count_of(classes: &[FieldClass]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < CATALOGUE.len() {
        if has_class(CATALOGUE[i].1, classes) {
            n += 1;
        }
        i += 1;
    }
    n
}

/// The names of the `N` fields of [`CATALOGUE`] that have one of `classes`, in
/// the list's order (`N` must be [`count_of`]`(classes)`, which a const
/// evaluation checks at compile time).
pub(crate) const fn names_of<const N: usize>(classes: &[FieldClass]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut n = 0;
    let mut i = 0;
    while i < CATALOGUE.len() {
        if has_class(CATALOGUE[i].1, classes) {
            out[n] = CATALOGUE[i].0;
            n += 1;
        }
        i += 1;
    }
    assert!(n == N, "N is the count of fields in these classes");
    out
}

const fn has_class(c: FieldClass, classes: &[FieldClass]) -> bool {
    let mut i = 0;
    while i < classes.len() {
        if classes[i] as u8 == c as u8 {
            return true;
        }
        i += 1;
    }
    false
}
