//! The routers built from the route table ([`super::routes::ROUTES`]) and the configured
//! starters: each route behind its key check, at the level `durable.toml` sets.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, post};

use super::dashboard::session;
use super::extract::{Caller, Params};
use super::routes::{ROUTES, Scope};
use super::{AppState, AuthLevel, RPC_PREFIX, WEBHOOK_PREFIX, functions, starter};

/// Whether a signed-in dashboard's session cookie stands in for a key on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sessions {
    /// The host's own routes (the dashboard calls them).
    Accepted,
    /// Starters and an app's HTTP functions: only keys (the app's code never acts with an
    /// operator's session).
    Refused,
}

/// Checks the caller's key for `level` and records it for the handler.
async fn check_key(
    State((state, level, sessions)): State<(Arc<AppState>, AuthLevel, Sessions)>,
    mut request: Request,
    next: Next,
) -> Response {
    let params = Params::parse(request.uri().query());
    match state
        .keys
        .check_code(level, request.headers(), params.get("code"))
    {
        Ok(key) => {
            request.extensions_mut().insert(Caller { key });
            next.run(request).await
        }
        // Without a key, a signed-in dashboard (its cookie, and its CSRF token for changes).
        Err(e) if sessions == Sessions::Accepted => {
            let now = super::dashboard::wall_ms();
            match session::authorize(&state.keys, request.method(), request.headers(), now) {
                Some(Ok(())) => {
                    request.extensions_mut().insert(Caller { key: None });
                    next.run(request).await
                }
                Some(Err(refused)) => axum::response::IntoResponse::into_response(refused),
                None => axum::response::IntoResponse::into_response(e),
            }
        }
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

/// A route's handler behind its key check, at the level `durable.toml` sets (or its default).
pub(super) fn guarded(
    state: &Arc<AppState>,
    handler: MethodRouter<Arc<AppState>>,
    level: AuthLevel,
    sessions: Sessions,
) -> MethodRouter<Arc<AppState>> {
    handler.route_layer(middleware::from_fn_with_state(
        (Arc::clone(state), level, sessions),
        check_key,
    ))
}

/// Refuses starter routes the router could not serve as configured: the same path as a
/// built-in route or another starter (it would silently replace it), a pattern that overlaps
/// one (axum would panic), or axum's old `:param` / `*rest` syntax.
pub fn check_starter_routes(starters: &[super::Starter]) -> Result<(), String> {
    let mut paths = matchit::Router::new();
    for route in ROUTES {
        // Several methods share a path; one entry per path is enough.
        for path in route.full_paths(WEBHOOK_PREFIX) {
            let _ = paths.insert(path, route.id.to_owned());
        }
    }
    for path in super::dashboard::PAGE_PATHS {
        let _ = paths.insert(*path, "the dashboard".to_owned());
    }
    for starter in starters {
        let route = &starter.route;
        if route
            .split('/')
            .any(|seg| seg.starts_with(':') || seg.starts_with('*'))
        {
            return Err(format!(
                "starter route '{route}': write path parameters as {{name}} (':name' and '*name' are not supported)"
            ));
        }
        let owner = match &starter.function {
            Some(f) => format!("app.http '{}'", f.name),
            None => format!("the starter for '{}'", starter.orchestration),
        };
        if let Err(e) = paths.insert(route.clone(), owner) {
            let with = match &e {
                matchit::InsertError::Conflict { with } => match paths.at(with) {
                    Ok(m) => format!("'{with}' ({})", m.value),
                    Err(_) => format!("'{with}'"),
                },
                other => other.to_string(),
            };
            return Err(format!(
                "starter route '{route}' collides with the route {with}"
            ));
        }
    }
    Ok(())
}

/// The routes of `scope`s under `prefix`, each behind its key check.
pub fn router(state: &Arc<AppState>, main: bool) -> Router<Arc<AppState>> {
    let prefix = if main { WEBHOOK_PREFIX } else { RPC_PREFIX };
    // Methods of one path are merged into one MethodRouter (axum wants one per path).
    let mut paths: BTreeMap<String, MethodRouter<Arc<AppState>>> = BTreeMap::new();
    for route in ROUTES {
        if !main && route.scope == Scope::Root && route.id != "healthz" {
            continue;
        }
        let level = state.level_of(route.id, route.level);
        for path in route.full_paths(prefix) {
            let method_router = route.guarded(state, level);
            let merged = match paths.remove(&path) {
                Some(existing) => existing.merge(method_router),
                None => method_router,
            };
            paths.insert(path, merged);
        }
    }
    if main {
        for starter in &state.starters {
            let configured = starter.clone();
            let handler = match starter.function.clone() {
                Some(function) => axum::routing::on(
                    functions::method_filter(&function.methods),
                    move |st, caller, params, query, method, uri, headers, body| {
                        functions::handle(
                            st,
                            function.clone(),
                            caller,
                            params,
                            query,
                            method,
                            uri,
                            headers,
                            body,
                        )
                    },
                ),
                None => post(move |st, caller, headers, query, body| {
                    starter::start_configured(st, configured.clone(), caller, headers, query, body)
                }),
            };
            paths.insert(
                starter.route.clone(),
                guarded(state, handler, starter.auth_level, Sessions::Refused),
            );
        }
    }
    let router = paths
        .into_iter()
        .fold(Router::new(), |router, (path, mr)| router.route(&path, mr));
    if main {
        router.merge(super::dashboard::pages())
    } else {
        router
    }
}
