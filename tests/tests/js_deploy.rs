//! New versions of a JS app while the host runs: `durable deploy app` checks them against
//! in-flight instances, deploys them (in-flight instances stay pinned, new ones and HTTP
//! requests get the new code), migrates instances, refuses route changes and broken code
//! without changing anything; `durable serve --watch` deploys an edited app.js.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::{Server, count_events, js_config};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);

/// Version `v` of the app: the activity's result and the orchestration's last value carry
/// `v`, the HTTP function answers with it.
fn app(v: &str) -> String {
    app_with(v, "step", "")
}

fn app_with(v: &str, first_activity: &str, extra: &str) -> String {
    format!(
        r#"const {{ app }} = require("@azure/functions");
const df = require("durable-functions");

df.app.orchestration("flow", function* (context) {{
  const a = yield context.df.callActivity("{first_activity}", "a");
  yield context.df.waitForExternalEvent("go");
  const b = yield context.df.callActivity("step", "b");
  return [a, b, "{v}"];
}});

df.app.activity("step", {{ handler: (x) => `{v}:${{x}}` }});
df.app.activity("other", {{ handler: (x) => `other:${{x}}` }});

app.http("begin", {{
  methods: ["POST"],
  route: "begin",
  authLevel: "anonymous",
  extraInputs: [df.input.durableClient()],
  handler: async (request, context) => {{
    const client = df.getClient(context);
    const id = await client.startNew("flow");
    return {{ status: 202, jsonBody: {{ id, by: "{v}" }} }};
  }},
}});
{extra}"#
    )
}

/// `POST /api/begin`: (instance id, the version that answered).
fn begin(server: &Server) -> (String, String) {
    let r = server.request("POST", "/api/begin", None).unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let body = r.json().unwrap();
    let field = |k: &str| body[k].as_str().unwrap().to_owned();
    (field("id"), field("by"))
}

/// Waits until the instance has run its first activity and waits for "go".
fn waiting(server: &Server, id: &str) {
    let deadline = Instant::now() + T;
    while count_events(server, id, "TaskCompleted").unwrap() < 1 {
        assert!(Instant::now() < deadline, "{id} did not run its first step");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn go(server: &Server, id: &str) -> Value {
    assert_eq!(server.raise(id, "go", "null").unwrap(), 202);
    let status = server.wait_finished(id, T).unwrap();
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    status["output"].clone()
}

/// `durable deploy app FILE ARGS...` against the server: (success, stdout, stderr).
fn deploy(server: &Server, file: &Path, args: &[&str]) -> (bool, String, String) {
    use std::ffi::OsStr;
    let mut all = vec![OsStr::new("deploy"), OsStr::new("app"), file.as_os_str()];
    all.extend(args.iter().map(OsStr::new));
    server.cli(&all)
}

/// Writes version `source` as `dir/next/app.js` (the name the host serves the app under).
fn version(dir: &Path, source: &str) -> std::path::PathBuf {
    let path = dir.join("next/app.js");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, source).unwrap();
    path
}

#[test]
fn a_js_app_is_checked_deployed_and_migrated_while_the_host_runs() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("app.js");
    std::fs::write(&served, app("v1")).unwrap();
    let server = Server::start_js(dir.path(), &js_config(&[served], "")).unwrap();
    let (first, by) = begin(&server);
    assert_eq!(by, "v1");
    waiting(&server, &first);

    // A new route cannot be served without a restart: refused, nothing changes.
    let extra = r#"app.http("more", { route: "more", handler: async () => ({ body: "x" }) });"#;
    let file = version(dir.path(), &app_with("v2", "step", extra));
    let (ok, out, err) = deploy(&server, &file, &[]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("adds more at /api/more") && err.contains("restart"),
        "{err}"
    );
    // Broken code: refused with the file, line and column.
    let file = version(dir.path(), &app("v2").replace("const a =", "const a = ;"));
    let (ok, _, err) = deploy(&server, &file, &[]);
    assert!(
        !ok && err.contains("app.js") && err.contains("line 5"),
        "{err}"
    );
    // Stored only: an app's HTTP functions would have nowhere to wait for an activation.
    let (ok, _, err) = deploy(&server, &file, &["--no-activate"]);
    assert!(!ok && err.contains("not stored only"), "{err}");
    // A version that calls another activity first would not replay the in-flight instance.
    let file = version(dir.path(), &app_with("v2", "other", ""));
    let (ok, out, err) = deploy(&server, &file, &["--check"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("1 would diverge") && out.contains(&first),
        "{out}"
    );
    let (checked, by) = begin(&server);
    assert_eq!(by, "v1", "a check activates nothing");
    waiting(&server, &checked);

    // A compatible version: checked, then deployed.
    let file = version(dir.path(), &app("v2"));
    let (ok, out, err) = deploy(&server, &file, &["--check"]);
    assert!(ok && out.contains("0 would diverge"), "{out}{err}");
    let (ok, out, err) = deploy(&server, &file, &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains("HTTP functions begin: now serve requests"),
        "{out}"
    );
    let (second, by) = begin(&server);
    assert_eq!(by, "v2", "the HTTP function was swapped");
    waiting(&server, &second);
    // The first instance stays on v1's orchestrator; activities resolve when they are called.
    assert_eq!(go(&server, &first), json!(["v1:a", "v2:b", "v1"]));
    assert_eq!(go(&server, &checked), json!(["v1:a", "v2:b", "v1"]));

    // v3 with --migrate moves the instance still waiting onto it.
    let file = version(dir.path(), &app("v3"));
    let (ok, out, err) = deploy(&server, &file, &["--migrate"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("1 migrated") && out.contains(&format!("migrated {second}")),
        "{out}"
    );
    assert_eq!(go(&server, &second), json!(["v2:a", "v3:b", "v3"]));
    assert_eq!(begin(&server).1, "v3");

    // An app the host does not serve is named.
    let other = dir.path().join("next/other.js");
    std::fs::write(&other, app("v1")).unwrap();
    let (ok, _, err) = deploy(&server, &other, &[]);
    assert!(
        !ok && err.contains("no JS app named 'other.js'") && err.contains("app.js"),
        "{err}"
    );
}

#[test]
fn watch_deploys_an_edited_app() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("app.js");
    std::fs::write(&served, app("v1")).unwrap();
    let config = dir.path().join("durable.toml");
    std::fs::write(&config, js_config(std::slice::from_ref(&served), "")).unwrap();
    let data = dir.path().join("data");
    let server = Server::start_js_with_args(&config, &data, &["--watch"]).unwrap();
    let (first, by) = begin(&server);
    assert_eq!(by, "v1");
    waiting(&server, &first);

    std::fs::write(&served, app("v2")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while begin(&server).1 != "v2" {
        assert!(
            Instant::now() < deadline,
            "not redeployed: {}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(go(&server, &first), json!(["v1:a", "v2:b", "v1"]));

    // A broken edit is refused and named; v2 keeps serving.
    std::fs::write(&served, app("v3").replace("const a =", "const a = ;")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !server.stderr().contains("changed but was refused") {
        assert!(Instant::now() < deadline, "no refusal: {}", server.stderr());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.stderr().contains("line 5"), "{}", server.stderr());
    assert_eq!(begin(&server).1, "v2");
}
