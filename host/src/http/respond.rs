//! What handlers answer with: the 202 of a started instance, Durable Functions' status payload,
//! and the check-status body with the URIs of the instance's management routes.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::time::format_ms;
use crate::ids::InstanceId;
use crate::store::Instance;

/// 202 with a check-status body, `Location` (its status URI) and `Retry-After: 10`, as Durable
/// Functions' `createCheckStatusResponse` answers.
pub fn accepted(body: CheckStatus) -> Response {
    let location = HeaderValue::from_str(&body.status_query_get_uri);
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(value) = location {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

/// The task hub name shown in URIs (Durable Functions' clients pass it back; we ignore it).
const TASK_HUB: &str = "durable";

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
    if let (Some(version), Value::Object(map)) = (&instance.version, &mut body) {
        // Durable Functions' orchestration versioning.
        map.insert("version".into(), Value::from(version.as_str()));
    }
    if let (Some(parent), Value::Object(map)) = (&instance.parent, &mut body) {
        // Not in Durable Functions' payload; clients ignore unknown fields.
        map.insert(
            "parentInstanceId".into(),
            Value::from(parent.instance_id.as_str()),
        );
    }
    body
}

pub(super) fn parse_json(text: Option<&str>) -> Value {
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

pub fn status_uri(base: &str, id: &InstanceId, key: Option<&str>) -> String {
    format!("{}?{}", instance_uri(base, id), common_query(key))
}

/// Durable Functions' `createCheckStatusResponse` body, serialised as it is (one is built for
/// every instance started without waiting).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckStatus {
    id: InstanceId,
    status_query_get_uri: String,
    send_event_post_uri: String,
    terminate_post_uri: String,
    rewind_post_uri: String,
    purge_history_delete_uri: String,
    restart_post_uri: String,
    suspend_post_uri: String,
    resume_post_uri: String,
}

/// The check-status body of instance `id`, its URIs under `base` with `key`.
pub fn check_status_body(base: &str, id: &InstanceId, key: Option<&str>) -> CheckStatus {
    let uri = instance_uri(base, id);
    let q = common_query(key);
    CheckStatus {
        id: id.clone(),
        status_query_get_uri: format!("{uri}?{q}"),
        send_event_post_uri: format!("{uri}/raiseEvent/{{eventName}}?{q}"),
        terminate_post_uri: format!("{uri}/terminate?reason={{text}}&{q}"),
        rewind_post_uri: format!("{uri}/rewind?reason={{text}}&{q}"),
        purge_history_delete_uri: format!("{uri}?{q}"),
        restart_post_uri: format!("{uri}/restart?{q}"),
        suspend_post_uri: format!("{uri}/suspend?reason={{text}}&{q}"),
        resume_post_uri: format!("{uri}/resume?reason={{text}}&{q}"),
    }
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

    #[test]
    fn check_status_body_has_durable_functions_fields() {
        let id = InstanceId::parse("abc 1").unwrap();
        let body = check_status_body("http://h:1/runtime/webhooks/durabletask", &id, Some("k"));
        let body = serde_json::to_value(&body).unwrap();
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
