//! The route table: every HTTP route the host serves, once (the table itself is in
//! `routes/table.rs`; here, what a route is). The routers (`super::router`:
//! [`super::app`], [`super::rpc_app`]), the key check of each route and the OpenAPI document
//! ([`super::openapi`]) are all generated from it, so a route cannot exist undocumented or
//! unprotected.

use std::sync::Arc;

use axum::routing::{MethodFilter, MethodRouter};

use super::router::guarded;
use super::{AppState, AuthLevel};

mod table;
pub use table::ROUTES;

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
