//! The allowlist policy and the report of what it dropped.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ALWAYS_PERSONAL, DEFAULT_ALLOWLIST, UrlScrubber};
use crate::currents::EventType;

/// Fields every clean event needs: a policy cannot narrow them away.
pub const REQUIRED_FIELDS: &[&str] = &["id", "time"];

/// Which fields may leave (see `docs/design.md`, *PII policy and filter*): an allowlist of field names, applied to the
/// fields each event type has, plus the [`UrlScrubber`] for `url`.
///
/// The default is [`DEFAULT_ALLOWLIST`]. The host can allow more (for example
/// `user_agent`, which is quasi-identifying and dropped by default) or narrow it.
/// Whatever the list says, a field named in [`ALWAYS_PERSONAL`] and a field whose
/// writer-schema documentation starts with `[PII]` are dropped; every field the
/// list does not name is dropped and reported.
///
/// ```
/// use dynopt::pii::{DropReason, Policy, PolicyError};
/// use dynopt::currents::EventType;
/// let p = Policy::default().allow("user_agent")?.deny("campaign_name")?;
/// assert!(p.allows("user_agent") && !p.allows("campaign_name"));
/// assert_eq!(Policy::default().allow("email_address"), Err(PolicyError::AlwaysPersonal("email_address".into())));
/// // A tag in the writer schema wins over the list.
/// assert_eq!(p.verdict(EventType::Click, "user_agent", true), Err(DropReason::Tagged));
/// assert_eq!(p.verdict(EventType::Click, "gender", false), Err(DropReason::Personal));
/// assert_eq!(p.verdict(EventType::Click, "favourite_colour", false), Err(DropReason::Unknown));
/// assert_eq!(p.verdict(EventType::Click, "campaign_name", false), Err(DropReason::NotAllowed));
/// assert_eq!(p.verdict(EventType::Click, "url", false), Ok(()));
/// // Allowed names apply per event type: a Send has no `url`.
/// assert_eq!(p.verdict(EventType::Send, "url", false), Err(DropReason::Unknown));
/// # Ok::<(), PolicyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    allowed: Vec<String>,
    scrubber: UrlScrubber,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed: DEFAULT_ALLOWLIST.iter().map(|s| (*s).to_owned()).collect(),
            scrubber: UrlScrubber::default(),
        }
    }
}

/// A policy change that is not allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The field is personal whatever a schema says ([`ALWAYS_PERSONAL`]): it can never be allowed.
    #[error("field `{0}` is always personal and cannot be allowed")]
    AlwaysPersonal(String),
    /// Every clean event has `id` and `time`: they cannot be denied.
    #[error("field `{0}` is required by every clean event and cannot be denied")]
    Required(String),
}

/// Why a field was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DropReason {
    /// A named personal field ([`ALWAYS_PERSONAL`]).
    Personal,
    /// The writer schema tags the field `[PII]` (in `doc` or `connect.doc`).
    Tagged,
    /// Neither the policy nor the typed event of this event type knows the field
    /// (custom attributes, future fields, ...), or the policy allows the name but
    /// this event type's published schemas do not have it.
    Unknown,
    /// A known field the policy does not allow (for example `user_agent` by default).
    NotAllowed,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::Personal => "personal",
            DropReason::Tagged => "tagged [PII]",
            DropReason::Unknown => "unknown",
            DropReason::NotAllowed => "not allowed",
        })
    }
}

impl Policy {
    /// The default policy ([`DEFAULT_ALLOWLIST`], default URL scrubbing).
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Also lets `field` through. Fails for a field in [`ALWAYS_PERSONAL`].
    /// (A field tagged `[PII]` in a file's schema is still dropped from that file.)
    pub fn allow(mut self, field: &str) -> Result<Policy, PolicyError> {
        if ALWAYS_PERSONAL.contains(&field) {
            return Err(PolicyError::AlwaysPersonal(field.to_owned()));
        }
        if !self.allows(field) {
            self.allowed.push(field.to_owned());
        }
        Ok(self)
    }

    /// Drops `field` too. Fails for `id` and `time` ([`REQUIRED_FIELDS`]).
    pub fn deny(mut self, field: &str) -> Result<Policy, PolicyError> {
        if REQUIRED_FIELDS.contains(&field) {
            return Err(PolicyError::Required(field.to_owned()));
        }
        self.allowed.retain(|f| f != field);
        Ok(self)
    }

    /// Uses `scrubber` for `url`.
    #[must_use]
    pub fn with_url_scrubber(mut self, scrubber: UrlScrubber) -> Policy {
        self.scrubber = scrubber;
        self
    }

    /// The URL scrubber.
    pub fn url_scrubber(&self) -> &UrlScrubber {
        &self.scrubber
    }

    /// Whether the list lets `field` through (before any schema tag is considered).
    pub fn allows(&self, field: &str) -> bool {
        self.allowed.iter().any(|f| f == field)
    }

    /// The allowed field names.
    pub fn allowed(&self) -> impl Iterator<Item = &str> {
        self.allowed.iter().map(String::as_str)
    }

    /// Whether the writer field `name` of a file of `event_type`, tagged `[PII]` or
    /// not, may leave; if not, why.
    pub fn verdict(
        &self,
        event_type: EventType,
        name: &str,
        pii_tag: bool,
    ) -> Result<(), DropReason> {
        if ALWAYS_PERSONAL.contains(&name) {
            Err(DropReason::Personal)
        } else if pii_tag {
            Err(DropReason::Tagged)
        } else if self.allows(name) {
            // The list applies per event type: a name the crate knows is copied
            // only on the event types whose published schemas have it (which
            // also fixes its type: the decoder refuses another). A name the
            // crate does not know is the host's own choice.
            let known_elsewhere = crate::fields::CATALOGUE.iter().any(|(n, _)| *n == name);
            if known_elsewhere && !event_type.fields().iter().any(|f| f.name == name) {
                Err(DropReason::Unknown)
            } else {
                Ok(())
            }
        } else if event_type.fields().iter().any(|f| f.name == name) {
            Err(DropReason::NotAllowed)
        } else {
            Err(DropReason::Unknown)
        }
    }
}

/// What the filter (or `sanitize`) dropped, per event type: field name and reason.
///
/// Holds field names only, never values. Merge the reports of many files with
/// [`FilterReport::merge`]; operators watch [`DropReason::Unknown`] entries for new
/// schema fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterReport {
    dropped: BTreeMap<EventType, BTreeMap<String, DropReason>>,
}

impl FilterReport {
    /// An empty report.
    pub fn new() -> FilterReport {
        FilterReport::default()
    }

    /// Records that `field` of `event_type` was dropped for `reason`.
    pub fn record(&mut self, event_type: EventType, field: &str, reason: DropReason) {
        let fields = self.dropped.entry(event_type).or_default();
        if !fields.contains_key(field) {
            fields.insert(field.to_owned(), reason);
        }
    }

    /// Adds every entry of `other`.
    pub fn merge(&mut self, other: &FilterReport) {
        for (et, fields) in &other.dropped {
            for (name, reason) in fields {
                self.record(*et, name, *reason);
            }
        }
    }

    /// Whether nothing was dropped.
    pub fn is_empty(&self) -> bool {
        self.dropped.values().all(BTreeMap::is_empty)
    }

    /// The event types with dropped fields.
    pub fn event_types(&self) -> impl Iterator<Item = EventType> + '_ {
        self.dropped.keys().copied()
    }

    /// The dropped fields of `event_type` with their reasons, by name.
    pub fn dropped(&self, event_type: EventType) -> impl Iterator<Item = (&str, DropReason)> {
        self.dropped
            .get(&event_type)
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), *v)))
    }

    /// The names of the fields of `event_type` dropped as [`DropReason::Unknown`].
    pub fn unknown(&self, event_type: EventType) -> Vec<&str> {
        self.dropped(event_type)
            .filter(|(_, r)| *r == DropReason::Unknown)
            .map(|(n, _)| n)
            .collect()
    }
}

impl fmt::Display for FilterReport {
    /// One line per event type: `users.messages.email.Click: dropped email_address (personal), ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first_line = true;
        for (et, fields) in &self.dropped {
            if fields.is_empty() {
                continue;
            }
            if !first_line {
                f.write_str("\n")?;
            }
            first_line = false;
            write!(f, "{et}: dropped ")?;
            for (i, (name, reason)) in fields.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{name} ({reason})")?;
            }
        }
        Ok(())
    }
}
