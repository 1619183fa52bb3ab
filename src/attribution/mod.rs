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
//! - [`AttributionConfig`] with its [`Scope`] (campaign or Canvas step, plus
//!   message variation), [`Mode`] (URL tag or exposure join), window,
//!   allowed lateness and [`BotRules`], checked by
//!   [`AttributionConfig::validate`];
//! - [`Accounting`]: where every click went ([`ClickBuckets`]), where every
//!   open, conversion and guardrail event went ([`OutcomeAccounts`]) and
//!   per-variant outcomes;
//! - [`Reward`], [`Guardrail`] and [`MissingMachineOpen`]: what the experiment
//!   learns from, which guardrail events it emits, how opens without
//!   `machine_open` count;
//! - [`AttributionSnapshot`]: the serde state, with a format version
//!   (restore errors are the crate's shared [`RestoreError`]);
//! - [`Tag`] and [`parse_tag`]: the `dov=<variant>[.<serve seconds>]` link tag.
//!
//! See [`Attribution`] for the host loop, the rules for time going backwards,
//! and the order in which a click's bucket is decided.

mod config;
mod engine;
mod experiment;
mod report;
mod snapshot;
mod table;
mod tag;

pub use config::{
    AttributionConfig, AttributionConfigError, BotRules, DEFAULT_SCANNER_USER_AGENTS,
    MissingMachineOpen, Mode, Scope,
};
pub use engine::{AddExperimentError, Attribution, Exposure, ExposureError, Handled, MergeError};
pub use experiment::MAX_TRACKED_VARIANTS;
pub use report::{
    Accounting, ClickBucket, ClickBuckets, ExperimentReport, OutcomeAccounts, OutcomeBucket,
    OutcomeBuckets, VariantCounts,
};
pub use snapshot::AttributionSnapshot;

pub use crate::snapshot::{JsonPosition, RestoreError};
pub use tag::{DEFAULT_TAG_PARAM, Tag, TagError, parse_tag};

pub use crate::vocab::{ExperimentId, Guardrail, Reward, Update, VariantId};
