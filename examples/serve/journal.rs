//! The exposure journal: every exposure is appended to a local segment file
//! before the Connected Content answer goes out, group-committed by one
//! writer thread that also numbers the records (one sequence per replica, in
//! the order they are written, so the learner's "apply each sequence number
//! once" holds). Sealed segments are uploaded to the object store
//! (`state/journal/<replica>/<first sequence number>.log`) by the uploader.
//!
//! Records are the library's journal records (`dynopt::host::JournalEntry`,
//! checksummed, length-prefixed); they hold the pseudonymous recipient key,
//! never a personal value. A torn tail after a crash is a record that was
//! never acknowledged: recovery cuts it off.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dynopt::host::{ExposureRecord, JournalEntry, Sequencer, decode_segment};
use tokio::sync::{mpsc, oneshot};

use crate::learner::LearnerMsg;
use crate::uploader::Upload;

/// The object key of a sealed segment whose first record has sequence number `first`.
pub(crate) fn segment_key(replica: u32, first: u64) -> String {
    format!("state/journal/{replica}/{first:020}.log")
}

/// The replica and first sequence number of a key written by [`segment_key`].
pub(crate) fn parse_segment_key(key: &str) -> Option<(u32, u64)> {
    let rest = key.strip_prefix("state/journal/")?;
    let (replica, name) = rest.split_once('/')?;
    let first = name.strip_suffix(".log")?.parse().ok()?;
    Some((replica.parse().ok()?, first))
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
    /// Numbers the records; starts after the last sequence number in the store.
    pub(crate) sequencer: Sequencer,
    pub(crate) fsync: bool,
    pub(crate) roll_bytes: u64,
    pub(crate) roll_age: Duration,
}

/// The most records written with one `write`.
const MAX_BATCH: usize = 4096;

struct Open {
    /// The sequence number of its first record.
    first: u64,
    file: File,
    path: PathBuf,
    bytes: u64,
    records: u64,
    opened: Instant,
}

fn open_segment(spool: &Path, first: u64) -> std::io::Result<Open> {
    let path = spool.join(format!("{first:020}.open"));
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    Ok(Open {
        first,
        file,
        path,
        bytes: 0,
        records: 0,
        opened: Instant::now(),
    })
}

fn seal(open: Open, replica: u32, sealed: &mpsc::UnboundedSender<Upload>) -> std::io::Result<()> {
    open.file.sync_all()?;
    drop(open.file);
    if open.records == 0 {
        return fs::remove_file(&open.path);
    }
    let done = open.path.with_extension("log");
    fs::rename(&open.path, &done)?;
    let _ = sealed.send(Upload::Segment {
        replica,
        first: open.first,
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
    let replica = cfg.sequencer.replica();
    let mut open = open_segment(&cfg.spool, cfg.sequencer.last() + 1)?;
    std::thread::Builder::new()
        .name("journal".into())
        .spawn(move || {
            let mut buf = Vec::with_capacity(1 << 16);
            let mut batch: Vec<JournalEntry> = Vec::with_capacity(MAX_BATCH);
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
                            let entry = cfg.sequencer.entry(r);
                            if entry.encode(&mut buf) {
                                batch.push(entry);
                                acks.push(ack);
                            } else {
                                // An experiment id too long to journal: refused.
                                let _ = ack.send(false);
                            }
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
                        open.records += batch.len() as u64;
                        open.bytes += buf.len() as u64;
                        // The learner hears of the records before any client
                        // does: a report asked after an answer includes them.
                        let _ = learner.send(LearnerMsg::Exposures(std::mem::take(&mut batch)));
                    } else {
                        // Cut a partial write off so the segment stays parseable.
                        // The numbers handed out are skipped: the learner only
                        // needs them increasing, not contiguous.
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
                    match open_segment(&cfg.spool, cfg.sequencer.last() + 1) {
                        Ok(fresh) => {
                            let old = std::mem::replace(&mut open, fresh);
                            if let Err(e) = seal(old, replica, &sealed) {
                                eprintln!("serve: journal: sealing a segment: {e}");
                            }
                        }
                        Err(e) => eprintln!("serve: journal: opening a segment: {e}"),
                    }
                }
            }
            if let Err(e) = seal(open, replica, &sealed) {
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
        let mut bytes = fs::read(&path)?;
        bytes.truncate(decode_segment(&bytes).valid_len);
        out.push((seg, bytes, path));
    }
    out.sort_by_key(|(s, _, _)| *s);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_keys_round_trip() {
        assert_eq!(parse_segment_key(&segment_key(3, 12)), Some((3, 12)));
        assert_eq!(parse_segment_key("state/journal/x/1.log"), None);
    }
}
