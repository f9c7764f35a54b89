//! Random history events from a small vocabulary, for the engine's property tests and the
//! cargo-fuzz targets (`fuzz/`): `pick(n)` chooses a number below `n`, from a seeded generator
//! or from the fuzzer's bytes. Small task ids and names make results, waits and decisions meet.

use super::history::EventKind;
use crate::ids::TaskId;

/// One event of any kind (the start event included, which is only valid first).
pub fn event_kind(pick: &mut dyn FnMut(u64) -> u64) -> EventKind {
    let task_id = TaskId(pick(6) as u32);
    let name = ["a", "b", "E"][pick(3) as usize].to_owned();
    match pick(16) {
        0 => EventKind::OrchestratorStarted,
        1 => EventKind::TaskScheduled {
            task_id,
            name,
            input: "1".into(),
        },
        2 => EventKind::TaskCompleted {
            task_id,
            result: "2".into(),
            digest: None,
        },
        3 => EventKind::TaskFailed {
            task_id,
            reason: "no".into(),
            details: None,
            digest: None,
        },
        4 => EventKind::TimerCreated {
            task_id,
            fire_at_ms: 5,
        },
        5 => EventKind::TimerFired {
            task_id,
            fire_at_ms: 5,
        },
        6 => EventKind::EventRaised {
            name,
            input: "3".into(),
        },
        7 => EventKind::SubOrchestrationInstanceCreated {
            task_id,
            name,
            instance_id: "c".into(),
            input: "4".into(),
        },
        8 => EventKind::SubOrchestrationInstanceCompleted {
            task_id,
            result: "5".into(),
        },
        9 => EventKind::SubOrchestrationInstanceFailed {
            task_id,
            reason: "child".into(),
            details: None,
        },
        10 => EventKind::ExecutionCompleted { result: "6".into() },
        11 => EventKind::ExecutionFailed {
            reason: "x".into(),
            details: None,
        },
        12 => EventKind::ExecutionSuspended {
            reason: String::new(),
        },
        13 => EventKind::ExecutionResumed {
            reason: String::new(),
        },
        14 => EventKind::ExecutionRewound {
            reason: String::new(),
            voided: (0..pick(4)).map(|_| pick(40)).collect(),
        },
        _ => start(),
    }
}

/// The first event of a history.
pub fn start() -> EventKind {
    EventKind::ExecutionStarted {
        name: "o".into(),
        input: "null".into(),
        orchestrator_digest: "d".into(),
        version: None,
        trace_context: None,
    }
}
