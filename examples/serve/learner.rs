//! The learner thread: owns the engine, applies journaled exposures and
//! Currents files in arrival order, recomputes and publishes the allocation,
//! and takes snapshots. Serving never waits for it: handlers read the
//! published allocation, and a snapshot only delays the learner's own queue.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use dynopt::currents::ObjectKey;
use dynopt::host::{Allocation, JournalEntry};

use dynopt::pii::CleanEvent;

use crate::engine::Engine;
use crate::uploader::{Covered, Upload};

/// What the learner takes, in order.
pub(crate) enum LearnerMsg {
    /// Journal entries, already durable, in sequence order.
    Exposures(Vec<JournalEntry>),
    /// A stored Custom HTTP Currents batch of clean events.
    HttpBatch {
        replica: u32,
        batch: u64,
        events: Vec<CleanEvent>,
    },
    /// A Currents file, fetched by the worker.
    File { key: ObjectKey, bytes: Vec<u8> },
    /// The report (JSON).
    Report(oneshot::Sender<Value>),
    /// Take a snapshot now; answers its sequence number.
    Snapshot(oneshot::Sender<u64>),
    /// Recompute and publish now.
    Recompute,
    /// A last snapshot, then stop.
    Shutdown(oneshot::Sender<()>),
}

/// The learner's settings.
pub(crate) struct LearnerConfig {
    pub(crate) recompute_every: Duration,
    pub(crate) snapshot_every: Duration,
    pub(crate) published: Arc<RwLock<Arc<Allocation>>>,
    pub(crate) uploads: mpsc::UnboundedSender<Upload>,
    /// The sequence number of the snapshot the engine was restored from (0: none).
    pub(crate) restored_seq: u64,
}

struct Snapshots {
    seq: u64,
    /// The last snapshot taken: what it covers.
    last: Option<Covered>,
    dirty: bool,
}

impl Snapshots {
    fn take(&mut self, engine: &Engine, uploads: &mpsc::UnboundedSender<Upload>) -> u64 {
        self.seq += 1;
        let started = Instant::now();
        let bytes = engine.snapshot();
        let took = started.elapsed();
        eprintln!(
            "serve: snapshot {} serialised: {} bytes in {:.1} ms",
            self.seq,
            bytes.len(),
            took.as_secs_f64() * 1e3
        );
        let covered = Covered {
            seq: self.seq,
            journal: engine.applied_all(),
            http: engine.http_applied(),
        };
        // Keep this snapshot and the one before: prune what precedes the older.
        let keep_from = self.last.replace(covered);
        let _ = uploads.send(Upload::Snapshot {
            seq: self.seq,
            bytes,
            keep_from,
        });
        self.dirty = false;
        self.seq
    }
}

/// Runs the learner on its own thread until [`LearnerMsg::Shutdown`].
pub(crate) fn spawn(
    mut engine: Engine,
    cfg: LearnerConfig,
    rx: Receiver<LearnerMsg>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("learner".into())
        .spawn(move || {
            let mut rng = StdRng::from_rng(&mut rand::rng());
            let mut snaps = Snapshots {
                seq: cfg.restored_seq,
                last: None,
                dirty: false,
            };
            let mut next_recompute = Instant::now() + cfg.recompute_every;
            let mut next_snapshot = Instant::now() + cfg.snapshot_every;
            loop {
                let wait = next_recompute
                    .min(next_snapshot)
                    .saturating_duration_since(Instant::now());
                let mut recompute = false;
                match rx.recv_timeout(wait) {
                    Ok(LearnerMsg::Exposures(entries)) => {
                        for e in &entries {
                            engine.apply(e);
                        }
                        snaps.dirty = true;
                    }
                    Ok(LearnerMsg::HttpBatch {
                        replica,
                        batch,
                        events,
                    }) => {
                        if engine
                            .ingest_http(replica, batch, &events, Utc::now())
                            .is_some()
                        {
                            snaps.dirty = true;
                        }
                    }
                    Ok(LearnerMsg::File { key, bytes }) => {
                        let r = engine.ingest(&key, &bytes, Utc::now());
                        // The key is Braze's object key: no personal value.
                        let path = key.path.as_str();
                        match (r.skipped, r.error) {
                            (true, _) => {}
                            (false, Some(e)) => eprintln!(
                                "serve: currents: {path}: {} events, {} clicks attributed, then: {e}",
                                r.events, r.attributed
                            ),
                            (false, None) => eprintln!(
                                "serve: currents: {path}: {} events, {} clicks attributed",
                                r.events, r.attributed
                            ),
                        }
                        snaps.dirty = true;
                    }
                    Ok(LearnerMsg::Report(reply)) => {
                        let _ = reply.send(engine.report());
                    }
                    Ok(LearnerMsg::Snapshot(reply)) => {
                        let _ = reply.send(snaps.take(&engine, &cfg.uploads));
                    }
                    Ok(LearnerMsg::Recompute) => recompute = true,
                    Ok(LearnerMsg::Shutdown(reply)) => {
                        if snaps.dirty {
                            snaps.take(&engine, &cfg.uploads);
                        }
                        let _ = reply.send(());
                        return;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                let now = Instant::now();
                if recompute || now >= next_recompute {
                    engine.recompute(Utc::now(), &mut rng);
                    let fresh = engine.publish();
                    *cfg.published
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = fresh;
                    next_recompute = now + cfg.recompute_every;
                    snaps.dirty = true;
                }
                if now >= next_snapshot {
                    if snaps.dirty {
                        snaps.take(&engine, &cfg.uploads);
                    }
                    next_snapshot = now + cfg.snapshot_every;
                }
            }
        })
}
