//! The learner's state on the library's API: the one module that knows which
//! dynopt types hold the state, so that moving to another host API touches
//! this file only.
//!
//! Pure: no I/O, no clock, no global RNG. The caller hands in bytes, times and
//! a generator, and stores the snapshot bytes where it likes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use dynopt::attribution::{Attribution, AttributionConfig, AttributionSnapshot, Mode, Scope, Tag};
use dynopt::currents::{DecodeOptions, ObjectKey};
use dynopt::optimiser::{Optimiser, OptimiserConfig, OptimiserSnapshot};
use dynopt::pii::{Filter, Policy};
use dynopt::{ExperimentId, RecipientKey, Update, VariantId};
use rand::Rng;
use serde_json::{Value, json};

use crate::config::{ExperimentDef, ScopeDef};
use crate::journal::{ExposureRecord, Position};

/// How long a processed Currents key is remembered: Braze's 5-day retry
/// horizon plus the attribution window. Keys queued earlier are never
/// ingested (the worker skips them), so forgetting them cannot ingest twice.
pub(crate) const PROCESSED_RETENTION: TimeDelta = TimeDelta::days(9);

/// Why the engine could not be set up or restored.
#[derive(Debug)]
pub(crate) enum EngineError {
    /// An experiment definition the library refused.
    Setup(String),
    /// A snapshot that is not one of ours or fails the library's checks.
    Snapshot(String),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Setup(m) => write!(f, "experiment set-up: {m}"),
            EngineError::Snapshot(m) => write!(f, "snapshot: {m}"),
        }
    }
}

impl std::error::Error for EngineError {}

/// What serving reads: an immutable copy of the allocation, published by the
/// learner after each recompute and swapped atomically.
pub(crate) struct Published {
    /// Increases with every publication.
    pub(crate) version: u64,
    optimiser: Optimiser,
    labels: HashMap<ExperimentId, Vec<String>>,
}

/// Why a recipient could not be served.
#[derive(Debug)]
pub(crate) enum AssignError {
    UnknownExperiment,
    NoVariant,
}

impl Published {
    /// Sticky assignment: pure, allocation-free but for the label lookup.
    pub(crate) fn assign(
        &self,
        experiment: &ExperimentId,
        recipient: &RecipientKey,
    ) -> Result<(VariantId, &str), AssignError> {
        let labels = self
            .labels
            .get(experiment)
            .ok_or(AssignError::UnknownExperiment)?;
        let v = self
            .optimiser
            .assign(experiment, recipient)
            .map_err(|_| AssignError::NoVariant)?;
        let label = labels.get(v.0 as usize).map_or("", String::as_str);
        Ok((v, label))
    }
}

/// The link tag of a serve at `now` (second precision).
pub(crate) fn tag(variant: VariantId, now: DateTime<Utc>) -> Tag {
    Tag {
        variant,
        served_at: DateTime::from_timestamp(now.timestamp(), 0),
    }
}

/// What one Currents file did.
pub(crate) struct Ingested {
    pub(crate) events: usize,
    pub(crate) error: Option<String>,
}

/// The learner: optimiser, attribution, the Currents keys already ingested
/// and how far each replica's exposure journal has been applied.
pub(crate) struct Engine {
    optimiser: Optimiser,
    attribution: Attribution,
    filter: Filter,
    updates: Vec<Update>,
    /// Ingested Currents keys and their queue hour (UNIX seconds).
    processed: BTreeMap<String, i64>,
    /// Per replica: the journal position applied so far.
    journal: BTreeMap<String, Position>,
    /// Journal records applied since the first start (re-renders included).
    exposure_records: u64,
    published_version: u64,
}

impl Engine {
    /// A fresh learner for these experiments.
    pub(crate) fn new(defs: &[ExperimentDef]) -> Result<Engine, EngineError> {
        let mut optimiser = Optimiser::new();
        let mut attribution = Attribution::new();
        for d in defs {
            let id = ExperimentId::new(d.id.clone());
            let exp = optimiser
                .add_experiment(id.clone(), OptimiserConfig::default())
                .map_err(|e| EngineError::Setup(e.to_string()))?;
            let mut ids = Vec::new();
            for label in &d.variants {
                ids.push(
                    exp.add_variant(label.clone())
                        .map_err(|e| EngineError::Setup(e.to_string()))?,
                );
            }
            if let Some(c) = d.control {
                let id = *ids
                    .get(c)
                    .ok_or_else(|| EngineError::Setup("control out of range".into()))?;
                exp.set_control(Some(id))
                    .map_err(|e| EngineError::Setup(e.to_string()))?;
            }
            let scope = match &d.scope {
                ScopeDef::Campaign {
                    campaign,
                    variation,
                } => {
                    let s = Scope::campaign(campaign.clone());
                    match variation {
                        Some(v) => s.with_variation(v.clone()),
                        None => s,
                    }
                }
                ScopeDef::CanvasStep(step) => Scope::canvas_step(step.clone()),
            };
            let mode = if d.url_tag {
                Mode::url_tag()
            } else {
                Mode::ExposureJoin
            };
            attribution
                .add_experiment(id, AttributionConfig::new(scope, mode))
                .map_err(|e| EngineError::Setup(e.to_string()))?;
        }
        Ok(Engine {
            optimiser,
            attribution,
            filter: Filter::new(Policy::new()),
            updates: Vec::new(),
            processed: BTreeMap::new(),
            journal: BTreeMap::new(),
            exposure_records: 0,
            published_version: 0,
        })
    }

    /// The immutable copy serving reads.
    pub(crate) fn publish(&mut self) -> Arc<Published> {
        self.published_version += 1;
        let labels = self
            .optimiser
            .experiments()
            .map(|e| {
                let mut v: Vec<(VariantId, String)> = e
                    .variants()
                    .map(|(id, label, _)| (id, label.to_owned()))
                    .collect();
                v.sort_by_key(|(id, _)| id.0);
                (e.id().clone(), v.into_iter().map(|(_, l)| l).collect())
            })
            .collect();
        Arc::new(Published {
            version: self.published_version,
            optimiser: self.optimiser.clone(),
            labels,
        })
    }

    /// Applies one journal record, exactly once: records at or before the
    /// replica's applied position are skipped.
    pub(crate) fn apply_exposure(&mut self, replica: &str, at: Position, r: &ExposureRecord) {
        if let Some(done) = self.journal.get(replica)
            && at <= *done
        {
            return;
        }
        self.journal.insert(replica.to_owned(), at);
        self.exposure_records += 1;
        // An unknown experiment (removed from the configuration since) or a
        // full variant table is not retried: the record is counted as applied.
        let _ = self
            .attribution
            .record_exposure(&r.experiment, r.recipient, r.variant, r.at);
        self.drain();
    }

    /// The journal position applied for `replica`.
    pub(crate) fn applied(&self, replica: &str) -> Option<Position> {
        self.journal.get(replica).copied()
    }

    /// Every replica's applied journal position.
    pub(crate) fn positions(&self) -> BTreeMap<String, Position> {
        self.journal.clone()
    }

    /// Whether a Currents key should be fetched: not ingested yet and queued
    /// within the retention.
    pub(crate) fn wants(&self, key: &str, now: DateTime<Utc>) -> bool {
        if self.processed.contains_key(key) {
            return false;
        }
        match ObjectKey::parse(key).ok().and_then(|k| k.queue_hour) {
            Some(h) => h >= now - PROCESSED_RETENTION,
            None => true,
        }
    }

    /// Ingests one Currents file (once per key).
    pub(crate) fn ingest(&mut self, key: &str, bytes: &[u8], now: DateTime<Utc>) -> Ingested {
        if !self.wants(key, now) {
            return Ingested {
                events: 0,
                error: None,
            };
        }
        let hour = ObjectKey::parse(key)
            .ok()
            .and_then(|k| k.queue_hour)
            .map_or(now.timestamp(), |h| h.timestamp());
        self.processed.insert(key.to_owned(), hour);
        let clean = self.filter.clean_file(bytes, &DecodeOptions::default());
        for event in &clean.events {
            self.attribution.handle_event(event, now);
        }
        self.drain();
        Ingested {
            events: clean.events.len(),
            error: clean.error.map(|e| e.to_string()),
        }
    }

    fn drain(&mut self) {
        self.attribution.drain_updates(&mut self.updates);
        for u in self.updates.drain(..) {
            // Updates for experiments the optimiser does not know cannot occur:
            // both registries are built from the same definitions.
            let _ = self.optimiser.apply(&u);
        }
    }

    /// Recomputes every allocation and forgets what is past its retention.
    pub(crate) fn recompute<R: Rng + ?Sized>(&mut self, now: DateTime<Utc>, rng: &mut R) {
        self.optimiser.recompute_all(now, rng);
        self.attribution.expire(now);
        let horizon = (now - PROCESSED_RETENTION).timestamp();
        self.processed.retain(|_, h| *h >= horizon);
    }

    /// The keys ingested so far (the worker starts from them).
    pub(crate) fn processed_keys(&self) -> impl Iterator<Item = &str> {
        self.processed.keys().map(String::as_str)
    }

    /// The whole state: a header line (JSON), the optimiser snapshot and the
    /// attribution snapshot, one JSON document per line.
    pub(crate) fn snapshot(&self, seq: u64, now: DateTime<Utc>) -> Vec<u8> {
        let header = json!({
            "format": "dynopt-serve-snapshot",
            "version": 1,
            "seq": seq,
            "taken_at": now.timestamp(),
            "exposure_records": self.exposure_records,
            "journal": self.journal.iter().map(|(r, p)| (r.clone(), json!([p.segment, p.record]))).collect::<serde_json::Map<_, _>>(),
            "processed": self.processed,
        });
        let mut out = serde_json::to_vec(&header).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(&self.optimiser.snapshot().to_json());
        out.push(b'\n');
        out.extend_from_slice(&self.attribution.snapshot().to_json());
        out.push(b'\n');
        out
    }

    /// Restores a snapshot written by [`Engine::snapshot`]; returns its sequence number.
    pub(crate) fn restore(bytes: &[u8]) -> Result<(Engine, u64), EngineError> {
        let bad = |m: &str| EngineError::Snapshot(m.to_owned());
        let mut lines = bytes.split(|&b| b == b'\n');
        let header: Value = serde_json::from_slice(lines.next().ok_or_else(|| bad("empty"))?)
            .map_err(|_| bad("header is not JSON"))?;
        if header["format"] != "dynopt-serve-snapshot" || header["version"] != 1 {
            return Err(bad("unknown format or version"));
        }
        let opt = OptimiserSnapshot::from_json(lines.next().ok_or_else(|| bad("no optimiser"))?)
            .map_err(|e| EngineError::Snapshot(e.to_string()))?;
        let attr =
            AttributionSnapshot::from_json(lines.next().ok_or_else(|| bad("no attribution"))?)
                .map_err(|e| EngineError::Snapshot(e.to_string()))?;
        let optimiser =
            Optimiser::restore(opt).map_err(|e| EngineError::Snapshot(e.to_string()))?;
        let attribution =
            Attribution::restore(attr).map_err(|e| EngineError::Snapshot(e.to_string()))?;
        let mut journal = BTreeMap::new();
        for (r, p) in header["journal"]
            .as_object()
            .ok_or_else(|| bad("journal"))?
        {
            let (Some(segment), Some(record)) = (p[0].as_u64(), p[1].as_u64()) else {
                return Err(bad("journal position"));
            };
            journal.insert(r.clone(), Position { segment, record });
        }
        let mut processed = BTreeMap::new();
        for (k, h) in header["processed"]
            .as_object()
            .ok_or_else(|| bad("processed"))?
        {
            processed.insert(k.clone(), h.as_i64().ok_or_else(|| bad("processed hour"))?);
        }
        let seq = header["seq"].as_u64().ok_or_else(|| bad("seq"))?;
        Ok((
            Engine {
                optimiser,
                attribution,
                filter: Filter::new(Policy::new()),
                updates: Vec::new(),
                processed,
                journal,
                exposure_records: header["exposure_records"].as_u64().unwrap_or(0),
                published_version: 0,
            },
            seq,
        ))
    }

    /// Checks that a restored state serves the configured experiments.
    pub(crate) fn check_matches(&self, defs: &[ExperimentDef]) -> Result<(), EngineError> {
        for d in defs {
            let id = ExperimentId::new(d.id.clone());
            let exp = self.optimiser.experiment(&id).ok_or_else(|| {
                EngineError::Setup(format!("experiment `{}` is not in the snapshot", d.id))
            })?;
            if exp.variants().count() != d.variants.len() {
                return Err(EngineError::Setup(format!(
                    "experiment `{}`: the snapshot has {} variants, the configuration {}",
                    d.id,
                    exp.variants().count(),
                    d.variants.len()
                )));
            }
        }
        Ok(())
    }

    /// The report: per experiment, attribution's counts and the allocation.
    pub(crate) fn report(&self) -> Value {
        let acc = self.attribution.report();
        let mut exps = serde_json::Map::new();
        for e in self.optimiser.experiments() {
            let a = acc.experiments.get(e.id());
            exps.insert(
                e.id().as_str().to_owned(),
                json!({
                    "exposures": a.map_or(0, |a| a.exposures),
                    "repeat_exposures": a.map_or(0, |a| a.repeat_exposures),
                    "tracked_exposures": a.map_or(0, |a| a.tracked_exposures),
                    "clicks": a.map(|a| serde_json::to_value(a.clicks).unwrap_or(Value::Null)),
                    "variants": a.map(|a| a.variants.iter().map(|v| json!({
                        "variant": v.variant.0, "exposures": v.exposures, "clicks": v.clicks,
                    })).collect::<Vec<_>>()),
                    "allocation": e.allocation().iter().map(|(v, s)| json!([v.0, s])).collect::<Vec<_>>(),
                }),
            );
        }
        json!({
            "exposure_records": self.exposure_records,
            "processed_files": self.processed.len(),
            "published_version": self.published_version,
            "experiments": exps,
        })
    }

    /// Synthetic exposures for load runs (not journaled, not real recipients).
    pub(crate) fn seed_synthetic(&mut self, n: u64, now: DateTime<Utc>) {
        let ids: Vec<ExperimentId> = self
            .optimiser
            .experiments()
            .map(|e| e.id().clone())
            .collect();
        let Some(id) = ids.first() else { return };
        for i in 0..n {
            let mut k = [0xA5u8; 16];
            k[..8].copy_from_slice(&i.to_le_bytes());
            let key = RecipientKey(k);
            if let Ok(v) = self.optimiser.assign(id, &key) {
                let _ = self.attribution.record_exposure(id, key, v, now);
            }
        }
        self.drain();
    }
}
