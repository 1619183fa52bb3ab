//! Accounting: where every click went, and per-variant outcomes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::currents::EventType;
use crate::snapshot::is_zero;
use crate::vocab::{ExperimentId, Guardrail, VariantId};

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

/// The bucket an open, conversion or guardrail event (unsubscribe, spam
/// complaint, hard bounce) lands in. These events carry no URL: they are
/// joined with the recorded exposure by `recipient_key` within the
/// experiment's scope. Every such event lands in exactly one bucket,
/// checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OutcomeBucket {
    /// The event matches no experiment's scope.
    Outside,
    /// Opens only: a machine open (`machine_open` not `"false"`, or absent
    /// and counted as machine). Never a reward.
    Machine,
    /// Conversions only: another conversion behaviour than the one that counts.
    OtherBehavior,
    /// The event's `time` is more than `max_clock_skew` ahead of the host's `now`.
    Future,
    /// The event arrived more than `allowed_lateness` after its `time`, or
    /// happened more than the window (the conversion window for
    /// conversions) after its exposure.
    Late,
    /// No recipient key, or no live exposure of the recipient: an unknown
    /// recipient.
    Unattributable,
    /// The event happened before the recipient's exposure.
    BeforeExposure,
    /// The recipient's event of this kind was already counted (redelivery,
    /// repeated opens).
    Duplicate,
    /// The first event of this kind of an exposed recipient: counted for the
    /// variant.
    Attributed,
}

/// Event counts per [`OutcomeBucket`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutcomeBuckets {
    /// Counted for the recipient's variant.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attributed: u64,
    /// Already counted for the recipient.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicate: u64,
    /// Unknown recipient (no key or no live exposure).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unattributable: u64,
    /// Outside the window or past the allowed lateness.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub late: u64,
    /// Matching no experiment.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub outside: u64,
    /// Dated more than `max_clock_skew` ahead of the host's `now`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub future: u64,
    /// Dated before the exposure.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub before_exposure: u64,
    /// Machine opens (opens only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub machine: u64,
    /// Conversions with another behaviour (conversions only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub other_behavior: u64,
}

impl OutcomeBuckets {
    fn all(&self) -> [u64; 9] {
        [
            self.attributed,
            self.duplicate,
            self.unattributable,
            self.late,
            self.outside,
            self.future,
            self.before_exposure,
            self.machine,
            self.other_behavior,
        ]
    }

    /// All events counted.
    pub fn total(&self) -> u64 {
        self.all().into_iter().fold(0, u64::saturating_add)
    }

    /// The count of one bucket.
    pub fn get(&self, bucket: OutcomeBucket) -> u64 {
        match bucket {
            OutcomeBucket::Attributed => self.attributed,
            OutcomeBucket::Duplicate => self.duplicate,
            OutcomeBucket::Unattributable => self.unattributable,
            OutcomeBucket::Late => self.late,
            OutcomeBucket::Outside => self.outside,
            OutcomeBucket::Future => self.future,
            OutcomeBucket::BeforeExposure => self.before_exposure,
            OutcomeBucket::Machine => self.machine,
            OutcomeBucket::OtherBehavior => self.other_behavior,
        }
    }

    fn slot(&mut self, bucket: OutcomeBucket) -> &mut u64 {
        match bucket {
            OutcomeBucket::Attributed => &mut self.attributed,
            OutcomeBucket::Duplicate => &mut self.duplicate,
            OutcomeBucket::Unattributable => &mut self.unattributable,
            OutcomeBucket::Late => &mut self.late,
            OutcomeBucket::Outside => &mut self.outside,
            OutcomeBucket::Future => &mut self.future,
            OutcomeBucket::BeforeExposure => &mut self.before_exposure,
            OutcomeBucket::Machine => &mut self.machine,
            OutcomeBucket::OtherBehavior => &mut self.other_behavior,
        }
    }

    pub(crate) fn add(&mut self, bucket: OutcomeBucket) {
        let x = self.slot(bucket);
        *x = x.saturating_add(1);
    }

    pub(crate) fn merge(&mut self, o: &OutcomeBuckets) {
        for b in OutcomeBucket::ALL {
            let y = o.get(b);
            let x = self.slot(b);
            *x = x.saturating_add(y);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.all().iter().all(|&x| x == 0)
    }

    pub(crate) fn counts(&self) -> [u64; 9] {
        self.all()
    }
}

impl OutcomeBucket {
    const ALL: [OutcomeBucket; 9] = [
        OutcomeBucket::Attributed,
        OutcomeBucket::Duplicate,
        OutcomeBucket::Unattributable,
        OutcomeBucket::Late,
        OutcomeBucket::Outside,
        OutcomeBucket::Future,
        OutcomeBucket::BeforeExposure,
        OutcomeBucket::Machine,
        OutcomeBucket::OtherBehavior,
    ];
}

/// Where every open, conversion and guardrail event went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutcomeAccounts {
    /// Open events (human and machine).
    #[serde(default, skip_serializing_if = "OutcomeBuckets::is_empty")]
    pub opens: OutcomeBuckets,
    /// Conversion events.
    #[serde(default, skip_serializing_if = "OutcomeBuckets::is_empty")]
    pub conversions: OutcomeBuckets,
    /// Unsubscribe events.
    #[serde(default, skip_serializing_if = "OutcomeBuckets::is_empty")]
    pub unsubscribes: OutcomeBuckets,
    /// Spam complaints (`MarkAsSpam`).
    #[serde(default, skip_serializing_if = "OutcomeBuckets::is_empty")]
    pub spam_complaints: OutcomeBuckets,
    /// Hard bounces (`Bounce`).
    #[serde(default, skip_serializing_if = "OutcomeBuckets::is_empty")]
    pub hard_bounces: OutcomeBuckets,
}

impl OutcomeAccounts {
    /// The buckets of one guardrail metric.
    pub fn guardrail(&self, g: Guardrail) -> &OutcomeBuckets {
        match g {
            Guardrail::Unsubscribe => &self.unsubscribes,
            Guardrail::SpamComplaint => &self.spam_complaints,
            Guardrail::HardBounce => &self.hard_bounces,
        }
    }

    pub(crate) fn guardrail_mut(&mut self, g: Guardrail) -> &mut OutcomeBuckets {
        match g {
            Guardrail::Unsubscribe => &mut self.unsubscribes,
            Guardrail::SpamComplaint => &mut self.spam_complaints,
            Guardrail::HardBounce => &mut self.hard_bounces,
        }
    }

    pub(crate) fn merge(&mut self, o: &OutcomeAccounts) {
        self.opens.merge(&o.opens);
        self.conversions.merge(&o.conversions);
        self.unsubscribes.merge(&o.unsubscribes);
        self.spam_complaints.merge(&o.spam_complaints);
        self.hard_bounces.merge(&o.hard_bounces);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.all().iter().all(|b| b.is_empty())
    }

    pub(crate) fn all(&self) -> [&OutcomeBuckets; 5] {
        [
            &self.opens,
            &self.conversions,
            &self.unsubscribes,
            &self.spam_complaints,
            &self.hard_bounces,
        ]
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
    /// Unique human openers among exposed recipients (the reward of an
    /// open-reward experiment; needs recorded exposures and `recipient_key`
    /// on opens).
    pub unique_opens: u64,
    /// Unique machine openers among exposed recipients (never a reward).
    pub machine_opens: u64,
    /// Unique converters (with the conversion behaviour that counts).
    pub conversions: u64,
    /// Unique unsubscribers.
    pub unsubscribes: u64,
    /// Unique spam complainers.
    pub spam_complaints: u64,
    /// Unique hard-bounced recipients.
    pub hard_bounces: u64,
}

impl VariantCounts {
    /// The count of one guardrail metric.
    pub fn guardrail(&self, g: Guardrail) -> u64 {
        match g {
            Guardrail::Unsubscribe => self.unsubscribes,
            Guardrail::SpamComplaint => self.spam_complaints,
            Guardrail::HardBounce => self.hard_bounces,
        }
    }
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
    /// Where the experiment's opens, conversions and guardrail events went
    /// (`outside` is always 0).
    pub outcomes: OutcomeAccounts,
    /// Per variant, in ascending id order.
    pub variants: Vec<VariantCounts>,
}

/// Everything attribution has counted. Nothing is silently dropped: every
/// click is in exactly one click bucket, every open, conversion and guardrail
/// event in exactly one outcome bucket, and every event in `events`.
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
    /// Every open, conversion and guardrail event, by bucket (the sum of the
    /// experiments' buckets plus `outside`).
    pub outcomes: OutcomeAccounts,
    /// Per experiment.
    pub experiments: BTreeMap<ExperimentId, ExperimentReport>,
}
