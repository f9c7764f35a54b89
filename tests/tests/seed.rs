//! The seed recipe end to end, and the bad inputs around it.

use std::time::Duration;

use e2e::{KEY, Server, confirmation, count_events, seed_config};
use serde_json::json;

fn instances_in_db(server: &Server) -> i64 {
    let conn = rusqlite::Connection::open(server.data_dir.join("durable.sqlite")).unwrap();
    conn.query_row("SELECT count(*) FROM instances", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn an_order_completes_with_the_seeds_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let order =
        json!({"orderId": "A-1001", "customerId": "C-42", "items": [{"sku": "SKU-1", "qty": 2}]});
    let r = server
        .request(
            "POST",
            &Server::keyed("/api/orchestrators/order-processing"),
            Some(&order.to_string()),
        )
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let body = r.json().unwrap();
    let id = body["id"].as_str().unwrap();
    for field in [
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
        "restartPostUri",
        "suspendPostUri",
        "resumePostUri",
    ] {
        let uri = body[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} missing in {body}"));
        assert!(uri.contains(id), "{field} = {uri}");
    }
    assert_eq!(r.header("location"), body["statusQueryGetUri"].as_str());

    let status = server.wait_finished(id, Duration::from_secs(20)).unwrap();
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    assert_eq!(status["output"], confirmation("A-1001"));
    assert_eq!(status["name"], "orderProcessingOrchestrator");
    assert_eq!(status["instanceId"], id);
    assert_eq!(status["input"], order);
    assert_eq!(status["customStatus"], serde_json::Value::Null);
    for field in ["createdTime", "lastUpdatedTime"] {
        let t = status[field].as_str().unwrap();
        // To the millisecond: 2026-11-26T13:45:12.345Z.
        assert!(
            t.len() == 24 && t.ends_with('Z') && t.as_bytes()[19] == b'.',
            "{field} = {t}"
        );
    }

    // The statusQueryGetUri works as given (it carries the key).
    let uri = body["statusQueryGetUri"].as_str().unwrap();
    let path = &uri[uri.find("/runtime").unwrap()..];
    assert_eq!(server.request("GET", path, None).unwrap().status, 200);

    // The history is the typed, gapless sequence of the three activity calls.
    let without_output = server
        .status(id, "?showHistory=true")
        .unwrap()
        .json()
        .unwrap();
    let events = without_output["historyEvents"].as_array().unwrap();
    assert!(
        events.iter().all(|e| e.get("Result").is_none()),
        "results are shown only with showHistoryOutput=true"
    );
    let history = server
        .status(id, "?showHistory=true&showHistoryOutput=TRUE")
        .unwrap()
        .json()
        .unwrap();
    let events = history["historyEvents"].as_array().unwrap();
    assert_eq!(&history["history"], &history["historyEvents"]);
    let scheduled: Vec<_> = events
        .iter()
        .filter(|e| e["EventType"] == "TaskScheduled")
        .map(|e| e["FunctionName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        scheduled,
        ["validateOrder", "reserveInventory", "emitConfirmation"]
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["EventId"], i, "history has a gap at {i}");
    }
    let validated = events
        .iter()
        .find(|e| e["EventType"] == "TaskCompleted")
        .unwrap();
    assert!(
        validated["Result"]["validatedUtc"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(count_events(&server, id, "ExecutionCompleted").unwrap(), 1);
}

#[test]
fn a_missing_customer_id_fails_the_instance_with_the_activitys_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let id = server.start_order(&json!({"orderId": "A-2"})).unwrap();
    let status = server.wait_finished(&id, Duration::from_secs(20)).unwrap();
    assert_eq!(status["runtimeStatus"], "Failed", "{status}");
    let output = status["output"].as_str().unwrap();
    assert!(
        output.contains("orderId and customerId are required."),
        "{output}"
    );
    assert!(output.contains("validateOrder"), "{output}");
    assert_eq!(count_events(&server, &id, "TaskScheduled").unwrap(), 1);
    assert_eq!(count_events(&server, &id, "ExecutionFailed").unwrap(), 1);
}

#[test]
fn bad_requests_get_clear_errors_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let seed = Server::keyed("/api/orchestrators/order-processing");

    let r = server
        .request("POST", &seed, Some("{\"orderId\": "))
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(
        r.json().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{}",
        r.body
    );
    let r = server.request("POST", &seed, None).unwrap();
    assert_eq!(r.status, 400);
    assert!(r.body.contains("empty"), "{}", r.body);
    assert_eq!(
        instances_in_db(&server),
        0,
        "a refused request must store nothing"
    );

    // Keys: none, wrong, and both ways of passing the right one.
    let order = json!({"orderId": "k", "customerId": "c"}).to_string();
    let none = server
        .request("POST", "/api/orchestrators/order-processing", Some(&order))
        .unwrap();
    assert_eq!(none.status, 401);
    let wrong = server
        .request(
            "POST",
            "/api/orchestrators/order-processing?code=nope",
            Some(&order),
        )
        .unwrap();
    assert_eq!(wrong.status, 401);
    let header = e2e::request(
        &server.addr,
        "POST",
        "/api/orchestrators/order-processing",
        Some(&order),
        &[("x-functions-key", KEY)],
    )
    .unwrap();
    assert_eq!(header.status, 202, "{}", header.body);
    let status_without_key = server
        .request(
            "GET",
            "/runtime/webhooks/durabletask/instances/whatever",
            None,
        )
        .unwrap();
    assert_eq!(status_without_key.status, 401);

    // Unknown instance and unknown orchestration.
    let r = server.status("no-such-instance", "").unwrap();
    assert_eq!(r.status, 404);
    let r = server
        .request(
            "POST",
            &Server::keyed("/api/orchestrators/noSuchOrchestration"),
            Some("{}"),
        )
        .unwrap();
    assert_eq!(
        r.status, 400,
        "Durable Functions answers 400 for an unknown function"
    );
    assert!(r.body.contains("noSuchOrchestration"), "{}", r.body);
    let r = server.status("abc", "?showHistory=maybe").unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(instances_in_db(&server), 1);
}

#[test]
fn the_generic_starter_takes_a_name_and_an_instance_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let r = server
        .request(
            "POST",
            &Server::keyed("/api/orchestrators/echo/my-echo-1"),
            Some(r#"{"x":[1,2]}"#),
        )
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json().unwrap()["id"], "my-echo-1");
    let status = server
        .wait_finished("my-echo-1", Duration::from_secs(20))
        .unwrap();
    assert_eq!(status["runtimeStatus"], "Completed");
    assert_eq!(status["output"], json!({"x": [1, 2]}));
    // Durable Functions' own start route works too, and an empty body is a null input.
    let r = server
        .request(
            "POST",
            &Server::keyed("/runtime/webhooks/durabletask/orchestrators/echo"),
            None,
        )
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json().unwrap()["id"].as_str().unwrap().to_owned();
    let status = server.wait_finished(&id, Duration::from_secs(20)).unwrap();
    assert_eq!(status["output"], serde_json::Value::Null);
    let bad = server
        .request(
            "POST",
            &Server::keyed("/api/orchestrators/echo/bad%23id"),
            Some("1"),
        )
        .unwrap();
    assert_eq!(bad.status, 400, "{}", bad.body);
}

/// `make run`'s command: `durable serve --config durable.toml` with every other setting at its
/// default, run from the directory it was started in (the data dir `.durable`, relative).
#[test]
fn the_readme_command_serves_with_the_default_relative_data_dir() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("durable.toml"), seed_config("")).unwrap();
    let mut child = std::process::Command::new(e2e::durable_bin())
        .current_dir(dir.path())
        .args([
            "serve",
            "--config",
            "durable.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--rpc-listen", "off"])
        .env("DURABLE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let listening = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("durable-wasm listening on"));
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(
        listening,
        "the host did not start: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join(".durable/durable.sqlite").exists());
    assert!(dir.path().join(".durable/cache").is_dir());
}
