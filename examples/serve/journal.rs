//! The exposure journal: every exposure is appended to a local segment file
//! before the Connected Content answer goes out, group-committed by one
//! writer thread. Sealed segments are uploaded to the object store
//! (`state/journal/<replica>/<segment>.log`) by the uploader.
//!
//! A record is one line, `<experiment>\t<recipient key hex>\t<variant>\t<UNIX ms>\n`:
//! the recipient key is the pseudonymous HMAC prefix, never a personal value.
//! A line without its newline is a torn write of a record that was never
//! acknowledged, and is dropped on recovery.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dynopt::{ExperimentId, RecipientKey, VariantId};
use tokio::sync::{mpsc, oneshot};

use crate::learner::LearnerMsg;
use crate::uploader::Upload;

/// Where a record sits in a replica's journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    pub(crate) segment: u64,
    pub(crate) record: u64,
}

/// One served exposure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExposureRecord {
    pub(crate) experiment: ExperimentId,
    pub(crate) recipient: RecipientKey,
    pub(crate) variant: VariantId,
    pub(crate) at: DateTime<Utc>,
}

impl ExposureRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.experiment.as_str().as_bytes());
        out.push(b'\t');
        out.extend_from_slice(&self.recipient.to_hex());
        let _ = writeln!(out, "\t{}\t{}", self.variant.0, self.at.timestamp_millis());
    }

    fn decode(line: &[u8]) -> Option<ExposureRecord> {
        let line = std::str::from_utf8(line).ok()?;
        let mut f = line.split('\t');
        let experiment = ExperimentId::new(f.next()?);
        let recipient = RecipientKey::from_hex(f.next()?).ok()?;
        let variant = VariantId(f.next()?.parse().ok()?);
        let at = DateTime::from_timestamp_millis(f.next()?.parse().ok()?)?;
        if f.next().is_some() {
            return None;
        }
        Some(ExposureRecord {
            experiment,
            recipient,
            variant,
            at,
        })
    }
}

/// A journal segment that does not parse.
#[derive(Debug)]
pub(crate) struct CorruptSegment {
    pub(crate) line: usize,
}

impl std::fmt::Display for CorruptSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed journal record on line {}", self.line + 1)
    }
}

impl std::error::Error for CorruptSegment {}

/// The complete records of a segment, and the byte length they take (a torn
/// last line is not part of it).
pub(crate) fn decode_segment(bytes: &[u8]) -> Result<(Vec<ExposureRecord>, usize), CorruptSegment> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let Some(body) = line.strip_suffix(b"\n") else {
            break; // torn tail: never acknowledged
        };
        out.push(ExposureRecord::decode(body).ok_or(CorruptSegment { line: i })?);
        start += line.len();
    }
    Ok((out, start))
}

/// The object key of a sealed segment.
pub(crate) fn segment_key(replica: &str, segment: u64) -> String {
    format!("state/journal/{replica}/{segment:020}.log")
}

/// The segment number of an object key written by [`segment_key`].
pub(crate) fn parse_segment_key(key: &str) -> Option<(String, u64)> {
    let rest = key.strip_prefix("state/journal/")?;
    let (replica, name) = rest.split_once('/')?;
    let seg = name.strip_suffix(".log")?.parse().ok()?;
    Some((replica.to_owned(), seg))
}

/// What the writer thread takes.
pub(crate) enum JournalMsg {
    /// Append; the answer says whether the record is durable.
    Record(ExposureRecord, oneshot::Sender<bool>),
    /// Seal the open segment and stop; answered once done.
    Close(oneshot::Sender<()>),
}

/// The writer's settings.
pub(crate) struct WriterConfig {
    pub(crate) spool: PathBuf,
    pub(crate) replica: Arc<str>,
    pub(crate) first_segment: u64,
    pub(crate) fsync: bool,
    pub(crate) roll_bytes: u64,
    pub(crate) roll_age: Duration,
}

/// The most records written with one `write`.
const MAX_BATCH: usize = 4096;

struct Open {
    segment: u64,
    file: File,
    path: PathBuf,
    bytes: u64,
    records: u64,
    opened: Instant,
}

fn open_segment(spool: &Path, segment: u64) -> std::io::Result<Open> {
    let path = spool.join(format!("{segment:020}.open"));
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    Ok(Open {
        segment,
        file,
        path,
        bytes: 0,
        records: 0,
        opened: Instant::now(),
    })
}

fn seal(open: Open, replica: &str, sealed: &mpsc::UnboundedSender<Upload>) -> std::io::Result<()> {
    open.file.sync_all()?;
    drop(open.file);
    if open.records == 0 {
        return fs::remove_file(&open.path);
    }
    let done = open.path.with_extension("log");
    fs::rename(&open.path, &done)?;
    let _ = sealed.send(Upload::Segment {
        replica: replica.to_owned(),
        segment: open.segment,
        path: done,
    });
    Ok(())
}

/// Runs the writer on its own thread: one `write` per batch of whatever is
/// queued (group commit), then the acknowledgements, then the records to the
/// learner in journal order.
pub(crate) fn spawn_writer(
    cfg: WriterConfig,
    mut rx: mpsc::Receiver<JournalMsg>,
    learner: std::sync::mpsc::Sender<LearnerMsg>,
    sealed: mpsc::UnboundedSender<Upload>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    fs::create_dir_all(&cfg.spool)?;
    let mut open = open_segment(&cfg.spool, cfg.first_segment)?;
    std::thread::Builder::new()
        .name("journal".into())
        .spawn(move || {
            let mut buf = Vec::with_capacity(1 << 16);
            let mut batch: Vec<ExposureRecord> = Vec::with_capacity(MAX_BATCH);
            let mut acks: Vec<oneshot::Sender<bool>> = Vec::with_capacity(MAX_BATCH);
            let mut close: Option<oneshot::Sender<()>> = None;
            while close.is_none() {
                let Some(first) = rx.blocking_recv() else {
                    break;
                };
                let mut next = Some(first);
                while let Some(msg) = next.take() {
                    match msg {
                        JournalMsg::Record(r, ack) => {
                            r.encode(&mut buf);
                            batch.push(r);
                            acks.push(ack);
                        }
                        JournalMsg::Close(done) => {
                            close = Some(done);
                            break;
                        }
                    }
                    if batch.len() < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if !batch.is_empty() {
                    let ok = open.file.write_all(&buf).is_ok()
                        && (!cfg.fsync || open.file.sync_data().is_ok());
                    if ok {
                        let first = open.records;
                        open.records += batch.len() as u64;
                        open.bytes += buf.len() as u64;
                        // The learner hears of the records before any client
                        // does: a report asked after an answer includes it.
                        let _ = learner.send(LearnerMsg::Exposures {
                            replica: cfg.replica.clone(),
                            segment: open.segment,
                            first,
                            records: std::mem::take(&mut batch),
                        });
                    } else {
                        // Cut a partial write off so the segment stays parseable.
                        let _ = open.file.set_len(open.bytes);
                        batch.clear();
                    }
                    for a in acks.drain(..) {
                        let _ = a.send(ok);
                    }
                    buf.clear();
                }
                if open.bytes >= cfg.roll_bytes
                    || (open.records > 0 && open.opened.elapsed() >= cfg.roll_age)
                {
                    let next_segment = open.segment + 1;
                    match open_segment(&cfg.spool, next_segment) {
                        Ok(fresh) => {
                            let old = std::mem::replace(&mut open, fresh);
                            if let Err(e) = seal(old, &cfg.replica, &sealed) {
                                eprintln!("serve: journal: sealing a segment: {e}");
                            }
                        }
                        Err(e) => eprintln!("serve: journal: opening a segment: {e}"),
                    }
                }
            }
            if let Err(e) = seal(open, &cfg.replica, &sealed) {
                eprintln!("serve: journal: sealing the last segment: {e}");
            }
            if let Some(done) = close {
                let _ = done.send(());
            }
        })
}

/// Segments left in the spool by an earlier run (sealed or not): each one
/// trimmed to its complete records, oldest first.
pub(crate) fn recover_spool(spool: &Path) -> std::io::Result<Vec<(u64, Vec<u8>, PathBuf)>> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir(spool) else {
        return Ok(out);
    };
    for entry in dir {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(seg) = name
            .strip_suffix(".open")
            .or_else(|| name.strip_suffix(".log"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let bytes = fs::read(&path)?;
        let keep = match decode_segment(&bytes) {
            Ok((_, len)) => len,
            Err(e) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                ));
            }
        };
        out.push((seg, bytes[..keep].to_vec(), path));
    }
    out.sort_by_key(|(s, _, _)| *s);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_tails_drop() {
        let r = ExposureRecord {
            experiment: ExperimentId::new("spring-subject"),
            recipient: RecipientKey([7; 16]),
            variant: VariantId(2),
            at: DateTime::from_timestamp_millis(1_764_000_000_123).expect("in range"),
        };
        let mut buf = Vec::new();
        r.encode(&mut buf);
        r.encode(&mut buf);
        let whole = buf.len();
        buf.extend_from_slice(b"spring-subject\t0707");
        let (records, len) = decode_segment(&buf).expect("parses");
        assert_eq!(records, vec![r.clone(), r]);
        assert_eq!(len, whole);
        assert!(decode_segment(b"x\ty\n").is_err());
        assert_eq!(
            parse_segment_key(&segment_key("r0", 12)),
            Some(("r0".into(), 12))
        );
    }
}
