//! Defects found by review, each with the end-to-end test that failed before its fix: rewinds
//! through failed children, default child ids across executions, fuel on replay, decisions
//! over the host's limits, armed timers of finished instances, retries at shutdown and retry
//! backoff holding the activity slots.

use std::time::{Duration, Instant};

use e2e::{Server, count_events, test_guests_config};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);
const API: &str = "/runtime/webhooks/durabletask";

fn post(server: &Server, path: &str, body: Option<&str>) -> e2e::Response {
    server.request("POST", &Server::keyed(path), body).unwrap()
}

fn start_as(server: &Server, name: &str, id: &str, input: &Value) -> e2e::Response {
    post(
        server,
        &format!("/api/orchestrators/{name}/{id}"),
        Some(&input.to_string()),
    )
}

#[test]
fn rewinding_a_parent_rewinds_its_failed_child() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let server = Server::start(dir.path(), &test_guests_config("", &files, "/files")).unwrap();
    let call = |file: &str| json!({"name": "readRequired", "input": format!("/files/{file}")});

    // Rewinding the parent: the failed child is rewound with it and both complete.
    let id = server
        .start_orchestration("parentOfCall", &call("a.txt").to_string())
        .unwrap();
    let failed = server.wait_finished(&id, T).unwrap();
    assert_eq!(failed["runtimeStatus"], "Failed", "{failed}");
    std::fs::write(files.join("a.txt"), "fixed a").unwrap();
    let r = post(&server, &format!("{API}/instances/{id}/rewind"), None);
    assert_eq!(r.status, 202, "{}", r.body);
    // Before the fix the parent stayed Running forever with nothing in flight.
    let done = server.wait_finished(&id, T).unwrap();
    assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    assert_eq!(done["output"], "fixed a");

    // Rewinding the child first, then the parent: the child's new outcome reaches the parent.
    let id = server
        .start_orchestration("parentOfCall", &call("b.txt").to_string())
        .unwrap();
    server.wait_finished(&id, T).unwrap();
    let history = server
        .status(&id, "?showHistory=true")
        .unwrap()
        .json()
        .unwrap();
    let child = history["historyEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["InstanceId"].as_str().map(str::to_owned))
        .expect("the child's id is in the parent's history");
    std::fs::write(files.join("b.txt"), "fixed b").unwrap();
    assert_eq!(
        post(&server, &format!("{API}/instances/{child}/rewind"), None).status,
        202
    );
    assert_eq!(
        server.wait_finished(&child, T).unwrap()["runtimeStatus"],
        "Completed"
    );
    assert_eq!(
        post(&server, &format!("{API}/instances/{id}/rewind"), None).status,
        202
    );
    let done = server.wait_finished(&id, T).unwrap();
    assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    assert_eq!(done["output"], "fixed b");
}

#[test]
fn default_child_ids_do_not_collide_across_executions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &test_guests_config("", dir.path(), "/data")).unwrap();
    // A parent that continues as new three times starts a child at task 0 in every execution.
    let r = start_as(&server, "childThenContinue", "cont-1", &json!(3));
    assert_eq!(r.status, 202, "{}", r.body);
    let s = server.wait_finished("cont-1", T).unwrap();
    // Before the fix: "an instance with id 'cont-1:0' already exists".
    assert_eq!(s["runtimeStatus"], "Completed", "{s}");
    // A finished parent started again under its id.
    let orders = json!([{"orderId": "B-1", "customerId": "c"}]);
    for round in 0..2 {
        let r = start_as(&server, "orderBatch", "batch-1", &orders);
        assert_eq!(r.status, 202, "round {round}: {}", r.body);
        let s = server.wait_finished("batch-1", T).unwrap();
        assert_eq!(s["runtimeStatus"], "Completed", "round {round}: {s}");
    }
    // A parent whose id is as long as ids may be still gets valid child ids.
    let long = "p".repeat(256);
    let r = start_as(&server, "orderBatch", &long, &orders);
    assert_eq!(r.status, 202, "{}", r.body);
    let s = server.wait_finished(&long, T).unwrap();
    assert_eq!(s["runtimeStatus"], "Completed", "{s}");
}

#[test]
fn every_replayed_turn_gets_its_own_fuel_budget() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("durable.toml");
    std::fs::write(&config, test_guests_config("", dir.path(), "/data")).unwrap();
    // A small budget, and eviction after each turn so that every tick replays all before it.
    let args = ["--fuel-per-turn", "20000000", "--evict-idle-ms", "50"];
    let server = Server::start_with_args(&config, &dir.path().join("data"), &args).unwrap();
    let input = json!({"turns": 12, "burn": 200_000});
    let id = server
        .start_orchestration("burnPerTurn", &input.to_string())
        .unwrap();
    for tick in 0..12 {
        std::thread::sleep(Duration::from_millis(250));
        let status = server.raise(&id, "tick", "1").unwrap();
        assert_eq!(
            status,
            202,
            "tick {tick}: {}",
            server.status(&id, "").unwrap().body
        );
    }
    let s = server.wait_finished(&id, T).unwrap();
    // Before the fix the replay of all earlier turns ran on one budget and failed.
    assert_eq!(s["runtimeStatus"], "Completed", "{s}");
    assert_eq!(s["output"], 12);
    // And a turn that really uses too much still fails, naming the budget.
    let input = json!({"turns": 1, "burn": 50_000_000});
    let id = server
        .start_orchestration("burnPerTurn", &input.to_string())
        .unwrap();
    assert_eq!(server.raise(&id, "tick", "1").unwrap(), 202);
    let s = server.wait_finished(&id, T).unwrap();
    assert!(
        s["output"]
            .as_str()
            .unwrap()
            .contains("fuel budget of 20000000"),
        "{s}"
    );
}

#[test]
fn decisions_over_the_hosts_limits_fail_the_instance_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &test_guests_config("", dir.path(), "/data")).unwrap();
    for (what, len, expected) in [
        (
            "event",
            1 << 20,
            "event name is 1048576 bytes long, over the limit of 256 bytes",
        ),
        ("activity", 300, "activity name is 300 bytes long"),
        ("child", 300, "sub-orchestration name is 300 bytes long"),
        (
            "customStatus",
            9 << 20,
            "custom status is 9437186 bytes, over the limit of 8 MiB",
        ),
    ] {
        let input = json!({"what": what, "len": len});
        let id = server
            .start_orchestration("hugeName", &input.to_string())
            .unwrap();
        // Before the fix the 1 MiB event name left the instance Pending forever, in silence.
        let s = server.wait_finished(&id, T).unwrap();
        assert_eq!(s["runtimeStatus"], "Failed", "{what}: {s}");
        assert!(
            s["output"].as_str().unwrap().contains(expected),
            "{what}: {s}"
        );
    }
    // An orchestration whose first turn only waits shows Running, not Pending.
    let id = server
        .start_orchestration("hugeName", &json!({"what": "event", "len": 5}).to_string())
        .unwrap();
    server
        .wait_until(&id, T, |s| s["runtimeStatus"] == "Running")
        .unwrap();
}

#[test]
fn finished_terminated_and_purged_instances_leave_no_timer_armed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &test_guests_config("", dir.path(), "/data")).unwrap();
    let waiting = |server: &Server| {
        let id = server
            .start_orchestration("approvalWorkflow", r#"{"timeoutMs": 3600000}"#)
            .unwrap();
        server
            .wait_until(&id, T, |s| s["customStatus"] == "waiting for approval")
            .unwrap();
        id
    };
    let approved = waiting(&server);
    let terminated = waiting(&server);
    let purged = waiting(&server);
    assert_eq!(server.metric("durable_timers_pending").unwrap(), 3.0);
    assert_eq!(server.raise(&approved, "Approval", "true").unwrap(), 202);
    server.wait_finished(&approved, T).unwrap();
    let r = post(
        &server,
        &format!("{API}/instances/{terminated}/terminate?reason=x"),
        None,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    server.wait_finished(&terminated, T).unwrap();
    let r = post(
        &server,
        &format!("{API}/instances/{purged}/terminate?reason=x"),
        None,
    );
    assert_eq!(r.status, 202);
    server.wait_finished(&purged, T).unwrap();
    let r = server
        .request(
            "DELETE",
            &Server::keyed(&format!("{API}/instances/{purged}")),
            None,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // Before the fix all three deadline timers stayed armed.
    assert_eq!(server.metric("durable_timers_pending").unwrap(), 0.0);
}

/// Waits until `failTimes` has counted its first call in `count`.
fn first_attempt_ran(count: &std::path::Path) {
    let began = Instant::now();
    while std::fs::read_to_string(count).ok().as_deref() != Some("1") {
        assert!(began.elapsed() < T, "the first attempt never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_retry_pending_at_shutdown_leaves_the_task_open() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let grant = "retry = { max_attempts = 5, first_delay_ms = 3000 }";
    let server = Server::start(dir.path(), &test_guests_config(grant, &out, "/out")).unwrap();
    let input = json!({"name": "failTimes", "input": {"path": "/out/count", "times": 2}});
    let id = server
        .start_orchestration("callActivity", &input.to_string())
        .unwrap();
    first_attempt_ran(&out.join("count"));
    // SIGTERM during the backoff: the shutdown does not wait it out.
    let (config, data) = (server.config.clone(), server.data_dir.clone());
    let began = Instant::now();
    assert!(server.terminate(T).unwrap(), "clean exit");
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    let server = Server::start_with(&config, &data).unwrap();
    let s = server.wait_finished(&id, T).unwrap();
    // Before the fix: Failed, "failure 1 of 1 (after 1 attempts)" recorded as final.
    assert_eq!(s["runtimeStatus"], "Completed", "{s}");
    assert_eq!(s["output"], 2);
    assert_eq!(count_events(&server, &id, "TaskFailed").unwrap(), 0);
}

#[test]
fn a_retry_backoff_does_not_hold_the_components_slot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let grant = "max_concurrency = 1\nretry = { max_attempts = 2, first_delay_ms = 6000 }";
    let server = Server::start(dir.path(), &test_guests_config(grant, &out, "/out")).unwrap();
    let failing = json!({"name": "failTimes", "input": {"path": "/out/count", "times": 2}});
    let failing = server
        .start_orchestration("callActivity", &failing.to_string())
        .unwrap();
    first_attempt_ran(&out.join("count"));
    let began = Instant::now();
    let quick = json!({"name": "sleep", "input": 0});
    let quick = server
        .start_orchestration("callActivity", &quick.to_string())
        .unwrap();
    let s = server.wait_finished(&quick, T).unwrap();
    assert_eq!(s["runtimeStatus"], "Completed", "{s}");
    // Before the fix it waited for the other call's 6 s backoff.
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(server.wait_finished(&failing, T).unwrap()["output"], 2);
}
