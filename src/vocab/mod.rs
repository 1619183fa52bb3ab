//! The shared vocabulary: the types every module speaks, so that no module has
//! to reach into a sibling for them. Everything here is re-exported at the crate
//! root (and, for convenience, from the modules that use it most).
//!
//! - [`Pii`]: the redacting wrapper for values that may hold personal data;
//! - [`RecipientKey`]: the pseudonymous recipient key (first 16 bytes of an HMAC);
//! - [`ExperimentId`], [`VariantId`]: what the host calls an experiment and a wording;
//! - [`Update`]: what attribution emits and the optimiser learns from.

use std::fmt;

mod key;
mod pii;

pub use key::{InvalidRecipientKey, RecipientKey};
pub use pii::Pii;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Identifies an experiment (host-chosen, for example `"spring-sale-subject"`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExperimentId(pub String);

impl ExperimentId {
    /// Makes an experiment id.
    pub fn new(id: impl Into<String>) -> Self {
        ExperimentId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExperimentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A variant's stable id within its experiment: given when the variant is
/// added and never reused, so it survives other variants being added or
/// retired. It is what the `dov` URL tag carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VariantId(pub u32);

impl fmt::Display for VariantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What the optimiser learns from: emitted by attribution, each at most once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Update {
    /// A recipient was exposed to (served) a variant.
    Exposure {
        /// The experiment.
        experiment: ExperimentId,
        /// The variant served.
        variant: VariantId,
        /// When it was served.
        at: DateTime<Utc>,
    },
    /// An exposed recipient clicked for the first time (the Bernoulli reward).
    Click {
        /// The experiment.
        experiment: ExperimentId,
        /// The variant the recipient was shown.
        variant: VariantId,
        /// When the recipient was exposed, when known (exposure join, the
        /// serve time in the URL tag, or the v12 `send_time`).
        exposed_at: Option<DateTime<Utc>>,
        /// When the click happened.
        clicked_at: DateTime<Utc>,
    },
}
