//! The pure core: history events, the replay cursor, decisions and non-determinism detection.
//!
//! Nothing here does IO, touches wasmtime or SQL. The runtime feeds an [`Execution`] the recorded
//! history and the orchestrator's calls; the execution answers with values (replayed results,
//! new decisions to record, or a [`Nondeterminism`] error) and the runtime does the IO.

#[cfg(any(test, fuzzing))]
pub mod arbitrary;
mod decisions;
mod history;
pub mod limits;
mod replay;

pub use history::{EntityCaller, Event, EventKind, RuntimeStatus, rewind_voids, voided};
pub use replay::{
    Decision, Execution, Failure, GuestLog, HistoryError, Nondeterminism, Outcome, Poll, WaitError,
    WaitMode, decision_of, result_task_id,
};
