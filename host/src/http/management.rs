//! Durable Functions' management API beyond start and status: list, terminate, suspend, resume,
//! restart, rewind, purge one and purge by filter. Status codes follow the Durable Functions
//! extension's own handler where it and the documentation differ (412 for purging an unfinished
//! instance, 410 for operating on a finished one).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::extract::{Caller, Params, parse_id};
use super::respond::{base_url, check_status_body, status_body};
use super::{ApiError, AppState};
use crate::engine::RuntimeStatus;
use crate::ids::InstanceId;
use crate::store::{self, ListQuery, StoreError};

/// Paging header, in both directions.
pub const CONTINUATION: &str = "x-ms-continuation-token";
/// Largest page a list may return.
const MAX_TOP: usize = 1000;
/// Page size when `top` is not given: the largest page, because the Python client's
/// `get_status_all` does not follow continuation tokens (the Node.js one does).
const DEFAULT_TOP: usize = MAX_TOP;

fn statuses(params: &Params) -> Result<Vec<RuntimeStatus>, ApiError> {
    params
        .list("runtimeStatus")
        .into_iter()
        .map(|s| {
            RuntimeStatus::parse(s).ok_or_else(|| {
                let known: Vec<&str> = RuntimeStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::BadRequest(format!(
                    "unknown runtimeStatus '{s}' (known: {})",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

/// Opaque paging token: the last row's creation time and id, hex-encoded.
pub(super) fn encode_token(created_ms: u64, id: &InstanceId) -> String {
    format!("{created_ms}:{id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn decode_token(token: &str) -> Result<(u64, String), ApiError> {
    let bad = || ApiError::BadRequest(format!("invalid {CONTINUATION} header"));
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>, ApiError>>()?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (created, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((created.parse().map_err(|_| bad())?, id.to_owned()))
}

/// `GET instances`: a page of status objects; more pages via `x-ms-continuation-token`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let top = params.top(DEFAULT_TOP, MAX_TOP)?;
    let after = match headers.get(CONTINUATION).and_then(|v| v.to_str().ok()) {
        Some(token) if !token.is_empty() && token != "null" => Some(decode_token(token)?),
        _ => None,
    };
    let query = ListQuery {
        statuses: statuses(&params)?,
        created_from_ms: params.time("createdTimeFrom")?,
        created_to_ms: params.time("createdTimeTo")?,
        instance_id_prefix: params
            .get("instanceIdPrefix")
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        name: params
            .get("name")
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        newest_first: params.flag("newestFirst", false)?,
        entities: false,
        after,
        limit: top + 1,
    };
    let show_input = params.flag("showInput", true)?;
    let mut rows = store::read(state.executor.store(), move |s| s.list(&query)).await?;
    let more = rows.len() > top;
    rows.truncate(top);
    let page: Vec<Value> = rows
        .iter()
        .map(|i| {
            let mut body = status_body(i);
            if !show_input {
                body["input"] = Value::Null;
            }
            body
        })
        .collect();
    let mut response = (StatusCode::OK, Json(Value::Array(page))).into_response();
    if more && let Some(last) = rows.last() {
        let token = encode_token(last.created_ms, &last.instance_id);
        if let Ok(v) = HeaderValue::from_str(&token) {
            response.headers_mut().insert(CONTINUATION, v);
        }
    }
    Ok(response)
}

/// `POST instances/{id}/terminate?reason=`: 202, 404 unknown, 410 finished.
pub async fn terminate(
    State(state): State<Arc<AppState>>,
    Path(instance_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    control(&state, &instance_id, raw.as_deref(), Control::Terminate).await
}

/// `POST instances/{id}/suspend?reason=`: 202, 404 unknown, 410 finished.
pub async fn suspend(
    State(state): State<Arc<AppState>>,
    Path(instance_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    control(&state, &instance_id, raw.as_deref(), Control::Suspend).await
}

/// `POST instances/{id}/resume?reason=`: 202, 404 unknown, 410 finished.
pub async fn resume(
    State(state): State<Arc<AppState>>,
    Path(instance_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    control(&state, &instance_id, raw.as_deref(), Control::Resume).await
}

#[derive(Clone, Copy)]
enum Control {
    Terminate,
    Suspend,
    Resume,
}

async fn control(
    state: &AppState,
    instance_id: &str,
    raw: Option<&str>,
    operation: Control,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw);
    let id = parse_id(instance_id)?;
    let reason = params.get("reason").unwrap_or("").to_owned();
    let executor = &state.executor;
    let (result, verb) = match operation {
        Control::Terminate => (executor.terminate(&id, reason).await, "terminated"),
        Control::Suspend => (executor.suspend(&id, reason).await, "suspended"),
        Control::Resume => (executor.resume_suspended(&id, reason).await, "resumed"),
    };
    match result {
        Ok(()) => Ok(StatusCode::ACCEPTED.into_response()),
        Err(StoreError::NoSuchInstance(_)) => {
            Err(ApiError::NotFound(format!("no instance with id '{id}'")))
        }
        Err(StoreError::InstanceFinished(_)) => Err(ApiError::Gone(format!(
            "instance '{id}' has already finished; it cannot be {verb}"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `POST instances/{id}/rewind?reason=`: 202, 404 unknown, 412 unless Failed.
pub async fn rewind(
    State(state): State<Arc<AppState>>,
    Path(instance_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let id = parse_id(&instance_id)?;
    let reason = params.get("reason").unwrap_or("").to_owned();
    match state.executor.rewind(&id, reason).await {
        Ok(()) => Ok(StatusCode::ACCEPTED.into_response()),
        Err(StoreError::NoSuchInstance(_)) => {
            Err(ApiError::NotFound(format!("no instance with id '{id}'")))
        }
        Err(StoreError::NotFailed(_)) => Err(ApiError::PreconditionFailed(format!(
            "only failed instances can be rewound; '{id}' has not failed"
        ))),
        Err(e @ StoreError::NotRewindable { .. }) => {
            Err(ApiError::PreconditionFailed(e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST instances/{id}/restart[?restartWithNewInstanceId=false]`: 202 with the new instance's
/// check-status payload.
pub async fn restart(
    State(state): State<Arc<AppState>>,
    Path(instance_id): Path<String>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let id = parse_id(&instance_id)?;
    let new_id = params.flag("restartWithNewInstanceId", true)?;
    let lookup = id.clone();
    let old = store::read(state.executor.store(), move |s| s.instance(&lookup))
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "instance id '{id}' does not match a valid orchestration instance"
            ))
        })?;
    let target = if new_id { None } else { Some(id.clone()) };
    // A restart keeps the instance's version.
    let options = crate::executor::StartOptions {
        version: old.version.clone(),
        trace: super::extract::trace_of(&headers),
    };
    let started = state
        .executor
        .start_with(&old.name, target, old.input.clone(), options)
        .await?;
    let body = check_status_body(
        &base_url(&headers, state.prefix),
        &started.instance_id,
        caller.key.as_deref(),
    );
    Ok(super::respond::accepted(body))
}

/// `DELETE instances/{id}`: 200 `{"instancesDeleted": 1}`, 404 unknown, 412 not finished.
pub async fn purge_one(
    State(state): State<Arc<AppState>>,
    Path(instance_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&instance_id)?;
    match state.executor.purge(vec![id.clone()], true).await {
        Ok(()) => Ok(Json(json!({"instancesDeleted": 1})).into_response()),
        Err(StoreError::NoSuchInstance(_)) => {
            Err(ApiError::NotFound(format!("no instance with id '{id}'")))
        }
        Err(StoreError::NotFinished(_)) => Err(ApiError::PreconditionFailed(format!(
            "only orchestrations in a terminal state can be purged; terminate '{id}' first"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE instances?createdTimeFrom=..[&createdTimeTo=..][&runtimeStatus=..]`: purges finished
/// instances in the range; 200 with the count, 404 when none matched.
pub async fn purge_many(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let from = params.time("createdTimeFrom")?.ok_or_else(|| {
        ApiError::BadRequest("createdTimeFrom is required to purge by filter".into())
    })?;
    let to = params
        .time("createdTimeTo")?
        .unwrap_or_else(|| state.executor.now_ms());
    let mut wanted = statuses(&params)?;
    if let Some(bad) = wanted.iter().find(|s| !s.is_terminal()) {
        return Err(ApiError::BadRequest(format!(
            "only finished instances can be purged; runtimeStatus {} is not a terminal state",
            bad.as_str()
        )));
    }
    if wanted.is_empty() {
        wanted = vec![
            RuntimeStatus::Completed,
            RuntimeStatus::Failed,
            RuntimeStatus::Terminated,
        ];
    }
    let mut deleted = 0usize;
    let mut after = None;
    loop {
        let query = ListQuery {
            statuses: wanted.clone(),
            created_from_ms: Some(from),
            created_to_ms: Some(to),
            after: after.take(),
            limit: MAX_TOP,
            ..ListQuery::default()
        };
        let page = store::read(state.executor.store(), move |s| s.list(&query)).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.created_ms, last.instance_id.as_str().to_owned()));
        let n = page.len();
        state
            .executor
            .purge(page.into_iter().map(|i| i.instance_id).collect(), false)
            .await?;
        deleted += n;
        if n < MAX_TOP {
            break;
        }
    }
    if deleted == 0 {
        return Err(ApiError::NotFound(
            "no finished instances match the filter".into(),
        ));
    }
    Ok(Json(json!({"instancesDeleted": deleted})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_lenient_like_durable_functions() {
        let p = Params::parse(Some(
            "RuntimeStatus=Running,completed&runtimeStatus=Failed&showInput=FALSE&x=%20",
        ));
        assert_eq!(p.list("runtimeStatus"), ["Running", "completed", "Failed"]);
        assert!(!p.flag("showInput", true).unwrap());
        assert!(p.flag("missing", true).unwrap());
        assert!(
            Params::parse(Some("showInput=maybe"))
                .flag("showInput", true)
                .is_err()
        );
        assert_eq!(statuses(&p).unwrap().len(), 3);
        assert!(statuses(&Params::parse(Some("runtimeStatus=Bogus"))).is_err());
    }

    #[test]
    fn continuation_tokens_round_trip() {
        let id = InstanceId::parse("a:b c").unwrap();
        assert_eq!(
            decode_token(&encode_token(42, &id)).unwrap(),
            (42, "a:b c".to_owned())
        );
        assert!(decode_token("zz").is_err());
        assert!(decode_token("abc").is_err());
    }
}
