//! `GET /runtime/webhooks/durabletask/instances/{id}`: the status payload, with the history in
//! Durable Functions' shape on request.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::extract::{Caller, Params};
use super::respond::{base_url, parse_json, status_body, status_uri};
use super::time::format_ms;
use super::{ApiError, AppState};
use crate::engine::Event;
use crate::store;

/// The status API's `Retry-After` for in-progress instances, as Durable Functions sends it.
const STATUS_RETRY_AFTER: HeaderValue = HeaderValue::from_static("5");

/// How long the status of an instance that is still running is held for its end.
const STATUS_HOLD: std::time::Duration = std::time::Duration::from_millis(20);

/// `GET .../instances/{id}`: 200 when finished, 202 while running, 404 when unknown.
pub async fn get_status(
    State(state): State<Arc<AppState>>,
    Path(instance_id): Path<String>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let key = caller.key;
    let id = super::extract::parse_id(&instance_id)?;
    let show_history = params.flag("showHistory", false)?;
    let show_output = params.flag("showHistoryOutput", false)?;
    let show_input = params.flag("showInput", true)?;
    let error_on_failure = params.flag("returnInternalServerErrorOnFailure", false)?;
    let missing = || ApiError::NotFound(format!("no instance with id '{id}'"));
    let mut instance = state
        .executor
        .instance_row(&id)
        .await?
        .ok_or_else(missing)?;
    // A running instance's answer waits a moment for its end, so a client polling in a tight
    // loop costs one request per hold rather than one per poll (and sees the end at once).
    if !instance.status.is_terminal() && state.executor.hold_until_finished(&id, STATUS_HOLD).await
    {
        instance = state
            .executor
            .instance_row(&id)
            .await?
            .ok_or_else(missing)?;
    }
    let mut body = status_body(&instance);
    if !show_input {
        body["input"] = Value::Null;
    }
    if show_history {
        let lookup = instance.instance_id.clone();
        let history = store::read(state.executor.store(), move |s| s.history(&lookup)).await?;
        let events: Vec<Value> = history
            .iter()
            .map(|e| {
                let mut shown = history_event(e);
                if !show_output && let Value::Object(fields) = &mut shown {
                    fields.remove("Result");
                }
                shown
            })
            .collect();
        // Durable Functions' HTTP API names the list `historyEvents`; its Node.js and Python
        // clients read `history`. Both are served.
        body["history"] = Value::Array(events.clone());
        body["historyEvents"] = Value::Array(events);
    }
    if instance.status == crate::engine::RuntimeStatus::Failed && error_on_failure {
        return Ok((StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response());
    }
    if instance.status.is_terminal() {
        return Ok((StatusCode::OK, Json(body)).into_response());
    }
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    let location = status_uri(
        &base_url(&headers, state.prefix),
        &instance.instance_id,
        key.as_deref(),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, STATUS_RETRY_AFTER);
    Ok(response)
}

/// One history event in Durable Functions' shape: `EventType`, `EventId`, `Timestamp`, and the
/// event's fields in PascalCase (`name` is shown as `FunctionName`, payloads as JSON).
fn history_event(event: &Event) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("EventType".into(), Value::from(event.kind.type_name()));
    out.insert("EventId".into(), Value::from(event.seq));
    out.insert(
        "Timestamp".into(),
        Value::from(format_ms(event.timestamp_ms)),
    );
    if let Ok(Value::Object(fields)) = serde_json::to_value(&event.kind) {
        for (key, value) in fields {
            let shown = match key.as_str() {
                "eventType" => continue,
                "name" => "FunctionName".to_owned(),
                "task_id" => "TaskScheduledId".to_owned(),
                other => pascal_case(other),
            };
            let value = match (key.as_str(), value) {
                ("input" | "result", Value::String(text)) => parse_json(Some(&text)),
                (_, v) => v,
            };
            out.insert(shown, value);
        }
    }
    Value::Object(out)
}

fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EventKind;
    use crate::ids::TaskId;

    #[test]
    fn history_events_use_durable_functions_field_names() {
        let e = Event {
            seq: 3,
            timestamp_ms: 0,
            kind: EventKind::TaskCompleted {
                task_id: TaskId(1),
                result: r#"{"a":1}"#.into(),
                digest: None,
            },
        };
        let v = history_event(&e);
        assert_eq!(v["EventType"], "TaskCompleted");
        assert_eq!(v["EventId"], 3);
        assert_eq!(v["TaskScheduledId"], 1);
        assert_eq!(v["Result"]["a"], 1);
        assert!(
            Params::parse(Some("showHistory=TRUE"))
                .flag("showHistory", false)
                .unwrap()
        );
        assert!(
            Params::parse(Some("showHistory=yes"))
                .flag("showHistory", false)
                .is_err()
        );
    }
}
