//! The executor and its actors, in process: the real orchestrator and activity components
//! (built by `make build`), a SQLite file in a temp dir, no binary and no HTTP.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::runtime::Components;
use crate::runtime::activity::ActivityGrant;
use crate::runtime::orchestrator::OrchestratorLimits;
use crate::store::{SqliteStore, StoreOptions};

const T: Duration = Duration::from_secs(30);

fn guest(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/guests/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", path.display()))
}

fn components() -> Components {
    let limits = OrchestratorLimits {
        max_hot_instances: 16,
        ..OrchestratorLimits::default()
    };
    Components::new(limits, 64 << 20, None).unwrap()
}

/// An executor on a fresh store with the seed's components.
async fn seed_executor(dir: &Path, options: ExecutorOptions) -> Arc<Executor> {
    let store = SqliteStore::open(StoreOptions::new(dir.join("db.sqlite"))).unwrap();
    let components = components();
    let orchestrator = guest("orchestrator");
    components
        .add_orchestrator("seed", &orchestrator)
        .await
        .unwrap();
    let activities = guest("activities");
    let grant = ActivityGrant::default();
    components
        .add_activity("seed", &activities, grant)
        .await
        .unwrap();
    let clock = Arc::new(crate::clock::SystemClock);
    Executor::new(
        store,
        Arc::new(components) as Arc<dyn Runtime>,
        clock,
        options,
    )
}

async fn row(executor: &Executor, id: &InstanceId) -> Instance {
    let lookup = id.clone();
    let found = store::read(executor.store(), move |s| s.instance(&lookup)).await;
    found.unwrap().expect("the instance exists")
}

async fn history(executor: &Executor, id: &InstanceId) -> Vec<EventKind> {
    let lookup = id.clone();
    let events = store::read(executor.store(), move |s| s.history(&lookup)).await;
    events.unwrap().into_iter().map(|e| e.kind).collect()
}

async fn finished(executor: &Executor, id: &InstanceId) -> Instance {
    assert!(
        executor.wait_finished(id, T).await.unwrap(),
        "{id} finished"
    );
    row(executor, id).await
}

/// Waits until `check` holds (polling: the test looks from outside).
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + T;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An executor (idle eviction after `idle_evict`, or the default) with one `approvalWorkflow`
/// waiting for its event.
async fn waiting_approval(dir: &Path, idle_evict: Option<Duration>) -> (Arc<Executor>, InstanceId) {
    let mut options = ExecutorOptions::default();
    if idle_evict.is_some() {
        options.idle_evict = idle_evict;
    }
    let executor = seed_executor(dir, options).await;
    let started = executor.start("approvalWorkflow", None, "{}".into()).await;
    let id = started.unwrap().instance_id;
    until("waiting", async || waiting(&row(&executor, &id).await)).await;
    (executor, id)
}

fn waiting(instance: &Instance) -> bool {
    instance.custom_status.as_deref() == Some("\"waiting for approval\"")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_runs_through_its_actor_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let executor = seed_executor(dir.path(), ExecutorOptions::default()).await;
    let input = r#"{"orderId":"A-1","customerId":"c"}"#.to_owned();
    let name = "orderProcessingOrchestrator";
    let started = executor.start(name, None, input).await.unwrap();
    let done = finished(&executor, &started.instance_id).await;
    assert_eq!(done.status, RuntimeStatus::Completed, "{:?}", done.output);
    let output: serde_json::Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(output["reservationId"], "A-1-inv");
    let events = history(&executor, &started.instance_id).await;
    let scheduled = |e: &&EventKind| matches!(e, EventKind::TaskScheduled { .. });
    assert_eq!(events.iter().filter(scheduled).count(), 3);
    assert!(matches!(
        events.last(),
        Some(EventKind::ExecutionCompleted { .. })
    ));
    // The actor left the registry when the instance ended.
    until("the actor ends", async || executor.live_instances() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_leaves_memory_and_an_event_wakes_it_by_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (executor, id) = waiting_approval(dir.path(), Some(Duration::from_millis(50))).await;
    until("evicted", async || executor.live_instances() == 0).await;
    executor
        .raise_event(&id, "Approval", "\"yes\"".into())
        .await
        .unwrap();
    let done = finished(&executor, &id).await;
    assert_eq!(done.status, RuntimeStatus::Completed);
    assert_eq!(done.output.as_deref(), Some("\"yes\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_held_while_suspended_survive_an_eviction_and_arrive_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let (executor, id) = waiting_approval(dir.path(), Some(Duration::from_millis(50))).await;
    executor.suspend(&id, "audit".into()).await.unwrap();
    let suspended = async || row(&executor, &id).await.status == RuntimeStatus::Suspended;
    until("suspended", suspended).await;
    executor
        .raise_event(&id, "Approval", "\"held\"".into())
        .await
        .unwrap();
    // A second suspension is a turn recorded while the event is held.
    executor.suspend(&id, "again".into()).await.unwrap();
    let twice = async || {
        let events = history(&executor, &id).await;
        let suspension = |e: &&EventKind| matches!(e, EventKind::ExecutionSuspended { .. });
        events.iter().filter(suspension).count() == 2
    };
    until("suspended twice", twice).await;
    until("evicted", async || executor.live_instances() == 0).await;
    executor.resume_suspended(&id, "done".into()).await.unwrap();
    let done = finished(&executor, &id).await;
    assert_eq!(done.status, RuntimeStatus::Completed, "{:?}", done.output);
    assert_eq!(done.output.as_deref(), Some("\"held\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_stops_a_waiting_instance_once() {
    let dir = tempfile::tempdir().unwrap();
    let (executor, id) = waiting_approval(dir.path(), None).await;
    executor
        .terminate(&id, "no longer needed".into())
        .await
        .unwrap();
    let done = finished(&executor, &id).await;
    assert_eq!(done.status, RuntimeStatus::Terminated);
    assert_eq!(done.output.as_deref(), Some("\"no longer needed\""));
    let events = history(&executor, &id).await;
    let terminated = |e: &&EventKind| matches!(e, EventKind::ExecutionTerminated { .. });
    assert_eq!(events.iter().filter(terminated).count(), 1);
    // A late event for the finished instance is refused by the store, not lost in memory.
    let late = executor.raise_event(&id, "Approval", "1".into()).await;
    assert!(
        matches!(late, Err(StoreError::InstanceFinished(_))),
        "{late:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_second_actor_is_never_started_on_a_live_instance() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(StoreOptions::new(dir.path().join("db.sqlite"))).unwrap();
    let clock = Arc::new(crate::clock::SystemClock);
    let executor = Executor::new(
        store,
        Arc::new(components()) as Arc<dyn Runtime>,
        clock,
        ExecutorOptions::default(),
    );
    let id = InstanceId::parse("busy").unwrap();
    let (live_tx, _live_rx) = executor.live.claim(&id, false).unwrap();
    let (instance, _) = executor.new_instance(
        "order",
        id.clone(),
        "{}".into(),
        "d".into(),
        None,
        Default::default(),
    );
    // A rewind or a restart under the same id while the actor is still live.
    executor.spawn_actor(instance, None);
    // Before the fix the live actor's entry was replaced: two actors on one instance.
    assert!(executor.live.is_live(&id));
    assert!(
        executor.live.release(&id, &live_tx),
        "the live actor hands over when it ends"
    );
}

/// The row an instance's end keeps in memory (answering status reads and the starters' waits
/// without a store read) is the row the store has: the custom status an earlier turn set, the
/// input and execution of a continue-as-new, a failure's message, a sub-orchestration's parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_row_an_end_keeps_in_memory_is_the_stored_row() {
    let dir = tempfile::tempdir().unwrap();
    let executor = seed_executor(dir.path(), ExecutorOptions::default()).await;
    let order = r#"{"orderId":"A-1","customerId":"c"}"#;
    let cases = [
        ("orderProcessingOrchestrator", order.to_owned()),
        (
            "monitor",
            r#"{"round":0,"target":2,"intervalMs":1}"#.to_owned(),
        ),
        ("orderBatch", format!("[{order}]")),
        ("approvalWorkflow", r#"{"timeoutMs":1}"#.to_owned()),
    ];
    let mut ids = Vec::new();
    for (name, input) in cases {
        ids.push(executor.start(name, None, input).await.unwrap().instance_id);
    }
    // The batch's child, which tells its parent as it ends.
    let batch = row(&executor, &ids[2]).await.execution_id;
    let child = crate::ids::default_child_id(&ids[2], batch.as_str(), crate::ids::TaskId(0));
    ids.push(InstanceId::parse(&child).unwrap());
    // One that ends on an event, with the custom status its last turn set.
    let approved = executor.start("approvalWorkflow", None, "{}".into()).await;
    let approved = approved.unwrap().instance_id;
    until("waiting", async || {
        waiting(&row(&executor, &approved).await)
    })
    .await;
    let by = r#"{"by":"ann"}"#.to_owned();
    executor
        .raise_event(&approved, "Approval", by)
        .await
        .unwrap();
    ids.push(approved);
    for id in &ids {
        let stored = finished(&executor, id).await;
        let kept = executor.finished.get(id).expect("the end kept its row");
        assert_eq!(*kept, stored, "{}", stored.name);
    }
    let custom = |i: usize| {
        executor
            .finished
            .get(&ids[i])
            .unwrap()
            .custom_status
            .clone()
    };
    assert_eq!(custom(1).as_deref(), Some(r#"{"round":1}"#));
    assert_eq!(custom(5).as_deref(), Some(r#""approved""#));
}
