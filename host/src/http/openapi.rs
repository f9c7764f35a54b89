//! `GET /openapi.json`: an OpenAPI 3.0 document generated from the route table
//! ([`super::routes::ROUTES`]) and the configured starters, with each route's effective auth level.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::routes::{Answer, Body, ROUTES, Route, Scope, Verb};
use super::{AppState, AuthLevel, WEBHOOK_PREFIX};
use crate::engine::RuntimeStatus;

pub async fn serve(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(document(&state))
}

/// The whole document for the main listener.
pub fn document(state: &AppState) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in ROUTES {
        let level = state.level_of(route.id, route.level);
        let method = route.method.as_str();
        let op = operation(route, level);
        insert(&mut paths, &route.full_path(WEBHOOK_PREFIX), method, op);
        for alias in route.also_at {
            let mut op = operation(route, level);
            op["operationId"] = Value::from(alias.id);
            let summary = format!("The same as {} ({}).", route.id, alias.why);
            op["summary"] = Value::from(summary);
            insert(
                &mut paths,
                &route.under(WEBHOOK_PREFIX, alias.path),
                method,
                op,
            );
        }
    }
    for starter in &state.starters {
        let route = Route {
            id: "startConfigured",
            method: Verb::Post,
            path: "",
            scope: Scope::Root,
            level: starter.auth_level,
            summary: "",
            query: &[],
            body: Body::Json,
            answer: Answer::CheckStatus,
            errors: &[
                (400, "A body that is not JSON."),
                (401, "No key, or a key that does not grant this route."),
                (
                    503,
                    "Overloaded or storage unavailable; retry after Retry-After seconds.",
                ),
            ],
            also_at: &[],
            handler: |m| axum::routing::on(m, || async {}),
        };
        let mut op = operation(&route, starter.auth_level);
        op["operationId"] = Value::from(format!("start:{}", starter.route));
        op["summary"] = Value::from(format!(
            "Configured starter: start orchestration {} with the body as its input.",
            starter.orchestration
        ));
        insert(&mut paths, &starter.route, "post", op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "durable-wasm",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Durable Functions' HTTP API (start, status, list, events, terminate, suspend, resume, rewind, restart, purge), the configured starters, and the host's admin routes. The management routes are also served without keys under /durabletask/ on the loopback RPC listener (durable serve --rpc-listen).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "code": {"type": "apiKey", "in": "query", "name": "code"},
                "functionsKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
            },
            "schemas": schemas(),
        },
    })
}

fn insert(paths: &mut Map<String, Value>, path: &str, method: &str, op: Value) {
    let entry = paths
        .entry(path.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    entry[method.to_ascii_lowercase()] = op;
}

fn operation(route: &Route, level: AuthLevel) -> Value {
    let mut parameters: Vec<Value> = path_params(route.path)
        .into_iter()
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}})
        })
        .collect();
    for (name, kind, description) in route.query {
        parameters.push(json!({
            "name": name,
            "in": "query",
            "required": false,
            "description": description,
            "schema": query_schema(kind),
        }));
    }
    if matches!(route.answer, Answer::StatusList) {
        parameters.push(json!({
            "name": "x-ms-continuation-token",
            "in": "header",
            "required": false,
            "description": "The token of the previous page's answer, for the next page.",
            "schema": {"type": "string"},
        }));
    }
    let mut op = json!({
        "operationId": route.id,
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses(route),
        "x-auth-level": level_name(level),
    });
    op["security"] = match level {
        AuthLevel::Anonymous => json!([]),
        _ => json!([{"code": []}, {"functionsKey": []}]),
    };
    match route.body {
        Body::None => {}
        Body::Json => {
            op["requestBody"] = json!({
                "required": false,
                "content": {"application/json": {"schema": {}}},
            });
        }
        Body::Wasm => {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/wasm": {"schema": {"type": "string", "format": "binary"}}},
            });
        }
        Body::Script => {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/javascript": {"schema": {"type": "string"}}},
            });
        }
    }
    op
}

fn level_name(level: AuthLevel) -> &'static str {
    match level {
        AuthLevel::Anonymous => "anonymous",
        AuthLevel::Function => "function",
        AuthLevel::Admin => "admin",
    }
}

fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn query_schema(kind: &str) -> Value {
    match kind {
        "date-time" => json!({"type": "string", "format": "date-time"}),
        "boolean" => json!({"type": "boolean"}),
        "integer" => json!({"type": "integer"}),
        "number" => json!({"type": "number"}),
        _ => json!({"type": "string"}),
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn responses(route: &Route) -> Value {
    let mut out = Map::new();
    let ok = |description: &str, schema: Value| json!({"description": description, "content": json_content(schema)});
    match route.answer {
        Answer::CheckStatus => {
            out.insert(
                "202".into(),
                json!({
                    "description": "Started: the check-status payload, with Location and Retry-After.",
                    "headers": {
                        "Location": {"schema": {"type": "string"}},
                        "Retry-After": {"schema": {"type": "integer"}},
                    },
                    "content": json_content(schema_ref("CheckStatus")),
                }),
            );
            out.insert(
                "200".into(),
                ok(
                    "With ?timeout=, finished in time: the output (Completed) or the status payload.",
                    json!({}),
                ),
            );
        }
        Answer::Status => {
            out.insert(
                "200".into(),
                ok("The instance has finished.", schema_ref("Status")),
            );
            out.insert(
                "202".into(),
                ok(
                    "The instance is still running (Location and Retry-After are set).",
                    schema_ref("Status"),
                ),
            );
        }
        Answer::StatusList => {
            out.insert(
                "200".into(),
                json!({
                    "description": "A page of statuses; x-ms-continuation-token is set when more follow.",
                    "headers": {"x-ms-continuation-token": {"schema": {"type": "string"}}},
                    "content": json_content(json!({"type": "array", "items": schema_ref("Status")})),
                }),
            );
        }
        Answer::Purged => {
            out.insert("200".into(), ok("Purged.", schema_ref("Purged")));
        }
        Answer::Accepted => {
            out.insert("202".into(), json!({"description": "Accepted."}));
        }
        Answer::Object => {
            out.insert("200".into(), ok("Done.", json!({"type": "object"})));
        }
        Answer::Text => {
            out.insert(
                "200".into(),
                json!({"description": "Text.", "content": {"text/plain": {"schema": {"type": "string"}}}}),
            );
        }
    }
    for (code, description) in route.errors {
        // A failed instance's status is the body of getStatus's 500.
        let schema = if *code == 500 && route.answer == Answer::Status {
            schema_ref("Status")
        } else {
            schema_ref("Error")
        };
        out.insert(
            code.to_string(),
            json!({"description": description, "content": json_content(schema)}),
        );
    }
    Value::Object(out)
}

fn schemas() -> Value {
    let statuses: Vec<&str> = RuntimeStatus::ALL.iter().map(|s| s.as_str()).collect();
    let uri = json!({"type": "string"});
    json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string"},
                "Message": {"type": "string"},
                "ExceptionMessage": {"type": "string"},
            },
        },
        "Status": {
            "type": "object",
            "required": ["name", "instanceId", "runtimeStatus", "createdTime", "lastUpdatedTime"],
            "properties": {
                "name": {"type": "string"},
                "instanceId": {"type": "string"},
                "runtimeStatus": {"type": "string", "enum": statuses},
                "input": {},
                "output": {},
                "customStatus": {},
                "createdTime": {"type": "string", "format": "date-time"},
                "lastUpdatedTime": {"type": "string", "format": "date-time"},
                "parentInstanceId": {"type": "string"},
                "historyEvents": {"type": "array", "items": {"type": "object"}},
                "history": {"type": "array", "items": {"type": "object"}},
            },
        },
        "CheckStatus": {
            "type": "object",
            "required": ["id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri"],
            "properties": {
                "id": {"type": "string"},
                "statusQueryGetUri": uri,
                "sendEventPostUri": uri,
                "terminatePostUri": uri,
                "rewindPostUri": uri,
                "purgeHistoryDeleteUri": uri,
                "restartPostUri": uri,
                "suspendPostUri": uri,
                "resumePostUri": uri,
            },
        },
        "Purged": {
            "type": "object",
            "required": ["instancesDeleted"],
            "properties": {"instancesDeleted": {"type": "integer", "minimum": 0}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_found() {
        assert_eq!(
            path_params("/instances/{instanceId}/raiseEvent/{eventName}"),
            ["instanceId", "eventName"]
        );
        assert!(path_params("/instances").is_empty());
    }
}
