//! HTTP: the seed's starter, the generic starters and Durable Functions' management API.
//!
//! - [`app`] builds the router for an [`AppState`]; [`run`] serves it on a listener until a
//!   shutdown signal, so tests can bind `127.0.0.1:0` and talk to the real server.
//! - Errors go through one [`ApiError`]: client mistakes are 4xx with a message that helps,
//!   server faults are 5xx, logged, with no internals leaked.

mod admin;
mod auth;
mod dashboard;
mod entities;
pub use auth::generate_key as generate_key_for_host;
mod error;
mod events;
mod extract;
pub mod functions;
mod guard;
mod management;
mod openapi;
mod respond;
mod router;
mod routes;
mod starter;
mod status;
mod time;

use std::future::Future;
use std::sync::Arc;

use axum::Router;

pub use auth::{AuthLevel, Keys};
pub use error::ApiError;
pub use router::check_starter_routes;
pub use routes::{ROUTES, Route};

use crate::executor::Executor;

/// Path prefix of Durable Functions' management API.
pub const WEBHOOK_PREFIX: &str = "/runtime/webhooks/durabletask";

/// A starter route: from the configuration (`[[starters]]`, which starts `orchestration` with
/// the body as input), or a JS app's `app.http` function, which runs as code.
#[derive(Debug, Clone)]
pub struct Starter {
    /// Path, e.g. `/api/orchestrators/order-processing`.
    pub route: String,
    pub orchestration: String,
    pub auth_level: AuthLevel,
    /// Set for a JS app's HTTP function (then `orchestration` is empty).
    pub function: Option<functions::JsFunction>,
}

/// Shared state of the HTTP layer.
pub struct AppState {
    pub executor: Arc<Executor>,
    pub keys: Keys,
    pub starters: Vec<Starter>,
    /// Set with `--test-clock`: lets tests move time forward.
    pub test_clock: Option<Arc<crate::clock::OffsetClock>>,
    pub deployer: Arc<crate::deploy::Deployer>,
    /// The JS apps served, for deployments of new versions.
    pub apps: Arc<crate::jsapp::deploy::Apps>,
    /// Auth levels set in `durable.toml`, by operation id (the route table's defaults otherwise).
    pub auth_levels: std::collections::HashMap<String, AuthLevel>,
    /// Where this listener serves the management API ([`WEBHOOK_PREFIX`] or [`RPC_PREFIX`]):
    /// the URIs its answers hand out point there.
    pub prefix: &'static str,
}

impl AppState {
    /// The auth level of route `id`: `durable.toml`'s, else the route's default.
    pub fn level_of(&self, id: &str, default: AuthLevel) -> AuthLevel {
        self.auth_levels.get(id).copied().unwrap_or(default)
    }
}

/// Builds the router of the main listener from the route table.
pub fn app(state: Arc<AppState>) -> Router {
    router(state, true)
}

/// Path prefix of the keyless management API on the loopback RPC listener.
pub const RPC_PREFIX: &str = "/durabletask";

/// The management API without keys under `/durabletask/`, for the loopback RPC listener that
/// Durable Functions' clients call in their default mode. `state` must hold open keys.
/// `port` is the listener's own: requests naming another host or port are refused (DNS
/// rebinding), and so is anything a web page sends (see [`guard::rpc_guard`]).
pub fn rpc_app(state: Arc<AppState>, port: u16) -> Router {
    router(state, false).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            guard::rpc_guard(req, next, port)
        },
    ))
}

fn router(state: Arc<AppState>, main: bool) -> Router {
    router::router(&state, main)
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::map_response(guard::json_errors))
        .layer(axum::middleware::from_fn(guard::traced))
        .with_state(state)
}

/// Prometheus text exposition of the host's counters (no key: counters only, no data).
pub(crate) async fn metrics(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let c = &state.executor.counters;
    let store = state.executor.store().stats();
    let rows = [
        (
            "durable_instances_started_total",
            "counter",
            "Instances started through the API.",
            c.started.load(Relaxed),
        ),
        (
            "durable_instances_completed_total",
            "counter",
            "Executions that completed.",
            c.completed.load(Relaxed),
        ),
        (
            "durable_instances_failed_total",
            "counter",
            "Executions that failed.",
            c.failed.load(Relaxed),
        ),
        (
            "durable_activities_total",
            "counter",
            "Activity calls run.",
            c.activities.load(Relaxed),
        ),
        (
            "durable_versions_rejected_total",
            "counter",
            "Times an instance was left unrun because this host does not run its version (versionFailureStrategy Reject).",
            c.versions_rejected.load(Relaxed),
        ),
        (
            "durable_activity_seconds_total",
            "counter",
            "Wall time spent in activity calls.",
            c.activity_micros.load(Relaxed),
        ),
        (
            "durable_store_commits_total",
            "counter",
            "SQLite transactions committed (one fsync each).",
            store.commits,
        ),
        (
            "durable_store_batches_total",
            "counter",
            "Store batches applied (group commit folds many per transaction).",
            store.batches,
        ),
        (
            "durable_store_fenced_total",
            "counter",
            "Store batches refused because this host no longer held their partition's lease.",
            store.fenced,
        ),
        (
            "durable_partitions_held",
            "gauge",
            "Partitions of a shared store whose lease this host holds.",
            store.partitions_held,
        ),
        (
            "durable_live_instances",
            "gauge",
            "Instances with a live actor.",
            state.executor.live_instances() as u64,
        ),
        (
            "durable_timers_pending",
            "gauge",
            "Armed durable timers.",
            state.executor.timers.pending() as u64,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in rows {
        let value = if name == "durable_activity_seconds_total" {
            format!("{:.6}", value as f64 / 1e6)
        } else {
            value.to_string()
        };
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    out
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
