//! Guest SDK for durable-wasm.
//!
//! - [`orchestrator`] (feature `orchestrator`, target `wasm32-unknown-unknown`): the [`Context`]
//!   an orchestration function receives (`ctx.input()`, `ctx.call_activity()`, ...) and the
//!   [`orchestrations!`] macro that exports named orchestration functions from a component.
//! - [`activity`] (feature `activity`, target `wasm32-wasip2`): the [`activities!`] macro that
//!   exports named activity functions with serde-typed inputs and outputs.
//! - [`entity`] (feature `entity`, target `wasm32-unknown-unknown`): the [`entities!`] macro that
//!   exports durable entities; an entity function gets an [`EntityContext`].
//! - [`Context`] talks to the host through the small [`Host`] trait, so an orchestration can be
//!   driven natively too: [`testing::TestHost`] runs one against scripted results in a plain
//!   `cargo test`.
//!
//! It does not run anything by itself: the durable host replays and schedules.

// Lets the generated bindings name this crate by the same path guests use.
extern crate self as durable_sdk;

mod context;
mod entity_context;
mod error;
mod types;

pub use context::{Context, Host, Task};
pub use entity_context::{EntityContext, EntityEffect, EntityId, Signal, Start};
pub use error::Error;
pub use types::{LogLevel, Outcome, RetryPolicy, TaskId};

pub mod testing;

#[cfg(feature = "orchestrator")]
pub mod orchestrator;

#[cfg(feature = "activity")]
pub mod activity;

#[cfg(feature = "entity")]
pub mod entity;

#[doc(hidden)]
pub use serde_json as __serde_json;
/// Re-exported for the code the export macros generate; not part of the API.
#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// A JSON value, for orchestrations and activities that pass data through untyped.
pub use serde_json::Value as Json;
