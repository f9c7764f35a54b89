//! Admin routes (master key): deploy, list and activate components.
//!
//! - `POST /admin/components/{activity|orchestrator}[?activate=false][&dryRun=true]` with the
//!   component's bytes as the body: validated, stored by sha256, and (by default) activated.
//!   For an orchestrator, `dryRun=true` replays every in-flight instance of its orchestrations
//!   against it instead, and lists those that would diverge.
//! - `POST /admin/components/{digest}/activate`: route its names to it again (rollback).
//! - `GET /admin/components`: stored components and the current routing.
//! - `POST /admin/apps/{name}[?activate=false|dryRun=true|migrate=true]` with a served JS
//!   app's new source as the body: built, and deployed as its components are (see
//!   [`crate::jsapp::deploy`]).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::extract::Params;
use super::time::format_ms;
use super::{ApiError, AppState};
use crate::deploy::{DeployError, Kind};
use crate::jsapp::deploy::{AppDeployError, AppMode};
use crate::runtime::LoadError;

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

impl From<AppDeployError> for ApiError {
    fn from(e: AppDeployError) -> Self {
        use crate::jsapp::JsBuildError;
        match e {
            AppDeployError::UnknownApp { .. } => ApiError::NotFound(e.to_string()),
            AppDeployError::Ambiguous(_) => ApiError::Conflict(e.to_string()),
            AppDeployError::Deploy(e) => e.into(),
            // The app's own code: it does not build, traps or loops while it loads.
            AppDeployError::Build {
                source: JsBuildError::App { .. } | JsBuildError::Trapped(_),
                ..
            }
            | AppDeployError::Load(
                LoadError::Invalid { .. }
                | LoadError::ForbiddenImports { .. }
                | LoadError::WrongWorld { .. }
                | LoadError::DuplicateName { .. },
            )
            | AppDeployError::RoutesChanged { .. }
            | AppDeployError::StoreOnly(_)
            | AppDeployError::NothingToCheck(_) => ApiError::BadRequest(e.to_string()),
            // The host's: its runtime files, its cache, its engine.
            AppDeployError::Build { .. }
            | AppDeployError::Load(LoadError::Read { .. } | LoadError::Engine(_))
            | AppDeployError::Join(_) => ApiError::Internal(e.to_string()),
        }
    }
}

/// How a deployment's query says to deploy: `migrate`, `dryRun`, `activate=false`, or plainly.
fn mode(params: &Params, kind: Option<Kind>) -> Result<AppMode, ApiError> {
    let dry_run = params.flag("dryRun", false)?;
    let activate = params.flag("activate", true)?;
    let migrate = params.flag("migrate", false)?;
    if migrate && (kind == Some(Kind::Activity) || dry_run || !activate) {
        return Err(ApiError::BadRequest(
            "migrate moves in-flight instances onto a new orchestrator it activates; \
             it goes with neither dryRun nor activate=false, and not with activities"
                .into(),
        ));
    }
    if dry_run && kind == Some(Kind::Activity) {
        return Err(ApiError::BadRequest(
            "dryRun checks orchestrators against in-flight histories; activities have none".into(),
        ));
    }
    Ok(match (migrate, dry_run, activate) {
        (true, _, _) => AppMode::Migrate,
        (_, true, _) => AppMode::Check,
        (_, _, false) => AppMode::Store,
        _ => AppMode::Activate,
    })
}

pub async fn deploy_app(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mode = mode(&Params::parse(raw.as_deref()), None)?;
    let source = String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::BadRequest(
            "the request body must be the app's JavaScript source, as UTF-8 text".into(),
        )
    })?;
    if source.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "the request body must be the app's JavaScript source (it is empty)".into(),
        ));
    }
    let deployed = state
        .apps
        .deploy(&state.deployer, &name, source, mode)
        .await?;
    Ok(Json(deployed).into_response())
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
    let deployer = &state.deployer;
    let bytes = body.to_vec();
    let deployed = match mode(&params, Some(kind))? {
        AppMode::Migrate => deployer.deploy_and_migrate(bytes).await?,
        AppMode::Check => deployer.check_orchestrator(bytes).await?,
        AppMode::Store => deployer.deploy(kind, bytes, false).await?,
        AppMode::Activate => deployer.deploy(kind, bytes, true).await?,
    };
    Ok(Json(deployed).into_response())
}

pub async fn activate(
    State(state): State<Arc<AppState>>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.deployer.activate(&digest).await?).into_response())
}

/// What an activity component may do, for operators: environment variable names (not their
/// values, which may be secrets), directories, addresses and limits.
fn grant_json(grant: &crate::runtime::activity::ActivityGrant) -> serde_json::Value {
    let dirs: Vec<_> = grant
        .dirs
        .iter()
        .map(|d| json!({"guest": d.guest, "host": d.host.display().to_string(), "writable": d.writable}))
        .collect();
    let env: Vec<&str> = grant.env.iter().map(|(name, _)| name.as_str()).collect();
    let connect: Vec<String> = grant.connect.iter().map(|a| a.to_string()).collect();
    json!({
        "memoryBytes": grant.memory_bytes,
        "timeoutMs": grant.timeout.as_millis() as u64,
        "env": env,
        "dirs": dirs,
        "connect": connect,
        "maxResultBytes": grant.max_result_bytes,
        "maxConcurrency": grant.max_concurrency,
        "retryAttempts": grant.retry.as_ref().map(|r| r.max_attempts),
        "reuseInstances": grant.reuse_instances,
    })
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let (components, routes) = state.deployer.list().await?;
    let components: Vec<_> = components
        .into_iter()
        .map(|c| {
            let grants =
                (c.kind == Kind::Activity).then(|| grant_json(&state.deployer.grant_for(&c.names)));
            json!({"digest": c.digest, "kind": c.kind, "names": c.names, "size": c.size,
                "addedTime": format_ms(c.added_ms), "grants": grants})
        })
        .collect();
    let routes: Vec<_> = routes
        .into_iter()
        .map(|r| json!({"kind": r.kind, "name": r.name, "digest": r.digest, "activatedTime": format_ms(r.activated_ms)}))
        .collect();
    Ok(Json(json!({"components": components, "routes": routes})).into_response())
}
