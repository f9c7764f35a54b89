//! HTTP: the seed's starter, the generic starters and Durable Functions' management API.
//!
//! - [`app`] builds the router for an [`AppState`]; [`run`] serves it on a listener until a
//!   shutdown signal, so tests can bind `127.0.0.1:0` and talk to the real server.
//! - Errors go through one [`ApiError`]: client mistakes are 4xx with a message that helps,
//!   server faults are 5xx, logged, with no internals leaked.

mod admin;
mod auth;
pub use auth::generate_key as generate_key_for_host;
mod error;
mod events;
mod management;
mod starter;
mod status;
mod time;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use auth::{AuthLevel, Keys};
pub use error::ApiError;

use crate::executor::Executor;

/// Path prefix of Durable Functions' management API.
pub const WEBHOOK_PREFIX: &str = "/runtime/webhooks/durabletask";

/// A starter route from the configuration (the seed's `app.http(...)`).
#[derive(Debug, Clone)]
pub struct Starter {
    /// Path, e.g. `/api/orchestrators/order-processing`.
    pub route: String,
    pub orchestration: String,
    pub auth_level: AuthLevel,
}

/// Shared state of the HTTP layer.
pub struct AppState {
    pub executor: Arc<Executor>,
    pub keys: Keys,
    pub starters: Vec<Starter>,
    /// Set with `--test-clock`: lets tests move time forward.
    pub test_clock: Option<Arc<crate::clock::OffsetClock>>,
    pub deployer: Arc<crate::deploy::Deployer>,
}

/// Builds the router.
pub fn app(state: Arc<AppState>) -> Router {
    let mut router = Router::new();
    for starter in &state.starters {
        let starter = starter.clone();
        router = router.route(
            &starter.route.clone(),
            post(move |st, headers, query, body| {
                starter::start_configured(st, starter.clone(), headers, query, body)
            }),
        );
    }
    router
        .route("/api/orchestrators/{name}", post(starter::start_generic))
        .route(
            "/api/orchestrators/{name}/{instance_id}",
            post(starter::start_generic_with_id),
        )
        .merge(management_routes(WEBHOOK_PREFIX))
        .route("/admin/test/clock/advance", post(events::advance_clock))
        .route("/admin/components", get(admin::list))
        .route(
            "/admin/components/{kind}",
            post(admin::deploy)
                .layer(axum::extract::DefaultBodyLimit::max(
                    admin::MAX_COMPONENT_BYTES,
                ))
                .layer(axum::middleware::from_fn(admin::refuse_oversized)),
        )
        .route("/admin/components/{digest}/activate", post(admin::activate))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(state)
}

/// Path prefix of the keyless management API on the loopback RPC listener.
pub const RPC_PREFIX: &str = "/durabletask";

/// The management API without keys under `/durabletask/`, for the loopback RPC listener that
/// Durable Functions' clients call in their default mode. `state` must hold open keys.
pub fn rpc_app(state: Arc<AppState>) -> Router {
    management_routes(RPC_PREFIX)
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(state)
}

/// Start, status, list, raise, control and purge, under `prefix`.
fn management_routes(prefix: &str) -> Router<Arc<AppState>> {
    Router::new()
        .route(
            &format!("{prefix}/orchestrators/{{name}}"),
            post(starter::start_generic),
        )
        .route(
            &format!("{prefix}/orchestrators/{{name}}/{{instance_id}}"),
            post(starter::start_generic_with_id),
        )
        .route(
            &format!("{prefix}/instances"),
            get(management::list).delete(management::purge_many),
        )
        // The official clients ask for `instances/` (trailing slash) when listing or purging.
        .route(
            &format!("{prefix}/instances/"),
            get(management::list).delete(management::purge_many),
        )
        .route(
            &format!("{prefix}/instances/{{instance_id}}"),
            get(status::get_status).delete(management::purge_one),
        )
        .route(
            &format!("{prefix}/instances/{{instance_id}}/{{operation}}"),
            post(management::control),
        )
        .route(
            &format!("{prefix}/instances/{{instance_id}}/raiseEvent/{{event_name}}"),
            post(events::raise_event),
        )
}

/// Prometheus text exposition of the host's counters (no key: counters only, no data).
async fn metrics(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> String {
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
