//! The JSON the dashboard needs beyond the management API: counts by status, the state of an
//! instance's orchestrator at any point of its history (replay), and whether the deployed
//! version would replay it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Map, Value, json};

use super::super::extract::{Params, parse_id};
use super::super::respond::parse_json;
use super::super::{ApiError, AppState};
use crate::engine::{Decision, Event, EventKind, decision_of};
use crate::ids::{Digest, InstanceId, TaskId};
use crate::runtime::dry_run::{Traced, replay_traced};
use crate::runtime::orchestrator::{RunEnd, Stop};
use crate::store::{self, Instance, ListQuery};

/// `GET /dashboard/api/counts`: instances per status under the list's filters (status aside).
pub async fn counts(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let text = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let query = ListQuery {
        created_from_ms: params.time("createdTimeFrom")?,
        created_to_ms: params.time("createdTimeTo")?,
        instance_id_prefix: text("instanceIdPrefix"),
        name: text("name"),
        ..ListQuery::default()
    };
    let counts = store::read(state.executor.store(), move |s| s.count_by_status(&query)).await?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let mut by_status = Map::new();
    for (status, n) in counts {
        by_status.insert(status.as_str().to_owned(), Value::from(n));
    }
    Ok(Json(json!({"counts": by_status, "total": total})))
}

/// The instance and its current execution's history, or 404.
async fn load(state: &AppState, raw_id: &str) -> Result<(Instance, Vec<Event>), ApiError> {
    let id: InstanceId = parse_id(raw_id)?;
    let lookup = id.clone();
    let found = store::read(state.executor.store(), move |s| {
        let Some(instance) = s.instance(&lookup)? else {
            return Ok(None);
        };
        let history = s.history(&lookup)?;
        Ok(Some((instance, history)))
    })
    .await?;
    found.ok_or_else(|| ApiError::NotFound(format!("no instance with id '{id}'")))
}

/// `GET /dashboard/api/instances/{id}/replay?position=N`: replays the history through the end
/// of the turn holding event N (default: all of it) on the version the instance ran at that
/// point, and shows the orchestrator's state there.
pub async fn replay(
    State(state): State<Arc<AppState>>,
    Path(instance_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let (instance, history) = load(&state, &instance_id).await?;
    let last = history.len().saturating_sub(1) as u64;
    let position = match params.get("position") {
        None => last,
        Some(p) => p
            .parse::<u64>()
            .ok()
            .filter(|p| *p <= last)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "position must be an event number from 0 to {last}, not '{p}'"
                ))
            })?,
    };
    let cut = turn_end(&history, position);
    let prefix: Vec<Event> = history[..cut].to_vec();
    let digest = version_at(&prefix).unwrap_or_else(|| instance.orchestrator_digest.clone());
    let traced = run(&state, &digest, &instance, prefix).await?;
    let mut view = state_view(&traced);
    view["position"] = Value::from(position);
    view["throughEvent"] = Value::from(cut.saturating_sub(1));
    view["historyLength"] = Value::from(history.len());
    view["orchestratorDigest"] = Value::from(digest.as_str());
    Ok(Json(view))
}

/// `GET /dashboard/api/instances/{id}/check`: would the version now deployed for the
/// instance's orchestration replay its history, and if not, where it first diverges.
pub async fn check(
    State(state): State<Arc<AppState>>,
    Path(instance_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (instance, history) = load(&state, &instance_id).await?;
    let pinned = version_at(&history).unwrap_or_else(|| instance.orchestrator_digest.clone());
    let Some(deployed) = state.executor.deployed_digest(&instance.name) else {
        return Ok(Json(json!({
            "pinnedDigest": pinned.as_str(), "deployedDigest": null, "compatible": null,
            "divergence": null,
        })));
    };
    let mut answer = json!({
        "pinnedDigest": pinned.as_str(), "deployedDigest": deployed.as_str(),
        "compatible": true, "divergence": null,
    });
    if deployed != pinned {
        let traced = run(&state, &deployed, &instance, history.clone()).await?;
        if let Err(mismatch) = &traced.verdict {
            let decision = traced.exec.decisions_made();
            answer["compatible"] = Value::Bool(false);
            answer["divergence"] = json!({
                "decision": decision + 1,
                "event": decision_event(&history, decision),
                "message": mismatch.0,
            });
        }
    }
    Ok(Json(answer))
}

/// Replays `history` on orchestrator `digest`, keeping the guest's log lines.
async fn run(
    state: &AppState,
    digest: &Digest,
    instance: &Instance,
    history: Vec<Event>,
) -> Result<Traced, ApiError> {
    let orchestrator = state
        .executor
        .orchestrator_for(digest)
        .await
        .ok_or_else(|| {
            ApiError::Unavailable(format!(
                "orchestrator {digest} is not available on this host"
            ))
        })?;
    replay_traced(orchestrator.as_ref(), instance, history)
        .await
        .ok_or_else(|| ApiError::BadRequest("the instance's history cannot be replayed".into()))
}

/// Where the turn holding event `position` ends (exclusive): the next `OrchestratorStarted`.
fn turn_end(history: &[Event], position: u64) -> usize {
    history
        .iter()
        .position(|e| e.seq > position && e.kind == EventKind::OrchestratorStarted)
        .unwrap_or(history.len())
}

/// The orchestrator version a history runs on at its end (its start, or its last migration).
fn version_at(history: &[Event]) -> Option<Digest> {
    history.iter().rev().find_map(|e| match &e.kind {
        EventKind::ExecutionMigrated {
            orchestrator_digest,
        }
        | EventKind::ExecutionStarted {
            orchestrator_digest,
            ..
        } => Some(orchestrator_digest.clone()),
        _ => None,
    })
}

/// The sequence number of the event recording decision `index` (0-based; voided events of a
/// rewind do not count), or the last event if the history has fewer decisions.
fn decision_event(history: &[Event], index: usize) -> u64 {
    let voided = crate::engine::voided(history);
    history
        .iter()
        .filter(|e| !voided.contains(&e.seq) && decision_of(&e.kind).is_some())
        .nth(index)
        .or(history.last())
        .map_or(0, |e| e.seq)
}

/// The orchestrator's state where a replay stopped, as the dashboard shows it.
fn state_view(traced: &Traced) -> Value {
    let exec = &traced.exec;
    let made = exec.decisions_made();
    let decisions: Vec<Value> = exec.decisions()[..made.min(exec.decisions().len())]
        .iter()
        .map(|(id, d)| decision_json(*id, d))
        .collect();
    let pending: Vec<Value> = exec
        .open_tasks()
        .iter()
        .map(|(id, d)| decision_json(*id, d))
        .collect();
    let logs: Vec<Value> = exec
        .logs()
        .iter()
        .map(|l| json!({"turn": l.turn, "level": l.level, "message": l.message}))
        .collect();
    let custom = traced.custom_status.clone().flatten();
    json!({
        "turn": exec.turns_consumed().saturating_sub(1),
        "decisions": decisions,
        "pending": pending,
        "awaitingEvents": exec.awaited_events(),
        "customStatus": parse_json(custom.as_deref()),
        "logs": logs,
        "outcome": outcome_json(traced),
    })
}

fn outcome_json(traced: &Traced) -> Value {
    if let Err(mismatch) = &traced.verdict {
        return json!({"state": "diverged", "message": mismatch.0});
    }
    match &traced.end {
        RunEnd::Completed(out) => json!({"state": "completed", "output": parse_json(Some(out))}),
        RunEnd::Failed(f) => json!({"state": "failed", "message": f.message, "details": f.details}),
        RunEnd::ContinueAsNew(input) => {
            json!({"state": "continuedAsNew", "input": parse_json(Some(input))})
        }
        RunEnd::Stopped(Stop::EndOfHistory) => json!({"state": "waiting"}),
        RunEnd::Stopped(stop) => json!({"state": "stopped", "message": stop.to_string()}),
    }
}

fn decision_json(task_id: TaskId, decision: &Decision) -> Value {
    match decision {
        Decision::ScheduleActivity { name, input } => json!({
            "taskId": task_id.0, "kind": "activity", "name": name, "input": parse_json(Some(input)),
        }),
        Decision::CreateTimer { fire_at_ms } => json!({
            "taskId": task_id.0, "kind": "timer", "fireAt": super::super::time::format_ms(*fire_at_ms),
        }),
        Decision::ScheduleSubOrchestration {
            name,
            instance_id,
            input,
        } => json!({
            "taskId": task_id.0, "kind": "subOrchestration", "name": name,
            "instanceId": instance_id, "input": parse_json(Some(input)),
        }),
        Decision::EntityOperation {
            entity,
            operation,
            input,
            call,
        } => json!({
            "taskId": task_id.0, "kind": if *call { "entityCall" } else { "entitySignal" },
            "name": format!("{entity}.{operation}"), "input": parse_json(input.as_deref()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            timestamp_ms: seq,
            kind,
        }
    }

    fn scheduled(seq: u64, task: u32) -> Event {
        let kind = EventKind::TaskScheduled {
            task_id: TaskId(task),
            name: "a".into(),
            input: "1".into(),
        };
        event(seq, kind)
    }

    #[test]
    fn a_position_extends_to_the_end_of_its_turn() {
        let history = vec![
            event(
                0,
                EventKind::ExecutionStarted {
                    name: "o".into(),
                    input: "{}".into(),
                    orchestrator_digest: "d0".into(),
                    version: None,
                    trace_context: None,
                },
            ),
            scheduled(1, 0),
            event(2, EventKind::OrchestratorStarted),
            event(
                3,
                EventKind::TaskCompleted {
                    task_id: TaskId(0),
                    result: "1".into(),
                    digest: None,
                },
            ),
            scheduled(4, 1),
            event(
                5,
                EventKind::ExecutionMigrated {
                    orchestrator_digest: "d1".into(),
                },
            ),
        ];
        assert_eq!(turn_end(&history, 0), 2);
        assert_eq!(turn_end(&history, 1), 2);
        assert_eq!(turn_end(&history, 2), 6);
        assert_eq!(version_at(&history[..2]).unwrap().as_str(), "d0");
        assert_eq!(version_at(&history).unwrap().as_str(), "d1");
        assert_eq!(decision_event(&history, 0), 1);
        assert_eq!(decision_event(&history, 1), 4);
        assert_eq!(decision_event(&history, 7), 5);
    }
}
