//! The append-only history: Durable Task's event vocabulary as a typed enum.

use serde::{Deserialize, Serialize};

use crate::ids::{Digest, TaskId};

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
        orchestrator_digest: Digest,
        /// The orchestration's version (Durable Functions' orchestration versioning): what the
        /// app says the instance is, set at start; `None` is older than any version.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// The W3C trace context of the request that started the instance (or its parent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace_context: Option<crate::trace::TraceContext>,
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
        digest: Option<Digest>,
    },
    TaskFailed {
        task_id: TaskId,
        reason: String,
        details: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<Digest>,
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
    /// The orchestrator called an entity's operation (`call-entity`); the request went out
    /// with this event's commit, and the answer comes back as `EntityOperationCompleted` or
    /// `EntityOperationFailed` with the same task id.
    EntityOperationCalled {
        task_id: TaskId,
        /// The entity's instance id, `@name@key`.
        entity: String,
        operation: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<String>,
    },
    /// The orchestrator signalled an entity (`signal-entity`, one-way); sent with this commit.
    EntityOperationSignaled {
        task_id: TaskId,
        entity: String,
        operation: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<String>,
    },
    EntityOperationCompleted {
        task_id: TaskId,
        result: String,
    },
    EntityOperationFailed {
        task_id: TaskId,
        reason: String,
        details: Option<String>,
    },
    /// An operation waiting in an entity's inbox (never in a history): what to run, and where
    /// its answer goes if it was called rather than signalled.
    EntityRequest {
        operation: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caller: Option<EntityCaller>,
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
    /// A failed execution was rewound: the events at `voided` (its final failures, the decisions
    /// of the turn that failed, and `ExecutionFailed`) no longer count, so replay reaches the
    /// failed tasks again and they are re-run. The voided events stay in the history, for audit.
    ExecutionRewound {
        reason: String,
        voided: Vec<u64>,
    },
    /// An operator moved the instance to another orchestrator version, after checking that the
    /// new version replays this history exactly: from here on it runs on `orchestrator_digest`.
    ExecutionMigrated {
        orchestrator_digest: Digest,
    },
}

/// Where an entity operation's answer goes: the calling instance's execution and task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCaller {
    pub instance_id: String,
    pub execution_id: String,
    pub task_id: TaskId,
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
            EventKind::EntityOperationCalled { .. } => "EntityOperationCalled",
            EventKind::EntityOperationSignaled { .. } => "EntityOperationSignaled",
            EventKind::EntityOperationCompleted { .. } => "EntityOperationCompleted",
            EventKind::EntityOperationFailed { .. } => "EntityOperationFailed",
            EventKind::EntityRequest { .. } => "EntityRequest",
            EventKind::ExecutionCompleted { .. } => "ExecutionCompleted",
            EventKind::ExecutionFailed { .. } => "ExecutionFailed",
            EventKind::ExecutionTerminated { .. } => "ExecutionTerminated",
            EventKind::ContinuedAsNew { .. } => "ContinuedAsNew",
            EventKind::ExecutionSuspended { .. } => "ExecutionSuspended",
            EventKind::ExecutionResumed { .. } => "ExecutionResumed",
            EventKind::ExecutionRewound { .. } => "ExecutionRewound",
            EventKind::ExecutionMigrated { .. } => "ExecutionMigrated",
        }
    }
}

impl EventKind {
    /// Roughly how many bytes the event stores: its text fields, plus a little for the rest.
    /// The store uses it to bound the size of one group-commit transaction.
    pub fn approx_bytes(&self) -> usize {
        let text = match self {
            EventKind::ExecutionStarted {
                name,
                input,
                orchestrator_digest,
                version,
                ..
            } => {
                let version = version.as_deref().map_or(0, str::len);
                name.len() + input.len() + orchestrator_digest.as_str().len() + version
            }
            EventKind::TaskScheduled { name, input, .. }
            | EventKind::EventRaised { name, input }
            | EventKind::SubOrchestrationInstanceCreated { name, input, .. } => {
                name.len() + input.len()
            }
            EventKind::EntityOperationCalled {
                entity,
                operation,
                input,
                ..
            }
            | EventKind::EntityOperationSignaled {
                entity,
                operation,
                input,
                ..
            } => entity.len() + operation.len() + input.as_ref().map_or(0, String::len),
            EventKind::EntityRequest {
                operation, input, ..
            } => operation.len() + input.as_ref().map_or(0, String::len) + 96,
            EventKind::TaskCompleted { result, .. }
            | EventKind::EntityOperationCompleted { result, .. }
            | EventKind::SubOrchestrationInstanceCompleted { result, .. }
            | EventKind::ExecutionCompleted { result } => result.len(),
            EventKind::TaskFailed {
                reason, details, ..
            }
            | EventKind::SubOrchestrationInstanceFailed {
                reason, details, ..
            }
            | EventKind::EntityOperationFailed {
                reason, details, ..
            }
            | EventKind::ExecutionFailed { reason, details } => {
                reason.len() + details.as_ref().map_or(0, String::len)
            }
            EventKind::ExecutionTerminated { reason }
            | EventKind::ExecutionSuspended { reason }
            | EventKind::ExecutionResumed { reason } => reason.len(),
            EventKind::ContinuedAsNew { input } => input.len(),
            EventKind::ExecutionRewound { reason, voided } => reason.len() + voided.len() * 8,
            EventKind::ExecutionMigrated {
                orchestrator_digest,
            } => orchestrator_digest.as_str().len(),
            EventKind::OrchestratorStarted
            | EventKind::TimerCreated { .. }
            | EventKind::TimerFired { .. } => 0,
        };
        text + 64
    }
}

/// What rewinding a failed execution voids: `ExecutionFailed`, and, of the turn that failed
/// (the events after its `OrchestratorStarted`), the failed results and the decisions made in
/// response. Completed results and raised events of that turn are kept. `None` if the history
/// does not end in `ExecutionFailed`.
pub fn rewind_voids(history: &[Event]) -> Option<Vec<u64>> {
    let (failed, before) = history.split_last()?;
    if !matches!(failed.kind, EventKind::ExecutionFailed { .. }) {
        return None;
    }
    let mut voided = vec![failed.seq];
    for event in before.iter().rev() {
        match event.kind {
            EventKind::OrchestratorStarted
            | EventKind::ExecutionStarted { .. }
            | EventKind::ExecutionRewound { .. } => break,
            EventKind::TaskFailed { .. }
            | EventKind::SubOrchestrationInstanceFailed { .. }
            | EventKind::TaskScheduled { .. }
            | EventKind::TimerCreated { .. }
            | EventKind::SubOrchestrationInstanceCreated { .. } => voided.push(event.seq),
            _ => {}
        }
    }
    voided.sort_unstable();
    Some(voided)
}

/// The sequence numbers the history's rewinds voided (replay skips them).
pub fn voided(history: &[Event]) -> std::collections::HashSet<u64> {
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ExecutionRewound { voided, .. } => Some(voided.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect()
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
            task_id: TaskId(0),
            name: "validateOrder".into(),
            input: "{}".into(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["eventType"], "TaskScheduled");
        assert_eq!(json["eventType"], e.type_name());
        let back: EventKind = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }

    fn ev(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            timestamp_ms: 0,
            kind,
        }
    }

    #[test]
    fn rewind_voids_the_failed_turn_but_keeps_its_successes() {
        let scheduled = |seq, task_id| {
            ev(
                seq,
                EventKind::TaskScheduled {
                    task_id,
                    name: "a".into(),
                    input: "1".into(),
                },
            )
        };
        let failed = |seq, task_id| {
            ev(
                seq,
                EventKind::TaskFailed {
                    task_id,
                    reason: "boom".into(),
                    details: None,
                    digest: None,
                },
            )
        };
        let history = vec![
            ev(
                0,
                EventKind::ExecutionStarted {
                    name: "o".into(),
                    input: "null".into(),
                    orchestrator_digest: "d".into(),
                    version: None,
                    trace_context: None,
                },
            ),
            scheduled(1, TaskId(0)),
            scheduled(2, TaskId(1)),
            failed(3, TaskId(9)), // an earlier turn's failure, survived: kept
            ev(4, EventKind::OrchestratorStarted),
            ev(
                5,
                EventKind::TaskCompleted {
                    task_id: TaskId(1),
                    result: "2".into(),
                    digest: None,
                },
            ),
            failed(6, TaskId(0)),
            scheduled(7, TaskId(2)), // a decision made in reaction to the failure
            ev(
                8,
                EventKind::ExecutionFailed {
                    reason: "boom".into(),
                    details: None,
                },
            ),
        ];
        assert_eq!(rewind_voids(&history), Some(vec![6, 7, 8]));
        assert_eq!(rewind_voids(&history[..8]), None, "not failed");
    }

    #[test]
    fn statuses_round_trip_case_insensitively() {
        for s in RuntimeStatus::ALL {
            assert_eq!(RuntimeStatus::parse(&s.as_str().to_lowercase()), Some(s));
        }
        assert_eq!(RuntimeStatus::parse("Bogus"), None);
    }
}
