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
    #[error(
        "instance ids starting with '@' are entities' (@name@key): address an entity through /entities/{{name}}/{{key}}"
    )]
    Reserved,
}

/// A durable entity's address: its name (lower-cased, as Durable Functions does) and key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId {
    name: String,
    key: String,
}

/// Why an entity name or key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidEntityId {
    #[error("entity {0} must not be empty")]
    Empty(&'static str),
    #[error("entity {what} is longer than {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("entity {0} must not contain '@', '/', '\\', '#', '?' or control characters")]
    BadCharacter(&'static str),
}

impl EntityId {
    pub const MAX_NAME_LEN: usize = 100;
    pub const MAX_KEY_LEN: usize = 100;

    /// Checks a name and key; the name is lower-cased (entity names ignore case).
    pub fn parse(name: &str, key: &str) -> Result<Self, InvalidEntityId> {
        let name = Self::parse_name(name)?;
        check_part("key", key, Self::MAX_KEY_LEN)?;
        Ok(EntityId {
            name,
            key: key.to_owned(),
        })
    }

    /// Checks an entity name alone (listing one name's entities); lower-cased.
    pub fn parse_name(name: &str) -> Result<String, InvalidEntityId> {
        check_part("name", name, Self::MAX_NAME_LEN)?;
        Ok(name.to_lowercase())
    }

    /// The entity an instance id (`@name@key`) addresses, if it is an entity's.
    pub fn of_instance(id: &str) -> Option<Self> {
        let (name, key) = id.strip_prefix('@')?.split_once('@')?;
        EntityId::parse(name, key).ok()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The id of the instance row that holds the entity: `@name@key`.
    pub fn instance_id(&self) -> InstanceId {
        InstanceId(format!("@{}@{}", self.name, self.key))
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}@{}", self.name, self.key)
    }
}

fn check_part(what: &'static str, s: &str, max: usize) -> Result<(), InvalidEntityId> {
    if s.is_empty() {
        return Err(InvalidEntityId::Empty(what));
    }
    if s.chars().count() > max {
        return Err(InvalidEntityId::TooLong { what, max });
    }
    let bad = |c: char| matches!(c, '@' | '/' | '\\' | '#' | '?') || c.is_control();
    if s.chars().any(bad) {
        return Err(InvalidEntityId::BadCharacter(what));
    }
    Ok(())
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
        if s.starts_with('@') {
            return Err(InvalidInstanceId::Reserved);
        }
        Ok(InstanceId(s.to_owned()))
    }

    /// Whether this is an entity's instance (`@name@key`).
    pub fn is_entity(&self) -> bool {
        self.0.starts_with('@')
    }

    /// A fresh id: 32 hex digits, as Durable Functions generates, in the UUIDv7 layout (a
    /// millisecond timestamp, then random bits), so ids sort by creation time and the rows of
    /// the instances that are running sit together at the end of the store's keys.
    pub fn random() -> Self {
        InstanceId(uuid::Uuid::now_v7().simple().to_string())
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
    fn entity_ids_name_the_rule_they_break_and_map_to_reserved_instance_ids() {
        let id = EntityId::parse("Counter", "Key 1").unwrap();
        assert_eq!(id.name(), "counter", "names ignore case");
        assert_eq!(id.key(), "Key 1", "keys do not");
        assert_eq!(id.instance_id().as_str(), "@counter@Key 1");
        assert!(id.instance_id().is_entity());
        assert_eq!(EntityId::of_instance("@counter@Key 1"), Some(id));
        assert_eq!(EntityId::of_instance("counter@k"), None);
        assert_eq!(
            EntityId::parse("", "k"),
            Err(InvalidEntityId::Empty("name"))
        );
        assert_eq!(EntityId::parse("c", ""), Err(InvalidEntityId::Empty("key")));
        for (name, key, what) in [
            ("a@b", "k", "name"),
            ("c", "a@b", "key"),
            ("c", "a/b", "key"),
        ] {
            assert_eq!(
                EntityId::parse(name, key),
                Err(InvalidEntityId::BadCharacter(what))
            );
        }
        let long = "k".repeat(EntityId::MAX_KEY_LEN + 1);
        let err = EntityId::parse("c", &long).unwrap_err();
        assert_eq!(err.to_string(), "entity key is longer than 100 characters");
        // Orchestrations cannot take an entity's id.
        assert_eq!(
            InstanceId::parse("@counter@k"),
            Err(InvalidInstanceId::Reserved)
        );
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
