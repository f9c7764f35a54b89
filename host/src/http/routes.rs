//! The route table: every HTTP route the host serves, once. The routers ([`super::app`],
//! [`super::rpc_app`]), the key check of each route and the OpenAPI document
//! ([`super::openapi`]) are all generated from it, so a route cannot exist undocumented or
//! unprotected.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, post};

use super::management::Params;
use super::{
    AppState, AuthLevel, RPC_PREFIX, WEBHOOK_PREFIX, admin, events, functions, management, starter,
    status,
};

/// Where a route lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Under `/runtime/webhooks/durabletask` on the main listener, and under `/durabletask` on
    /// the keyless loopback RPC listener.
    Management,
    /// On the main listener only, at its own path.
    Root,
}

/// What a route takes as its request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    /// Any JSON value; an empty body is `null`.
    Json,
    /// A WebAssembly component's bytes.
    Wasm,
    /// JavaScript source text (a JS app).
    Script,
}

/// What a successful answer carries (the OpenAPI schema of the 2xx responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 202 with the check-status payload (or, with `?timeout=`, 200 with the result).
    CheckStatus,
    /// The status payload.
    Status,
    /// A list of status payloads.
    StatusList,
    /// `{"instancesDeleted": n}`.
    Purged,
    /// 202 with an empty body.
    Accepted,
    /// Some JSON object.
    Object,
    /// Plain text.
    Text,
}

/// A query parameter: name, OpenAPI type (`string`, `boolean`, `integer`, `date-time`, `number`)
/// and what it does.
pub type QueryParam = (&'static str, &'static str, &'static str);

/// One route.
pub struct Route {
    /// The OpenAPI `operationId`; also the name used to set the route's auth level in
    /// `durable.toml` (`[auth_levels]`).
    pub id: &'static str,
    pub method: Method,
    /// Path relative to the scope's prefix, with `{param}` segments.
    pub path: &'static str,
    pub scope: Scope,
    /// Who may call it unless `durable.toml` says otherwise.
    pub level: AuthLevel,
    pub summary: &'static str,
    pub query: &'static [QueryParam],
    pub body: Body,
    pub answer: Answer,
    /// Status codes besides the success one, with what they mean.
    pub errors: &'static [(u16, &'static str)],
    pub handler: fn() -> MethodRouter<Arc<AppState>>,
}

const BAD: (u16, &str) = (400, "A malformed request; the body says what is wrong.");
const KEY: (u16, &str) = (401, "No key, or a key that does not grant this route.");
const UNKNOWN: (u16, &str) = (404, "No instance with that id.");
const BUSY: (u16, &str) = (
    503,
    "Overloaded or storage unavailable; retry after Retry-After seconds.",
);

const START_QUERY: &[QueryParam] = &[
    (
        "timeout",
        "number",
        "Seconds to wait for the instance to finish before answering 202 (waitForCompletionOrCreateCheckStatusResponse).",
    ),
    (
        "pollingInterval",
        "number",
        "Accepted for compatibility; the host is notified, it does not poll.",
    ),
];
const STATUS_QUERY: &[QueryParam] = &[
    (
        "showHistory",
        "boolean",
        "Include the execution history (historyEvents).",
    ),
    (
        "showHistoryOutput",
        "boolean",
        "Include results in the history events.",
    ),
    ("showInput", "boolean", "Include the input (default true)."),
    (
        "returnInternalServerErrorOnFailure",
        "boolean",
        "Answer 500 for a failed instance.",
    ),
];
const LIST_QUERY: &[QueryParam] = &[
    (
        "runtimeStatus",
        "string",
        "Comma-separated statuses: Pending, Running, Completed, ContinuedAsNew, Failed, Terminated, Suspended.",
    ),
    ("createdTimeFrom", "date-time", "Created at or after."),
    ("createdTimeTo", "date-time", "Created at or before."),
    (
        "instanceIdPrefix",
        "string",
        "Instance ids starting with this.",
    ),
    (
        "top",
        "integer",
        "Page size, 1 to 1000 (default 1000); more pages via x-ms-continuation-token.",
    ),
    ("showInput", "boolean", "Include inputs (default true)."),
];
const PURGE_QUERY: &[QueryParam] = &[
    (
        "createdTimeFrom",
        "date-time",
        "Required: purge instances created at or after.",
    ),
    (
        "createdTimeTo",
        "date-time",
        "Created at or before (default now).",
    ),
    (
        "runtimeStatus",
        "string",
        "Comma-separated terminal statuses (default Completed, Failed, Terminated).",
    ),
];
const REASON: &[QueryParam] = &[("reason", "string", "Recorded in the history.")];

/// Every route of the host.
pub static ROUTES: &[Route] = &[
    Route {
        id: "startOrchestration",
        method: Method::POST,
        path: "/orchestrators/{name}",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Start a new instance of orchestration `name`; the body is its input.",
        query: START_QUERY,
        body: Body::Json,
        answer: Answer::CheckStatus,
        errors: &[
            (400, "Unknown orchestration, or a body that is not JSON."),
            KEY,
            BUSY,
        ],
        handler: || post(starter::start_generic),
    },
    Route {
        id: "startOrchestrationWithId",
        method: Method::POST,
        path: "/orchestrators/{name}/{instanceId}",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Start orchestration `name` under a chosen instance id.",
        query: START_QUERY,
        body: Body::Json,
        answer: Answer::CheckStatus,
        errors: &[
            (
                400,
                "Unknown orchestration, a bad id, or a body that is not JSON.",
            ),
            KEY,
            (409, "An instance with that id is running."),
            BUSY,
        ],
        handler: || post(starter::start_generic_with_id),
    },
    Route {
        id: "getStatus",
        method: Method::GET,
        path: "/instances/{instanceId}",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Status of one instance: 200 when finished, 202 (with Location and Retry-After) while it runs.",
        query: STATUS_QUERY,
        body: Body::None,
        answer: Answer::Status,
        errors: &[
            BAD,
            KEY,
            UNKNOWN,
            (
                500,
                "The instance failed and returnInternalServerErrorOnFailure=true.",
            ),
            BUSY,
        ],
        handler: || get(status::get_status),
    },
    Route {
        id: "purgeInstance",
        method: Method::DELETE,
        path: "/instances/{instanceId}",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Delete a finished instance and its history.",
        query: &[],
        body: Body::None,
        answer: Answer::Purged,
        errors: &[
            BAD,
            KEY,
            UNKNOWN,
            (412, "The instance has not finished."),
            BUSY,
        ],
        handler: || delete(management::purge_one),
    },
    Route {
        id: "listInstances",
        method: Method::GET,
        path: "/instances",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Statuses of the instances matching the filters, oldest first, a page at a time.",
        query: LIST_QUERY,
        body: Body::None,
        answer: Answer::StatusList,
        errors: &[BAD, KEY, BUSY],
        handler: || get(management::list),
    },
    Route {
        id: "listInstancesSlash",
        method: Method::GET,
        path: "/instances/",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "The same as listInstances (the official clients add the slash).",
        query: LIST_QUERY,
        body: Body::None,
        answer: Answer::StatusList,
        errors: &[BAD, KEY, BUSY],
        handler: || get(management::list),
    },
    Route {
        id: "purgeInstances",
        method: Method::DELETE,
        path: "/instances",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Delete the finished instances matching the filters.",
        query: PURGE_QUERY,
        body: Body::None,
        answer: Answer::Purged,
        errors: &[BAD, KEY, (404, "No finished instance matches."), BUSY],
        handler: || delete(management::purge_many),
    },
    Route {
        id: "purgeInstancesSlash",
        method: Method::DELETE,
        path: "/instances/",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "The same as purgeInstances (the official clients add the slash).",
        query: PURGE_QUERY,
        body: Body::None,
        answer: Answer::Purged,
        errors: &[BAD, KEY, (404, "No finished instance matches."), BUSY],
        handler: || delete(management::purge_many),
    },
    Route {
        id: "raiseEvent",
        method: Method::POST,
        path: "/instances/{instanceId}/raiseEvent/{eventName}",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Deliver an external event; the body is its data.",
        query: &[],
        body: Body::Json,
        answer: Answer::Accepted,
        errors: &[BAD, KEY, UNKNOWN, (410, "The instance has finished."), BUSY],
        handler: || post(events::raise_event),
    },
    Route {
        id: "terminateInstance",
        method: Method::POST,
        path: "/instances/{instanceId}/terminate",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Terminate a running instance.",
        query: REASON,
        body: Body::None,
        answer: Answer::Accepted,
        errors: &[BAD, KEY, UNKNOWN, (410, "The instance has finished."), BUSY],
        handler: || post(management::terminate),
    },
    Route {
        id: "suspendInstance",
        method: Method::POST,
        path: "/instances/{instanceId}/suspend",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Suspend a running instance; events raised meanwhile are held.",
        query: REASON,
        body: Body::None,
        answer: Answer::Accepted,
        errors: &[BAD, KEY, UNKNOWN, (410, "The instance has finished."), BUSY],
        handler: || post(management::suspend),
    },
    Route {
        id: "resumeInstance",
        method: Method::POST,
        path: "/instances/{instanceId}/resume",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Resume a suspended instance.",
        query: REASON,
        body: Body::None,
        answer: Answer::Accepted,
        errors: &[BAD, KEY, UNKNOWN, (410, "The instance has finished."), BUSY],
        handler: || post(management::resume),
    },
    Route {
        id: "rewindInstance",
        method: Method::POST,
        path: "/instances/{instanceId}/rewind",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Re-run a failed instance from its failed steps.",
        query: REASON,
        body: Body::None,
        answer: Answer::Accepted,
        errors: &[
            BAD,
            KEY,
            UNKNOWN,
            (412, "The instance has not failed."),
            BUSY,
        ],
        handler: || post(management::rewind),
    },
    Route {
        id: "restartInstance",
        method: Method::POST,
        path: "/instances/{instanceId}/restart",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Start the instance's orchestration again with the same input.",
        query: &[(
            "restartWithNewInstanceId",
            "boolean",
            "A new id (default true), or the same id.",
        )],
        body: Body::None,
        answer: Answer::CheckStatus,
        errors: &[
            (400, "A bad id, or no instance with that id."),
            KEY,
            (
                409,
                "restartWithNewInstanceId=false and the instance is running.",
            ),
            BUSY,
        ],
        handler: || post(management::restart),
    },
    Route {
        id: "startGeneric",
        method: Method::POST,
        path: "/api/orchestrators/{name}",
        scope: Scope::Root,
        level: AuthLevel::Function,
        summary: "Start orchestration `name` (a generic starter, as the DF samples have it).",
        query: START_QUERY,
        body: Body::Json,
        answer: Answer::CheckStatus,
        errors: &[
            (400, "Unknown orchestration, or a body that is not JSON."),
            KEY,
            BUSY,
        ],
        handler: || post(starter::start_generic),
    },
    Route {
        id: "startGenericWithId",
        method: Method::POST,
        path: "/api/orchestrators/{name}/{instanceId}",
        scope: Scope::Root,
        level: AuthLevel::Function,
        summary: "Start orchestration `name` under a chosen instance id.",
        query: START_QUERY,
        body: Body::Json,
        answer: Answer::CheckStatus,
        errors: &[
            (
                400,
                "Unknown orchestration, a bad id, or a body that is not JSON.",
            ),
            KEY,
            (409, "An instance with that id is running."),
            BUSY,
        ],
        handler: || post(starter::start_generic_with_id),
    },
    Route {
        id: "listComponents",
        method: Method::GET,
        path: "/admin/components",
        scope: Scope::Root,
        level: AuthLevel::Admin,
        summary: "Stored components (by sha256 digest) and which digest serves each name.",
        query: &[],
        body: Body::None,
        answer: Answer::Object,
        errors: &[KEY, BUSY],
        handler: || get(admin::list),
    },
    Route {
        id: "deployComponent",
        method: Method::POST,
        path: "/admin/components/{kind}",
        scope: Scope::Root,
        level: AuthLevel::Admin,
        summary: "Deploy an `activity` or `orchestrator` component (body: its bytes): validated, stored, activated.",
        query: &[
            (
                "activate",
                "boolean",
                "Route its names to it now (default true).",
            ),
            (
                "dryRun",
                "boolean",
                "Orchestrators: replay every in-flight history against it and report divergences instead.",
            ),
            (
                "migrate",
                "boolean",
                "Orchestrators: activate it, then move every in-flight instance it replays exactly onto it.",
            ),
        ],
        body: Body::Wasm,
        answer: Answer::Object,
        errors: &[
            (
                400,
                "Not a component, the wrong world, or imports that are not allowed.",
            ),
            KEY,
            (404, "Kind is neither activity nor orchestrator."),
            (413, "Larger than 32 MiB."),
            BUSY,
        ],
        handler: || {
            post(admin::deploy)
                .layer(axum::extract::DefaultBodyLimit::max(
                    admin::MAX_COMPONENT_BYTES,
                ))
                .layer(middleware::from_fn(admin::refuse_oversized))
        },
    },
    Route {
        id: "deployApp",
        method: Method::POST,
        path: "/admin/apps/{name}",
        scope: Scope::Root,
        level: AuthLevel::Admin,
        summary: "Deploy a new version of a served JS app (`name`: its file name, e.g. `app.js`; body: its source): built, its activities and orchestrations deployed as components are, its HTTP functions swapped behind the same routes.",
        query: &[
            (
                "activate",
                "boolean",
                "Must stay true for an app (its HTTP functions are swapped as it is deployed): false is refused.",
            ),
            (
                "dryRun",
                "boolean",
                "Replay every in-flight history of its orchestrations against it and report divergences instead.",
            ),
            (
                "migrate",
                "boolean",
                "Activate it, then move every in-flight instance its orchestrations replay exactly onto it.",
            ),
        ],
        body: Body::Script,
        answer: Answer::Object,
        errors: &[
            (
                400,
                "The app does not build (the message names file, line and column), or its app.http routes changed (a restart serves new routes).",
            ),
            KEY,
            (404, "No JS app of that name is served."),
            (409, "Two [[apps]] entries serve apps of that file name."),
            (413, "Larger than 32 MiB."),
            BUSY,
        ],
        handler: || {
            post(admin::deploy_app)
                .layer(axum::extract::DefaultBodyLimit::max(
                    admin::MAX_COMPONENT_BYTES,
                ))
                .layer(middleware::from_fn(admin::refuse_oversized))
        },
    },
    Route {
        id: "activateComponent",
        method: Method::POST,
        path: "/admin/components/{digest}/activate",
        scope: Scope::Root,
        level: AuthLevel::Admin,
        summary: "Route the names a stored component exports to it again (rollback).",
        query: &[],
        body: Body::None,
        answer: Answer::Object,
        errors: &[KEY, (404, "No stored component has that digest."), BUSY],
        handler: || post(admin::activate),
    },
    Route {
        id: "advanceTestClock",
        method: Method::POST,
        path: "/admin/test/clock/advance",
        scope: Scope::Root,
        level: AuthLevel::Admin,
        summary: "Move the clock forward (only with `durable serve --test-clock`).",
        query: &[("ms", "integer", "Milliseconds to move forward (required).")],
        body: Body::None,
        answer: Answer::Object,
        errors: &[BAD, KEY, (404, "The host runs without --test-clock.")],
        handler: || post(events::advance_clock),
    },
    Route {
        id: "healthz",
        method: Method::GET,
        path: "/healthz",
        scope: Scope::Root,
        level: AuthLevel::Anonymous,
        summary: "Liveness: `ok`.",
        query: &[],
        body: Body::None,
        answer: Answer::Text,
        errors: &[],
        handler: || get(|| async { "ok" }),
    },
    Route {
        id: "metrics",
        method: Method::GET,
        path: "/metrics",
        scope: Scope::Root,
        level: AuthLevel::Anonymous,
        summary: "Prometheus metrics: instances by outcome, activities, store commits.",
        query: &[],
        body: Body::None,
        answer: Answer::Text,
        errors: &[],
        handler: || get(super::metrics),
    },
    Route {
        id: "openapi",
        method: Method::GET,
        path: "/openapi.json",
        scope: Scope::Root,
        level: AuthLevel::Anonymous,
        summary: "This document.",
        query: &[],
        body: Body::None,
        answer: Answer::Object,
        errors: &[],
        handler: || get(super::openapi::serve),
    },
];

impl Route {
    /// The route's full path under `prefix` (the management prefix for management routes).
    pub fn full_path(&self, management_prefix: &str) -> String {
        match self.scope {
            Scope::Management => format!("{management_prefix}{}", self.path),
            Scope::Root => self.path.to_owned(),
        }
    }
}

/// The caller's key, once the route's check has passed (handlers echo it in the URIs they
/// return).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub key: Option<String>,
}

/// Checks the caller's key for `level` and records it for the handler.
async fn check_key(
    State((state, level)): State<(Arc<AppState>, AuthLevel)>,
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
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

/// A route's handler behind its key check, at the level `durable.toml` sets (or its default).
fn guarded(
    state: &Arc<AppState>,
    handler: MethodRouter<Arc<AppState>>,
    level: AuthLevel,
) -> MethodRouter<Arc<AppState>> {
    handler.route_layer(middleware::from_fn_with_state(
        (Arc::clone(state), level),
        check_key,
    ))
}

/// Refuses starter routes the router could not serve as configured: the same path as a
/// built-in route or another starter (it would silently replace it), a pattern that overlaps
/// one (axum would panic), or axum's old `:param` / `*rest` syntax.
pub fn check_starter_routes(starters: &[super::Starter]) -> Result<(), String> {
    let mut paths = matchit::Router::new();
    for route in ROUTES {
        // The built-in table has twins per method; one entry per path is enough.
        let _ = paths.insert(route.full_path(WEBHOOK_PREFIX), route.id.to_owned());
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
        let method_router = guarded(state, (route.handler)(), level);
        let path = route.full_path(prefix);
        let merged = match paths.remove(&path) {
            Some(existing) => existing.merge(method_router),
            None => method_router,
        };
        paths.insert(path, merged);
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
                guarded(state, handler, starter.auth_level),
            );
        }
    }
    paths
        .into_iter()
        .fold(Router::new(), |router, (path, mr)| router.route(&path, mr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_unique_and_paths_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for route in ROUTES {
            assert!(seen.insert(route.id), "duplicate operation id {}", route.id);
            assert!(route.path.starts_with('/'), "{}", route.path);
            assert_eq!(
                route.path.matches('{').count(),
                route.path.matches('}').count(),
                "{}",
                route.path
            );
        }
        let mut pairs = std::collections::HashSet::new();
        for route in ROUTES {
            assert!(
                pairs.insert((route.method.clone(), route.full_path(WEBHOOK_PREFIX))),
                "{} {} twice",
                route.method,
                route.path
            );
        }
    }
}
