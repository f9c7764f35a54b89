//! Durable Functions' timestamp format, to the millisecond: `2026-11-26T13:45:12.345Z` (UTC; the
//! format allows fractional seconds, which Durable Functions' own history timestamps carry).

use ::time::OffsetDateTime;
use ::time::macros::format_description;

pub fn format_ms(ms: u64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_like_durable_functions() {
        assert_eq!(super::format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::format_ms(1_764_164_712_345),
            "2025-11-26T13:45:12.345Z"
        );
        assert_eq!(
            super::format_ms(1_764_164_712_005),
            "2025-11-26T13:45:12.005Z"
        );
    }
}
