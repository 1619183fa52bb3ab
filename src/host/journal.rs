//! The exposure journal: append-only, checksummed records of the exposures
//! served, so that a crash between two snapshots loses none.
//!
//! # Record format (version 1)
//!
//! Every record is self-delimiting, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | `len`: bytes after this field and the checksum (payload length) |
//! | 4 | CRC-32 (IEEE) of the payload |
//! | 1 | record format version (1) |
//! | 1 | kind (1: exposure) |
//! | 2 | reserved (0) |
//! | 4 | replica id |
//! | 8 | sequence number (per replica, increasing) |
//! | 8 | exposure time, UNIX seconds |
//! | 8 | allocation version served from |
//! | 4 | variant id |
//! | 16 | recipient key |
//! | 2 | experiment id length `n` (at most [`MAX_EXPERIMENT_ID`]) |
//! | n | experiment id, UTF-8 |
//!
//! A segment is records back to back. Decoding stops at the first record
//! that is incomplete or fails its checksum: after a crash that is the torn
//! tail, which is reported and ignored ([`Segment::valid_len`] says where the
//! host may truncate and append again).

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::vocab::{ExperimentId, RecipientKey, VariantId};
use crate::wire::{u32_le as u32_at, u64_le as u64_at};

/// Longest experiment id a journal record carries (bytes of UTF-8).
pub const MAX_EXPERIMENT_ID: usize = 1024;

const VERSION: u8 = 1;
const KIND_EXPOSURE: u8 = 1;
/// Payload bytes before the experiment id.
const FIXED: usize = 1 + 1 + 2 + 4 + 8 + 8 + 8 + 4 + 16 + 2;

/// One served exposure, as a serving replica emits it and the learner
/// applies it: what [`Update::Exposure`](crate::Update::Exposure) says plus
/// the recipient key (attribution joins clicks on it) and the version of the
/// allocation it was served from (so the assignment probability is known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExposureRecord {
    /// The experiment.
    pub experiment: ExperimentId,
    /// The pseudonymous recipient key.
    pub recipient_key: RecipientKey,
    /// The variant served.
    pub variant: VariantId,
    /// When it was served (second precision).
    pub at: DateTime<Utc>,
    /// The version of the [`Allocation`](super::Allocation) it was served from.
    pub allocation_version: u64,
}

/// An [`ExposureRecord`] with its place in a replica's journal: the learner
/// applies each `(replica, seq)` once and skips any sequence number at or
/// below the last one it applied for that replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// The replica that served it.
    pub replica: u32,
    /// Its sequence number in that replica's journal (from 1, increasing).
    pub seq: u64,
    /// The exposure.
    pub record: ExposureRecord,
}

impl JournalEntry {
    /// Appends the entry as one journal record. An experiment id longer than
    /// [`MAX_EXPERIMENT_ID`] bytes is refused (`false`, nothing written).
    pub fn encode(&self, out: &mut Vec<u8>) -> bool {
        let id = self.record.experiment.as_str().as_bytes();
        if id.len() > MAX_EXPERIMENT_ID {
            return false;
        }
        let len = FIXED + id.len();
        let start = out.len();
        out.reserve(8 + len);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&[VERSION, KIND_EXPOSURE, 0, 0]);
        out.extend_from_slice(&self.replica.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.record.at.timestamp().to_le_bytes());
        out.extend_from_slice(&self.record.allocation_version.to_le_bytes());
        out.extend_from_slice(&self.record.variant.0.to_le_bytes());
        out.extend_from_slice(self.record.recipient_key.as_bytes());
        out.extend_from_slice(&(id.len() as u16).to_le_bytes());
        out.extend_from_slice(id);
        let sum = crc32fast::hash(&out[start + 8..]);
        out[start + 4..start + 8].copy_from_slice(&sum.to_le_bytes());
        true
    }
}

/// What [`decode_segment`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Segment {
    /// The complete, valid records, in order.
    pub entries: Vec<JournalEntry>,
    /// Bytes of the segment those records span: a host that appends to this
    /// segment again truncates it here first.
    pub valid_len: usize,
    /// Bytes after `valid_len` were ignored (a torn or corrupt tail).
    pub torn_tail: bool,
}

/// One record at the start of `bytes`: the entry and its length, or `None`
/// when it is incomplete, fails its checksum or is not a valid record.
fn decode_one(bytes: &[u8]) -> Option<(JournalEntry, usize)> {
    if bytes.len() < 8 {
        return None;
    }
    let len = u32_at(bytes, 0) as usize;
    if !(FIXED..=FIXED + MAX_EXPERIMENT_ID).contains(&len) || bytes.len() - 8 < len {
        return None;
    }
    let p = &bytes[8..8 + len];
    if crc32fast::hash(p) != u32_at(bytes, 4) {
        return None;
    }
    if p[0] != VERSION || p[1] != KIND_EXPOSURE || p[2] != 0 || p[3] != 0 {
        return None;
    }
    let replica = u32_at(p, 4);
    let seq = u64_at(p, 8);
    let at = DateTime::from_timestamp(u64_at(p, 16) as i64, 0)?;
    let allocation_version = u64_at(p, 24);
    let variant = VariantId(u32_at(p, 32));
    let mut key = [0u8; 16];
    key.copy_from_slice(&p[36..52]);
    let n = usize::from(u16::from_le_bytes([p[52], p[53]]));
    if FIXED + n != len {
        return None;
    }
    let id = std::str::from_utf8(&p[FIXED..]).ok()?;
    Some((
        JournalEntry {
            replica,
            seq,
            record: ExposureRecord {
                experiment: ExperimentId::new(id),
                recipient_key: RecipientKey(key),
                variant,
                at,
                allocation_version,
            },
        },
        8 + len,
    ))
}

/// Decodes a journal segment. Never fails and never panics: decoding stops at
/// the first incomplete or invalid record ([`Segment::torn_tail`]).
///
/// ```
/// use chrono::DateTime;
/// use dynopt::host::{decode_segment, ExposureRecord, JournalEntry};
/// use dynopt::{ExperimentId, RecipientKey, VariantId};
///
/// let entry = JournalEntry {
///     replica: 2,
///     seq: 1,
///     record: ExposureRecord {
///         experiment: ExperimentId::new("subject"),
///         recipient_key: RecipientKey([7; 16]),
///         variant: VariantId(1),
///         at: DateTime::from_timestamp(1_770_000_000, 0).expect("in range"),
///         allocation_version: 3,
///     },
/// };
/// let mut segment = Vec::new();
/// assert!(entry.encode(&mut segment));
/// let whole = segment.len();
/// segment.extend_from_slice(&[0x41, 0, 0]); // a crash mid-append
/// let read = decode_segment(&segment);
/// assert_eq!(read.entries, [entry]);
/// assert_eq!((read.valid_len, read.torn_tail), (whole, true));
/// ```
pub fn decode_segment(bytes: &[u8]) -> Segment {
    let mut it = SegmentReader::new(bytes);
    let entries = it.by_ref().collect();
    Segment {
        entries,
        valid_len: it.valid_len(),
        torn_tail: it.torn_tail(),
    }
}

/// Reads a journal segment one entry at a time (what [`decode_segment`]
/// collects), so a large segment is replayed without holding every entry.
///
/// ```
/// use dynopt::host::SegmentReader;
/// let mut reader = SegmentReader::new(&[1, 2, 3]);
/// assert_eq!(reader.next(), None);
/// assert_eq!((reader.valid_len(), reader.torn_tail()), (0, true));
/// ```
#[derive(Clone, Debug)]
pub struct SegmentReader<'a> {
    bytes: &'a [u8],
    at: usize,
    torn: bool,
}

impl<'a> SegmentReader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> SegmentReader<'a> {
        SegmentReader {
            bytes,
            at: 0,
            torn: false,
        }
    }

    /// Bytes of the valid records read so far.
    pub fn valid_len(&self) -> usize {
        self.at
    }

    /// Whether reading stopped at an incomplete or invalid record.
    pub fn torn_tail(&self) -> bool {
        self.torn
    }
}

impl Iterator for SegmentReader<'_> {
    type Item = JournalEntry;

    fn next(&mut self) -> Option<JournalEntry> {
        if self.torn || self.at >= self.bytes.len() {
            return None;
        }
        match decode_one(&self.bytes[self.at..]) {
            Some((e, n)) => {
                self.at += n;
                Some(e)
            }
            None => {
                self.torn = true;
                None
            }
        }
    }
}

/// Where a host keeps its journal: files, an object store, a Kafka-compatible
/// log or NATS JetStream. The library only produces the record bytes; the
/// host's implementation makes them durable (and says when they are).
pub trait Journal {
    /// Why an append failed.
    type Error;
    /// Appends one encoded record ([`JournalEntry::encode`]).
    fn append(&mut self, record: &[u8]) -> Result<(), Self::Error>;
}

/// An in-memory journal segment (tests, or a buffer the host flushes).
impl Journal for Vec<u8> {
    type Error = std::convert::Infallible;
    fn append(&mut self, record: &[u8]) -> Result<(), Self::Error> {
        self.extend_from_slice(record);
        Ok(())
    }
}

/// Numbers a serving replica's exposures: `Send + Sync`, so concurrent
/// handlers share one through `&self`.
#[derive(Debug)]
pub struct Sequencer {
    replica: u32,
    last: AtomicU64,
}

impl Sequencer {
    /// A sequencer for `replica` whose journal already holds sequence numbers
    /// up to `last` (0 for a new journal).
    pub fn new(replica: u32, last: u64) -> Sequencer {
        Sequencer {
            replica,
            last: AtomicU64::new(last),
        }
    }

    /// The replica id.
    pub fn replica(&self) -> u32 {
        self.replica
    }

    /// The last sequence number handed out.
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    /// The record with the next sequence number.
    pub fn entry(&self, record: ExposureRecord) -> JournalEntry {
        let seq = self.last.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        JournalEntry {
            replica: self.replica,
            seq,
            record,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(i: u64) -> JournalEntry {
        JournalEntry {
            replica: (i % 3) as u32,
            seq: i + 1,
            record: ExposureRecord {
                experiment: ExperimentId::new(format!("exp-{}", i % 5)),
                recipient_key: RecipientKey([(i % 251) as u8; 16]),
                variant: VariantId((i % 7) as u32),
                at: DateTime::from_timestamp(1_770_000_000 + i as i64, 0).expect("in range"),
                allocation_version: i / 10,
            },
        }
    }

    fn segment(n: u64) -> (Vec<u8>, Vec<JournalEntry>) {
        let entries: Vec<JournalEntry> = (0..n).map(entry).collect();
        let mut bytes = Vec::new();
        for e in &entries {
            assert!(e.encode(&mut bytes));
        }
        (bytes, entries)
    }

    #[test]
    fn round_trip_and_every_truncation() {
        let (bytes, entries) = segment(20);
        let all = decode_segment(&bytes);
        assert_eq!(all.entries, entries);
        assert!(!all.torn_tail);
        assert_eq!(all.valid_len, bytes.len());
        for cut in 0..bytes.len() {
            let s = decode_segment(&bytes[..cut]);
            assert!(s.valid_len <= cut);
            assert_eq!(s.torn_tail, s.valid_len < cut);
            assert_eq!(s.entries[..], entries[..s.entries.len()]);
            // Every complete record before the cut is read.
            let mut whole = Vec::new();
            for e in &entries[..s.entries.len()] {
                e.encode(&mut whole);
            }
            assert_eq!(whole.len(), s.valid_len);
            let mut next = whole.clone();
            if s.entries.len() < entries.len() {
                entries[s.entries.len()].encode(&mut next);
                assert!(
                    next.len() > cut,
                    "a complete record was dropped at cut {cut}"
                );
            }
        }
    }

    #[test]
    fn long_ids_are_refused() {
        let mut e = entry(1);
        e.record.experiment = ExperimentId::new("x".repeat(MAX_EXPERIMENT_ID + 1));
        let mut out = Vec::new();
        assert!(!e.encode(&mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn sequencer_counts_from_last() {
        let s = Sequencer::new(4, 10);
        assert_eq!(s.entry(entry(0).record).seq, 11);
        assert_eq!(s.entry(entry(0).record).seq, 12);
        assert_eq!((s.last(), s.replica()), (12, 4));
    }

    proptest! {
        #[test]
        fn a_bit_flip_never_yields_a_wrong_record(n in 1u64..8, bit in any::<usize>()) {
            let (mut bytes, entries) = segment(n);
            let bit = bit % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            let s = decode_segment(&bytes);
            prop_assert!(s.torn_tail);
            prop_assert!(s.entries.len() < entries.len());
            prop_assert_eq!(&s.entries[..], &entries[..s.entries.len()]);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let s = decode_segment(&bytes);
            prop_assert!(s.valid_len <= bytes.len());
        }
    }
}
