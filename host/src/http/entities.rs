//! Durable entities over Durable Functions' HTTP API: signal (`POST .../entities/{name}/{key}
//! ?op=`), read the state (`GET .../entities/{name}/{key}`) and list (`GET .../entities
//! [/{name}]`), as the official clients' `signalEntity` / `readEntityState` call them.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::extract::{Params, parse_input};
use super::management::{CONTINUATION, decode_token, encode_token};
use super::{ApiError, AppState};
use crate::executor::EntityError;
use crate::ids::EntityId;
use crate::store::{self, Instance, ListQuery};

/// Entities listed per page unless `top` says otherwise (Durable Functions' default).
const DEFAULT_TOP: usize = 100;
const MAX_TOP: usize = 1_000;

fn entity_id(name: &str, key: &str) -> Result<EntityId, ApiError> {
    EntityId::parse(name, key).map_err(|e| ApiError::BadRequest(format!("invalid entity id: {e}")))
}

/// Queues operation `op` for the entity (created on its first operation): 202 once durable.
pub async fn signal(
    State(state): State<Arc<AppState>>,
    Path((name, key)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let entity = entity_id(&name, &key)?;
    let params = Params::parse(raw.as_deref());
    let operation = match params.get("op") {
        Some(op) if !op.is_empty() && op.chars().count() <= 256 => op.to_owned(),
        _ => {
            let why = "query parameter op (the operation's name, 1 to 256 characters) is required";
            return Err(ApiError::BadRequest(why.to_owned()));
        }
    };
    let input = match body.iter().all(u8::is_ascii_whitespace) {
        true => None,
        false => Some(parse_input(&body, false)?),
    };
    match state
        .executor
        .signal_entity(&entity, operation, input)
        .await
    {
        Ok(()) => Ok(StatusCode::ACCEPTED.into_response()),
        Err(EntityError::Unknown(name)) => Err(ApiError::NotFound(format!(
            "no entity named '{name}' is registered"
        ))),
        Err(EntityError::Store(e)) => Err(e.into()),
    }
}

/// The entity's state as its body (200), or 404 if it has none.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let entity = entity_id(&name, &key)?;
    let id = entity.instance_id();
    let row = store::read(state.executor.store(), move |s| s.instance(&id)).await?;
    match row.and_then(|i| i.custom_status) {
        Some(state) => {
            let value: Value = serde_json::from_str(&state).unwrap_or(Value::String(state));
            Ok(Json(value).into_response())
        }
        None => Err(ApiError::NotFound(format!("entity {entity} has no state"))),
    }
}

/// `GET .../entities/{name}`: that entity's instances (keys), a page at a time.
pub async fn list_named(
    state: State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let name = EntityId::parse_name(&name)
        .map_err(|e| ApiError::BadRequest(format!("invalid entity id: {e}")))?;
    list_page(state, Some(name), headers, raw).await
}

/// `GET .../entities`: every entity, a page at a time.
pub async fn list_all(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    list_page(state, None, headers, raw).await
}

async fn list_page(
    State(state): State<Arc<AppState>>,
    name: Option<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let top = params.top(DEFAULT_TOP, MAX_TOP)?;
    let fetch_state = params.flag("fetchState", false)?;
    let from = params.time("lastOperationTimeFrom")?;
    let to = params.time("lastOperationTimeTo")?;
    let after = match headers.get(CONTINUATION).and_then(|v| v.to_str().ok()) {
        Some(token) if !token.is_empty() && token != "null" => Some(decode_token(token)?),
        _ => None,
    };
    let query = ListQuery {
        instance_id_prefix: Some(name.map_or_else(|| "@".to_owned(), |n| format!("@{n}@"))),
        entities: true,
        after,
        limit: top + 1,
        ..ListQuery::default()
    };
    let mut rows = store::read(state.executor.store(), move |s| s.list(&query)).await?;
    let more = rows.len() > top;
    rows.truncate(top);
    let next = rows
        .last()
        .filter(|_| more)
        .map(|last| encode_token(last.created_ms, &last.instance_id));
    // Operation times are not indexed: the time filter applies to the page's rows.
    let in_window = |i: &&Instance| {
        from.is_none_or(|f| i.updated_ms >= f) && to.is_none_or(|t| i.updated_ms <= t)
    };
    let page: Vec<Value> = rows
        .iter()
        .filter(|i| i.custom_status.is_some())
        .filter(in_window)
        .filter_map(|i| entity_json(i, fetch_state))
        .collect();
    let mut response = Json(page).into_response();
    if let Some(token) = next.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(CONTINUATION, token);
    }
    Ok(response)
}

fn entity_json(row: &Instance, fetch_state: bool) -> Option<Value> {
    let entity = EntityId::of_instance(row.instance_id.as_str())?;
    let mut body = json!({
        "entityId": {"name": entity.name(), "key": entity.key()},
        "lastOperationTime": super::time::format_ms(row.updated_ms),
    });
    if fetch_state && let Some(state) = &row.custom_status {
        body["state"] = serde_json::from_str(state).unwrap_or(Value::String(state.clone()));
    }
    Some(body)
}
