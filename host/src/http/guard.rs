//! Layers around the routers: the RPC listener's browser guard, and JSON bodies for the errors
//! axum itself produces (body too large, undecodable path), so every error has one shape.

use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The keyless RPC listener answers only programs on this machine, never web pages: a page in
/// a local browser could otherwise start or terminate instances with a simple cross-origin
/// POST, and read or purge them through DNS rebinding. Browsers always send `Origin` on
/// cross-origin POSTs and `Sec-Fetch-Site` on every request; a rebound name shows in `Host`.
pub(crate) async fn rpc_guard(req: Request, next: Next, port: u16) -> Response {
    match rpc_allowed(req.headers(), port) {
        Ok(()) => next.run(req).await,
        Err(why) => ApiError::Forbidden(why).into_response(),
    }
}

fn rpc_allowed(headers: &HeaderMap, port: u16) -> Result<(), String> {
    if headers.contains_key(header::ORIGIN) {
        return Err(
            "the keyless RPC listener refuses requests from web pages (an Origin header was sent); \
             use the main listener with a key"
                .into(),
        );
    }
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"none"
    {
        return Err(
            "the keyless RPC listener refuses requests from web pages (Sec-Fetch-Site)".into(),
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or("the keyless RPC listener needs a Host header")?;
    if is_loopback_host(host, port) {
        Ok(())
    } else {
        Err(format!(
            "Host '{host}' is not this loopback listener (localhost, 127.0.0.1 or [::1], port {port})"
        ))
    }
}

fn is_loopback_host(host: &str, port: u16) -> bool {
    let Some((name, p)) = host.rsplit_once(':') else {
        return false;
    };
    if p.parse::<u16>() != Ok(port) {
        return false;
    }
    let name = name.to_ascii_lowercase();
    if name == "localhost" || name == "[::1]" {
        return true;
    }
    name.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Rewrites axum's own plain-text error responses (413 length limit, 400 invalid path, 405,
/// ...) into the JSON error body every other error has; JSON answers pass through unchanged.
/// Every API call may carry a W3C `traceparent`: its handling is logged under the caller's
/// trace id (a malformed one is ignored).
pub(crate) async fn traced(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use tracing::Instrument;
    match super::extract::trace_of(request.headers()) {
        Some(trace) => {
            let span = tracing::error_span!("request", trace_id = %trace.trace_id());
            next.run(request).instrument(span).await
        }
        None => next.run(request).await,
    }
}

pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // The dashboard's sign-in page answers a wrong key with itself (401).
    let page = response
        .extensions()
        .get::<super::dashboard::Page>()
        .is_some();
    if is_json || page || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut out = ApiError::with_status(status, message).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = parts.headers.get(&name) {
            out.headers_mut().insert(name, value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;

    fn empty() -> Body {
        Body::empty()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_rpc_listener_answers_loopback_programs_only() {
        for host in [
            "127.0.0.1:17071",
            "localhost:17071",
            "[::1]:17071",
            "LOCALHOST:17071",
        ] {
            assert_eq!(
                rpc_allowed(&headers(&[("host", host)]), 17071),
                Ok(()),
                "{host}"
            );
        }
        for host in [
            "evil.example:17071",
            "127.0.0.1:80",
            "127.0.0.1",
            "localhost.evil.example:17071",
            "10.0.0.1:17071",
        ] {
            assert!(
                rpc_allowed(&headers(&[("host", host)]), 17071).is_err(),
                "{host}"
            );
        }
        assert!(rpc_allowed(&HeaderMap::new(), 17071).is_err());
        let page = [
            ("host", "127.0.0.1:17071"),
            ("origin", "http://evil.example"),
        ];
        assert!(rpc_allowed(&headers(&page), 17071).is_err());
        let fetch = [
            ("host", "127.0.0.1:17071"),
            ("sec-fetch-site", "cross-site"),
        ];
        assert!(rpc_allowed(&headers(&fetch), 17071).is_err());
        let typed = [("host", "127.0.0.1:17071"), ("sec-fetch-site", "none")];
        assert_eq!(rpc_allowed(&headers(&typed), 17071), Ok(()));
    }

    #[tokio::test]
    async fn axum_plain_text_errors_become_json() {
        let plain = (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").into_response();
        let out = json_errors(plain).await;
        assert_eq!(out.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = axum::body::to_bytes(out.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "length limit exceeded");
        let ok = Response::new(empty());
        assert_eq!(json_errors(ok).await.status(), StatusCode::OK);
    }
}
