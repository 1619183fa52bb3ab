//! Attribution: clean events and exposures to per-variant outcomes.
//!
//! This module owns exposure and click accounting. The host reports every
//! exposure here; clean Currents events come in; [`Update`]s go out to the
//! optimiser. It reads no clock: every call takes the host's `now`.
//!
//! The types a host needs:
//! - [`Attribution`]: the state machine (`add_experiment`, `record_exposure`,
//!   `handle_event`, `poll_update`/`drain_updates`, `expire`, `report`,
//!   `snapshot`/`restore`, `merge`);
//! - [`ExperimentConfig`] with its [`Scope`] (campaign or Canvas step, plus
//!   message variation), [`Mode`] (URL tag or exposure join), window,
//!   allowed lateness and [`BotRules`];
//! - [`Accounting`]: where every click went ([`ClickBuckets`]) and
//!   per-variant outcomes;
//! - [`Snapshot`]: the serde state, with a format version;
//! - [`Tag`] and [`parse_tag`]: the `dov=<variant>[.<serve seconds>]` link tag.
//!
//! See [`Attribution`] for the host loop, the rules for time going backwards,
//! and the order in which a click's bucket is decided.

use std::fmt;

mod config;
mod engine;
mod report;
mod snapshot;
mod table;
mod tag;

pub use config::{BotRules, DEFAULT_SCANNER_USER_AGENTS, ExperimentConfig, Mode, Scope};
pub use engine::{
    Attribution, ConfigError, Exposure, ExposureError, Handled, MAX_VARIANTS, MergeError,
};
pub use report::{Accounting, ClickBucket, ClickBuckets, ExperimentReport, VariantReport};
pub use snapshot::{RestoreError, SNAPSHOT_FORMAT_VERSION, Snapshot};
pub use tag::{DEFAULT_TAG_PARAM, Tag, TagError, parse_tag};

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
