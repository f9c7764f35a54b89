//! `POST .../instances/{id}/raiseEvent/{eventName}` and the test clock.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, AppState};
use crate::store::StoreError;

/// Raises an external event: 202 once it is durably queued; 404 for an unknown instance, 410 for
/// a finished one, 400 for a body that is not JSON (an empty body is `null`).
pub async fn raise_event(
    State(state): State<Arc<AppState>>,
    Path((instance_id, event_name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = super::extract::parse_id(&instance_id)?;
    if event_name.is_empty() || event_name.len() > 256 {
        return Err(ApiError::BadRequest(
            "event name must be 1 to 256 characters".into(),
        ));
    }
    let input = super::extract::parse_input(&body, true)?;
    match state.executor.raise_event(&id, &event_name, input).await {
        Ok(()) => Ok(StatusCode::ACCEPTED.into_response()),
        Err(StoreError::NoSuchInstance(_)) => {
            Err(ApiError::NotFound(format!("no instance with id '{id}'")))
        }
        Err(StoreError::InstanceFinished(_)) => Err(ApiError::Gone(format!(
            "instance '{id}' has already finished; it takes no more events"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/test/clock/advance?ms=N` (only with `--test-clock`, master key): moves the host's
/// clock forward so timers fire without waiting.
pub async fn advance_clock(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let clock = state.test_clock.as_ref().ok_or_else(|| {
        ApiError::NotFound("the test clock is off (start with --test-clock)".into())
    })?;
    let ms: u64 = query
        .get("ms")
        .ok_or_else(|| ApiError::BadRequest("query parameter ms is required".into()))?
        .parse()
        .map_err(|_| {
            ApiError::BadRequest("query parameter ms must be a non-negative integer".into())
        })?;
    let offset = clock.advance(ms);
    state.executor.clock_changed();
    Ok(Json(json!({ "offsetMs": offset, "nowMs": state.executor.now_ms() })).into_response())
}
