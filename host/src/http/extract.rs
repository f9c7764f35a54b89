//! What handlers take from a request: query parameters with Durable Functions' leniency, an
//! instance id, a JSON body as an input, and the caller's key.

use time::format_description::well_known::Rfc3339;

use super::ApiError;
use crate::ids::InstanceId;

/// Query parameters, with Durable Functions' leniency: names in any case, booleans in any case,
/// lists comma-separated or repeated.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a list parameter (comma-separated and/or repeated), blanks dropped.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ApiError::BadRequest(format!(
                "query parameter {name} must be true or false, not '{other}'"
            ))),
        }
    }

    /// `top`: a page size from 1 to `max` (`default` if absent).
    pub fn top(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        let Some(t) = self.get("top") else {
            return Ok(default);
        };
        t.parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("top must be an integer from 1 to {max}, not '{t}'"))
            })
    }

    /// An ISO 8601 / RFC 3339 time (or a bare date) as ms since the epoch.
    pub fn time(&self, name: &str) -> Result<Option<u64>, ApiError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        parse_time(text).map(Some).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "query parameter {name} must be an ISO 8601 time such as 2026-11-26T13:45:00Z, not '{text}'"
            ))
        })
    }
}

fn parse_time(text: &str) -> Option<u64> {
    let parsed = time::OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| {
            let date = time::Date::parse(
                text,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .ok()?;
            Some(date.midnight().assume_utc())
        })?;
    u64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The request's W3C trace context (`traceparent`, `tracestate`); `None` without one or with a
/// malformed `traceparent`, which is ignored, not refused.
pub fn trace_of(headers: &axum::http::HeaderMap) -> Option<crate::trace::TraceContext> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    crate::trace::TraceContext::parse(text("traceparent")?, text("tracestate"))
}

pub fn parse_id(raw: &str) -> Result<InstanceId, ApiError> {
    InstanceId::parse(raw).map_err(|e| ApiError::BadRequest(format!("invalid instance id: {e}")))
}

/// The request body as the orchestration input (JSON text). An empty body is `null` where
/// `allow_empty`; anything that is not JSON is refused with the parser's reason.
pub fn parse_input(body: &[u8], allow_empty: bool) -> Result<String, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if allow_empty {
            Ok("null".to_owned())
        } else {
            Err(ApiError::BadRequest(
                "the request body must be JSON (it is empty)".to_owned(),
            ))
        };
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))?;
    Ok(unwrap_json_string(value).to_string())
}

/// Durable Functions' Python client serialises a payload to JSON text and then posts that text
/// as a JSON string (`"{\"a\": 1}"`). A string body whose content is itself a JSON object,
/// array or string is taken as that value; any other string (`"42"`, `"true"`, prose) stays a
/// string, so a caller that means the string "42" still gets it.
fn unwrap_json_string(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    if let Value::String(text) = &value
        && let Ok(inner @ (Value::Object(_) | Value::Array(_) | Value::String(_))) =
            serde_json::from_str::<Value>(text)
    {
        return inner;
    }
    value
}

/// The caller's key, once the route's check has passed (handlers echo it in the URIs they
/// return).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub key: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc_3339_or_bare_dates() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time("1970-01-02"), Some(86_400_000));
        assert_eq!(
            parse_time("2026-11-26T13:45:00.5+01:00"),
            Some(1_795_697_100_500)
        );
        assert_eq!(parse_time("yesterday"), None);
        let p = Params::parse(Some("createdTimeFrom=never"));
        assert!(p.time("createdTimeFrom").is_err());
    }

    #[test]
    fn bodies_must_be_json() {
        assert_eq!(parse_input(br#" {"a": 1} "#, false).unwrap(), r#"{"a":1}"#);
        assert_eq!(parse_input(b"", true).unwrap(), "null");
        let err = parse_input(b"", false).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        let err = parse_input(b"{not json", true).unwrap_err().to_string();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn json_text_posted_as_a_string_is_unwrapped() {
        // What the Python client sends for {"a": 1}, ["x"] and "hi".
        assert_eq!(parse_input(br#""{\"a\": 1}""#, true).unwrap(), r#"{"a":1}"#);
        assert_eq!(parse_input(br#""[\"x\"]""#, true).unwrap(), r#"["x"]"#);
        assert_eq!(parse_input(br#""\"hi\"""#, true).unwrap(), r#""hi""#);
        // Strings that are not JSON documents, or only scalars, stay strings.
        assert_eq!(parse_input(br#""42""#, true).unwrap(), r#""42""#);
        assert_eq!(parse_input(br#""hello""#, true).unwrap(), r#""hello""#);
        assert_eq!(parse_input(br#""{not""#, true).unwrap(), r#""{not""#);
    }
}
