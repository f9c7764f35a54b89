//! The programming model end to end: chaining, fan-out/fan-in, events, timers and their races,
//! retries, sub-orchestrations and continue-as-new, each on the real host. Time moves with the
//! host's test clock (`--test-clock`), so nothing sleeps for real.

use std::time::Duration;

use e2e::{Server, confirmation, count_events, seed_config};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);
const HOUR: u64 = 3_600_000;

fn server(dir: &std::path::Path) -> Server {
    let extra = format!(
        "\n[[orchestrators]]\ncomponent = \"{}\"\n",
        e2e::guest("test-orchestrator").display()
    );
    Server::start(dir, &seed_config(&extra)).unwrap()
}

fn waiting_for_approval(s: &Value) -> bool {
    s["customStatus"] == "waiting for approval"
}

#[test]
fn hello_sequence_and_fan_out_fan_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let hello = server.start_orchestration("helloSequence", "null").unwrap();
    let fan = server.start_orchestration("fanOutFanIn", "20").unwrap();
    let s = server.wait_finished(&hello, T).unwrap();
    assert_eq!(
        s["output"],
        json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
    );
    let s = server.wait_finished(&fan, T).unwrap();
    assert_eq!(s["output"], json!(2870), "{s}");
    assert_eq!(count_events(&server, &fan, "TaskScheduled").unwrap(), 20);
    assert_eq!(count_events(&server, &fan, "TaskCompleted").unwrap(), 20);
}

#[test]
fn approval_by_event_including_one_raised_before_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let id = server
        .start_orchestration("approvalWorkflow", r#"{"timeoutMs": 3600000}"#)
        .unwrap();
    server.wait_until(&id, T, waiting_for_approval).unwrap();
    assert_eq!(
        server.raise(&id, "Approval", r#"{"by": "ann"}"#).unwrap(),
        202
    );
    let s = server.wait_finished(&id, T).unwrap();
    assert_eq!(s["runtimeStatus"], "Completed");
    assert_eq!(s["output"], json!({"by": "ann"}));
    assert_eq!(s["customStatus"], "approved");
    // The timer that lost the race fires later: nothing changes.
    server.advance_clock(2 * HOUR).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let again = server
        .status(&id, "?showHistory=true")
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(again["runtimeStatus"], "Completed");
    let events = again["historyEvents"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["EventType"], "ExecutionCompleted");
    assert_eq!(
        server.raise(&id, "Approval", "1").unwrap(),
        410,
        "a finished instance takes no events"
    );

    // Events raised before the orchestrator waits are buffered and delivered in order: this
    // orchestration calls an activity first, then waits for two events.
    let early = server
        .start_orchestration("eventsAfterWork", "null")
        .unwrap();
    assert_eq!(server.raise(&early, "E", r#""first""#).unwrap(), 202);
    assert_eq!(server.raise(&early, "E", r#""second""#).unwrap(), 202);
    let s = server.wait_finished(&early, T).unwrap();
    assert_eq!(
        s["output"],
        json!(["Hello work!", "first", "second"]),
        "{s}"
    );
}

#[test]
fn approval_times_out_on_a_durable_timer_and_late_events_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let id = server
        .start_orchestration("approvalWorkflow", r#"{"timeoutMs": 3600000}"#)
        .unwrap();
    server.wait_until(&id, T, waiting_for_approval).unwrap();
    server.advance_clock(HOUR + 1_000).unwrap();
    let s = server.wait_finished(&id, T).unwrap();
    assert_eq!(s["runtimeStatus"], "Failed");
    assert!(
        s["output"]
            .as_str()
            .unwrap()
            .contains("approval timed out after 3600000 ms"),
        "{s}"
    );
    assert_eq!(s["customStatus"], "timed out");
    assert_eq!(server.raise(&id, "Approval", "true").unwrap(), 410);
    assert_eq!(count_events(&server, &id, "TimerFired").unwrap(), 1);
    assert_eq!(count_events(&server, &id, "EventRaised").unwrap(), 0);
}

#[test]
fn events_for_unknown_instances_and_bad_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    assert_eq!(server.raise("nobody", "Approval", "1").unwrap(), 404);
    let id = server
        .start_orchestration("approvalWorkflow", "{}")
        .unwrap();
    assert_eq!(server.raise(&id, "Approval", "{not json").unwrap(), 400);
    let s = server.status(&id, "").unwrap().json().unwrap();
    assert_ne!(
        s["runtimeStatus"], "Completed",
        "a refused event must not be delivered"
    );
}

#[test]
fn retries_are_durable_timers_and_bad_policies_fail_at_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let input = r#"{"activity": "alwaysFails", "maxAttempts": 3, "firstRetryIntervalMs": 60000}"#;
    let id = server.start_orchestration("retryingCall", input).unwrap();
    // Two retries wait on timers (60 s, then 120 s); move time past each.
    for _ in 0..2 {
        server
            .wait_until(&id, T, |_| {
                count_events(&server, &id, "TimerCreated").unwrap_or(0) > 0
            })
            .unwrap();
        server.advance_clock(200_000).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = server.wait_finished(&id, T).unwrap();
    assert_eq!(s["runtimeStatus"], "Failed");
    let out = s["output"].as_str().unwrap();
    assert!(
        out.contains("this activity always fails (after 3 attempt(s); attempts exhausted)"),
        "{out}"
    );
    assert_eq!(count_events(&server, &id, "TaskScheduled").unwrap(), 3);
    assert_eq!(count_events(&server, &id, "TimerCreated").unwrap(), 2);

    let bad =
        r#"{"activity": "square", "maxAttempts": 0, "firstRetryIntervalMs": 1000, "input": 2}"#;
    let id = server.start_orchestration("retryingCall", bad).unwrap();
    let s = server.wait_finished(&id, T).unwrap();
    assert!(
        s["output"]
            .as_str()
            .unwrap()
            .contains("retry policy: max_attempts must be at least 1"),
        "{s}"
    );
    assert_eq!(count_events(&server, &id, "TaskScheduled").unwrap(), 0);
}

#[test]
fn sub_orchestrations_run_as_children_visible_from_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let orders = json!([
        {"orderId": "B-1", "customerId": "c"},
        {"orderId": "B-2", "customerId": "c"},
        {"orderId": "B-3"}
    ]);
    let id = server
        .start_orchestration("orderBatch", &orders.to_string())
        .unwrap();
    let s = server.wait_finished(&id, T).unwrap();
    // The third child fails validation, so the batch fails with the child's message.
    assert_eq!(s["runtimeStatus"], "Failed", "{s}");
    let out = s["output"].as_str().unwrap();
    assert!(
        out.contains("Sub-orchestration 'orderProcessingOrchestrator' failed"),
        "{out}"
    );
    assert!(
        out.contains("orderId and customerId are required."),
        "{out}"
    );
    let history = server
        .status(&id, "?showHistory=true")
        .unwrap()
        .json()
        .unwrap();
    let children: Vec<String> = history["historyEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["EventType"] == "SubOrchestrationInstanceCreated")
        .map(|e| e["InstanceId"].as_str().unwrap().to_owned())
        .collect();
    // Default child ids: `<parent>:<task>:<8 digits of the parent's execution id>`.
    assert_eq!(children.len(), 3, "{children:?}");
    let execution = children[0].rsplit(':').next().unwrap().to_owned();
    assert_eq!(execution.len(), 8, "{children:?}");
    assert_eq!(
        children,
        (0..3)
            .map(|task| format!("{id}:{task}:{execution}"))
            .collect::<Vec<_>>()
    );
    let child = server.wait_finished(&children[0], T).unwrap();
    assert_eq!(child["output"], confirmation("B-1"));
    assert_eq!(child["parentInstanceId"], id.as_str());

    let ok = server
        .start_orchestration(
            "orderBatch",
            &json!([{"orderId": "C-1", "customerId": "c"}]).to_string(),
        )
        .unwrap();
    let s = server.wait_finished(&ok, T).unwrap();
    assert_eq!(s["output"], json!([confirmation("C-1")]));
}

#[test]
fn monitor_continues_as_new_with_bounded_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let id = server
        .start_orchestration(
            "monitor",
            r#"{"round": 0, "target": 3, "intervalMs": 60000}"#,
        )
        .unwrap();
    for round in 0..3 {
        server
            .wait_until(&id, T, |s| s["customStatus"]["round"] == round)
            .unwrap();
        server.advance_clock(61_000).unwrap();
    }
    let s = server.wait_finished(&id, T).unwrap();
    assert_eq!(s["runtimeStatus"], "Completed", "{s}");
    assert_eq!(s["output"], json!({"rounds": 4}));
    assert_eq!(
        s["input"],
        json!({"round": 3, "target": 3, "intervalMs": 60000})
    );
    let history = server
        .status(&id, "?showHistory=true")
        .unwrap()
        .json()
        .unwrap();
    let len = history["historyEvents"].as_array().unwrap().len();
    assert!(
        len <= 6,
        "only the last execution's history is kept, found {len} events"
    );
}

#[test]
fn waiting_on_an_unknown_task_is_a_guest_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let id = server
        .start_orchestration("waitsOnUnknownTask", "null")
        .unwrap();
    let s = server.wait_finished(&id, T).unwrap();
    assert_eq!(s["runtimeStatus"], "Failed");
    assert!(
        s["output"].as_str().unwrap().contains("never scheduled"),
        "{s}"
    );
}

#[test]
fn timer_event_and_fan_out_waits_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let timed = server
        .start_orchestration("approvalWorkflow", r#"{"timeoutMs": 3600000}"#)
        .unwrap();
    let evented = server
        .start_orchestration("approvalWorkflow", r#"{"timeoutMs": 3600000}"#)
        .unwrap();
    server.wait_until(&timed, T, waiting_for_approval).unwrap();
    server
        .wait_until(&evented, T, waiting_for_approval)
        .unwrap();
    let fan = server.start_orchestration("fanOutFanIn", "200").unwrap();
    let (config, data) = (server.config.clone(), server.data_dir.clone());
    server.kill9();

    let server = Server::start_with(&config, &data).unwrap();
    assert_eq!(
        server
            .raise(&evented, "Approval", r#"{"by": "bob"}"#)
            .unwrap(),
        202
    );
    server.advance_clock(2 * HOUR).unwrap();
    let s = server.wait_finished(&timed, T).unwrap();
    assert!(s["output"].as_str().unwrap().contains("timed out"), "{s}");
    let s = server.wait_finished(&evented, T).unwrap();
    assert_eq!(s["output"], json!({"by": "bob"}));
    let s = server.wait_finished(&fan, T).unwrap();
    assert_eq!(s["output"], json!(200 * 201 * 401 / 6), "{s}");
    for id in [&timed, &evented, &fan] {
        let completions = count_events(&server, id, "ExecutionCompleted").unwrap()
            + count_events(&server, id, "ExecutionFailed").unwrap();
        assert_eq!(completions, 1, "{id}");
    }
}

#[test]
fn idle_instances_are_evicted_and_wake_up_on_events_timers_and_continue_as_new() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[[orchestrators]]\ncomponent = \"{}\"\n",
        e2e::guest("test-orchestrator").display()
    );
    let config = dir.path().join("durable.toml");
    std::fs::write(&config, seed_config(&extra)).unwrap();
    let server = Server::start_with_args(
        &config,
        &dir.path().join("data"),
        &["--evict-idle-ms", "100"],
    )
    .unwrap();
    let evicted = |server: &Server| {
        let deadline = std::time::Instant::now() + T;
        while server.metric("durable_live_instances").unwrap() > 0.0 {
            assert!(
                std::time::Instant::now() < deadline,
                "instances were not evicted"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    let by_event = server
        .start_orchestration("approvalWorkflow", r#"{"timeoutMs": 3600000}"#)
        .unwrap();
    let by_timer = server
        .start_orchestration("approvalWorkflow", r#"{"timeoutMs": 3600000}"#)
        .unwrap();
    server
        .wait_until(&by_event, T, waiting_for_approval)
        .unwrap();
    server
        .wait_until(&by_timer, T, waiting_for_approval)
        .unwrap();
    evicted(&server);
    assert_eq!(
        server
            .raise(&by_event, "Approval", r#"{"by": "eve"}"#)
            .unwrap(),
        202
    );
    let s = server.wait_finished(&by_event, T).unwrap();
    assert_eq!(s["output"], json!({"by": "eve"}));
    evicted(&server);
    server.advance_clock(2 * HOUR).unwrap();
    let s = server.wait_finished(&by_timer, T).unwrap();
    assert!(s["output"].as_str().unwrap().contains("timed out"), "{s}");

    // A monitor is evicted at every timer wait and continues as new across wake-ups.
    let id = server
        .start_orchestration(
            "monitor",
            r#"{"round": 0, "target": 2, "intervalMs": 60000}"#,
        )
        .unwrap();
    for round in 0..2 {
        server
            .wait_until(&id, T, |s| s["customStatus"]["round"] == round)
            .unwrap();
        evicted(&server);
        server.advance_clock(61_000).unwrap();
    }
    let s = server.wait_finished(&id, T).unwrap();
    assert_eq!(s["output"], json!({"rounds": 3}), "{s}");
    // Activities in flight keep an instance in memory, whatever the idle limit.
    let seq = server.start_orchestration("sequence", "30").unwrap();
    let s = server.wait_finished(&seq, T).unwrap();
    assert_eq!(s["runtimeStatus"], "Completed", "{s}");
    for id in [&by_event, &by_timer, &id, &seq] {
        let ends = count_events(&server, id, "ExecutionCompleted").unwrap()
            + count_events(&server, id, "ExecutionFailed").unwrap();
        assert_eq!(ends, 1, "{id}");
    }
}
