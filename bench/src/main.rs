//! `durable-bench`: starts the real `durable` host on loopback with a fresh data dir and the seed
//! app, drives it over HTTP, and reports throughput, latency, CPU, fsyncs, memory per suspended
//! instance and per-step cost. Prints a table and writes `target/bench/results.json`.
//!
//! Durability is never relaxed: the host runs as shipped (WAL, `synchronous=FULL`, 202 after
//! commit). Usage: `durable-bench [--short] [--js-only] [--pg-only] [--status-only] [--tp-only] [--big]` (or `make bench`, `make
//! bench BENCH_ARGS=--short`); `DURABLE_BENCH_JS_CONFIG` runs the JS rows on another config;
//! `DURABLE_BENCH_PG_HOSTS=one` leaves out the three-host PostgreSQL row.
//! The PostgreSQL row runs the seed on a local throw-away server (`pgtest`, durable settings:
//! `fsync` and `synchronous_commit` on), sharing the machine's cores with the host.

use std::time::{Duration, Instant};

mod big;
mod clients;
mod report;
mod status;

use clients::{Conn, run_clients};
use report::{fsync_control, print_table};

use anyhow::{Context, Result, anyhow, bail};
use e2e::{KEY, Server, seed_config};
use serde_json::{Value, json};

fn order(i: usize) -> String {
    json!({"orderId": format!("O-{i}"), "customerId": "C-1", "items": [{"sku": "SKU-1", "qty": 1}]})
        .to_string()
}

fn seed_path(wait: bool) -> String {
    if wait {
        format!("/api/orchestrators/order-processing?code={KEY}&timeout=60")
    } else {
        format!("/api/orchestrators/order-processing?code={KEY}")
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time (user + system) of a process, from /proc.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or(&stat);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields
        .get(11)
        .ok_or_else(|| anyhow!("short stat"))?
        .parse()?;
    let stime: f64 = fields
        .get(12)
        .ok_or_else(|| anyhow!("short stat"))?
        .parse()?;
    Ok((utime + stime) / 100.0)
}

/// Resident memory of a process, bytes.
fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow!("no VmRSS"))?;
    let kb: u64 = line.split_whitespace().nth(1).unwrap_or("0").parse()?;
    Ok(kb * 1024)
}

fn metric(server: &Server, name: &str) -> Result<f64> {
    let r = server.request("GET", "/metrics", None)?;
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .ok_or_else(|| anyhow!("metric {name} missing"))?
        .trim()
        .parse()
        .context("metric value")
}

/// CPU seconds used by a PostgreSQL server so far: the postmaster, its live children, and the
/// children it has reaped (their time is added to its `cutime`/`cstime`).
fn db_cpu_seconds(cluster: &pgtest::Cluster) -> Result<f64> {
    let dir = cluster.psql("durable", "SHOW data_directory")?;
    let pid_file = std::fs::read_to_string(std::path::Path::new(&dir).join("postmaster.pid"))?;
    let postmaster: u32 = pid_file.lines().next().unwrap_or("").trim().parse()?;
    let fields = |pid: &str| -> Option<Vec<f64>> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after = stat.rsplit_once(')')?.1;
        Some(
            after
                .split_whitespace()
                .map(|f| f.parse().unwrap_or(0.0))
                .collect(),
        )
    };
    let own = fields(&postmaster.to_string()).ok_or_else(|| anyhow!("no postmaster"))?;
    // After the ')': state, ppid, ... utime (11), stime (12), cutime (13), cstime (14).
    let mut ticks = own[11] + own[12] + own[13] + own[14];
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.bytes().all(|b| b.is_ascii_digit())
            && let Some(f) = fields(&name)
            && f.get(1).copied() == Some(f64::from(postmaster))
        {
            ticks += f[11] + f[12];
        }
    }
    Ok(ticks / 100.0)
}

fn count_status(server: &Server, status: &str) -> Result<i64> {
    let file = server.data_dir.join("durable.sqlite");
    if !file.exists() && status == "Completed" {
        // Another store (PostgreSQL): the host's own count since it started.
        return Ok(metric(server, "durable_instances_completed_total")? as i64);
    }
    let conn =
        rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row(
        "SELECT count(*) FROM instances WHERE status = ?1",
        [status],
        |r| r.get(0),
    )?)
}

/// Start→complete latency, one order at a time, for a starter that answers 202 at once (the JS
/// seed's handler returns `createCheckStatusResponse`): POST, then poll the status until done.
fn latency_polled(server: &Server, n: usize) -> Result<Value> {
    let mut conn = Conn::connect(&server.addr)?;
    let mut one = |i: usize| -> Result<f64> {
        let t = Instant::now();
        let (status, body) = conn.request("POST", &seed_path(false), &order(i))?;
        if status != 202 {
            bail!("order {i}: {status} {body}");
        }
        let id: Value = serde_json::from_str(&body)?;
        let id = id["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no id in {body}"))?;
        let path = format!("/runtime/webhooks/durabletask/instances/{id}?code={KEY}");
        loop {
            let (status, body) = conn.request("GET", &path, "")?;
            if status == 200 {
                if !body.contains("Confirmed") {
                    bail!("order {i}: {body}");
                }
                return Ok(millis(t.elapsed()));
            }
        }
    };
    for i in 0..20 {
        one(i)?;
    }
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        samples.push(one(i)?);
    }
    samples.sort_by(f64::total_cmp);
    Ok(json!({
        "n": n,
        "p50_ms": percentile(&samples, 0.5),
        "p99_ms": percentile(&samples, 0.99),
    }))
}

/// Start→complete latency, one order at a time.
fn latency_serial(server: &Server, n: usize) -> Result<Value> {
    let mut conn = Conn::connect(&server.addr)?;
    for i in 0..20 {
        conn.request("POST", &seed_path(true), &order(i))?;
    }
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let (status, body) = conn.request("POST", &seed_path(true), &order(i))?;
        if status != 200 || !body.contains("Confirmed") {
            bail!("order {i}: {status} {body}");
        }
        samples.push(millis(t.elapsed()));
    }
    samples.sort_by(f64::total_cmp);
    Ok(
        json!({"n": n, "p50_ms": percentile(&samples, 0.5), "p99_ms": percentile(&samples, 0.99),
              "max_ms": samples.last()}),
    )
}

/// Completed orchestrations per second with `concurrency` clients posting as fast as they can.
fn throughput(server: &Server, n: usize, concurrency: usize) -> Result<Value> {
    throughput_on(&[server], n, concurrency)
}

/// Like [`throughput`] over several hosts sharing a store: client `c` posts to host
/// `c % hosts`; completions, CPU and commits are summed over the hosts.
fn throughput_on(servers: &[&Server], n: usize, concurrency: usize) -> Result<Value> {
    let sum =
        |f: &dyn Fn(&Server) -> Result<f64>| -> Result<f64> { servers.iter().map(|s| f(s)).sum() };
    let completed = || sum(&|s| Ok(count_status(s, "Completed")? as f64));
    let commits = || sum(&|s| metric(s, "durable_store_commits_total"));
    let cpu = || sum(&|s| cpu_seconds(s.pid()));
    let (baseline, commits0, cpu0) = (completed()?, commits()?, cpu()?);
    let start = Instant::now();
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
    run_clients(&addrs, n, concurrency, |conn, i| {
        let (status, body) = conn.request("POST", &seed_path(false), &order(i))?;
        if status != 202 {
            bail!("start answered {status}: {body}");
        }
        Ok(None)
    })?;
    let accepted = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = completed()? - baseline;
        if done as usize >= n {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {done} of {n} completed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    let cpu = cpu()? - cpu0;
    let commits = commits()? - commits0;
    let per_sec = n as f64 / elapsed.as_secs_f64();
    Ok(json!({
        "n": n, "concurrency": concurrency, "hosts": servers.len(),
        "completed_per_sec": per_sec,
        "accepted_per_sec": n as f64 / accepted.as_secs_f64(),
        "host_cpu_us_per_orchestration": cpu * 1e6 / n as f64,
        "host_cpu_us_per_activity": cpu * 1e6 / (3 * n) as f64,
        "fsyncs_per_orchestration": commits / n as f64,
    }))
}

/// Open-loop load at `rate`/s for `secs`: latency from the scheduled send time (no coordinated
/// omission), each request waiting for its orchestration to complete.
fn open_loop(server: &Server, rate: f64, secs: f64) -> Result<Value> {
    let total = (rate * secs) as usize;
    let t0 = Instant::now() + Duration::from_millis(100);
    let mut samples = run_clients(
        std::slice::from_ref(&server.addr),
        total,
        64,
        move |conn, i| {
            let due = t0 + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let (status, body) = conn.request("POST", &seed_path(true), &order(i))?;
            if status != 200 {
                bail!("order {i}: {status} {body}");
            }
            Ok(Some(millis(Instant::now().saturating_duration_since(due))))
        },
    )?;
    samples.sort_by(f64::total_cmp);
    Ok(
        json!({"rate_per_sec": rate, "n": total, "p50_ms": percentile(&samples, 0.5),
              "p99_ms": percentile(&samples, 0.99), "max_ms": samples.last()}),
    )
}

/// Resident memory per instance suspended on an external event.
fn suspended_memory(server: &Server, n: usize) -> Result<Value> {
    let rss0 = rss_bytes(server.pid())?;
    let path = format!("/api/orchestrators/approvalWorkflow?code={KEY}");
    run_clients(std::slice::from_ref(&server.addr), n, 16, move |conn, _| {
        let (status, body) = conn.request("POST", &path, r#"{"timeoutMs": 86400000}"#)?;
        if status != 202 {
            bail!("start answered {status}: {body}");
        }
        Ok(None)
    })?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let conn = rusqlite::Connection::open(server.data_dir.join("durable.sqlite"))?;
        let waiting: i64 = conn.query_row(
            "SELECT count(*) FROM instances WHERE custom_status = '\"waiting for approval\"'",
            [],
            |r| r.get(0),
        )?;
        if waiting as usize >= n {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {waiting} of {n} instances reached their wait");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let hot = rss_bytes(server.pid())?;
    // Idle instances are evicted after the host's idle limit (5 s by default) and replayed
    // when an event or timer arrives: that is the steady state of a suspended instance.
    let deadline = Instant::now() + Duration::from_secs(120);
    while metric(server, "durable_live_instances")? > 0.0 {
        if Instant::now() > deadline {
            bail!("suspended instances were not evicted");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let evicted = rss_bytes(server.pid())?;
    let per = |rss: u64| rss.saturating_sub(rss0) as f64 / 1024.0 / n as f64;
    Ok(json!({
        "n": n,
        "rss_before_mib": rss0 as f64 / 1048576.0,
        "rss_all_waiting_mib": hot as f64 / 1048576.0,
        "rss_evicted_mib": evicted as f64 / 1048576.0,
        "kib_per_instance_all_waiting": per(hot),
        "kib_per_instance": per(evicted),
    }))
}

/// Cost per step of a sequential orchestration of `steps` activity calls.
fn per_step(server: &Server, steps: u64) -> Result<Value> {
    let mut conn = Conn::connect(&server.addr)?;
    let path = format!("/api/orchestrators/sequence?code={KEY}&timeout=3600");
    let t = Instant::now();
    let (status, body) = conn.request("POST", &path, &steps.to_string())?;
    if status != 200 {
        bail!("sequence {steps}: {status} {body}");
    }
    let elapsed = t.elapsed();
    Ok(
        json!({"steps": steps, "total_ms": millis(elapsed), "us_per_step": elapsed.as_secs_f64() * 1e6 / steps as f64}),
    )
}

fn main() -> Result<()> {
    let short = std::env::args().any(|a| a == "--short");
    let (lat_n, tp_n, conc, ol_secs, susp_n, steps): (usize, usize, usize, f64, usize, &[u64]) =
        if short {
            (100, 3_000, 32, 2.0, 1_000, &[10, 1_000])
        } else {
            (500, 20_000, 64, 5.0, 10_000, &[10, 1_000, 10_000])
        };
    if std::env::args().any(|a| a == "--js-only") {
        let js = js_seed(lat_n, tp_n, conc)?;
        println!("{}", serde_json::to_string_pretty(&js)?);
        return Ok(());
    }
    if std::env::args().any(|a| a == "--big") {
        let r = big::run()?;
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    if std::env::args().any(|a| a == "--status-only") {
        let r = status::status_only(tp_n)?;
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    if std::env::args().any(|a| a == "--tp-only") {
        // The headline alone, for A/B runs: one-at-a-time latency and saturation throughput.
        let dir = tempfile::tempdir()?;
        let server = Server::start(dir.path(), &seed_config(""))?;
        let latency = latency_serial(&server, lat_n)?;
        let tp = throughput(&server, tp_n, conc)?;
        let control = fsync_control(dir.path())?;
        let r = json!({ "latency_serial": latency, "throughput": tp, "fsync_control": control });
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    if std::env::args().any(|a| a == "--pg-only") {
        // DURABLE_BENCH_PG_HOSTS=one: the one-host row alone (e.g. for a binary without leases).
        let pg = postgres_seed(lat_n, tp_n, conc)?;
        let pg3 = match std::env::var("DURABLE_BENCH_PG_HOSTS").as_deref() {
            Ok("one") => Value::Null,
            _ => postgres_hosts(3, lat_n, tp_n, conc)?,
        };
        let results = json!({ "postgres_seed": pg, "postgres_3_hosts": pg3 });
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &seed_config(""))?;
    eprintln!(
        "host {} (pid {}), data in {}",
        server.addr,
        server.pid(),
        server.data_dir.display()
    );

    eprintln!("latency, one at a time ({lat_n} orders)...");
    let latency = latency_serial(&server, lat_n)?;
    eprintln!("throughput ({tp_n} orders, {conc} clients)...");
    let tp = throughput(&server, tp_n, conc)?;
    let rate = (tp["completed_per_sec"].as_f64().unwrap_or(100.0) * 0.5).max(10.0);
    eprintln!("open loop at {rate:.0}/s for {ol_secs}s...");
    let open = open_loop(&server, rate, ol_secs)?;
    let mut step_results = Vec::new();
    for &n in steps {
        eprintln!("sequence of {n} steps...");
        step_results.push(per_step(&server, n)?);
    }
    eprintln!("status reads of a finished instance (16 clients)...");
    let reads = status::status_reads(&server, 16, if short { 2.0 } else { 5.0 })?;
    eprintln!("throughput with 64 clients polling status every 0.5 ms ({tp_n} orders)...");
    let (waited, polled, _) = status::polling_vs_waiting(tp_n)?;
    eprintln!("{susp_n} instances suspended on an event...");
    let memory = suspended_memory(&server, susp_n)?;
    let control = fsync_control(dir.path())?;
    drop(server);
    let js = js_seed(lat_n, tp_n, conc)?;
    let pg = postgres_seed(lat_n, tp_n, conc)?;
    let pg3 = postgres_hosts(3, lat_n, tp_n, conc)?;
    // The big-database phases take many minutes: full mode only, and only when asked.
    let big = match (short, std::env::var_os("DURABLE_BENCH_BIG")) {
        (false, Some(_)) => big::run()?,
        _ => Value::Null,
    };

    let results = json!({
        "mode": if short { "short" } else { "full" },
        "latency_serial": latency,
        "throughput": tp,
        "open_loop_50pct": open,
        "status_reads": reads,
        "waiting_64": waited,
        "polling_64": polled,
        "per_step": step_results,
        "suspended_memory": memory,
        "fsync_control": control,
        "js_seed": js,
        "postgres_seed": pg,
        "postgres_3_hosts": pg3,
        "big": big,
    });
    print_table(&results);
    let out = e2e::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let file = out.join(if short {
        "results-short.json"
    } else {
        "results.json"
    });
    std::fs::write(&file, serde_json::to_string_pretty(&results)?)?;
    eprintln!("wrote {}", file.display());
    Ok(())
}

/// The seed's own JavaScript (examples/seed-js): its HTTP function, orchestrator and
/// activities all run in the JS runtime's components.
fn js_seed(lat_n: usize, tp_n: usize, conc: usize) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    // DURABLE_BENCH_JS_CONFIG: another JS config on the same route (e.g. one role in JS only).
    let config = std::env::var_os("DURABLE_BENCH_JS_CONFIG")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| e2e::root().join("examples/seed-js/durable.toml"));
    let started = Instant::now();
    let server = Server::start_js_with(&config, &dir.path().join("data"))?;
    let start_ms = millis(started.elapsed());
    eprintln!("JS seed: latency, one at a time ({lat_n} orders)...");
    let latency = latency_polled(&server, lat_n)?;
    eprintln!("JS seed: throughput ({tp_n} orders, {conc} clients)...");
    let tp = throughput(&server, tp_n, conc)?;
    Ok(json!({ "start_ms": start_ms, "latency_serial": latency, "throughput": tp }))
}

/// The Rust seed on the PostgreSQL store: one host, a local server on the same cores.
fn postgres_seed(lat_n: usize, tp_n: usize, conc: usize) -> Result<Value> {
    let cluster = pgtest::Cluster::start()?;
    let url = cluster.create_database("durable")?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("durable.toml");
    std::fs::write(&config, seed_config(""))?;
    let server = Server::start_with_args(&config, &dir.path().join("data"), &["--store", &url])?;
    let transactions = || -> Result<f64> {
        let sql = "SELECT xact_commit FROM pg_stat_database WHERE datname = 'durable'";
        Ok(cluster.psql("durable", sql)?.parse()?)
    };
    eprintln!("PostgreSQL: latency, one at a time ({lat_n} orders)...");
    let latency = latency_serial(&server, lat_n)?;
    eprintln!("PostgreSQL: throughput ({tp_n} orders, {conc} clients)...");
    let statements = count_statements(&cluster);
    let (before, db_cpu) = (transactions()?, db_cpu_seconds(&cluster)?);
    let tp = throughput(&server, tp_n, conc)?;
    if statements {
        print_statements(&cluster)?;
    }
    // Every transaction the database committed in the run (the host's writes and reads).
    let per_orchestration = (transactions()? - before) / tp_n as f64;
    let db_cpu = (db_cpu_seconds(&cluster)? - db_cpu) * 1e6 / tp_n as f64;
    Ok(json!({
        "latency_serial": latency,
        "throughput": tp,
        "db_transactions_per_orchestration": per_orchestration,
        "db_cpu_us_per_orchestration": db_cpu,
    }))
}

/// The Rust seed on `hosts` hosts sharing one local PostgreSQL database (default leases), on
/// the same cores: throughput with clients spread over the hosts, and the wake-up cost of an
/// instance run by another host than the one that started it (NOTIFY to its owner, and back
/// when it finishes), against one started where it runs.
fn postgres_hosts(hosts: usize, lat_n: usize, tp_n: usize, conc: usize) -> Result<Value> {
    let cluster = pgtest::Cluster::start()?;
    let url = cluster.create_database("durable")?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("durable.toml");
    std::fs::write(&config, seed_config(""))?;
    let servers = (0..hosts)
        .map(|i| {
            let name = format!("h{i}");
            let args = ["--store", url.as_str(), "--host-id", name.as_str()];
            Server::start_with_args(&config, &dir.path().join(&name), &args)
        })
        .collect::<Result<Vec<_>>>()?;
    let owners = wait_shared(&cluster, hosts)?;
    eprintln!("PostgreSQL, {hosts} hosts: wake-up latency ({lat_n} local and {lat_n} remote)...");
    let wake = wake_latency(&servers, &owners, lat_n)?;
    eprintln!("PostgreSQL, {hosts} hosts: throughput ({tp_n} orders, {conc} clients)...");
    let refs: Vec<&Server> = servers.iter().collect();
    let statements = count_statements(&cluster);
    let db_cpu = db_cpu_seconds(&cluster)?;
    let tp = throughput_on(&refs, tp_n, conc)?;
    if statements {
        print_statements(&cluster)?;
    }
    let db_cpu = (db_cpu_seconds(&cluster)? - db_cpu) * 1e6 / tp_n as f64;
    Ok(json!({
        "hosts": hosts, "wake": wake, "throughput": tp,
        "db_cpu_us_per_orchestration": db_cpu,
    }))
}

/// Waits until `hosts` hosts share the 64 partitions; returns each partition's owner.
fn wait_shared(cluster: &pgtest::Cluster, hosts: usize) -> Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = cluster.psql(
            "durable",
            "SELECT coalesce(owner, '') FROM partitions WHERE expires_at > now() ORDER BY id",
        )?;
        let owners: Vec<String> = rows.lines().map(str::to_owned).collect();
        let distinct: std::collections::HashSet<&String> = owners.iter().collect();
        if owners.len() == 64 && distinct.len() == hosts {
            return Ok(owners);
        }
        if Instant::now() > deadline {
            bail!("{hosts} hosts did not share the partitions: {owners:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The store's partition of an instance id (FNV-1a, as the host computes it).
fn partition_of(id: &str) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % 64) as usize
}

/// Orders started one at a time on host 0 and awaited there (`?timeout=`): alternately under
/// an id host 0 runs and under one host 1 runs.
fn wake_latency(servers: &[Server], owners: &[String], n: usize) -> Result<Value> {
    let mut conn = Conn::connect(&servers[0].addr)?;
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    let mut i = 0;
    while local.len() < n || remote.len() < n {
        i += 1;
        let id = format!("wake-{i}");
        let owner = &owners[partition_of(&id)];
        let samples = match owner.as_str() {
            "h0" if local.len() < n => &mut local,
            "h1" if remote.len() < n => &mut remote,
            _ => continue,
        };
        let path = format!(
            "/runtime/webhooks/durabletask/orchestrators/orderProcessingOrchestrator/{id}\
             ?code={KEY}&timeout=60"
        );
        let t = Instant::now();
        let (status, body) = conn.request("POST", &path, &order(i))?;
        if status != 200 || !body.contains("Confirmed") {
            bail!("order {id}: {status} {body}");
        }
        samples.push(millis(t.elapsed()));
    }
    local.sort_by(f64::total_cmp);
    remote.sort_by(f64::total_cmp);
    let (l, r) = (percentile(&local, 0.5), percentile(&remote, 0.5));
    Ok(json!({
        "n": n, "local_p50_ms": l, "remote_p50_ms": r,
        "remote_p99_ms": percentile(&remote, 0.99),
        // Two notifications: the start to the owner, the end back to the waiting host.
        "per_notification_p50_ms": (r - l) / 2.0,
    }))
}

/// With PGTEST_OPTIONS='-c shared_preload_libraries=pg_stat_statements', starts counting the
/// statements the database runs (true if it can).
fn count_statements(cluster: &pgtest::Cluster) -> bool {
    cluster
        .psql(
            "durable",
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        )
        .and_then(|_| cluster.psql("durable", "SELECT pg_stat_statements_reset()"))
        .is_ok()
}

/// The statements that took the database's time since [`count_statements`].
fn print_statements(cluster: &pgtest::Cluster) -> Result<()> {
    let top = "SELECT round(total_exec_time) || ' ms ' || calls || ' calls ' || rows || \
               ' rows: ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 110) \
               FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15";
    eprintln!("statements by time:\n{}", cluster.psql("durable", top)?);
    Ok(())
}
