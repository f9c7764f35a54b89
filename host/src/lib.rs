//! durable-wasm host: durable orchestrations whose orchestrators and activities are WebAssembly
//! components.
//!
//! Modules, from the pure core outwards:
//! - [`engine`]: history events, the replay cursor, decisions, non-determinism detection. Pure.
//! - [`store`]: persistence behind the [`store::Store`] trait; SQLite with group commit.
//! - [`runtime`]: wasmtime — the orchestrator sandbox (only our context interface), the activity
//!   sandbox (WASI per grant, limits), the component registry.
//! - [`executor`]: one actor per live instance; commits turns, dispatches activities, resumes
//!   instances after a restart.
//! - [`deploy`]: hot swap — deploy, roll back and check components while the host runs.
//! - [`http`]: the starters and Durable Functions' management API (axum).
//! - [`config`], [`cli`], [`server`]: `durable.toml`, the command line, and wiring it together.
//!
//! It does not schedule across several hosts yet (one host owns a database).

pub mod cli;
pub mod clock;
pub mod config;
pub mod deploy;
pub mod engine;
pub mod executor;
pub mod http;
pub mod ids;
pub mod jsapp;
pub mod runtime;
pub mod server;
pub mod store;
pub mod trace;
