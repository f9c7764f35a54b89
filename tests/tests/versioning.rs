//! Durable Functions' orchestration versioning against the real host: the version stamped at
//! start (`?version=` or `[versioning] defaultVersion`), inherited by sub-orchestrations and read
//! by the guest (`ctx.version()`), and each `versionMatchStrategy` / `versionFailureStrategy`.

use std::time::Duration;

use e2e::{Server, seed_config};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn versioning(default: &str, matching: &str, failure: &str) -> String {
    format!(
        "[versioning]\ndefaultVersion = \"{default}\"\nversionMatchStrategy = \"{matching}\"\n\
         versionFailureStrategy = \"{failure}\"\n"
    )
}

/// Starts `name` through the generic starter with `?version=` (if any); returns the id.
fn start(server: &Server, name: &str, input: &str, version: Option<&str>) -> String {
    let query = version.map_or(String::new(), |v| format!("?version={v}"));
    let path = Server::keyed(&format!("/api/orchestrators/{name}{query}"));
    let r = server.request("POST", &path, Some(input)).unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    r.json().unwrap()["id"].as_str().unwrap().to_owned()
}

fn status(server: &Server, id: &str) -> Value {
    server
        .status(id, "?showHistory=true")
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn versions_are_stamped_inherited_and_read_by_the_guest() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_config(&versioning("2.0", "CurrentOrOlder", "Reject"));
    let server = Server::start(dir.path(), &config).unwrap();

    // No version asked: the host's default, for the instance and its sub-orchestration.
    let id = start(&server, "versionInfo", "1", None);
    let done = server.wait_finished(&id, WAIT).unwrap();
    let expected = json!({"version": "2.0", "child": {"version": "2.0", "child": null}});
    assert_eq!(done["output"], expected, "{done}");
    let shown = status(&server, &id);
    assert_eq!(shown["version"], "2.0");
    assert_eq!(shown["historyEvents"][0]["Version"], "2.0", "{shown}");

    // Asked for: kept, inherited, and kept again by a restart.
    let id = start(&server, "versionInfo", "1", Some("1.5"));
    let done = server.wait_finished(&id, WAIT).unwrap();
    let expected = json!({"version": "1.5", "child": {"version": "1.5", "child": null}});
    assert_eq!(done["output"], expected, "{done}");
    let restart = format!(
        "/runtime/webhooks/durabletask/instances/{id}/restart?restartWithNewInstanceId=true"
    );
    let r = server
        .request("POST", &Server::keyed(&restart), None)
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let again = r.json().unwrap()["id"].as_str().unwrap().to_owned();
    assert_ne!(again, id);
    assert_eq!(
        server.wait_finished(&again, WAIT).unwrap()["version"],
        "1.5"
    );

    // Durable Functions' own start route takes it too.
    let path = "/runtime/webhooks/durabletask/orchestrators/versionInfo?version=1.0";
    let r = server
        .request("POST", &Server::keyed(path), Some("0"))
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json().unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        server.wait_finished(&id, WAIT).unwrap()["output"]["version"],
        "1.0"
    );

    // A version that is not one is refused, naming the rule.
    let long = "9".repeat(101);
    let path = Server::keyed(&format!("/api/orchestrators/versionInfo?version={long}"));
    let r = server.request("POST", &path, Some("0")).unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("at most 100 characters"), "{}", r.body);
}

/// CurrentOrOlder + Reject: an instance newer than the host waits, untouched, until a host of
/// its version runs it, on the orchestrator deployed then.
#[test]
fn a_rejected_instance_starts_once_a_matching_version_is_deployed() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_config(&versioning("2.0", "CurrentOrOlder", "Reject"));
    let server = Server::start(dir.path(), &config).unwrap();
    let input = r#"{"timeoutMs": 3600000}"#;
    let newer = start(&server, "approvalWorkflow", input, Some("3.0"));
    let older = start(&server, "approvalWorkflow", input, Some("1.0"));
    server
        .wait_until(&older, Duration::from_secs(10), |s| {
            s["customStatus"] == "waiting for approval"
        })
        .unwrap();
    // The newer one is left Pending, and says why in the log and the metrics.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status(&server, &newer)["runtimeStatus"], "Pending");
    assert!(server.metric("durable_versions_rejected_total").unwrap() >= 1.0);
    assert!(
        server
            .stderr()
            .contains("does not match this host's version '2.0'"),
        "{}",
        server.stderr()
    );
    // An event for it waits in its inbox.
    assert_eq!(server.raise(&newer, "Approval", r#""yes""#).unwrap(), 202);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status(&server, &newer)["runtimeStatus"], "Pending");
    assert!(server.terminate(Duration::from_secs(10)).unwrap());

    // Version 3.0 is deployed: a new orchestrator (its approvalWorkflow first says hello).
    let v3 = seed_config(&versioning("3.0", "CurrentOrOlder", "Reject"))
        .replace("orchestrator.wasm", "orchestrator-v2.wasm");
    let config = dir.path().join("durable.toml");
    std::fs::write(&config, v3).unwrap();
    let server = Server::start_with(&config, &dir.path().join("data")).unwrap();
    let done = server.wait_finished(&newer, WAIT).unwrap();
    assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    assert_eq!(done["output"], "yes");
    let shown = status(&server, &newer);
    let kinds: Vec<&str> = shown["historyEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventType"].as_str().unwrap())
        .collect();
    // It ran on the version deployed now (moved there before its first turn).
    assert_eq!(kinds[1], "ExecutionMigrated", "{kinds:?}");
    let hello = shown["historyEvents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["FunctionName"] == "sayHello");
    assert!(hello, "{shown}");
    // The older instance goes on where it was, on the version it started on.
    assert_eq!(server.raise(&older, "Approval", r#""ok""#).unwrap(), 202);
    let done = server.wait_finished(&older, WAIT).unwrap();
    assert_eq!(done["output"], "ok");
    let kinds = status(&server, &older)["historyEvents"].to_string();
    assert!(
        !kinds.contains("sayHello") && !kinds.contains("ExecutionMigrated"),
        "{kinds}"
    );
}

/// Strict + Fail: only the host's own version runs; another fails at once, saying why.
#[test]
fn strict_versions_fail_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_config(&versioning("2.0", "Strict", "Fail"));
    let server = Server::start(dir.path(), &config).unwrap();
    let old = start(&server, "versionInfo", "0", Some("1.0"));
    let failed = server.wait_finished(&old, WAIT).unwrap();
    assert_eq!(failed["runtimeStatus"], "Failed", "{failed}");
    let message = failed["output"].as_str().unwrap();
    assert!(
        message.contains(
            "orchestration version '1.0' does not match this host's version '2.0' (versionMatchStrategy Strict)"
        ),
        "{message}"
    );
    // Numeric versions compare as numbers: "2" is "2.0".
    for version in [None, Some("2")] {
        let id = start(&server, "versionInfo", "0", version);
        let done = server.wait_finished(&id, WAIT).unwrap();
        assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    }
}

/// None: every version runs; CurrentOrOlder + Fail fails only newer ones.
#[test]
fn no_match_strategy_runs_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::start(dir.path(), &seed_config(&versioning("1.0", "None", "Fail"))).unwrap();
    let id = start(&server, "versionInfo", "0", Some("9.9"));
    assert_eq!(
        server.wait_finished(&id, WAIT).unwrap()["output"]["version"],
        "9.9"
    );
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let config = seed_config(&versioning("1.10", "CurrentOrOlder", "Fail"));
    let server = Server::start(dir.path(), &config).unwrap();
    let newer = start(&server, "versionInfo", "0", Some("1.9.1"));
    let same = start(&server, "versionInfo", "0", Some("1.10"));
    let none = start(&server, "versionInfo", "0", Some(""));
    let too_new = start(&server, "versionInfo", "0", Some("1.11"));
    for id in [&newer, &same, &none] {
        let done = server.wait_finished(id, WAIT).unwrap();
        assert_eq!(done["runtimeStatus"], "Completed", "{id}: {done}");
    }
    let done = server.wait_finished(&too_new, WAIT).unwrap();
    assert_eq!(done["runtimeStatus"], "Failed", "{done}");
}
