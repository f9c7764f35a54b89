//! Durable Functions' orchestration versioning: a version stamped on each instance at start
//! (the caller's `?version=`, else the host's `defaultVersion`), inherited by sub-orchestrations,
//! readable by the orchestrator, and checked against this host's version before an instance
//! runs (`versionMatchStrategy`), with `versionFailureStrategy` saying what a mismatch does.
//!
//! Digest pinning stays what decides *which code* replays an instance; the version is what the
//! app says the instance *is*, so a host can refuse instances newer than itself.

use std::cmp::Ordering;

use serde::Deserialize;

/// Which instance versions this host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum MatchStrategy {
    /// Any version.
    None,
    /// Only the host's own version.
    Strict,
    /// The host's version and older ones (no version is older than any).
    #[default]
    CurrentOrOlder,
}

/// What happens to an instance whose version this host does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum FailureStrategy {
    /// It is left as it is (Pending, or Running where it stopped) for a host that matches.
    #[default]
    Reject,
    /// It fails, saying why.
    Fail,
}

/// The host's versioning settings (`[versioning]` in `durable.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versioning {
    /// Stamped on instances started without a version; also this host's own version.
    pub default_version: Option<String>,
    pub match_strategy: MatchStrategy,
    pub failure_strategy: FailureStrategy,
}

/// An instance's version that this host does not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "orchestration version {} does not match this host's version {} (versionMatchStrategy {:?})",
    shown(.instance), shown(.host), .strategy
)]
pub struct VersionMismatch {
    pub instance: Option<String>,
    pub host: Option<String>,
    pub strategy: MatchStrategy,
}

fn shown(version: &Option<String>) -> String {
    match version {
        Some(v) => format!("'{v}'"),
        None => "(none)".to_owned(),
    }
}

impl Versioning {
    /// The version a new instance gets: the one asked for, else the default (empty is none).
    pub fn stamp(&self, asked: Option<String>) -> Option<String> {
        asked
            .filter(|v| !v.is_empty())
            .or_else(|| self.default_version.clone())
    }

    /// Whether this host checks versions at all: only with a `defaultVersion` (a host without a
    /// version of its own runs every instance, as Durable Functions' workers do).
    pub fn is_on(&self) -> bool {
        self.default_version.is_some()
    }

    /// Whether this host runs an instance of `version`.
    pub fn check(&self, version: Option<&str>) -> Result<(), VersionMismatch> {
        if !self.is_on() {
            return Ok(());
        }
        let order = compare(version, self.default_version.as_deref());
        let runs = match self.match_strategy {
            MatchStrategy::None => true,
            MatchStrategy::Strict => order == Ordering::Equal,
            MatchStrategy::CurrentOrOlder => order != Ordering::Greater,
        };
        match runs {
            true => Ok(()),
            false => Err(VersionMismatch {
                instance: version.map(str::to_owned),
                host: self.default_version.clone(),
                strategy: self.match_strategy,
            }),
        }
    }
}

/// Orders versions as Durable Functions does: none (or empty) is older than any version; two
/// numeric versions (`2`, `1.10.3`: up to four dot-separated numbers) compare number by number;
/// anything else compares as text, ignoring case.
pub fn compare(a: Option<&str>, b: Option<&str>) -> Ordering {
    let a = a.filter(|v| !v.is_empty());
    let b = b.filter(|v| !v.is_empty());
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => match (numeric(a), numeric(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => a.to_lowercase().cmp(&b.to_lowercase()),
        },
    }
}

/// `1.2.3` as [1, 2, 3, 0]; `None` unless 1 to 4 dot-separated numbers.
fn numeric(v: &str) -> Option<[u64; 4]> {
    let mut out = [0u64; 4];
    let parts: Vec<&str> = v.trim().split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    for (slot, part) in out.iter_mut().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_like_durable_functions() {
        use Ordering::*;
        assert_eq!(compare(None, Some("0.1")), Less);
        assert_eq!(compare(Some(""), None), Equal);
        assert_eq!(compare(Some("1.10"), Some("1.9")), Greater);
        assert_eq!(compare(Some("10"), Some("9")), Greater);
        assert_eq!(compare(Some("2.0"), Some("2")), Equal);
        assert_eq!(compare(Some("Beta"), Some("alpha")), Greater);
        assert_eq!(compare(Some("RC"), Some("rc")), Equal);
        assert_eq!(compare(Some("1.0-rc"), Some("1.0")), Greater);
    }

    #[test]
    fn each_strategy_runs_what_it_should() {
        let host = |strategy| Versioning {
            default_version: Some("2.0".into()),
            match_strategy: strategy,
            failure_strategy: FailureStrategy::Reject,
        };
        let older_or_same = host(MatchStrategy::CurrentOrOlder);
        assert!(older_or_same.check(Some("1.5")).is_ok());
        assert!(older_or_same.check(Some("2.0")).is_ok());
        assert!(older_or_same.check(None).is_ok());
        let err = older_or_same.check(Some("3.0")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orchestration version '3.0' does not match this host's version '2.0' (versionMatchStrategy CurrentOrOlder)"
        );
        let strict = host(MatchStrategy::Strict);
        assert!(strict.check(Some("2")).is_ok());
        assert!(strict.check(Some("1.0")).is_err());
        assert!(strict.check(None).is_err());
        assert!(host(MatchStrategy::None).check(Some("99")).is_ok());
        // Without a version of its own the host runs everything.
        assert!(Versioning::default().check(Some("99")).is_ok());
        assert_eq!(older_or_same.stamp(None).as_deref(), Some("2.0"));
        assert_eq!(
            older_or_same.stamp(Some(String::new())).as_deref(),
            Some("2.0")
        );
        assert_eq!(
            older_or_same.stamp(Some("1.1".into())).as_deref(),
            Some("1.1")
        );
    }
}
