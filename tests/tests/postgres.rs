//! The seed app on a PostgreSQL store (`--store postgres://...`), a real server started by the
//! test (`pgtest`): the flow, kill -9 of the host, a crash-restart of the database and
//! terminated connections under load. Nothing acknowledged is lost; nothing refused happened.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{Server, confirmation, seed_config};
use pgtest::Cluster;
use serde_json::json;

fn cluster() -> (Cluster, String) {
    let cluster = Cluster::start().unwrap();
    let url = cluster.create_database("durable").unwrap();
    (cluster, url)
}

fn start(dir: &Path, url: &str) -> Server {
    let config = dir.join("durable.toml");
    if !config.exists() {
        std::fs::write(&config, seed_config("")).unwrap();
    }
    Server::start_with_args(&config, &dir.join("data"), &["--store", url]).unwrap()
}

/// What the clients learnt: orders acknowledged (id, order id) and orders refused (order id).
#[derive(Default)]
struct Outcomes {
    acknowledged: Vec<(String, String)>,
    refused: Vec<(String, u16)>,
}

/// `clients` threads post orders to `addr` until `stop` (or `per_client` each), with explicit
/// instance ids (`ORDER-ID`), so a refused start can be looked up afterwards.
fn load(
    addr: &str,
    clients: usize,
    per_client: usize,
    stop: &Arc<AtomicBool>,
) -> (Arc<Mutex<Outcomes>>, Vec<std::thread::JoinHandle<()>>) {
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let threads = (0..clients)
        .map(|c| {
            let (addr, outcomes, stop) = (addr.to_owned(), Arc::clone(&outcomes), Arc::clone(stop));
            std::thread::spawn(move || {
                for i in 0..per_client {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let order_id = format!("P-{c}-{i}");
                    let body = json!({"orderId": order_id, "customerId": "c"}).to_string();
                    let path = Server::keyed("/api/orchestrators/order-processing");
                    match e2e::request(&addr, "POST", &path, Some(&body), &[]) {
                        Ok(r) if r.status == 202 => {
                            let id = r.json().unwrap()["id"].as_str().unwrap().to_owned();
                            outcomes.lock().unwrap().acknowledged.push((id, order_id));
                        }
                        Ok(r) => outcomes.lock().unwrap().refused.push((order_id, r.status)),
                        // The host died mid-request: neither acknowledged nor refused.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    (outcomes, threads)
}

fn wait_acknowledged(outcomes: &Mutex<Outcomes>, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while outcomes.lock().unwrap().acknowledged.len() < at_least && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every acknowledged order completed with its confirmation; each instance has exactly one
/// `ExecutionCompleted` and a gapless history (checked in the database).
fn check_all_completed(server: &Server, cluster: &Cluster, acknowledged: &[(String, String)]) {
    for (id, order_id) in acknowledged {
        let status = server.wait_finished(id, Duration::from_secs(60)).unwrap();
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
        assert_eq!(status["output"], confirmation(order_id));
    }
    let bad = cluster
        .psql(
            "durable",
            "SELECT instance_id, count(*), max(seq), \
             count(*) FILTER (WHERE event_type = 'ExecutionCompleted') FROM history \
             GROUP BY instance_id \
             HAVING count(*) <> max(seq) + 1 \
                 OR count(*) FILTER (WHERE event_type = 'ExecutionCompleted') <> 1",
        )
        .unwrap();
    assert_eq!(bad, "", "histories with gaps or not exactly one completion");
}

#[test]
fn the_seed_app_runs_on_postgres_and_its_state_lives_there() {
    let (cluster, url) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &url);
    let id = server
        .start_order(&json!({"orderId": "PG-1", "customerId": "c"}))
        .unwrap();
    let status = server.wait_finished(&id, Duration::from_secs(30)).unwrap();
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    assert_eq!(status["output"], confirmation("PG-1"));
    let bad = server.start_order(&json!({"orderId": "PG-2"})).unwrap();
    let status = server.wait_finished(&bad, Duration::from_secs(30)).unwrap();
    assert_eq!(status["runtimeStatus"], "Failed", "{status}");
    let output = status["output"].as_str().unwrap_or_default();
    assert!(
        output.ends_with("orderId and customerId are required."),
        "{output}"
    );
    let rows = cluster
        .psql(
            "durable",
            &format!("SELECT status FROM instances WHERE instance_id = '{id}'"),
        )
        .unwrap();
    assert_eq!(rows, "Completed");
    drop(server);

    // A host with an empty data dir on the same database sees everything.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("durable.toml"),
        other.path().join("durable.toml"),
    )
    .unwrap();
    let server = start(other.path(), &url);
    let r = server.status(&id, "?showHistory=true").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let history = r.json().unwrap()["historyEvents"].as_array().unwrap().len();
    assert!(history >= 8, "{history} events");
    assert!(!other.path().join("data/durable.sqlite").exists());
}

/// `durable serve --store STORE` on the seed config, expected to fail: its stderr and how long
/// it took.
fn refused_start(store: &str) -> (String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("durable.toml");
    std::fs::write(&config, seed_config("")).unwrap();
    let began = Instant::now();
    let out = std::process::Command::new(e2e::durable_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--rpc-listen", "off"])
        .args(["--store", store])
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "the host must refuse to start");
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        began.elapsed(),
    )
}

#[test]
fn a_bad_store_url_is_refused_with_a_message() {
    let (stderr, _) = refused_start("mysql://x");
    assert!(stderr.contains("postgres://USER@HOST:PORT/DB"), "{stderr}");
}

#[test]
fn an_unreachable_database_is_refused_after_a_bounded_retry() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (stderr, took) = refused_start(&format!("postgres://durable@127.0.0.1:{port}/durable"));
    assert!(stderr.contains("gave up after 10s"), "{stderr}");
    assert!(stderr.contains("onnection refused"), "{stderr}");
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn a_database_from_a_newer_version_is_refused_naming_both_versions() {
    let (cluster, url) = cluster();
    drop(start(tempfile::tempdir().unwrap().path(), &url));
    cluster
        .psql("durable", "UPDATE durable_schema SET version = 99")
        .unwrap();
    let (stderr, _) = refused_start(&url);
    assert!(
        stderr.contains("database schema version 99 is newer than this binary supports (1)"),
        "{stderr}"
    );
}

#[test]
fn acknowledged_orders_complete_exactly_once_after_kill_9_on_postgres() {
    let (cluster, url) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &url);
    let stop = Arc::new(AtomicBool::new(false));
    let (outcomes, clients) = load(&server.addr, 8, 200, &stop);
    wait_acknowledged(&outcomes, 150);
    server.kill9();
    for c in clients {
        c.join().unwrap();
    }
    let acknowledged = outcomes.lock().unwrap().acknowledged.clone();
    assert!(
        acknowledged.len() >= 150,
        "{} acknowledged",
        acknowledged.len()
    );
    let unfinished = cluster
        .psql(
            "durable",
            "SELECT count(*) FROM instances WHERE status IN ('Pending','Running')",
        )
        .unwrap();
    eprintln!(
        "acknowledged {}, {unfinished} unfinished at the kill",
        acknowledged.len()
    );
    let server = start(dir.path(), &url);
    check_all_completed(&server, &cluster, &acknowledged);
}

/// Starts refused during an outage must not have happened: no instance with that id exists.
fn check_refused_did_not_happen(cluster: &Cluster, refused: &[(String, u16)]) {
    for (order_id, status) in refused {
        assert_eq!(*status, 503, "order {order_id}: unexpected status");
    }
    let ids: Vec<String> = refused.iter().map(|(o, _)| format!("'{o}'")).collect();
    if ids.is_empty() {
        return;
    }
    let found = cluster
        .psql(
            "durable",
            &format!(
                "SELECT count(*) FROM instances WHERE input::jsonb ->> 'orderId' IN ({})",
                ids.join(",")
            ),
        )
        .unwrap();
    assert_eq!(found, "0", "refused starts left instances behind");
}

/// `clients` post orders; once `warmup` are acknowledged, `fault` strikes the database. The
/// host must then acknowledge 100 more, complete every acknowledged order exactly once, and
/// have left nothing behind for the starts it refused.
fn survives_under_load(clients: usize, warmup: usize, fault: impl FnOnce(&Cluster)) {
    let (cluster, url) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &url);
    let stop = Arc::new(AtomicBool::new(false));
    let (outcomes, threads) = load(&server.addr, clients, 10_000, &stop);
    wait_acknowledged(&outcomes, warmup);
    fault(&cluster);
    let before = outcomes.lock().unwrap().acknowledged.len();
    // The host keeps serving once the database is back.
    wait_acknowledged(&outcomes, before + 100);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let (acknowledged, refused) = {
        let o = outcomes.lock().unwrap();
        (o.acknowledged.clone(), o.refused.clone())
    };
    let n = acknowledged.len();
    assert!(n >= before + 100, "{n} acknowledged");
    eprintln!("acknowledged {n}, refused {}", refused.len());
    check_all_completed(&server, &cluster, &acknowledged);
    check_refused_did_not_happen(&cluster, &refused);
}

#[test]
fn a_database_crash_under_load_loses_nothing_acknowledged() {
    survives_under_load(8, 100, |cluster| cluster.restart_immediate().unwrap());
}

#[test]
fn terminated_connections_are_replaced_and_work_goes_on() {
    survives_under_load(4, 50, |cluster| {
        let killed = cluster
            .psql(
                "durable",
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = 'durable' AND pid <> pg_backend_pid()) t",
            )
            .unwrap();
        assert_ne!(killed, "0", "the host's connections were terminated");
    });
}

#[test]
fn a_second_host_on_the_same_database_is_refused_until_leases_exist() {
    let (_cluster, url) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), &url);
    let other = tempfile::tempdir().unwrap();
    let config = dir.path().join("durable.toml");
    let second = Server::start_with_args(&config, &other.path().join("data"), &["--store", &url]);
    let err = second.err().expect("a second host must not start");
    assert!(
        err.to_string()
            .contains("another durable host is serving this database"),
        "{err}"
    );
    // The first host is untouched, and once it is gone another may take over.
    let id = first
        .start_order(&json!({"orderId": "PG-3", "customerId": "c"}))
        .unwrap();
    first.kill9();
    let next =
        Server::start_with_args(&config, &other.path().join("data"), &["--store", &url]).unwrap();
    let status = next.wait_finished(&id, Duration::from_secs(30)).unwrap();
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
}
