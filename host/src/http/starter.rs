//! Starting orchestrations: the configured starters (the seed's `app.http(...)` route) and the
//! generic `POST /api/orchestrators/{name}[/{instanceId}]`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::extract::{Caller, parse_input};
use super::respond::{accepted, base_url, check_status_body};
use super::{ApiError, AppState, Starter};
use crate::ids::InstanceId;

/// `POST <configured route>`: starts the configured orchestration with the body as input.
pub async fn start_configured(
    State(state): State<Arc<AppState>>,
    starter: Starter,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = caller.key;
    let input = parse_input(&body, false)?;
    start(
        &state,
        &starter.orchestration,
        None,
        input,
        &headers,
        &query,
        key,
    )
    .await
}

/// `POST /api/orchestrators/{name}`: starts orchestration `name`.
pub async fn start_generic(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = caller.key;
    let input = parse_input(&body, true)?;
    start(&state, &name, None, input, &headers, &query, key).await
}

/// `POST /api/orchestrators/{name}/{instanceId}`: starts it under a chosen instance id.
pub async fn start_generic_with_id(
    State(state): State<Arc<AppState>>,
    Path((name, instance_id)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = caller.key;
    let instance_id = super::extract::parse_id(&instance_id)?;
    let input = parse_input(&body, true)?;
    start(
        &state,
        &name,
        Some(instance_id),
        input,
        &headers,
        &query,
        key,
    )
    .await
}

async fn start(
    state: &AppState,
    name: &str,
    instance_id: Option<InstanceId>,
    input: String,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    key: Option<String>,
) -> Result<Response, ApiError> {
    // Durable Functions' waitForCompletionOrCreateCheckStatusResponse: `?timeout=SECONDS`.
    let wait = match query.get("timeout") {
        None => None,
        Some(t) => Some(
            t.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && (0.0..=3600.0).contains(s))
                .map(std::time::Duration::from_secs_f64)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "timeout must be a number of seconds from 0 to 3600, not '{t}'"
                    ))
                })?,
        ),
    };
    // Accepted for compatibility (this host is notified of completion; it does not poll), but
    // checked like `timeout` so that a malformed value is not silently taken.
    if let Some(p) = query.get("pollingInterval")
        && !p.parse::<f64>().is_ok_and(|s| s.is_finite() && s >= 0.0)
    {
        return Err(ApiError::BadRequest(format!(
            "pollingInterval must be a non-negative number of seconds, not '{p}'"
        )));
    }
    let version = match query.get("version") {
        Some(v) if v.chars().count() > 100 || v.chars().any(char::is_control) => {
            return Err(ApiError::BadRequest(format!(
                "version must be at most 100 characters without control characters, not '{}'",
                v.escape_debug()
            )));
        }
        v => v.cloned(),
    };
    let trace = super::extract::trace_of(headers);
    let options = crate::executor::StartOptions { version, trace };
    let instance = state
        .executor
        .start_with(name, instance_id, input, options)
        .await?;
    if let Some(timeout) = wait
        && state
            .executor
            .wait_finished(&instance.instance_id, timeout)
            .await?
        && let Some(done) = state.executor.instance_row(&instance.instance_id).await?
    {
        return Ok(finished_response(&done));
    }
    tracing::info!(instance = %instance.instance_id, orchestration = name, "started orchestration");
    let body = check_status_body(
        &base_url(headers, state.prefix),
        &instance.instance_id,
        key.as_deref(),
    );
    Ok(accepted(body))
}

/// A finished instance, answered in place of the check-status body: the output for a completed
/// one, the status payload otherwise.
fn finished_response(instance: &crate::store::Instance) -> Response {
    let body = if instance.status == crate::engine::RuntimeStatus::Completed {
        instance
            .output
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or(serde_json::Value::Null)
    } else {
        super::respond::status_body(instance)
    };
    (StatusCode::OK, Json(body)).into_response()
}
