//! Newtypes for identifiers, so an instance id is never confused with an execution id.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The user-visible id of an orchestration instance (stable across continue-as-new).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(String);

/// One execution of an instance; continue-as-new starts a new one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExecutionId(String);

/// A task within one execution, numbered in the order the orchestrator scheduled it (the
/// guest sees the number).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct TaskId(pub u32);

impl TaskId {
    /// The id of the task scheduled after this one.
    pub fn next(self) -> TaskId {
        TaskId(self.0 + 1)
    }
}

/// The content address of a component: `sha256:` and 64 hex digits of its bytes' hash. An
/// instance is pinned to the digest of the orchestrator it started on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(bytes);
        let mut hex = String::with_capacity(7 + 64);
        hex.push_str("sha256:");
        for b in hash {
            hex.push_str(&format!("{b:02x}"));
        }
        Digest(hex)
    }

    /// For digests read back from our own database.
    pub(crate) fn from_trusted(s: String) -> Digest {
        Digest(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Test and fuzz histories write digests as literals.
#[cfg(any(test, fuzzing))]
impl From<&str> for Digest {
    fn from(s: &str) -> Digest {
        Digest(s.to_owned())
    }
}

/// Maps keyed by digest are looked up by the text of one.
impl std::borrow::Borrow<str> for Digest {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an instance id was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidInstanceId {
    #[error("instance id must not be empty")]
    Empty,
    #[error("instance id is longer than {max} characters")]
    TooLong { max: usize },
    #[error("instance id must not contain '/', '\\\\', '#', '?' or control characters")]
    BadCharacter,
}

impl InstanceId {
    pub const MAX_LEN: usize = 256;

    /// Checks a user-supplied id with Durable Functions' rules.
    pub fn parse(s: &str) -> Result<Self, InvalidInstanceId> {
        if s.is_empty() {
            return Err(InvalidInstanceId::Empty);
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(InvalidInstanceId::TooLong { max: Self::MAX_LEN });
        }
        if s.chars()
            .any(|c| matches!(c, '/' | '\\' | '#' | '?') || c.is_control())
        {
            return Err(InvalidInstanceId::BadCharacter);
        }
        Ok(InstanceId(s.to_owned()))
    }

    /// A fresh random id (32 hex digits, as Durable Functions generates).
    pub fn random() -> Self {
        InstanceId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// For ids read back from our own database.
    pub(crate) fn from_trusted(s: String) -> Self {
        InstanceId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ExecutionId {
    pub fn random() -> Self {
        ExecutionId(uuid::Uuid::new_v4().simple().to_string())
    }

    pub(crate) fn from_trusted(s: String) -> Self {
        ExecutionId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id a sub-orchestration gets when its parent names none: `<parent>:<task>:<execution>`
/// (the first 8 digits of the parent's execution id), the same on every replay, and different
/// for every execution, so a parent started again under its id, restarted, or continued as new
/// never collides with the children of an earlier execution. A parent id too long to leave room
/// is cut and followed by a hash of the whole id, so the result is always a valid id.
pub fn default_child_id(parent: &InstanceId, execution: &str, task: TaskId) -> String {
    use sha2::Digest;
    let execution: String = execution.chars().take(8).collect();
    let suffix = format!(":{task}:{execution}");
    let id = format!("{}{suffix}", parent.as_str());
    if id.chars().count() <= InstanceId::MAX_LEN {
        return id;
    }
    let hash = sha2::Sha256::digest(parent.as_str().as_bytes());
    let hash: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    let room = InstanceId::MAX_LEN - suffix.chars().count() - hash.len() - 1;
    let head: String = parent.as_str().chars().take(room).collect();
    format!("{head}~{hash}{suffix}")
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_follow_durable_functions_rules() {
        assert!(InstanceId::parse("order-42").is_ok());
        assert_eq!(InstanceId::parse(""), Err(InvalidInstanceId::Empty));
        assert_eq!(
            InstanceId::parse("a/b"),
            Err(InvalidInstanceId::BadCharacter)
        );
        assert_eq!(
            InstanceId::parse("a\nb"),
            Err(InvalidInstanceId::BadCharacter)
        );
        assert!(matches!(
            InstanceId::parse(&"x".repeat(257)),
            Err(InvalidInstanceId::TooLong { .. })
        ));
        assert_eq!(InstanceId::random().as_str().len(), 32);
    }

    #[test]
    fn default_child_ids_differ_per_execution_and_are_always_valid() {
        let parent = InstanceId::parse("order-1").unwrap();
        let a = default_child_id(&parent, "0123456789abcdef", TaskId(3));
        assert_eq!(a, "order-1:3:01234567");
        assert_eq!(
            a,
            default_child_id(&parent, "0123456789abcdef", TaskId(3)),
            "replay-stable"
        );
        assert_ne!(a, default_child_id(&parent, "fedcba9876543210", TaskId(3)));
        assert_ne!(a, default_child_id(&parent, "0123456789abcdef", TaskId(4)));
        for len in [240, 250, 256] {
            let long = InstanceId::parse(&"p".repeat(len)).unwrap();
            let other = InstanceId::parse(&format!("{}q", "p".repeat(len - 1))).unwrap();
            let id = default_child_id(&long, "0123456789abcdef", TaskId(4_000_000_000));
            assert!(InstanceId::parse(&id).is_ok(), "{len}: {id}");
            assert_ne!(
                id,
                default_child_id(&other, "0123456789abcdef", TaskId(4_000_000_000))
            );
            assert_ne!(id, long.as_str());
        }
    }
}
