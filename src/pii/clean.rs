//! Clean events: what is left of a Currents event after the PII filter.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RecipientKey;
use crate::currents::EventType;

/// An event with no personal field at all: the input of `attribution`.
///
/// One struct for every event type: each field is `None` when the event type
/// does not have it, when the file lacks it, or when the policy dropped it.
/// `url` is scrubbed. `recipient_key` is the pseudonym of the Braze user id
/// when the filter has a [`Pseudonymizer`](super) configured or the sanitized
/// file carried it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)] // field names are Braze's; see currents-email-schemas.md
pub struct CleanEvent {
    /// The event type.
    pub event_type: EventType,
    /// The Currents event id (`id`): unique per event, repeated on redelivery.
    pub id: String,
    /// The event time.
    pub time: DateTime<Utc>,
    /// The pseudonymous recipient key, when known.
    pub recipient_key: Option<RecipientKey>,
    pub dispatch_id: Option<String>,
    pub send_id: Option<String>,
    pub app_group_id: Option<String>,
    pub campaign_id: Option<String>,
    pub campaign_name: Option<String>,
    pub message_variation_id: Option<String>,
    pub message_variation_name: Option<String>,
    pub canvas_id: Option<String>,
    pub canvas_name: Option<String>,
    pub canvas_variation_id: Option<String>,
    pub canvas_variation_name: Option<String>,
    pub canvas_step_id: Option<String>,
    pub canvas_step_name: Option<String>,
    pub canvas_step_message_variation_id: Option<String>,
    pub timezone: Option<String>,
    /// The clicked URL with personal query parameters removed.
    pub url: Option<String>,
    pub link_id: Option<String>,
    pub link_alias: Option<String>,
    pub esp: Option<String>,
    pub from_domain: Option<String>,
    pub ip_pool: Option<String>,
    pub sending_ip: Option<String>,
    pub is_amp: Option<bool>,
    pub machine_open: Option<String>,
    pub device_class: Option<String>,
    pub device_os: Option<String>,
    pub device_model: Option<String>,
    pub browser: Option<String>,
    pub mailbox_provider: Option<String>,
    pub is_suspected_bot_click: Option<bool>,
    pub suspected_bot_click_reason: Option<Vec<String>>,
    pub is_drop: Option<bool>,
    pub attempt_count: Option<i64>,
    pub recipient_domain: Option<String>,
    pub abort_type: Option<String>,
    pub retry_type: Option<String>,
    pub send_time: Option<DateTime<Utc>>,
    pub has_url_parameters: Option<bool>,
    pub link_aliasing_enabled: Option<bool>,
    /// Quasi-identifying: `None` unless the host's policy allows `user_agent`.
    pub user_agent: Option<String>,
}

impl CleanEvent {
    /// A clean event with only the required fields set.
    pub fn new(event_type: EventType, id: impl Into<String>, time: DateTime<Utc>) -> Self {
        CleanEvent {
            event_type,
            id: id.into(),
            time,
            recipient_key: None,
            dispatch_id: None,
            send_id: None,
            app_group_id: None,
            campaign_id: None,
            campaign_name: None,
            message_variation_id: None,
            message_variation_name: None,
            canvas_id: None,
            canvas_name: None,
            canvas_variation_id: None,
            canvas_variation_name: None,
            canvas_step_id: None,
            canvas_step_name: None,
            canvas_step_message_variation_id: None,
            timezone: None,
            url: None,
            link_id: None,
            link_alias: None,
            esp: None,
            from_domain: None,
            ip_pool: None,
            sending_ip: None,
            is_amp: None,
            machine_open: None,
            device_class: None,
            device_os: None,
            device_model: None,
            browser: None,
            mailbox_provider: None,
            is_suspected_bot_click: None,
            suspected_bot_click_reason: None,
            is_drop: None,
            attempt_count: None,
            recipient_domain: None,
            abort_type: None,
            retry_type: None,
            send_time: None,
            has_url_parameters: None,
            link_aliasing_enabled: None,
            user_agent: None,
        }
    }
}
