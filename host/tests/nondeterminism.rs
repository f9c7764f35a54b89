//! A changed orchestrator replayed against an existing history fails with an error that names
//! the position, the recorded decision and the new one. Runs the real seed component (built by
//! `make build`) through the real sandbox, without the HTTP layer.

use std::path::Path;

use durable::engine::{Event, EventKind, Execution};
use durable::ids::TaskId;
use durable::runtime::Components;
use durable::runtime::orchestrator::{OrchestratorLimits, RunEnd};

fn event(seq: u64, kind: EventKind) -> Event {
    Event {
        seq,
        timestamp_ms: 1_000 + seq,
        kind,
    }
}

#[tokio::test]
async fn replaying_a_changed_orchestrator_names_the_divergence() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/guests/orchestrator.wasm");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", path.display()));
    let components = Components::new(OrchestratorLimits::default(), 64 << 20, None).unwrap();
    let (digest, names) = components.add_orchestrator("seed", &bytes).await.unwrap();
    assert!(names.iter().any(|n| n == "orderProcessingOrchestrator"));

    // A history written by an older version that called "reserveStock" second.
    let order = r#"{"orderId":"A","customerId":"C"}"#;
    let history = vec![
        event(
            0,
            EventKind::ExecutionStarted {
                name: "orderProcessingOrchestrator".into(),
                input: order.into(),
                orchestrator_digest: digest.clone(),
                version: None,
                trace_context: None,
            },
        ),
        event(
            1,
            EventKind::TaskScheduled {
                task_id: TaskId(0),
                name: "validateOrder".into(),
                input: order.into(),
            },
        ),
        event(2, EventKind::OrchestratorStarted),
        event(
            3,
            EventKind::TaskCompleted {
                task_id: TaskId(0),
                result: order.into(),
                digest: None,
            },
        ),
        event(
            4,
            EventKind::TaskScheduled {
                task_id: TaskId(1),
                name: "reserveStock".into(),
                input: order.into(),
            },
        ),
    ];
    let exec = Execution::from_history("i-1", "e-1", history).unwrap();
    let orchestrator = components.loaded_orchestrator(digest.as_str()).unwrap();
    let result = components.orchestrators.replay(&orchestrator, exec).await;
    match result.end {
        RunEnd::Failed(failure) => assert!(
            failure.message.contains(
                "non-deterministic orchestration at decision 2: the history has TaskScheduled 'reserveStock' (task 1), \
                 but the code now schedules activity 'reserveInventory' (task 1)"
            ),
            "{}", failure.message
        ),
        other => panic!("expected a non-determinism failure, got {other:?}"),
    }
}
