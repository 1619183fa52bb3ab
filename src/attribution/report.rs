//! Accounting: where every click went, and per-variant outcomes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::currents::EventType;
use crate::vocab::{ExperimentId, VariantId};

/// The bucket a click record lands in. Every click record handed to
/// [`Attribution::handle_event`](super::Attribution::handle_event) lands in
/// exactly one, checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ClickBucket {
    /// The click matches no experiment's scope.
    Outside,
    /// The click arrived later than the experiment's `allowed_lateness` after
    /// it happened, or happened more than the window after its exposure.
    Late,
    /// The same Currents event `id` was seen before (redelivery), or the
    /// recipient's click was already counted (repeated clicks, several links,
    /// re-rendered emails).
    Duplicate,
    /// A suspected bot (flag, or the experiment's stricter bot rules).
    Bot,
    /// No variant can be found: no recipient key or no (live) exposure for it
    /// in exposure-join mode; no, malformed, conflicting or unknown variant
    /// tag in URL-tag mode.
    Unattributable,
    /// The click's `time` is more than the experiment's `max_clock_skew`
    /// ahead of the host's `now` (the largest seen): refused, so that a
    /// future-dated event never reaches the optimiser.
    Future,
    /// The click happened before its exposure (recorded exposure, tag serve
    /// time or `send_time`): not attributed.
    BeforeExposure,
    /// The first click of an exposed recipient: the reward.
    Attributed,
}

/// Click counts per bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClickBuckets {
    /// Rewards: first clicks of exposed recipients.
    pub attributed: u64,
    /// Redelivered events and repeated clicks.
    pub duplicate: u64,
    /// Suspected bots.
    pub bot: u64,
    /// Clicks whose variant cannot be found.
    pub unattributable: u64,
    /// Clicks outside the window or past the allowed lateness.
    pub late: u64,
    /// Clicks matching no experiment.
    pub outside: u64,
    /// Clicks dated more than `max_clock_skew` ahead of the host's `now`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub future: u64,
    /// Clicks dated before their exposure.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub before_exposure: u64,
}

/// Zero counts of buckets added later are left out of snapshots, so earlier
/// snapshots write back byte for byte.
fn is_zero(x: &u64) -> bool {
    *x == 0
}

impl ClickBuckets {
    /// All clicks counted.
    pub fn total(&self) -> u64 {
        [
            self.duplicate,
            self.bot,
            self.unattributable,
            self.late,
            self.outside,
            self.future,
            self.before_exposure,
        ]
        .into_iter()
        .fold(self.attributed, u64::saturating_add)
    }

    /// The count of one bucket.
    pub fn get(&self, bucket: ClickBucket) -> u64 {
        match bucket {
            ClickBucket::Attributed => self.attributed,
            ClickBucket::Duplicate => self.duplicate,
            ClickBucket::Bot => self.bot,
            ClickBucket::Unattributable => self.unattributable,
            ClickBucket::Late => self.late,
            ClickBucket::Outside => self.outside,
            ClickBucket::Future => self.future,
            ClickBucket::BeforeExposure => self.before_exposure,
        }
    }

    pub(crate) fn add(&mut self, bucket: ClickBucket) {
        match bucket {
            ClickBucket::Attributed => self.attributed += 1,
            ClickBucket::Duplicate => self.duplicate += 1,
            ClickBucket::Bot => self.bot += 1,
            ClickBucket::Unattributable => self.unattributable += 1,
            ClickBucket::Late => self.late += 1,
            ClickBucket::Outside => self.outside += 1,
            ClickBucket::Future => self.future += 1,
            ClickBucket::BeforeExposure => self.before_exposure += 1,
        }
    }

    pub(crate) fn merge(&mut self, o: &ClickBuckets) {
        self.attributed = self.attributed.saturating_add(o.attributed);
        self.duplicate = self.duplicate.saturating_add(o.duplicate);
        self.bot = self.bot.saturating_add(o.bot);
        self.unattributable = self.unattributable.saturating_add(o.unattributable);
        self.late = self.late.saturating_add(o.late);
        self.outside = self.outside.saturating_add(o.outside);
        self.future = self.future.saturating_add(o.future);
        self.before_exposure = self.before_exposure.saturating_add(o.before_exposure);
    }
}

/// One variant's outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VariantCounts {
    /// The variant.
    pub variant: VariantId,
    /// Unique exposed recipients (re-renders counted once).
    pub exposures: u64,
    /// Unique clickers (rewards).
    pub clicks: u64,
    /// Unique human openers among exposed recipients (secondary metric;
    /// needs recorded exposures and `recipient_key` on opens).
    pub unique_opens: u64,
}

/// One experiment's accounting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExperimentReport {
    /// Click buckets for the experiment's clicks (`outside` is always 0).
    pub clicks: ClickBuckets,
    /// Unique exposures recorded.
    pub exposures: u64,
    /// Repeated exposures of an already exposed recipient (re-renders), not counted.
    pub repeat_exposures: u64,
    /// Human open events in scope (every record, duplicates included).
    pub opens: u64,
    /// Machine open events in scope (`machine_open == "true"`); never a reward.
    pub machine_opens: u64,
    /// Exposures currently held in memory (they expire `window +
    /// allowed_lateness` after they were served).
    pub tracked_exposures: u64,
    /// Per variant, in ascending id order.
    pub variants: Vec<VariantCounts>,
}

/// Everything attribution has counted. Nothing is silently dropped: every
/// click is in exactly one bucket, every other event in `events`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Accounting {
    /// Every click record, by bucket (sum of the experiments' buckets plus `outside`).
    pub clicks: ClickBuckets,
    /// Human open events (every record).
    pub opens: u64,
    /// Machine open events (Apple Mail Privacy Protection and the like).
    pub machine_opens: u64,
    /// Every event record handled, per event type (clicks and opens included).
    pub events: BTreeMap<EventType, u64>,
    /// Per experiment.
    pub experiments: BTreeMap<ExperimentId, ExperimentReport>,
}
