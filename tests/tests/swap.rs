//! Hot swap: deploy a new activity version under load (no failed or lost order, new orders use
//! it, the history records the digest), roll back, survive a restart; check an orchestrator
//! against in-flight histories and keep in-flight instances pinned; refuse bad modules.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{KEY, Server, guest, seed_config};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

fn cli(server: &Server, args: &[&str]) -> (bool, String, String) {
    server.cli(args)
}

fn routes(server: &Server) -> Value {
    let (ok, out, err) = cli(server, &["components", "--json"]);
    assert!(ok, "{err}");
    serde_json::from_str::<Value>(&out).unwrap()["routes"].clone()
}

fn digest_of_route(server: &Server, name: &str) -> String {
    routes(server)
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .map(|r| r["digest"].as_str().unwrap().to_owned())
        .unwrap()
}

fn order_output(server: &Server, order_id: &str) -> Value {
    let id = server
        .start_order(&json!({"orderId": order_id, "customerId": "c"}))
        .unwrap();
    server.wait_finished(&id, T).unwrap()["output"].clone()
}

#[test]
fn activities_swap_under_load_roll_back_and_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let v1 = digest_of_route(&server, "reserveInventory");

    // Orders keep arriving while v2 is deployed.
    let started = Arc::new(Mutex::new(Vec::<(String, String, Instant)>::new()));
    let addr = server.addr.clone();
    let log = Arc::clone(&started);
    let load = std::thread::spawn(move || {
        for i in 0..300 {
            let order_id = format!("S-{i}");
            let body = json!({"orderId": order_id, "customerId": "c"}).to_string();
            let r = e2e::request(
                &addr,
                "POST",
                &Server::keyed("/api/orchestrators/order-processing"),
                Some(&body),
                &[],
            )
            .unwrap();
            assert_eq!(r.status, 202, "{}", r.body);
            let id = r.json().unwrap()["id"].as_str().unwrap().to_owned();
            log.lock().unwrap().push((id, order_id, Instant::now()));
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    while started.lock().unwrap().len() < 100 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let v2_file = guest("activities-v2");
    let (ok, out, err) = cli(&server, &["deploy", "activity", v2_file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let deployed_at = Instant::now();
    assert!(
        out.contains("activated for:") && out.contains("reserveInventory"),
        "{out}"
    );
    load.join().unwrap();
    let v2 = digest_of_route(&server, "reserveInventory");
    assert_ne!(v1, v2);
    assert_eq!(
        digest_of_route(&server, "validateOrder"),
        v2,
        "every name the component exports moves"
    );

    let mut on_v2 = 0;
    let mut after_deploy = 0;
    for (id, order_id, at) in started.lock().unwrap().iter() {
        let s = server.wait_finished(id, T).unwrap();
        assert_eq!(
            s["runtimeStatus"], "Completed",
            "no order fails during a swap: {s}"
        );
        let reservation = s["output"]["reservationId"].as_str().unwrap();
        assert!(
            reservation == format!("{order_id}-inv") || reservation == format!("{order_id}-inv-v2"),
            "{reservation}"
        );
        if *at > deployed_at {
            after_deploy += 1;
            assert_eq!(
                reservation,
                format!("{order_id}-inv-v2"),
                "orders started after the deploy use v2"
            );
        }
        if reservation.ends_with("-v2") {
            on_v2 += 1;
            // The history records which component ran the activity.
            let h = server
                .status(id, "?showHistory=true")
                .unwrap()
                .json()
                .unwrap();
            let digests: Vec<&str> = h["historyEvents"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["EventType"] == "TaskCompleted")
                .filter_map(|e| e["Digest"].as_str())
                .collect();
            assert!(digests.contains(&v2.as_str()), "{h}");
        }
    }
    assert!(
        after_deploy > 0,
        "the deploy must happen while orders are still arriving"
    );
    assert!(
        on_v2 >= after_deploy,
        "{on_v2} orders ran on v2, {after_deploy} started after the deploy"
    );

    // Rollback, then roll forward and restart: the routing is persisted.
    let (ok, out, err) = cli(&server, &["activate", &v1]);
    assert!(ok, "{err}: {out}");
    assert_eq!(order_output(&server, "R-1")["reservationId"], "R-1-inv");
    assert!(cli(&server, &["activate", &v2]).0);
    let (config, data) = (server.config.clone(), server.data_dir.clone());
    server.kill9();
    let server = Server::start_with(&config, &data).unwrap();
    assert_eq!(order_output(&server, "R-2")["reservationId"], "R-2-inv-v2");
    let (ok, _, err) = cli(&server, &["activate", "sha256:0000"]);
    assert!(!ok && err.contains("404"), "{err}");
}

#[test]
fn orchestrators_are_checked_against_in_flight_histories_and_instances_stay_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let waiting = |s: &Value| s["customStatus"] == "waiting for approval";
    let a = server
        .start_orchestration("approvalWorkflow", "{}")
        .unwrap();
    let b = server
        .start_orchestration("approvalWorkflow", "{}")
        .unwrap();
    server.wait_until(&a, T, waiting).unwrap();
    server.wait_until(&b, T, waiting).unwrap();
    let v1 = digest_of_route(&server, "approvalWorkflow");

    let v2_file = guest("orchestrator-v2");
    let (ok, out, err) = cli(
        &server,
        &[
            "deploy",
            "orchestrator",
            v2_file.to_str().unwrap(),
            "--check",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("checked 2 in-flight instance(s)") && out.contains("2 would diverge"),
        "{out}"
    );
    assert!(out.contains(&a) && out.contains("decision 1"), "{out}");
    assert_eq!(
        digest_of_route(&server, "approvalWorkflow"),
        v1,
        "a check activates nothing"
    );

    let (ok, _, err) = cli(
        &server,
        &["deploy", "orchestrator", v2_file.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    assert_ne!(digest_of_route(&server, "approvalWorkflow"), v1);
    // In-flight instances finish on the version they started with...
    assert_eq!(server.raise(&a, "Approval", "1").unwrap(), 202);
    assert_eq!(
        server.wait_finished(&a, T).unwrap()["runtimeStatus"],
        "Completed"
    );
    assert_eq!(e2e::count_events(&server, &a, "TaskScheduled").unwrap(), 0);
    // ...and new ones start on the new one.
    let c = server
        .start_orchestration("approvalWorkflow", "{}")
        .unwrap();
    server.wait_until(&c, T, waiting).unwrap();
    assert_eq!(
        e2e::count_events(&server, &c, "TaskScheduled").unwrap(),
        1,
        "v2 greets first"
    );
}

#[test]
fn compatible_in_flight_instances_migrate_to_a_new_orchestrator() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    // `a` runs approvalWorkflow, which v2 changes; `m` runs monitor, which v2 leaves alone.
    let a = server
        .start_orchestration("approvalWorkflow", "{}")
        .unwrap();
    let m = server
        .start_orchestration(
            "monitor",
            &json!({"round": 0, "target": 1, "intervalMs": 60_000}).to_string(),
        )
        .unwrap();
    server
        .wait_until(&a, T, |s| s["customStatus"] == "waiting for approval")
        .unwrap();
    server
        .wait_until(&m, T, |s| s["customStatus"]["round"] == 0)
        .unwrap();

    let v2_file = guest("orchestrator-v2");
    let (ok, out, err) = cli(
        &server,
        &[
            "deploy",
            "orchestrator",
            v2_file.to_str().unwrap(),
            "--migrate",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("1 would diverge") && out.contains(&a), "{out}");
    assert!(
        out.contains("1 migrated") && out.contains(&format!("migrated {m}")),
        "{out}"
    );
    let v2 = digest_of_route(&server, "monitor");

    // The monitor records the move and goes on, on v2, across continue-as-new.
    let deadline = Instant::now() + T;
    while e2e::count_events(&server, &m, "ExecutionMigrated").unwrap() == 0 {
        assert!(Instant::now() < deadline, "the monitor never migrated");
        std::thread::sleep(Duration::from_millis(20));
    }
    let history = server
        .status(&m, "?showHistory=true")
        .unwrap()
        .json()
        .unwrap();
    let moved = history["historyEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["EventType"] == "ExecutionMigrated")
        .unwrap()
        .clone();
    assert_eq!(moved["OrchestratorDigest"], v2.as_str());
    server.advance_clock(60_000).unwrap();
    let done = server.wait_finished(&m, T).unwrap();
    assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    assert_eq!(done["output"], json!({"rounds": 2}));
    let history = server
        .status(&m, "?showHistory=true")
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        history["historyEvents"][0]["OrchestratorDigest"],
        v2.as_str(),
        "the next execution starts on the migrated version"
    );

    // The incompatible instance stayed on v1 and finishes there (v2 would greet first).
    assert_eq!(server.raise(&a, "Approval", "1").unwrap(), 202);
    assert_eq!(
        server.wait_finished(&a, T).unwrap()["runtimeStatus"],
        "Completed"
    );
    assert_eq!(e2e::count_events(&server, &a, "TaskScheduled").unwrap(), 0);

    // migrate goes only with an activated orchestrator.
    let r = e2e::request(
        &server.addr,
        "POST",
        &Server::keyed("/admin/components/orchestrator?migrate=true&dryRun=true"),
        Some("x"),
        &[],
    )
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn bad_modules_are_refused_with_the_reason_and_nothing_is_activated() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let before = routes(&server);
    let upload = |kind: &str, body: &[u8], key: Option<&str>| {
        let mut req = format!(
            "POST /admin/components/{kind} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(k) = key {
            req.push_str(&format!("x-functions-key: {k}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        // An oversized upload is refused from its Content-Length alone, and the server closes
        // the connection: send only the headers then, or the write races the close.
        if body.len() <= 1 << 20 {
            bytes.extend_from_slice(body);
        }
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
        s.write_all(&bytes).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status: u16 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, out)
    };
    let good = std::fs::read(guest("activities-v2")).unwrap();
    let wasi_orchestrator = std::fs::read(guest("test-orchestrator-wasi")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "activity",
            b"definitely not wasm".to_vec(),
            "not a valid WebAssembly component",
        ),
        (
            "activity",
            good[..good.len() / 2].to_vec(),
            "not a valid WebAssembly component",
        ),
        ("orchestrator", wasi_orchestrator, "wasi:clocks/wall-clock"),
        ("orchestrator", good.clone(), "orchestrator refused"),
        (
            "activity",
            std::fs::read(guest("orchestrator")).unwrap(),
            "does not implement the activity world",
        ),
        ("activity", Vec::new(), "is empty"),
        ("widget", good.clone(), "not 'widget'"),
    ];
    for (kind, body, expected) in cases {
        let (status, out) = upload(kind, &body, Some(KEY));
        assert!((400..500).contains(&status), "{kind}: {status} {out}");
        assert!(
            out.contains(expected),
            "{kind}: expected '{expected}' in {out}"
        );
    }
    let (status, _) = upload("activity", &good, None);
    assert_eq!(status, 401, "deploying needs the master key");
    let big = vec![0u8; 33 << 20];
    let (status, _) = upload("activity", &big, Some(KEY));
    assert_eq!(status, 413, "oversized uploads are refused");
    assert_eq!(routes(&server), before, "nothing was activated");
}

#[test]
fn serve_watch_deploys_a_rebuilt_component_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let acts = dir.path().join("activities.wasm");
    std::fs::copy(guest("activities"), &acts).unwrap();
    let config = dir.path().join("durable.toml");
    std::fs::write(
        &config,
        format!(
            "[[orchestrators]]\ncomponent = \"{}\"\n\n[[activities]]\ncomponent = \"{}\"\n\n\
             [[starters]]\nroute = \"/api/orchestrators/order-processing\"\n\
             orchestration = \"orderProcessingOrchestrator\"\n",
            guest("orchestrator").display(),
            acts.display()
        ),
    )
    .unwrap();
    let server = Server::start_with_args(&config, &dir.path().join("data"), &["--watch"]).unwrap();
    assert_eq!(order_output(&server, "W-1")["reservationId"], "W-1-inv");

    // "Rebuild": the file changes in place; new orders use it within a second or so.
    std::fs::copy(guest("activities-v2"), &acts).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 2;
    loop {
        let order_id = format!("W-{n}");
        let out = order_output(&server, &order_id);
        if out["reservationId"] == format!("{order_id}-inv-v2") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rebuilt file was not deployed: {out}"
        );
        std::thread::sleep(Duration::from_millis(100));
        n += 1;
    }
    // A broken rebuild is refused (logged) and the working version stays active.
    std::fs::write(&acts, b"not a component").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let out = order_output(&server, "W-after");
    assert_eq!(out["reservationId"], "W-after-inv-v2", "{out}");
}
