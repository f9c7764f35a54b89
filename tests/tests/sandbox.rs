//! The orchestrator sandbox: refused imports, and hostile guests that are contained while the
//! host keeps serving.

use std::process::Command;
use std::time::Duration;

use e2e::{KEY, Server, confirmation, durable_bin, guest, seed_config};
use serde_json::json;

#[test]
fn an_orchestrator_that_imports_wasi_is_refused_at_load_naming_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[orchestrators]]\ncomponent = \"{}\"\n",
        guest("test-orchestrator-wasi").display()
    );
    let config_path = dir.path().join("durable.toml");
    std::fs::write(&config_path, config).unwrap();
    let out = Command::new(durable_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config_path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("DURABLE_MASTER_KEY", KEY)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the host must refuse to start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("orchestrator refused"), "{stderr}");
    assert!(stderr.contains("wasi:clocks/wall-clock"), "{stderr}");
    assert!(stderr.contains("ctx.current_time_ms()"), "{stderr}");
    assert!(!stderr.contains("  - durable:engine/context"), "{stderr}");
}

fn hostile_config() -> String {
    seed_config(&format!(
        "\n[[orchestrators]]\ncomponent = \"{}\"\n",
        guest("test-orchestrator").display()
    ))
}

fn start(server: &Server, name: &str, input: &str) -> String {
    let r = server
        .request(
            "POST",
            &Server::keyed(&format!("/api/orchestrators/{name}")),
            Some(input),
        )
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    r.json().unwrap()["id"].as_str().unwrap().to_owned()
}

#[test]
fn hostile_orchestrators_fail_with_their_cause_and_the_host_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &hostile_config()).unwrap();

    let panicky = start(&server, "panicky", "7");
    let spin = start(&server, "spin", "3");
    let bomb = start(&server, "memoryBomb", "null");
    let missing = start(&server, "callsMissingActivity", "null");
    // Ordinary traffic alongside.
    let orders: Vec<String> = (0..10)
        .map(|i| {
            server
                .start_order(&json!({"orderId": format!("H-{i}"), "customerId": "c"}))
                .unwrap()
        })
        .collect();

    let s = server
        .wait_finished(&panicky, Duration::from_secs(30))
        .unwrap();
    assert_eq!(s["runtimeStatus"], "Failed");
    let out = s["output"].as_str().unwrap();
    assert!(
        out.contains("the guest panicked on purpose (input 7)"),
        "{out}"
    );

    let s = server
        .wait_finished(&spin, Duration::from_secs(60))
        .unwrap();
    assert_eq!(s["runtimeStatus"], "Failed");
    assert!(s["output"].as_str().unwrap().contains("fuel budget"), "{s}");

    let s = server
        .wait_finished(&bomb, Duration::from_secs(30))
        .unwrap();
    assert_eq!(s["runtimeStatus"], "Failed");
    assert!(
        s["output"]
            .as_str()
            .unwrap()
            .contains("memory limit of 64 MiB exceeded"),
        "{s}"
    );

    let s = server
        .wait_finished(&missing, Duration::from_secs(30))
        .unwrap();
    assert_eq!(s["runtimeStatus"], "Failed");
    assert!(
        s["output"]
            .as_str()
            .unwrap()
            .contains("no activity named 'noSuchActivity'"),
        "{s}"
    );

    for (i, id) in orders.iter().enumerate() {
        let s = server.wait_finished(id, Duration::from_secs(30)).unwrap();
        assert_eq!(s["output"], confirmation(&format!("H-{i}")), "{s}");
    }
    // And after all that, a new order still completes.
    let id = server
        .start_order(&json!({"orderId": "after", "customerId": "c"}))
        .unwrap();
    let s = server.wait_finished(&id, Duration::from_secs(20)).unwrap();
    assert_eq!(s["output"], confirmation("after"));
}
