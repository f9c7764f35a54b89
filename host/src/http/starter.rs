//! Starting orchestrations: the configured starters (the seed's `app.http(...)` route) and the
//! generic `POST /api/orchestrators/{name}[/{instanceId}]`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::routes::Caller;
use super::status::{base_url, check_status_body};
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
    let instance_id = super::management::parse_id(&instance_id)?;
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
    let instance = state.executor.start(name, instance_id, input).await?;
    if let Some(timeout) = wait
        && state
            .executor
            .wait_finished(&instance.instance_id, timeout)
            .await?
    {
        let lookup = instance.instance_id.clone();
        if let Some(done) =
            crate::store::read(state.executor.store(), move |s| s.instance(&lookup)).await?
        {
            return Ok(finished_response(&done));
        }
    }
    tracing::info!(instance = %instance.instance_id, orchestration = name, "started orchestration");
    let body = check_status_body(
        &base_url(headers, state.prefix),
        &instance.instance_id,
        key.as_deref(),
    );
    Ok(accepted(body))
}

/// 202 with a check-status body, `Location` (its status URI) and `Retry-After: 10`, as Durable
/// Functions' `createCheckStatusResponse` answers.
pub(super) fn accepted(body: serde_json::Value) -> Response {
    let location = body["statusQueryGetUri"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
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
        super::status::status_body(instance)
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// The request body as the orchestration input (JSON text). An empty body is `null` where
/// `allow_empty`; anything that is not JSON is refused with the parser's reason.
pub(super) fn parse_input(body: &[u8], allow_empty: bool) -> Result<String, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if allow_empty {
            Ok("null".to_owned())
        } else {
            Err(ApiError::BadRequest(
                "the request body must be JSON (it is empty)".to_owned(),
            ))
        };
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))?;
    Ok(unwrap_json_string(value).to_string())
}

/// Durable Functions' Python client serialises a payload to JSON text and then posts that text
/// as a JSON string (`"{\"a\": 1}"`). A string body whose content is itself a JSON object,
/// array or string is taken as that value; any other string (`"42"`, `"true"`, prose) stays a
/// string, so a caller that means the string "42" still gets it.
fn unwrap_json_string(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    if let Value::String(text) = &value
        && let Ok(inner @ (Value::Object(_) | Value::Array(_) | Value::String(_))) =
            serde_json::from_str::<Value>(text)
    {
        return inner;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_must_be_json() {
        assert_eq!(parse_input(br#" {"a": 1} "#, false).unwrap(), r#"{"a":1}"#);
        assert_eq!(parse_input(b"", true).unwrap(), "null");
        let err = parse_input(b"", false).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        let err = parse_input(b"{not json", true).unwrap_err().to_string();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn json_text_posted_as_a_string_is_unwrapped() {
        // What the Python client sends for {"a": 1}, ["x"] and "hi".
        assert_eq!(parse_input(br#""{\"a\": 1}""#, true).unwrap(), r#"{"a":1}"#);
        assert_eq!(parse_input(br#""[\"x\"]""#, true).unwrap(), r#"["x"]"#);
        assert_eq!(parse_input(br#""\"hi\"""#, true).unwrap(), r#""hi""#);
        // Strings that are not JSON documents, or only scalars, stay strings.
        assert_eq!(parse_input(br#""42""#, true).unwrap(), r#""42""#);
        assert_eq!(parse_input(br#""hello""#, true).unwrap(), r#""hello""#);
        assert_eq!(parse_input(br#""{not""#, true).unwrap(), r#""{not""#);
    }
}
