//! One experiment's attribution rules: which click or open counts, for which
//! variant, into which bucket. The registry that routes events to experiments
//! is the engine.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use siphasher::sip128::SipHasher13;

use super::config::{AttributionConfig, AttributionConfigError, Mode};
use super::report::{ClickBucket, ClickBuckets, OutcomeAccounts, OutcomeBucket};
use super::table::{Density, Flag, KeyTable, Rec, VARIANT_SLOTS};
use super::tag::parse_tag;
use crate::pii::CleanEvent;
use crate::snapshot::is_zero;
use crate::vocab::{ExperimentId, Guardrail, Reward, Update, VariantId};

/// An event outside the watermark's bounds (see `Experiment::arrival`).
enum Arrival {
    /// Further ahead than the allowed clock skew.
    Future,
    /// Further behind than the allowed lateness.
    Late,
}

/// The most variants attribution tracks for one experiment (distinct variant
/// ids seen; they are stored as 10-bit indices, far above the optimiser's
/// 250 variants per experiment).
pub const MAX_TRACKED_VARIANTS: usize = VARIANT_SLOTS;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VariantStats {
    pub(crate) exposures: u64,
    pub(crate) clicks: u64,
    pub(crate) unique_opens: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) machine_opens: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) conversions: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) unsubscribes: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) spam_complaints: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) hard_bounces: u64,
}

impl VariantStats {
    pub(crate) fn all(&self) -> [u64; 8] {
        [
            self.exposures,
            self.clicks,
            self.unique_opens,
            self.machine_opens,
            self.conversions,
            self.unsubscribes,
            self.spam_complaints,
            self.hard_bounces,
        ]
    }

    pub(crate) fn merge(&mut self, o: &VariantStats) {
        self.exposures = self.exposures.saturating_add(o.exposures);
        self.clicks = self.clicks.saturating_add(o.clicks);
        self.unique_opens = self.unique_opens.saturating_add(o.unique_opens);
        self.machine_opens = self.machine_opens.saturating_add(o.machine_opens);
        self.conversions = self.conversions.saturating_add(o.conversions);
        self.unsubscribes = self.unsubscribes.saturating_add(o.unsubscribes);
        self.spam_complaints = self.spam_complaints.saturating_add(o.spam_complaints);
        self.hard_bounces = self.hard_bounces.saturating_add(o.hard_bounces);
    }
}

/// What kind of outcome event is being attributed through the exposure join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutcomeEvent {
    /// An open, human or machine.
    Open {
        /// A machine open.
        machine: bool,
    },
    /// A conversion, with its behaviour index when the event has one.
    Conversion {
        /// `conversion_behavior_index`.
        behavior_index: Option<i64>,
    },
    /// A guardrail event.
    Guardrail(Guardrail),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counters {
    pub(crate) clicks: ClickBuckets,
    pub(crate) exposures: u64,
    pub(crate) repeat_exposures: u64,
    pub(crate) opens: u64,
    pub(crate) machine_opens: u64,
    #[serde(default, skip_serializing_if = "OutcomeAccounts::is_empty")]
    pub(crate) outcomes: OutcomeAccounts,
}

impl Counters {
    pub(super) fn merge(&mut self, o: &Counters) {
        self.clicks.merge(&o.clicks);
        self.exposures = self.exposures.saturating_add(o.exposures);
        self.repeat_exposures = self.repeat_exposures.saturating_add(o.repeat_exposures);
        self.opens = self.opens.saturating_add(o.opens);
        self.machine_opens = self.machine_opens.saturating_add(o.machine_opens);
        self.outcomes.merge(&o.outcomes);
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Experiment {
    pub(crate) id: ExperimentId,
    pub(crate) config: AttributionConfig,
    window: i64,
    conversion_window: i64,
    pub(super) lateness: i64,
    skew: i64,
    min_delay: Option<i64>,
    scanners: Vec<Vec<u8>>,
    pub(crate) variants: Vec<VariantId>,
    pub(crate) stats: Vec<VariantStats>,
    pub(crate) counters: Counters,
    /// Recorded exposures: key = recipient key, time = first exposure.
    pub(crate) exposures: KeyTable,
    /// URL-tag mode unique clickers: key = recipient key, time = exposure time
    /// when known, else the first click's time.
    pub(crate) clickers: KeyTable,
    /// Seen click event ids: key = SipHash-1-3 128 of the id, time = click time.
    pub(crate) seen: KeyTable,
}

pub(super) fn store_secs(t: i64) -> u32 {
    u32::try_from(t.clamp(0, i64::from(u32::MAX))).unwrap_or(u32::MAX)
}

pub(super) fn to_time(s: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(s), 0).unwrap_or(DateTime::UNIX_EPOCH)
}

pub(super) fn id_key(id: &str) -> [u8; 16] {
    SipHasher13::new_with_keys(0x646f_7074_6964_6b31, 0x6374_7265_6e74_7331)
        .hash(id.as_bytes())
        .as_bytes()
}

pub(super) fn live(time: u32, horizon: i64, watermark: Option<i64>) -> bool {
    watermark.is_none_or(|w| i64::from(time).saturating_add(horizon) >= w)
}

pub(super) fn contains_ascii_ci(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

impl Experiment {
    pub(super) fn new(
        id: ExperimentId,
        config: AttributionConfig,
        presize: bool,
    ) -> Result<Experiment, AttributionConfigError> {
        config.validate()?;
        let window = config.window.num_seconds();
        let conversion_window = config.effective_conversion_window().num_seconds();
        let lateness = config.allowed_lateness.num_seconds();
        let skew = config.max_clock_skew.num_seconds();
        let min_delay = config.bot_rules.min_click_delay.map(|d| d.num_seconds());
        let scanners = config
            .bot_rules
            .scanner_user_agents
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect();
        Ok(Experiment {
            id,
            exposures: KeyTable::with_capacity(
                if presize {
                    config.expected_exposures
                } else {
                    0
                },
                Density::Compact,
            ),
            config,
            window,
            conversion_window,
            lateness,
            skew,
            min_delay,
            scanners,
            variants: Vec::new(),
            stats: Vec::new(),
            counters: Counters::default(),
            clickers: KeyTable::new(Density::Fast),
            seen: KeyTable::new(Density::Fast),
        })
    }

    /// How long an exposure is kept: the longer window plus the lateness.
    pub(super) fn horizon(&self) -> i64 {
        self.window.max(self.conversion_window) + self.lateness
    }

    pub(crate) fn variant_index(&mut self, v: VariantId) -> Option<u32> {
        if let Some(i) = self.variants.iter().position(|x| *x == v) {
            return u32::try_from(i).ok();
        }
        if self.variants.len() >= MAX_TRACKED_VARIANTS {
            return None;
        }
        self.variants.push(v);
        self.stats.push(VariantStats::default());
        u32::try_from(self.variants.len() - 1).ok()
    }

    pub(super) fn known_variant(&self, v: VariantId) -> Option<u32> {
        self.variants
            .iter()
            .position(|x| *x == v)
            .and_then(|i| u32::try_from(i).ok())
    }

    pub(super) fn is_bot(&self, ev: &CleanEvent) -> bool {
        if ev.is_suspected_bot_click == Some(true) {
            return true;
        }
        let rules = &self.config.bot_rules;
        if rules.reason_without_flag
            && ev.is_suspected_bot_click.is_none()
            && ev
                .suspected_bot_click_reason
                .as_ref()
                .is_some_and(|r| !r.is_empty())
        {
            return true;
        }
        if let Some(ua) = ev.user_agent.as_deref()
            && self
                .scanners
                .iter()
                .any(|s| contains_ascii_ci(ua.as_bytes(), s))
        {
            return true;
        }
        false
    }

    /// Whether an event at `c` (UNIX seconds) is further ahead of the
    /// watermark than the allowed skew, or further behind it than the
    /// allowed lateness: the same rule for clicks and every other outcome.
    fn arrival(&self, c: i64, watermark: Option<i64>) -> Option<Arrival> {
        let w = watermark?;
        if c > w.saturating_add(self.skew) {
            Some(Arrival::Future)
        } else if c < w.saturating_sub(self.lateness) {
            Some(Arrival::Late)
        } else {
            None
        }
    }

    pub(super) fn click(
        &mut self,
        ev: &CleanEvent,
        watermark: Option<i64>,
        pending: &mut VecDeque<Update>,
    ) -> ClickBucket {
        let c = ev.time.timestamp();
        match self.arrival(c, watermark) {
            Some(Arrival::Future) => return ClickBucket::Future,
            Some(Arrival::Late) => return ClickBucket::Late,
            None => {}
        }
        let idk = id_key(&ev.id);
        let lateness = self.lateness;
        let seen = Rec::marker(idk, store_secs(c));
        match self.seen.get_or_insert(seen) {
            Some(r) if live(r.time(), lateness, watermark) => return ClickBucket::Duplicate,
            Some(mut r) => r.set_time(store_secs(c)),
            None => {}
        }
        if self.is_bot(ev) {
            return ClickBucket::Bot;
        }
        let horizon = self.horizon();
        let (window, min_delay) = (self.window, self.min_delay);
        // Decides bot-by-delay and lateness once the exposure time is known.
        let timing = |exposed_at: Option<i64>| -> Option<ClickBucket> {
            let t = exposed_at?;
            if c < t {
                return Some(ClickBucket::BeforeExposure);
            }
            if min_delay.is_some_and(|min| c.saturating_sub(t) < min) {
                return Some(ClickBucket::Bot);
            }
            (c.saturating_sub(t) > window).then_some(ClickBucket::Late)
        };
        let (vidx, exposed_at): (u32, Option<i64>) = match &self.config.mode {
            Mode::ExposureJoin => {
                let Some(mut r) = ev.recipient_key.and_then(|k| self.exposures.get_mut(&k.0))
                else {
                    return ClickBucket::Unattributable;
                };
                if !live(r.time(), horizon, watermark) {
                    return ClickBucket::Unattributable;
                }
                let t = i64::from(r.time());
                if let Some(b) = timing(Some(t)) {
                    return b;
                }
                if r.clicked() {
                    return ClickBucket::Duplicate;
                }
                r.mark_clicked();
                (r.variant(), Some(t))
            }
            Mode::UrlTag { param } => {
                let Some(url) = ev.url.as_deref() else {
                    return ClickBucket::Unattributable;
                };
                let Ok(tag) = parse_tag(url, param) else {
                    return ClickBucket::Unattributable;
                };
                let Some(vidx) = self.known_variant(tag.variant) else {
                    return ClickBucket::Unattributable;
                };
                let t = tag.served_at.or(ev.send_time).map(|t| t.timestamp());
                if let Some(b) = timing(t) {
                    return b;
                }
                // Without a recipient key, unique clickers are unique event ids,
                // which the seen-id check above already guarantees.
                if let Some(key) = ev.recipient_key {
                    let time = store_secs(t.unwrap_or(c));
                    let rec = Rec::clicker(key.0, vidx, time);
                    match self.clickers.get_or_insert(rec) {
                        Some(r) if live(r.time(), horizon, watermark) => {
                            return ClickBucket::Duplicate;
                        }
                        Some(mut r) => r.overwrite(rec),
                        None => {}
                    }
                }
                (vidx, t)
            }
        };
        let vi = vidx as usize;
        if let (Some(stats), Some(variant)) = (self.stats.get_mut(vi), self.variants.get(vi)) {
            stats.clicks += 1;
            pending.push_back(Update::Click {
                experiment: self.id.clone(),
                variant: *variant,
                exposed_at: exposed_at.and_then(|t| DateTime::from_timestamp(t, 0)),
                clicked_at: ev.time,
            });
        }
        ClickBucket::Attributed
    }

    /// Attributes an open, conversion or guardrail event through the
    /// exposure join (see [`OutcomeBucket`] for the order of the checks).
    /// Opens also keep their per-event counters.
    pub(super) fn outcome(
        &mut self,
        ev: &CleanEvent,
        kind: OutcomeEvent,
        watermark: Option<i64>,
        pending: &mut VecDeque<Update>,
    ) -> OutcomeBucket {
        let b = self.judge_outcome(ev, kind, watermark, pending);
        let accounts = &mut self.counters.outcomes;
        match kind {
            OutcomeEvent::Open { machine } => {
                if machine {
                    self.counters.machine_opens += 1;
                } else {
                    self.counters.opens += 1;
                }
                accounts.opens.add(b);
            }
            OutcomeEvent::Conversion { .. } => accounts.conversions.add(b),
            OutcomeEvent::Guardrail(g) => accounts.guardrail_mut(g).add(b),
        }
        b
    }

    fn judge_outcome(
        &mut self,
        ev: &CleanEvent,
        kind: OutcomeEvent,
        watermark: Option<i64>,
        pending: &mut VecDeque<Update>,
    ) -> OutcomeBucket {
        let horizon = self.horizon();
        let (flag, window) = match kind {
            OutcomeEvent::Open { machine: true } => {
                // Counted apart, never a reward: mark the variant's unique
                // machine openers when the recipient is known.
                if let Some(mut r) = ev.recipient_key.and_then(|k| self.exposures.get_mut(&k.0))
                    && live(r.time(), horizon, watermark)
                    && !r.has(Flag::MachineOpened)
                {
                    r.mark(Flag::MachineOpened);
                    if let Some(s) = self.stats.get_mut(r.variant() as usize) {
                        s.machine_opens += 1;
                    }
                }
                return OutcomeBucket::Machine;
            }
            OutcomeEvent::Open { machine: false } => (Flag::Opened, self.window),
            OutcomeEvent::Conversion { behavior_index } => {
                if let Reward::Conversion {
                    behavior_index: Some(want),
                } = self.config.reward
                    && behavior_index != Some(i64::from(want))
                {
                    return OutcomeBucket::OtherBehavior;
                }
                (Flag::Converted, self.conversion_window)
            }
            OutcomeEvent::Guardrail(g) => (
                match g {
                    Guardrail::Unsubscribe => Flag::Unsubscribed,
                    Guardrail::SpamComplaint => Flag::Spam,
                    Guardrail::HardBounce => Flag::Bounced,
                },
                self.window,
            ),
        };
        let c = ev.time.timestamp();
        match self.arrival(c, watermark) {
            Some(Arrival::Future) => return OutcomeBucket::Future,
            Some(Arrival::Late) => return OutcomeBucket::Late,
            None => {}
        }
        let Some(mut r) = ev.recipient_key.and_then(|k| self.exposures.get_mut(&k.0)) else {
            return OutcomeBucket::Unattributable;
        };
        if !live(r.time(), horizon, watermark) {
            return OutcomeBucket::Unattributable;
        }
        let t = i64::from(r.time());
        if c < t {
            return OutcomeBucket::BeforeExposure;
        }
        if c.saturating_sub(t) > window {
            return OutcomeBucket::Late;
        }
        if r.has(flag) {
            return OutcomeBucket::Duplicate;
        }
        r.mark(flag);
        let vi = r.variant() as usize;
        let (Some(stats), Some(&variant)) = (self.stats.get_mut(vi), self.variants.get(vi)) else {
            return OutcomeBucket::Attributed;
        };
        let experiment = self.id.clone();
        let exposed_at = DateTime::from_timestamp(t, 0);
        let emit = match kind {
            OutcomeEvent::Open { .. } => {
                stats.unique_opens += 1;
                (self.config.reward == Reward::Open).then_some(Update::Open {
                    experiment,
                    variant,
                    exposed_at,
                    opened_at: ev.time,
                })
            }
            OutcomeEvent::Conversion { .. } => {
                stats.conversions += 1;
                matches!(self.config.reward, Reward::Conversion { .. }).then_some(
                    Update::Conversion {
                        experiment,
                        variant,
                        exposed_at,
                        converted_at: ev.time,
                    },
                )
            }
            OutcomeEvent::Guardrail(g) => {
                match g {
                    Guardrail::Unsubscribe => stats.unsubscribes += 1,
                    Guardrail::SpamComplaint => stats.spam_complaints += 1,
                    Guardrail::HardBounce => stats.hard_bounces += 1,
                }
                self.config
                    .guardrails
                    .contains(&g)
                    .then_some(Update::Guardrail {
                        experiment,
                        variant,
                        guardrail: g,
                        exposed_at,
                        at: ev.time,
                    })
            }
        };
        if let Some(u) = emit {
            pending.push_back(u);
        }
        OutcomeBucket::Attributed
    }
}
