//! The big-database phases (`durable-bench --big`, or full mode with
//! `DURABLE_BENCH_BIG=1`): a restart with many instances in flight, and list / status / purge
//! with many finished instances stored. Sizes: `DURABLE_BENCH_BIG_INFLIGHT` (default 100,000)
//! and `DURABLE_BENCH_BIG_FINISHED` (default 1,000,000).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use e2e::{KEY, Server, seed_config};
use serde_json::{Value, json};

use super::{Conn, percentile};

const API: &str = "/runtime/webhooks/durabletask";

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Starts `n` instances of `name` on `input` from 32 keep-alive clients; returns their ids.
fn start_many(server: &Server, name: &str, input: &str, n: usize) -> Result<Vec<String>> {
    let next = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let clients: Vec<_> = (0..32)
        .map(|_| {
            let (addr, next, ids) = (server.addr.clone(), Arc::clone(&next), Arc::clone(&ids));
            let (path, input) = (
                format!("/api/orchestrators/{name}?code={KEY}"),
                input.to_owned(),
            );
            std::thread::spawn(move || -> Result<()> {
                let mut conn = Conn::connect(&addr)?;
                let mut mine = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let (status, body) = conn.request("POST", &path, &input)?;
                    if status != 202 {
                        bail!("start answered {status}: {body}");
                    }
                    let v: Value = serde_json::from_str(&body)?;
                    mine.push(v["id"].as_str().unwrap_or_default().to_owned());
                }
                ids.lock().map_err(|_| anyhow!("poisoned"))?.extend(mine);
                Ok(())
            })
        })
        .collect();
    for c in clients {
        c.join().map_err(|_| anyhow!("client panicked"))??;
    }
    let ids = std::mem::take(&mut *ids.lock().map_err(|_| anyhow!("poisoned"))?);
    Ok(ids)
}

fn count(server: &Server, sql: &str) -> Result<i64> {
    let conn = rusqlite::Connection::open(server.data_dir.join("durable.sqlite"))?;
    Ok(conn.query_row(sql, [], |r| r.get(0))?)
}

fn wait_count(server: &Server, sql: &str, n: usize, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    while (count(server, sql)? as usize) < n {
        if Instant::now() > deadline {
            bail!("timed out waiting for {n}: {sql}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Milliseconds of `f`, `tries` times: (p50, max).
fn timed(tries: usize, mut f: impl FnMut(usize) -> Result<()>) -> Result<(f64, f64)> {
    let mut ms = Vec::with_capacity(tries);
    for i in 0..tries {
        let t = Instant::now();
        f(i)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok((percentile(&ms, 0.5), *ms.last().unwrap_or(&f64::NAN)))
}

/// `n` approvals waiting on their event (and a one-day timer), then a kill -9 and a restart:
/// how soon the API answers, and how soon instances across the set take their event.
pub fn restart_in_flight(n: usize) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &seed_config(""))?;
    let ids = start_many(&server, "approvalWorkflow", r#"{"timeoutMs": 86400000}"#, n)?;
    let waiting = "SELECT count(*) FROM instances WHERE custom_status = '\"waiting for approval\"'";
    wait_count(&server, waiting, n, Duration::from_secs(1800))?;
    let (config, data) = (server.config.clone(), server.data_dir.clone());
    server.kill9();
    let t0 = Instant::now();
    let server = Server::start_with(&config, &data)?;
    let listening = t0.elapsed();
    let mut conn = Conn::connect(&server.addr)?;
    let first = format!("{API}/instances/{}?code={KEY}", ids[0]);
    let (status, _) = conn.request("GET", &first, "")?;
    let answered = t0.elapsed();
    if status != 202 {
        bail!("status after restart answered {status}");
    }
    // 100 instances spread over the set get their event: all must complete.
    let sample: Vec<&String> = ids.iter().step_by((n / 100).max(1)).collect();
    for id in &sample {
        let path = format!("{API}/instances/{id}/raiseEvent/Approval?code={KEY}");
        let (status, body) = conn.request("POST", &path, r#"{"approvedBy": "bench"}"#)?;
        if status != 202 {
            bail!("raise answered {status}: {body}");
        }
    }
    for id in &sample {
        server.wait_finished(id, Duration::from_secs(120))?;
    }
    let sample_done = t0.elapsed();
    Ok(json!({
        "in_flight": n,
        "listening_ms": listening.as_secs_f64() * 1e3,
        "api_answers_ms": answered.as_secs_f64() * 1e3,
        "sample_of_100_completed_ms": sample_done.as_secs_f64() * 1e3,
    }))
}

/// `n` finished instances stored: the list's first page, cold status reads, the database's
/// size per instance, and a purge of them all by filter while orders keep starting.
pub fn finished(n: usize) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &seed_config(""))?;
    // Everything created so far (orders started during the purge come after its end time).
    let from = "2000-01-01T00:00:00Z";
    let t = Instant::now();
    let ids = start_many(&server, "echo", "1", n)?;
    let completed = "SELECT count(*) FROM instances WHERE status = 'Completed'";
    wait_count(&server, completed, n, Duration::from_secs(7200))?;
    let filled_per_sec = n as f64 / t.elapsed().as_secs_f64();
    let files = ["durable.sqlite", "durable.sqlite-wal"];
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(server.data_dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    let mut conn = Conn::connect(&server.addr)?;
    let list = format!("{API}/instances?runtimeStatus=Completed&top=100&code={KEY}");
    let newest = format!("{list}&newestFirst=true");
    let (list_p50, list_max) = timed(20, |i| {
        let path = if i % 2 == 0 { &list } else { &newest };
        let (status, _) = conn.request("GET", path, "")?;
        (status == 200)
            .then_some(())
            .ok_or_else(|| anyhow!("list answered {status}"))
    })?;
    let step = (ids.len() / 200).max(1);
    let (get_p50, get_max) = timed(200.min(ids.len()), |i| {
        let path = format!("{API}/instances/{}?code={KEY}", ids[i * step]);
        let (status, _) = conn.request("GET", &path, "")?;
        (status == 200)
            .then_some(())
            .ok_or_else(|| anyhow!("status answered {status}"))
    })?;
    let purge = purge_under_load(&server, from, n)?;
    Ok(json!({
        "finished": n,
        "filled_per_sec": filled_per_sec,
        "db_bytes_per_instance": bytes as f64 / n as f64,
        "list_first_page_p50_ms": list_p50, "list_first_page_max_ms": list_max,
        "status_cold_p50_ms": get_p50, "status_cold_max_ms": get_max,
        "purge": purge,
    }))
}

/// Purges every finished instance by filter while one client starts an order every 10 ms.
fn purge_under_load(server: &Server, from: &str, n: usize) -> Result<Value> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let starter = {
        let (addr, stop) = (server.addr.clone(), Arc::clone(&stop));
        std::thread::spawn(move || -> Result<Vec<f64>> {
            let mut conn = Conn::connect(&addr)?;
            let mut ms = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let (status, body) =
                    conn.request("POST", &super::seed_path(false), &super::order(0))?;
                if status != 202 {
                    bail!("start answered {status}: {body}");
                }
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(ms)
        })
    };
    let mut conn = Conn::connect(&server.addr)?;
    let path = format!("{API}/instances?createdTimeFrom={from}&runtimeStatus=Completed&code={KEY}");
    let t = Instant::now();
    let (status, body) = conn.request("DELETE", &path, "")?;
    let took = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut starts = starter.join().map_err(|_| anyhow!("starter panicked"))??;
    if status != 200 {
        bail!("purge answered {status}: {body}");
    }
    let deleted = serde_json::from_str::<Value>(&body)?["instancesDeleted"]
        .as_f64()
        .unwrap_or(0.0);
    starts.sort_by(f64::total_cmp);
    Ok(json!({
        "deleted": deleted, "of": n,
        "seconds": took,
        "per_sec": deleted / took,
        "concurrent_start_p50_ms": percentile(&starts, 0.5),
        "concurrent_start_p99_ms": percentile(&starts, 0.99),
    }))
}

/// Both phases at the configured sizes.
pub fn run() -> Result<Value> {
    let in_flight = size("DURABLE_BENCH_BIG_INFLIGHT", 100_000);
    let finished_n = size("DURABLE_BENCH_BIG_FINISHED", 1_000_000);
    eprintln!("restart with {in_flight} instances in flight...");
    let restart = restart_in_flight(in_flight)?;
    eprintln!("{finished_n} finished instances stored...");
    let stored = finished(finished_n)?;
    Ok(json!({ "restart": restart, "finished": stored }))
}
