//! The one error type of the HTTP layer.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::executor::StartError;
use crate::store::StoreError;

/// An HTTP error: 4xx for client mistakes (with a helpful message), 5xx for server faults
/// (logged, no internals in the body).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("a valid key is required: pass it as ?code=KEY or in the x-functions-key header")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    /// An error axum produced itself (body too large, undecodable path, ...), with its status.
    #[error("{1}")]
    Other(StatusCode, String),
}

impl ApiError {
    /// An error with an explicit status, for responses that did not start as an `ApiError`.
    pub fn with_status(status: StatusCode, message: String) -> Self {
        ApiError::Other(status, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Other(status, _) => *status,
        };
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!("internal error: {detail}");
                "internal server error; see the host's log".to_owned()
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!("service unavailable: {detail}");
                detail.clone()
            }
            other => other.to_string(),
        };
        // `Message`/`ExceptionMessage` as the Durable Functions extension's error bodies have
        // them: its Python client raises `ExceptionMessage` when a start is refused.
        let body = json!({ "error": message, "Message": message, "ExceptionMessage": message });
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InstanceExists(id) => {
                ApiError::Conflict(format!("an instance with id '{id}' is already running"))
            }
            StoreError::NoSuchInstance(id) => {
                ApiError::NotFound(format!("no instance with id '{id}'"))
            }
            e @ StoreError::StaleExecution { .. } => ApiError::Conflict(e.to_string()),
            e @ StoreError::TooBig(_) => {
                ApiError::with_status(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            e if e.is_retriable() => {
                ApiError::Unavailable(format!("storage is temporarily unavailable: {e}"))
            }
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            // Durable Functions answers 400 for an unknown function name.
            StartError::UnknownOrchestration(_) => ApiError::BadRequest(e.to_string()),
            StartError::Overloaded(_) => ApiError::Unavailable(e.to_string()),
            StartError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_faults_are_503_with_the_reason_and_client_errors_4xx() {
        let r = ApiError::from(StoreError::ReadOnly(
            "attempt to write a readonly database".into(),
        ))
        .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = ApiError::from(StoreError::DiskFull("database or disk is full".into()));
        assert!(
            r.to_string()
                .contains("the disk holding the database is full"),
            "{r}"
        );
        let r = ApiError::from(StoreError::Busy("database is locked".into()));
        assert!(r.to_string().contains("busy or locked"), "{r}");
        let r = ApiError::from(StoreError::NoSuchInstance("x".into())).into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = ApiError::from(StoreError::Corrupt("bad row".into())).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
