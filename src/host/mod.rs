//! The host facade: one type that owns the optimiser and attribution of a
//! set of experiments, with one definition per experiment.
//!
//! - [`Host`]: `add_experiment`, `serve`, `ingest_file` / `ingest_events`,
//!   `apply` (exposures from replicas' journals), `recompute`, `report`,
//!   `publish`, `snapshot` / `restore` (one compact binary state), JSON for
//!   small states and debugging;
//! - [`ExperimentDef`] and [`VariantDef`]: an experiment's whole definition,
//!   with multi-part variants (subject, preheader, body fragment);
//! - [`Allocation`]: the immutable, versioned allocation serving replicas
//!   read without a lock;
//! - [`ExposureRecord`], [`JournalEntry`], [`Sequencer`], [`Journal`],
//!   [`decode_segment`], [`SegmentReader`]: the exposure journal.
//!
//! The lower-level [`Optimiser`] and [`Attribution`] stay public for hosts
//! that want them. See docs/design.md, *The host facade and its state*.
//!
//! # One campaign, several parts
//!
//! Attribution gives every click to exactly one experiment, so two
//! experiments on one campaign scope stay refused
//! ([`AddExperimentError::OverlappingScope`]).
//! To test subject and body together, make one experiment whose variants
//! have parts ([`VariantDef::part`]): each variant is one combination, and
//! the click is credited to the combination the recipient saw. Separate
//! experiments remain possible on separate message variations or Canvas steps.

mod allocation;
mod def;
mod journal;
mod state;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::Rng;

pub use allocation::Allocation;
pub use def::{ExperimentDef, VariantDef};
pub use journal::{
    ExposureRecord, Journal, JournalEntry, MAX_EXPERIMENT_ID, Segment, SegmentReader, Sequencer,
    decode_segment,
};
pub use state::STATE_FORMAT_VERSION;

use crate::attribution::{
    Accounting, AddExperimentError, Attribution, ClickBucket, Exposure, ExposureError, Handled, Tag,
};
use crate::currents::{DecodeError, DecodeOptions, ObjectKey};
use crate::optimiser::{MAX_ACTIVE_VARIANTS, Optimiser, OptimiserError, Report};
use crate::pii::{CleanEvent, Filter, FilterReport, Policy};
use crate::vocab::{ExperimentId, RecipientKey, VariantId};

/// Why a [`Host`] call was refused. Never echoes values beyond the ids the
/// host chose.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// No experiment with this id.
    #[error("unknown experiment {0}")]
    UnknownExperiment(ExperimentId),
    /// An experiment with this id already exists.
    #[error("experiment {0} already exists")]
    DuplicateExperiment(ExperimentId),
    /// The definition's assignment salt is 0: pick a host secret.
    #[error("experiment {0} has assignment salt 0")]
    ZeroSalt(ExperimentId),
    /// The definition has no variant, more than the optimiser serves at
    /// once, or a control index past its variants.
    #[error("experiment {0} has no variant, too many, or a control out of range")]
    Variants(ExperimentId),
    /// The experiment has no active variant to serve.
    #[error("experiment {0} has no active variant")]
    NoActiveVariant(ExperimentId),
    /// The attribution and optimiser configurations disagree: another reward,
    /// or a guardrail rule whose metric attribution does not emit (set both
    /// with [`ExperimentDef::with_reward`] and [`ExperimentDef::with_guardrail`]).
    #[error("experiment {0}: attribution and optimiser disagree on the reward or guardrails")]
    Inconsistent(ExperimentId),
    /// Attribution refused the experiment (overlapping scope, invalid settings).
    #[error(transparent)]
    Attribution(#[from] AddExperimentError),
    /// Attribution refused an exposure.
    #[error(transparent)]
    Exposure(#[from] ExposureError),
    /// The optimiser refused (invalid settings, unknown variant).
    #[error(transparent)]
    Optimiser(#[from] OptimiserError),
}

/// What [`Host::serve`] and [`Allocation::serve`] answer: the variant to
/// render, its label and parts, and the tag for its links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServedVariant<'a> {
    /// The variant.
    pub variant: VariantId,
    /// Its label.
    pub label: &'a str,
    /// Its named parts (empty for a one-part variant).
    pub parts: &'a BTreeMap<String, String>,
    /// The link tag (`dov=<tag>`): the variant and when it was first served.
    pub tag: Tag,
    /// A re-render: the variant recorded at the first render.
    pub repeat: bool,
    /// The allocation version the variant was assigned under.
    pub allocation_version: u64,
}

/// What [`Host::ingest_file`] and [`Host::ingest_events`] did.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct IngestReport {
    /// The file's key was already processed: nothing was done.
    pub already_processed: bool,
    /// Clean events handled.
    pub events: u64,
    /// Clicks attributed (rewards) among them.
    pub clicks_attributed: u64,
    /// Updates handed to the optimiser (exposures and clicks).
    pub updates: u64,
    /// What the PII filter dropped (files only).
    pub filter: Option<FilterReport>,
    /// The error that stopped decoding the file, if any. A file with an
    /// error is not remembered as processed, so a complete copy can be
    /// ingested again (redelivered click ids are recognised as duplicates).
    pub error: Option<DecodeError>,
}

/// What [`Host::apply`] did with a journal entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// Recorded as a new exposure.
    New,
    /// The recipient was already exposed: counted as a re-render.
    Repeat,
    /// Its sequence number was already applied for its replica: skipped.
    Skipped,
}

/// What [`Host::report`] gives: the optimiser's report per experiment and
/// attribution's accounting.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct HostReport {
    /// Per experiment: posteriors, shares, probability of being best, uplift.
    pub experiments: BTreeMap<ExperimentId, Report>,
    /// Where every click went, and per-variant outcomes.
    pub accounting: Accounting,
}

/// The host facade: the optimiser and attribution of a set of experiments,
/// the set of Currents files processed, the journal sequence numbers
/// applied and the allocation version.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use dynopt::attribution::{Mode, Scope};
/// use dynopt::host::{ExperimentDef, Host};
/// use dynopt::{rand::SeedableRng, ExperimentId, RecipientKey};
///
/// let mut host = Host::new();
/// host.add_experiment(
///     ExperimentDef::new("subject", Scope::campaign("cmp-1"), Mode::ExposureJoin, 0x5eed)
///         .variant("Spring is here")
///         .variant("20% off ends Sunday"),
/// )?;
/// let id = ExperimentId::new("subject");
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap();
/// let (served, entry) = host.serve(&id, RecipientKey([1; 16]), t0)?;
/// let (variant, label) = (served.variant, served.label.to_owned());
/// let mut journal = Vec::new(); // the host's durable log
/// entry.encode(&mut journal);
/// // A re-render gets the same answer.
/// let (again, _) = host.serve(&id, RecipientKey([1; 16]), t0 + Duration::minutes(1))?;
/// assert_eq!((again.variant, again.label, again.repeat), (variant, label.as_str(), true));
/// let mut rng = dynopt::rand::rngs::StdRng::seed_from_u64(7);
/// host.recompute(t0 + Duration::minutes(5), &mut rng);
/// let restored = Host::restore(&host.snapshot())?;
/// let seeded = || dynopt::rand::rngs::StdRng::seed_from_u64(1);
/// assert_eq!(restored.report(t0, &mut seeded()), host.report(t0, &mut seeded()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Host {
    defs: BTreeMap<ExperimentId, ExperimentDef>,
    optimiser: Optimiser,
    attribution: Attribution,
    /// Processed Currents files and the time each is forgotten after
    /// (queue hour, else the ingest time; UNIX seconds).
    processed: BTreeMap<ObjectKey, i64>,
    /// Per replica, the last journal sequence number applied.
    applied: BTreeMap<u32, u64>,
    /// This host's own replica id (its [`serve`](Self::serve) entries).
    replica: u32,
    allocation_version: u64,
    /// The shares of every experiment at each of the last
    /// [`MAX_VERSIONS`] allocation versions (the exposures' propensities).
    versions: BTreeMap<u64, Shares>,
    filter: Filter,
    decode: DecodeOptions,
}

/// Per experiment, the active variants' shares.
pub(crate) type Shares = BTreeMap<ExperimentId, Vec<(VariantId, f64)>>;

/// How many allocation versions' shares a host keeps (about two weeks of
/// recomputes every five minutes).
pub const MAX_VERSIONS: usize = 4096;

impl Default for Host {
    fn default() -> Self {
        Host::new()
    }
}

impl Host {
    /// A host with no experiments, replica id 0, the default PII policy
    /// (no pseudonymizer: events need a recipient key of a sanitized file)
    /// and default decode options.
    pub fn new() -> Host {
        Host {
            defs: BTreeMap::new(),
            optimiser: Optimiser::new(),
            attribution: Attribution::new(),
            processed: BTreeMap::new(),
            applied: BTreeMap::new(),
            replica: 0,
            allocation_version: 1,
            versions: BTreeMap::new(),
            filter: Filter::new(Policy::new()),
            decode: DecodeOptions::default(),
        }
    }

    /// Uses `filter` to clean Currents files (configuration, not state:
    /// give it again after [`restore`](Self::restore)).
    pub fn with_filter(mut self, filter: Filter) -> Host {
        self.filter = filter;
        self
    }

    /// Uses `options` to decode Currents files.
    pub fn with_decode_options(mut self, options: DecodeOptions) -> Host {
        self.decode = options;
        self
    }

    /// Sets this host's replica id: the `replica` of the journal entries its
    /// own [`serve`](Self::serve) returns.
    pub fn with_replica(mut self, replica: u32) -> Host {
        self.replica = replica;
        self
    }

    /// Adds an experiment. Nothing changes on error.
    pub fn add_experiment(&mut self, def: ExperimentDef) -> Result<(), HostError> {
        let id = def.id.clone();
        if self.defs.contains_key(&id) || self.optimiser.experiment(&id).is_some() {
            return Err(HostError::DuplicateExperiment(id));
        }
        if def.optimiser.salt == 0 {
            return Err(HostError::ZeroSalt(id));
        }
        if def.variants.is_empty()
            || def.variants.len() > MAX_ACTIVE_VARIANTS
            || def.control.is_some_and(|c| c >= def.variants.len())
        {
            return Err(HostError::Variants(id));
        }
        def.optimiser.validate().map_err(OptimiserError::from)?;
        if !def.consistent() {
            return Err(HostError::Inconsistent(id));
        }
        self.attribution
            .add_experiment(id.clone(), def.attribution.clone())?;
        // Validated above: adding to the optimiser cannot fail now.
        let exp = self
            .optimiser
            .add_experiment(id.clone(), def.optimiser.clone())?;
        for v in &def.variants {
            exp.add_variant(v.label.clone())?;
        }
        if let Some(c) = def.control {
            exp.set_control(Some(VariantId(c as u32)))?;
        }
        self.defs.insert(id, def);
        self.bump_version();
        Ok(())
    }

    /// Adds a variant to a running experiment (it starts in learning mode).
    pub fn add_variant(
        &mut self,
        experiment: &ExperimentId,
        variant: VariantDef,
    ) -> Result<VariantId, HostError> {
        let def = self
            .defs
            .get_mut(experiment)
            .ok_or_else(|| HostError::UnknownExperiment(experiment.clone()))?;
        let exp = self
            .optimiser
            .experiment_mut(experiment)
            .ok_or_else(|| HostError::UnknownExperiment(experiment.clone()))?;
        let id = exp.add_variant(variant.label.clone())?;
        def.variants.push(variant);
        self.bump_version();
        Ok(id)
    }

    /// Retires a variant: no longer served; its history stays.
    pub fn retire_variant(
        &mut self,
        experiment: &ExperimentId,
        variant: VariantId,
    ) -> Result<(), HostError> {
        self.optimiser
            .experiment_mut(experiment)
            .ok_or_else(|| HostError::UnknownExperiment(experiment.clone()))?
            .retire_variant(variant)?;
        self.bump_version();
        Ok(())
    }

    /// The definitions, in id order.
    pub fn experiments(&self) -> impl Iterator<Item = &ExperimentDef> + '_ {
        self.defs.values()
    }

    /// A variant's definition (label and parts).
    pub fn variant(&self, experiment: &ExperimentId, variant: VariantId) -> Option<&VariantDef> {
        self.defs.get(experiment)?.variants.get(variant.0 as usize)
    }

    /// A variant's label.
    pub fn label(&self, experiment: &ExperimentId, variant: VariantId) -> Option<&str> {
        self.variant(experiment, variant).map(|v| v.label.as_str())
    }

    /// The optimiser (read-only; change it through the host).
    pub fn optimiser(&self) -> &Optimiser {
        &self.optimiser
    }

    /// The attribution state (read-only).
    pub fn attribution(&self) -> &Attribution {
        &self.attribution
    }

    /// The current allocation version.
    pub fn allocation_version(&self) -> u64 {
        self.allocation_version
    }

    /// A new allocation version, with the shares it serves recorded.
    fn bump_version(&mut self) {
        self.allocation_version += 1;
        let shares: Shares = self
            .optimiser
            .experiments()
            .map(|e| (e.id().clone(), e.allocation()))
            .collect();
        self.versions.insert(self.allocation_version, shares);
        while self.versions.len() > MAX_VERSIONS {
            self.versions.pop_first();
        }
    }

    /// The shares `experiment` served at allocation version `version` (for
    /// the last [`MAX_VERSIONS`] versions): every exposure's exact
    /// assignment probability, for off-policy evaluation.
    pub fn shares_at(
        &self,
        experiment: &ExperimentId,
        version: u64,
    ) -> Option<&[(VariantId, f64)]> {
        self.versions
            .get(&version)?
            .get(experiment)
            .map(Vec::as_slice)
    }

    /// The probability the exposure's variant had of being assigned under
    /// the allocation it was served from (0 for a variant that allocation
    /// did not serve), when that version is still kept.
    pub fn propensity(&self, record: &ExposureRecord) -> Option<f64> {
        let shares = self.shares_at(&record.experiment, record.allocation_version)?;
        Some(
            shares
                .iter()
                .find(|(v, _)| *v == record.variant)
                .map_or(0.0, |(_, s)| *s),
        )
    }

    /// The last journal sequence number applied (or served) per replica.
    pub fn applied(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.applied.iter().map(|(r, s)| (*r, *s))
    }

    /// Whether a Currents file was processed (and not yet forgotten).
    pub fn is_processed(&self, key: &ObjectKey) -> bool {
        self.processed.contains_key(key)
    }

    /// Processed Currents files still remembered, in key order.
    pub fn processed(&self) -> impl Iterator<Item = &ObjectKey> + '_ {
        self.processed.keys()
    }

    fn drain(&mut self) -> Result<u64, HostError> {
        let mut n = 0;
        while let Some(u) = self.attribution.poll_update() {
            self.optimiser.apply(&u)?;
            n += 1;
        }
        Ok(n)
    }

    /// Serves `recipient` at `now` and records the exposure: the Connected
    /// Content handler's call. A re-render within the attribution window
    /// gets the variant recorded the first time (with its original serve
    /// time in the tag). The returned [`JournalEntry`] (this host's replica
    /// id, the next sequence number) is what the host appends to its
    /// journal before answering, so that a crash loses no exposure.
    pub fn serve(
        &mut self,
        experiment: &ExperimentId,
        recipient: RecipientKey,
        now: DateTime<Utc>,
    ) -> Result<(ServedVariant<'_>, JournalEntry), HostError> {
        if !self.defs.contains_key(experiment) {
            return Err(HostError::UnknownExperiment(experiment.clone()));
        }
        let served = crate::serve::serve(
            &self.optimiser,
            &mut self.attribution,
            experiment,
            recipient,
            now,
        )
        .map_err(|e| match e {
            crate::ServeError::Optimiser(OptimiserError::NoActiveVariant) => {
                HostError::NoActiveVariant(experiment.clone())
            }
            crate::ServeError::Optimiser(o) => HostError::Optimiser(o),
            crate::ServeError::Exposure(x) => HostError::Exposure(x),
        })?;
        self.drain()?;
        let seq = self.applied.entry(self.replica).or_insert(0);
        *seq += 1;
        let entry = JournalEntry {
            replica: self.replica,
            seq: *seq,
            record: ExposureRecord {
                experiment: experiment.clone(),
                recipient_key: recipient,
                variant: served.variant,
                at: DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now),
                allocation_version: self.allocation_version,
            },
        };
        let def = self
            .defs
            .get(experiment)
            .and_then(|d| d.variants.get(served.variant.0 as usize))
            .ok_or_else(|| HostError::NoActiveVariant(experiment.clone()))?;
        Ok((
            ServedVariant {
                variant: served.variant,
                label: &def.label,
                parts: &def.parts,
                tag: served.tag,
                repeat: served.repeat,
                allocation_version: self.allocation_version,
            },
            entry,
        ))
    }

    /// Applies an exposure from a journal (a replica's, or this host's own
    /// on replay), exactly once: an entry whose sequence number is at or
    /// below the last applied for its replica is skipped.
    ///
    /// An entry for an unknown experiment or variant is refused and changes
    /// nothing (its sequence number is not marked applied).
    pub fn apply(&mut self, entry: &JournalEntry) -> Result<Applied, HostError> {
        let last = self.applied.get(&entry.replica).copied().unwrap_or(0);
        if entry.seq <= last {
            return Ok(Applied::Skipped);
        }
        let r = &entry.record;
        self.optimiser
            .experiment(&r.experiment)
            .ok_or_else(|| HostError::UnknownExperiment(r.experiment.clone()))?
            .posterior(r.variant)?;
        let outcome =
            self.attribution
                .record_exposure(&r.experiment, r.recipient_key, r.variant, r.at)?;
        self.drain()?;
        self.applied.insert(entry.replica, entry.seq);
        Ok(match outcome {
            Exposure::Repeat(_) => Applied::Repeat,
            _ => Applied::New,
        })
    }

    /// Applies every entry of a decoded journal segment ([`decode_segment`])
    /// in order; returns how many were new exposures, re-renders and skipped.
    pub fn replay(&mut self, segment: &Segment) -> Result<(u64, u64, u64), HostError> {
        self.replay_entries(segment.entries.iter().cloned())
    }

    /// Applies journal entries in order (for example a [`SegmentReader`]
    /// over a segment's bytes, which holds one entry at a time); returns how
    /// many were new exposures, re-renders and skipped. Stops at the first
    /// refused entry.
    pub fn replay_entries(
        &mut self,
        entries: impl IntoIterator<Item = JournalEntry>,
    ) -> Result<(u64, u64, u64), HostError> {
        let mut counts = (0, 0, 0);
        for e in entries {
            match self.apply(&e)? {
                Applied::New => counts.0 += 1,
                Applied::Repeat => counts.1 += 1,
                Applied::Skipped => counts.2 += 1,
            }
        }
        Ok(counts)
    }

    /// Ingests one Currents file (raw or sanitized) read at `now`: cleans
    /// it with the host's filter, attributes its events and feeds the
    /// optimiser. A file whose key was already processed is skipped.
    pub fn ingest_file(
        &mut self,
        key: &ObjectKey,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> IngestReport {
        if self.processed.contains_key(key) {
            return IngestReport {
                already_processed: true,
                ..IngestReport::default()
            };
        }
        // A schema that does not name its event type (a bare `Conversion`)
        // takes the key's `event_type=` segment.
        let clean = if self.decode.fallback_event_type.is_none() && key.event_type.is_some() {
            let mut decode = self.decode.clone();
            decode.fallback_event_type = key.event_type;
            self.filter.clean_file(bytes, &decode)
        } else {
            self.filter.clean_file(bytes, &self.decode)
        };
        let mut report = self.ingest_events(&clean.events, now);
        report.filter = Some(clean.report);
        if clean.error.is_none() {
            let t = key.queue_hour.map_or(now.timestamp(), |h| h.timestamp());
            self.processed.insert(key.clone(), t);
        }
        report.error = clean.error;
        self.forget_processed(now);
        report
    }

    /// Attributes clean events received at `now` and feeds the optimiser.
    pub fn ingest_events(&mut self, events: &[CleanEvent], now: DateTime<Utc>) -> IngestReport {
        let mut report = IngestReport::default();
        for e in events {
            report.events += 1;
            if self.attribution.handle_event(e, now) == Handled::Click(ClickBucket::Attributed) {
                report.clicks_attributed += 1;
            }
        }
        // Attribution only emits updates for known experiments.
        report.updates = self.drain().unwrap_or(0);
        report
    }

    /// How long a processed file is remembered: the longest attribution
    /// window (click or conversion) plus allowed lateness (events older than
    /// that are late anyway).
    fn memory_secs(&self) -> i64 {
        self.defs
            .values()
            .map(|d| {
                d.attribution
                    .window
                    .max(d.attribution.effective_conversion_window())
                    .num_seconds()
                    .saturating_add(d.attribution.allowed_lateness.num_seconds())
            })
            .max()
            .unwrap_or(0)
    }

    /// Forgets processed files older than the attribution window plus the
    /// allowed lateness (by queue hour, else by ingest time).
    fn forget_processed(&mut self, now: DateTime<Utc>) {
        let cutoff = now.timestamp().saturating_sub(self.memory_secs());
        self.processed.retain(|_, t| *t >= cutoff);
    }

    /// The periodic work: recomputes every allocation (a new allocation
    /// version), frees expired attribution state and forgets old files.
    pub fn recompute<R: Rng + ?Sized>(&mut self, now: DateTime<Utc>, rng: &mut R) {
        self.optimiser.recompute_all(now, rng);
        self.attribution.expire(now);
        self.forget_processed(now);
        self.bump_version();
    }

    /// Reports on every experiment at `now`.
    pub fn report<R: Rng + ?Sized>(&self, now: DateTime<Utc>, rng: &mut R) -> HostReport {
        HostReport {
            experiments: self
                .optimiser
                .experiments()
                .map(|e| (e.id().clone(), e.report(now, rng)))
                .collect(),
            accounting: self.attribution.report(),
        }
    }

    /// The current allocation, for serving replicas (wrap it in an `Arc`
    /// and swap it in atomically).
    pub fn publish(&self) -> Allocation {
        let mut a = Allocation::new(self.allocation_version);
        for e in self.optimiser.experiments() {
            let variants = self
                .defs
                .get(e.id())
                .map(|d| d.variants.clone())
                .unwrap_or_default();
            a.insert(e.id().clone(), e.serving_layout(), e.allocation(), variants);
        }
        a
    }
}

#[cfg(test)]
mod tests;
