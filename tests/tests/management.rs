//! Durable Functions' management API on the real host: list with paging and filters, terminate,
//! suspend/resume (also across kill -9), purge one and by filter, restart, rewind, and the
//! status query options, each with its error codes.

use std::time::Duration;

use e2e::{Server, count_events, seed_config, test_guests_config};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);
const API: &str = "/runtime/webhooks/durabletask";

fn waiting(s: &Value) -> bool {
    s["customStatus"] == "waiting for approval"
}

fn post(server: &Server, path: &str) -> e2e::Response {
    server.request("POST", &Server::keyed(path), None).unwrap()
}

#[test]
fn list_pages_with_continuation_tokens_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let mut echoes = Vec::new();
    for i in 0..5 {
        let id = format!("echo-{i}");
        let r = server
            .request(
                "POST",
                &Server::keyed(&format!("/api/orchestrators/echo/{id}")),
                Some("1"),
            )
            .unwrap();
        assert_eq!(r.status, 202);
        server.wait_finished(&id, T).unwrap();
        echoes.push(id);
    }
    let waiting_id = server
        .start_orchestration("approvalWorkflow", "{}")
        .unwrap();
    server.wait_until(&waiting_id, T, waiting).unwrap();

    // Page through everything, two at a time.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let headers: Vec<(&str, &str)> = token
            .iter()
            .map(|t| ("x-ms-continuation-token", t.as_str()))
            .collect();
        let r = e2e::request(
            &server.addr,
            "GET",
            &Server::keyed(&format!("{API}/instances?top=2")),
            None,
            &headers,
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.json().unwrap();
        assert!(page.as_array().unwrap().len() <= 2);
        seen.extend(
            page.as_array()
                .unwrap()
                .iter()
                .map(|s| s["instanceId"].as_str().unwrap().to_owned()),
        );
        match r.header("x-ms-continuation-token") {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    for id in echoes.iter().chain([&waiting_id]) {
        assert!(seen.contains(id), "{id} missing from {seen:?}");
    }

    let get = |query: &str| {
        server
            .request(
                "GET",
                &Server::keyed(&format!("{API}/instances?{query}")),
                None,
            )
            .unwrap()
    };
    let running = get("runtimeStatus=Running,Pending").json().unwrap();
    assert_eq!(running.as_array().unwrap().len(), 1);
    assert_eq!(running[0]["instanceId"], waiting_id.as_str());
    let prefixed = get("instanceIdPrefix=echo-&showInput=false")
        .json()
        .unwrap();
    assert_eq!(prefixed.as_array().unwrap().len(), 5);
    assert_eq!(prefixed[0]["input"], Value::Null);
    let future = get("createdTimeFrom=2999-01-01T00:00:00Z").json().unwrap();
    assert_eq!(future, json!([]));
    for bad in [
        "top=0",
        "top=x",
        "runtimeStatus=Sleeping",
        "createdTimeFrom=yesterday",
        "showInput=perhaps",
    ] {
        let r = get(bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let r = e2e::request(
        &server.addr,
        "GET",
        &Server::keyed(&format!("{API}/instances")),
        None,
        &[("x-ms-continuation-token", "zz")],
    )
    .unwrap();
    assert_eq!(r.status, 400);
}

#[test]
fn terminate_suspend_resume_and_their_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let a = server
        .start_orchestration("approvalWorkflow", "{}")
        .unwrap();
    server.wait_until(&a, T, waiting).unwrap();
    assert_eq!(
        post(
            &server,
            &format!("{API}/instances/{a}/terminate?reason=no%20longer%20needed")
        )
        .status,
        202
    );
    let s = server.wait_finished(&a, T).unwrap();
    assert_eq!(s["runtimeStatus"], "Terminated");
    assert_eq!(s["output"], "no longer needed");
    assert_eq!(
        e2e::count_events(&server, &a, "ExecutionTerminated").unwrap(),
        1
    );
    assert_eq!(
        post(&server, &format!("{API}/instances/{a}/terminate")).status,
        410
    );
    assert_eq!(
        post(&server, &format!("{API}/instances/{a}/suspend")).status,
        410
    );
    assert_eq!(
        post(&server, &format!("{API}/instances/nobody/terminate")).status,
        404
    );
    assert_eq!(
        post(&server, &format!("{API}/instances/{a}/frobnicate")).status,
        404
    );

    // Suspended: events are held, not lost; resuming hands them over.
    let b = server
        .start_orchestration("approvalWorkflow", "{}")
        .unwrap();
    server.wait_until(&b, T, waiting).unwrap();
    assert_eq!(
        post(
            &server,
            &format!("{API}/instances/{b}/suspend?reason=audit")
        )
        .status,
        202
    );
    server
        .wait_until(&b, T, |s| s["runtimeStatus"] == "Suspended")
        .unwrap();
    assert_eq!(server.raise(&b, "Approval", r#""held""#).unwrap(), 202);
    std::thread::sleep(Duration::from_millis(200));
    let s = server.status(&b, "").unwrap();
    assert_eq!(s.status, 202, "a suspended instance is not finished");
    assert_eq!(s.json().unwrap()["runtimeStatus"], "Suspended");
    assert_eq!(s.header("retry-after"), Some("5"));
    // A turn recorded while the event is held (suspended again) must not delete the held
    // event's message from the durable inbox: it lives only in memory until the resume.
    assert_eq!(
        post(
            &server,
            &format!("{API}/instances/{b}/suspend?reason=again")
        )
        .status,
        202
    );
    let suspended_twice = || count_events(&server, &b, "ExecutionSuspended").unwrap() == 2;
    let deadline = std::time::Instant::now() + T;
    while !suspended_twice() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(suspended_twice(), "the second suspension is recorded");

    // Suspension survives kill -9, and so does the held event.
    let (config, data) = (server.config.clone(), server.data_dir.clone());
    server.kill9();
    let server = Server::start_with(&config, &data).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        server.status(&b, "").unwrap().json().unwrap()["runtimeStatus"],
        "Suspended"
    );
    assert_eq!(
        post(&server, &format!("{API}/instances/{b}/resume?reason=done")).status,
        202
    );
    let s = server.wait_finished(&b, T).unwrap();
    assert_eq!(s["runtimeStatus"], "Completed", "{s}");
    assert_eq!(s["output"], "held");
    assert_eq!(
        e2e::count_events(&server, &b, "ExecutionSuspended").unwrap(),
        2
    );
    assert_eq!(
        e2e::count_events(&server, &b, "ExecutionResumed").unwrap(),
        1
    );
}

#[test]
fn purge_restart_rewind_and_status_options() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let running = server
        .start_orchestration("approvalWorkflow", "{}")
        .unwrap();
    server.wait_until(&running, T, waiting).unwrap();
    let del = |id: &str| {
        server
            .request(
                "DELETE",
                &Server::keyed(&format!("{API}/instances/{id}")),
                None,
            )
            .unwrap()
    };
    assert_eq!(
        del(&running).status,
        412,
        "an unfinished instance cannot be purged"
    );
    assert_eq!(del("nobody").status, 404);

    let done = server
        .start_order(&json!({"orderId": "P-1", "customerId": "c"}))
        .unwrap();
    server.wait_finished(&done, T).unwrap();
    // Restart: a new instance with the same input (new id by default, or the same on request).
    let r = post(&server, &format!("{API}/instances/{done}/restart"));
    assert_eq!(r.status, 202, "{}", r.body);
    let again = r.json().unwrap()["id"].as_str().unwrap().to_owned();
    assert_ne!(again, done);
    assert_eq!(
        server.wait_finished(&again, T).unwrap()["output"]["reservationId"],
        "P-1-inv"
    );
    let r = post(
        &server,
        &format!("{API}/instances/{done}/restart?restartWithNewInstanceId=false"),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json().unwrap()["id"], done.as_str());
    server.wait_finished(&done, T).unwrap();
    assert_eq!(
        post(
            &server,
            &format!("{API}/instances/{running}/restart?restartWithNewInstanceId=false")
        )
        .status,
        409
    );
    assert_eq!(
        post(&server, &format!("{API}/instances/nobody/restart")).status,
        400
    );

    // Rewind: only failed instances qualify. This one fails for good (bad input): rewinding it
    // re-runs the failed activity, which fails again.
    assert_eq!(
        post(&server, &format!("{API}/instances/{done}/rewind")).status,
        412
    );
    assert_eq!(
        post(&server, &format!("{API}/instances/nobody/rewind")).status,
        404
    );
    let failed = server.start_order(&json!({"orderId": "P-2"})).unwrap();
    server.wait_finished(&failed, T).unwrap();
    let r = post(
        &server,
        &format!("{API}/instances/{failed}/rewind?reason=retry"),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let again = server.wait_finished(&failed, T).unwrap();
    assert_eq!(again["runtimeStatus"], "Failed", "{again}");
    assert_eq!(count_events(&server, &failed, "TaskFailed").unwrap(), 2);
    assert_eq!(
        count_events(&server, &failed, "ExecutionRewound").unwrap(),
        1
    );

    // Status options.
    let s = server
        .status(&failed, "?returnInternalServerErrorOnFailure=true")
        .unwrap();
    assert_eq!(s.status, 500);
    assert_eq!(s.json().unwrap()["runtimeStatus"], "Failed");
    let s = server
        .status(&done, "?showInput=false")
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(s["input"], Value::Null);

    // Purge one, then by filter.
    let r = del(&done);
    assert_eq!(r.status, 200);
    assert_eq!(r.json().unwrap(), json!({"instancesDeleted": 1}));
    assert_eq!(server.status(&done, "").unwrap().status, 404);
    let purge = |query: &str| {
        server
            .request(
                "DELETE",
                &Server::keyed(&format!("{API}/instances?{query}")),
                None,
            )
            .unwrap()
    };
    assert_eq!(purge("").status, 400, "createdTimeFrom is required");
    assert_eq!(
        purge("createdTimeFrom=2000-01-01&runtimeStatus=Running").status,
        400
    );
    let r = purge("createdTimeFrom=2000-01-01T00:00:00Z");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json().unwrap()["instancesDeleted"],
        2,
        "the restarted copy and the failed order"
    );
    assert_eq!(purge("createdTimeFrom=2000-01-01").status, 404);
    assert_eq!(
        server.status(&running, "").unwrap().status,
        202,
        "unfinished instances are never purged"
    );
}

#[test]
fn the_loopback_rpc_listener_serves_the_management_api_without_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let rpc = |method: &str, path: &str, body: Option<&str>| {
        e2e::request(&server.rpc_addr, method, path, body, &[]).unwrap()
    };
    let r = rpc(
        "POST",
        "/durabletask/orchestrators/approvalWorkflow/rpc-1",
        Some("{}"),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    server.wait_until("rpc-1", T, waiting).unwrap();
    assert_eq!(rpc("GET", "/durabletask/instances/rpc-1", None).status, 202);
    assert_eq!(
        rpc("GET", "/durabletask/instances?runtimeStatus=Running", None)
            .json()
            .unwrap()[0]["instanceId"],
        "rpc-1"
    );
    assert_eq!(
        rpc(
            "POST",
            "/durabletask/instances/rpc-1/raiseEvent/Approval",
            Some("7")
        )
        .status,
        202
    );
    assert_eq!(server.wait_finished("rpc-1", T).unwrap()["output"], 7);
    // The main listener still wants a key, and the RPC listener serves nothing else.
    let r = server
        .request("GET", &format!("{API}/instances/rpc-1"), None)
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(rpc("GET", "/metrics", None).status, 404);
    assert_eq!(
        rpc("GET", &format!("{API}/instances/rpc-1"), None).status,
        404
    );

    // It refuses to listen anywhere but loopback.
    let out = std::process::Command::new(e2e::durable_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rpc-listen",
            "0.0.0.0:0",
            "--config",
        ])
        .arg(&server.config)
        .arg("--data-dir")
        .arg(dir.path().join("other"))
        .env("DURABLE_MASTER_KEY", e2e::KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only binds loopback"), "{err}");
}

#[test]
fn rewind_reruns_the_failed_activity_and_completes_after_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let server = Server::start(dir.path(), &test_guests_config("", &files, "/files")).unwrap();
    let id = server
        .start_orchestration(
            "callActivity",
            &json!({"name": "readRequired", "input": "/files/config.txt"}).to_string(),
        )
        .unwrap();
    let failed = server.wait_finished(&id, T).unwrap();
    assert_eq!(failed["runtimeStatus"], "Failed", "{failed}");
    assert!(
        failed["output"]
            .as_str()
            .unwrap()
            .contains("cannot read /files/config.txt"),
        "{failed}"
    );

    // The operator fixes the cause and rewinds: the failed activity runs again, the instance
    // completes, and nothing before the failure ran twice.
    std::fs::write(files.join("config.txt"), "fixed").unwrap();
    let r = post(
        &server,
        &format!("{API}/instances/{id}/rewind?reason=file%20restored"),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let done = server.wait_finished(&id, T).unwrap();
    assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    assert_eq!(done["output"], "fixed");
    assert_eq!(count_events(&server, &id, "TaskScheduled").unwrap(), 1);
    assert_eq!(count_events(&server, &id, "TaskFailed").unwrap(), 1);
    assert_eq!(count_events(&server, &id, "TaskCompleted").unwrap(), 1);
    assert_eq!(count_events(&server, &id, "ExecutionCompleted").unwrap(), 1);
    let history = server
        .status(&id, "?showHistory=true")
        .unwrap()
        .json()
        .unwrap();
    let rewound = history["historyEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["EventType"] == "ExecutionRewound")
        .unwrap();
    assert_eq!(rewound["Reason"], "file restored");
    // A second rewind of a completed instance is refused.
    assert_eq!(
        post(&server, &format!("{API}/instances/{id}/rewind")).status,
        412
    );

    // The rewound state survives a restart: the history replays to the same result.
    let (config, data) = (server.config.clone(), server.data_dir.clone());
    server.kill9();
    let server = Server::start_with(&config, &data).unwrap();
    let after = server.wait_finished(&id, T).unwrap();
    assert_eq!(after["runtimeStatus"], "Completed");
    assert_eq!(after["output"], "fixed");
}
