//! Activity capability grants: a preopened directory that works (read-only and read-write), a
//! path outside it that is refused, named environment variables only, an outbound allow-list,
//! and the per-call timeout. Everything else is denied by default.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use e2e::{Server, guest, seed_config, test_guests_config};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// Serves one line to every connection, in a background thread.
fn line_server(text: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = writeln!(conn, "{text}");
        }
    });
    addr
}

fn call(server: &Server, name: &str, input: Value) -> Value {
    let id = server
        .start_orchestration(
            "callActivity",
            &json!({"name": name, "input": input}).to_string(),
        )
        .unwrap();
    server.wait_finished(&id, T).unwrap()
}

#[test]
fn activities_get_exactly_what_they_were_granted() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    let rw = dir.path().join("rw");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(ro.join("hello.txt"), "hello from a preopened dir").unwrap();
    let granted = line_server("hello from the host");
    let other = line_server("you should not see this");
    let extra = format!(
        r#"
[[orchestrators]]
component = "{orch}"

[[activities]]
component = "{acts}"
timeout_secs = 1
env = ["PATH"]
connect = ["{granted}"]
[[activities.dirs]]
host = "{ro}"
guest = "/data"
access = "read-only"
[[activities.dirs]]
host = "{rw}"
guest = "/out"
access = "read-write"
"#,
        orch = guest("test-orchestrator").display(),
        acts = guest("test-activities").display(),
        ro = ro.display(),
        rw = rw.display(),
    );
    let server = Server::start(dir.path(), &seed_config(&extra)).unwrap();
    let output = |s: Value| s["output"].clone();

    // Files: inside the preopen works; outside, or escaping it, is refused.
    assert_eq!(
        output(call(&server, "readFile", json!("/data/hello.txt")))["ok"],
        "hello from a preopened dir"
    );
    for path in [
        "/etc/hostname",
        "/data/../hello.txt",
        "/data/../../etc/passwd",
        "hello.txt",
    ] {
        let out = output(call(&server, "readFile", json!(path)));
        assert!(out["error"].is_string(), "{path} must be refused: {out}");
    }
    let out = output(call(
        &server,
        "writeFile",
        json!({"path": "/data/new.txt", "text": "x"}),
    ));
    assert!(
        out["error"].is_string(),
        "a read-only grant must refuse writes: {out}"
    );
    assert!(!ro.join("new.txt").exists());
    let out = output(call(
        &server,
        "writeFile",
        json!({"path": "/out/new.txt", "text": "written by wasm"}),
    ));
    assert_eq!(out["ok"], "written", "{out}");
    assert_eq!(
        std::fs::read_to_string(rw.join("new.txt")).unwrap(),
        "written by wasm"
    );

    // Environment: the named variable, nothing else.
    let out = output(call(&server, "getEnv", json!("PATH")));
    assert_eq!(out["value"], std::env::var("PATH").unwrap());
    assert_eq!(out["count"], 1, "only granted variables are visible: {out}");
    assert_eq!(
        output(call(&server, "getEnv", json!("HOME")))["value"],
        Value::Null
    );

    // Network: the allow-listed address only.
    let out = output(call(&server, "connect", json!(granted)));
    assert_eq!(out["ok"], "hello from the host", "{out}");
    let out = output(call(&server, "connect", json!(other)));
    assert!(
        out["error"].is_string(),
        "a non-granted address must be refused: {out}"
    );

    // Time: an endless activity is stopped by its timeout and the orchestration says so.
    let s = call(&server, "spinForever", json!(null));
    assert_eq!(s["runtimeStatus"], "Failed");
    assert!(
        s["output"].as_str().unwrap().contains("timed out after 1s"),
        "{s}"
    );
}

#[test]
fn bad_grants_are_refused_at_startup_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (grant, expected) in [
        (
            "env = [\"DURABLE_SURELY_UNSET_VARIABLE\"]",
            "DURABLE_SURELY_UNSET_VARIABLE, which is not set",
        ),
        ("connect = [\"localhost\"]", "must be IP:port"),
        (
            "[[activities.dirs]]\nhost = \"/nonexistent/dir\"\nguest = \"/data\"",
            "does not exist",
        ),
        (
            "[[activities.dirs]]\nhost = \".\"\nguest = \"data\"",
            "must be absolute",
        ),
    ] {
        let config = format!(
            "[[activities]]\ncomponent = \"{}\"\n{grant}\n",
            guest("test-activities").display()
        );
        let path = dir.path().join("durable.toml");
        std::fs::write(&path, config).unwrap();
        let out = std::process::Command::new(e2e::durable_bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--rpc-listen",
                "off",
                "--config",
            ])
            .arg(&path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "expected '{expected}' in: {err}");
    }
}

#[test]
fn hostile_activities_are_contained_and_limits_come_from_the_grant() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let server = Server::start(dir.path(), &test_guests_config("memory_mib = 64\nmax_result_kib = 16\nmax_concurrency = 1\nretry = { max_attempts = 3, first_delay_ms = 10 }", &out, "/out")).unwrap();
    let failure = |s: &Value| {
        assert_eq!(s["runtimeStatus"], "Failed", "{s}");
        s["output"].as_str().unwrap().to_owned()
    };

    // A memory bomb hits the grant's cap; deep recursion overflows the stack; both are named.
    let bomb = failure(&call(&server, "allocate", json!(1000)));
    assert!(bomb.contains("memory limit of 64 MiB exceeded"), "{bomb}");
    let deep = failure(&call(&server, "recurse", json!(10_000_000)));
    assert!(
        deep.contains("stack overflow") || deep.contains("deep recursion"),
        "{deep}"
    );
    // A huge result fails the call; a small one passes.
    let huge = failure(&call(&server, "bigResult", json!(100_000)));
    assert!(huge.contains("over the limit of 16 KiB"), "{huge}");
    let small = call(&server, "bigResult", json!(100));
    assert_eq!(small["output"].as_str().unwrap().len(), 100);

    // Host-side retries: two failures then success completes; a third failure is reported with
    // the number of attempts.
    let ok = call(
        &server,
        "failTimes",
        json!({"path": "/out/a.count", "times": 3}),
    );
    assert_eq!(ok["runtimeStatus"], "Completed", "{ok}");
    assert_eq!(ok["output"], 3);
    let gave_up = failure(&call(
        &server,
        "failTimes",
        json!({"path": "/out/b.count", "times": 5}),
    ));
    assert!(gave_up.contains("(after 3 attempts)"), "{gave_up}");
    assert_eq!(std::fs::read_to_string(out.join("b.count")).unwrap(), "3");

    // max_concurrency = 1: calls of this component never overlap.
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let input = json!({"name": "slowAppend", "input": {"ms": 100, "path": "/out/log.txt", "line": i.to_string(), "marks": true}});
            server
                .start_orchestration("callActivity", &input.to_string())
                .unwrap()
        })
        .collect();
    for id in &ids {
        assert_eq!(
            server.wait_finished(id, T).unwrap()["runtimeStatus"],
            "Completed"
        );
    }
    let log = std::fs::read_to_string(out.join("log.txt")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 6, "{log}");
    for pair in lines.chunks(2) {
        assert_eq!(
            pair[0].strip_prefix("start-"),
            Some(pair[1]),
            "calls overlapped:\n{log}"
        );
    }

    // The host kept serving throughout.
    let id = server
        .start_order(&json!({"orderId": "H-1", "customerId": "c"}))
        .unwrap();
    assert_eq!(
        server.wait_finished(&id, T).unwrap()["runtimeStatus"],
        "Completed"
    );
}
