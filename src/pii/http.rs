//! Custom HTTP batches to clean events: the JSON envelope decoded by
//! `currents` into typed events, then the same filter as the Avro path.

use super::url::has_ip;
use super::{CleanEvent, DropReason, Filter, FilterReport};
use crate::currents::{HttpError, HttpEventError, HttpItem, HttpOptions, decode_event, parse_body};

/// What [`Filter::clean_http`] made of one batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpOutcome {
    /// The clean events, in batch order. Braze delivers at least once, so a
    /// batch may repeat events of an earlier one: attribution deduplicates by
    /// event id, this decoder does not.
    pub events: Vec<CleanEvent>,
    /// The events that could not be decoded (index, field, what is wrong); the
    /// others are in [`events`](Self::events).
    pub rejected: Vec<HttpEventError>,
    /// Events of a type the crate does not decode (push, SMS, ...), skipped.
    pub unknown_event_types: usize,
    /// Members of decoded events that their type does not know (`properties`
    /// names, `user.*` members, other envelope members), skipped.
    pub unknown_fields: usize,
    /// Non-personal text values left out because they hold an IP address.
    pub ip_values_dropped: usize,
    /// What the filter dropped, per event type (names only; unknown names are
    /// listed when they look like field names, at most 64 characters of
    /// letters, digits, `_` and `.`).
    pub report: FilterReport,
}

/// Whether an unknown member's name may be listed in a report.
fn reportable(name: &str) -> bool {
    name.len() <= 64
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

impl Filter {
    /// Decodes the body of one request of Braze's Custom HTTP Currents connector
    /// (`{"events":[{event_type, id, time, properties, user}, ...]}`) straight
    /// into clean events, through the same policy, scrubbing and pseudonymizer
    /// as Avro files (see `docs/design.md`, *Custom HTTP batches*).
    ///
    /// - Each event's `properties` are the typed fields of its type, read by
    ///   name and checked against their kinds; `user.user_id`,
    ///   `user.external_user_id` and `user.device_id` are the personal ids, and
    ///   `user.timezone` is `timezone`. The recipient key is derived from
    ///   `user.user_id` exactly as from an Avro file's `user_id`.
    /// - Personal fields never pass (`email_address`, the ids, ...);
    ///   `user_agent` only when the policy allows it; `url` is scrubbed with the
    ///   record's personal values; a kept value holding one of them is dropped,
    ///   and so is a kept text value holding an IP address.
    /// - Unknown members and events of unknown types are skipped and counted; an
    ///   event that cannot be decoded (a value of the wrong kind, a missing `id`
    ///   or `time`) is rejected alone with a typed error naming the field; only a
    ///   body that is not a JSON envelope, or exceeds the limits, fails whole.
    /// - Duplicates (Braze redelivers after errors) are kept: attribution
    ///   deduplicates by event id.
    ///
    /// ```
    /// use dynopt::currents::{EventType, HttpOptions};
    /// use dynopt::pii::{Filter, Policy, Pseudonymizer};
    ///
    /// let body = br#"{"events":[
    ///   {"event_type":"users.messages.email.Click","id":"a1","time":1767225600,
    ///    "properties":{"campaign_id":"cmp-1","email_address":"jane@example.com",
    ///      "url":"https://shop.example/?dov=1&email=jane%40example.com","is_amp":false,
    ///      "brand_new_field":"x"},
    ///    "user":{"user_id":"hey","external_user_id":"crm-42","timezone":"Europe/Berlin"}},
    ///   {"event_type":"users.campaigns.Conversion","id":"a2","time":1767229200,
    ///    "properties":{"campaign_id":"cmp-1","conversion_behavior_index":0},
    ///    "user":{"user_id":"hey"}},
    ///   {"event_type":"users.messages.pushnotification.Send","id":"a3","time":1767229200},
    ///   {"event_type":"users.messages.email.Open","id":"a4","time":"yesterday"}
    /// ]}"#;
    /// let filter = Filter::new(Policy::default()).with_pseudonymizer(Pseudonymizer::keyed(b"secret_key"));
    /// let out = filter.clean_http(body, &HttpOptions::default())?;
    /// assert_eq!(out.events.len(), 2);
    /// let click = &out.events[0];
    /// assert_eq!(click.url.as_deref(), Some("https://shop.example/?dov=1"));
    /// assert_eq!(click.timezone.as_deref(), Some("Europe/Berlin"));
    /// // The same key as an Avro file with user_id "hey" gives.
    /// let key = Pseudonymizer::keyed(b"secret_key").key_for("hey");
    /// assert_eq!(click.recipient_key, key);
    /// assert_eq!(out.events[1].event_type, EventType::CampaignConversion);
    /// assert_eq!(out.events[1].conversion_behavior_index, Some(0));
    /// assert_eq!((out.unknown_event_types, out.unknown_fields), (1, 1));
    /// assert_eq!(out.rejected[0].to_string(), "event 3, field `time`: the value is not of kind RequiredTime");
    /// assert!(!serde_json::to_string(&out.events)?.contains("jane"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clean_http(&self, body: &[u8], options: &HttpOptions) -> Result<HttpOutcome, HttpError> {
        let events = parse_body(body, options)?;
        let mut out = HttpOutcome::default();
        // Any IP address is the recipient's, but the one the email was sent
        // from (Braze's infrastructure, kept as the Avro export keeps it).
        let drop_text = |field: &str, s: &str| field != "sending_ip" && has_ip(s);
        for (index, v) in events.iter().enumerate() {
            let item = match decode_event(index, v, options, &drop_text) {
                Ok(HttpItem::Event(item)) => item,
                Ok(HttpItem::UnknownType) => {
                    out.unknown_event_types += 1;
                    continue;
                }
                Err(e) => {
                    out.rejected.push(e);
                    continue;
                }
            };
            let et = item.event.event_type();
            let file = self.for_file(
                et,
                item.present.iter().map(|n| (*n, false)),
                &mut out.report,
            );
            for name in &item.unknown {
                out.unknown_fields += 1;
                if reportable(name) {
                    out.report.record(et, name, DropReason::Unknown);
                }
            }
            out.ip_values_dropped += item.dropped_text;
            out.events
                .push(file.clean_with(&item.event, None, &item.extra_personal));
        }
        Ok(out)
    }
}
