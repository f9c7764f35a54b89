//! Activity capability grants: a preopened directory that works (read-only and read-write), a
//! path outside it that is refused, named environment variables only, an outbound allow-list,
//! and the per-call timeout. Everything else is denied by default.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use e2e::{Server, guest, seed_config};
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
