//! Durable entities' side of the SDK that needs no host: [`EntityId`] and the
//! [`EntityContext`] an entity function gets. Natively usable, so entity functions can be
//! unit-tested with a plain `cargo test` (and [`crate::testing::TestHost`] runs them for the
//! orchestrations that call them).

use serde::{Serialize, de::DeserializeOwned};

use crate::Error;

/// An entity's address: its name (case-insensitive) and key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityId {
    pub name: String,
    pub key: String,
}

impl EntityId {
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        EntityId {
            name: name.into(),
            key: key.into(),
        }
    }
}

/// An operation sent to another entity when this one's effect commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub entity: EntityId,
    pub operation: String,
    /// JSON.
    pub input: Option<String>,
}

/// An orchestration started when this operation's effect commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub name: String,
    pub instance_id: Option<String>,
    /// JSON.
    pub input: String,
}

/// What one operation did: the state it leaves (`None`: deleted), what it returns (JSON), and
/// what it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityEffect {
    pub state: Option<String>,
    pub output: String,
    pub signals: Vec<Signal>,
    pub starts: Vec<Start>,
}

/// What an entity function gets for one operation: the entity's id and state, the operation's
/// name and input; it may set or delete the state, signal entities and start orchestrations
/// (sent only if the operation succeeds).
#[derive(Debug, Clone)]
pub struct EntityContext {
    id: EntityId,
    operation: String,
    input: Option<String>,
    state: Option<String>,
    signals: Vec<Signal>,
    starts: Vec<Start>,
}

impl EntityContext {
    /// The context for `operation` on `id` with `input` and `state` (JSON, `None` for none).
    pub fn new(
        id: EntityId,
        operation: &str,
        input: Option<String>,
        state: Option<String>,
    ) -> Self {
        EntityContext {
            id,
            operation: operation.to_owned(),
            input,
            state,
            signals: Vec::new(),
            starts: Vec::new(),
        }
    }

    pub fn id(&self) -> &EntityId {
        &self.id
    }

    /// The operation's name, as the caller sent it.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The operation's input, deserialized (an absent input reads as JSON `null`).
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let text = self.input.as_deref().unwrap_or("null");
        serde_json::from_str(text).map_err(|e| {
            Error::new(format!(
                "input of operation '{}' does not match the expected shape: {e}",
                self.operation
            ))
        })
    }

    pub fn has_state(&self) -> bool {
        self.state.is_some()
    }

    /// The entity's state, or `init()` if it has none (Durable Functions' `getState(init)`).
    pub fn state_or<T: DeserializeOwned>(&self, init: impl FnOnce() -> T) -> Result<T, Error> {
        match &self.state {
            None => Ok(init()),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                Error::new(format!(
                    "the entity's state does not match the expected shape: {e}"
                ))
            }),
        }
    }

    pub fn set_state<T: Serialize + ?Sized>(&mut self, state: &T) -> Result<(), Error> {
        self.state = Some(serde_json::to_string(state)?);
        Ok(())
    }

    /// Deletes the entity: it has no state until an operation sets one.
    pub fn delete_state(&mut self) {
        self.state = None;
    }

    /// Sends `operation` to `entity` once this operation's effect commits (one-way).
    pub fn signal_entity<I: Serialize + ?Sized>(
        &mut self,
        entity: &EntityId,
        operation: &str,
        input: &I,
    ) -> Result<(), Error> {
        self.signals.push(Signal {
            entity: entity.clone(),
            operation: operation.to_owned(),
            input: Some(serde_json::to_string(input)?),
        });
        Ok(())
    }

    /// Starts orchestration `name` once this operation's effect commits (`instance_id`: a
    /// fresh one if `None`; an instance that already has the id is left as it is).
    pub fn start_new_orchestration<I: Serialize + ?Sized>(
        &mut self,
        name: &str,
        instance_id: Option<&str>,
        input: &I,
    ) -> Result<(), Error> {
        self.starts.push(Start {
            name: name.to_owned(),
            instance_id: instance_id.map(str::to_owned),
            input: serde_json::to_string(input)?,
        });
        Ok(())
    }

    /// The operation's effect, given what the entity function returned.
    pub fn finish<O: Serialize>(self, output: Result<O, Error>) -> Result<EntityEffect, Error> {
        let output = serde_json::to_string(&output?)?;
        Ok(EntityEffect {
            state: self.state,
            output,
            signals: self.signals,
            starts: self.starts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(ctx: &mut EntityContext) -> Result<i64, Error> {
        let value: i64 = ctx.state_or(|| 0)?;
        match ctx.operation() {
            "add" => {
                let n: i64 = ctx.input()?;
                ctx.set_state(&(value + n))?;
                Ok(value + n)
            }
            "get" => Ok(value),
            other => Err(Error::new(format!("no operation '{other}'"))),
        }
    }

    #[test]
    fn an_operation_sees_the_state_and_leaves_the_new_one() {
        let id = EntityId::new("counter", "a");
        let mut ctx = EntityContext::new(id.clone(), "add", Some("5".into()), Some("2".into()));
        let out = counter(&mut ctx);
        let effect = ctx.finish(out).unwrap();
        assert_eq!(effect.state.as_deref(), Some("7"));
        assert_eq!(effect.output, "7");

        let mut ctx = EntityContext::new(id, "nope", None, Some("2".into()));
        let out = counter(&mut ctx);
        let failed = ctx.finish(out).unwrap_err();
        assert_eq!(failed.message, "no operation 'nope'");
    }

    #[test]
    fn signals_and_starts_are_part_of_the_effect() {
        let mut ctx = EntityContext::new(EntityId::new("cart", "k"), "checkout", None, None);
        ctx.signal_entity(&EntityId::new("counter", "orders"), "add", &1)
            .unwrap();
        ctx.start_new_orchestration("ship", Some("ship-k"), &"k")
            .unwrap();
        ctx.delete_state();
        let effect = ctx.finish(Ok(())).unwrap();
        assert_eq!(effect.state, None);
        assert_eq!(effect.output, "null");
        assert_eq!(effect.signals[0].entity.name, "counter");
        assert_eq!(effect.signals[0].input.as_deref(), Some("1"));
        assert_eq!(effect.starts[0].instance_id.as_deref(), Some("ship-k"));
    }
}
