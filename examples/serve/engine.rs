//! The learner's state on the library's host facade (`dynopt::host::Host`):
//! the one module that knows which dynopt types hold the state.
//!
//! Pure: no I/O, no clock, no global RNG. The caller hands in bytes, times and
//! a generator, and stores the snapshot bytes where it likes.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use dynopt::currents::ObjectKey;
use dynopt::host::{Allocation, Applied, ExperimentDef, Host, JournalEntry, Segment};
use dynopt::pii::CleanEvent;
use dynopt::{ExperimentId, RecipientKey};
use rand::Rng;
use serde_json::{Value, json};

/// The replica id of the learner's own `Host::serve` (unused: serving goes
/// through the published allocation). Journal replicas must differ from it.
pub(crate) const LEARNER_REPLICA: u32 = u32::MAX;

/// Why the engine could not be set up or restored.
#[derive(Debug)]
pub(crate) enum EngineError {
    /// An experiment definition the library refused.
    Setup(String),
    /// A snapshot that fails the library's checks.
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

/// What one Currents file did.
pub(crate) struct Ingested {
    pub(crate) skipped: bool,
    pub(crate) events: u64,
    pub(crate) attributed: u64,
    pub(crate) error: Option<String>,
}

/// How long processed Currents keys are remembered: the longest attribution
/// window plus allowed lateness. The worker never fetches older keys, so
/// forgetting them cannot ingest a file twice.
pub(crate) fn retention(defs: &[ExperimentDef]) -> TimeDelta {
    defs.iter()
        .map(|d| d.attribution.window + d.attribution.allowed_lateness)
        .max()
        .unwrap_or(TimeDelta::days(8))
}

/// The learner: the host facade, plus the last Custom HTTP Currents batch
/// applied per replica (batches are stored before they are acknowledged and
/// replayed after a restart; see `http.rs`).
pub(crate) struct Engine {
    host: Host,
    http_applied: BTreeMap<u32, u64>,
}

/// The snapshot container: this magic, the metadata length (u32, little
/// endian), the metadata (JSON), then the library's binary host state.
const SNAPSHOT_MAGIC: &[u8; 8] = b"DYSERVE1";

impl Engine {
    /// A fresh learner for these experiments.
    pub(crate) fn new(defs: &[ExperimentDef]) -> Result<Engine, EngineError> {
        let mut host = Host::new().with_replica(LEARNER_REPLICA);
        for d in defs {
            host.add_experiment(d.clone())
                .map_err(|e| EngineError::Setup(e.to_string()))?;
        }
        Ok(Engine {
            host,
            http_applied: BTreeMap::new(),
        })
    }

    /// Restores a snapshot ([`Engine::snapshot`]) and adds the configured
    /// experiments it does not have; a configured experiment whose variants
    /// differ from the snapshot's is refused.
    pub(crate) fn restore(bytes: &[u8], defs: &[ExperimentDef]) -> Result<Engine, EngineError> {
        let bad = |m: &str| EngineError::Snapshot(m.to_owned());
        let rest = bytes
            .strip_prefix(SNAPSHOT_MAGIC.as_slice())
            .ok_or_else(|| bad("not a serve snapshot"))?;
        let (len, rest) = rest.split_at_checked(4).ok_or_else(|| bad("truncated"))?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (meta, state) = rest.split_at_checked(len).ok_or_else(|| bad("truncated"))?;
        let meta: Value = serde_json::from_slice(meta).map_err(|_| bad("metadata"))?;
        let mut http_applied = BTreeMap::new();
        for (r, s) in meta["http_applied"]
            .as_object()
            .ok_or_else(|| bad("metadata"))?
        {
            let (Ok(r), Some(s)) = (r.parse::<u32>(), s.as_u64()) else {
                return Err(bad("metadata"));
            };
            http_applied.insert(r, s);
        }
        let mut host = Host::restore(state)
            .map_err(|e| EngineError::Snapshot(e.to_string()))?
            .with_replica(LEARNER_REPLICA);
        for d in defs {
            let known = host.experiments().find(|e| e.id == d.id).cloned();
            match known {
                None => host
                    .add_experiment(d.clone())
                    .map_err(|e| EngineError::Setup(e.to_string()))?,
                Some(k) if k.variants != d.variants => {
                    return Err(EngineError::Setup(format!(
                        "experiment `{}`: the configured variants differ from the snapshot's",
                        d.id.as_str()
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(Engine { host, http_applied })
    }

    /// The immutable allocation serving reads.
    pub(crate) fn publish(&self) -> Arc<Allocation> {
        Arc::new(self.host.publish())
    }

    /// Applies one journal entry, exactly once per (replica, sequence number).
    pub(crate) fn apply(&mut self, entry: &JournalEntry) -> Option<Applied> {
        // An unknown experiment (removed from the configuration since) is
        // not retried; the sequence number stays unapplied.
        self.host.apply(entry).ok()
    }

    /// Applies a journal segment; returns the entries that were new to it.
    pub(crate) fn replay(&mut self, segment: &Segment) -> u64 {
        segment
            .entries
            .iter()
            .filter(|e| matches!(self.apply(e), Some(Applied::New | Applied::Repeat)))
            .count() as u64
    }

    /// The last sequence number applied for `replica`.
    pub(crate) fn applied(&self, replica: u32) -> u64 {
        self.host
            .applied()
            .find(|(r, _)| *r == replica)
            .map_or(0, |(_, s)| s)
    }

    /// Every replica's last applied sequence number.
    pub(crate) fn applied_all(&self) -> Vec<(u32, u64)> {
        self.host.applied().collect()
    }

    /// Ingests one Currents file (once per key).
    pub(crate) fn ingest(&mut self, key: &ObjectKey, bytes: &[u8], now: DateTime<Utc>) -> Ingested {
        let r = self.host.ingest_file(key, bytes, now);
        Ingested {
            skipped: r.already_processed,
            events: r.events,
            attributed: r.clicks_attributed,
            error: r.error.map(|e| e.to_string()),
        }
    }

    /// Recomputes every allocation and forgets what is past its retention.
    pub(crate) fn recompute<R: Rng + ?Sized>(&mut self, now: DateTime<Utc>, rng: &mut R) {
        self.host.recompute(now, rng);
    }

    /// The keys ingested so far (the worker starts from them).
    pub(crate) fn processed_keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.host.processed()
    }

    /// The whole state: the container around the library's compact binary state.
    pub(crate) fn snapshot(&self) -> Vec<u8> {
        let meta = json!({
            "http_applied": self.http_applied.iter()
                .map(|(r, s)| (r.to_string(), json!(s))).collect::<serde_json::Map<_, _>>(),
        })
        .to_string();
        let state = self.host.snapshot();
        let mut out = Vec::with_capacity(12 + meta.len() + state.len());
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        out.extend_from_slice(meta.as_bytes());
        out.extend_from_slice(&state);
        out
    }

    /// Applies a stored Custom HTTP Currents batch of clean events, once per
    /// (replica, batch number); `None` when it was applied before.
    pub(crate) fn ingest_http(
        &mut self,
        replica: u32,
        batch: u64,
        events: &[CleanEvent],
        now: DateTime<Utc>,
    ) -> Option<Ingested> {
        if self.http_applied.get(&replica).is_some_and(|&b| batch <= b) {
            return None;
        }
        self.http_applied.insert(replica, batch);
        let r = self.host.ingest_events(events, now);
        Some(Ingested {
            skipped: false,
            events: r.events,
            attributed: r.clicks_attributed,
            error: None,
        })
    }

    /// The last Custom HTTP batch applied per replica.
    pub(crate) fn http_applied(&self) -> Vec<(u32, u64)> {
        self.http_applied.iter().map(|(r, b)| (*r, *b)).collect()
    }

    /// The report: per experiment, attribution's counts and the allocation.
    pub(crate) fn report(&self) -> Value {
        let acc = self.host.attribution().report();
        let mut exps = serde_json::Map::new();
        for e in self.host.optimiser().experiments() {
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
            "allocation_version": self.host.allocation_version(),
            "journal_applied": self.host.applied().filter(|(r, _)| *r != LEARNER_REPLICA)
                .map(|(r, s)| (r.to_string(), json!(s))).collect::<serde_json::Map<_, _>>(),
            "processed_files": self.host.processed().count(),
            "experiments": exps,
        })
    }

    /// Synthetic exposures for load runs (not journaled, not real recipients).
    pub(crate) fn seed_synthetic(&mut self, n: u64, now: DateTime<Utc>) {
        let Some(id) = self.host.experiments().next().map(|d| d.id.clone()) else {
            return;
        };
        let id: ExperimentId = id;
        for i in 0..n {
            let mut k = [0xA5u8; 16];
            k[..8].copy_from_slice(&i.to_le_bytes());
            let _ = self.host.serve(&id, RecipientKey(k), now);
        }
    }
}
