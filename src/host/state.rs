//! The host's durable state: one compact binary snapshot (and JSON for small
//! states and debugging).
//!
//! # Binary format (version 1), little-endian
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `DYNOPTHS` |
//! | 4 | format version ([`STATE_FORMAT_VERSION`]) |
//! | 4 | reserved (0) |
//! | 8 | `m`: length of the metadata |
//! | m | metadata, JSON: definitions, optimiser snapshot, attribution snapshot without its record tables, processed files, applied journal sequence numbers, allocation version |
//! | 8 + 24 × n, per table | three tables per experiment (exposures, unique clickers, seen event ids), each a record count `n` then `n` packed records: 16-byte key, record word, time in UNIX seconds (`u32` each) |
//! | 4 | CRC-32 (IEEE) of everything before |
//!
//! Every length is checked against the bytes present before anything is
//! allocated, so a corrupt length cannot ask for memory the input does not
//! hold; the checksum is checked first, so a flipped bit or a truncation is
//! [`RestoreError::Corrupt`], never a panic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ExperimentDef, Host, MAX_VERSIONS, Shares};
use crate::attribution::{Attribution, AttributionSnapshot};
use crate::currents::ObjectKey;
use crate::optimiser::{Optimiser, OptimiserSnapshot};
use crate::snapshot::{self as shared, RestoreError};

/// The binary state format this build writes and reads.
pub const STATE_FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 8] = b"DYNOPTHS";
const RECORD: usize = 24;

#[derive(Serialize, Deserialize)]
struct Meta {
    format_version: u32,
    replica: u32,
    allocation_version: u64,
    experiments: Vec<ExperimentDef>,
    /// Processed Currents files: key path and the time it is forgotten after.
    processed: Vec<(String, i64)>,
    /// Per replica, the last journal sequence number applied.
    applied: Vec<(u32, u64)>,
    optimiser: OptimiserSnapshot,
    attribution: AttributionSnapshot,
    /// Per allocation version, every experiment's shares.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    versions: Vec<(u64, Shares)>,
}

fn corrupt(what: &'static str) -> RestoreError {
    RestoreError::Corrupt(what)
}

impl Host {
    fn meta(&self, attribution: AttributionSnapshot) -> Meta {
        Meta {
            format_version: STATE_FORMAT_VERSION,
            replica: self.replica,
            allocation_version: self.allocation_version,
            experiments: self.defs.values().cloned().collect(),
            processed: self
                .processed
                .iter()
                .map(|(k, t)| (k.path.clone(), *t))
                .collect(),
            applied: self.applied.iter().map(|(r, s)| (*r, *s)).collect(),
            optimiser: self.optimiser.snapshot(),
            attribution,
            versions: self.versions.iter().map(|(v, s)| (*v, s.clone())).collect(),
        }
    }

    fn from_meta(meta: Meta, attribution: Attribution) -> Result<Host, RestoreError> {
        shared::check_version(meta.format_version, STATE_FORMAT_VERSION)?;
        let optimiser = Optimiser::restore(meta.optimiser)?;
        let mut defs = BTreeMap::new();
        for d in meta.experiments {
            let (Some(o), true) = (
                optimiser.experiment(&d.id),
                attribution.experiments().any(|(id, _)| *id == d.id),
            ) else {
                return Err(corrupt("definition without its experiment"));
            };
            if o.variants().count() != d.variants.len()
                || o.variants()
                    .zip(&d.variants)
                    .any(|((_, label, _), v)| label != v.label)
            {
                return Err(corrupt("definition variants disagree with the optimiser"));
            }
            if defs.insert(d.id.clone(), d).is_some() {
                return Err(corrupt("duplicate definition"));
            }
        }
        if optimiser.experiments().count() != defs.len()
            || attribution.experiments().count() != defs.len()
        {
            return Err(corrupt("experiment without a definition"));
        }
        let mut processed = BTreeMap::new();
        for (path, t) in meta.processed {
            let key = ObjectKey::parse(&path).map_err(|_| corrupt("processed file key"))?;
            processed.insert(key, t);
        }
        let mut applied = BTreeMap::new();
        for (r, s) in meta.applied {
            if applied.insert(r, s).is_some() {
                return Err(corrupt("duplicate replica"));
            }
        }
        if meta.versions.len() > MAX_VERSIONS {
            return Err(corrupt("too many allocation versions"));
        }
        let mut versions = BTreeMap::new();
        for (v, shares) in meta.versions {
            let valid = v <= meta.allocation_version
                && shares
                    .values()
                    .flatten()
                    .all(|(_, s)| s.is_finite() && (0.0..=1.0).contains(s));
            if !valid || versions.insert(v, shares).is_some() {
                return Err(corrupt("allocation version history"));
            }
        }
        let mut host = Host::new();
        host.versions = versions;
        host.defs = defs;
        host.optimiser = optimiser;
        host.attribution = attribution;
        host.processed = processed;
        host.applied = applied;
        host.replica = meta.replica;
        host.allocation_version = meta.allocation_version;
        Ok(host)
    }

    /// The whole state in the compact binary format (see
    /// [`STATE_FORMAT_VERSION`]): 24 bytes per tracked exposure plus a small
    /// metadata block. Filter and decode options are configuration, not state.
    pub fn snapshot(&self) -> Vec<u8> {
        let meta = shared::to_json(&self.meta(self.attribution.snapshot_meta()));
        let records = self.attribution.packed_records();
        let tables = self.attribution.experiments().count() * 3;
        let mut out = Vec::with_capacity(40 + meta.len() + tables * 8 + records * RECORD);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&STATE_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(meta.len() as u64).to_le_bytes());
        out.extend_from_slice(&meta);
        self.attribution.pack_tables(&mut out);
        let sum = crc32fast::hash(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Restores a [`snapshot`](Self::snapshot). Garbage, truncation, a
    /// flipped bit or another format version is a typed error, never a
    /// panic. The restored host uses the default filter and decode options
    /// (give yours again with [`with_filter`](Self::with_filter)).
    pub fn restore(bytes: &[u8]) -> Result<Host, RestoreError> {
        if bytes.len() < 32 || &bytes[..8] != MAGIC {
            return Err(corrupt("not a dynopt host state"));
        }
        let word = |i: usize| crate::wire::u32_le(bytes, i);
        shared::check_version(word(8), STATE_FORMAT_VERSION)?;
        let (body, sum) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body) != crate::wire::u32_le(sum, 0) {
            return Err(corrupt("checksum mismatch (truncated or damaged)"));
        }
        if word(12) != 0 {
            return Err(corrupt("reserved bits set"));
        }
        let mut at = 16;
        let take_len = |at: &mut usize| -> Result<usize, RestoreError> {
            let b = body.get(*at..*at + 8).ok_or(corrupt("truncated"))?;
            *at += 8;
            usize::try_from(crate::wire::u64_le(b, 0)).map_err(|_| corrupt("length out of range"))
        };
        let m = take_len(&mut at)?;
        let meta_bytes = body
            .get(at..at.checked_add(m).ok_or(corrupt("length out of range"))?)
            .ok_or(corrupt("metadata length"))?;
        at += m;
        let meta: Meta = shared::from_json_checked(meta_bytes, STATE_FORMAT_VERSION)?;
        let n_tables = meta.attribution_experiments() * 3;
        let mut tables: Vec<&[u8]> = Vec::with_capacity(n_tables.min(body.len() / 8));
        for _ in 0..n_tables {
            let n = take_len(&mut at)?;
            let len = n.checked_mul(RECORD).ok_or(corrupt("table length"))?;
            let end = at.checked_add(len).ok_or(corrupt("table length"))?;
            tables.push(body.get(at..end).ok_or(corrupt("table length"))?);
            at = end;
        }
        if at != body.len() {
            return Err(corrupt("trailing bytes"));
        }
        let Meta {
            attribution: attr_meta,
            ..
        } = &meta;
        let attribution = Attribution::restore_packed(attr_meta.clone(), &tables)?;
        Host::from_meta(meta, attribution)
    }

    /// The whole state as JSON (for small states and debugging): the same
    /// content as [`snapshot`](Self::snapshot), record tables included.
    pub fn to_json(&self) -> Vec<u8> {
        shared::to_json(&self.meta(self.attribution.snapshot()))
    }

    /// Restores a state from [`to_json`](Self::to_json).
    pub fn from_json(bytes: &[u8]) -> Result<Host, RestoreError> {
        let meta: Meta = shared::from_json_checked(bytes, STATE_FORMAT_VERSION)?;
        let attribution = Attribution::restore(meta.attribution.clone())?;
        Host::from_meta(meta, attribution)
    }
}

impl Meta {
    fn attribution_experiments(&self) -> usize {
        self.attribution.experiment_count()
    }
}
