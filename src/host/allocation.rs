//! The published allocation: what serving replicas read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::def::VariantDef;
use super::journal::ExposureRecord;
use super::{HostError, ServedVariant};
use crate::attribution::Tag;
use crate::optimiser::assign_point;
use crate::snapshot::{self as shared, RestoreError};
use crate::vocab::{ExperimentId, RecipientKey, VariantId};

/// One experiment's part of an [`Allocation`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ExperimentAllocation {
    /// The assignment key derived from the salt and the experiment id.
    k0: u64,
    k1: u64,
    /// Slice starts on `[0, 2^64)` and the variant owning each slice.
    starts: Vec<u64>,
    owners: Vec<VariantId>,
    /// Active variants' shares, in id order.
    shares: Vec<(VariantId, f64)>,
    /// Every variant's definition, by id (`variants[i]` is `VariantId(i)`).
    variants: Vec<VariantDef>,
}

/// An immutable, versioned allocation of a set of experiments: the
/// learner publishes it ([`Host::publish`](super::Host::publish)) and
/// serving handlers read it without a lock (the host swaps an
/// `Arc<Allocation>`; the type is `Send + Sync` and serving needs `&self`).
///
/// It holds, per experiment, the serving layout (a few hundred bytes), the
/// shares, and the variants' labels and parts: a few KB. Serving from it
/// gives the same variant as the learner's [`Host::serve`](super::Host::serve)
/// for a recipient not yet exposed, and an [`ExposureRecord`] carrying
/// [`version`](Self::version), so the probability each exposure was
/// assigned with is known exactly ([`share`](Self::share) of that version;
/// the learner keeps it as [`Host::propensity`](super::Host::propensity)).
///
/// It carries each experiment's assignment key (derived from the salt):
/// anyone holding it can compute every recipient's variant, so publish it
/// where only the serving replicas read it, as the salt itself.
///
/// A replica cannot see earlier exposures: a re-render served from a newer
/// version may show another variant than the first render; the learner
/// counts the first exposure only (attribution keeps the first variant).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    format_version: u32,
    version: u64,
    experiments: BTreeMap<ExperimentId, ExperimentAllocation>,
}

const FORMAT_VERSION: u32 = 1;

impl Allocation {
    pub(crate) fn new(version: u64) -> Allocation {
        Allocation {
            format_version: FORMAT_VERSION,
            version,
            experiments: BTreeMap::new(),
        }
    }

    pub(crate) fn insert(
        &mut self,
        id: ExperimentId,
        (k0, k1, starts, owners): (u64, u64, &[u64], &[VariantId]),
        shares: Vec<(VariantId, f64)>,
        variants: Vec<VariantDef>,
    ) {
        self.experiments.insert(
            id,
            ExperimentAllocation {
                k0,
                k1,
                starts: starts.to_vec(),
                owners: owners.to_vec(),
                shares,
                variants,
            },
        );
    }

    /// The version: it grows with every change of any experiment's allocation.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The experiments, in id order.
    pub fn experiments(&self) -> impl Iterator<Item = &ExperimentId> + '_ {
        self.experiments.keys()
    }

    fn get(&self, experiment: &ExperimentId) -> Result<&ExperimentAllocation, HostError> {
        self.experiments
            .get(experiment)
            .ok_or_else(|| HostError::UnknownExperiment(experiment.clone()))
    }

    /// The variant `recipient` is assigned under this allocation (sticky:
    /// the same as the learner's optimiser assigns with the same allocation).
    #[inline]
    pub fn assign(
        &self,
        experiment: &ExperimentId,
        recipient: &RecipientKey,
    ) -> Result<VariantId, HostError> {
        let e = self.get(experiment)?;
        let h = assign_point(e.k0, e.k1, recipient.as_bytes());
        let j = e.starts.partition_point(|&s| s <= h);
        j.checked_sub(1)
            .and_then(|j| e.owners.get(j))
            .copied()
            .ok_or(HostError::NoActiveVariant(experiment.clone()))
    }

    /// Serves `recipient` at `now`: the variant, its label and parts, the
    /// link tag, and the exposure record for the journal (number it with a
    /// [`Sequencer`](super::Sequencer)).
    pub fn serve(
        &self,
        experiment: &ExperimentId,
        recipient: RecipientKey,
        now: DateTime<Utc>,
    ) -> Result<(ServedVariant<'_>, ExposureRecord), HostError> {
        let variant = self.assign(experiment, &recipient)?;
        let e = self.get(experiment)?;
        let def = e
            .variants
            .get(variant.0 as usize)
            .ok_or(HostError::NoActiveVariant(experiment.clone()))?;
        let at = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        Ok((
            ServedVariant {
                variant,
                label: &def.label,
                parts: &def.parts,
                tag: Tag {
                    variant,
                    served_at: Some(at),
                },
                repeat: false,
                allocation_version: self.version,
            },
            ExposureRecord {
                experiment: experiment.clone(),
                recipient_key: recipient,
                variant,
                at,
                allocation_version: self.version,
            },
        ))
    }

    /// A variant's definition (label and parts).
    pub fn variant(&self, experiment: &ExperimentId, variant: VariantId) -> Option<&VariantDef> {
        self.experiments
            .get(experiment)?
            .variants
            .get(variant.0 as usize)
    }

    /// A variant's label.
    pub fn label(&self, experiment: &ExperimentId, variant: VariantId) -> Option<&str> {
        self.variant(experiment, variant).map(|v| v.label.as_str())
    }

    /// The probability this allocation assigns `variant` (its share; 0 for a
    /// retired variant), or `None` for an unknown experiment or variant.
    pub fn share(&self, experiment: &ExperimentId, variant: VariantId) -> Option<f64> {
        let e = self.experiments.get(experiment)?;
        if variant.0 as usize >= e.variants.len() {
            return None;
        }
        Some(
            e.shares
                .iter()
                .find(|(v, _)| *v == variant)
                .map_or(0.0, |(_, s)| *s),
        )
    }

    /// The allocation as JSON, to send to replicas.
    pub fn to_json(&self) -> Vec<u8> {
        shared::to_json(self)
    }

    /// Parses and checks an allocation from [`to_json`](Self::to_json).
    pub fn from_json(bytes: &[u8]) -> Result<Allocation, RestoreError> {
        let a: Allocation = shared::from_json_checked(bytes, FORMAT_VERSION)?;
        for e in a.experiments.values() {
            let valid = e.starts.first() == Some(&0)
                && e.starts.windows(2).all(|w| w[0] < w[1])
                && e.starts.len() == e.owners.len()
                && e.owners.iter().all(|v| (v.0 as usize) < e.variants.len())
                && e.shares.iter().all(|(v, s)| {
                    (v.0 as usize) < e.variants.len() && s.is_finite() && (0.0..=1.0).contains(s)
                });
            if !(valid || (e.starts.is_empty() && e.owners.is_empty())) {
                return Err(RestoreError::Corrupt("allocation layout"));
            }
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Allocation>();
        check::<std::sync::Arc<Allocation>>();
        check::<super::super::Host>();
        check::<super::super::Sequencer>();
    }
}
