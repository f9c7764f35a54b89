//! The dashboard's sign-in: a session cookie signed with the master key, and the CSRF token
//! that goes with it. Nothing is stored on the host: a session is valid on every host that
//! shares the master key, until it expires or the key changes.
//!
//! - The cookie is `HttpOnly` (page scripts cannot read it) and `SameSite=Strict` (other sites'
//!   requests do not carry it).
//! - A state-changing request signed in by the cookie must also carry the session's CSRF token
//!   in the `x-durable-csrf` header: the cookie alone is not enough. The page gets the token in
//!   its HTML; another origin cannot read it, and cannot send the header without CORS, which
//!   the host never grants.

use axum::http::{HeaderMap, Method, header};
use sha2::{Digest, Sha256};

use super::super::{ApiError, Keys};

/// The cookie's name.
pub const COOKIE: &str = "durable_session";
/// The header a signed-in page sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-durable-csrf";
/// How long a sign-in lasts.
pub const LIFETIME_MS: u64 = 12 * 3600 * 1000;

/// A valid session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    nonce: String,
}

impl Session {
    /// The CSRF token of this session (the same for its whole life).
    pub fn csrf(&self, keys: &Keys) -> String {
        hex(&hmac(
            keys.master().as_bytes(),
            format!("csrf|{}", self.nonce).as_bytes(),
        )[..16])
    }
}

/// A new session's cookie value, valid until `now_ms` + [`LIFETIME_MS`].
pub fn issue(keys: &Keys, now_ms: u64) -> Result<String, getrandom::Error> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce)?;
    let body = format!("{}.{}", now_ms + LIFETIME_MS, hex(&nonce));
    let mac = hmac(
        keys.master().as_bytes(),
        format!("session|{body}").as_bytes(),
    );
    Ok(format!("{body}.{}", hex(&mac)))
}

/// The session a cookie value stands for, if it is genuine and not expired.
pub fn verify(keys: &Keys, value: &str, now_ms: u64) -> Option<Session> {
    let (body, mac) = value.rsplit_once('.')?;
    let (expires, nonce) = body.split_once('.')?;
    let expected = hex(&hmac(
        keys.master().as_bytes(),
        format!("session|{body}").as_bytes(),
    ));
    let genuine = super::super::auth::constant_time_eq(mac, &expected);
    (genuine && expires.parse::<u64>().ok()? > now_ms).then(|| Session {
        nonce: nonce.to_owned(),
    })
}

/// The session the request's cookie stands for, if any.
pub fn from_headers(keys: &Keys, headers: &HeaderMap, now_ms: u64) -> Option<Session> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .find_map(|(_, value)| verify(keys, value, now_ms))
}

/// A `Cookie` header's value without the session cookie (`None` if nothing else is left):
/// what an app's HTTP function gets to see.
pub fn without_cookie(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(COOKIE))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// Whether a request without a key may pass on its session cookie: `None` without a valid
/// session; `Some(Err)` for a state-changing request without the session's CSRF token.
pub fn authorize(
    keys: &Keys,
    method: &Method,
    headers: &HeaderMap,
    now_ms: u64,
) -> Option<Result<(), ApiError>> {
    let session = from_headers(keys, headers, now_ms)?;
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Some(Ok(()));
    }
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    let ok = sent.is_some_and(|t| super::super::auth::constant_time_eq(t, &session.csrf(keys)));
    Some(if ok {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "a dashboard session must send its CSRF token in the {CSRF_HEADER} header for this request"
        )))
    })
}

/// The `Set-Cookie` value that signs a browser in; `secure` when the browser came over HTTPS
/// (a TLS proxy in front says so with `X-Forwarded-Proto: https`).
pub fn set_cookie(value: &str, secure: bool) -> String {
    let max_age = LIFETIME_MS / 1000;
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// The `Set-Cookie` value that signs a browser out.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(master: &str) -> Keys {
        Keys::new(master.into(), vec!["fn-key".into()])
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_session_is_valid_until_it_expires_and_only_under_its_key() {
        let k = keys("master");
        let value = issue(&k, 1_000).unwrap();
        assert!(verify(&k, &value, 1_001).is_some());
        assert!(verify(&k, &value, 1_000 + LIFETIME_MS).is_none());
        assert!(verify(&keys("other"), &value, 1_001).is_none());
        let (body, _) = value.rsplit_once('.').unwrap();
        // A later expiry with the old signature is refused.
        let (_, nonce) = body.split_once('.').unwrap();
        let forged = format!("{}.{nonce}.{}", u64::MAX, value.rsplit_once('.').unwrap().1);
        assert!(verify(&k, &forged, 1_001).is_none());
    }

    #[test]
    fn state_changes_need_the_csrf_token_beside_the_cookie() {
        let k = keys("master");
        let value = issue(&k, 0).unwrap();
        let session = verify(&k, &value, 1).unwrap();
        let mut headers = HeaderMap::new();
        let cookie = format!("other=1; {COOKIE}={value}");
        headers.insert(header::COOKIE, cookie.parse().unwrap());
        assert!(matches!(
            authorize(&k, &Method::GET, &headers, 1),
            Some(Ok(()))
        ));
        assert!(matches!(
            authorize(&k, &Method::POST, &headers, 1),
            Some(Err(ApiError::Forbidden(_)))
        ));
        headers.insert(CSRF_HEADER, "wrong".parse().unwrap());
        assert!(matches!(
            authorize(&k, &Method::DELETE, &headers, 1),
            Some(Err(_))
        ));
        headers.insert(CSRF_HEADER, session.csrf(&k).parse().unwrap());
        assert!(matches!(
            authorize(&k, &Method::POST, &headers, 1),
            Some(Ok(()))
        ));
        assert!(authorize(&k, &Method::GET, &HeaderMap::new(), 1).is_none());
    }

    #[test]
    fn app_functions_never_see_the_session_cookie() {
        let value = format!("a=1; {COOKIE}=secret.value; b=2");
        assert_eq!(without_cookie(&value).as_deref(), Some("a=1; b=2"));
        assert_eq!(without_cookie(&format!("{COOKIE}=x")), None);
        assert_eq!(
            without_cookie("durable_sessionx=1").as_deref(),
            Some("durable_sessionx=1")
        );
        assert!(set_cookie("v", true).ends_with("; Secure"));
        assert!(!set_cookie("v", false).contains("Secure"));
    }
}
