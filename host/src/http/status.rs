//! `GET /runtime/webhooks/durabletask/instances/{id}` and the check-status payload.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::management::Params;
use super::routes::Caller;
use super::time::format_ms;
use super::{ApiError, AppState};
use crate::engine::Event;
use crate::ids::InstanceId;
use crate::store::{self, Instance};

/// The task hub name shown in URIs (Durable Functions' clients pass it back; we ignore it).
const TASK_HUB: &str = "durable";

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
    let id = super::management::parse_id(&instance_id)?;
    let show_history = params.flag("showHistory", false)?;
    let show_output = params.flag("showHistoryOutput", false)?;
    let show_input = params.flag("showInput", true)?;
    let error_on_failure = params.flag("returnInternalServerErrorOnFailure", false)?;
    let lookup = id.clone();
    let instance = store::read(state.executor.store(), move |s| s.instance(&lookup))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no instance with id '{id}'")))?;
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
        .insert(header::RETRY_AFTER, super::management::STATUS_RETRY_AFTER);
    Ok(response)
}

/// Durable Functions' status payload.
pub fn status_body(instance: &Instance) -> Value {
    let mut body = json!({
        "name": instance.name,
        "instanceId": instance.instance_id,
        "runtimeStatus": instance.status.as_str(),
        "input": parse_json(Some(&instance.input)),
        "customStatus": parse_json(instance.custom_status.as_deref()),
        "output": parse_json(instance.output.as_deref()),
        "createdTime": format_ms(instance.created_ms),
        "lastUpdatedTime": format_ms(instance.updated_ms),
    });
    if let (Some(parent), Value::Object(map)) = (&instance.parent, &mut body) {
        // Not in Durable Functions' payload; clients ignore unknown fields.
        map.insert(
            "parentInstanceId".into(),
            Value::from(parent.instance_id.as_str()),
        );
    }
    body
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

fn parse_json(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        // Stored payloads are JSON we produced; a guest that returned non-JSON is shown as text.
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned())),
    }
}

/// `http://host` as the client addressed us, followed by the management API's prefix on this
/// listener (`prefix`), so the URIs handed out are served by the listener that gave them.
pub fn base_url(headers: &HeaderMap, prefix: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| *s == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}{prefix}")
}

fn instance_uri(base: &str, id: &InstanceId) -> String {
    format!("{base}/instances/{}", percent_encode(id.as_str()))
}

fn common_query(key: Option<&str>) -> String {
    match key {
        Some(k) => format!(
            "taskHub={TASK_HUB}&connection=Storage&code={}",
            percent_encode(k)
        ),
        None => format!("taskHub={TASK_HUB}&connection=Storage"),
    }
}

fn status_uri(base: &str, id: &InstanceId, key: Option<&str>) -> String {
    format!("{}?{}", instance_uri(base, id), common_query(key))
}

/// Durable Functions' `createCheckStatusResponse` body.
pub fn check_status_body(base: &str, id: &InstanceId, key: Option<&str>) -> Value {
    let uri = instance_uri(base, id);
    let q = common_query(key);
    json!({
        "id": id,
        "statusQueryGetUri": format!("{uri}?{q}"),
        "sendEventPostUri": format!("{uri}/raiseEvent/{{eventName}}?{q}"),
        "terminatePostUri": format!("{uri}/terminate?reason={{text}}&{q}"),
        "rewindPostUri": format!("{uri}/rewind?reason={{text}}&{q}"),
        "purgeHistoryDeleteUri": format!("{uri}?{q}"),
        "restartPostUri": format!("{uri}/restart?{q}"),
        "suspendPostUri": format!("{uri}/suspend?reason={{text}}&{q}"),
        "resumePostUri": format!("{uri}/resume?reason={{text}}&{q}"),
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EventKind;

    #[test]
    fn history_events_use_durable_functions_field_names() {
        let e = Event {
            seq: 3,
            timestamp_ms: 0,
            kind: EventKind::TaskCompleted {
                task_id: 1,
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

    #[test]
    fn check_status_body_has_durable_functions_fields() {
        let id = InstanceId::parse("abc 1").unwrap();
        let body = check_status_body("http://h:1/runtime/webhooks/durabletask", &id, Some("k"));
        for field in [
            "id",
            "statusQueryGetUri",
            "sendEventPostUri",
            "terminatePostUri",
            "purgeHistoryDeleteUri",
            "restartPostUri",
            "suspendPostUri",
            "resumePostUri",
        ] {
            assert!(body.get(field).is_some(), "missing {field}");
        }
        assert_eq!(
            body["statusQueryGetUri"],
            "http://h:1/runtime/webhooks/durabletask/instances/abc%201?taskHub=durable&connection=Storage&code=k"
        );
    }
}
