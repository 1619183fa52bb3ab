//! Persistence off the serving path: one task puts sealed journal segments
//! and snapshots into the object store, in order, retrying until they land,
//! and prunes what the two newest snapshots no longer need.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::journal::{Position, parse_segment_key, segment_key};
use crate::store::{PutPayload, Store, parse_snapshot_key, snapshot_key};

/// What the uploader takes.
pub(crate) enum Upload {
    /// A sealed segment in the spool: put it, then remove the local file.
    Segment {
        replica: String,
        segment: u64,
        path: PathBuf,
    },
    /// A snapshot; `keep_from` is the previous snapshot (its sequence number
    /// and journal positions): anything older is pruned once this one lands.
    Snapshot {
        seq: u64,
        bytes: Vec<u8>,
        keep_from: Option<(u64, BTreeMap<String, Position>)>,
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
                segment,
                path,
            } => {
                let key = segment_key(&replica, segment);
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
                if let Some((keep_seq, positions)) = keep_from
                    && let Err(e) = prune(&store, keep_seq, &positions).await
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

/// Deletes snapshots older than `keep_seq` and journal segments wholly
/// applied before it (segments below its position's segment).
async fn prune(
    store: &Store,
    keep_seq: u64,
    positions: &BTreeMap<String, Position>,
) -> Result<(), crate::store::StoreError> {
    for key in store.list("state").await? {
        let old = match (parse_snapshot_key(&key), parse_segment_key(&key)) {
            (Some(seq), _) => seq < keep_seq,
            (None, Some((replica, seg))) => {
                positions.get(&replica).is_some_and(|p| seg < p.segment)
            }
            _ => false,
        };
        if old {
            store.delete(&key).await?;
        }
    }
    Ok(())
}
