//! The official Durable Functions clients, unmodified, against the real host: npm
//! `durable-functions` 3.x (`DurableClient`, in its keyless RPC mode and its keyed URL-template
//! mode) and PyPI `azure-functions-durable` (`DurableOrchestrationClient`). The scripts live in
//! `tests/clients/`; `make clients` (run by `make test`) installs their pinned packages.
//!
//! Each script starts, queries, lists, raises events, suspends, resumes, terminates and purges,
//! checking every answer the client gives; this test then checks the host's side of the story
//! over plain HTTP: what the script says completed is Completed with one completion event, what it
//! purged is gone.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use e2e::{KEY, Server, count_events, root, seed_config};
use serde_json::Value;

fn node_dir() -> PathBuf {
    let dir = root().join("tests/clients/node");
    assert!(
        dir.join("node_modules/durable-functions/package.json")
            .exists(),
        "the npm client is not installed: run `make clients` (needs node and npm)"
    );
    dir
}

fn python() -> PathBuf {
    let python = root().join("target/clients-venv/bin/python");
    assert!(
        python.exists(),
        "the Python client is not installed: run `make clients` (needs python3 with venv)"
    );
    python
}

/// Runs a client script against `server`; returns the summary line it printed last.
fn run_client(server: &Server, mut command: Command, run_id: &str) -> Value {
    let output = command
        .env("DURABLE_URL", format!("http://{}", server.addr))
        .env("DURABLE_RPC_URL", format!("http://{}", server.rpc_addr))
        .env("DURABLE_KEY", KEY)
        .env("RUN_ID", run_id)
        .output()
        .expect("running the client script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "client script failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}\nhost:\n{}",
        output.status,
        server.stderr()
    );
    let checks = stdout.lines().filter(|l| l.contains("\"check\"")).count();
    assert!(checks >= 15, "only {checks} checks ran:\n{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    let parsed: Value = serde_json::from_str(last).expect("the last line is the summary");
    parsed["summary"].clone()
}

/// The host agrees with what the client reported.
fn cross_check(server: &Server, summary: &Value) {
    let completed = summary["completed"].as_array().unwrap();
    assert!(completed.len() >= 2, "{summary}");
    for id in completed {
        let id = id.as_str().unwrap();
        let status = server.wait_finished(id, Duration::from_secs(10)).unwrap();
        assert_eq!(status["runtimeStatus"], "Completed", "{id}: {status}");
        assert_eq!(
            count_events(server, id, "ExecutionCompleted").unwrap(),
            1,
            "{id}"
        );
    }
    // A start with a version keeps it (status and ExecutionStarted).
    let versioned = summary["versioned"].as_object().expect("a versioned start");
    for (id, version) in versioned {
        let status = server
            .status(id, "?showHistory=true")
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(&status["version"], version, "{status}");
        assert_eq!(&status["historyEvents"][0]["Version"], version, "{status}");
    }
    // What the client's signals left in the entity, read back from the host.
    let entities = summary["entities"].as_object().expect("entity checks ran");
    for (key, value) in entities {
        let path = format!("/runtime/webhooks/durabletask/entities/counter/{key}");
        let r = server.request("GET", &Server::keyed(&path), None).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(&r.json().unwrap(), value, "{key}");
    }
    let purged = summary["purged"].as_array().unwrap();
    assert!(purged.len() >= 2, "{summary}");
    for id in purged {
        let r = server.status(id.as_str().unwrap(), "").unwrap();
        assert_eq!(r.status, 404, "{id} was purged: {}", r.body);
    }
}

#[test]
fn npm_durable_functions_client_in_rpc_and_keyed_modes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let node = node_dir();
    for mode in ["rpc", "keyed"] {
        let mut command = Command::new("node");
        command
            .arg("client.js")
            .current_dir(&node)
            .env("CLIENT_MODE", mode);
        let summary = run_client(&server, command, &format!("node-{mode}"));
        assert_eq!(summary["mode"], mode);
        cross_check(&server, &summary);
    }
}

#[test]
fn pypi_azure_functions_durable_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let mut command = Command::new(python());
    command.arg(root().join("tests/clients/python/client.py"));
    let summary = run_client(&server, command, "py");
    cross_check(&server, &summary);
}

#[test]
fn npm_durable_functions_client_drives_a_js_app() {
    // The seed's own JavaScript beside the test app (its approvalWorkflow is the JS twin of the
    // Rust one the script expects): two JS apps in one config.
    let dir = tempfile::tempdir().unwrap();
    let apps = [
        root().join("examples/seed-js/app.js"),
        root().join("tests/js/app.js"),
    ];
    // The entity checks use the seed's Counter (a Rust component beside the JS apps).
    let entities = format!(
        "[[entities]]\ncomponent = \"{}\"\n",
        e2e::guest("entities").display()
    );
    let server = Server::start_js(dir.path(), &e2e::js_config(&apps, &entities)).unwrap();
    let mut command = Command::new("node");
    command
        .arg("client.js")
        .current_dir(node_dir())
        .env("CLIENT_MODE", "rpc");
    let summary = run_client(&server, command, "node-js");
    assert_eq!(summary["mode"], "rpc");
    cross_check(&server, &summary);
}
