//! The object store: a local folder (`--store ./data`) or S3
//! (`--store s3://bucket/prefix`, credentials and region from the usual AWS
//! environment variables). Currents files, snapshots and journal segments all
//! live in it.

use std::sync::Arc;

use dynopt::currents::{EventType, ObjectKey};
use futures_util::TryStreamExt;
use object_store::ObjectStore;
pub(crate) use object_store::PutPayload;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;

/// Why the store could not be opened or used.
#[derive(Debug)]
pub(crate) enum StoreError {
    Open(String),
    Io(object_store::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Open(m) => write!(f, "opening the store: {m}"),
            StoreError::Io(e) => write!(f, "object store: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        StoreError::Io(e)
    }
}

/// The store and where it is, for messages.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) inner: Arc<dyn ObjectStore>,
    /// The local folder, when the store is one.
    pub(crate) local_root: Option<std::path::PathBuf>,
}

impl Store {
    /// Opens `--store`: `s3://bucket[/prefix]` or a local folder (created).
    pub(crate) fn open(spec: &str) -> Result<Store, StoreError> {
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StoreError::Open("s3:// URL without a bucket".into()));
            }
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| StoreError::Open(e.to_string()))?;
            let inner: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix.trim_matches('/')))
            };
            return Ok(Store {
                inner,
                local_root: None,
            });
        }
        if spec.contains("://") {
            return Err(StoreError::Open(
                "only s3:// URLs and local folders are supported".into(),
            ));
        }
        std::fs::create_dir_all(spec).map_err(|e| StoreError::Open(format!("{spec}: {e}")))?;
        let root = std::fs::canonicalize(spec).map_err(|e| StoreError::Open(e.to_string()))?;
        let fs = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| StoreError::Open(e.to_string()))?
            .with_automatic_cleanup(false);
        Ok(Store {
            inner: Arc::new(fs),
            local_root: Some(root),
        })
    }

    /// Every key under `prefix`, recursively.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let prefix = Path::from(prefix);
        let metas: Vec<_> = self.inner.list(Some(&prefix)).try_collect().await?;
        Ok(metas.into_iter().map(|m| m.location.to_string()).collect())
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let r = self.inner.get(&Path::from(key)).await?;
        Ok(r.bytes().await?.to_vec())
    }

    /// Puts `payload` (cheap to clone: retries share its bytes).
    pub(crate) async fn put(&self, key: &str, payload: PutPayload) -> Result<(), StoreError> {
        self.inner.put(&Path::from(key), payload).await?;
        Ok(())
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The Click and Open files under the Currents prefix that Braze's layout
/// names (`.../event_type=users.messages.email.Click/date=YYYY-MM-DD-HH/.../<...>+<partition>+<offset>.avro`),
/// parsed, in the order to ingest them (`ObjectKey`'s order: queue hour, then key).
pub(crate) fn currents_order(keys: Vec<String>) -> Vec<ObjectKey> {
    let mut found: Vec<ObjectKey> = keys
        .into_iter()
        .filter(|k| k.ends_with(".avro"))
        .filter_map(|k| ObjectKey::parse(&k).ok())
        .filter(|k| matches!(k.event_type, Some(EventType::Click | EventType::Open)))
        .collect();
    found.sort();
    found
}

/// The object key of a stored Custom HTTP Currents batch (its clean events, JSON).
pub(crate) fn http_batch_key(replica: u32, batch: u64) -> String {
    format!("state/http/{replica}/{batch:020}.json")
}

/// The replica and batch number of a key written by [`http_batch_key`].
pub(crate) fn parse_http_batch_key(key: &str) -> Option<(u32, u64)> {
    let rest = key.strip_prefix("state/http/")?;
    let (replica, name) = rest.split_once('/')?;
    Some((
        replica.parse().ok()?,
        name.strip_suffix(".json")?.parse().ok()?,
    ))
}

/// The object key of snapshot `seq`.
pub(crate) fn snapshot_key(seq: u64) -> String {
    format!("state/snapshot-{seq:020}.bin")
}

/// The sequence number of a snapshot key.
pub(crate) fn parse_snapshot_key(key: &str) -> Option<u64> {
    key.strip_prefix("state/snapshot-")?
        .strip_suffix(".bin")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currents_keys_in_queue_order() {
        let k = |h: &str, off: u32| {
            format!(
                "currents/dataexport.prod-03.S3.integration.abc/event_type=users.messages.email.Click/date={h}/332/0/dataexport.prod-03.S3.integration.abc+0+{off}.avro"
            )
        };
        let keys = vec![
            k("2026-03-20-10", 2),
            k("2026-03-20-09", 10),
            k("2026-03-20-09", 9),
            "currents/readme.txt".into(),
        ];
        let order: Vec<String> = currents_order(keys).into_iter().map(|k| k.path).collect();
        // Within an hour, key order (Braze pads nothing: `+10` sorts before `+9`).
        assert_eq!(
            order,
            vec![
                k("2026-03-20-09", 10),
                k("2026-03-20-09", 9),
                k("2026-03-20-10", 2)
            ]
        );
        assert_eq!(parse_snapshot_key(&snapshot_key(42)), Some(42));
        assert_eq!(parse_http_batch_key(&http_batch_key(2, 7)), Some((2, 7)));
    }
}
