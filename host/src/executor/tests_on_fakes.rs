//! The executor on its narrow traits alone: scripted orchestrators and fake activities
//! ([`super::fakes`]), the in-memory store, and paused tokio time, so backoffs, timers and idle
//! eviction take no wall time and every run is the same. No component, no file, no binary.

use std::sync::Arc;
use std::time::Duration;

use super::fakes::{FakeActivity, FakeRuntime, Step, TokioClock};
use super::*;
use crate::runtime::activity::RetryGrant;
use crate::store::MemoryStore;

const T: Duration = Duration::from_secs(24 * 3600);

fn executor(runtime: Arc<FakeRuntime>, idle_evict: Option<Duration>) -> Arc<Executor> {
    executor_on(MemoryStore::new(), runtime, idle_evict)
}

fn executor_on(
    store: Arc<MemoryStore>,
    runtime: Arc<FakeRuntime>,
    idle_evict: Option<Duration>,
) -> Arc<Executor> {
    let options = ExecutorOptions {
        idle_evict,
        ..ExecutorOptions::default()
    };
    Executor::new(store, runtime, TokioClock::new(), options)
}

async fn finished(executor: &Executor, id: &InstanceId) -> Instance {
    assert!(
        executor.wait_finished(id, T).await.unwrap(),
        "{id} finished"
    );
    let found = executor.store().instance(id).unwrap();
    found.expect("the instance exists")
}

fn kinds(executor: &Executor, id: &InstanceId) -> Vec<EventKind> {
    let history = executor.store().history(id).unwrap();
    history.into_iter().map(|e| e.kind).collect()
}

/// Starts orchestration `name` with `input`; its instance id.
async fn start(executor: &Arc<Executor>, name: &str, input: &str) -> InstanceId {
    let started = executor.start(name, None, input.to_owned()).await;
    started.unwrap().instance_id
}

fn retry(max_attempts: u32) -> Option<RetryGrant> {
    Some(RetryGrant {
        max_attempts,
        first_delay: Duration::from_secs(10),
        backoff: 2.0,
        max_delay: Duration::from_secs(60),
    })
}

#[tokio::test(start_paused = true)]
async fn three_steps_run_to_completion_each_on_the_previous_result() {
    let steps = [
        Step::Activity("validate"),
        Step::Activity("reserve"),
        Step::Activity("confirm"),
    ];
    let runtime = ["validate", "reserve", "confirm"]
        .into_iter()
        .fold(FakeRuntime::default(), |r, a| {
            r.activity(FakeActivity::new(a))
        })
        .orchestration("order", &steps);
    let executor = executor(Arc::new(runtime), None);
    let id = start(&executor, "order", "\"A-1\"").await;
    let done = finished(&executor, &id).await;
    assert_eq!(done.status, RuntimeStatus::Completed, "{:?}", done.output);
    let output = "\"confirm(reserve(validate(A-1)))\"";
    assert_eq!(done.output.as_deref(), Some(output));
    let events = kinds(&executor, &id);
    let scheduled = |e: &&EventKind| matches!(e, EventKind::TaskScheduled { .. });
    assert_eq!(events.iter().filter(scheduled).count(), 3);
    assert!(matches!(
        events.last(),
        Some(EventKind::ExecutionCompleted { .. })
    ));
    let unknown = executor.start("nope", None, "1".into()).await;
    assert!(matches!(unknown, Err(StartError::UnknownOrchestration(_))));
}

#[tokio::test(start_paused = true)]
async fn a_failing_activity_is_retried_after_its_backoff_on_the_clock() {
    let flaky = FakeActivity {
        failures: 2,
        retry: retry(3),
        ..FakeActivity::new("flaky")
    };
    let runtime = FakeRuntime::default()
        .activity(flaky)
        .orchestration("o", &[Step::Activity("flaky")]);
    let runtime = Arc::new(runtime);
    let executor = executor(Arc::clone(&runtime), None);
    let began = tokio::time::Instant::now();
    let id = start(&executor, "o", "1").await;
    let done = finished(&executor, &id).await;
    assert_eq!(done.status, RuntimeStatus::Completed, "{:?}", done.output);
    assert_eq!(runtime.calls("flaky"), 3);
    // 10 s before the second attempt, 20 s before the third.
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_activity_failing_every_attempt_fails_its_orchestration_with_its_message() {
    let broken = FakeActivity {
        failures: u32::MAX,
        retry: retry(3),
        ..FakeActivity::new("broken")
    };
    let runtime = FakeRuntime::default()
        .activity(broken)
        .orchestration("o", &[Step::Activity("broken"), Step::Activity("never")]);
    let runtime = Arc::new(runtime);
    let executor = executor(Arc::clone(&runtime), None);
    let id = start(&executor, "o", "1").await;
    let done = finished(&executor, &id).await;
    assert_eq!(done.status, RuntimeStatus::Failed);
    let output = done.output.unwrap_or_default();
    assert!(
        output.contains("broken failed on call 3 (after 3 attempts)"),
        "{output}"
    );
    assert_eq!(runtime.calls("broken"), 3);
}

#[tokio::test(start_paused = true)]
async fn a_durable_timer_fires_when_the_clock_reaches_it() {
    let steps = [Step::Timer(Duration::from_secs(3600)), Step::Activity("a")];
    let runtime = FakeRuntime::default()
        .activity(FakeActivity::new("a"))
        .orchestration("o", &steps);
    let executor = executor(Arc::new(runtime), None);
    let began = tokio::time::Instant::now();
    let id = start(&executor, "o", "\"x\"").await;
    let done = finished(&executor, &id).await;
    assert_eq!(done.output.as_deref(), Some("\"a(x)\""));
    let waited = began.elapsed();
    assert!(waited >= Duration::from_secs(3600), "{waited:?}");
    let fired = |e: &&EventKind| matches!(e, EventKind::TimerFired { .. });
    assert_eq!(kinds(&executor, &id).iter().filter(fired).count(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_idle_instance_leaves_memory_and_its_event_brings_it_back_by_replay() {
    let steps = [Step::Activity("a"), Step::Event("go"), Step::Activity("b")];
    let runtime = FakeRuntime::default()
        .activity(FakeActivity::new("a"))
        .activity(FakeActivity::new("b"))
        .orchestration("o", &steps);
    let runtime = Arc::new(runtime);
    let executor = executor(Arc::clone(&runtime), Some(Duration::from_secs(5)));
    let id = start(&executor, "o", "1").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        executor.live_instances(),
        1,
        "waiting for its event, in memory"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(executor.live_instances(), 0, "evicted after 5 s idle");
    executor
        .raise_event(&id, "go", "\"ok\"".into())
        .await
        .unwrap();
    let done = finished(&executor, &id).await;
    assert_eq!(done.output.as_deref(), Some("\"b(ok)\""));
    // The replay took `a`'s result from the history: it ran once.
    assert_eq!(runtime.calls("a"), 1);
}

#[tokio::test(start_paused = true)]
async fn at_shutdown_no_call_starts_and_a_running_call_keeps_its_result() {
    let slow = FakeActivity {
        delay: Duration::from_secs(5),
        ..FakeActivity::new("slow")
    };
    let runtime = FakeRuntime::default()
        .activity(slow)
        .activity(FakeActivity::new("next"))
        .orchestration("o", &[Step::Activity("slow"), Step::Activity("next")]);
    let runtime = Arc::new(runtime);
    let store = MemoryStore::new();
    let executor = executor_on(Arc::clone(&store), Arc::clone(&runtime), None);
    let id = start(&executor, "o", "1").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(executor.drain(Duration::from_secs(60)).await, 0);
    // The result was kept in the durable inbox (then consumed by the turn that records it).
    assert_eq!(store.enqueued(), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // `slow`'s result is recorded (or waits in the inbox); `next` never started.
    let completed = |e: &EventKind| {
        matches!(
            e,
            EventKind::TaskCompleted {
                task_id: TaskId(0),
                ..
            }
        )
    };
    let recorded = kinds(&executor, &id).iter().any(completed);
    let kept = executor
        .store()
        .inbox(&id)
        .unwrap()
        .iter()
        .any(|m| completed(&m.event));
    assert!(recorded || kept);
    assert_eq!(runtime.calls("next"), 0);
    let instance = executor.store().instance(&id).unwrap().unwrap();
    assert_eq!(instance.status, RuntimeStatus::Running);
}
