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
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use dynopt::{ExperimentId, RecipientKey};
use serde_json::json;
use tokio::sync::{Notify, mpsc, oneshot};

use dynopt::host::{Allocation, HostError};

use crate::journal::JournalMsg;
use crate::learner::LearnerMsg;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) published: Arc<RwLock<Arc<Allocation>>>,
    pub(crate) journal: mpsc::Sender<JournalMsg>,
    pub(crate) learner: Sender<LearnerMsg>,
    pub(crate) poke_worker: Arc<Notify>,
}

/// The router, every route behind `token`.
pub(crate) fn router(state: AppState, token: Arc<[u8]>) -> Router {
    Router::new()
        .route("/v1/assign", get(assign))
        .route("/v1/currents", post(currents_http))
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

/// `POST /v1/currents`: Braze's Custom HTTP Currents connector (`{"events":[...]}`).
async fn currents_http() -> Response {
    // TODO(custom-http-decoder): decode the batch with the library's Custom HTTP JSON
    // envelope decoder once it is in the library, hand the clean events to the learner
    // and answer 2xx only once they are applied. Until then Braze's connector is told
    // the endpoint does not exist yet.
    error(
        StatusCode::NOT_IMPLEMENTED,
        "the Custom HTTP Currents decoder is not in this build",
    )
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
