//! JavaScript apps end to end: the seed's own `app.js`, unchanged, and a test app covering the
//! Durable Functions programming model, on the real host (JS runtime components built by
//! `make build`, snapshots and compiled code in the shared test cache).

use std::path::PathBuf;
use std::time::Duration;

use e2e::{KEY, Server, count_events, js_config, root};
use serde_json::{Value, json};

fn seed_js() -> PathBuf {
    root().join("examples/seed-js/app.js")
}

fn test_js() -> PathBuf {
    root().join("tests/js/app.js")
}

fn start_test_app(dir: &std::path::Path) -> Server {
    Server::start_js(dir, &js_config(&[test_js()], "")).unwrap()
}

/// `POST /api/start/{name}` of the test app (anonymous); returns the instance id.
fn start(server: &Server, name: &str, input: &Value) -> String {
    let r = server
        .request(
            "POST",
            &format!("/api/start/{name}"),
            Some(&input.to_string()),
        )
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    r.json().unwrap()["id"].as_str().unwrap().to_owned()
}

fn finished(server: &Server, id: &str) -> Value {
    server.wait_finished(id, Duration::from_secs(30)).unwrap()
}

#[test]
fn the_seeds_file_is_the_recipes_code_block() {
    let ours = std::fs::read_to_string(seed_js()).unwrap();
    let recipe = root().join("../shared/seed/durable-orchestration-recipe.txt");
    // The recipe lives beside the repository on development machines, not in a CI clone.
    if let Ok(text) = std::fs::read_to_string(recipe) {
        let start = text.find("const { app } = require").unwrap();
        let end = text.find("Implementation Notes").unwrap();
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(squash(&ours), squash(&text[start..end]));
    }
    for line in [
        "app.http(\"startOrderOrchestration\", {",
        "df.app.orchestration(\"orderProcessingOrchestrator\", function* (context) {",
        "return { ...order, validatedUtc: new Date().toISOString() };",
    ] {
        assert!(ours.contains(line), "{line}");
    }
}

#[test]
fn the_seeds_own_javascript_serves_the_order_flow() {
    let dir = tempfile::tempdir().unwrap();
    let config = root().join("examples/seed-js/durable.toml");
    let server = Server::start_js_with(&config, &dir.path().join("data")).unwrap();
    let path = "/api/orchestrators/order-processing";
    let order = json!({"orderId": "JS-1", "customerId": "C-1"});
    // authLevel "function": no key, no entry.
    let r = server
        .request("POST", path, Some(&order.to_string()))
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    let r = server
        .request("POST", &Server::keyed(path), Some(&order.to_string()))
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let body = r.json().unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), body["statusQueryGetUri"].as_str());
    for field in ["statusQueryGetUri", "sendEventPostUri", "terminatePostUri"] {
        let uri = body[field].as_str().unwrap();
        assert!(uri.contains(&id) && uri.contains(KEY), "{field}: {uri}");
    }
    let status = finished(&server, &id);
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    assert_eq!(
        status["output"],
        json!({"orderId": "JS-1", "reservationId": "JS-1-inv", "status": "Confirmed"})
    );
    assert_eq!(status["name"], "orderProcessingOrchestrator");
    // The handler's context.log reached the host's log.
    assert_eq!(count_events(&server, &id, "TaskCompleted").unwrap(), 3);

    let bad = server
        .request("POST", &Server::keyed(path), Some(r#"{"orderId":"JS-2"}"#))
        .unwrap();
    assert_eq!(bad.status, 202, "{}", bad.body);
    let bad_id = bad.json().unwrap()["id"].as_str().unwrap().to_owned();
    let status = finished(&server, &bad_id);
    assert_eq!(status["runtimeStatus"], "Failed", "{status}");
    let output = status["output"].as_str().unwrap();
    assert!(
        output.contains("orderId and customerId are required."),
        "{output}"
    );
    // A body that is not JSON: the handler's `await request.json()` throws, the caller gets a
    // 500 with the JS message (as Azure Functions answers an unhandled exception).
    let r = server
        .request("POST", &Server::keyed(path), Some("not json"))
        .unwrap();
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("not JSON"), "{}", r.body);
}

#[test]
fn the_programming_model_works_in_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_test_app(dir.path());

    let id = start(&server, "fanOut", &json!([1, 2, 3, 4]));
    assert_eq!(finished(&server, &id)["output"], json!(20));

    // context.df.version: the version given at start (none here: null).
    let id = start(&server, "versioned", &json!(null));
    assert_eq!(finished(&server, &id)["output"], json!({"version": null}));
    let path = Server::keyed("/api/orchestrators/versioned?version=4.2");
    let r = server.request("POST", &path, Some("null")).unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json().unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(finished(&server, &id)["output"], json!({"version": "4.2"}));

    let id = start(&server, "jsonRules", &json!(null));
    let expected = json!({
        "keys": ["b", "a", "__proto__"], "b": 3, "ownProto": true, "revived": [10, 20],
        "nested": {"x": [true, null, "s\u{e9}", 1.5, -2, 1e20]}, "error": "SyntaxError",
        // JSON.stringify's rules, on the native path and the builtin's alike.
        "stringified": [
            r#"{"1":"one","2":"two","b":1,"a":[1,null,null]}"#,
            r#"{"d":"1970-01-01T00:00:00.000Z","n":[null,0,1.5,1e+21,null]}"#,
            "\"q\\\"\\\\\\n\\u0001\\ud800\u{e9}\"",
            r#"{"g":7,"nested":"tj"}"#,
            r#"[{},{},{"k":1}]"#,
            true,
            "{\n  \"a\": 1\n}",
            r#"{"b":2}"#,
            "TypeError",
            r#"{"f":"fn","k":1}"#
        ]
    });
    assert_eq!(finished(&server, &id)["output"], expected);

    let id = start(&server, "dateShape", &json!(null));
    let expected = json!({
        "length": 7, "name": "Date", "keys": [], "instance": true, "ctor": true, "sub": true,
        "parsed": 1577836800000u64, "utc": 1577836800000u64, "nowName": "now"
    });
    assert_eq!(finished(&server, &id)["output"], expected);

    let id = start(&server, "catcher", &json!(null));
    let out = finished(&server, &id);
    assert_eq!(out["runtimeStatus"], "Completed", "{out}");
    let caught = out["output"]["caught"].as_str().unwrap();
    assert!(caught.contains("kaboom x"), "{caught}");

    let id = start(&server, "parent", &json!(null));
    let out = finished(&server, &id);
    assert_eq!(out["output"]["child"]["doubled"], json!(42), "{out}");
    assert_eq!(out["output"]["child"]["parentInstanceId"], json!(id));
    assert_eq!(out["output"]["parent"], json!(true));

    let id = start(&server, "counter", &json!(0));
    assert_eq!(finished(&server, &id)["output"], json!(3));

    let id = start(&server, "forbidden", &json!(null));
    let out = finished(&server, &id)["output"].clone();
    let messages: Vec<&str> = out
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert_eq!(messages.len(), 3, "{out}");
    assert!(messages[0].contains("setTimeout") && messages[0].contains("context.df.createTimer"));
    assert!(messages[1].contains("fetch") && messages[1].contains("call an activity"));
    assert!(messages[2].contains("setInterval"));

    // Activities: `new Date()` reads the wall clock, console output is logged with the call.
    let id = start(&server, "stamped", &json!(null));
    let out = finished(&server, &id)["output"].clone();
    let utc = out["utc"].as_str().unwrap();
    assert!(
        utc.starts_with("20") && utc.ends_with('Z') && !utc.starts_with("1970"),
        "{utc}"
    );
    assert_eq!(out["name"], "stamp");
    let log = server.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("stamping for {id}")) && l.contains(&id[..8])),
        "{log}"
    );
}

#[test]
fn http_functions_are_code_with_a_durable_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_test_app(dir.path());
    // The handler branches and builds its own response.
    let r = server
        .request("POST", "/api/start/nothing", Some("{}"))
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json().unwrap(), json!({"error": "there is no nothing"}));
    // waitForCompletionOrCreateCheckStatusResponse: the output when it finishes in time.
    let r = server
        .request("POST", "/api/start/fanOut?wait=1", Some("[5]"))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json().unwrap(), json!(10));
    // A chosen instance id, getStatus, raiseEvent and terminate through the client.
    let r = server
        .request("POST", "/api/start/approval?id=js-approval-1", Some("null"))
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    server
        .wait_until("js-approval-1", Duration::from_secs(10), |s| {
            s["customStatus"] == json!({"waiting": true})
        })
        .unwrap();
    let status = server
        .request(
            "GET",
            &Server::keyed("/api/manage/status/js-approval-1"),
            None,
        )
        .unwrap();
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.json().unwrap()["runtimeStatus"], "Running");
    let raised = server
        .request(
            "POST",
            &Server::keyed("/api/manage/raise/js-approval-1?event=approve"),
            Some(r#""yes""#),
        )
        .unwrap();
    assert_eq!(raised.status, 202, "{}", raised.body);
    assert_eq!(
        finished(&server, "js-approval-1")["output"],
        json!({"approved": "yes"})
    );
    let id = start(&server, "approval", &json!(null));
    let r = server
        .request(
            "POST",
            &Server::keyed(&format!("/api/manage/terminate/{id}")),
            None,
        )
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(finished(&server, &id)["runtimeStatus"], "Terminated");
    // A client error is thrown into the handler, which did not catch it: 500 with the message.
    let r = server
        .request(
            "POST",
            &Server::keyed("/api/manage/raise/no-such-instance?event=x"),
            Some("1"),
        )
        .unwrap();
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        r.body.contains("no instance with id 'no-such-instance'"),
        "{}",
        r.body
    );
}

#[test]
fn retries_follow_retry_options_with_durable_timers() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_test_app(dir.path());
    let id = start(&server, "retrying", &json!(null));
    // Attempt 1 fails, then a 1 s timer; attempt 2, a 2 s timer; attempt 3 fails for good.
    for _ in 0..2 {
        server
            .wait_until(&id, Duration::from_secs(10), |_| true)
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        server.advance_clock(2_500).unwrap();
    }
    let out = finished(&server, &id);
    assert_eq!(out["runtimeStatus"], "Failed", "{out}");
    assert!(
        out["output"].as_str().unwrap().contains("kaboom again"),
        "{out}"
    );
    assert_eq!(count_events(&server, &id, "TaskScheduled").unwrap(), 3);
    assert_eq!(count_events(&server, &id, "TimerCreated").unwrap(), 2);
}

#[test]
fn activity_calls_share_an_instance_unless_the_app_says_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_test_app(dir.path());
    let id = start(&server, "countThrice", &json!(null));
    assert_eq!(finished(&server, &id)["output"], json!([1, 2, 3]));
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[apps]]\njs = \"{}\"\nreuse_instances = false\n",
        test_js().display()
    );
    let server = Server::start_js(dir.path(), &config).unwrap();
    let id = start(&server, "countThrice", &json!(null));
    assert_eq!(finished(&server, &id)["output"], json!([1, 1, 1]));
}

#[test]
fn misbehaving_javascript_is_contained_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_test_app(dir.path());
    let id = start(&server, "spin", &json!(null));
    let out = finished(&server, &id);
    assert_eq!(out["runtimeStatus"], "Failed", "{out}");
    assert!(out["output"].as_str().unwrap().contains("fuel"), "{out}");

    let id = start(&server, "thrower", &json!(null));
    let out = finished(&server, &id);
    assert_eq!(out["runtimeStatus"], "Failed", "{out}");
    let message = out["output"].as_str().unwrap();
    assert!(message.contains("TypeError"), "{message}");
    let history = server
        .status(&id, "?showHistory=true")
        .unwrap()
        .json()
        .unwrap();
    let failed = history["historyEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["EventType"] == "ExecutionFailed")
        .cloned()
        .unwrap();
    assert!(failed.to_string().contains("app.js"), "the stack: {failed}");

    let id = start(&server, "throwsObject", &json!(null));
    let out = finished(&server, &id);
    let message = out["output"].as_str().unwrap();
    assert!(message.contains("Custom: custom failure"), "{message}");

    let id = start(&server, "deepRecursion", &json!(null));
    let out = finished(&server, &id);
    assert_eq!(out["runtimeStatus"], "Completed", "{out}");
    assert_eq!(
        out["output"]["caught"],
        "RangeError: Maximum call stack size exceeded"
    );
    let activity = out["output"]["activity"].as_str().unwrap();
    assert!(activity.contains("stack overflow"), "{activity}");

    let id = start(&server, "needsAxios", &json!(null));
    let out = finished(&server, &id);
    assert!(
        out["output"]
            .as_str()
            .unwrap()
            .contains("require(\"axios\")"),
        "{out}"
    );

    // An HTTP function that loops forever is stopped by its CPU budget: 500, named.
    let r = server.request("GET", "/api/spin", None).unwrap();
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("loop forever"), "{}", r.body);

    // The host keeps serving.
    let id = start(&server, "fanOut", &json!([1]));
    assert_eq!(finished(&server, &id)["output"], json!(2));
}

#[test]
fn replay_safe_values_are_the_same_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_test_app(dir.path());
    let id = start(&server, "replaySafe", &json!(null));
    server
        .wait_until(&id, Duration::from_secs(10), |_| true)
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count_events(&server, &id, "TaskCompleted").unwrap() < 1 {
        assert!(std::time::Instant::now() < deadline, "echo never completed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let config = server.config.clone();
    server.kill9();
    let server = Server::start_js_with(&config, &dir.path().join("data")).unwrap();
    assert_eq!(server.raise(&id, "go", "\"now\"").unwrap(), 202);
    let out = finished(&server, &id);
    assert_eq!(out["runtimeStatus"], "Completed", "{out}");
    let output = &out["output"];
    // `values` was computed again on replay; `echoed` is what the first run recorded.
    assert_eq!(output["values"], output["echoed"], "{output}");
    assert_eq!(output["values"]["now"], output["values"]["current"]);
    assert_eq!(output["values"]["sameNow"], true, "{output}");
    let random = output["values"]["random"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&random), "{random}");
    assert_eq!(output["go"], "now");
}

fn refused(app: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.js");
    std::fs::write(&path, app).unwrap();
    let err = Server::start_js(dir.path(), &js_config(&[path], ""))
        .err()
        .expect("the host refuses to start");
    err.to_string()
}

const HEADER: &str =
    "const { app } = require(\"@azure/functions\");\nconst df = require(\"durable-functions\");\n";

#[test]
fn bad_apps_are_refused_at_start_with_a_message() {
    let err = refused(&format!(
        "{HEADER}df.app.orchestration(\"x\", function* (context) {{\n  const a = ;\n}});\n"
    ));
    assert!(err.contains("bad.js") && err.contains("line 4"), "{err}");
    assert!(err.contains("col"), "{err}");

    let err = refused(&format!("{HEADER}const axios = require(\"axios\");\n"));
    assert!(
        err.contains("require(\"axios\")") && err.contains("bad.js"),
        "{err}"
    );

    let err = refused(&format!(
        "{HEADER}df.app.orchestration(\"twice\", function* () {{}});\ndf.app.orchestration(\"twice\", function* () {{}});\n"
    ));
    assert!(err.contains("\"twice\" is registered twice"), "{err}");

    let err = refused(&format!(
        "{HEADER}app.http(\"mine\", {{ route: \"orchestrators/{{name}}\", handler: async () => ({{}}) }});\n"
    ));
    assert!(
        err.contains("/api/orchestrators/{name}") && err.contains("collides"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // Top-level code that never ends is stopped, and named (it would have hung the start).
    let err = refused(&format!("{HEADER}for (;;) {{}}\n"));
    assert!(
        err.contains("bad.js") && err.contains("does it loop forever?"),
        "{err}"
    );
}

#[test]
fn an_unchanged_app_starts_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("durable.toml");
    std::fs::write(&config, js_config(&[seed_js()], "")).unwrap();
    let first = Server::start_js_with(&config, &dir.path().join("data")).unwrap();
    drop(first);
    let started = std::time::Instant::now();
    let second = Server::start_js_with(&config, &dir.path().join("data")).unwrap();
    let took = started.elapsed();
    assert!(
        !second.stderr().contains("building JS app"),
        "rebuilt: {}",
        second.stderr()
    );
    // Not a timing assertion (benchmarks measure speed): printed for the record.
    eprintln!("cached start of the seed app: {took:?}");
}
