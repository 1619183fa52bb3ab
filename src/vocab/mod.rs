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
mod text;

pub use key::{InvalidRecipientKey, RecipientKey};
pub use pii::Pii;
pub use text::Text;

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

/// What "better" means for an experiment: the Bernoulli outcome the optimiser
/// learns from, at most one per exposed recipient. The same value goes into
/// the attribution and the optimiser configuration of the experiment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Reward {
    /// The recipient's first click (the default).
    #[default]
    Click,
    /// The recipient's first human open: machine opens (Apple Mail Privacy
    /// Protection and the like) never count.
    Open,
    /// The recipient's first conversion.
    Conversion {
        /// The `conversion_behavior_index` that counts (`0` is the primary
        /// conversion event in Braze); `None` counts any.
        behavior_index: Option<u32>,
    },
}

impl Reward {
    /// Whether this is the click reward (the default).
    pub fn is_click(&self) -> bool {
        *self == Reward::Click
    }

    /// A short lowercase name: `click`, `open` or `conversion`.
    pub fn name(&self) -> &'static str {
        match self {
            Reward::Click => "click",
            Reward::Open => "open",
            Reward::Conversion { .. } => "conversion",
        }
    }
}

/// A metric that must not get worse: an outcome that hurts the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Guardrail {
    /// The recipient unsubscribed (`users.messages.email.Unsubscribe`).
    Unsubscribe,
    /// The recipient marked the email as spam (`users.messages.email.MarkAsSpam`).
    SpamComplaint,
    /// The email hard-bounced (`users.messages.email.Bounce`).
    HardBounce,
}

impl Guardrail {
    /// Every guardrail metric, in a fixed order.
    pub const ALL: [Guardrail; 3] = [
        Guardrail::Unsubscribe,
        Guardrail::SpamComplaint,
        Guardrail::HardBounce,
    ];

    /// A short lowercase name: `unsubscribe`, `spam_complaint` or `hard_bounce`.
    pub fn name(&self) -> &'static str {
        match self {
            Guardrail::Unsubscribe => "unsubscribe",
            Guardrail::SpamComplaint => "spam_complaint",
            Guardrail::HardBounce => "hard_bounce",
        }
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
    /// An exposed recipient opened for the first time, a human open (machine
    /// opens never make one). Emitted only for experiments whose reward is
    /// [`Reward::Open`].
    Open {
        /// The experiment.
        experiment: ExperimentId,
        /// The variant the recipient was shown.
        variant: VariantId,
        /// When the recipient was exposed, when known.
        exposed_at: Option<DateTime<Utc>>,
        /// When the open happened.
        opened_at: DateTime<Utc>,
    },
    /// An exposed recipient converted for the first time (with the
    /// conversion behaviour that counts). Emitted only for experiments whose
    /// reward is [`Reward::Conversion`].
    Conversion {
        /// The experiment.
        experiment: ExperimentId,
        /// The variant the recipient was shown.
        variant: VariantId,
        /// When the recipient was exposed, when known.
        exposed_at: Option<DateTime<Utc>>,
        /// When the conversion happened.
        converted_at: DateTime<Utc>,
    },
    /// An exposed recipient triggered a guardrail metric for the first time
    /// (an unsubscribe, a spam complaint, a hard bounce). Emitted only for
    /// the guardrails the experiment's attribution configuration lists.
    Guardrail {
        /// The experiment.
        experiment: ExperimentId,
        /// The variant the recipient was shown.
        variant: VariantId,
        /// Which metric.
        guardrail: Guardrail,
        /// When the recipient was exposed, when known.
        exposed_at: Option<DateTime<Utc>>,
        /// When the event happened.
        at: DateTime<Utc>,
    },
}

impl Update {
    /// The experiment the update is for.
    pub fn experiment(&self) -> &ExperimentId {
        match self {
            Update::Exposure { experiment, .. }
            | Update::Click { experiment, .. }
            | Update::Open { experiment, .. }
            | Update::Conversion { experiment, .. }
            | Update::Guardrail { experiment, .. } => experiment,
        }
    }

    /// The variant the update is for.
    pub fn variant(&self) -> VariantId {
        match self {
            Update::Exposure { variant, .. }
            | Update::Click { variant, .. }
            | Update::Open { variant, .. }
            | Update::Conversion { variant, .. }
            | Update::Guardrail { variant, .. } => *variant,
        }
    }

    /// For a reward outcome (click, open, conversion): which reward kind it
    /// is (a conversion's behaviour index is not carried: attribution only
    /// emits the conversions that count), the exposure time and the outcome
    /// time.
    pub(crate) fn reward_outcome(
        &self,
    ) -> Option<(RewardKind, Option<DateTime<Utc>>, DateTime<Utc>)> {
        match self {
            Update::Click {
                exposed_at,
                clicked_at,
                ..
            } => Some((RewardKind::Click, *exposed_at, *clicked_at)),
            Update::Open {
                exposed_at,
                opened_at,
                ..
            } => Some((RewardKind::Open, *exposed_at, *opened_at)),
            Update::Conversion {
                exposed_at,
                converted_at,
                ..
            } => Some((RewardKind::Conversion, *exposed_at, *converted_at)),
            Update::Exposure { .. } | Update::Guardrail { .. } => None,
        }
    }
}

/// A reward's kind without its settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RewardKind {
    Click,
    Open,
    Conversion,
}

impl Reward {
    pub(crate) fn kind(&self) -> RewardKind {
        match self {
            Reward::Click => RewardKind::Click,
            Reward::Open => RewardKind::Open,
            Reward::Conversion { .. } => RewardKind::Conversion,
        }
    }
}
