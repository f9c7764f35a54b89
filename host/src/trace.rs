//! W3C Trace Context (`traceparent` / `tracestate`): what a caller sends with a request, kept
//! with the instance it starts, so the instance's log lines and spans, and its activities, carry
//! the caller's trace id. A malformed `traceparent` is ignored, as the W3C spec says.

use serde::{Deserialize, Serialize};

/// The trace context of the request that started an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// `00-<trace id: 32 hex>-<parent id: 16 hex>-<flags: 2 hex>`.
    pub traceparent: String,
    /// Vendor entries, passed on as given (dropped if too long or not printable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

/// Longest `tracestate` kept (the spec's 32 entries of up to 256 characters, and then some,
/// are beyond what a log line or an environment variable should carry).
const MAX_TRACESTATE: usize = 512;

impl TraceContext {
    /// Parses a `traceparent` (and `tracestate`); `None` if the `traceparent` is malformed.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let traceparent = traceparent.trim();
        if !valid_traceparent(traceparent) {
            return None;
        }
        let tracestate = tracestate
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE)
            .filter(|s| s.chars().all(|c| (' '..='~').contains(&c)))
            .map(str::to_owned);
        Some(TraceContext {
            // Only version 00's fields are understood and passed on (the spec's rule for a
            // higher version).
            traceparent: traceparent[..55].to_owned(),
            tracestate,
        })
    }

    /// The 32-hex-digit trace id (empty for a value that was not parsed here, e.g. a
    /// damaged history: never a panic).
    pub fn trace_id(&self) -> &str {
        self.traceparent.get(3..35).unwrap_or("")
    }

    /// The same trace, version 00, as seen from a new span of this host's: `span` gives the
    /// parent id of the calls made on the instance's behalf (its activities).
    pub fn child(&self, span: u64) -> TraceContext {
        let span = span.max(1);
        let flags = self.traceparent.get(53..55).unwrap_or("00");
        TraceContext {
            traceparent: format!("00-{}-{span:016x}-{flags}", self.trace_id()),
            tracestate: self.tracestate.clone(),
        }
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `version-traceid-parentid-flags`, lowercase hex, ids not all zero; version `ff` is invalid;
/// version 00 has exactly these fields, a later version may add more after a dash.
fn valid_traceparent(t: &str) -> bool {
    if t.len() < 55 || !t.is_ascii() {
        return false;
    }
    let (version, trace, parent, flags) = (&t[0..2], &t[3..35], &t[36..52], &t[53..55]);
    let dashes = [2, 35, 52].iter().all(|&i| t.as_bytes()[i] == b'-');
    let fields = [version, trace, parent, flags].iter().all(|f| is_hex(f));
    let zeros = |s: &str| s.bytes().all(|b| b == b'0');
    let rest_ok = match version {
        "00" => t.len() == 55,
        _ => t.len() == 55 || t.as_bytes()[55] == b'-',
    };
    dashes && fields && version != "ff" && !zeros(trace) && !zeros(parent) && rest_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn well_formed_trace_contexts_are_kept_and_the_rest_ignored() {
        let t = TraceContext::parse(GOOD, Some("congo=t61rcWkgMzE")).unwrap();
        assert_eq!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(TraceContext::parse(bad, None).is_none(), "{bad}");
        }
        // A later version with more fields: its version-00 part is kept.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever";
        assert_eq!(
            TraceContext::parse(later, None).unwrap().traceparent,
            &later[..55]
        );
        // A tracestate that is too long or not printable is dropped, the trace kept.
        let long = "a=".to_owned() + &"b".repeat(600);
        assert_eq!(
            TraceContext::parse(GOOD, Some(&long)).unwrap().tracestate,
            None
        );
        assert_eq!(
            TraceContext::parse(GOOD, Some("a=\u{7}"))
                .unwrap()
                .tracestate,
            None
        );
    }

    #[test]
    fn a_child_keeps_the_trace_and_flags_with_a_new_parent_id() {
        let t = TraceContext::parse(GOOD, None).unwrap();
        let c = t.child(0xabc);
        assert_eq!(
            c.traceparent,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000abc-01"
        );
        assert!(TraceContext::parse(&c.traceparent, None).is_some());
        assert_eq!(
            t.child(0).traceparent,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000001-01"
        );
    }
}
