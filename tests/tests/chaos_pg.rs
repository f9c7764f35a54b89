//! Chaos on the PostgreSQL store with three hosts (leases: TTL 2 s, renewed every 0.5 s): seed
//! orders, fan-outs and event waits go to all hosts while, round after round, a random host is
//! killed with SIGKILL (and restarted under its id) or paused with SIGSTOP for a random time,
//! often past its lease, then continued, or the database is killed and restarted. At the end every acknowledged instance must have
//! completed with the right output, exactly once, with a gapless history; the late writes the
//! paused hosts attempted were refused (counted), activity re-runs are counted.
//!
//! `make test` runs a short version (4 rounds); `make chaos-pg` a longer one. CHAOS_ROUNDS and
//! CHAOS_SEED override the number of rounds and the random seed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::chaos::{self, Rng, Work, env_or};
use e2e::{Server, seed_config};
use pgtest::Cluster;
use serde_json::json;

fn start(config: &Path, dir: &Path, url: &str, name: &str) -> Server {
    let args = [
        "--store",
        url,
        "--host-id",
        name,
        "--lease-ttl-ms",
        "2000",
        "--lease-renew-ms",
        "500",
    ];
    Server::start_with_args(config, &dir.join(name), &args).unwrap()
}

type Acked = Arc<Mutex<Vec<(String, Work)>>>;

/// One client: posts a random mix to a random live host until `stop`.
fn client(addrs: Arc<Mutex<Vec<String>>>, acked: Acked, stop: Arc<AtomicBool>, mut rng: Rng) {
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let order_id = format!("C{}-{i}", rng.below(1 << 40));
        let (path, body, work) = chaos::next_work(&mut rng, order_id);
        let addr = {
            let addrs = addrs.lock().unwrap();
            addrs[rng.below(addrs.len() as u64) as usize].clone()
        };
        let path = Server::keyed(&path);
        match e2e::request(&addr, "POST", &path, Some(&body), &[]) {
            Ok(r) if r.status == 202 => {
                let id = r.json().unwrap()["id"].as_str().unwrap().to_owned();
                acked.lock().unwrap().push((id, work));
            }
            // A host killed mid-request (or refusing): nothing promised; try elsewhere.
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

struct Hosts {
    servers: Vec<Server>,
    addrs: Arc<Mutex<Vec<String>>>,
    config: PathBuf,
    dir: PathBuf,
    url: String,
}

impl Hosts {
    fn signal(&self, i: usize, signal: &str) {
        let pid = self.servers[i].pid().to_string();
        let ok = std::process::Command::new("kill")
            .args([signal, &pid])
            .status();
        assert!(ok.unwrap().success());
    }

    /// Kills host `i` and starts it again under its id; returns the killed one's counters.
    fn kill_and_restart(&mut self, i: usize) -> (f64, f64) {
        let name = format!("h{i}");
        let counters = self.counters(i);
        self.addrs
            .lock()
            .unwrap()
            .retain(|a| *a != self.servers[i].addr);
        let fresh = start(&self.config, &self.dir, &self.url, &name);
        self.addrs.lock().unwrap().push(fresh.addr.clone());
        std::mem::replace(&mut self.servers[i], fresh).kill9();
        counters
    }

    /// (activity calls run, late writes refused) so far on host `i`.
    fn counters(&self, i: usize) -> (f64, f64) {
        let s = &self.servers[i];
        (
            s.metric("durable_activities_total").unwrap_or(0.0),
            s.metric("durable_store_fenced_total").unwrap_or(0.0),
        )
    }
}

#[test]
fn acknowledged_work_survives_kills_and_pauses_of_hosts_sharing_postgres() {
    let rounds = env_or("CHAOS_ROUNDS", 4);
    let seed = chaos::seed();
    eprintln!("chaos-pg: {rounds} rounds, CHAOS_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let cluster = Cluster::start().unwrap();
    let url = cluster.create_database("durable").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("durable.toml");
    std::fs::write(&config, seed_config("")).unwrap();
    let servers: Vec<Server> = (0..3)
        .map(|i| start(&config, dir.path(), &url, &format!("h{i}")))
        .collect();
    let addrs = Arc::new(Mutex::new(servers.iter().map(|s| s.addr.clone()).collect()));
    let mut hosts = Hosts {
        servers,
        addrs: Arc::clone(&addrs),
        config,
        dir: dir.path().to_owned(),
        url,
    };
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..6u64)
        .map(|c| {
            let (addrs, acked, stop) = (Arc::clone(&addrs), Arc::clone(&acked), Arc::clone(&stop));
            let rng = Rng((seed ^ ((c + 1) * 7919)) | 1);
            std::thread::spawn(move || client(addrs, acked, stop, rng))
        })
        .collect();
    let started = Instant::now();
    let (mut activity_runs, mut fenced, mut kills, mut pauses) = (0.0, 0.0, 0, 0);
    let mut restarts = 0;
    for _ in 0..rounds {
        std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
        let victim = rng.below(3) as usize;
        approve_some(&hosts.servers[(victim + 1) % 3], &acked);
        let action = rng.below(5);
        if action == 0 {
            // The database crashes and comes back: every host reconnects, leases may lapse.
            cluster.restart_immediate().unwrap();
            restarts += 1;
        } else if action <= 2 {
            let (runs, refused) = hosts.kill_and_restart(victim);
            activity_runs += runs;
            fenced += refused;
            kills += 1;
        } else {
            hosts.signal(victim, "-STOP");
            std::thread::sleep(Duration::from_millis(500 + rng.below(3500)));
            hosts.signal(victim, "-CONT");
            pauses += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let counts = chaos::check_outcomes(&hosts.servers[0], &acked);
    for i in 0..3 {
        let (runs, refused) = hosts.counters(i);
        activity_runs += runs;
        fenced += refused;
    }
    let (unacknowledged, recorded_results) = check_histories(&cluster, &acked);
    let report = json!({
        "rounds": rounds, "kills": kills, "pauses": pauses, "databaseRestarts": restarts,
        "acknowledged": acked.len(),
        "orders": counts[0], "fanOuts": counts[1], "approvals": counts[2],
        "lost": 0, "duplicated": 0, "unacknowledgedButCreated": unacknowledged,
        "lateWritesRefused": fenced,
        "activityRuns": activity_runs,
        "activityResultsRecorded": recorded_results,
        "activityReRunsAtLeast": (activity_runs as i64 - recorded_results).max(0),
        "seconds": started.elapsed().as_secs_f64(),
    });
    eprintln!("chaos-pg: {report}");
    assert!(
        acked.len() > 50 * rounds as usize,
        "too little work was acknowledged: {report}"
    );
}

/// Raises the approval of a few acknowledged approval workflows (through any host).
fn approve_some(server: &Server, acked: &Acked) {
    for (id, work) in acked.lock().unwrap().clone().iter().rev().take(20) {
        if matches!(work, Work::Approval) {
            let _ = server.raise(id, "Approval", r#""ok""#);
        }
    }
}

/// Gapless histories, exactly one completion per acknowledged instance (at most one for the
/// others); returns (instances created but never acknowledged, activity results recorded).
fn check_histories(cluster: &Cluster, acked: &[(String, Work)]) -> (usize, i64) {
    let rows = cluster
        .psql(
            "durable",
            "SELECT instance_id || ' ' || count(*) || ' ' || max(seq) || ' ' || \
             count(*) FILTER (WHERE event_type = 'ExecutionCompleted') || ' ' || \
             count(*) FILTER (WHERE event_type IN ('TaskCompleted', 'TaskFailed')) \
             FROM history GROUP BY instance_id",
        )
        .unwrap();
    let acknowledged: std::collections::HashSet<&str> =
        acked.iter().map(|(id, _)| id.as_str()).collect();
    let (mut unacknowledged, mut recorded, mut seen) = (0, 0, 0);
    for line in rows.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let n = |i: usize| f[i].parse::<i64>().unwrap();
        let (id, count, max_seq, completions) = (f[0], n(1), n(2), n(3));
        assert_eq!(count, max_seq + 1, "{id}: history has a gap or a duplicate");
        if acknowledged.contains(id) {
            assert_eq!(
                completions, 1,
                "{id}: {completions} ExecutionCompleted events"
            );
            seen += 1;
        } else {
            unacknowledged += 1;
            assert!(
                completions <= 1,
                "{id}: {completions} ExecutionCompleted events"
            );
        }
        recorded += n(4);
    }
    assert_eq!(
        seen,
        acknowledged.len(),
        "every acknowledged instance has a history"
    );
    (unacknowledged, recorded)
}
