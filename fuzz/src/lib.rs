//! The host's pure engine, compiled on its own for fuzzing: the same source files as
//! `host/src/engine` and `host/src/ids.rs`, without wasmtime, SQLite or tokio.

// Some helpers of ids.rs serve only the host.
#[allow(dead_code)]
#[path = "../../host/src/ids.rs"]
pub mod ids;

#[path = "../../host/src/engine/mod.rs"]
pub mod engine;
