//! W3C trace context against the real host: the starting request's `traceparent` is kept in the
//! instance's `ExecutionStarted`, passed to sub-orchestrations and (as `TRACEPARENT` /
//! `TRACESTATE`) to activities, and the instance's log lines carry its trace id; a malformed
//! one is ignored.

use std::time::Duration;

use e2e::{KEY, Server, test_guests_config};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-00f067aa0ba902b7-01")
}

/// Starts `name` with `input` and these extra headers; returns the id.
fn start(server: &Server, name: &str, input: &Value, headers: &[(&str, &str)]) -> String {
    let path = format!("/api/orchestrators/{name}?code={KEY}");
    let r = server
        .request_with("POST", &path, Some(&input.to_string()), headers)
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    r.json().unwrap()["id"].as_str().unwrap().to_owned()
}

fn started_event(server: &Server, id: &str) -> Value {
    let status = server
        .status(id, "?showHistory=true")
        .unwrap()
        .json()
        .unwrap();
    status["historyEvents"][0].clone()
}

#[test]
fn the_starting_requests_trace_reaches_history_children_activities_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        test_guests_config("", dir.path(), "/data") + "\n[versioning]\ndefaultVersion = \"1.0\"\n";
    let server = Server::start(dir.path(), &config).unwrap();
    let parent = traceparent();
    let headers = [
        ("traceparent", parent.as_str()),
        ("tracestate", "congo=t61rcWkgMzE"),
    ];

    // Recorded in ExecutionStarted.
    let call = json!({"name": "getEnv", "input": "TRACEPARENT"});
    let id = start(&server, "callActivity", &call, &headers);
    let done = server.wait_finished(&id, WAIT).unwrap();
    let started = started_event(&server, &id);
    assert_eq!(started["TraceContext"]["traceparent"], parent, "{started}");
    assert_eq!(started["TraceContext"]["tracestate"], "congo=t61rcWkgMzE");
    // The activity sees the trace (its own span as the parent id).
    let seen = done["output"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(seen.starts_with(&format!("00-{TRACE_ID}-")), "{done}");
    assert!(seen.ends_with("-01") && seen != parent, "{seen}");
    let call = json!({"name": "getEnv", "input": "TRACESTATE"});
    let id = start(&server, "callActivity", &call, &headers);
    let done = server.wait_finished(&id, WAIT).unwrap();
    assert_eq!(done["output"]["value"], "congo=t61rcWkgMzE", "{done}");

    // A sub-orchestration carries it on.
    let id = start(&server, "versionInfo", &json!(1), &headers);
    server.wait_finished(&id, WAIT).unwrap();
    let child = server
        .history_events(&id)
        .unwrap()
        .iter()
        .find_map(|e| e["InstanceId"].as_str().map(str::to_owned))
        .expect("a child");
    assert_eq!(
        started_event(&server, &child)["TraceContext"]["traceparent"],
        parent
    );

    // The instance's log lines name the trace (a warning: this host does not run version 9).
    let path = format!("/api/orchestrators/versionInfo?version=9&code={KEY}");
    let headers = [("traceparent", parent.as_str())];
    let r = server
        .request_with("POST", &path, Some("0"), &headers)
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let deadline = std::time::Instant::now() + WAIT;
    let line = loop {
        let stderr = server.stderr();
        if let Some(line) = stderr
            .lines()
            .find(|l| l.contains("does not match this host's version"))
        {
            break line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no warning:\n{stderr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(line.contains(&format!("trace_id={TRACE_ID}")), "{line}");
}

#[test]
fn a_malformed_traceparent_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &test_guests_config("", dir.path(), "/data")).unwrap();
    let call = json!({"name": "getEnv", "input": "TRACEPARENT"});
    for bad in [
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    ] {
        let id = start(&server, "callActivity", &call, &[("traceparent", bad)]);
        let done = server.wait_finished(&id, WAIT).unwrap();
        assert_eq!(done["runtimeStatus"], "Completed", "{done}");
        assert_eq!(done["output"]["value"], Value::Null, "{done}");
        assert_eq!(done["output"]["count"], 0, "no variables at all: {done}");
        assert!(started_event(&server, &id).get("TraceContext").is_none());
    }
}
