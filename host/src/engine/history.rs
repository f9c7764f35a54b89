//! The append-only history: Durable Task's event vocabulary as a typed enum.

use serde::{Deserialize, Serialize};

use crate::ids::TaskId;

/// One history event: its position, when it was recorded, and what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the execution's history, from 0, without gaps.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    pub kind: EventKind,
}

/// What happened. Payloads (`input`, `result`) are JSON text, stored as the guest produced them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "eventType")]
pub enum EventKind {
    /// First event of every execution.
    ExecutionStarted {
        name: String,
        input: String,
        /// sha256 of the orchestrator component this execution is pinned to.
        orchestrator_digest: String,
    },
    /// Starts a turn: a batch of new inbound events handed to the orchestrator. Its timestamp is
    /// what `current-time` returns during that turn.
    OrchestratorStarted,
    TaskScheduled {
        task_id: TaskId,
        name: String,
        input: String,
    },
    TaskCompleted {
        task_id: TaskId,
        result: String,
        /// sha256 of the activity component that ran (hot swap: calls resolve when they start).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
    },
    TaskFailed {
        task_id: TaskId,
        reason: String,
        details: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
    },
    TimerCreated {
        task_id: TaskId,
        fire_at_ms: u64,
    },
    TimerFired {
        task_id: TaskId,
        fire_at_ms: u64,
    },
    EventRaised {
        name: String,
        input: String,
    },
    SubOrchestrationInstanceCreated {
        task_id: TaskId,
        name: String,
        instance_id: String,
        input: String,
    },
    SubOrchestrationInstanceCompleted {
        task_id: TaskId,
        result: String,
    },
    SubOrchestrationInstanceFailed {
        task_id: TaskId,
        reason: String,
        details: Option<String>,
    },
    ExecutionCompleted {
        result: String,
    },
    ExecutionFailed {
        reason: String,
        details: Option<String>,
    },
    ExecutionTerminated {
        reason: String,
    },
    ContinuedAsNew {
        input: String,
    },
    ExecutionSuspended {
        reason: String,
    },
    ExecutionResumed {
        reason: String,
    },
}

impl EventKind {
    /// Durable Task's name for this event type (also the `event_type` column).
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::ExecutionStarted { .. } => "ExecutionStarted",
            EventKind::OrchestratorStarted => "OrchestratorStarted",
            EventKind::TaskScheduled { .. } => "TaskScheduled",
            EventKind::TaskCompleted { .. } => "TaskCompleted",
            EventKind::TaskFailed { .. } => "TaskFailed",
            EventKind::TimerCreated { .. } => "TimerCreated",
            EventKind::TimerFired { .. } => "TimerFired",
            EventKind::EventRaised { .. } => "EventRaised",
            EventKind::SubOrchestrationInstanceCreated { .. } => "SubOrchestrationInstanceCreated",
            EventKind::SubOrchestrationInstanceCompleted { .. } => {
                "SubOrchestrationInstanceCompleted"
            }
            EventKind::SubOrchestrationInstanceFailed { .. } => "SubOrchestrationInstanceFailed",
            EventKind::ExecutionCompleted { .. } => "ExecutionCompleted",
            EventKind::ExecutionFailed { .. } => "ExecutionFailed",
            EventKind::ExecutionTerminated { .. } => "ExecutionTerminated",
            EventKind::ContinuedAsNew { .. } => "ContinuedAsNew",
            EventKind::ExecutionSuspended { .. } => "ExecutionSuspended",
            EventKind::ExecutionResumed { .. } => "ExecutionResumed",
        }
    }
}

/// An instance's status, with Durable Functions' names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuntimeStatus {
    Pending,
    Running,
    Completed,
    ContinuedAsNew,
    Failed,
    Terminated,
    Suspended,
}

impl RuntimeStatus {
    pub const ALL: [RuntimeStatus; 7] = [
        RuntimeStatus::Pending,
        RuntimeStatus::Running,
        RuntimeStatus::Completed,
        RuntimeStatus::ContinuedAsNew,
        RuntimeStatus::Failed,
        RuntimeStatus::Terminated,
        RuntimeStatus::Suspended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeStatus::Pending => "Pending",
            RuntimeStatus::Running => "Running",
            RuntimeStatus::Completed => "Completed",
            RuntimeStatus::ContinuedAsNew => "ContinuedAsNew",
            RuntimeStatus::Failed => "Failed",
            RuntimeStatus::Terminated => "Terminated",
            RuntimeStatus::Suspended => "Suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    /// Completed, Failed or Terminated: nothing will happen to the instance any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RuntimeStatus::Completed | RuntimeStatus::Failed | RuntimeStatus::Terminated
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_durable_task_type_names() {
        let e = EventKind::TaskScheduled {
            task_id: 0,
            name: "validateOrder".into(),
            input: "{}".into(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["eventType"], "TaskScheduled");
        assert_eq!(json["eventType"], e.type_name());
        let back: EventKind = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn statuses_round_trip_case_insensitively() {
        for s in RuntimeStatus::ALL {
            assert_eq!(RuntimeStatus::parse(&s.as_str().to_lowercase()), Some(s));
        }
        assert_eq!(RuntimeStatus::parse("Bogus"), None);
    }
}
