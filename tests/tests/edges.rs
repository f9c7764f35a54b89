//! Edges of the HTTP surface and start-up found by review, each with the test that failed
//! before its fix: the keyless RPC listener refuses web pages, axum's own errors are JSON,
//! starters cannot shadow built-in routes, short master keys are refused, the data is private,
//! and start-up errors print a message, never a backtrace.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use e2e::{KEY, Server, durable_bin, seed_config};

const API: &str = "/runtime/webhooks/durabletask";

/// One request with exactly these header lines (the harness's client always sends its Host).
fn raw(addr: &str, head: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!(
        "{head}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn the_rpc_listener_refuses_web_pages_and_foreign_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let rpc = &server.rpc_addr;
    let port = rpc.rsplit_once(':').unwrap().1;
    let list = "GET /durabletask/instances HTTP/1.1\r\n";
    let (status, _) = raw(rpc, &format!("{list}Host: {rpc}\r\n"), "");
    assert_eq!(status, 200, "a program on this machine is served");
    let (status, _) = raw(rpc, &format!("{list}Host: localhost:{port}\r\n"), "");
    assert_eq!(status, 200);
    // Before the fix every one of these was served.
    let page = format!(
        "POST /durabletask/orchestrators/approvalWorkflow HTTP/1.1\r\nHost: {rpc}\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\n"
    );
    let (status, text) = raw(rpc, &page, "{}");
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("web pages"), "{text}");
    let fetch = format!("{list}Host: {rpc}\r\nSec-Fetch-Site: cross-site\r\n");
    assert_eq!(raw(rpc, &fetch, "").0, 403);
    let rebound = format!("{list}Host: evil.example:{port}\r\n");
    let (status, text) = raw(rpc, &rebound, "");
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("not this loopback listener"), "{text}");
    // Nothing was started by the refused POST.
    let (_, text) = raw(rpc, &format!("{list}Host: {rpc}\r\n"), "");
    assert!(!text.contains("approvalWorkflow"), "{text}");
}

#[test]
fn the_rpc_listeners_uris_point_at_routes_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let r = e2e::request(
        &server.rpc_addr,
        "POST",
        "/durabletask/orchestrators/approvalWorkflow/rpc-2",
        Some("{}"),
        &[],
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let uri = r.json().unwrap()["statusQueryGetUri"]
        .as_str()
        .unwrap()
        .to_owned();
    let prefix = format!("http://{}/durabletask/instances/rpc-2", server.rpc_addr);
    assert!(uri.starts_with(&prefix), "{uri}");
    let path = uri
        .strip_prefix(&format!("http://{}", server.rpc_addr))
        .unwrap();
    let status = e2e::request(&server.rpc_addr, "GET", path, None, &[]).unwrap();
    assert_eq!(status.status, 202, "{}", status.body);
}

#[test]
fn errors_axum_produces_itself_have_the_json_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    // An instance id that is not UTF-8 once decoded.
    let r = server
        .request("GET", &Server::keyed(&format!("{API}/instances/%FF")), None)
        .unwrap();
    assert_eq!(r.status, 400);
    let body = r.json().expect("a JSON error body");
    assert!(body["error"].is_string(), "{body}");
    // A body over the 2 MiB limit.
    let big = format!("\"{}\"", "x".repeat(3 << 20));
    let r = server
        .request(
            "POST",
            &Server::keyed("/api/orchestrators/echo"),
            Some(&big),
        )
        .unwrap();
    assert_eq!(r.status, 413);
    let body = r.json().expect("a JSON error body");
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    assert_eq!(body["Message"], body["error"]);
}

fn serve_fails(dir: &std::path::Path, config: &str, key: &str) -> String {
    let path = dir.join("durable.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(durable_bin())
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
        .arg(dir.join("data"))
        .env("DURABLE_MASTER_KEY", key)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("listening"),
        "refused before serving: {stdout}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn starter_routes_that_collide_with_built_in_routes_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (route, expected) in [
        ("/healthz", "collides with the route '/healthz'"),
        ("/api/orchestrators/{orch}", "collides with the route"),
        (
            "/api/orchestrators/order-processing",
            "collides with the route",
        ),
        ("/api/:name", "write path parameters as {name}"),
    ] {
        let extra = format!("[[starters]]\nroute = \"{route}\"\norchestration = \"echo\"\n");
        let err = serve_fails(dir.path(), &seed_config(&extra), KEY);
        assert!(err.contains(expected), "{route}: {err}");
    }
}

#[test]
fn start_up_errors_are_a_message_not_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_config("[[activities]]\ncomponent = \"no/such/file.wasm\"\n");
    let err = serve_fails(dir.path(), &config, KEY);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{err}");
    assert!(last.contains("no/such/file.wasm"), "{err}");
    assert_eq!(
        last.matches("No such file").count(),
        1,
        "each cause once: {last}"
    );
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");
}

#[test]
fn short_master_keys_are_refused_and_the_data_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let err = serve_fails(dir.path(), &seed_config(""), "x");
    assert!(err.contains("shorter than 16"), "{err}");
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&server.data_dir), 0o700);
        assert_eq!(mode(&server.data_dir.join("durable.sqlite")), 0o600);
    }
}
