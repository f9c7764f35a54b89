//! `/openapi.json` against the real host: it validates as OpenAPI 3.0 (openapi-spec-validator),
//! every documented operation is served at its path and method, with the documented key check;
//! and the auth levels and named keys of `durable.toml` change who may call what.

use std::process::Command;

use e2e::{KEY, Server, root, seed_config};
use serde_json::Value;

fn document(server: &Server) -> Value {
    let r = server.request("GET", "/openapi.json", None).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().unwrap()
}

#[test]
fn the_document_validates_and_every_operation_is_served_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let doc = document(&server);

    // Valid OpenAPI 3.0, by an independent validator.
    let python = root().join("target/clients-venv/bin/python");
    assert!(python.exists(), "run `make clients` first");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = Command::new(python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, methods) in paths {
        for (method, op) in methods.as_object().unwrap() {
            operations += 1;
            let concrete = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "no-such-thing"
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let method = method.to_ascii_uppercase();
            let level = op["x-auth-level"].as_str().unwrap();
            // Without a key: 401 exactly when the document says a key is needed.
            let anonymous = server.request(&method, &concrete, None).unwrap();
            let needs_key = level != "anonymous";
            assert_eq!(
                anonymous.status == 401,
                needs_key,
                "{method} {path} ({level}) answered {} without a key",
                anonymous.status
            );
            // With the master key the route exists: never "no such route", never 405, never 5xx.
            let keyed = server
                .request(&method, &Server::keyed(&concrete), None)
                .unwrap();
            assert!(
                !keyed.body.contains("no such route") && keyed.status != 405,
                "{method} {path} is documented but not served: {} {}",
                keyed.status,
                keyed.body
            );
            assert!(
                keyed.status < 500,
                "{method} {path}: {} {}",
                keyed.status,
                keyed.body
            );
            let documented = op["responses"].as_object().unwrap();
            assert!(
                documented.contains_key(&keyed.status.to_string()),
                "{method} {path} answered {} which the document does not list ({:?})",
                keyed.status,
                documented.keys().collect::<Vec<_>>()
            );
        }
    }
    assert!(operations >= 20, "only {operations} operations documented");
    // The configured starter is documented with its own auth level.
    assert_eq!(
        paths["/api/orchestrators/order-processing"]["post"]["x-auth-level"],
        "function"
    );
}

#[test]
fn auth_levels_and_named_keys_come_from_durable_toml() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_config(
        r#"
[[keys]]
name = "dashboard"
value = "dashboard-key-0123456789"

[auth_levels]
getStatus = "anonymous"
listInstances = "admin"
"#,
    );
    let server = Server::start(dir.path(), &config).unwrap();
    let api = "/runtime/webhooks/durabletask";

    // The named key starts orders; the URIs it gets back carry it.
    let r = server
        .request(
            "POST",
            "/api/orchestrators/order-processing?code=dashboard-key-0123456789",
            Some(r#"{"orderId":"K-1","customerId":"C"}"#),
        )
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let body = r.json().unwrap();
    assert!(
        body["statusQueryGetUri"]
            .as_str()
            .unwrap()
            .contains("code=dashboard-key-0123456789")
    );
    let id = body["id"].as_str().unwrap().to_owned();

    // getStatus is anonymous now; listInstances needs the master key, not the function key.
    let r = server
        .request("GET", &format!("{api}/instances/{id}"), None)
        .unwrap();
    assert!(r.status == 200 || r.status == 202, "{}", r.body);
    let r = server
        .request(
            "GET",
            &format!("{api}/instances?code=dashboard-key-0123456789"),
            None,
        )
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    // The same route at the path the official clients use: one route, one level (before, the
    // slash path kept its own level, so this answered 200).
    let r = server
        .request(
            "GET",
            &format!("{api}/instances/?code=dashboard-key-0123456789"),
            None,
        )
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    let r = server
        .request("GET", &format!("{api}/instances?code={KEY}"), None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // The header works as well as ?code=; a wrong key does not.
    let r = e2e::request(
        &server.addr,
        "GET",
        &format!("{api}/instances"),
        None,
        &[("x-functions-key", KEY)],
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server
        .request(
            "POST",
            "/api/orchestrators/order-processing?code=dashboard-key-0123456789x",
            Some("{}"),
        )
        .unwrap();
    assert_eq!(r.status, 401);

    // The document shows the levels in force.
    let doc = document(&server);
    assert_eq!(
        doc["paths"][format!("{api}/instances/{{instanceId}}")]["get"]["x-auth-level"],
        "anonymous"
    );
    assert_eq!(
        doc["paths"][format!("{api}/instances")]["get"]["x-auth-level"],
        "admin"
    );
    let slash = &doc["paths"][format!("{api}/instances/")]["get"];
    assert_eq!(slash["x-auth-level"], "admin");
    assert_eq!(slash["operationId"], "listInstancesSlash");
}

#[test]
fn bad_key_and_level_settings_stop_the_host_with_the_reason() {
    for (extra, expected) in [
        (
            "[auth_levels]\nlistComponents = \"anonymous\"\n",
            "admin-only",
        ),
        ("[auth_levels]\nnoSuchRoute = \"admin\"\n", "does not exist"),
        (
            "[auth_levels]\nlistInstances = \"admin\"\nlistInstancesSlash = \"function\"\n",
            "two levels",
        ),
        (
            "[[keys]]\nname = \"short\"\nvalue = \"abc\"\n",
            "shorter than",
        ),
        (
            "[[keys]]\nname = \"env\"\nenv = \"DURABLE_TEST_UNSET_KEY_VARIABLE\"\n",
            "not set",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let err = match Server::start(dir.path(), &seed_config(extra)) {
            Ok(_) => panic!("host started with {extra}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(expected), "{extra}: {err}");
    }
}
