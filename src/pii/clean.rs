//! Clean events: what is left of a Currents event after the PII filter.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::currents::EventType;
use crate::vocab::{RecipientKey, Text};

/// The type a carried field of each kind has in a clean event: owned, no
/// [`Pii`](crate::Pii) wrapper (the filter has decided the value may leave).
/// Texts are shared: the events of one file that carry the same campaign name
/// or user agent hold one copy of it.
macro_rules! clean_ty {
    (String) => { Option<Text> };
    (PiiString) => { Option<Text> };
    (Url) => { Option<Text> };
    (Bool) => { Option<bool> };
    (Int) => { Option<i64> };
    (Time) => { Option<DateTime<Utc>> };
    (StringList) => { Option<Vec<String>> };
}

macro_rules! clean_event {
    ( ; $( $name:ident : $kind:ident, $class:ident, $doc:literal; )* ) => {
        /// An event with no personal field at all: the input of `attribution`.
        ///
        /// One struct for every event type: each field is `None` when the event type
        /// does not have it, when the file lacks it, or when the policy dropped it.
        /// `url` is scrubbed. `recipient_key` is the pseudonym of the Braze user id
        /// when the filter has a [`Pseudonymizer`](super::Pseudonymizer) configured
        /// or the sanitized file carried it. The fields are generated from the
        /// crate's one field list: every non-personal Braze field, plus the
        /// quasi-identifying ones a host's policy may allow.
        ///
        /// Texts are [`Text`]: [`Filter::clean_file`](super::Filter::clean_file)
        /// and [`Filter::clean_each`](super::Filter::clean_each) give the events
        /// of a file that carry the same value (a campaign id, a name, a user
        /// agent) one shared copy, so that a file's clean events cost little more
        /// memory than their unique texts.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[non_exhaustive]
        pub struct CleanEvent {
            /// The event type.
            pub event_type: EventType,
            /// The Currents event id (`id`): unique per event, repeated on redelivery.
            pub id: Text,
            /// The event time.
            pub time: DateTime<Utc>,
            /// The pseudonymous recipient key, when known.
            pub recipient_key: Option<RecipientKey>,
            $(
                #[doc = $doc]
                pub $name: clean_ty!($kind),
            )*
        }

        impl CleanEvent {
            /// A clean event with only the required fields set.
            pub fn new(event_type: EventType, id: impl Into<Text>, time: DateTime<Utc>) -> Self {
                CleanEvent {
                    event_type,
                    id: id.into(),
                    time,
                    recipient_key: None,
                    $( $name: None, )*
                }
            }
        }
    };
}

for_each_field!(carried_fields ! clean_event [] []);
