//! The status-read phases: reads of a finished instance, and clients that poll their
//! orchestration's status compared with clients that wait for it (`--status-only` runs them
//! alone, for A/B runs of binaries).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use e2e::{KEY, Server, seed_config};
use serde_json::{Value, json};

use super::{Conn, cpu_seconds, order, percentile, run_clients, seed_path};

/// Status reads of one finished instance, from `conc` keep-alive clients for `secs` (a
/// dashboard or clients polling an instance that is done): GETs/s, latency, host CPU per GET.
pub fn status_reads(server: &Server, conc: usize, secs: f64) -> Result<Value> {
    let id = server.start_order(&serde_json::from_str(&order(0))?)?;
    server.wait_finished(&id, Duration::from_secs(30))?;
    let path = format!("/runtime/webhooks/durabletask/instances/{id}?code={KEY}");
    let cpu0 = cpu_seconds(server.pid())?;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let clients: Vec<_> = (0..conc)
        .map(|_| {
            let (addr, path) = (server.addr.clone(), path.clone());
            std::thread::spawn(move || -> Result<Vec<f64>> {
                let mut conn = Conn::connect(&addr)?;
                let mut took = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let (status, body) = conn.request("GET", &path, "")?;
                    if status != 200 {
                        bail!("status answered {status}: {body}");
                    }
                    took.push(t.elapsed().as_secs_f64() * 1e6);
                }
                Ok(took)
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.join().map_err(|_| anyhow!("client panicked"))??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server.pid())? - cpu0;
    all.sort_by(f64::total_cmp);
    Ok(json!({
        "concurrency": conc,
        "gets_per_sec": all.len() as f64 / elapsed,
        "p50_us": percentile(&all, 0.5),
        "p99_us": percentile(&all, 0.99),
        "host_cpu_us_per_get": cpu * 1e6 / all.len() as f64,
    }))
}

/// `concurrency` clients each start an orchestration and wait for it to finish before the
/// next: by polling its status every 0.5 ms (as a client following `statusQueryGetUri` closely
/// does) if `poll`, else in the start request itself (`?timeout=`, the wait-for-completion
/// figure the polling one is compared with).
fn closed_loop(server: &Server, n: usize, concurrency: usize, poll: bool) -> Result<Value> {
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&polls);
    let start = Instant::now();
    run_clients(
        std::slice::from_ref(&server.addr),
        n,
        concurrency,
        move |conn, i| {
            let (status, body) = conn.request("POST", &seed_path(!poll), &order(i))?;
            if !poll && status == 200 {
                return Ok(None);
            }
            if status != 202 {
                bail!("start answered {status}: {body}");
            }
            let started: Value = serde_json::from_str(&body)?;
            let id = started["id"].as_str().unwrap_or_default();
            let path = format!("/runtime/webhooks/durabletask/instances/{id}?code={KEY}");
            loop {
                counted.fetch_add(1, Ordering::Relaxed);
                let (status, body) = conn.request("GET", &path, "")?;
                match status {
                    200 => return Ok(None),
                    202 => std::thread::sleep(Duration::from_micros(500)),
                    _ => bail!("status answered {status}: {body}"),
                }
            }
        },
    )?;
    let elapsed = start.elapsed().as_secs_f64();
    Ok(json!({
        "n": n, "concurrency": concurrency,
        "completed_per_sec": n as f64 / elapsed,
        "polls_per_orchestration": polls.load(Ordering::Relaxed) as f64 / n as f64,
    }))
}

/// Orchestrations/s of 64 clients each waiting for its order in the start request, and of 64
/// each polling its order's status, each phase on a fresh host: run one after the other on one
/// host, the second phase started on the database and WAL the first had grown, which biased the
/// ratio against it. Returns both phases and polling ÷ waiting.
pub fn polling_vs_waiting(tp_n: usize) -> Result<(Value, Value, f64)> {
    let on_fresh_host = |poll: bool| -> Result<Value> {
        let dir = tempfile::tempdir()?;
        let server = Server::start(dir.path(), &seed_config(""))?;
        closed_loop(&server, tp_n, 64, poll)
    };
    let waited = on_fresh_host(false)?;
    let polled = on_fresh_host(true)?;
    let ratio = polled["completed_per_sec"].as_f64().unwrap_or(0.0)
        / waited["completed_per_sec"].as_f64().unwrap_or(1.0);
    Ok((waited, polled, ratio))
}

/// `--status-only`: the two status-read phases, for A/B runs of binaries (`DURABLE_BIN`,
/// `DURABLE_GUESTS`).
pub fn status_only(tp_n: usize) -> Result<Value> {
    let (waited, polled, ratio) = polling_vs_waiting(tp_n)?;
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &seed_config(""))?;
    let reads = status_reads(&server, 16, 3.0)?;
    Ok(json!({
        "waiting_64": waited, "polling_64": polled, "polling_ratio": ratio, "status_reads": reads,
    }))
}
