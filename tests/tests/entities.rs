//! Durable entities against the real host: the HTTP API (signal, read, list), orchestrations
//! that signal and call them, ordering under concurrent signals, failures and traps that leave
//! the state as it was, entities that signal entities and start orchestrations, bad ids, and
//! state that survives `kill -9`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use e2e::{Response, Server, guest, seed_config};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const API: &str = "/runtime/webhooks/durabletask";

/// The seed app with the test orchestrations and the test entities (Counter and Probe).
fn config() -> String {
    let extra = format!(
        "\n[[orchestrators]]\ncomponent = \"{}\"\n",
        guest("test-orchestrator").display()
    );
    let entities = guest("entities").display().to_string();
    let probe = guest("test-entities").display().to_string();
    seed_config(&extra).replace(&entities, &probe)
}

fn signal(server: &Server, name: &str, key: &str, op: &str, input: Option<&str>) -> Response {
    let path = format!("{API}/entities/{name}/{key}?op={op}");
    server
        .request("POST", &Server::keyed(&path), input)
        .unwrap()
}

fn read(server: &Server, name: &str, key: &str) -> Response {
    let path = format!("{API}/entities/{name}/{key}");
    server.request("GET", &Server::keyed(&path), None).unwrap()
}

/// Waits until the entity's state is `wanted`; returns the last state read.
fn wait_state(server: &Server, name: &str, key: &str, wanted: &Value) -> Value {
    let deadline = Instant::now() + WAIT;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let r = read(server, name, key);
        if r.status == 200 {
            last = r.json().unwrap();
            if &last == wanted {
                return last;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{name}/{key} is {last}, not {wanted}\n{}", server.stderr());
}

/// Operations queued for an entity, read from the data directory's database.
fn queued(data: &std::path::Path, entity: &str) -> i64 {
    rusqlite::Connection::open(data.join("durable.sqlite"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM inbox WHERE instance_id = ?1",
            [entity],
            |r| r.get(0),
        )
        .unwrap()
}

fn start(server: &Server, name: &str, input: &Value) -> String {
    let path = Server::keyed(&format!("/api/orchestrators/{name}"));
    let r = server
        .request("POST", &path, Some(&input.to_string()))
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    r.json().unwrap()["id"].as_str().unwrap().to_owned()
}

#[test]
fn signals_reads_lists_and_an_orchestration_that_calls_the_counter() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config()).unwrap();

    // Signal, then read. The name is case-insensitive; the key is not.
    assert_eq!(
        signal(&server, "Counter", "a", "add", Some("5")).status,
        202
    );
    assert_eq!(
        signal(&server, "counter", "a", "add", Some("2")).status,
        202
    );
    wait_state(&server, "COUNTER", "a", &json!(7));
    let r = read(&server, "Counter", "A");
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.json().unwrap()["error"].is_string(), "{}", r.body);

    // An orchestration signals add, calls add and get: one entity, in order.
    let id = start(
        &server,
        "counterWorkflow",
        &json!({"key": "a", "amount": 10}),
    );
    let done = server.wait_finished(&id, WAIT).unwrap();
    assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    assert_eq!(
        done["output"],
        json!({"afterAdd": 27, "value": 27}),
        "{done}"
    );
    let kinds: Vec<String> = server
        .history_events(&id)
        .unwrap()
        .iter()
        .map(|e| e["EventType"].as_str().unwrap_or_default().to_owned())
        .filter(|k| k.starts_with("EntityOperation"))
        .collect();
    let expected = [
        "EntityOperationSignaled",
        "EntityOperationCalled",
        "EntityOperationCompleted",
        "EntityOperationCalled",
        "EntityOperationCompleted",
    ];
    assert_eq!(kinds, expected);
    wait_state(&server, "counter", "a", &json!(27));

    // Delete: no state, so a 404 and not listed; a later add starts from nothing.
    assert_eq!(
        signal(&server, "Counter", "b", "add", Some("1")).status,
        202
    );
    assert_eq!(
        signal(&server, "Counter", "c", "add", Some("1")).status,
        202
    );
    wait_state(&server, "counter", "c", &json!(1));
    assert_eq!(signal(&server, "Counter", "c", "delete", None).status, 202);
    let deadline = Instant::now() + WAIT;
    while read(&server, "counter", "c").status != 404 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(read(&server, "counter", "c").status, 404);

    // List, a page at a time.
    let path = Server::keyed(&format!("{API}/entities/Counter?fetchState=true&top=1"));
    let first = server.request("GET", &path, None).unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    let token = first
        .header("x-ms-continuation-token")
        .expect("a next page");
    let page = first.json().unwrap();
    assert_eq!(page[0]["entityId"], json!({"name": "counter", "key": "a"}));
    assert_eq!(page[0]["state"], json!(27));
    assert!(
        page[0]["lastOperationTime"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let second = server
        .request_with("GET", &path, None, &[("x-ms-continuation-token", token)])
        .unwrap();
    assert_eq!(second.json().unwrap()[0]["entityId"]["key"], "b");
    let all = Server::keyed(&format!("{API}/entities"));
    let keys: Vec<Value> = server
        .request("GET", &all, None)
        .unwrap()
        .json()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entityId"]["key"].clone())
        .collect();
    assert_eq!(keys, [json!("a"), json!("b")], "c has no state");
    // Entities are not orchestration instances: the instance list leaves them out.
    let listed = server
        .request("GET", &Server::keyed(&format!("{API}/instances")), None)
        .unwrap()
        .json()
        .unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["instanceId"].as_str())
        .collect();
    assert!(ids.iter().all(|i| !i.starts_with('@')), "{ids:?}");
}

#[test]
fn bad_names_keys_and_operations_are_refused_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config()).unwrap();
    let long = "k".repeat(101);
    let cases = [
        ("Counter", "a@b", "add", "must not contain '@'"),
        ("Coun@ter", "a", "add", "must not contain '@'"),
        ("Counter", "a%2Fb", "add", "must not contain '@', '/'"),
        (
            "Counter",
            long.as_str(),
            "add",
            "longer than 100 characters",
        ),
        ("Counter", "a", "", "query parameter op"),
    ];
    for (name, key, op, why) in cases {
        let r = signal(&server, name, key, op, Some("1"));
        assert_eq!(r.status, 400, "{name}/{key}?op={op}: {}", r.body);
        let message = r.json().unwrap()["error"].as_str().unwrap().to_owned();
        assert!(message.contains(why), "{message}");
    }
    let r = signal(&server, "NoSuchEntity", "a", "add", Some("1"));
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.body.contains("no entity named 'nosuchentity'"),
        "{}",
        r.body
    );
    let r = signal(&server, "Counter", "a", "add", Some("{not json"));
    assert_eq!(r.status, 400, "{}", r.body);
    // The instance API does not reach entities.
    let path = Server::keyed(&format!("{API}/instances/@counter@a"));
    let r = server.request("GET", &path, None).unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("entities"), "{}", r.body);
    // Nothing was created by the refused calls.
    let all = server
        .request("GET", &Server::keyed(&format!("{API}/entities")), None)
        .unwrap();
    assert_eq!(all.json().unwrap(), json!([]));
}

#[test]
fn a_failed_or_trapped_operation_leaves_the_state_and_the_next_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config()).unwrap();
    assert_eq!(
        signal(&server, "Probe", "p", "set", Some(r#"{"v":1}"#)).status,
        202
    );
    wait_state(&server, "probe", "p", &json!({"v": 1}));

    // Signalled: failures and traps change nothing; the operations after them run.
    for op in ["fail", "trap", "spin"] {
        assert_eq!(signal(&server, "Probe", "p", op, None).status, 202);
    }
    assert_eq!(
        signal(&server, "Probe", "p", "set", Some(r#"{"v":2}"#)).status,
        202
    );
    wait_state(&server, "probe", "p", &json!({"v": 2}));

    // Called from an orchestration: the caller gets the failure, state unchanged.
    let ops = json!([
        {"name": "Probe", "key": "p", "op": "set", "input": {"v": 3}},
        {"name": "Probe", "key": "p", "op": "trap"},
    ]);
    let id = start(&server, "entityOps", &ops);
    let done = server.wait_finished(&id, WAIT).unwrap();
    assert_eq!(done["runtimeStatus"], "Failed", "{done}");
    let message = done["output"].as_str().unwrap();
    assert!(
        message.contains("Operation 'trap' of entity '@probe@p' failed: the entity trapped"),
        "{message}"
    );
    let ops = json!([
        {"name": "Probe", "key": "p", "op": "fail"},
    ]);
    let id = start(&server, "entityOps", &ops);
    let done = server.wait_finished(&id, WAIT).unwrap();
    assert!(
        done["output"]
            .as_str()
            .unwrap()
            .contains("the probe was asked to fail"),
        "{done}"
    );
    // Rewinding it would send its operations again or wait for an answer never kept: refused.
    let rewind = Server::keyed(&format!("{API}/instances/{id}/rewind?reason=again"));
    let r = server.request("POST", &rewind, None).unwrap();
    assert_eq!(r.status, 412, "{}", r.body);
    assert!(r.body.contains("durable entities"), "{}", r.body);
    let ops = json!([
        {"name": "Probe", "key": "p", "op": "get"},
        {"name": "NoSuchEntity", "key": "p", "op": "get"},
    ]);
    let id = start(&server, "entityOps", &ops);
    let done = server.wait_finished(&id, WAIT).unwrap();
    assert!(
        done["output"]
            .as_str()
            .unwrap()
            .contains("no entity named 'nosuchentity'"),
        "{done}"
    );
    wait_state(&server, "probe", "p", &json!({"v": 3}));
    // The host kept serving throughout.
    let order = json!({"orderId": "after-traps", "customerId": "C"});
    let id = server.start_order(&order).unwrap();
    assert_eq!(
        server.wait_finished(&id, WAIT).unwrap()["runtimeStatus"],
        "Completed"
    );
}

#[test]
fn entities_signal_entities_and_start_orchestrations_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config()).unwrap();
    let to_counter = json!({"name": "Counter", "key": "fwd", "op": "add", "input": 4});
    assert_eq!(
        signal(
            &server,
            "Probe",
            "s",
            "signal",
            Some(&to_counter.to_string())
        )
        .status,
        202
    );
    wait_state(&server, "counter", "fwd", &json!(4));

    let start_echo = json!({"name": "echo", "id": "started-by-probe", "input": {"hi": 1}});
    assert_eq!(
        signal(
            &server,
            "Probe",
            "s",
            "start",
            Some(&start_echo.to_string())
        )
        .status,
        202
    );
    // The start goes out when the operation commits: wait for the instance to exist.
    let deadline = Instant::now() + WAIT;
    while server.status("started-by-probe", "").unwrap().status == 404 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let done = server.wait_finished("started-by-probe", WAIT).unwrap();
    assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    // An operation asking for an orchestration nobody serves fails (and starts nothing).
    let bad = json!({"name": "noSuchOrchestration", "id": "never", "input": null});
    assert_eq!(
        signal(&server, "Probe", "s", "start", Some(&bad.to_string())).status,
        202
    );
    assert_eq!(
        signal(&server, "Probe", "s", "set", Some("\"done\"")).status,
        202
    );
    wait_state(&server, "probe", "s", &json!("done"));
    assert_eq!(server.status("never", "").unwrap().status, 404);

    // Signals in an orchestration's last turn go out with its end, and with continue-as-new.
    let ops = json!([
        {"name": "Counter", "key": "fwd", "op": "add", "input": 10, "signal": true},
    ]);
    let id = start(&server, "entityOps", &ops);
    server.wait_finished(&id, WAIT).unwrap();
    wait_state(&server, "counter", "fwd", &json!(14));
    let ops = json!([
        {"name": "Counter", "key": "fwd", "op": "add", "input": 100, "signal": true, "then": "continue"},
    ]);
    let id = start(&server, "entityOps", &ops);
    let done = server.wait_finished(&id, WAIT).unwrap();
    assert_eq!(done["output"], json!([]), "the next execution ran: {done}");
    wait_state(&server, "counter", "fwd", &json!(114));
}

#[test]
fn a_thousand_concurrent_adds_from_16_clients_sum_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(Server::start(dir.path(), &config()).unwrap());
    let next = Arc::new(AtomicU64::new(1));
    let started = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (server, next) = (Arc::clone(&server), Arc::clone(&next));
            std::thread::spawn(move || {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n > 1000 {
                        return;
                    }
                    let r = signal(&server, "Counter", "sum", "add", Some(&n.to_string()));
                    assert_eq!(r.status, 202, "{}", r.body);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // 1 + 2 + ... + 1000: each add exactly once, none lost to a race.
    let acknowledged = started.elapsed();
    wait_state(&server, "counter", "sum", &json!(500_500));
    eprintln!(
        "1,000 signals from 16 clients: acknowledged in {acknowledged:?}, applied in {:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        read(&server, "counter", "sum").json().unwrap(),
        json!(500_500)
    );
}

#[test]
fn entity_state_survives_kill_9_and_acknowledged_signals_are_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config()).unwrap();
    assert_eq!(
        signal(&server, "Counter", "k9", "add", Some("1000")).status,
        202
    );
    wait_state(&server, "counter", "k9", &json!(1000));

    // Four clients add 1 each, as fast as they can, while the host is killed.
    let acked = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (addr, acked, sent) = (server.addr.clone(), Arc::clone(&acked), Arc::clone(&sent));
            std::thread::spawn(move || {
                let path = Server::keyed(&format!("{API}/entities/Counter/k9?op=add"));
                loop {
                    sent.fetch_add(1, Ordering::SeqCst);
                    match e2e::request(&addr, "POST", &path, Some("1"), &[]) {
                        Ok(r) if r.status == 202 => acked.fetch_add(1, Ordering::SeqCst),
                        _ => return,
                    };
                }
            })
        })
        .collect();
    while acked.load(Ordering::SeqCst) < 200 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (config, data) = (server.config.clone(), server.data_dir.clone());
    server.kill9();
    for c in clients {
        c.join().unwrap();
    }
    let (acked, sent) = (acked.load(Ordering::SeqCst), sent.load(Ordering::SeqCst));
    let stored = queued(&data, "@counter@k9");

    let server = Server::start_with(&config, &data).unwrap();
    // Every acknowledged add is applied exactly once; a request cut off by the kill may or may
    // not have been (its commit may have happened before its 202 was lost).
    let deadline = Instant::now() + WAIT;
    let mut value = 0;
    while Instant::now() < deadline {
        value = read(&server, "counter", "k9")
            .json()
            .unwrap()
            .as_u64()
            .unwrap();
        let left = queued(&data, "@counter@k9");
        if left == 0 && value >= 1000 + acked {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "kill -9: {acked} adds acknowledged, {sent} sent, {stored} queued at the kill, state {value}"
    );
    assert!(
        value >= 1000 + acked && value <= 1000 + sent,
        "value {value}: {acked} acknowledged, {sent} sent"
    );
}
