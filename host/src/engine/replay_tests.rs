//! Unit tests of `replay.rs`.
use super::*;

fn started() -> Event {
    Event {
        seq: 0,
        timestamp_ms: 1_000,
        kind: EventKind::ExecutionStarted {
            name: "order".into(),
            input: r#"{"orderId":"A"}"#.into(),
            orchestrator_digest: "d".into(),
            version: None,
            trace_context: None,
        },
    }
}

fn activity(name: &str) -> Decision {
    Decision::ScheduleActivity {
        name: name.into(),
        input: "{}".into(),
    }
}

/// Runs the seed's three-step chain live, returning the history it produced.
fn run_chain_live() -> Vec<Event> {
    let mut history = vec![started()];
    let mut exec = Execution::from_history("i", "e", history.clone()).unwrap();
    for (step, name) in ["validateOrder", "reserveInventory", "emitConfirmation"]
        .iter()
        .enumerate()
    {
        let (id, new) = exec.decide(activity(name)).unwrap();
        assert!(new);
        assert_eq!(id, TaskId(step as u32));
        assert_eq!(exec.poll(&[id], WaitMode::All).unwrap(), Poll::Blocked);
        exec.push_turn(
            2_000 + step as u64,
            vec![EventKind::TaskCompleted {
                task_id: id,
                result: format!("{step}"),
                digest: None,
            }],
        );
        assert_eq!(
            exec.poll(&[id], WaitMode::All).unwrap(),
            Poll::All(vec![Outcome::Completed(format!("{step}"))])
        );
        assert_eq!(exec.current_time_ms(), 2_000 + step as u64);
    }
    exec.complete("\"done\"".into()).unwrap();
    history.extend(exec.take_new_events());
    history
}

#[test]
fn live_run_records_a_gapless_history() {
    let history = run_chain_live();
    let types: Vec<_> = history.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "TaskScheduled",
            "OrchestratorStarted",
            "TaskCompleted",
            "TaskScheduled",
            "OrchestratorStarted",
            "TaskCompleted",
            "TaskScheduled",
            "OrchestratorStarted",
            "TaskCompleted",
            "ExecutionCompleted"
        ]
    );
    for (i, e) in history.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
    }
}

#[test]
fn replay_reproduces_results_and_times_without_new_events() {
    let mut history = run_chain_live();
    history.pop(); // as if the host crashed before the completion was committed
    let mut exec = Execution::from_history("i", "e", history).unwrap();
    assert!(exec.is_replaying());
    for (step, name) in ["validateOrder", "reserveInventory", "emitConfirmation"]
        .iter()
        .enumerate()
    {
        let (id, new) = exec.decide(activity(name)).unwrap();
        assert!(!new, "step {step} must be replayed");
        let poll = exec.poll(&[id], WaitMode::All).unwrap();
        assert_eq!(poll, Poll::All(vec![Outcome::Completed(format!("{step}"))]));
        assert_eq!(exec.current_time_ms(), 2_000 + step as u64);
    }
    assert!(!exec.is_replaying());
    assert!(exec.take_new_events().is_empty());
    exec.complete("1".into()).unwrap();
    let events = exec.take_new_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 10);
}

#[test]
fn divergence_names_position_recorded_and_new_decision() {
    let history = run_chain_live();
    let mut exec = Execution::from_history("i", "e", history[..8].to_vec()).unwrap();
    exec.decide(activity("validateOrder")).unwrap();
    exec.poll(&[TaskId(0)], WaitMode::All).unwrap();
    let err = exec
        .decide(Decision::CreateTimer { fire_at_ms: 5 })
        .unwrap_err();
    assert_eq!(err.position, 2);
    assert_eq!(err.recorded, "TaskScheduled 'reserveInventory' (task 1)");
    assert_eq!(err.new, "creates a timer (task 1)");
    let text = err.to_string();
    assert!(text.contains("decision 2"), "{text}");
}

#[test]
fn finishing_early_is_divergence() {
    let history = run_chain_live();
    let mut exec = Execution::from_history("i", "e", history[..5].to_vec()).unwrap();
    let err = exec.complete("null".into()).unwrap_err();
    assert_eq!(err.position, 1);
    assert!(err.recorded.contains("validateOrder"));
}

#[test]
fn continuing_as_new_early_is_divergence() {
    let history = run_chain_live();
    let exec = Execution::from_history("i", "e", history[..5].to_vec()).unwrap();
    let err = exec
        .check_all_replayed("continues as new without making it")
        .unwrap_err();
    assert_eq!(err.position, 1);
    assert!(err.recorded.contains("validateOrder"), "{err}");
    assert!(err.to_string().contains("continues as new"), "{err}");
    // After all recorded decisions, ending is fine.
    let mut exec = Execution::from_history("i", "e", history[..5].to_vec()).unwrap();
    exec.decide(activity("validateOrder")).unwrap();
    exec.poll(&[TaskId(0)], WaitMode::All).unwrap();
    exec.decide(activity("reserveInventory")).unwrap();
    assert_eq!(exec.check_all_replayed("continues as new"), Ok(()));
}

#[test]
fn each_recorded_turn_handed_over_counts_as_a_turn() {
    let mut history = run_chain_live();
    history.pop();
    let mut exec = Execution::from_history("i", "e", history).unwrap();
    let start = exec.turns_consumed();
    for (step, name) in ["validateOrder", "reserveInventory", "emitConfirmation"]
        .iter()
        .enumerate()
    {
        let (id, _) = exec.decide(activity(name)).unwrap();
        exec.poll(&[id], WaitMode::All).unwrap();
        assert_eq!(exec.turns_consumed(), start + step + 1, "step {step}");
        // Polling a resolved task again crosses no turn.
        exec.poll(&[id], WaitMode::All).unwrap();
        assert_eq!(exec.turns_consumed(), start + step + 1);
    }
}

#[test]
fn failures_carry_durable_functions_message_and_open_tasks_are_found() {
    let mut exec = Execution::from_history("i", "e", vec![started()]).unwrap();
    let (a, _) = exec.decide(activity("validateOrder")).unwrap();
    let (b, _) = exec.decide(activity("other")).unwrap();
    let mut history = vec![started()];
    history.extend(exec.take_new_events());
    history.push(Event {
        seq: 3,
        timestamp_ms: 5,
        kind: EventKind::OrchestratorStarted,
    });
    history.push(Event {
        seq: 4,
        timestamp_ms: 5,
        kind: EventKind::TaskFailed {
            task_id: a,
            reason: "orderId and customerId are required.".into(),
            details: None,
            digest: None,
        },
    });
    let mut exec = Execution::from_history("i", "e", history).unwrap();
    assert_eq!(exec.open_tasks(), vec![(b, activity("other"))]);
    exec.decide(activity("validateOrder")).unwrap();
    exec.decide(activity("other")).unwrap();
    match exec.poll(&[a, b], WaitMode::Any).unwrap() {
        Poll::Any(0, Outcome::Failed(Failure { message, .. })) => assert_eq!(
            message,
            "Activity function 'validateOrder' failed: orderId and customerId are required."
        ),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(exec.poll(&[a, b], WaitMode::All).unwrap(), Poll::Blocked);
}

#[test]
fn duplicate_and_stray_results_never_reach_the_history() {
    let mut exec = Execution::from_history("i", "e", vec![started()]).unwrap();
    let (a, _) = exec.decide(activity("a")).unwrap();
    assert_eq!(exec.activities_in_flight(), 1);
    let done = |task_id| EventKind::TaskCompleted {
        task_id,
        result: "1".into(),
        digest: None,
    };
    assert!(exec.push_turn(5, vec![done(a), done(a), done(TaskId(9))]));
    assert!(
        !exec.push_turn(6, vec![done(a)]),
        "a second result for a task is dropped"
    );
    let results = exec
        .take_new_events()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::TaskCompleted { .. }))
        .count();
    assert_eq!(results, 1);
}

#[test]
fn unknown_tasks_and_bad_histories_are_errors_not_panics() {
    let mut exec = Execution::from_history("i", "e", vec![started()]).unwrap();
    let err = exec.poll(&[TaskId(7)], WaitMode::All).unwrap_err();
    assert!(err.to_string().contains("never scheduled"), "{err}");
    assert_eq!(exec.poll(&[], WaitMode::Any), Err(WaitError::Empty));
    assert_eq!(
        Execution::from_history("i", "e", vec![]).unwrap_err(),
        HistoryError::Empty
    );
    let mut gap = vec![started()];
    gap.push(Event {
        seq: 2,
        timestamp_ms: 0,
        kind: EventKind::OrchestratorStarted,
    });
    assert!(matches!(
        Execution::from_history("i", "e", gap),
        Err(HistoryError::BadSequence { seq: 1, found: 2 })
    ));
    let orphan = vec![
        started(),
        Event {
            seq: 1,
            timestamp_ms: 0,
            kind: EventKind::TaskCompleted {
                task_id: TaskId(3),
                result: "1".into(),
                digest: None,
            },
        },
    ];
    assert!(matches!(
        Execution::from_history("i", "e", orphan),
        Err(HistoryError::UnknownTask {
            task_id: TaskId(3),
            ..
        })
    ));
}

#[test]
fn events_are_buffered_in_order_and_guids_are_deterministic() {
    let mut exec = Execution::from_history("i", "e", vec![started()]).unwrap();
    exec.push_turn(
        10,
        vec![
            EventKind::EventRaised {
                name: "Approval".into(),
                input: "1".into(),
            },
            EventKind::EventRaised {
                name: "Approval".into(),
                input: "2".into(),
            },
        ],
    );
    let first = exec.wait_for_event("Approval");
    assert_eq!(
        exec.poll(&[first], WaitMode::All).unwrap(),
        Poll::All(vec![Outcome::Completed("1".into())])
    );
    let second = exec.wait_for_event("Approval");
    assert_eq!(
        exec.poll(&[second], WaitMode::All).unwrap(),
        Poll::All(vec![Outcome::Completed("2".into())])
    );
    // A third event nobody waits for stays buffered, for continue-as-new to carry over.
    exec.push_turn(
        11,
        vec![EventKind::EventRaised {
            name: "Approval".into(),
            input: "3".into(),
        }],
    );
    let timer = exec
        .decide(Decision::CreateTimer { fire_at_ms: 99 })
        .unwrap()
        .0;
    assert_eq!(exec.poll(&[timer], WaitMode::All).unwrap(), Poll::Blocked);
    assert_eq!(
        exec.unconsumed_events(),
        vec![("Approval".to_owned(), "3".to_owned())]
    );
    assert_eq!(
        exec.open_tasks(),
        vec![(timer, Decision::CreateTimer { fire_at_ms: 99 })]
    );
    let g1 = exec.new_guid();
    let mut again = Execution::from_history("i", "e", vec![started()]).unwrap();
    assert_eq!(again.new_guid(), g1);
    assert_ne!(again.new_guid(), g1);
}

/// A small deterministic generator (xorshift), so the property tests need no extra crate and
/// every failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn random_kind(rng: &mut Rng) -> EventKind {
    crate::engine::arbitrary::event_kind(&mut |n| rng.below(n))
}

/// Random histories (valid or not) and random guest calls never panic the engine: a history is
/// either refused with a `HistoryError` or replayed, and every call answers with a value or an
/// error.
#[test]
fn random_histories_and_calls_never_panic() {
    for seed in 1..=3_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut history = vec![started()];
        for seq in 1..rng.below(30) {
            // Mostly well-numbered, sometimes a gap or a repeat.
            let seq = match rng.below(20) {
                0 => seq + 1,
                1 => seq.saturating_sub(1),
                _ => seq,
            };
            history.push(Event {
                seq,
                timestamp_ms: rng.below(100),
                kind: random_kind(&mut rng),
            });
        }
        if rng.below(10) == 0 {
            history.remove(0);
        }
        let Ok(mut exec) = Execution::from_history("i", "e", history) else {
            continue;
        };
        let base = exec.history_len();
        for _ in 0..rng.below(40) {
            let name = ["a", "b", "E"][rng.below(3) as usize];
            match rng.below(7) {
                0 => {
                    let _ = exec.decide(activity(name));
                }
                1 => {
                    let _ = exec.decide(Decision::CreateTimer { fire_at_ms: 9 });
                }
                2 => {
                    let _ = exec.wait_for_event(name);
                }
                3 | 4 => {
                    let tasks: Vec<TaskId> = (0..rng.below(4))
                        .map(|_| TaskId(rng.below(8) as u32))
                        .collect();
                    let mode = if rng.below(2) == 0 {
                        WaitMode::All
                    } else {
                        WaitMode::Any
                    };
                    let _ = exec.poll(&tasks, mode);
                }
                5 => {
                    let inbound = (0..rng.below(3)).map(|_| random_kind(&mut rng)).collect();
                    exec.push_turn(rng.below(1000), inbound);
                }
                _ => {
                    let _ = exec.complete("null".into());
                }
            }
        }
        // Whatever happened, the new events continue the history without gaps or repeats.
        for (i, event) in exec.take_new_events().iter().enumerate() {
            assert_eq!(event.seq, base + i as u64, "seed {seed}");
        }
    }
}

#[test]
fn entity_calls_wait_for_their_answer_and_signals_are_never_open() {
    let mut exec = Execution::from_history("i", "e", vec![started()]).unwrap();
    let op = |operation: &str, call: bool| Decision::EntityOperation {
        entity: "@counter@k".into(),
        operation: operation.into(),
        input: Some("5".into()),
        call,
    };
    let (signal, _) = exec.decide(op("add", false)).unwrap();
    let (call, _) = exec.decide(op("get", true)).unwrap();
    assert_eq!(exec.open_tasks().len(), 1, "only the call awaits an answer");
    assert_eq!(exec.open_tasks()[0].0, call);
    assert_eq!(exec.poll(&[call], WaitMode::All).unwrap(), Poll::Blocked);
    exec.push_turn(
        2_000,
        vec![EventKind::EntityOperationFailed {
            task_id: call,
            reason: "boom".into(),
            details: None,
        }],
    );
    let Poll::All(outcomes) = exec.poll(&[call], WaitMode::All).unwrap() else {
        panic!("resolved");
    };
    let Outcome::Failed(failure) = &outcomes[0] else {
        panic!("{outcomes:?}");
    };
    assert_eq!(
        failure.message,
        "Operation 'get' of entity '@counter@k' failed: boom"
    );
    let mut history = vec![started()];
    history.extend(exec.take_new_events());
    let kinds: Vec<_> = history.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(
        kinds,
        [
            "ExecutionStarted",
            "EntityOperationSignaled",
            "EntityOperationCalled",
            "OrchestratorStarted",
            "EntityOperationFailed"
        ]
    );
    assert_ne!(signal, call);

    // Replayed: the same operations match; another operation on the entity diverges.
    let mut replay = Execution::from_history("i", "e", history.clone()).unwrap();
    assert_eq!(replay.decide(op("add", false)).unwrap(), (signal, false));
    let diverged = replay.decide(op("reset", true)).unwrap_err();
    assert!(
        diverged
            .to_string()
            .contains("EntityOperationCalled 'get' on @counter@k")
            && diverged.to_string().contains("calls operation 'reset'"),
        "{diverged}"
    );
}
