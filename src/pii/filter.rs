//! The filter from raw typed events to clean events.

use std::borrow::Cow;

use super::{CleanEvent, FilterReport, Policy, Pseudonymizer, RecipientKey};
use crate::currents::{Event, EventType};

macro_rules! slots {
    ($($name:ident),* $(,)?) => {
        /// The optional fields of a [`CleanEvent`], one bit each in a mask.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        #[repr(u8)]
        enum Slot { $($name,)* }

        const SLOT_NAMES: &[&str] = &[$(stringify!($name),)*];

        const fn bit(slot: Slot) -> u64 {
            1u64 << (slot as u8)
        }
    };
}

slots! {
    dispatch_id, send_id, app_group_id, campaign_id, campaign_name, message_variation_id,
    message_variation_name, canvas_id, canvas_name, canvas_variation_id, canvas_variation_name,
    canvas_step_id, canvas_step_name, canvas_step_message_variation_id, timezone, url, link_id,
    link_alias, esp, from_domain, ip_pool, sending_ip, is_amp, machine_open, device_class,
    device_os, device_model, browser, mailbox_provider, is_suspected_bot_click,
    suspected_bot_click_reason, is_drop, attempt_count, recipient_domain, abort_type, retry_type,
    send_time, has_url_parameters, link_aliasing_enabled, user_agent,
}

fn slot_mask(name: &str) -> u64 {
    SLOT_NAMES
        .iter()
        .position(|s| *s == name)
        .map_or(0, |i| 1u64 << i)
}

macro_rules! take {
    (String, $v:expr) => {
        $v.as_deref().map(str::to_owned)
    };
    (PiiString, $v:expr) => {
        $v.as_ref().map(|p| p.expose().clone().into_owned())
    };
    (Copy, $v:expr) => {
        $v
    };
    (StringList, $v:expr) => {
        $v.as_ref()
            .map(|l| l.iter().map(|s| s.clone().into_owned()).collect())
    };
}

macro_rules! copy_fields {
    ($c:ident, $e:ident, $mask:ident; $($field:ident : $how:ident),* $(,)?) => {{
        $(
            if $mask & bit(Slot::$field) != 0 {
                $c.$field = take!($how, $e.$field);
            }
        )*
    }};
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
        for (name, tagged) in writer_fields {
            if let Err(reason) = self.policy.verdict(event_type, name, tagged) {
                report.record(event_type, name, reason);
                mask &= !slot_mask(name);
            }
        }
        FileFilter {
            filter: self,
            event_type,
            mask,
        }
    }

    /// Prepares the filter for events of `event_type` without a file's schema (no
    /// `[PII]` tags known): only the policy applies.
    pub fn for_type(&self, event_type: EventType) -> FileFilter<'_> {
        FileFilter {
            filter: self,
            event_type,
            mask: self.mask,
        }
    }
}

/// A [`Filter`] prepared for one file: per-event work only.
#[derive(Clone, Debug)]
pub struct FileFilter<'a> {
    filter: &'a Filter,
    event_type: EventType,
    mask: u64,
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
        let mut c = CleanEvent::new(event.event_type(), event.id(), event.time());
        c.recipient_key = key.or_else(|| {
            self.filter
                .pseudonymizer
                .as_ref()
                .and_then(|p| p.key_for(event.user_id().expose()))
        });
        let m = self.mask;
        match event {
            Event::Send(e) => copy_fields!(c, e, m;
                dispatch_id: String, timezone: String, campaign_id: String, campaign_name: String,
                message_variation_id: String, message_variation_name: String, canvas_id: String,
                canvas_name: String, canvas_variation_id: String, canvas_variation_name: String,
                canvas_step_id: String, canvas_step_name: String, send_id: String, ip_pool: String,
                app_group_id: String, from_domain: String),
            Event::Delivery(e) => copy_fields!(c, e, m;
                dispatch_id: String, timezone: String, campaign_id: String, campaign_name: String,
                message_variation_id: String, message_variation_name: String, canvas_id: String,
                canvas_name: String, canvas_variation_id: String, canvas_variation_name: String,
                canvas_step_id: String, canvas_step_name: String, send_id: String,
                sending_ip: String, ip_pool: String, esp: String, from_domain: String,
                app_group_id: String, send_time: Copy),
            Event::Open(e) => copy_fields!(c, e, m;
                dispatch_id: String, timezone: String, campaign_id: String, campaign_name: String,
                message_variation_id: String, message_variation_name: String, canvas_id: String,
                canvas_name: String, canvas_variation_id: String, canvas_variation_name: String,
                canvas_step_id: String, canvas_step_name: String, send_id: String,
                user_agent: PiiString, ip_pool: String, machine_open: String, esp: String,
                from_domain: String, is_amp: Copy, app_group_id: String, device_class: String,
                device_os: String, device_model: String, browser: String,
                mailbox_provider: String, send_time: Copy),
            Event::Click(e) => {
                copy_fields!(c, e, m;
                    dispatch_id: String, timezone: String, campaign_id: String,
                    campaign_name: String, message_variation_id: String,
                    message_variation_name: String, canvas_id: String, canvas_name: String,
                    canvas_variation_id: String, canvas_variation_name: String,
                    canvas_step_id: String, canvas_step_name: String, send_id: String,
                    user_agent: PiiString, ip_pool: String, link_id: String, link_alias: String,
                    esp: String, from_domain: String, is_amp: Copy, app_group_id: String,
                    device_class: String, device_os: String, device_model: String,
                    browser: String, mailbox_provider: String, is_suspected_bot_click: Copy,
                    suspected_bot_click_reason: StringList, send_time: Copy,
                    has_url_parameters: Copy, link_aliasing_enabled: Copy);
                if m & bit(Slot::url) != 0 {
                    c.url = e.url.as_ref().map(|u| {
                        match self.filter.policy.url_scrubber().scrub(u.expose()) {
                            Cow::Borrowed(s) => s.to_owned(),
                            Cow::Owned(s) => s,
                        }
                    });
                }
            }
            Event::Bounce(e) => copy_fields!(c, e, m;
                dispatch_id: String, timezone: String, campaign_id: String, campaign_name: String,
                message_variation_id: String, message_variation_name: String, canvas_id: String,
                canvas_name: String, canvas_variation_id: String, canvas_variation_name: String,
                canvas_step_id: String, canvas_step_name: String, send_id: String,
                sending_ip: String, ip_pool: String, esp: String, from_domain: String,
                is_drop: Copy, app_group_id: String, send_time: Copy),
            Event::SoftBounce(e) => copy_fields!(c, e, m;
                dispatch_id: String, timezone: String, campaign_id: String, campaign_name: String,
                message_variation_id: String, message_variation_name: String, canvas_id: String,
                canvas_name: String, canvas_variation_id: String, canvas_variation_name: String,
                canvas_step_id: String, canvas_step_name: String, send_id: String,
                sending_ip: String, ip_pool: String, esp: String, from_domain: String,
                app_group_id: String, send_time: Copy),
            Event::Deferral(e) => copy_fields!(c, e, m;
                app_group_id: String, send_id: String, campaign_id: String,
                message_variation_id: String, canvas_id: String, canvas_variation_id: String,
                canvas_step_id: String, canvas_step_message_variation_id: String,
                dispatch_id: String, recipient_domain: String, esp: String, from_domain: String,
                ip_pool: String, sending_ip: String, timezone: String, attempt_count: Copy,
                campaign_name: String, message_variation_name: String, canvas_name: String,
                canvas_variation_name: String, canvas_step_name: String, send_time: Copy),
            Event::Retry(e) => copy_fields!(c, e, m;
                app_group_id: String, retry_type: String, send_id: String, dispatch_id: String,
                campaign_id: String, message_variation_id: String, canvas_id: String,
                canvas_variation_id: String, canvas_step_id: String,
                canvas_step_message_variation_id: String, timezone: String, ip_pool: String,
                campaign_name: String, message_variation_name: String, canvas_name: String,
                canvas_variation_name: String, canvas_step_name: String),
            Event::Abort(e) => copy_fields!(c, e, m;
                abort_type: String, app_group_id: String, campaign_id: String,
                campaign_name: String, canvas_id: String, canvas_name: String,
                canvas_step_id: String, canvas_step_message_variation_id: String,
                canvas_step_name: String, canvas_variation_id: String,
                canvas_variation_name: String, dispatch_id: String, ip_pool: String,
                message_variation_id: String, message_variation_name: String, send_id: String,
                timezone: String),
            Event::MarkAsSpam(e) => copy_fields!(c, e, m;
                dispatch_id: String, timezone: String, campaign_id: String, campaign_name: String,
                message_variation_id: String, message_variation_name: String, canvas_id: String,
                canvas_name: String, canvas_variation_id: String, canvas_variation_name: String,
                canvas_step_id: String, canvas_step_name: String, send_id: String,
                user_agent: PiiString, ip_pool: String, esp: String, from_domain: String,
                app_group_id: String, send_time: Copy),
            Event::Unsubscribe(e) => copy_fields!(c, e, m;
                dispatch_id: String, timezone: String, campaign_id: String, campaign_name: String,
                message_variation_id: String, message_variation_name: String, canvas_id: String,
                canvas_name: String, canvas_variation_id: String, canvas_variation_name: String,
                canvas_step_id: String, canvas_step_name: String, send_id: String,
                ip_pool: String, app_group_id: String),
        }
        c
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
                let personal =
                    matches!(f.kind, FieldKind::RequiredPiiString | FieldKind::PiiString);
                if !personal && !matches!(f.name, "id" | "time") {
                    assert!(slot_mask(f.name) != 0, "{et}: {}", f.name);
                }
            }
        }
    }
}
