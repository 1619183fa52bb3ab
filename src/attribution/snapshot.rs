//! Serde snapshots of the attribution state.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::config::AttributionConfig;
use super::engine::{Attribution, Global};
use super::experiment::{Counters, MAX_TRACKED_VARIANTS, VariantStats};
use super::report::{ClickBuckets, OutcomeAccounts};
use super::table::{Density, KeyTable, Rec};
use crate::currents::EventType;
use crate::snapshot::{self as shared, RestoreError};
use crate::vocab::RecipientKey;
use crate::vocab::{ExperimentId, Update, VariantId};

/// One table entry: key, flags and variant index, UNIX seconds.
type SnapRec = (RecipientKey, u32, u32);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ExperimentSnapshot {
    id: ExperimentId,
    config: AttributionConfig,
    variants: Vec<VariantId>,
    stats: Vec<VariantStats>,
    counters: Counters,
    exposures: Vec<SnapRec>,
    clickers: Vec<SnapRec>,
    seen: Vec<SnapRec>,
}

/// The whole attribution state as a plain serde value: experiments, tracked
/// exposures, unique clickers, seen event ids (for duplicate detection across
/// restarts), counters, the watermark and queued updates.
///
/// Restoring it gives back a state that behaves exactly like the one
/// snapshotted: replaying events it already handled changes no outcome.
///
/// ```
/// use dynopt::attribution::{Attribution, AttributionSnapshot};
///
/// let state = Attribution::new();
/// let bytes = state.snapshot().to_json();
/// let restored = Attribution::restore(AttributionSnapshot::from_json(&bytes)?)?;
/// assert_eq!(restored.report(), state.report());
/// # Ok::<(), dynopt::RestoreError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributionSnapshot {
    format_version: u32,
    watermark: Option<i64>,
    clicks: ClickBuckets,
    opens: u64,
    machine_opens: u64,
    events: Vec<(EventType, u64)>,
    experiments: Vec<ExperimentSnapshot>,
    pending: Vec<Update>,
    #[serde(default, skip_serializing_if = "OutcomeAccounts::is_empty")]
    outcomes: OutcomeAccounts,
}

impl AttributionSnapshot {
    /// The snapshot format this build writes and reads.
    pub const FORMAT_VERSION: u32 = 1;

    /// Experiments in the snapshot.
    pub(crate) fn experiment_count(&self) -> usize {
        self.experiments.len()
    }

    /// The format version this snapshot was written in.
    pub fn format_version(&self) -> u32 {
        self.format_version
    }

    /// The snapshot as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        shared::to_json(self)
    }

    /// Parses JSON, checking the format version first so that a snapshot of
    /// another version is reported as such rather than as malformed.
    pub fn from_json(bytes: &[u8]) -> Result<AttributionSnapshot, RestoreError> {
        shared::from_json_checked(bytes, Self::FORMAT_VERSION)
    }
}

/// Counters above this are corrupt: it leaves room to count (and merge) without overflow.
const MAX_COUNT: u64 = 1 << 56;

fn buckets(b: &ClickBuckets) -> [u64; 8] {
    [
        b.attributed,
        b.duplicate,
        b.bot,
        b.unattributable,
        b.late,
        b.outside,
        b.future,
        b.before_exposure,
    ]
}

fn check_counts(values: impl IntoIterator<Item = u64>) -> Result<(), RestoreError> {
    if values.into_iter().all(|v| v <= MAX_COUNT) {
        Ok(())
    } else {
        Err(RestoreError::Corrupt("counter out of range"))
    }
}

fn dump(t: &KeyTable) -> Vec<SnapRec> {
    let mut v: Vec<SnapRec> = t
        .iter()
        .map(|r| (RecipientKey(r.key), r.bits(), r.time))
        .collect();
    v.sort_unstable_by_key(|r| r.0);
    v
}

/// One stored record, checked: known flag bits, a known variant (exposure
/// and clicker tables) or a bare marker (seen ids).
fn checked(
    key: [u8; 16],
    bits: u32,
    time: u32,
    variants: usize,
    flags_allowed: bool,
) -> Result<Rec, RestoreError> {
    let Some(rec) = Rec::from_bits(key, bits, time) else {
        return Err(RestoreError::Corrupt("invalid entry flags"));
    };
    if flags_allowed {
        if rec.variant() as usize >= variants {
            return Err(RestoreError::Corrupt("entry refers to an unknown variant"));
        }
    } else if !rec.is_marker() {
        return Err(RestoreError::Corrupt("invalid seen-id entry"));
    }
    Ok(rec)
}

/// Inserts a checked record; a key seen before is corrupt.
fn insert_unique(t: &mut KeyTable, rec: Rec) -> Result<(), RestoreError> {
    match t.get_or_insert(rec) {
        Some(_) => Err(RestoreError::Corrupt("duplicate key")),
        None => Ok(()),
    }
}

fn load(
    recs: Vec<SnapRec>,
    variants: usize,
    flags_allowed: bool,
    density: Density,
) -> Result<KeyTable, RestoreError> {
    let mut t = KeyTable::new(density);
    for (k, bits, time) in recs {
        insert_unique(&mut t, checked(k.0, bits, time, variants, flags_allowed)?)?;
    }
    Ok(t)
}

impl Attribution {
    /// The state as a serde value (see [`AttributionSnapshot`]).
    pub fn snapshot(&self) -> AttributionSnapshot {
        self.snapshot_with(dump)
    }

    /// Rebuilds the state from a snapshot, validating it: another format
    /// version, an invalid configuration or inconsistent tables are typed
    /// errors, never a panic.
    pub fn restore(snapshot: AttributionSnapshot) -> Result<Attribution, RestoreError> {
        shared::check_version(snapshot.format_version, AttributionSnapshot::FORMAT_VERSION)?;
        let mut a = Attribution::new();
        for es in snapshot.experiments {
            a.add_experiment_inner(es.id.clone(), es.config.clone(), false)
                .map_err(|_| {
                    RestoreError::Corrupt("invalid or conflicting experiment configuration")
                })?;
            if es.variants.len() > MAX_TRACKED_VARIANTS || es.stats.len() != es.variants.len() {
                return Err(RestoreError::Corrupt("variant table"));
            }
            let mut unique = es.variants.clone();
            unique.sort_unstable();
            unique.dedup();
            if unique.len() != es.variants.len() {
                return Err(RestoreError::Corrupt("repeated variant id"));
            }
            let n = es.variants.len();
            let exp = a
                .experiments
                .last_mut()
                .ok_or(RestoreError::Corrupt("experiment not added"))?;
            if exp.config != es.config {
                // add_experiment normalises durations; a snapshot holds normalised ones.
                return Err(RestoreError::Corrupt("experiment configuration"));
            }
            let c = &es.counters;
            check_counts(buckets(&c.clicks))?;
            check_counts([c.exposures, c.repeat_exposures, c.opens, c.machine_opens])?;
            check_counts(c.outcomes.all().iter().flat_map(|b| b.counts()))?;
            check_counts(es.stats.iter().flat_map(|s| s.all()))?;
            exp.variants = es.variants;
            exp.stats = es.stats;
            exp.counters = es.counters;
            exp.exposures = load(es.exposures, n, true, Density::Compact)?;
            exp.clickers = load(es.clickers, n, true, Density::Fast)?;
            exp.seen = load(es.seen, n, false, Density::Fast)?;
        }
        check_counts(buckets(&snapshot.clicks))?;
        check_counts([snapshot.opens, snapshot.machine_opens])?;
        check_counts(snapshot.outcomes.all().iter().flat_map(|b| b.counts()))?;
        check_counts(snapshot.events.iter().map(|(_, v)| *v))?;
        a.watermark = snapshot.watermark;
        a.global = Global {
            clicks: snapshot.clicks,
            opens: snapshot.opens,
            machine_opens: snapshot.machine_opens,
            outcomes: snapshot.outcomes,
            events: {
                let mut m = BTreeMap::new();
                for (k, v) in snapshot.events {
                    if m.insert(k, v).is_some() {
                        return Err(RestoreError::Corrupt("repeated event type"));
                    }
                }
                m
            },
        };
        a.pending = VecDeque::from(snapshot.pending);
        Ok(a)
    }
}

/// Bytes of one packed table record: 16-byte key, the record word
/// ([`Rec::bits`]) and the time, both little-endian `u32`.
pub(crate) const PACKED_RECORD: usize = 24;

/// Appends every record of `t` packed (in table order).
fn pack(t: &KeyTable, out: &mut Vec<u8>) {
    out.reserve(t.len() * PACKED_RECORD);
    for r in t.iter() {
        let mut rec = [0u8; PACKED_RECORD];
        rec[..16].copy_from_slice(&r.key);
        rec[16..20].copy_from_slice(&r.bits().to_le_bytes());
        rec[20..24].copy_from_slice(&r.time.to_le_bytes());
        out.extend_from_slice(&rec);
    }
}

/// A table from packed records (`bytes.len()` a multiple of
/// [`PACKED_RECORD`]); the same checks as the serde path.
fn unpack(
    bytes: &[u8],
    variants: usize,
    flags_allowed: bool,
    density: Density,
) -> Result<KeyTable, RestoreError> {
    if !bytes.len().is_multiple_of(PACKED_RECORD) {
        return Err(RestoreError::Corrupt("table length"));
    }
    let n = bytes.len() / PACKED_RECORD;
    let mut t = if n == 0 {
        KeyTable::new(density)
    } else {
        KeyTable::with_capacity(n, density)
    };
    for chunk in bytes.chunks_exact(PACKED_RECORD) {
        let mut key = [0u8; 16];
        key.copy_from_slice(&chunk[..16]);
        let word = |i: usize| crate::wire::u32_le(chunk, i);
        insert_unique(
            &mut t,
            checked(key, word(16), word(20), variants, flags_allowed)?,
        )?;
    }
    Ok(t)
}

impl Attribution {
    /// The snapshot without the table records (everything but exposures,
    /// unique clickers and seen ids), for the packed binary state.
    pub(crate) fn snapshot_meta(&self) -> AttributionSnapshot {
        let mut s = self.snapshot_with(|_| Vec::new());
        s.format_version = AttributionSnapshot::FORMAT_VERSION;
        s
    }

    fn snapshot_with(&self, dump_table: impl Fn(&KeyTable) -> Vec<SnapRec>) -> AttributionSnapshot {
        AttributionSnapshot {
            format_version: AttributionSnapshot::FORMAT_VERSION,
            watermark: self.watermark,
            clicks: self.global.clicks,
            opens: self.global.opens,
            machine_opens: self.global.machine_opens,
            events: self.global.events.iter().map(|(k, v)| (*k, *v)).collect(),
            experiments: self
                .experiments
                .iter()
                .map(|e| ExperimentSnapshot {
                    id: e.id.clone(),
                    config: e.config.clone(),
                    variants: e.variants.clone(),
                    stats: e.stats.clone(),
                    counters: e.counters,
                    exposures: dump_table(&e.exposures),
                    clickers: dump_table(&e.clickers),
                    seen: dump_table(&e.seen),
                })
                .collect(),
            pending: self.pending.iter().cloned().collect(),
            outcomes: self.global.outcomes,
        }
    }

    /// Appends the record tables, three per experiment in order (exposures,
    /// unique clickers, seen ids), each as a little-endian `u64` record count
    /// followed by its packed records.
    pub(crate) fn pack_tables(&self, out: &mut Vec<u8>) {
        for e in &self.experiments {
            for t in [&e.exposures, &e.clickers, &e.seen] {
                out.extend_from_slice(&(t.len() as u64).to_le_bytes());
                pack(t, out);
            }
        }
    }

    /// Tracked records over all tables (what [`pack_tables`](Self::pack_tables) writes).
    pub(crate) fn packed_records(&self) -> usize {
        self.experiments
            .iter()
            .map(|e| e.exposures.len() + e.clickers.len() + e.seen.len())
            .sum()
    }

    /// Restores from a snapshot without table records plus the packed
    /// tables, three per experiment (exposures, unique clickers, seen ids).
    pub(crate) fn restore_packed(
        meta: AttributionSnapshot,
        tables: &[&[u8]],
    ) -> Result<Attribution, RestoreError> {
        if meta
            .experiments
            .iter()
            .any(|e| !(e.exposures.is_empty() && e.clickers.is_empty() && e.seen.is_empty()))
        {
            return Err(RestoreError::Corrupt("records outside the packed tables"));
        }
        if tables.len() != meta.experiments.len() * 3 {
            return Err(RestoreError::Corrupt("table count"));
        }
        let mut a = Attribution::restore(meta)?;
        for (exp, t) in a.experiments.iter_mut().zip(tables.chunks_exact(3)) {
            let n = exp.variants.len();
            exp.exposures = unpack(t[0], n, true, Density::Compact)?;
            exp.clickers = unpack(t[1], n, true, Density::Fast)?;
            exp.seen = unpack(t[2], n, false, Density::Fast)?;
        }
        Ok(a)
    }
}
