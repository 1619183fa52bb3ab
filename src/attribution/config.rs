//! Experiment configuration: scope, attribution mode, window, bot rules.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::tag::DEFAULT_TAG_PARAM;
use crate::snapshot::secs;
use crate::vocab::{Guardrail, Reward};

/// Which Currents events belong to an experiment.
///
/// A campaign experiment matches events whose `campaign_id` is equal (and,
/// when given, whose `message_variation_id` is equal); a Canvas experiment
/// matches events whose `canvas_step_id` is equal (and, when given, whose
/// `canvas_step_message_variation_id` is equal). Scopes of two experiments
/// must not overlap, so every event belongs to at most one experiment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Scope {
    /// A campaign (optionally one of its message variations).
    Campaign {
        /// The Braze `campaign_id`.
        campaign_id: String,
        /// The Braze `message_variation_id`, or `None` for every variation.
        message_variation_id: Option<String>,
    },
    /// A Canvas step (optionally one of its message variations).
    CanvasStep {
        /// The Braze `canvas_step_id`.
        canvas_step_id: String,
        /// The Braze `canvas_step_message_variation_id`, or `None` for every variation.
        message_variation_id: Option<String>,
    },
}

impl Scope {
    /// Every event of a campaign.
    pub fn campaign(campaign_id: impl Into<String>) -> Scope {
        Scope::Campaign {
            campaign_id: campaign_id.into(),
            message_variation_id: None,
        }
    }

    /// Every event of a Canvas step.
    pub fn canvas_step(canvas_step_id: impl Into<String>) -> Scope {
        Scope::CanvasStep {
            canvas_step_id: canvas_step_id.into(),
            message_variation_id: None,
        }
    }

    /// Narrows the scope to one message variation.
    pub fn with_variation(self, variation_id: impl Into<String>) -> Scope {
        let v = Some(variation_id.into());
        match self {
            Scope::Campaign { campaign_id, .. } => Scope::Campaign {
                campaign_id,
                message_variation_id: v,
            },
            Scope::CanvasStep { canvas_step_id, .. } => Scope::CanvasStep {
                canvas_step_id,
                message_variation_id: v,
            },
        }
    }

    pub(crate) fn parts(&self) -> (bool, &str, Option<&str>) {
        match self {
            Scope::Campaign {
                campaign_id,
                message_variation_id,
            } => (false, campaign_id, message_variation_id.as_deref()),
            Scope::CanvasStep {
                canvas_step_id,
                message_variation_id,
            } => (true, canvas_step_id, message_variation_id.as_deref()),
        }
    }
}

/// How a click is tied to the variant its recipient saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Mode {
    /// The clicked link carries the variant in a query parameter
    /// (`dov=<variant>` or `dov=<variant>.<serve seconds>`). Unique clickers are
    /// counted by `recipient_key` when the event has one, else by event id
    /// (then every distinct click counts). The variant must be known (seen in
    /// a recorded exposure); the exposure time is the tag's serve time, else
    /// the click's `send_time`. With neither, the window cannot be checked,
    /// and a recipient's unique-click state is kept for `window +
    /// allowed_lateness` after their first click, so a recipient who clicks
    /// again after that counts again: write the serve time into the tag.
    UrlTag {
        /// The parameter name (default `dov`).
        param: String,
    },
    /// Clicks are joined by `recipient_key` with the exposures the host recorded.
    ExposureJoin,
}

impl Mode {
    /// URL-tag mode with the default parameter name `dov`.
    pub fn url_tag() -> Mode {
        Mode::UrlTag {
            param: DEFAULT_TAG_PARAM.to_owned(),
        }
    }
}

/// Which clicks count as bots. `is_suspected_bot_click == true` is always a
/// bot, whatever these rules say; the rules add stricter checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BotRules {
    /// A click whose `is_suspected_bot_click` is null (bot filtering off in the
    /// workspace) but whose `suspected_bot_click_reason` is non-empty is a bot.
    pub reason_without_flag: bool,
    /// A click whose `user_agent` contains one of these (ASCII
    /// case-insensitive) is a bot. Only works when the host's PII policy lets
    /// `user_agent` through; empty disables the rule.
    pub scanner_user_agents: Vec<String>,
    /// A click less than this long after its exposure (known from the exposure
    /// join, the tag's serve time or `send_time`) is a bot (link scanners click
    /// within seconds). `None` disables the rule.
    #[serde(with = "secs::opt_i64")]
    pub min_click_delay: Option<TimeDelta>,
}

/// User-agent fragments of well-known link scanners and HTTP libraries.
pub const DEFAULT_SCANNER_USER_AGENTS: &[&str] = &[
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "forcepoint",
    "trendmicro",
    "safelinks",
    "bot",
    "spider",
    "crawler",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "curl/",
    "wget/",
    "okhttp",
    "java/",
    "libwww-perl",
];

impl BotRules {
    /// Only `is_suspected_bot_click == true` (the default).
    pub fn flag_only() -> BotRules {
        BotRules::default()
    }

    /// Every stricter rule: reason without flag, the default scanner user
    /// agents, and clicks within `min_click_delay` of the exposure.
    pub fn strict(min_click_delay: TimeDelta) -> BotRules {
        BotRules {
            reason_without_flag: true,
            scanner_user_agents: DEFAULT_SCANNER_USER_AGENTS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            min_click_delay: Some(min_click_delay),
        }
    }
}

/// One experiment's attribution settings.
///
/// ```
/// use chrono::TimeDelta;
/// use dynopt::attribution::{AttributionConfig, Mode, Scope};
///
/// let mut config = AttributionConfig::new(Scope::campaign("c-123"), Mode::ExposureJoin);
/// config.window = TimeDelta::days(3);
/// assert_eq!(config.allowed_lateness, TimeDelta::days(1));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttributionConfig {
    /// Which events belong to the experiment.
    pub scope: Scope,
    /// How clicks find their variant.
    pub mode: Mode,
    /// Attribution window: a click more than this long after its exposure is
    /// late (default 7 days).
    #[serde(with = "secs::i64")]
    pub window: TimeDelta,
    /// How long after it happened an event may still arrive and be applied
    /// (default 1 day). A click that arrives (by the host's `now`) more than
    /// this after its `time` is late. State is kept for `window +
    /// allowed_lateness` after an exposure, and for `allowed_lateness` after a
    /// click (duplicate detection).
    #[serde(with = "secs::i64")]
    pub allowed_lateness: TimeDelta,
    /// Which clicks are bots.
    pub bot_rules: BotRules,
    /// A capacity hint: exposures expected within one window (0: grow on
    /// demand), at most 2^26. Pre-sizing avoids reallocation while exposures are
    /// recorded.
    pub expected_exposures: usize,
    /// How far ahead of the host's `now` (the largest seen) a click's `time`
    /// may be (default 5 minutes): a click further ahead is refused
    /// ([`ClickBucket::Future`](super::ClickBucket::Future)), so a
    /// future-dated event never reaches the optimiser.
    #[serde(
        with = "secs::i64",
        default = "default_max_clock_skew",
        skip_serializing_if = "is_default_max_clock_skew"
    )]
    pub max_clock_skew: TimeDelta,
    /// What the optimiser learns from (default: the first click). With
    /// [`Reward::Open`] each exposed recipient's first human open queues an
    /// [`Update::Open`](crate::Update::Open); with [`Reward::Conversion`]
    /// the first conversion with the behaviour that counts queues an
    /// [`Update::Conversion`](crate::Update::Conversion). Clicks always
    /// queue [`Update::Click`](crate::Update::Click). Give the optimiser the
    /// same value.
    #[serde(default, skip_serializing_if = "Reward::is_click")]
    pub reward: Reward,
    /// The guardrail metrics whose first event per exposed recipient queues
    /// an [`Update::Guardrail`](crate::Update::Guardrail) (default none).
    /// Every guardrail event is counted in its buckets whatever this says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<Guardrail>,
    /// Conversion window: a conversion more than this long after its
    /// exposure is late (default `None`: the click `window`). Exposures are
    /// kept for the longer of the two windows plus `allowed_lateness`.
    #[serde(
        with = "secs::opt_i64",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub conversion_window: Option<TimeDelta>,
    /// How an open without `machine_open` (files written before Braze's 2022
    /// schema update) counts (default: as a human open, as those files
    /// predate most machine opens).
    #[serde(default, skip_serializing_if = "MissingMachineOpen::is_default")]
    pub missing_machine_open: MissingMachineOpen,
}

/// How an open whose `machine_open` field is absent counts. Present values
/// are read strictly: `"false"` (ASCII case-insensitive, surrounding spaces
/// ignored) is a human open; `"true"` and every other value, empty or future
/// ones included, is a machine open, so an unknown value cannot inflate the
/// reward.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MissingMachineOpen {
    /// A human open (the default): files without the field were written
    /// before the 2022 schema update, mostly before Apple Mail Privacy
    /// Protection.
    #[default]
    CountAsHuman,
    /// A machine open: never a reward. Choose it when old files hold opens
    /// from after September 2021 and open rates must not be inflated.
    CountAsMachine,
}

impl MissingMachineOpen {
    fn is_default(&self) -> bool {
        *self == MissingMachineOpen::default()
    }

    /// Whether an open with this `machine_open` value is a machine open.
    pub fn is_machine(self, machine_open: Option<&str>) -> bool {
        match machine_open {
            None => self == MissingMachineOpen::CountAsMachine,
            Some(v) => !v.trim().eq_ignore_ascii_case("false"),
        }
    }
}

fn default_max_clock_skew() -> TimeDelta {
    TimeDelta::minutes(5)
}

fn is_default_max_clock_skew(d: &TimeDelta) -> bool {
    *d == default_max_clock_skew()
}

impl AttributionConfig {
    /// Defaults: 7-day window, 1 day allowed lateness, flag-only bot rule.
    pub fn new(scope: Scope, mode: Mode) -> AttributionConfig {
        AttributionConfig {
            scope,
            mode,
            window: TimeDelta::days(7),
            allowed_lateness: TimeDelta::days(1),
            bot_rules: BotRules::default(),
            expected_exposures: 0,
            max_clock_skew: default_max_clock_skew(),
            reward: Reward::Click,
            guardrails: Vec::new(),
            conversion_window: None,
            missing_machine_open: MissingMachineOpen::CountAsHuman,
        }
    }

    /// The conversion window (`conversion_window`, else `window`).
    pub fn effective_conversion_window(&self) -> TimeDelta {
        self.conversion_window.unwrap_or(self.window)
    }

    /// Checks every setting; the error names the first bad one.
    /// [`Attribution::add_experiment`](super::Attribution::add_experiment) and
    /// [`Attribution::restore`](super::Attribution::restore) call it.
    /// Durations count in whole seconds (the fraction is dropped).
    pub fn validate(&self) -> Result<(), AttributionConfigError> {
        /// 100 years of 366 days, in seconds.
        const MAX_SECS: i64 = 100 * 366 * 86_400;
        if self.expected_exposures > MAX_EXPECTED_EXPOSURES {
            return Err(AttributionConfigError::ExpectedExposures);
        }
        let (_, scope_id, variation) = self.scope.parts();
        if scope_id.is_empty() || variation.is_some_and(str::is_empty) {
            return Err(AttributionConfigError::EmptyScopeId);
        }
        match &self.mode {
            Mode::UrlTag { param } if param.is_empty() => {
                return Err(AttributionConfigError::EmptyTagParam);
            }
            Mode::UrlTag { .. } | Mode::ExposureJoin => {}
        }
        if !(1..=MAX_SECS).contains(&self.window.num_seconds()) {
            return Err(AttributionConfigError::Window);
        }
        if !(0..=MAX_SECS).contains(&self.allowed_lateness.num_seconds()) {
            return Err(AttributionConfigError::AllowedLateness);
        }
        if self
            .bot_rules
            .min_click_delay
            .is_some_and(|d| !(0..=MAX_SECS).contains(&d.num_seconds()))
        {
            return Err(AttributionConfigError::MinClickDelay);
        }
        if !(0..=MAX_SECS).contains(&self.max_clock_skew.num_seconds()) {
            return Err(AttributionConfigError::MaxClockSkew);
        }
        if self
            .conversion_window
            .is_some_and(|d| !(1..=MAX_SECS).contains(&d.num_seconds()))
        {
            return Err(AttributionConfigError::ConversionWindow);
        }
        Ok(())
    }
}

/// Most exposures [`AttributionConfig::expected_exposures`] may announce: 2^26
/// (about 67 million, a table of about 2 GiB at 32 bytes per exposure). A hint is
/// allocated up front, so a larger one would ask for more memory than any host
/// should reserve on a guess; above this, let the table grow on demand.
const MAX_EXPECTED_EXPOSURES: usize = 1 << 26;

/// Which setting of an [`AttributionConfig`] is out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttributionConfigError {
    /// `expected_exposures` is above 2^26 (about 67 million).
    #[error("expected_exposures above 2^26")]
    ExpectedExposures,
    /// A scope id or message variation id is empty.
    #[error("empty scope id")]
    EmptyScopeId,
    /// The URL tag's parameter name is empty.
    #[error("empty tag parameter name")]
    EmptyTagParam,
    /// `window` is not 1 second to 100 years.
    #[error("window must be 1 s to 100 years")]
    Window,
    /// `allowed_lateness` is not 0 to 100 years.
    #[error("allowed_lateness must be 0 to 100 years")]
    AllowedLateness,
    /// `bot_rules.min_click_delay` is not 0 to 100 years.
    #[error("min_click_delay must be 0 to 100 years")]
    MinClickDelay,
    /// `max_clock_skew` is negative or above 100 years.
    #[error("max_clock_skew must be 0 to 100 years")]
    MaxClockSkew,
    /// `conversion_window` is not 1 second to 100 years.
    #[error("conversion_window must be 1 s to 100 years")]
    ConversionWindow,
}
