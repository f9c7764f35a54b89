//! Back-pressure and clean shutdown.

use std::time::Duration;

use e2e::{Server, confirmation, count_events, seed_config, test_guests_config};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

#[test]
fn overload_answers_503_with_retry_after_and_every_accepted_instance_completes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("durable.toml");
    std::fs::write(&config, seed_config("")).unwrap();
    // 16 instances in memory, 8 may queue, nobody is evicted: waiting approvals pile up.
    let args = [
        "--max-hot-instances",
        "16",
        "--max-queued",
        "8",
        "--evict-idle-ms",
        "0",
    ];
    let server = Server::start_with_args(&config, &dir.path().join("data"), &args).unwrap();
    let mut accepted = Vec::new();
    let mut refused = None;
    for _ in 0..200 {
        let r = server
            .request(
                "POST",
                &Server::keyed("/api/orchestrators/approvalWorkflow"),
                Some("{}"),
            )
            .unwrap();
        match r.status {
            202 => accepted.push(r.json().unwrap()["id"].as_str().unwrap().to_owned()),
            503 => {
                refused = Some(r);
                break;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let refused = refused.expect("the host never pushed back");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(refused.body.contains("at capacity"), "{}", refused.body);
    assert!(accepted.len() >= 16, "{} accepted", accepted.len());
    // Every accepted instance still completes once capacity frees up.
    for id in &accepted {
        assert_eq!(server.raise(id, "Approval", "true").unwrap(), 202);
    }
    for id in &accepted {
        let s = server.wait_finished(id, T).unwrap();
        assert_eq!(s["runtimeStatus"], "Completed", "{s}");
    }
    let r = server
        .request("POST", &Server::keyed("/api/orchestrators/echo"), Some("1"))
        .unwrap();
    assert_eq!(r.status, 202, "capacity is back: {}", r.body);
}

#[test]
fn sigterm_exits_cleanly_and_the_next_start_finishes_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let ids: Vec<(String, String)> = (0..60)
        .map(|i| {
            let order_id = format!("G-{i}");
            let id = server
                .start_order(&json!({"orderId": order_id, "customerId": "c"}))
                .unwrap();
            (id, order_id)
        })
        .collect();
    let (config, data) = (server.config.clone(), server.data_dir.clone());
    assert!(
        server.terminate(Duration::from_secs(15)).unwrap(),
        "SIGTERM must exit with status 0"
    );
    let server = Server::start_with(&config, &data).unwrap();
    for (id, order_id) in &ids {
        let s = server.wait_finished(id, T).unwrap();
        assert_eq!(s["output"], confirmation(order_id));
        assert_eq!(count_events(&server, id, "ExecutionCompleted").unwrap(), 1);
    }
}

#[test]
fn sigterm_lets_running_activities_finish_and_keeps_their_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let server = Server::start(dir.path(), &test_guests_config("", &out, "/out")).unwrap();
    let ids: Vec<String> = (0..4)
        .map(|i| {
            let input = json!({"name": "slowAppend", "input": {"ms": 1500, "path": "/out/runs.txt", "line": format!("run-{i}")}});
            server
                .start_orchestration("callActivity", &input.to_string())
                .unwrap()
        })
        .collect();
    // The calls are running (each sleeps 1.5 s) when SIGTERM arrives.
    std::thread::sleep(Duration::from_millis(400));
    let (config, data) = (server.config.clone(), server.data_dir.clone());
    let began = std::time::Instant::now();
    assert!(
        server.terminate(Duration::from_secs(20)).unwrap(),
        "SIGTERM must exit with status 0"
    );
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_millis(700),
        "the host must wait for the running calls ({waited:?})"
    );
    let runs = || {
        std::fs::read_to_string(out.join("runs.txt"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(runs(), 4, "every running call finished before exit");

    // After the restart every instance completes, and no call ran a second time.
    let server = Server::start_with(&config, &data).unwrap();
    for (i, id) in ids.iter().enumerate() {
        let s = server.wait_finished(id, T).unwrap();
        assert_eq!(s["runtimeStatus"], "Completed", "{s}");
        assert_eq!(s["output"], format!("run-{i}"));
        assert_eq!(count_events(&server, id, "TaskCompleted").unwrap(), 1);
    }
    assert_eq!(runs(), 4, "a call whose result was kept must not run again");
}
