//! Persistence off the serving path: one task puts sealed journal segments
//! and snapshots into the object store, in order, retrying until they land,
//! and prunes what the two newest snapshots no longer need.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::journal::{parse_segment_key, segment_key};
use crate::store::{PutPayload, Store, parse_http_batch_key, parse_snapshot_key, snapshot_key};

/// What a snapshot covers.
pub(crate) struct Covered {
    /// Its sequence number.
    pub(crate) seq: u64,
    /// Per replica, the last journal sequence number applied.
    pub(crate) journal: Vec<(u32, u64)>,
    /// Per replica, the last Custom HTTP batch applied.
    pub(crate) http: Vec<(u32, u64)>,
}

/// What the uploader takes.
pub(crate) enum Upload {
    /// A sealed segment in the spool: put it, then remove the local file.
    Segment {
        replica: u32,
        first: u64,
        path: PathBuf,
    },
    /// A snapshot; `keep_from` is what the previous snapshot covers: anything
    /// older is pruned once this one lands.
    Snapshot {
        seq: u64,
        bytes: Vec<u8>,
        keep_from: Option<Covered>,
    },
    /// Answered once everything queued before it has landed.
    Flush(oneshot::Sender<()>),
}

async fn retry<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::store::StoreError>>,
{
    let mut delay = Duration::from_millis(100);
    loop {
        match f().await {
            Ok(()) => return,
            Err(e) => {
                eprintln!("serve: upload {what}: {e}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Runs the uploader until its channel closes.
pub(crate) async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<Upload>) {
    while let Some(job) = rx.recv().await {
        match job {
            Upload::Segment {
                replica,
                first,
                path,
            } => {
                let key = segment_key(replica, first);
                let bytes = match tokio::fs::read(&path).await {
                    Ok(b) => b,
                    Err(e) => {
                        eprintln!("serve: journal segment {}: {e}", path.display());
                        continue;
                    }
                };
                let payload = PutPayload::from(bytes);
                retry(&key, || store.put(&key, payload.clone())).await;
                if let Err(e) = tokio::fs::remove_file(&path).await {
                    eprintln!("serve: removing {}: {e}", path.display());
                }
            }
            Upload::Snapshot {
                seq,
                bytes,
                keep_from,
            } => {
                let key = snapshot_key(seq);
                let payload = PutPayload::from(bytes);
                retry(&key, || store.put(&key, payload.clone())).await;
                if let Some(covered) = keep_from
                    && let Err(e) = prune(&store, &covered).await
                {
                    eprintln!("serve: pruning old state: {e}");
                }
            }
            Upload::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Deletes what the snapshot `covered` makes unnecessary: older snapshots,
/// Custom HTTP batches it applied, and journal segments wholly applied (a
/// segment is, when the next segment of its replica starts at or below the
/// applied sequence number plus one).
async fn prune(store: &Store, covered: &Covered) -> Result<(), crate::store::StoreError> {
    let keys = store.list("state").await?;
    let applied = &covered.journal;
    let mut segments: BTreeMap<u32, Vec<(u64, &String)>> = BTreeMap::new();
    for key in &keys {
        let http_done = parse_http_batch_key(key)
            .is_some_and(|(r, b)| covered.http.iter().any(|&(cr, cb)| cr == r && b <= cb));
        if http_done || parse_snapshot_key(key).is_some_and(|seq| seq < covered.seq) {
            store.delete(key).await?;
        } else if let Some((replica, first)) = parse_segment_key(key) {
            segments.entry(replica).or_default().push((first, key));
        }
    }
    for (replica, mut segs) in segments {
        let Some(&(_, done)) = applied.iter().find(|(r, _)| *r == replica) else {
            continue;
        };
        segs.sort();
        for pair in segs.windows(2) {
            if pair[1].0 <= done.saturating_add(1) {
                store.delete(pair[0].1).await?;
            }
        }
    }
    Ok(())
}
