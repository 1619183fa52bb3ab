//! The HTTP side: the Connected Content endpoint, the Custom HTTP Currents
//! endpoint, the report and two admin calls, all behind a bearer token.
//!
//! The Connected Content handler answers from memory: it clones the `Arc` of
//! the published allocation (a read lock held for a pointer copy, never by
//! persistence), assigns, and hands the exposure to the journal writer. It
//! waits for that writer's group-committed append (a `write` to a local file,
//! tens of microseconds) and answers 503 when the journal is full or failing:
//! an exposure is accepted only once it is journaled.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use dynopt::{ExperimentId, RecipientKey};
use serde_json::json;
use tokio::sync::{Notify, mpsc, oneshot};

use dynopt::currents::HttpOptions;
use dynopt::host::{Allocation, HostError};
use dynopt::pii::{CleanEvent, Filter};

use crate::journal::JournalMsg;
use crate::learner::LearnerMsg;
use crate::store::{Store, http_batch_key};

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) published: Arc<RwLock<Arc<Allocation>>>,
    pub(crate) journal: mpsc::Sender<JournalMsg>,
    pub(crate) learner: Sender<LearnerMsg>,
    pub(crate) poke_worker: Arc<Notify>,
    pub(crate) http: Arc<HttpIngest>,
}

/// What the Custom HTTP Currents endpoint needs.
pub(crate) struct HttpIngest {
    pub(crate) store: Store,
    pub(crate) replica: u32,
    /// The next batch number; held while a batch is stored and handed over.
    pub(crate) next_batch: tokio::sync::Mutex<u64>,
    /// The PII filter (with the shared secret's pseudonymizer, if given).
    pub(crate) filter: Filter,
}

/// The largest Custom HTTP Currents body taken (Braze sends up to 100 events
/// of about 1 KB by default).
const HTTP_BODY_LIMIT: usize = (1 << 20) + 1;

/// The router, every route behind `token`.
pub(crate) fn router(state: AppState, token: Arc<[u8]>) -> Router {
    Router::new()
        .route("/v1/assign", get(assign))
        .route(
            "/v1/currents",
            post(currents_http).layer(DefaultBodyLimit::max(HTTP_BODY_LIMIT)),
        )
        .route("/v1/report", get(report))
        .route("/v1/admin/snapshot", post(snapshot))
        .route("/v1/admin/recompute", post(recompute))
        .route("/v1/admin/poll", post(poll))
        .route("/healthz", get(healthz))
        .layer(middleware::from_fn_with_state(token, auth))
        .with_state(state)
}

/// Equal without an early exit on the first differing byte (a length
/// difference is not hidden: the token's length is not the secret).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(diff) == 0
}

async fn auth(State(token): State<Arc<[u8]>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match presented {
        Some(p) if constant_time_eq(p, &token) => next.run(req).await,
        _ => {
            let mut r = (StatusCode::UNAUTHORIZED, "bearer token required\n").into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    }
}

fn error(status: StatusCode, msg: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"error\":\"{msg}\"}}\n"),
    )
        .into_response()
}

/// `GET /v1/assign?exp=<experiment>&rk=<recipient key hex>[&preview=1]`
/// (also `experiment=` and `recipient=`): `{"variant":1,"label":"...","tag":"1.1764320100"}`,
/// plus `"parts"` for a multi-part variant.
/// `preview=1` assigns without recording an exposure.
async fn assign(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Some(exp), Some(rk)) = (
        q.get("exp").or_else(|| q.get("experiment")),
        q.get("rk").or_else(|| q.get("recipient")),
    ) else {
        return error(StatusCode::BAD_REQUEST, "exp and rk are required");
    };
    let Ok(recipient) = RecipientKey::from_hex(rk) else {
        return error(StatusCode::BAD_REQUEST, "rk is not a hex recipient key");
    };
    let preview = q.get("preview").is_some_and(|v| v == "1" || v == "true");
    let experiment = ExperimentId::new(exp.as_str());
    // A pointer copy under the read lock; the learner swaps it after a recompute.
    let published = s
        .published
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let now = Utc::now();
    let (served, record) = match published.serve(&experiment, recipient, now) {
        Ok(x) => x,
        Err(HostError::UnknownExperiment(_)) => {
            return error(StatusCode::NOT_FOUND, "unknown experiment");
        }
        Err(_) => return error(StatusCode::SERVICE_UNAVAILABLE, "no active variant"),
    };
    let mut body = json!({
        "variant": served.variant.0,
        "label": served.label,
        "tag": served.tag.to_string(),
    });
    if !served.parts.is_empty() {
        body["parts"] = json!(served.parts);
    }
    let body = body.to_string();
    if !preview {
        let (tx, rx) = oneshot::channel();
        if s.journal.try_send(JournalMsg::Record(record, tx)).is_err() {
            return error(StatusCode::SERVICE_UNAVAILABLE, "journal unavailable");
        }
        if rx.await != Ok(true) {
            return error(StatusCode::SERVICE_UNAVAILABLE, "journal unavailable");
        }
    }
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// What the Custom HTTP decoder gave for one body.
struct DecodedBatch {
    events: Vec<CleanEvent>,
    rejected: usize,
    unknown_event_types: usize,
}

/// Why a Custom HTTP body was not taken: the body is not a batch (the whole
/// request is refused; the message names no value from the body).
enum DecodeFailure {
    Refused(String),
}

/// Decodes a Custom HTTP Currents body into clean events through the PII
/// filter: the library's decoder (`Filter::clean_http`), bounded by its
/// `HttpOptions` (1 MiB, 1,000 events). Events it rejects are counted, not
/// fatal; unknown event types and fields are skipped, as Braze's schema
/// changes require.
fn decode_http(filter: &Filter, body: &[u8]) -> Result<DecodedBatch, DecodeFailure> {
    let out = filter
        .clean_http(body, &HttpOptions::default())
        .map_err(|e| DecodeFailure::Refused(e.to_string()))?;
    Ok(DecodedBatch {
        events: out.events,
        rejected: out.rejected.len(),
        unknown_event_types: out.unknown_event_types,
    })
}

/// `POST /v1/currents`: Braze's Custom HTTP Currents connector
/// (`{"events":[...]}`). The clean events are stored in the object store
/// (`state/http/<replica>/<batch>.json`) before the 2xx, so an acknowledged
/// batch survives a crash; then the learner applies them. Batches are
/// numbered and stored one at a time, so the learner sees them in order.
async fn currents_http(State(s): State<AppState>, body: Bytes) -> Response {
    let decoded = match decode_http(&s.http.filter, &body) {
        Ok(d) => d,
        Err(DecodeFailure::Refused(why)) => {
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                json!({ "error": why }).to_string(),
            )
                .into_response();
        }
    };
    let Ok(stored) = serde_json::to_vec(&decoded.events) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "encoding the batch");
    };
    let mut next = s.http.next_batch.lock().await;
    let batch = *next;
    let key = http_batch_key(s.http.replica, batch);
    if s.http.store.put(&key, stored.into()).await.is_err() {
        // Braze retries: nothing was acknowledged.
        return error(StatusCode::SERVICE_UNAVAILABLE, "store unavailable");
    }
    *next += 1;
    let n = decoded.events.len();
    if s.learner
        .send(LearnerMsg::HttpBatch {
            replica: s.http.replica,
            batch,
            events: decoded.events,
        })
        .is_err()
    {
        return error(StatusCode::SERVICE_UNAVAILABLE, "learner stopped");
    }
    drop(next);
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({
            "events": n,
            "rejected": decoded.rejected,
            "unknown_event_types": decoded.unknown_event_types,
        })
        .to_string(),
    )
        .into_response()
}

async fn ask<T>(s: &AppState, msg: impl FnOnce(oneshot::Sender<T>) -> LearnerMsg) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    s.learner.send(msg(tx)).ok()?;
    rx.await.ok()
}

/// `GET /v1/report`: per experiment, exposures, clicks and the allocation.
async fn report(State(s): State<AppState>) -> Response {
    match ask(&s, LearnerMsg::Report).await {
        Some(v) => ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response(),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "learner stopped"),
    }
}

/// `POST /v1/admin/snapshot`: take a snapshot now.
async fn snapshot(State(s): State<AppState>) -> Response {
    match ask(&s, LearnerMsg::Snapshot).await {
        Some(seq) => (
            [(header::CONTENT_TYPE, "application/json")],
            format!("{{\"seq\":{seq}}}\n"),
        )
            .into_response(),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "learner stopped"),
    }
}

/// `POST /v1/admin/recompute`: recompute and publish the allocation now.
async fn recompute(State(s): State<AppState>) -> Response {
    match s.learner.send(LearnerMsg::Recompute) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "learner stopped"),
    }
}

/// `GET /healthz`: `ok`, and the version of the allocation being served.
async fn healthz(State(s): State<AppState>) -> String {
    let v = s
        .published
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .version();
    format!("ok allocation {v}\n")
}

/// `POST /v1/admin/poll`: list the Currents prefix now.
async fn poll(State(s): State<AppState>) -> Response {
    s.poke_worker.notify_one();
    StatusCode::ACCEPTED.into_response()
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
