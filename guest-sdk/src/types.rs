//! SDK-side mirrors of the WIT types, independent of the generated bindings.

/// Handle to one scheduled piece of work within an execution.
pub type TaskId = u32;

/// The result of a task as the orchestrator sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The task finished with this JSON output.
    Completed(String),
    /// The task failed.
    Failed(crate::Error),
}

/// How to retry a failed activity or sub-orchestration.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_retry_interval_ms: u64,
    pub backoff_coefficient: f64,
    pub max_retry_interval_ms: Option<u64>,
    pub retry_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}
