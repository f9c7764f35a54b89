//! Dry runs: does an orchestrator version replay an instance's history exactly? Used by
//! `deploy --check`/`--migrate` and by an instance's actor before it moves to a new version.

use super::orchestrator::{RunEnd, Stop};
use super::ports::Orchestrator;
use crate::engine::{Event, Execution};
use crate::store::Instance;

/// Why a version does not reproduce a history: the first divergence, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// Replays `history` against `orchestrator` without recording anything. `None` if the history
/// cannot be loaded at all; `Err` where the orchestrator would not reproduce it.
pub async fn replay_check(
    orchestrator: &dyn Orchestrator,
    instance: &Instance,
    history: Vec<Event>,
) -> Option<Result<(), Mismatch>> {
    let exec = Execution::from_history(
        instance.instance_id.as_str(),
        instance.execution_id.as_str(),
        history,
    )
    .ok()?;
    let result = orchestrator.replay(exec).await;
    let mut exec = result.exec;
    Some(verdict(result.end, &mut exec).map_err(Mismatch))
}

/// What a replay-only run of a history left behind: the execution's state where it stopped,
/// the custom status the guest set, and how the run ended.
pub struct Traced {
    pub exec: Execution,
    pub custom_status: Option<Option<String>>,
    pub end: RunEnd,
    /// `Err` where the run did not reproduce the history (see [`replay_check`]).
    pub verdict: Result<(), Mismatch>,
}

/// Replays `history` against `orchestrator` keeping the guest's log lines, for inspection.
/// `None` if the history cannot be loaded at all.
pub async fn replay_traced(
    orchestrator: &dyn Orchestrator,
    instance: &Instance,
    history: Vec<Event>,
) -> Option<Traced> {
    let mut exec = Execution::from_history(
        instance.instance_id.as_str(),
        instance.execution_id.as_str(),
        history,
    )
    .ok()?;
    exec.capture_logs();
    let result = orchestrator.replay(exec).await;
    let mut exec = result.exec;
    let end = result.end.clone();
    let verdict = verdict(result.end, &mut exec).map_err(Mismatch);
    Some(Traced {
        exec,
        custom_status: result.custom_status,
        end,
        verdict,
    })
}

/// Whether a dry-run replay that ended with `end` reproduced the history in `exec`: it must
/// reach the end of the recorded history, or end (return, continue as new) only after making
/// every recorded decision again.
fn verdict(end: RunEnd, exec: &mut Execution) -> Result<(), String> {
    match end {
        RunEnd::Stopped(Stop::EndOfHistory) => Ok(()),
        RunEnd::Stopped(Stop::Fault(why)) => Err(why),
        RunEnd::Failed(failure) => Err(failure.message),
        RunEnd::Completed(output) => exec.complete(output).map_err(|n| n.to_string()),
        RunEnd::ContinueAsNew(_) => exec
            .check_all_replayed("continues as new without making it")
            .map_err(|n| n.to_string()),
        // Not produced in replay-only mode.
        RunEnd::Stopped(Stop::Evict | Stop::Terminate(_) | Stop::Migrate(_)) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Decision, Event, EventKind, WaitMode};
    use crate::ids::TaskId;

    /// A history with one activity scheduled and completed, then a second one scheduled.
    fn two_steps() -> Execution {
        let started = Event {
            seq: 0,
            timestamp_ms: 1,
            kind: EventKind::ExecutionStarted {
                name: "o".into(),
                input: "{}".into(),
                orchestrator_digest: "d".into(),
                version: None,
                trace_context: None,
            },
        };
        let mut live = Execution::from_history("i", "e", vec![started.clone()]).unwrap();
        let step = |name: &str| Decision::ScheduleActivity {
            name: name.into(),
            input: "{}".into(),
        };
        live.decide(step("a")).unwrap();
        live.push_turn(
            2,
            vec![EventKind::TaskCompleted {
                task_id: TaskId(0),
                result: "1".into(),
                digest: None,
            }],
        );
        live.poll(&[TaskId(0)], WaitMode::All).unwrap();
        live.decide(step("b")).unwrap();
        let mut history = vec![started];
        history.extend(live.take_new_events());
        Execution::from_history("i", "e", history).unwrap()
    }

    #[test]
    fn a_version_that_ends_before_the_recorded_decisions_is_divergent() {
        // Before the fix every ending but a failure counted as compatible.
        let err = verdict(RunEnd::Completed("1".into()), &mut two_steps()).unwrap_err();
        assert!(err.contains("returns without making it"), "{err}");
        let err = verdict(RunEnd::ContinueAsNew("{}".into()), &mut two_steps()).unwrap_err();
        assert!(err.contains("continues as new"), "{err}");
        let err = verdict(
            RunEnd::Stopped(Stop::Fault("instantiating failed".into())),
            &mut two_steps(),
        );
        assert!(err.is_err());
        let end = RunEnd::Stopped(Stop::EndOfHistory);
        assert_eq!(verdict(end, &mut two_steps()), Ok(()));
    }
}
