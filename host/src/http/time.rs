//! Durable Functions' timestamp format: `2026-11-26T13:45:12Z` (UTC, whole seconds).

use ::time::OffsetDateTime;
use ::time::macros::format_description;

pub fn format_ms(ms: u64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_like_durable_functions() {
        assert_eq!(super::format_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::format_ms(1_764_164_712_345), "2025-11-26T13:45:12Z");
    }
}
