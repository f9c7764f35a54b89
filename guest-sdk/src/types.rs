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

/// How to retry a failed activity or sub-orchestration (Durable Functions' `RetryOptions`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, counting the first. At least 1.
    pub max_attempts: u32,
    /// Delay before the first retry, ms. Greater than 0.
    pub first_retry_interval_ms: u64,
    /// Multiplier applied to the delay after each retry. At least 1.0.
    pub backoff_coefficient: f64,
    /// Upper bound for one delay, ms.
    pub max_retry_interval_ms: Option<u64>,
    /// Stop retrying once this much time has passed since the first attempt, ms.
    pub retry_timeout_ms: Option<u64>,
}

impl RetryPolicy {
    /// `max_attempts` attempts, `first_retry_interval_ms` apart, no backoff.
    pub fn new(max_attempts: u32, first_retry_interval_ms: u64) -> Self {
        RetryPolicy {
            max_attempts,
            first_retry_interval_ms,
            backoff_coefficient: 1.0,
            max_retry_interval_ms: None,
            retry_timeout_ms: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}
