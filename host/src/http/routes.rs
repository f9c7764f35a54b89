//! The route table: every HTTP route the host serves, once. The routers (`super::router`:
//! [`super::app`], [`super::rpc_app`]), the key check of each route and the OpenAPI document
//! ([`super::openapi`]) are all generated from it, so a route cannot exist undocumented or
//! unprotected.

use std::sync::Arc;

use axum::middleware;
use axum::routing::{MethodFilter, MethodRouter, on};

use super::dashboard::api as dashboard;
use super::router::guarded;
use super::{AppState, AuthLevel, admin, entities, events, management, starter, status};

/// Where a route lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Under `/runtime/webhooks/durabletask` on the main listener, and under `/durabletask` on
    /// the keyless loopback RPC listener.
    Management,
    /// On the main listener only, at its own path.
    Root,
}

/// A route's HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    Post,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
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
    pub method: Verb,
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
    /// Other paths the route answers at, with the same handler and auth level.
    pub also_at: &'static [Alias],
    /// The handler, for the route's method.
    pub handler: fn(MethodFilter) -> MethodRouter<Arc<AppState>>,
}

/// Another path of a route. Its `id` is the route's `operationId` at that path in the OpenAPI
/// document, and `durable.toml` may name it for the route's auth level (one level for both).
pub struct Alias {
    pub id: &'static str,
    pub path: &'static str,
    /// Why the route is also there.
    pub why: &'static str,
}

const BAD: (u16, &str) = (400, "A malformed request; the body says what is wrong.");
const KEY: (u16, &str) = (401, "No key, or a key that does not grant this route.");
const UNKNOWN: (u16, &str) = (404, "No instance with that id.");
const BUSY: (u16, &str) = (
    503,
    "Overloaded or storage unavailable; retry after Retry-After seconds.",
);

const ENTITY_LIST_QUERY: &[QueryParam] = &[
    ("fetchState", "boolean", "Include each entity's state."),
    (
        "top",
        "integer",
        "Entities per page (1 to 1000, default 100).",
    ),
    (
        "lastOperationTimeFrom",
        "date-time",
        "Only entities last operated on at or after this time.",
    ),
    (
        "lastOperationTimeTo",
        "date-time",
        "Only entities last operated on at or before this time.",
    ),
];

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
    (
        "version",
        "string",
        "The instance's orchestration version (default: [versioning] defaultVersion).",
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
    ("name", "string", "Only instances of this orchestration."),
    (
        "newestFirst",
        "boolean",
        "Newest first (default false: oldest first); the continuation token pages back in time.",
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
        method: Verb::Post,
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
        also_at: &[],
        handler: |m| on(m, starter::start_generic),
    },
    Route {
        id: "startOrchestrationWithId",
        method: Verb::Post,
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
        also_at: &[],
        handler: |m| on(m, starter::start_generic_with_id),
    },
    Route {
        id: "getStatus",
        method: Verb::Get,
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
        also_at: &[],
        handler: |m| on(m, status::get_status),
    },
    Route {
        id: "purgeInstance",
        method: Verb::Delete,
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
        also_at: &[],
        handler: |m| on(m, management::purge_one),
    },
    Route {
        id: "listInstances",
        method: Verb::Get,
        path: "/instances",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Statuses of the instances matching the filters, oldest first, a page at a time.",
        query: LIST_QUERY,
        body: Body::None,
        answer: Answer::StatusList,
        errors: &[BAD, KEY, BUSY],
        also_at: &[Alias {
            id: "listInstancesSlash",
            path: "/instances/",
            why: "the official clients add the slash",
        }],
        handler: |m| on(m, management::list),
    },
    Route {
        id: "purgeInstances",
        method: Verb::Delete,
        path: "/instances",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Delete the finished instances matching the filters.",
        query: PURGE_QUERY,
        body: Body::None,
        answer: Answer::Purged,
        errors: &[BAD, KEY, (404, "No finished instance matches."), BUSY],
        also_at: &[Alias {
            id: "purgeInstancesSlash",
            path: "/instances/",
            why: "the official clients add the slash",
        }],
        handler: |m| on(m, management::purge_many),
    },
    Route {
        id: "raiseEvent",
        method: Verb::Post,
        path: "/instances/{instanceId}/raiseEvent/{eventName}",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Deliver an external event; the body is its data.",
        query: &[],
        body: Body::Json,
        answer: Answer::Accepted,
        errors: &[BAD, KEY, UNKNOWN, (410, "The instance has finished."), BUSY],
        also_at: &[],
        handler: |m| on(m, events::raise_event),
    },
    Route {
        id: "signalEntity",
        method: Verb::Post,
        path: "/entities/{entityName}/{entityKey}",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Send an operation to a durable entity (one-way); the body is its input.",
        query: &[("op", "string", "The operation's name (required).")],
        body: Body::Json,
        answer: Answer::Accepted,
        errors: &[
            (
                400,
                "A malformed entity name or key (empty, too long, or with '@' or '/'), no op, or a body that is not JSON.",
            ),
            KEY,
            (404, "No entity with that name is registered."),
            BUSY,
        ],
        also_at: &[],
        handler: |m| on(m, entities::signal),
    },
    Route {
        id: "getEntity",
        method: Verb::Get,
        path: "/entities/{entityName}/{entityKey}",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "A durable entity's state (the body is the state's JSON).",
        query: &[],
        body: Body::None,
        answer: Answer::Object,
        errors: &[BAD, KEY, (404, "The entity has no state."), BUSY],
        also_at: &[],
        handler: |m| on(m, entities::get),
    },
    Route {
        id: "listEntitiesNamed",
        method: Verb::Get,
        path: "/entities/{entityName}",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "The entities of one name, a page at a time (x-ms-continuation-token).",
        query: ENTITY_LIST_QUERY,
        body: Body::None,
        answer: Answer::Object,
        errors: &[BAD, KEY, BUSY],
        also_at: &[],
        handler: |m| on(m, entities::list_named),
    },
    Route {
        id: "listEntities",
        method: Verb::Get,
        path: "/entities",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Every durable entity, a page at a time (x-ms-continuation-token).",
        query: ENTITY_LIST_QUERY,
        body: Body::None,
        answer: Answer::Object,
        errors: &[BAD, KEY, BUSY],
        also_at: &[],
        handler: |m| on(m, entities::list_all),
    },
    Route {
        id: "terminateInstance",
        method: Verb::Post,
        path: "/instances/{instanceId}/terminate",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Terminate a running instance.",
        query: REASON,
        body: Body::None,
        answer: Answer::Accepted,
        errors: &[BAD, KEY, UNKNOWN, (410, "The instance has finished."), BUSY],
        also_at: &[],
        handler: |m| on(m, management::terminate),
    },
    Route {
        id: "suspendInstance",
        method: Verb::Post,
        path: "/instances/{instanceId}/suspend",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Suspend a running instance; events raised meanwhile are held.",
        query: REASON,
        body: Body::None,
        answer: Answer::Accepted,
        errors: &[BAD, KEY, UNKNOWN, (410, "The instance has finished."), BUSY],
        also_at: &[],
        handler: |m| on(m, management::suspend),
    },
    Route {
        id: "resumeInstance",
        method: Verb::Post,
        path: "/instances/{instanceId}/resume",
        scope: Scope::Management,
        level: AuthLevel::Function,
        summary: "Resume a suspended instance.",
        query: REASON,
        body: Body::None,
        answer: Answer::Accepted,
        errors: &[BAD, KEY, UNKNOWN, (410, "The instance has finished."), BUSY],
        also_at: &[],
        handler: |m| on(m, management::resume),
    },
    Route {
        id: "rewindInstance",
        method: Verb::Post,
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
        also_at: &[],
        handler: |m| on(m, management::rewind),
    },
    Route {
        id: "restartInstance",
        method: Verb::Post,
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
        also_at: &[],
        handler: |m| on(m, management::restart),
    },
    Route {
        id: "startGeneric",
        method: Verb::Post,
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
        also_at: &[],
        handler: |m| on(m, starter::start_generic),
    },
    Route {
        id: "startGenericWithId",
        method: Verb::Post,
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
        also_at: &[],
        handler: |m| on(m, starter::start_generic_with_id),
    },
    Route {
        id: "listComponents",
        method: Verb::Get,
        path: "/admin/components",
        scope: Scope::Root,
        level: AuthLevel::Admin,
        summary: "Stored components (by sha256 digest) and which digest serves each name.",
        query: &[],
        body: Body::None,
        answer: Answer::Object,
        errors: &[KEY, BUSY],
        also_at: &[],
        handler: |m| on(m, admin::list),
    },
    Route {
        id: "deployComponent",
        method: Verb::Post,
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
        also_at: &[],
        handler: |m| {
            on(m, admin::deploy)
                .layer(axum::extract::DefaultBodyLimit::max(
                    admin::MAX_COMPONENT_BYTES,
                ))
                .layer(middleware::from_fn(admin::refuse_oversized))
        },
    },
    Route {
        id: "deployApp",
        method: Verb::Post,
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
        also_at: &[],
        handler: |m| {
            on(m, admin::deploy_app)
                .layer(axum::extract::DefaultBodyLimit::max(
                    admin::MAX_COMPONENT_BYTES,
                ))
                .layer(middleware::from_fn(admin::refuse_oversized))
        },
    },
    Route {
        id: "activateComponent",
        method: Verb::Post,
        path: "/admin/components/{digest}/activate",
        scope: Scope::Root,
        level: AuthLevel::Admin,
        summary: "Route the names a stored component exports to it again (rollback).",
        query: &[],
        body: Body::None,
        answer: Answer::Object,
        errors: &[KEY, (404, "No stored component has that digest."), BUSY],
        also_at: &[],
        handler: |m| on(m, admin::activate),
    },
    Route {
        id: "advanceTestClock",
        method: Verb::Post,
        path: "/admin/test/clock/advance",
        scope: Scope::Root,
        level: AuthLevel::Admin,
        summary: "Move the clock forward (only with `durable serve --test-clock`).",
        query: &[("ms", "integer", "Milliseconds to move forward (required).")],
        body: Body::None,
        answer: Answer::Object,
        errors: &[BAD, KEY, (404, "The host runs without --test-clock.")],
        also_at: &[],
        handler: |m| on(m, events::advance_clock),
    },
    Route {
        id: "healthz",
        method: Verb::Get,
        path: "/healthz",
        scope: Scope::Root,
        level: AuthLevel::Anonymous,
        summary: "Liveness: `ok`.",
        query: &[],
        body: Body::None,
        answer: Answer::Text,
        errors: &[],
        also_at: &[],
        handler: |m| on(m, || async { "ok" }),
    },
    Route {
        id: "metrics",
        method: Verb::Get,
        path: "/metrics",
        scope: Scope::Root,
        level: AuthLevel::Anonymous,
        summary: "Prometheus metrics: instances by outcome, activities, store commits.",
        query: &[],
        body: Body::None,
        answer: Answer::Text,
        errors: &[],
        also_at: &[],
        handler: |m| on(m, super::metrics),
    },
    Route {
        id: "dashboardCounts",
        method: Verb::Get,
        path: "/dashboard/api/counts",
        scope: Scope::Root,
        level: AuthLevel::Admin,
        summary: "Instances per status under the list's filters (its status filter aside), for the dashboard.",
        query: &[
            ("createdTimeFrom", "date-time", "Created at or after."),
            ("createdTimeTo", "date-time", "Created at or before."),
            (
                "instanceIdPrefix",
                "string",
                "Instance ids starting with this.",
            ),
            ("name", "string", "Only instances of this orchestration."),
        ],
        body: Body::None,
        answer: Answer::Object,
        errors: &[BAD, KEY, BUSY],
        also_at: &[],
        handler: |m| on(m, dashboard::counts),
    },
    Route {
        id: "dashboardReplay",
        method: Verb::Get,
        path: "/dashboard/api/instances/{instanceId}/replay",
        scope: Scope::Root,
        level: AuthLevel::Admin,
        summary: "Replays the instance's history through the turn holding event `position`, on the version it ran then: decisions made, tasks pending, events awaited, custom status, the guest's log lines.",
        query: &[(
            "position",
            "integer",
            "An event number of the current execution (default: its last event).",
        )],
        body: Body::None,
        answer: Answer::Object,
        errors: &[BAD, KEY, UNKNOWN, BUSY],
        also_at: &[],
        handler: |m| on(m, dashboard::replay),
    },
    Route {
        id: "dashboardCheck",
        method: Verb::Get,
        path: "/dashboard/api/instances/{instanceId}/check",
        scope: Scope::Root,
        level: AuthLevel::Admin,
        summary: "Whether the orchestrator version deployed now replays the instance's history, and if not, the first event where it diverges.",
        query: &[],
        body: Body::None,
        answer: Answer::Object,
        errors: &[BAD, KEY, UNKNOWN, BUSY],
        also_at: &[],
        handler: |m| on(m, dashboard::check),
    },
    Route {
        id: "openapi",
        method: Verb::Get,
        path: "/openapi.json",
        scope: Scope::Root,
        level: AuthLevel::Anonymous,
        summary: "This document.",
        query: &[],
        body: Body::None,
        answer: Answer::Object,
        errors: &[],
        also_at: &[],
        handler: |m| on(m, super::openapi::serve),
    },
];

impl Route {
    /// The route's full path under `management_prefix` (for management routes).
    pub fn full_path(&self, management_prefix: &str) -> String {
        self.under(management_prefix, self.path)
    }

    /// `path` (the route's own or an alias's) under `management_prefix`.
    pub fn under(&self, management_prefix: &str, path: &str) -> String {
        match self.scope {
            Scope::Management => format!("{management_prefix}{path}"),
            Scope::Root => path.to_owned(),
        }
    }

    /// Every path the route answers at under `management_prefix`: its own, then its aliases'.
    pub fn full_paths(&self, management_prefix: &str) -> Vec<String> {
        let aliases = self.also_at.iter().map(|a| a.path);
        let paths = std::iter::once(self.path).chain(aliases);
        paths.map(|p| self.under(management_prefix, p)).collect()
    }

    /// The handler behind its key check, at `level`.
    pub(super) fn guarded(
        &self,
        state: &Arc<AppState>,
        level: AuthLevel,
    ) -> MethodRouter<Arc<AppState>> {
        let handler = (self.handler)(self.method.filter());
        guarded(state, handler, level, super::router::Sessions::Accepted)
    }

    /// The route `id` names: its own operation id or one of its aliases'.
    pub fn named(id: &str) -> Option<&'static Route> {
        ROUTES
            .iter()
            .find(|r| r.id == id || r.also_at.iter().any(|a| a.id == id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::WEBHOOK_PREFIX;

    #[test]
    fn operation_ids_are_unique_and_paths_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for route in ROUTES {
            for alias in route.also_at {
                assert!(seen.insert(alias.id), "duplicate operation id {}", alias.id);
                // The document describes an alias with its route's parameters.
                let params = |path: &'static str| {
                    let segments = path.split('/');
                    segments.filter(|s| s.starts_with('{')).collect::<Vec<_>>()
                };
                assert_eq!(params(alias.path), params(route.path), "{}", alias.id);
                assert!(std::ptr::eq(Route::named(alias.id).unwrap(), route));
            }
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
            for path in route.full_paths(WEBHOOK_PREFIX) {
                let method = route.method.as_str();
                assert!(
                    pairs.insert((method, path)),
                    "{method} {} twice",
                    route.path
                );
            }
        }
    }
}
