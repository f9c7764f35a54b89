//! Keys, as Azure Functions has them: a master key (accepted everywhere) and function keys.

use axum::http::HeaderMap;
use serde::Deserialize;

use super::ApiError;

/// Who may call a route (the seed's `authLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthLevel {
    Anonymous,
    #[default]
    Function,
    Admin,
}

/// The keys this host accepts.
#[derive(Clone)]
pub struct Keys {
    master: String,
    /// Function keys (their names live in the config only).
    function: Vec<String>,
    /// Accept every request without a key (the loopback RPC listener only).
    open: bool,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }")
    }
}

impl Keys {
    pub fn new(master: String, function: Vec<String>) -> Self {
        Keys {
            master,
            function,
            open: false,
        }
    }

    /// The same keys, but every request is accepted without one (for the loopback RPC listener).
    pub fn opened(&self) -> Self {
        Keys {
            open: true,
            ..self.clone()
        }
    }

    pub fn master(&self) -> &str {
        &self.master
    }

    /// Checks the caller's key for `level`, from `?code=` or the `x-functions-key` header;
    /// returns the key presented (to echo in URIs).
    pub fn check_code(
        &self,
        level: AuthLevel,
        headers: &HeaderMap,
        code: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        let header = headers.get("x-functions-key").and_then(|v| v.to_str().ok());
        if self.open || level == AuthLevel::Anonymous {
            return Ok(code.or(header).map(str::to_owned));
        }
        // Either credential may carry the key (a stale `?code=` beside a good header is fine).
        [code, header]
            .into_iter()
            .flatten()
            .find(|key| self.grants(level, key))
            .map(|key| Some(key.to_owned()))
            .ok_or(ApiError::Unauthorized)
    }

    fn grants(&self, level: AuthLevel, key: &str) -> bool {
        match level {
            AuthLevel::Anonymous => true,
            AuthLevel::Admin => constant_time_eq(key, &self.master),
            AuthLevel::Function => {
                // Check every key (no early exit) so timing does not reveal which one matched.
                let mut ok = constant_time_eq(key, &self.master);
                for k in &self.function {
                    ok |= constant_time_eq(key, k);
                }
                ok
            }
        }
    }
}

/// Compares two keys in time that depends only on their lengths.
pub(super) fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// A new random key: 32 bytes, URL-safe base64-like alphabet.
pub fn generate_key() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(*b & 63) as usize] as char)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_per_level() {
        let keys = Keys::new("master".into(), vec!["fn1".into()]);
        let headers = HeaderMap::new();
        assert!(
            keys.check_code(AuthLevel::Anonymous, &headers, None)
                .is_ok()
        );
        assert!(
            keys.check_code(AuthLevel::Function, &headers, None)
                .is_err()
        );
        assert!(
            keys.check_code(AuthLevel::Function, &headers, Some("fn1"))
                .is_ok()
        );
        assert!(
            keys.check_code(AuthLevel::Function, &headers, Some("master"))
                .is_ok()
        );
        assert!(
            keys.check_code(AuthLevel::Function, &headers, Some("wrong"))
                .is_err()
        );
        assert!(
            keys.check_code(AuthLevel::Admin, &headers, Some("fn1"))
                .is_err()
        );
        let mut h = HeaderMap::new();
        h.insert("x-functions-key", "master".parse().unwrap());
        assert!(keys.check_code(AuthLevel::Admin, &h, None).is_ok());
        // A wrong ?code= beside a good header still passes, with the good key echoed.
        assert_eq!(
            keys.check_code(AuthLevel::Admin, &h, Some("wrong"))
                .unwrap(),
            Some("master".to_owned())
        );
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(!constant_time_eq("", "a"));
        assert_eq!(generate_key().unwrap().len(), 32);
    }
}
