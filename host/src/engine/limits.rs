//! Sizes the host accepts for what an orchestration decides. A decision past a limit fails the
//! orchestration with a message naming the limit, instead of leaving it stuck (an event whose
//! name could never be raised, a row the database refuses).

/// Longest activity, orchestration or event name, in bytes (the HTTP API's limit for event
/// names too).
pub const MAX_NAME_BYTES: usize = 256;

/// Largest payload (input, result, custom status), in bytes of JSON text.
pub const MAX_PAYLOAD_BYTES: usize = 8 << 20;

/// A name or payload over the host's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the {what} is empty")]
    EmptyName { what: String },
    #[error("the {what} is {len} bytes long, over the limit of {MAX_NAME_BYTES} bytes")]
    NameTooLong { what: String, len: usize },
    #[error("the {what} is {len} bytes, over the limit of {} MiB", MAX_PAYLOAD_BYTES >> 20)]
    PayloadTooBig { what: String, len: usize },
}

/// Checks a name; `what` says what it names ("activity name", ...).
pub fn check_name(what: &str, name: &str) -> Result<(), LimitError> {
    let what = what.to_owned();
    if name.is_empty() {
        return Err(LimitError::EmptyName { what });
    }
    if name.len() > MAX_NAME_BYTES {
        let len = name.len();
        return Err(LimitError::NameTooLong { what, len });
    }
    Ok(())
}

/// Checks a payload; `what` says whose it is ("input of activity 'x'", ...).
pub fn check_payload(what: &str, text: &str) -> Result<(), LimitError> {
    if text.len() > MAX_PAYLOAD_BYTES {
        let what = what.to_owned();
        let len = text.len();
        return Err(LimitError::PayloadTooBig { what, len });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_what_was_refused() {
        assert_eq!(check_name("event name", "Approval"), Ok(()));
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        let err = check_name("event name", &long).unwrap_err().to_string();
        assert!(
            err.contains("event name is 257 bytes") && err.contains("256"),
            "{err}"
        );
        assert!(check_name("activity name", "").is_err());
        assert_eq!(check_payload("input", "{}"), Ok(()));
        let big = "x".repeat(MAX_PAYLOAD_BYTES + 1);
        let err = check_payload("input", &big).unwrap_err().to_string();
        assert!(err.contains("8 MiB"), "{err}");
    }
}
