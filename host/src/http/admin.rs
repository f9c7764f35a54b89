//! Admin routes (master key): deploy, list and activate components.
//!
//! - `POST /admin/components/{activity|orchestrator}[?activate=false][&dryRun=true]` with the
//!   component's bytes as the body: validated, stored by sha256, and (by default) activated.
//!   For an orchestrator, `dryRun=true` replays every in-flight instance of its orchestrations
//!   against it instead, and lists those that would diverge.
//! - `POST /admin/components/{digest}/activate`: route its names to it again (rollback).
//! - `GET /admin/components`: stored components and the current routing.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::management::Params;
use super::time::format_ms;
use super::{ApiError, AppState};
use crate::deploy::{DeployError, Kind};

/// Largest component accepted.
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

/// Refuses an oversized upload from its `Content-Length`, before reading any of it (the body
/// limit on the route still stops uploads that do not declare their length).
pub async fn refuse_oversized(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_COMPONENT_BYTES) {
        let message = format!(
            "components may be at most {} MiB",
            MAX_COMPONENT_BYTES >> 20
        );
        return (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({ "error": message })),
        )
            .into_response();
    }
    next.run(request).await
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        match e {
            DeployError::Load(e) => ApiError::BadRequest(e.to_string()),
            DeployError::UnknownDigest(_) => ApiError::NotFound(e.to_string()),
            DeployError::Store(e) => e.into(),
        }
    }
}

pub async fn deploy(
    State(state): State<Arc<AppState>>,
    Path(kind): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let kind = Kind::parse(&kind).ok_or_else(|| {
        ApiError::NotFound(format!(
            "components are deployed as 'activity' or 'orchestrator', not '{kind}'"
        ))
    })?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "the request body must be the component's bytes (it is empty)".into(),
        ));
    }
    let dry_run = params.flag("dryRun", false)?;
    let activate = params.flag("activate", true)?;
    let migrate = params.flag("migrate", false)?;
    if migrate {
        if kind != Kind::Orchestrator || dry_run || !activate {
            return Err(ApiError::BadRequest(
                "migrate moves in-flight instances onto a new orchestrator it activates; \
                 it goes with neither dryRun nor activate=false, and not with activities"
                    .into(),
            ));
        }
        return Ok(Json(state.deployer.deploy_and_migrate(body.to_vec()).await?).into_response());
    }
    if dry_run {
        if kind != Kind::Orchestrator {
            return Err(ApiError::BadRequest(
                "dryRun checks orchestrators against in-flight histories; activities have none"
                    .into(),
            ));
        }
        return Ok(Json(state.deployer.check_orchestrator(body.to_vec()).await?).into_response());
    }
    let deployed = state.deployer.deploy(kind, body.to_vec(), activate).await?;
    Ok(Json(deployed).into_response())
}

pub async fn activate(
    State(state): State<Arc<AppState>>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.deployer.activate(&digest).await?).into_response())
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let (components, routes) = state.deployer.list().await?;
    let components: Vec<_> = components
        .into_iter()
        .map(|c| json!({"digest": c.digest, "kind": c.kind, "names": c.names, "size": c.size, "addedTime": format_ms(c.added_ms)}))
        .collect();
    let routes: Vec<_> = routes
        .into_iter()
        .map(|r| json!({"kind": r.kind, "name": r.name, "digest": r.digest, "activatedTime": format_ms(r.activated_ms)}))
        .collect();
    Ok(Json(json!({"components": components, "routes": routes})).into_response())
}
