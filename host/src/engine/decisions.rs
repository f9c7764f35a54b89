//! Decisions: what an orchestrator asks for, the history event that records each, and how a
//! replayed decision is compared with the recorded one.

use super::history::EventKind;
use crate::ids::TaskId;

/// Something the orchestrator decided to do that is recorded in the history.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    ScheduleActivity {
        name: String,
        input: String,
    },
    CreateTimer {
        fire_at_ms: u64,
    },
    ScheduleSubOrchestration {
        name: String,
        instance_id: String,
        input: String,
    },
    /// An operation sent to an entity (`entity` is its instance id, `@name@key`): with
    /// `call`, the orchestrator gets its answer as the task's outcome; without, it is a signal.
    EntityOperation {
        entity: String,
        operation: String,
        input: Option<String>,
        call: bool,
    },
}

/// The history event that records `decision` as task `task_id`.
pub(super) fn event_of(task_id: TaskId, decision: &Decision) -> EventKind {
    match decision.clone() {
        Decision::ScheduleActivity { name, input } => EventKind::TaskScheduled {
            task_id,
            name,
            input,
        },
        Decision::CreateTimer { fire_at_ms } => EventKind::TimerCreated {
            task_id,
            fire_at_ms,
        },
        Decision::ScheduleSubOrchestration {
            name,
            instance_id,
            input,
        } => EventKind::SubOrchestrationInstanceCreated {
            task_id,
            name,
            instance_id,
            input,
        },
        Decision::EntityOperation {
            entity,
            operation,
            input,
            call,
        } => match call {
            true => EventKind::EntityOperationCalled {
                task_id,
                entity,
                operation,
                input,
            },
            false => EventKind::EntityOperationSignaled {
                task_id,
                entity,
                operation,
                input,
            },
        },
    }
}

/// The decision a history event records, if it records one.
pub fn decision_of(kind: &EventKind) -> Option<(TaskId, Decision)> {
    let entity = |task_id: &TaskId, entity: &String, operation: &String, input: &Option<String>| {
        let decision = Decision::EntityOperation {
            entity: entity.clone(),
            operation: operation.clone(),
            input: input.clone(),
            call: matches!(kind, EventKind::EntityOperationCalled { .. }),
        };
        Some((*task_id, decision))
    };
    match kind {
        EventKind::TaskScheduled {
            task_id,
            name,
            input,
        } => Some((
            *task_id,
            Decision::ScheduleActivity {
                name: name.clone(),
                input: input.clone(),
            },
        )),
        EventKind::TimerCreated {
            task_id,
            fire_at_ms,
        } => Some((
            *task_id,
            Decision::CreateTimer {
                fire_at_ms: *fire_at_ms,
            },
        )),
        EventKind::SubOrchestrationInstanceCreated {
            task_id,
            name,
            instance_id,
            input,
        } => Some((
            *task_id,
            Decision::ScheduleSubOrchestration {
                name: name.clone(),
                instance_id: instance_id.clone(),
                input: input.clone(),
            },
        )),
        EventKind::EntityOperationCalled {
            task_id,
            entity: e,
            operation,
            input,
        }
        | EventKind::EntityOperationSignaled {
            task_id,
            entity: e,
            operation,
            input,
        } => entity(task_id, e, operation, input),
        _ => None,
    }
}

/// The task a result event (completion, failure, timer, child outcome) answers.
pub fn result_task_id(kind: &EventKind) -> Option<TaskId> {
    match kind {
        EventKind::TaskCompleted { task_id, .. }
        | EventKind::TaskFailed { task_id, .. }
        | EventKind::TimerFired { task_id, .. }
        | EventKind::SubOrchestrationInstanceCompleted { task_id, .. }
        | EventKind::SubOrchestrationInstanceFailed { task_id, .. }
        | EventKind::EntityOperationCompleted { task_id, .. }
        | EventKind::EntityOperationFailed { task_id, .. } => Some(*task_id),
        _ => None,
    }
}

/// Decisions match when they are of the same kind and target the same function (or entity and
/// operation); inputs may differ (as in Durable Task), so that fixing a payload bug does not
/// strand in-flight instances.
pub(super) fn same_decision(a: &Decision, b: &Decision) -> bool {
    match (a, b) {
        (
            Decision::ScheduleActivity { name: x, .. },
            Decision::ScheduleActivity { name: y, .. },
        ) => x == y,
        (Decision::CreateTimer { .. }, Decision::CreateTimer { .. }) => true,
        (
            Decision::ScheduleSubOrchestration { name: x, .. },
            Decision::ScheduleSubOrchestration { name: y, .. },
        ) => x == y,
        (
            Decision::EntityOperation {
                entity: e1,
                operation: o1,
                call: c1,
                ..
            },
            Decision::EntityOperation {
                entity: e2,
                operation: o2,
                call: c2,
                ..
            },
        ) => e1 == e2 && o1 == o2 && c1 == c2,
        _ => false,
    }
}

pub(super) fn describe_recorded(task_id: TaskId, d: &Decision) -> String {
    match d {
        Decision::ScheduleActivity { name, .. } => {
            format!("TaskScheduled '{name}' (task {task_id})")
        }
        Decision::CreateTimer { fire_at_ms } => {
            format!("TimerCreated firing at {fire_at_ms} ms (task {task_id})")
        }
        Decision::ScheduleSubOrchestration { name, .. } => {
            format!("SubOrchestrationInstanceCreated '{name}' (task {task_id})")
        }
        Decision::EntityOperation {
            entity,
            operation,
            call,
            ..
        } => {
            let kind = if *call { "Called" } else { "Signaled" };
            format!("EntityOperation{kind} '{operation}' on {entity} (task {task_id})")
        }
    }
}

pub(super) fn describe_new(task_id: TaskId, d: &Decision) -> String {
    match d {
        Decision::ScheduleActivity { name, .. } => {
            format!("schedules activity '{name}' (task {task_id})")
        }
        Decision::CreateTimer { .. } => format!("creates a timer (task {task_id})"),
        Decision::ScheduleSubOrchestration { name, .. } => {
            format!("starts sub-orchestration '{name}' (task {task_id})")
        }
        Decision::EntityOperation {
            entity,
            operation,
            call,
            ..
        } => {
            let verb = if *call { "calls" } else { "signals" };
            format!("{verb} operation '{operation}' of entity {entity} (task {task_id})")
        }
    }
}
