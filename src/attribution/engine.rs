//! The attribution state machine.

use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasherDefault;

use chrono::{DateTime, Utc};

use super::config::{AttributionConfig, AttributionConfigError};
use super::experiment::{
    Experiment, MAX_TRACKED_VARIANTS, OutcomeEvent, live, store_secs, to_time,
};
use super::report::{
    Accounting, ClickBucket, ClickBuckets, ExperimentReport, OutcomeAccounts, OutcomeBucket,
    VariantCounts,
};
use super::table::Rec;
use crate::currents::EventType;
use crate::pii::CleanEvent;
use crate::vocab::RecipientKey;
use crate::vocab::{ExperimentId, Guardrail, Update, VariantId};

/// A configuration mistake in [`Attribution::add_experiment`] (API misuse,
/// never caused by event data).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddExperimentError {
    /// An experiment with this id already exists.
    #[error("experiment {0} already exists")]
    DuplicateExperiment(ExperimentId),
    /// The scope overlaps an existing experiment's: an event could belong to
    /// both. Narrow one of them to a message variation, or combine them.
    #[error("the scope of experiment {new} overlaps that of experiment {existing}")]
    OverlappingScope {
        /// The experiment being added.
        new: ExperimentId,
        /// The experiment it overlaps.
        existing: ExperimentId,
    },
    /// A setting is out of range ([`AttributionConfig::validate`]).
    #[error("invalid experiment configuration: {0}")]
    Invalid(#[from] AttributionConfigError),
}

/// Why [`Attribution::record_exposure`] refused an exposure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExposureError {
    /// No experiment with this id was added.
    #[error("unknown experiment {0}")]
    UnknownExperiment(ExperimentId),
    /// The experiment has already seen [`MAX_TRACKED_VARIANTS`] distinct variant ids.
    #[error("experiment {0} has too many variants")]
    TooManyVariants(ExperimentId),
}

/// Why [`Attribution::merge`] refused; `self` is left unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// The two states do not have the same experiments with the same configurations.
    #[error("experiment {0} is missing from one side or configured differently")]
    ExperimentMismatch(ExperimentId),
    /// Together the two states have seen more than [`MAX_TRACKED_VARIANTS`] variants.
    #[error("experiment {0} would have too many variants")]
    TooManyVariants(ExperimentId),
}

/// What [`Attribution::record_exposure`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exposure {
    /// A new exposure: counted, and an [`Update::Exposure`] queued.
    New,
    /// The recipient was already exposed within the window (a re-render):
    /// counted once, nothing queued. Holds the variant first recorded.
    Repeat(VariantId),
}

/// What [`Attribution::handle_event`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handled {
    /// A click, and the bucket it landed in.
    Click(ClickBucket),
    /// An open, human or machine; its bucket is in the report's
    /// [`OutcomeAccounts::opens`].
    Open {
        /// A machine open: `machine_open` is not `"false"` (or it is
        /// absent and the experiment counts those as machine opens).
        machine: bool,
    },
    /// A guardrail event (unsubscribe, spam complaint, hard bounce) and the
    /// bucket it landed in.
    Guardrail(Guardrail, OutcomeBucket),
    /// A conversion event (campaign, Canvas or Canvas experiment step) and
    /// the bucket it landed in.
    Conversion(OutcomeBucket),
    /// Any other event type: counted per type.
    Counted(EventType),
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Global {
    pub(crate) clicks: ClickBuckets,
    pub(crate) opens: u64,
    pub(crate) machine_opens: u64,
    pub(crate) events: BTreeMap<EventType, u64>,
    pub(crate) outcomes: OutcomeAccounts,
}

/// Attribution state: experiments, tracked exposures, dedup state, counters
/// and the queue of [`Update`]s for the optimiser.
///
/// Deterministic and sans-IO: it never reads a clock; every time-dependent
/// method takes the host's `now`. Methods come in four kinds:
/// - commands: [`add_experiment`](Self::add_experiment), [`record_exposure`](Self::record_exposure), [`expire`](Self::expire), [`merge`](Self::merge);
/// - inputs: [`handle_event`](Self::handle_event), [`handle_events`](Self::handle_events);
/// - outputs: [`poll_update`](Self::poll_update), [`drain_updates`](Self::drain_updates): after every command or input, drain them into the optimiser;
/// - getters: [`report`](Self::report), [`snapshot`](Self::snapshot), [`memory_bytes`](Self::memory_bytes).
///
/// # Time
/// `now` is the host's wall clock when it hands over an exposure or an event.
/// Attribution keeps a watermark, the largest `now` seen; expiry and the
/// "arrived too late" rule use the watermark, so when `now` goes backwards
/// nothing is expired early or brought back, and an exposure recorded with an
/// earlier `now` simply carries that earlier time. Event times (`time`,
/// `send_time`, the tag's serve time) are the event's own and may come in any
/// order. Times are kept with second precision.
///
/// # Expiry and memory
/// An exposure (and a URL-tag unique clicker) is kept for `window +
/// allowed_lateness` after its time, a click's event id for
/// `allowed_lateness` after the click. Entries past that are treated as gone
/// whether or not [`expire`](Self::expire) has run yet (so results do not
/// depend on when the host calls it); `expire` frees their memory. Call it
/// every batch or few minutes. Consequently a click more than `window +
/// allowed_lateness` after its exposure is unattributable, and a re-render
/// after that long counts as a new exposure.
///
/// # Example: the host loop
/// ```
/// use chrono::{DateTime, TimeDelta};
/// use dynopt::attribution::{Attribution, AttributionConfig, ClickBucket, Handled, Mode, Scope};
/// use dynopt::currents::EventType;
/// use dynopt::pii::{CleanEvent, RecipientKey};
/// use dynopt::{ExperimentId, Update, VariantId};
///
/// let t0 = DateTime::from_timestamp(1_700_000_000, 0).expect("in range");
/// let mut attribution = Attribution::new();
/// let exp = ExperimentId::new("subject-test");
/// attribution
///     .add_experiment(exp.clone(), AttributionConfig::new(Scope::campaign("c1"), Mode::ExposureJoin))
///     .expect("a fresh experiment");
///
/// // Connected Content call: the optimiser assigned variant 2 to this recipient.
/// let alice = RecipientKey([7; 16]);
/// attribution.record_exposure(&exp, alice, VariantId(2), t0).expect("known experiment");
///
/// // An hour later a Currents file brings her click (twice: at-least-once delivery).
/// let mut click = CleanEvent::new(EventType::Click, "event-1", t0 + TimeDelta::minutes(30));
/// click.campaign_id = Some("c1".into());
/// click.recipient_key = Some(alice);
/// let now = t0 + TimeDelta::hours(1);
/// assert_eq!(attribution.handle_event(&click, now), Handled::Click(ClickBucket::Attributed));
/// assert_eq!(attribution.handle_event(&click, now), Handled::Click(ClickBucket::Duplicate));
///
/// // Feed the optimiser.
/// let mut updates = Vec::new();
/// attribution.drain_updates(&mut updates);
/// assert!(matches!(updates[0], Update::Exposure { variant: VariantId(2), .. }));
/// assert!(matches!(updates[1], Update::Click { variant: VariantId(2), exposed_at: Some(_), .. }));
/// assert_eq!(updates.len(), 2);
///
/// // Free expired state now and then; store a snapshot wherever the host likes.
/// attribution.expire(now);
/// let report = attribution.report();
/// assert_eq!(report.clicks.attributed, 1);
/// assert_eq!(report.clicks.duplicate, 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Attribution {
    pub(crate) experiments: Vec<Experiment>,
    by_id: HashMap<ExperimentId, usize>,
    by_campaign: HashMap<String, Vec<(Option<String>, usize)>>,
    by_step: HashMap<String, Vec<(Option<String>, usize)>>,
    pub(crate) watermark: Option<i64>,
    pub(crate) global: Global,
    pub(crate) pending: VecDeque<Update>,
}

/// Fixed-key SipHash-1-3: lookups only (never iterated), keys configured by
/// the host; no per-process random state, so nothing depends on the OS RNG.
type HashMap<K, V> =
    std::collections::HashMap<K, V, BuildHasherDefault<siphasher::sip::SipHasher13>>;

impl Attribution {
    /// An empty state with no experiments.
    pub fn new() -> Attribution {
        Attribution::default()
    }

    /// Adds an experiment. Its scope must not overlap another experiment's.
    /// Durations are truncated to whole seconds.
    pub fn add_experiment(
        &mut self,
        id: ExperimentId,
        config: AttributionConfig,
    ) -> Result<(), AddExperimentError> {
        self.add_experiment_inner(id, config, true)
    }

    /// `presize: false` when restoring (the tables are rebuilt from the
    /// snapshot, whose capacity hint is not trusted).
    pub(crate) fn add_experiment_inner(
        &mut self,
        id: ExperimentId,
        mut config: AttributionConfig,
        presize: bool,
    ) -> Result<(), AddExperimentError> {
        if self.by_id.contains_key(&id) {
            return Err(AddExperimentError::DuplicateExperiment(id));
        }
        let trunc = |d: chrono::TimeDelta| chrono::TimeDelta::seconds(d.num_seconds());
        config.window = trunc(config.window);
        config.allowed_lateness = trunc(config.allowed_lateness);
        config.bot_rules.min_click_delay = config.bot_rules.min_click_delay.map(trunc);
        config.max_clock_skew = trunc(config.max_clock_skew);
        let (canvas, scope_id, variation) = config.scope.parts();
        let map = if canvas {
            &self.by_step
        } else {
            &self.by_campaign
        };
        if let Some(list) = map.get(scope_id) {
            for (v, i) in list {
                if v.is_none() || variation.is_none() || v.as_deref() == variation {
                    return Err(AddExperimentError::OverlappingScope {
                        new: id,
                        existing: self.experiments[*i].id.clone(),
                    });
                }
            }
        }
        let (scope_id, variation) = (scope_id.to_owned(), variation.map(str::to_owned));
        let exp = Experiment::new(id.clone(), config, presize)?;
        let idx = self.experiments.len();
        let map = if canvas {
            &mut self.by_step
        } else {
            &mut self.by_campaign
        };
        map.entry(scope_id).or_default().push((variation, idx));
        self.experiments.push(exp);
        self.by_id.insert(id, idx);
        Ok(())
    }

    /// The experiments, in the order they were added.
    pub fn experiments(&self) -> impl Iterator<Item = (&ExperimentId, &AttributionConfig)> {
        self.experiments.iter().map(|e| (&e.id, &e.config))
    }

    fn advance(&mut self, now: DateTime<Utc>) {
        let n = now.timestamp();
        self.watermark = Some(self.watermark.map_or(n, |w| w.max(n)));
    }

    /// Records that `recipient` was served `variant` of `experiment` at `now`
    /// (call it when answering the Connected Content request).
    ///
    /// A recipient already exposed within `window + allowed_lateness` (Braze
    /// re-rendered the message) is counted once: the first exposure's variant
    /// and time stand. Variants are registered on first sight.
    pub fn record_exposure(
        &mut self,
        experiment: &ExperimentId,
        recipient: RecipientKey,
        variant: VariantId,
        now: DateTime<Utc>,
    ) -> Result<Exposure, ExposureError> {
        let Some(&ei) = self.by_id.get(experiment) else {
            return Err(ExposureError::UnknownExperiment(experiment.clone()));
        };
        self.advance(now);
        let watermark = self.watermark;
        let exp = &mut self.experiments[ei];
        let horizon = exp.horizon();
        let t = store_secs(now.timestamp());
        let stale = match exp.exposures.get(&recipient.0) {
            Some(r) if live(r.time, horizon, watermark) => {
                exp.counters.repeat_exposures += 1;
                let first = exp
                    .variants
                    .get(r.variant() as usize)
                    .copied()
                    .unwrap_or(variant);
                return Ok(Exposure::Repeat(first));
            }
            Some(_) => true,
            None => false,
        };
        let Some(vidx) = exp.variant_index(variant) else {
            return Err(ExposureError::TooManyVariants(experiment.clone()));
        };
        match exp.exposures.get_mut(&recipient.0) {
            // An expired exposure not yet freed: this is a new exposure.
            Some(mut r) if stale => r.overwrite(Rec::exposure(recipient.0, vidx, t)),
            Some(_) | None => exp
                .exposures
                .insert_new(Rec::exposure(recipient.0, vidx, t)),
        }
        exp.counters.exposures += 1;
        if let Some(s) = exp.stats.get_mut(vidx as usize) {
            s.exposures += 1;
        }
        self.pending.push_back(Update::Exposure {
            experiment: experiment.clone(),
            variant,
            at: to_time(t),
        });
        Ok(Exposure::New)
    }

    fn scope_of(&self, ev: &CleanEvent) -> Option<usize> {
        fn pick(list: &[(Option<String>, usize)], var: Option<&str>) -> Option<usize> {
            list.iter()
                .find(|(v, _)| v.is_none() || v.as_deref() == var)
                .map(|(_, i)| *i)
        }
        if let Some(list) = ev
            .canvas_step_id
            .as_deref()
            .and_then(|s| self.by_step.get(s))
            && let Some(i) = pick(list, ev.canvas_step_message_variation_id.as_deref())
        {
            return Some(i);
        }
        if let Some(list) = ev
            .campaign_id
            .as_deref()
            .and_then(|s| self.by_campaign.get(s))
        {
            return pick(list, ev.message_variation_id.as_deref());
        }
        None
    }

    /// Handles one clean Currents event received at `now`.
    ///
    /// A click lands in exactly one [`ClickBucket`], checked in order:
    /// outside any experiment's scope; future (its `time` is more than
    /// `max_clock_skew` ahead of `now`, the largest seen); late (it arrived
    /// more than `allowed_lateness` after its `time`); duplicate (its `id` was
    /// seen); bot (flag, reason or user-agent rules); unattributable (no
    /// variant); before exposure (its `time` precedes the exposure time);
    /// bot (clicked within `min_click_delay` of the exposure); late (more than
    /// `window` after its exposure); duplicate (the recipient's click already
    /// counted); attributed, which queues an [`Update::Click`]. The exposure
    /// time is the recorded exposure (join mode), else the tag's serve time,
    /// else the event's `send_time`; without any, the window cannot be checked.
    ///
    /// Opens (human or machine, see
    /// [`MissingMachineOpen`](super::MissingMachineOpen)), conversions and
    /// guardrail events (unsubscribes, spam complaints, hard bounces) are
    /// joined with the recipient's exposure and land in exactly one
    /// [`OutcomeBucket`]; the first of each kind per exposure counts for the
    /// variant and queues an update when the experiment uses it
    /// ([`Update::Open`], [`Update::Conversion`], [`Update::Guardrail`]).
    /// Other events are counted per type. Nothing is dropped silently.
    pub fn handle_event(&mut self, event: &CleanEvent, now: DateTime<Utc>) -> Handled {
        self.advance(now);
        let scope = self.scope_of(event);
        self.handle_scoped(event, scope)
    }

    /// Handles an event whose scope is known.
    fn handle_scoped(&mut self, event: &CleanEvent, scope: Option<usize>) -> Handled {
        *self.global.events.entry(event.event_type).or_insert(0) += 1;
        match event.event_type {
            EventType::Click => {
                let bucket = match scope {
                    None => ClickBucket::Outside,
                    Some(i) => {
                        let exp = &mut self.experiments[i];
                        let b = exp.click(event, self.watermark, &mut self.pending);
                        exp.counters.clicks.add(b);
                        b
                    }
                };
                self.global.clicks.add(bucket);
                Handled::Click(bucket)
            }
            EventType::Open => {
                // Outside any scope the default rule decides.
                let rule = scope
                    .map(|i| self.experiments[i].config.missing_machine_open)
                    .unwrap_or_default();
                let machine = rule.is_machine(event.machine_open.as_deref());
                if machine {
                    self.global.machine_opens += 1;
                } else {
                    self.global.opens += 1;
                }
                let b = self.outcome(event, scope, OutcomeEvent::Open { machine });
                self.global.outcomes.opens.add(b);
                Handled::Open { machine }
            }
            EventType::CampaignConversion
            | EventType::CanvasConversion
            | EventType::ExperimentStepConversion => {
                let kind = OutcomeEvent::Conversion {
                    behavior_index: event.conversion_behavior_index,
                };
                let b = self.outcome(event, scope, kind);
                self.global.outcomes.conversions.add(b);
                Handled::Conversion(b)
            }
            EventType::Unsubscribe => self.guardrail(event, scope, Guardrail::Unsubscribe),
            EventType::MarkAsSpam => self.guardrail(event, scope, Guardrail::SpamComplaint),
            EventType::Bounce => self.guardrail(event, scope, Guardrail::HardBounce),
            other => Handled::Counted(other),
        }
    }

    fn guardrail(&mut self, event: &CleanEvent, scope: Option<usize>, g: Guardrail) -> Handled {
        let b = self.outcome(event, scope, OutcomeEvent::Guardrail(g));
        self.global.outcomes.guardrail_mut(g).add(b);
        Handled::Guardrail(g, b)
    }

    /// Attributes an open, conversion or guardrail event in its scope.
    fn outcome(
        &mut self,
        event: &CleanEvent,
        scope: Option<usize>,
        kind: OutcomeEvent,
    ) -> OutcomeBucket {
        match scope {
            None => {
                if let OutcomeEvent::Open { machine: true } = kind {
                    OutcomeBucket::Machine
                } else {
                    OutcomeBucket::Outside
                }
            }
            Some(i) => self.experiments[i].outcome(event, kind, self.watermark, &mut self.pending),
        }
    }

    /// Handles a batch of events received at `now`, in order (the same as
    /// [`handle_event`](Self::handle_event) on each).
    pub fn handle_events<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a CleanEvent>,
        now: DateTime<Utc>,
    ) {
        self.advance(now);
        for e in events {
            let scope = self.scope_of(e);
            self.handle_scoped(e, scope);
        }
    }

    /// The next update for the optimiser, oldest first.
    #[must_use]
    pub fn poll_update(&mut self) -> Option<Update> {
        self.pending.pop_front()
    }

    /// Moves every queued update into `out` (appended, oldest first).
    pub fn drain_updates(&mut self, out: &mut Vec<Update>) {
        out.extend(self.pending.drain(..));
    }

    /// Advances the watermark to `now` and frees expired exposures, unique
    /// clickers and seen event ids. Returns how many entries were freed.
    /// Results never depend on when (or whether) this runs; memory does.
    pub fn expire(&mut self, now: DateTime<Utc>) -> usize {
        self.advance(now);
        let w = self.watermark;
        let mut freed = 0;
        for exp in &mut self.experiments {
            let (h, l) = (exp.horizon(), exp.lateness);
            freed += exp.exposures.retain(|r| live(r.time, h, w));
            freed += exp.clickers.retain(|r| live(r.time, h, w));
            freed += exp.seen.retain(|r| live(r.time, l, w));
        }
        freed
    }

    /// Heap bytes held by tracked exposures, unique clickers and seen event ids.
    pub fn memory_bytes(&self) -> usize {
        self.experiments
            .iter()
            .map(|e| e.exposures.heap_bytes() + e.clickers.heap_bytes() + e.seen.heap_bytes())
            .sum()
    }

    /// The variant and time of `recipient`'s live exposure in `experiment`
    /// as of `now` (what a re-render must show), if any.
    pub(crate) fn exposure_of(
        &self,
        experiment: &ExperimentId,
        recipient: &RecipientKey,
        now: DateTime<Utc>,
    ) -> Option<(VariantId, DateTime<Utc>)> {
        let exp = &self.experiments[*self.by_id.get(experiment)?];
        let watermark = Some(
            self.watermark
                .map_or(now.timestamp(), |w| w.max(now.timestamp())),
        );
        let r = exp.exposures.get(&recipient.0)?;
        if !live(r.time, exp.horizon(), watermark) {
            return None;
        }
        let v = exp.variants.get(r.variant() as usize).copied()?;
        Some((v, to_time(r.time)))
    }

    /// Exposures currently held, over all experiments.
    pub fn tracked_exposures(&self) -> usize {
        self.experiments.iter().map(|e| e.exposures.len()).sum()
    }

    /// The counts so far.
    pub fn report(&self) -> Accounting {
        let mut experiments = BTreeMap::new();
        for e in &self.experiments {
            let mut variants: Vec<VariantCounts> = e
                .variants
                .iter()
                .zip(&e.stats)
                .map(|(v, s)| VariantCounts {
                    variant: *v,
                    exposures: s.exposures,
                    clicks: s.clicks,
                    unique_opens: s.unique_opens,
                    machine_opens: s.machine_opens,
                    conversions: s.conversions,
                    unsubscribes: s.unsubscribes,
                    spam_complaints: s.spam_complaints,
                    hard_bounces: s.hard_bounces,
                })
                .collect();
            variants.sort_by_key(|v| v.variant);
            experiments.insert(
                e.id.clone(),
                ExperimentReport {
                    clicks: e.counters.clicks,
                    exposures: e.counters.exposures,
                    repeat_exposures: e.counters.repeat_exposures,
                    opens: e.counters.opens,
                    machine_opens: e.counters.machine_opens,
                    tracked_exposures: e.exposures.len() as u64,
                    outcomes: e.counters.outcomes,
                    variants,
                },
            );
        }
        Accounting {
            clicks: self.global.clicks,
            opens: self.global.opens,
            machine_opens: self.global.machine_opens,
            events: self.global.events.clone(),
            outcomes: self.global.outcomes,
            experiments,
        }
    }

    /// Merges the state of another shard into this one.
    ///
    /// Both must have the same experiments with the same configurations, and
    /// the shards must have been partitioned by recipient key (each recipient's
    /// exposures and events went to one shard), so that the merged state is
    /// the state one instance would have had: counters add up, tracked state
    /// is united, the watermark is the larger one and `other`'s queued updates
    /// are appended. On error `self` is unchanged.
    pub fn merge(&mut self, other: Attribution) -> Result<(), MergeError> {
        if other.experiments.len() != self.experiments.len() {
            let id = other
                .experiments
                .iter()
                .map(|e| &e.id)
                .chain(self.experiments.iter().map(|e| &e.id))
                .find(|id| !(self.by_id.contains_key(*id) && other.by_id.contains_key(*id)));
            return Err(MergeError::ExperimentMismatch(
                id.cloned().unwrap_or_else(|| ExperimentId::new("")),
            ));
        }
        for oe in &other.experiments {
            let Some(&i) = self.by_id.get(&oe.id) else {
                return Err(MergeError::ExperimentMismatch(oe.id.clone()));
            };
            let se = &self.experiments[i];
            if se.config != oe.config {
                return Err(MergeError::ExperimentMismatch(oe.id.clone()));
            }
            let extra = oe
                .variants
                .iter()
                .filter(|v| !se.variants.contains(v))
                .count();
            if se.variants.len() + extra > MAX_TRACKED_VARIANTS {
                return Err(MergeError::TooManyVariants(oe.id.clone()));
            }
        }
        for oe in other.experiments {
            // Checked above: every experiment of `other` is here, with room for its variants.
            let Some(&i) = self.by_id.get(&oe.id) else {
                continue;
            };
            let se = &mut self.experiments[i];
            let map: Vec<u32> = oe
                .variants
                .iter()
                .map(|v| se.variant_index(*v).unwrap_or(0))
                .collect();
            for (j, s) in oe.stats.iter().enumerate() {
                let Some(t) = map.get(j).and_then(|&m| se.stats.get_mut(m as usize)) else {
                    continue;
                };
                t.merge(s);
            }
            se.counters.merge(&oe.counters);
            let remap = |r: &Rec| -> Rec {
                let v = map.get(r.variant() as usize).copied().unwrap_or(0);
                r.with_variant(v)
            };
            for r in oe.exposures.iter().map(|r| remap(&r)) {
                match se.exposures.get_mut(&r.key) {
                    None => se.exposures.insert_new(r),
                    Some(mut x) => x.merge_exposure(&r),
                }
            }
            for r in oe.clickers.iter().map(|r| remap(&r)) {
                match se.clickers.get_mut(&r.key) {
                    None => se.clickers.insert_new(r),
                    Some(mut x) if r.time < x.time() => x.overwrite(r),
                    Some(_) => {}
                }
            }
            for r in oe.seen.iter() {
                match se.seen.get_mut(&r.key) {
                    None => se.seen.insert_new(r),
                    Some(mut x) => {
                        let t = x.time().max(r.time);
                        x.set_time(t);
                    }
                }
            }
        }
        self.global.clicks.merge(&other.global.clicks);
        let g = &mut self.global;
        g.opens = g.opens.saturating_add(other.global.opens);
        g.machine_opens = g.machine_opens.saturating_add(other.global.machine_opens);
        g.outcomes.merge(&other.global.outcomes);
        for (k, v) in other.global.events {
            let n = g.events.entry(k).or_insert(0);
            *n = n.saturating_add(v);
        }
        self.watermark = match (self.watermark, other.watermark) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.pending.extend(other.pending);
        Ok(())
    }
}
