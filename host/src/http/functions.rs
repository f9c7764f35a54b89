//! HTTP functions that run as code (a JS app's `app.http`): the request goes into the app's
//! HTTP-function component, which answers it through a Durable Functions client backed by this
//! host.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::extract::Caller;
use super::respond::{base_url, check_status_body, status_body};
use super::{ApiError, AppState};
use crate::ids::InstanceId;
use crate::jsapp::deploy::FunctionSlot;
use crate::runtime::starter::{ClientError, DurableClient, HttpRequest, StarterError};
use crate::store::StoreError;

/// A JS app's HTTP function behind a route.
#[derive(Clone)]
pub struct JsFunction {
    pub name: String,
    /// Methods it accepts, upper case (empty: any).
    pub methods: Vec<String>,
    /// The app's HTTP-function component (a deployment of a new version swaps it).
    pub functions: Arc<FunctionSlot>,
}

impl std::fmt::Debug for JsFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsFunction")
            .field("name", &self.name)
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}

/// The methods a function is routed for: its own, or all of the common ones.
pub fn method_filter(methods: &[String]) -> axum::routing::MethodFilter {
    use axum::routing::MethodFilter;
    const ALL: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
    let names: Vec<&str> = if methods.is_empty() {
        ALL.to_vec()
    } else {
        methods.iter().map(String::as_str).collect()
    };
    names
        .iter()
        .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
        .filter_map(|m| MethodFilter::try_from(m).ok())
        .reduce(MethodFilter::or)
        .unwrap_or(MethodFilter::POST)
}

/// Runs the function on the request.
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    State(state): State<Arc<AppState>>,
    function: JsFunction,
    Extension(caller): Extension<Caller>,
    params: axum::extract::RawPathParams,
    Query(query): Query<std::collections::BTreeMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let origin = base_url(&headers, "");
    let request = HttpRequest {
        method: method.to_string(),
        url: format!("{origin}{uri}"),
        // Everything the client sent but the dashboard's session cookie.
        headers: headers
            .iter()
            .filter_map(|(k, v)| {
                let value = v.to_str().ok()?;
                let value = if k == header::COOKIE {
                    super::dashboard::session::without_cookie(value)?
                } else {
                    value.to_owned()
                };
                Some((k.to_string(), value))
            })
            .collect(),
        params: serde_json::to_string(
            &params
                .iter()
                .collect::<std::collections::BTreeMap<&str, &str>>(),
        )
        .unwrap_or_else(|_| "{}".into()),
        query: serde_json::to_string(&query).unwrap_or_else(|_| "{}".into()),
        body: body.to_vec(),
    };
    let client = Arc::new(RequestClient {
        state: Arc::clone(&state),
        base: base_url(&headers, state.prefix),
        key: caller.key,
        trace: super::extract::trace_of(&headers),
    });
    let sandbox = &state.deployer.components().starters;
    let component = function.functions.current();
    match sandbox
        .handle(&component, client, &function.name, request)
        .await
    {
        Ok(r) => Ok(response(r.status, r.headers, r.body)),
        Err(StarterError::Failed { message, details }) => {
            tracing::warn!(function = %function.name, details = details.as_deref().unwrap_or(""), "HTTP function failed: {message}");
            Err(function_failed(format!("{}: {message}", function.name)))
        }
        Err(e @ StarterError::Trapped(_)) => {
            tracing::error!(function = %function.name, "{e}");
            Err(function_failed(format!("{}: {e}", function.name)))
        }
    }
}

fn response(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

/// The client of one request: check-status URIs point where the caller reached us, with the
/// caller's key (as Durable Functions' do).
struct RequestClient {
    state: Arc<AppState>,
    base: String,
    key: Option<String>,
    /// The function's request's trace context, carried on by the instances it starts.
    trace: Option<crate::trace::TraceContext>,
}

fn id_of(raw: &str) -> Result<InstanceId, ClientError> {
    super::extract::parse_id(raw).map_err(|e| ClientError(e.to_string()))
}

fn store_error(id: &InstanceId, e: StoreError) -> ClientError {
    match e {
        StoreError::NoSuchInstance(_) => ClientError(format!("no instance with id '{id}'")),
        StoreError::InstanceFinished(_) => {
            ClientError(format!("instance '{id}' has already finished"))
        }
        e => ClientError(e.to_string()),
    }
}

#[async_trait::async_trait]
impl DurableClient for RequestClient {
    async fn start_new(
        &self,
        name: &str,
        instance_id: Option<String>,
        input: Option<String>,
    ) -> Result<String, ClientError> {
        let id = instance_id.as_deref().map(id_of).transpose()?;
        let input = input.unwrap_or_else(|| "null".into());
        let options = crate::executor::StartOptions {
            version: None,
            trace: self.trace.clone(),
        };
        let instance = self
            .state
            .executor
            .start_with(name, id, input, options)
            .await
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(instance.instance_id.to_string())
    }

    async fn get_status(&self, instance_id: &str) -> Result<Option<String>, ClientError> {
        let id = id_of(instance_id)?;
        let lookup = id.clone();
        let found = crate::store::read(self.state.executor.store(), move |s| s.instance(&lookup))
            .await
            .map_err(|e| store_error(&id, e))?;
        Ok(found.map(|i| status_body(&i).to_string()))
    }

    async fn raise_event(
        &self,
        instance_id: &str,
        name: &str,
        data: String,
    ) -> Result<(), ClientError> {
        let id = id_of(instance_id)?;
        let executor = &self.state.executor;
        executor
            .raise_event(&id, name, data)
            .await
            .map_err(|e| store_error(&id, e))
    }

    async fn terminate(&self, instance_id: &str, reason: String) -> Result<(), ClientError> {
        let id = id_of(instance_id)?;
        let executor = &self.state.executor;
        executor
            .terminate(&id, reason)
            .await
            .map_err(|e| store_error(&id, e))
    }

    fn check_status_payload(&self, instance_id: &str, _request_url: &str) -> String {
        match InstanceId::parse(instance_id) {
            Ok(id) => {
                let body = check_status_body(&self.base, &id, self.key.as_deref());
                serde_json::to_string(&body).unwrap_or_else(|_| "{}".into())
            }
            Err(_) => "{}".into(),
        }
    }

    async fn wait_for_completion(
        &self,
        instance_id: &str,
        timeout: Duration,
    ) -> Result<Option<String>, ClientError> {
        let id = id_of(instance_id)?;
        let done = self
            .state
            .executor
            .wait_finished(&id, timeout)
            .await
            .map_err(|e| store_error(&id, e))?;
        if !done {
            return Ok(None);
        }
        self.get_status(instance_id).await
    }

    fn now_ms(&self) -> u64 {
        self.state.executor.now_ms()
    }
}

/// 500 with the function's error, as Azure Functions answers an unhandled exception (the
/// message is the app's own, so it is shown, unlike the host's internal errors).
fn function_failed(message: String) -> ApiError {
    ApiError::with_status(StatusCode::INTERNAL_SERVER_ERROR, message)
}
