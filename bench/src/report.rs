//! What a run reports beside its phases: the disk's control figure, and the results table.

use std::time::Instant;

use anyhow::Result;
use serde_json::{Value, json};

/// The machine's control figure: bare SQLite commits per second (WAL, `synchronous=FULL`, one
/// small row per transaction, one connection) on the disk the host's data sits on, so figures
/// from machines with different fsync costs can be set side by side.
pub fn fsync_control(dir: &std::path::Path) -> Result<Value> {
    let conn = rusqlite::Connection::open(dir.join("fsync-control.sqlite"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")?;
    let n = 1_000;
    let start = Instant::now();
    for i in 0..n {
        conn.execute("INSERT INTO t (id, v) VALUES (?1, 'x')", [i])?;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({ "commits_per_sec": n as f64 / secs, "us_per_commit": secs * 1e6 / n as f64 }))
}

pub fn print_table(r: &Value) {
    let f = |v: &Value| v.as_f64().map_or("-".into(), |x| format!("{x:.2}"));
    println!("| metric | value |");
    println!("| --- | --- |");
    let tp = &r["throughput"];
    println!(
        "| completed orchestrations/s (saturation) | {} |",
        f(&tp["completed_per_sec"])
    );
    println!("| accepted starts/s | {} |", f(&tp["accepted_per_sec"]));
    println!(
        "| control: bare SQLite commits/s on this disk (WAL, synchronous=FULL) | {} |",
        f(&r["fsync_control"]["commits_per_sec"])
    );
    println!(
        "| latency one at a time p50 / p99 (ms) | {} / {} |",
        f(&r["latency_serial"]["p50_ms"]),
        f(&r["latency_serial"]["p99_ms"])
    );
    let ol = &r["open_loop_50pct"];
    println!(
        "| latency at 50% load ({} /s) p50 / p99 (ms) | {} / {} |",
        f(&ol["rate_per_sec"]),
        f(&ol["p50_ms"]),
        f(&ol["p99_ms"])
    );
    println!(
        "| host CPU per activity (µs) | {} |",
        f(&tp["host_cpu_us_per_activity"])
    );
    println!(
        "| host CPU per orchestration (µs) | {} |",
        f(&tp["host_cpu_us_per_orchestration"])
    );
    println!(
        "| fsyncs per orchestration | {} |",
        f(&tp["fsyncs_per_orchestration"])
    );
    println!(
        "| status GETs/s of a finished instance (16 clients) / host CPU per GET (µs) | {} / {} |",
        f(&r["status_reads"]["gets_per_sec"]),
        f(&r["status_reads"]["host_cpu_us_per_get"])
    );
    println!(
        "| orchestrations/s, 64 clients one at a time: waiting (?timeout=) / polling status every 0.5 ms | {} / {} |",
        f(&r["waiting_64"]["completed_per_sec"]),
        f(&r["polling_64"]["completed_per_sec"])
    );
    let m = &r["suspended_memory"];
    println!(
        "| memory per suspended instance, after idle eviction (KiB) | {} |",
        f(&m["kib_per_instance"])
    );
    println!(
        "| memory per suspended instance, all just reached the wait (KiB) | {} |",
        f(&m["kib_per_instance_all_waiting"])
    );
    if let Some(steps) = r["per_step"].as_array() {
        for s in steps {
            println!(
                "| per-step cost, {}-step sequence (µs) | {} |",
                s["steps"],
                f(&s["us_per_step"])
            );
        }
    }
    let js = &r["js_seed"];
    println!(
        "| JS seed (examples/seed-js): completed orchestrations/s (saturation) | {} |",
        f(&js["throughput"]["completed_per_sec"])
    );
    println!(
        "| JS seed: latency one at a time p50 / p99 (ms) | {} / {} |",
        f(&js["latency_serial"]["p50_ms"]),
        f(&js["latency_serial"]["p99_ms"])
    );
    println!(
        "| JS seed: host CPU per orchestration (µs) | {} |",
        f(&js["throughput"]["host_cpu_us_per_orchestration"])
    );
    println!(
        "| JS seed: host start, app cached (ms) | {} |",
        f(&js["start_ms"])
    );
    let pg = &r["postgres_seed"];
    println!(
        "| PostgreSQL store: completed orchestrations/s (saturation) | {} |",
        f(&pg["throughput"]["completed_per_sec"])
    );
    println!(
        "| PostgreSQL store: latency one at a time p50 / p99 (ms) | {} / {} |",
        f(&pg["latency_serial"]["p50_ms"]),
        f(&pg["latency_serial"]["p99_ms"])
    );
    println!(
        "| PostgreSQL store: host CPU per orchestration (µs) | {} |",
        f(&pg["throughput"]["host_cpu_us_per_orchestration"])
    );
    println!(
        "| PostgreSQL store: database CPU per orchestration (µs) | {} |",
        f(&pg["db_cpu_us_per_orchestration"])
    );
    println!(
        "| PostgreSQL store: commits / database transactions per orchestration | {} / {} |",
        f(&pg["throughput"]["fsyncs_per_orchestration"]),
        f(&pg["db_transactions_per_orchestration"])
    );
    let pg3 = &r["postgres_3_hosts"];
    println!(
        "| PostgreSQL store, 3 hosts on these cores: completed orchestrations/s (saturation) | {} |",
        f(&pg3["throughput"]["completed_per_sec"])
    );
    println!(
        "| PostgreSQL store, 3 hosts: host CPU per orchestration, all hosts (µs) | {} |",
        f(&pg3["throughput"]["host_cpu_us_per_orchestration"])
    );
    let wake = &pg3["wake"];
    println!(
        "| PostgreSQL store, 3 hosts: started where it runs / elsewhere, p50 (ms); per NOTIFY | {} / {}; {} |",
        f(&wake["local_p50_ms"]),
        f(&wake["remote_p50_ms"]),
        f(&wake["per_notification_p50_ms"])
    );
}
