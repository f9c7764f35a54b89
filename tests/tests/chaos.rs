//! Chaos: seed orders, fan-outs and event waits under load while the host is killed with SIGKILL
//! at random moments and restarted on the same data dir. At the end every acknowledged instance
//! must have completed with the right output, exactly once, with a gapless history; activity
//! re-runs (allowed: at least once) are counted and printed.
//!
//! `make test` runs a short version (10 kills); `make chaos` a longer one. CHAOS_ROUNDS and
//! CHAOS_SEED override the number of kills and the random seed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::chaos::{self, Rng, Work, env_or};
use e2e::{Server, seed_config};
use serde_json::json;

#[test]
fn acknowledged_work_survives_repeated_kill_9() {
    let rounds = env_or("CHAOS_ROUNDS", 10);
    let seed = chaos::seed();
    eprintln!("chaos: {rounds} kills, CHAOS_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("durable.toml");
    std::fs::write(&config, seed_config("")).unwrap();
    let data = dir.path().join("data");
    let acked = Arc::new(Mutex::new(Vec::<(String, Work)>::new()));
    let mut activity_runs = 0.0;
    let started = Instant::now();

    for round in 0..rounds {
        let server = Server::start_with(&config, &data).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..4u64)
            .map(|c| {
                let addr = server.addr.clone();
                let acked = Arc::clone(&acked);
                let stop = Arc::clone(&stop);
                let mut rng = Rng((seed ^ (round * 7919 + c + 1)) | 1);
                std::thread::spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let order_id = format!("C{round}-{c}-{i}");
                        let (path, body, work) = chaos::next_work(&mut rng, order_id);
                        match e2e::request(&addr, "POST", &Server::keyed(&path), Some(&body), &[]) {
                            Ok(r) if r.status == 202 => {
                                let id = r.json().unwrap()["id"].as_str().unwrap().to_owned();
                                acked.lock().unwrap().push((id, work));
                            }
                            // Killed mid-request: not acknowledged, nothing promised.
                            _ => return,
                        }
                    }
                })
            })
            .collect();
        // Raise events for some approvals acknowledged earlier, while the load runs.
        for (id, work) in acked.lock().unwrap().clone().iter().rev().take(5) {
            if matches!(work, Work::Approval) {
                let _ = server.raise(id, "Approval", r#""ok""#);
            }
        }
        std::thread::sleep(Duration::from_millis(50 + rng.below(300)));
        activity_runs += server.metric("durable_activities_total").unwrap_or(0.0);
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
    }

    // Final start: finish everything.
    let server = Server::start_with(&config, &data).unwrap();
    let acked = acked.lock().unwrap().clone();
    let counts = chaos::check_outcomes(&server, &acked);
    activity_runs += server.metric("durable_activities_total").unwrap_or(0.0);

    // Exactly one completion per instance, gapless histories, and activity re-runs counted.
    let conn = rusqlite::Connection::open(data.join("durable.sqlite")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT instance_id, count(*), max(seq), sum(event_type = 'ExecutionCompleted'),
                    sum(event_type IN ('TaskCompleted', 'TaskFailed'))
             FROM history GROUP BY instance_id",
        )
        .unwrap();
    let rows: Vec<(String, i64, i64, i64, i64)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let acknowledged: std::collections::HashSet<&str> =
        acked.iter().map(|(id, _)| id.as_str()).collect();
    let mut recorded_results = 0;
    let mut unacknowledged = 0;
    for (id, count, max_seq, completions, results) in &rows {
        assert_eq!(
            *count,
            max_seq + 1,
            "{id}: history has a gap or a duplicate"
        );
        if acknowledged.contains(id.as_str()) {
            assert_eq!(
                *completions, 1,
                "{id}: {completions} ExecutionCompleted events"
            );
        } else {
            // Created, but the 202 never reached the client (killed mid-request): it may still
            // be running (an approval nobody approves), but never completes twice.
            unacknowledged += 1;
            assert!(
                *completions <= 1,
                "{id}: {completions} ExecutionCompleted events"
            );
        }
        recorded_results += results;
    }
    assert!(rows.len() >= acked.len());
    let report = json!({
        "kills": rounds,
        "acknowledged": acked.len(),
        "orders": counts[0], "fanOuts": counts[1], "approvals": counts[2],
        "lost": 0, "duplicated": 0, "unacknowledgedButCreated": unacknowledged,
        "activityRuns": activity_runs,
        "activityResultsRecorded": recorded_results,
        "activityReRunsAtLeast": (activity_runs as i64 - recorded_results).max(0),
        "seconds": started.elapsed().as_secs_f64(),
    });
    eprintln!("chaos: {report}");
    assert!(
        acked.len() > 10 * rounds as usize / 2,
        "too little work was acknowledged: {report}"
    );
}
