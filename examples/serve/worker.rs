//! The Currents worker: lists the Currents prefix of the object store
//! recursively (Braze's layout), fetches each new Click or Open file once, in
//! key order, and hands its bytes to the learner.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::sync::{Notify, watch};

use crate::learner::LearnerMsg;
use crate::store::{Store, currents_order};

/// The worker's settings.
pub(crate) struct WorkerConfig {
    pub(crate) prefix: String,
    pub(crate) every: Duration,
    /// Keys the restored state has ingested already.
    pub(crate) seen: HashSet<String>,
    /// Keys queued longer ago than this are never fetched (the learner has
    /// forgotten whether it ingested them).
    pub(crate) retention: TimeDelta,
    /// Poll now (the admin endpoint).
    pub(crate) poke: Arc<Notify>,
}

/// One pass: every new key, in order. Returns how many were handed over.
async fn pass(
    store: &Store,
    cfg: &mut WorkerConfig,
    learner: &Sender<LearnerMsg>,
) -> Result<usize, crate::store::StoreError> {
    let horizon = Utc::now() - cfg.retention;
    let mut n = 0;
    for key in currents_order(store.list(&cfg.prefix).await?) {
        if cfg.seen.contains(&key.path) || key.queue_hour.is_some_and(|h| h < horizon) {
            continue;
        }
        let bytes = store.get(&key.path).await?;
        let path = key.path.clone();
        if learner.send(LearnerMsg::File { key, bytes }).is_err() {
            break;
        }
        cfg.seen.insert(path);
        n += 1;
    }
    Ok(n)
}

/// Polls until `stop` turns true.
pub(crate) async fn run(
    store: Store,
    mut cfg: WorkerConfig,
    learner: Sender<LearnerMsg>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = pass(&store, &mut cfg, &learner).await {
            eprintln!("serve: currents worker: {e}");
        }
        let poke = cfg.poke.clone();
        tokio::select! {
            _ = tokio::time::sleep(cfg.every) => {}
            _ = poke.notified() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}
