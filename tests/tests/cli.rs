//! The `durable` CLI against a running host: start, status, list, raise, suspend/resume,
//! terminate, history, purge, and errors that say what to do.

use std::process::Command;

use e2e::{KEY, Server, durable_bin, seed_config};

/// Runs `durable ARGS --url ... --key ...`; returns (success, stdout, stderr).
fn cli(server: Option<&Server>, key: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let url = server.map_or("http://127.0.0.1:9".to_owned(), |s| {
        format!("http://{}", s.addr)
    });
    let mut cmd = Command::new(durable_bin());
    cmd.args(args)
        .args(["--url", &url])
        .env_remove("DURABLE_MASTER_KEY");
    if let Some(k) = key {
        cmd.args(["--key", k]);
    }
    // Run from an empty dir so no ./.durable/master.key is picked up.
    let dir = tempfile::tempdir().unwrap();
    let out = cmd.current_dir(dir.path()).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_drives_a_running_host() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let k = Some(KEY);

    let (ok, out, err) = cli(
        Some(&server),
        k,
        &[
            "start",
            "echo",
            "--id",
            "cli-1",
            "--input",
            r#"{"a":1}"#,
            "--wait",
            "10",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("finished") && out.contains("\"a\": 1"),
        "{out}"
    );
    let (ok, out, _) = cli(Some(&server), k, &["status", "cli-1"]);
    assert!(ok);
    assert!(out.contains("Completed") && out.contains("echo"), "{out}");
    let (ok, out, _) = cli(Some(&server), k, &["status", "cli-1", "--json"]);
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["output"]["a"], 1);

    let (ok, out, err) = cli(
        Some(&server),
        k,
        &[
            "start",
            "approvalWorkflow",
            "--id",
            "cli-2",
            "--input",
            "{}",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("started cli-2"), "{out}");
    server
        .wait_until("cli-2", std::time::Duration::from_secs(30), |s| {
            s["customStatus"] == "waiting for approval"
        })
        .unwrap();
    let (ok, out, _) = cli(Some(&server), k, &["list", "--status", "Running"]);
    assert!(ok);
    assert!(out.contains("cli-2") && !out.contains("cli-1"), "{out}");
    assert!(cli(Some(&server), k, &["suspend", "cli-2", "--reason", "hold"]).0);
    assert!(cli(Some(&server), k, &["resume", "cli-2"]).0);
    let (ok, out, _) = cli(
        Some(&server),
        k,
        &["raise", "cli-2", "Approval", "--data", r#""yes""#],
    );
    assert!(ok, "{out}");
    let s = server
        .wait_finished("cli-2", std::time::Duration::from_secs(30))
        .unwrap();
    assert_eq!(s["output"], "yes");
    let (ok, out, _) = cli(Some(&server), k, &["history", "cli-2"]);
    assert!(ok);
    for event in [
        "ExecutionStarted",
        "ExecutionSuspended",
        "ExecutionResumed",
        "EventRaised",
        "ExecutionCompleted",
    ] {
        assert!(out.contains(event), "{event} missing:\n{out}");
    }
    let (ok, _, err) = cli(Some(&server), k, &["terminate", "cli-2"]);
    assert!(!ok);
    assert!(err.contains("410") && err.contains("finished"), "{err}");
    assert!(cli(Some(&server), k, &["purge", "cli-2"]).0);
    let (ok, _, err) = cli(Some(&server), k, &["status", "cli-2"]);
    assert!(
        !ok && err.contains("404") && err.contains("durable list"),
        "{err}"
    );

    // Errors that say what to do.
    let (ok, _, err) = cli(Some(&server), None, &["list"]);
    assert!(!ok && err.contains("401") && err.contains("--key"), "{err}");
    let (ok, _, err) = cli(None, k, &["list"]);
    assert!(
        !ok && err.contains("cannot reach the host") && err.contains("durable serve"),
        "{err}"
    );
    let (ok, _, err) = cli(Some(&server), k, &["start", "echo", "--input", "{nope"]);
    assert!(!ok && err.contains("--input is not valid JSON"), "{err}");
}
