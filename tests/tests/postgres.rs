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

/// The tests of this file run one at a time: several hosts and a database per test on two
/// cores, and timing bounds to check (a takeover within the lease TTL + 2 s).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

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

/// What the clients learnt: orders acknowledged (id, order id) and orders refused (order id),
/// and how long each acknowledged request took.
#[derive(Default)]
struct Outcomes {
    acknowledged: Vec<(String, String)>,
    refused: Vec<(String, u16)>,
    /// Orders answered 200 with their confirmation (a start that waited for the end).
    finished: Vec<String>,
    latencies: Vec<Duration>,
}

/// `clients` threads post orders to `addr` until `stop` (or `per_client` each), with explicit
/// instance ids (`ORDER-ID`), so a refused start can be looked up afterwards.
fn load(
    addr: &str,
    clients: usize,
    per_client: usize,
    stop: &Arc<AtomicBool>,
) -> (Arc<Mutex<Outcomes>>, Vec<std::thread::JoinHandle<()>>) {
    load_on(&[addr.to_owned()], "", clients, per_client, stop)
}

/// Like [`load`], client `c` posting to `addrs[c % len]` with `query` on the starter's URL
/// (`?timeout=S`: the answer waits for the end, 200 when it came in time).
fn load_on(
    addrs: &[String],
    query: &str,
    clients: usize,
    per_client: usize,
    stop: &Arc<AtomicBool>,
) -> (Arc<Mutex<Outcomes>>, Vec<std::thread::JoinHandle<()>>) {
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let threads = (0..clients)
        .map(|c| {
            let addr = addrs[c % addrs.len()].clone();
            let (outcomes, stop) = (Arc::clone(&outcomes), Arc::clone(stop));
            let keyed = Server::keyed("/api/orchestrators/order-processing");
            let path = match query.strip_prefix('?') {
                Some(q) if keyed.contains('?') => format!("{keyed}&{q}"),
                _ => format!("{keyed}{query}"),
            };
            std::thread::spawn(move || {
                for i in 0..per_client {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let order_id = format!("P-{c}-{i}");
                    let body = json!({"orderId": order_id, "customerId": "c"}).to_string();
                    let sent = Instant::now();
                    match e2e::request(&addr, "POST", &path, Some(&body), &[]) {
                        Ok(r) if r.status == 200 => {
                            assert_eq!(r.json().unwrap(), confirmation(&order_id), "{}", r.body);
                            let mut o = outcomes.lock().unwrap();
                            o.finished.push(order_id);
                            o.latencies.push(sent.elapsed());
                        }
                        Ok(r) if r.status == 202 => {
                            let id = r.json().unwrap()["id"].as_str().unwrap().to_owned();
                            let mut o = outcomes.lock().unwrap();
                            o.acknowledged.push((id, order_id));
                            o.latencies.push(sent.elapsed());
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

/// Stops the clients of [`load_on`] and waits for them.
fn stop_load(stop: &AtomicBool, threads: Vec<std::thread::JoinHandle<()>>) {
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
}

fn wait_acknowledged(outcomes: &Mutex<Outcomes>, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while outcomes.lock().unwrap().acknowledged.len() < at_least && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every acknowledged order completed with its confirmation; each instance has exactly one
/// end (`ExecutionCompleted` or `ExecutionFailed`) and a gapless history (checked in the
/// database).
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
             count(*) FILTER (WHERE event_type IN ('ExecutionCompleted', 'ExecutionFailed')) \
             FROM history GROUP BY instance_id \
             HAVING count(*) <> max(seq) + 1 \
                 OR count(*) FILTER \
                    (WHERE event_type IN ('ExecutionCompleted', 'ExecutionFailed')) <> 1",
        )
        .unwrap();
    assert_eq!(bad, "", "histories with gaps or not exactly one completion");
}

#[test]
fn the_seed_app_runs_on_postgres_and_its_state_lives_there() {
    let _one = one_at_a_time();
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
    let _one = one_at_a_time();
    let (stderr, _) = refused_start("mysql://x");
    assert!(stderr.contains("postgres://USER@HOST:PORT/DB"), "{stderr}");
}

#[test]
fn an_unreachable_database_is_refused_after_a_bounded_retry() {
    let _one = one_at_a_time();
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
    let _one = one_at_a_time();
    let (cluster, url) = cluster();
    drop(start(tempfile::tempdir().unwrap().path(), &url));
    cluster
        .psql("durable", "UPDATE durable_schema SET version = 99")
        .unwrap();
    let (stderr, _) = refused_start(&url);
    assert!(
        stderr.contains("database schema version 99 is newer than this binary supports (3)"),
        "{stderr}"
    );
}

#[test]
fn acknowledged_orders_complete_exactly_once_after_kill_9_on_postgres() {
    let _one = one_at_a_time();
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
    stop_load(&stop, threads);
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
    let _one = one_at_a_time();
    survives_under_load(8, 100, |cluster| cluster.restart_immediate().unwrap());
}

#[test]
fn terminated_connections_are_replaced_and_work_goes_on() {
    let _one = one_at_a_time();
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

// Several hosts on one database, with short leases (TTL 2 s, renewed every 0.5 s).

const TTL: Duration = Duration::from_secs(2);
const LEASES: [&str; 4] = ["--lease-ttl-ms", "2000", "--lease-renew-ms", "500"];

/// Starts host `name` on the shared database (its data dir `dir/name`).
fn host(dir: &Path, url: &str, name: &str) -> Server {
    let config = dir.join("durable.toml");
    if !config.exists() {
        std::fs::write(&config, seed_config("")).unwrap();
    }
    let mut args = vec!["--store", url, "--host-id", name];
    args.extend(LEASES);
    Server::start_with_args(&config, &dir.join(name), &args).unwrap()
}

const NAMES: [&str; 3] = ["h0", "h1", "h2"];

fn three_hosts(dir: &Path, url: &str, cluster: &Cluster) -> Vec<Server> {
    let hosts: Vec<Server> = NAMES.iter().map(|n| host(dir, url, n)).collect();
    let took = wait_balanced(cluster, &NAMES);
    eprintln!("3 hosts share the 64 partitions {took:?} after the last one started");
    hosts
}

/// Partitions whose lease `host` holds now.
fn held(cluster: &Cluster, host: &str) -> usize {
    let sql =
        format!("SELECT count(*) FROM partitions WHERE owner = '{host}' AND expires_at > now()");
    cluster.psql("durable", &sql).unwrap().parse().unwrap()
}

/// Waits until `names` share all 64 partitions about evenly; returns how long that took.
fn wait_balanced(cluster: &Cluster, names: &[&str]) -> Duration {
    let started = Instant::now();
    loop {
        let counts: Vec<usize> = names.iter().map(|n| held(cluster, n)).collect();
        let fair = 64 / names.len() - 2;
        if counts.iter().sum::<usize>() == 64 && counts.iter().all(|&c| c >= fair) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "partitions not shared out: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// The store's partition of an instance id (FNV-1a, as the host computes it).
fn partition_of(id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % 64
}

/// Starts `n` approval workflows (timing out after 2.5 s) on `server` under ids of partitions
/// `host` holds, and waits until each waits for its approval.
fn approvals_on(server: &Server, cluster: &Cluster, host: &str, n: usize) -> Vec<String> {
    let sql = format!("SELECT string_agg(id::text, ',') FROM partitions WHERE owner = '{host}'");
    let held: Vec<u64> = cluster
        .psql("durable", &sql)
        .unwrap()
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect();
    let ids: Vec<String> = (0..)
        .map(|i| format!("approval-{i}"))
        .filter(|id| held.contains(&partition_of(id)))
        .take(n)
        .collect();
    for id in &ids {
        let path = format!("/runtime/webhooks/durabletask/orchestrators/approvalWorkflow/{id}");
        let r = server
            .request(
                "POST",
                &Server::keyed(&path),
                Some(r#"{"timeoutMs": 2500}"#),
            )
            .unwrap();
        assert_eq!(r.status, 202, "{}", r.body);
    }
    for id in &ids {
        server
            .wait_until(id, Duration::from_secs(10), |s| {
                s["customStatus"] == "waiting for approval"
            })
            .unwrap();
    }
    ids
}

#[test]
fn three_hosts_share_the_partitions_and_any_host_serves_and_waits_for_any_instance() {
    let _one = one_at_a_time();
    let (cluster, url) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let hosts = three_hosts(dir.path(), &url, &cluster);
    let addrs: Vec<String> = hosts.iter().map(|h| h.addr.clone()).collect();
    // Each client starts orders on one host and waits there for their end (?timeout=): two
    // thirds of them run on another host, which wakes this one when they finish.
    let stop = Arc::new(AtomicBool::new(false));
    let (outcomes, threads) = load_on(&addrs, "?timeout=10", 6, 30, &stop);
    for t in threads {
        t.join().unwrap();
    }
    let o = outcomes.lock().unwrap();
    assert_eq!(
        o.finished.len(),
        180,
        "acknowledged without their end: {:?}, refused: {:?}",
        o.acknowledged,
        o.refused
    );
    eprintln!(
        "180 orders started and awaited across 3 hosts: p50 {:?}, max {:?}",
        median(o.latencies.clone()),
        o.latencies.iter().max()
    );
    for (h, name) in hosts.iter().zip(NAMES) {
        let ran = h.metric("durable_instances_completed_total").unwrap();
        let partitions = h.metric("durable_partitions_held").unwrap();
        eprintln!("{name}: ran {ran} orders, holds {partitions} partitions");
        assert!(ran > 0.0, "{name} ran none");
    }
    // Status and wait from a host other than the one that started it.
    let id = hosts[0]
        .start_order(&json!({"orderId": "X-1", "customerId": "c"}))
        .unwrap();
    for h in &hosts {
        let status = h.wait_finished(&id, Duration::from_secs(30)).unwrap();
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    }
    check_all_completed(&hosts[2], &cluster, &[(id, "X-1".into())]);
}

#[test]
fn kill_9_of_one_of_three_hosts_under_load_moves_its_partitions_within_the_ttl_and_loses_nothing() {
    let _one = one_at_a_time();
    let (cluster, url) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let mut hosts = three_hosts(dir.path(), &url, &cluster);
    let partitions = cluster
        .psql(
            "durable",
            "SELECT string_agg(id::text, ',') FROM partitions WHERE owner = 'h0'",
        )
        .unwrap();
    // The load goes to the survivors; a third of it runs on h0 until it dies. Four clients:
    // with six, three hosts, the database and this test's polling starve each other on two
    // cores, and the takeover measured 1.7-5.4 s for reasons of scheduling, not of leases.
    let addrs = vec![hosts[1].addr.clone(), hosts[2].addr.clone()];
    let stop = Arc::new(AtomicBool::new(false));
    let (outcomes, threads) = load_on(&addrs, "", 4, 10_000, &stop);
    wait_acknowledged(&outcomes, 150);
    let ran_on_h0 = hosts[0]
        .metric("durable_instances_completed_total")
        .unwrap();
    let killed_at = Instant::now();
    hosts.remove(0).kill9();
    // Until the others hold h0's partitions and the first of its instances completes there.
    let sql = format!(
        "SELECT (SELECT count(*) FROM partitions WHERE owner = 'h0') || ' ' || \
         (SELECT count(*) FROM instances WHERE partition IN ({partitions}) \
          AND status = 'Completed')"
    );
    let (mut moved, mut completed_again, mut completed_at_kill) = (None, None, None);
    while moved.is_none() || completed_again.is_none() {
        let counts = cluster.psql("durable", &sql).unwrap();
        let (owned, completed) = counts.split_once(' ').unwrap();
        let completed: u64 = completed.parse().unwrap();
        let at_kill = *completed_at_kill.get_or_insert(completed);
        if owned == "0" {
            moved.get_or_insert(killed_at.elapsed());
        }
        if completed > at_kill {
            completed_again.get_or_insert(killed_at.elapsed());
        }
        assert!(killed_at.elapsed() < Duration::from_secs(30), "no takeover");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (moved, completed_again) = (moved.unwrap(), completed_again.unwrap());
    let before = outcomes.lock().unwrap().acknowledged.len();
    wait_acknowledged(&outcomes, before + 100);
    stop_load(&stop, threads);
    let acknowledged = outcomes.lock().unwrap().acknowledged.clone();
    check_all_completed(&hosts[0], &cluster, &acknowledged);
    eprintln!(
        "h0 ran {ran_on_h0} orders before kill -9; its partitions ({partitions}) moved in \
         {moved:?}, the first of their instances completed {completed_again:?} after the kill; \
         {} acknowledged, all completed exactly once",
        acknowledged.len()
    );
    assert!(moved <= TTL + Duration::from_secs(2), "took {moved:?}");
    // Once a survivor holds the partitions, their instances run again at once: they replay and
    // re-run the activities that were in flight, on 2 cores shared with the load, the other
    // survivor and the database (1.7-2.2 s measured after the move), so the bound is from there.
    assert!(
        completed_again <= moved + Duration::from_secs(3),
        "moved after {moved:?}, completed after {completed_again:?}"
    );
}

#[test]
fn a_host_paused_past_its_lease_has_its_late_writes_refused_and_nothing_stale_is_stored() {
    let _one = one_at_a_time();
    let (cluster, url) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let hosts = three_hosts(dir.path(), &url, &cluster);
    let addrs: Vec<String> = hosts.iter().map(|h| h.addr.clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (outcomes, threads) = load_on(&addrs, "", 6, 10_000, &stop);
    wait_acknowledged(&outcomes, 150);
    // Approvals that h0 runs, whose timers (2.5 s) fall due while it is paused: when it goes
    // on, its timers fire and its actors try to commit the turn they wake. Their new owners
    // have run them to their end (timed out) by then.
    let approvals = approvals_on(&hosts[0], &cluster, "h0", 5);
    let pid = hosts[0].pid().to_string();
    let signal = |s: &str| {
        let ok = std::process::Command::new("kill").args([s, &pid]).status();
        assert!(ok.unwrap().success());
    };
    signal("-STOP");
    std::thread::sleep(TTL + Duration::from_millis(1500));
    let h0_rows = cluster
        .psql(
            "durable",
            "SELECT count(*) FROM partitions WHERE owner = 'h0'",
        )
        .unwrap();
    assert_eq!(h0_rows, "0", "the others took the paused host's partitions");
    signal("-CONT");
    let before = outcomes.lock().unwrap().acknowledged.len();
    wait_acknowledged(&outcomes, before + 150);
    stop_load(&stop, threads);
    let fenced = hosts[0].metric("durable_store_fenced_total").unwrap();
    let acknowledged = outcomes.lock().unwrap().acknowledged.clone();
    for id in &approvals {
        let status = hosts[1].wait_finished(id, Duration::from_secs(30)).unwrap();
        assert_eq!(status["runtimeStatus"], "Failed", "{status}");
        let output = status["output"].as_str().unwrap_or_default();
        assert!(
            output.ends_with("approval timed out after 2500 ms"),
            "{status}"
        );
    }
    check_all_completed(&hosts[1], &cluster, &acknowledged);
    eprintln!(
        "paused h0 for TTL + 1.5 s under load: {fenced} of its late writes refused; {} \
         acknowledged, all completed exactly once",
        acknowledged.len()
    );
    assert!(fenced >= 1.0, "the paused host's late writes were refused");
    // It takes its share again.
    wait_balanced(&cluster, &NAMES);
}

#[test]
fn a_joining_host_takes_its_share_without_a_long_pause_and_a_stopping_one_hands_over_at_once() {
    let _one = one_at_a_time();
    let (cluster, url) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let first = host(dir.path(), &url, "h0");
    assert_eq!(
        held(&cluster, "h0"),
        64,
        "a lone host holds every partition"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (outcomes, threads) = load_on(
        std::slice::from_ref(&first.addr),
        "?timeout=10",
        4,
        10_000,
        &stop,
    );
    let finished = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while outcomes.lock().unwrap().finished.len() < n {
            assert!(Instant::now() < deadline, "orders stopped finishing");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    finished(100);
    let second = host(dir.path(), &url, "h1");
    let took = wait_balanced(&cluster, &["h0", "h1"]);
    let now = outcomes.lock().unwrap().finished.len();
    finished(now + 200);
    stop_load(&stop, threads);
    let o = outcomes.lock().unwrap();
    let slowest = o.latencies.iter().max().copied().unwrap_or_default();
    let ran = second.metric("durable_instances_completed_total").unwrap();
    eprintln!(
        "h1 joined: shared out in {took:?}; {} orders, slowest {slowest:?}, p50 {:?}; h1 ran {ran}",
        o.finished.len(),
        median(o.latencies.clone())
    );
    assert!(
        o.refused.is_empty() && o.acknowledged.is_empty(),
        "all finished in time"
    );
    assert!(slowest < TTL, "a pause of {slowest:?}");
    assert!(ran > 0.0, "the new host runs its share");
    // A clean stop hands every partition over at once.
    let stopping = Instant::now();
    assert!(first.terminate(Duration::from_secs(15)).unwrap());
    while held(&cluster, "h1") < 64 {
        assert!(stopping.elapsed() < TTL * 2, "not handed over");
        std::thread::sleep(Duration::from_millis(5));
    }
    let handed = stopping.elapsed();
    eprintln!("h0 stopped: h1 held all 64 partitions {handed:?} after SIGTERM");
    assert!(handed < Duration::from_secs(1), "{handed:?}");
}
