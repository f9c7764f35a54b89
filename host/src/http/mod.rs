//! HTTP: the seed's starter, the generic starters and Durable Functions' management API.
//!
//! - [`app`] builds the router for an [`AppState`]; [`run`] serves it on a listener until a
//!   shutdown signal, so tests can bind `127.0.0.1:0` and talk to the real server.
//! - Errors go through one [`ApiError`]: client mistakes are 4xx with a message that helps,
//!   server faults are 5xx, logged, with no internals leaked.

mod auth;
pub use auth::generate_key as generate_key_for_host;
mod error;
mod events;
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
        .route(
            &format!("{WEBHOOK_PREFIX}/orchestrators/{{name}}"),
            post(starter::start_generic),
        )
        .route(
            &format!("{WEBHOOK_PREFIX}/orchestrators/{{name}}/{{instance_id}}"),
            post(starter::start_generic_with_id),
        )
        .route(
            &format!("{WEBHOOK_PREFIX}/instances/{{instance_id}}"),
            get(status::get_status),
        )
        .route(
            &format!("{WEBHOOK_PREFIX}/instances/{{instance_id}}/raiseEvent/{{event_name}}"),
            post(events::raise_event),
        )
        .route("/admin/test/clock/advance", post(events::advance_clock))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(state)
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
