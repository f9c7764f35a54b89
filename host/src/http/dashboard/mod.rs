//! The dashboard at `/dashboard`: a page shell and its script and stylesheet, all embedded in
//! the binary (no CDN, no build step), over the management API and [`api`]'s few extra routes.
//!
//! The pages are one shell; `app.js` draws the list, an instance (timeline, history, children,
//! replay), or the components, from the JSON API, and keeps the URL (filters, tab, position)
//! shareable. Sign-in is by the master key, posted once and kept in a signed `HttpOnly`
//! cookie ([`session`]).

pub mod api;
pub mod session;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::AppState;
use super::auth::constant_time_eq;

const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The dashboard's own paths (a starter route may not take them).
pub const PAGE_PATHS: &[&str] = &[
    "/dashboard",
    "/dashboard/",
    "/dashboard/instances/{instanceId}",
    "/dashboard/components",
    "/dashboard/login",
    "/dashboard/logout",
    "/dashboard/assets/{file}",
];

/// Wall-clock milliseconds (session expiry).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The dashboard's page routes (its JSON routes are in the route table).
pub fn pages() -> Router<Arc<AppState>> {
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/", get(page))
        .route("/dashboard/instances/{instanceId}", get(page))
        .route("/dashboard/components", get(page))
        .route("/dashboard/login", get(login_form).post(login))
        .route("/dashboard/logout", post(logout))
        .route("/dashboard/assets/{file}", get(asset))
}

/// A short hash of the assets, so their URLs change with them and can be cached for good.
fn asset_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(APP_JS)
            .chain_update(APP_CSS)
            .finalize();
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    })
}

/// Marks a dashboard page, which the JSON error rewrite leaves alone.
#[derive(Debug, Clone, Copy)]
pub struct Page;

/// Headers every dashboard page carries: no inline script, nothing from elsewhere, no framing.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.extensions_mut().insert(Page);
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn head(title: &str) -> String {
    let v = asset_version();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/dashboard/assets/app.css?v={v}\">",
        escape(title)
    )
}

/// Every page: the shell `app.js` fills in, or the sign-in form without a session.
async fn page(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let Some(session) = session::from_headers(&state.keys, &headers, wall_ms()) else {
        let next = uri
            .path_and_query()
            .map_or("/dashboard".to_owned(), |p| p.to_string());
        let to = format!("/dashboard/login?next={}", url_encode(&next));
        return redirect(&to, None);
    };
    let v = asset_version();
    let body = format!(
        "{}<meta name=\"csrf-token\" content=\"{}\">\
         <script src=\"/dashboard/assets/app.js?v={v}\" defer></script></head>\
         <body><header class=\"top\"><a class=\"brand\" href=\"/dashboard\">durable-wasm</a>\
         <nav><a href=\"/dashboard\" id=\"nav-instances\">Instances</a>\
         <a href=\"/dashboard/components\" id=\"nav-components\">Components</a></nav>\
         <button id=\"logout\" type=\"button\">Sign out</button></header>\
         <main id=\"app\"><p class=\"muted\">Loading…</p></main>\
         <div id=\"toast\" role=\"status\" aria-live=\"polite\"></div></body></html>",
        head("durable-wasm dashboard"),
        session.csrf(&state.keys),
    );
    html(StatusCode::OK, body)
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    response
}

fn url_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Where to go after signing in: a dashboard page on this host, nothing else (no dot
/// segments, encoded or not, that a browser would resolve elsewhere).
fn safe_next(next: Option<&str>) -> String {
    let fine = |n: &str| {
        let rest = n.strip_prefix("/dashboard").unwrap_or("x");
        let lower = n.to_ascii_lowercase();
        (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
            && !n.contains("//")
            && !n.contains('\\')
            && !n.contains("..")
            && !lower.contains("%2e")
            && !lower.contains("%2f")
            && !lower.contains("%5c")
    };
    match next {
        Some(n) if fine(n) => n.to_owned(),
        _ => "/dashboard".to_owned(),
    }
}

fn login_page(next: &str, error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\" id=\"login-error\">{}</p>", escape(e))
    });
    format!(
        "{}</head><body class=\"login\"><form method=\"post\" action=\"/dashboard/login\" \
         class=\"card login-card\"><h1>durable-wasm</h1>\
         <p class=\"muted\">Sign in with the host's master key.</p>{error}\
         <label for=\"key\">Master key</label>\
         <input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"current-password\" autofocus required>\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <button id=\"sign-in\" type=\"submit\">Sign in</button></form></body></html>",
        head("Sign in · durable-wasm"),
        escape(next)
    )
}

async fn login_form(axum::extract::RawQuery(raw): axum::extract::RawQuery) -> Response {
    let params = super::extract::Params::parse(raw.as_deref());
    html(
        StatusCode::OK,
        login_page(&safe_next(params.get("next")), None),
    )
}

/// `POST /dashboard/login` (form: `key`, `next`): the master key signs the browser in.
async fn login(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut key = String::new();
    let mut next = None;
    for (name, value) in form_urlencoded::parse(&body) {
        match name.as_ref() {
            "key" => key = value.into_owned(),
            "next" => next = Some(value.into_owned()),
            _ => {}
        }
    }
    let next = safe_next(next.as_deref());
    if !constant_time_eq(key.trim(), state.keys.master()) {
        let why = "That is not this host's master key.";
        return html(StatusCode::UNAUTHORIZED, login_page(&next, Some(why)));
    }
    match session::issue(&state.keys, wall_ms()) {
        Ok(value) => {
            let https = headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
            redirect(&next, Some(session::set_cookie(&value, https)))
        }
        Err(e) => {
            super::ApiError::Internal(format!("no randomness for a session: {e}")).into_response()
        }
    }
}

/// `POST /dashboard/logout`: forgets the cookie (the page sends its CSRF token).
async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let method = axum::http::Method::POST;
    match session::authorize(&state.keys, &method, &headers, wall_ms()) {
        Some(Ok(())) => {}
        Some(Err(refused)) => return refused.into_response(),
        None => return super::ApiError::Unauthorized.into_response(),
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(c) = HeaderValue::from_str(&session::clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    response
}

/// The embedded script and stylesheet (code only, no data: served without a key).
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return super::ApiError::NotFound(format!("no asset '{file}'")).into_response(),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_only_returns_to_dashboard_paths() {
        assert_eq!(
            safe_next(Some("/dashboard/instances/a?tab=x")),
            "/dashboard/instances/a?tab=x"
        );
        assert_eq!(safe_next(Some("https://evil.example/")), "/dashboard");
        assert_eq!(safe_next(Some("/dashboard//evil.example")), "/dashboard");
        for sneaky in [
            "/dashboard/../runtime/webhooks/durabletask/instances",
            "/dashboard/%2e%2e/admin/components",
            "/dashboard/%2E%2E/x",
            "/dashboardX",
            "/dashboard%2f..%2fx",
        ] {
            assert_eq!(safe_next(Some(sneaky)), "/dashboard", "{sneaky}");
        }
        assert_eq!(
            safe_next(Some("/dashboard?status=Failed")),
            "/dashboard?status=Failed"
        );
        assert_eq!(safe_next(None), "/dashboard");
        assert_eq!(
            escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
