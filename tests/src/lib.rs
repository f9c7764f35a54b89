//! End-to-end test harness: runs the real `durable` binary on 127.0.0.1 with a fresh data dir and
//! the real guest components, and talks to it over real HTTP.
//!
//! The binary and guests are built by `make build` (which `make test` runs first): this crate
//! finds them at `target/release/durable` and `target/guests/*.wasm`.

pub mod chaos;
pub mod webdriver;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// The key every test host runs with.
pub const KEY: &str = "e2e-test-key-0123456789";

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// The release host binary (override with `DURABLE_BIN`).
pub fn durable_bin() -> PathBuf {
    let bin = std::env::var_os("DURABLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/release/durable"));
    assert!(
        bin.exists(),
        "{} is missing: run `make build` first",
        bin.display()
    );
    bin
}

/// A guest component built by `make build` (in `DURABLE_GUESTS` if set: another build's
/// guests, for A/B runs with `DURABLE_BIN`).
pub fn guest(name: &str) -> PathBuf {
    let path = guest_dir().join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `make build` first",
        path.display()
    );
    path
}

/// The seed app's configuration with absolute component paths, plus `extra` TOML.
pub fn seed_config(extra: &str) -> String {
    format!(
        r#"
[[orchestrators]]
component = "{orch}"

{ents}
[[activities]]
component = "{acts}"

[[starters]]
route = "/api/orchestrators/order-processing"
orchestration = "orderProcessingOrchestrator"
auth_level = "function"
{extra}
"#,
        orch = guest("orchestrator").display(),
        acts = guest("activities").display(),
        ents = entities_block(),
    )
}

/// The seed's `[[entities]]` (left out for another build's guests that have none: an A/B run
/// against a binary older than entities).
fn entities_block() -> String {
    let old_guests = std::env::var_os("DURABLE_GUESTS").is_some();
    if old_guests && !guest_dir().join("entities.wasm").exists() {
        return String::new();
    }
    format!(
        "[[entities]]\ncomponent = \"{}\"\n",
        guest("entities").display()
    )
}

fn guest_dir() -> PathBuf {
    std::env::var_os("DURABLE_GUESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/guests"))
}

/// The build cache JS-app hosts share in a test run (built apps and compiled components), so an
/// app is built once per run, not once per test.
pub fn js_cache() -> PathBuf {
    root().join("target/e2e-cache")
}

/// `[[apps]]` entries for these JS files (absolute paths).
pub fn js_config(apps: &[PathBuf], extra: &str) -> String {
    let mut config = String::new();
    for app in apps {
        config.push_str(&format!("[[apps]]\njs = \"{}\"\n\n", app.display()));
    }
    config.push_str(extra);
    config
}

/// One JS-app host starts at a time in a test process: the first builds the app into the
/// shared cache, the others then find it there (building it several times at once on two
/// cores would only be slower).
static JS_START: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A running host. Killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub addr: String,
    /// The keyless management listener (`/durabletask/...`).
    pub rpc_addr: String,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Writes `config` into `dir/durable.toml` and starts a host on it with data in `dir/data`.
    pub fn start(dir: &Path, config: &str) -> Result<Server> {
        let config_path = dir.join("durable.toml");
        std::fs::write(&config_path, config)?;
        Self::start_with(&config_path, &dir.join("data"))
    }

    /// Like [`Server::start`] for configs with JS apps, on the shared build cache.
    pub fn start_js(dir: &Path, config: &str) -> Result<Server> {
        let config_path = dir.join("durable.toml");
        std::fs::write(&config_path, config)?;
        Self::start_js_with(&config_path, &dir.join("data"))
    }

    /// Like [`Server::start_with`] for configs with JS apps, on the shared build cache.
    pub fn start_js_with(config: &Path, data_dir: &Path) -> Result<Server> {
        Self::start_js_with_args(config, data_dir, &[])
    }

    /// Like [`Server::start_js_with`], with extra `durable serve` arguments.
    pub fn start_js_with_args(config: &Path, data_dir: &Path, args: &[&str]) -> Result<Server> {
        let _one_at_a_time = JS_START.lock().unwrap_or_else(|e| e.into_inner());
        let cache = js_cache();
        let cache = cache.to_string_lossy();
        let mut all = vec!["--cache-dir", &cache];
        all.extend_from_slice(args);
        Self::start_with_args(config, data_dir, &all)
    }

    /// Starts a host on an existing config and data dir (e.g. after a crash).
    pub fn start_with(config: &Path, data_dir: &Path) -> Result<Server> {
        Self::start_with_args(config, data_dir, &[])
    }

    /// Like [`Server::start_with`], with extra `durable serve` arguments.
    pub fn start_with_args(config: &Path, data_dir: &Path, args: &[&str]) -> Result<Server> {
        let mut child = Command::new(durable_bin())
            .args([
                "serve",
                "--test-clock",
                "--listen",
                "127.0.0.1:0",
                "--rpc-listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .env("DURABLE_MASTER_KEY", KEY)
            .env("DURABLE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning durable")?;
        let stderr_buf = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&stderr_buf);
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut main = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("durable-wasm listening on http://") {
                    main = Some(addr.to_owned());
                }
                if let Some(rest) =
                    line.strip_prefix("management RPC without keys (loopback only) on http://")
                {
                    let rpc = rest
                        .trim_end_matches('/')
                        .trim_end_matches("/durabletask")
                        .to_owned();
                    if let Some(main) = main.take() {
                        let _ = tx.send((main, rpc));
                    }
                }
            }
        });
        // A JS app that is not in the build cache yet takes a while (about 30 s on two cores).
        let (addr, rpc_addr) = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(addrs) => addrs,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                // All of stderr, up to its end (the host may have exited just now).
                let _ = stderr_reader.join();
                let err = stderr_buf.lock().map(|s| s.clone()).unwrap_or_default();
                bail!("durable did not start listening; stderr:\n{err}");
            }
        };
        Ok(Server {
            child,
            addr,
            rpc_addr,
            data_dir: data_dir.to_owned(),
            config: config.to_owned(),
            stderr: stderr_buf,
        })
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait (up to `timeout`) for the process to exit; returns whether it exited
    /// successfully.
    pub fn terminate(mut self, timeout: Duration) -> Result<bool> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            if Instant::now() > deadline {
                bail!("the host did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A counter or gauge from `/metrics`.
    pub fn metric(&self, name: &str) -> Result<f64> {
        let r = self.request("GET", "/metrics", None)?;
        let line = r
            .body
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .ok_or_else(|| anyhow!("metric {name} missing in {}", r.body))?;
        Ok(line.trim().parse()?)
    }

    /// What the host wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn request(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&str>,
    ) -> Result<Response> {
        request(&self.addr, method, path_and_query, body, &[])
    }

    /// Like [`Server::request`], with extra headers.
    pub fn request_with(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Response> {
        request(&self.addr, method, path_and_query, body, headers)
    }

    /// Runs `durable ARGS...` against this host with the master key: (success, stdout, stderr).
    pub fn cli<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> (bool, String, String) {
        let out = Command::new(durable_bin())
            .args(args)
            .args(["--url", &format!("http://{}", self.addr), "--key", KEY])
            .output()
            .expect("running durable");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Appends `code=KEY` to the query.
    pub fn keyed(path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}code={KEY}")
    }

    /// Starts the seed orchestration; returns the instance id (asserting a 202).
    pub fn start_order(&self, order: &Value) -> Result<String> {
        let r = self.request(
            "POST",
            &Self::keyed("/api/orchestrators/order-processing"),
            Some(&order.to_string()),
        )?;
        if r.status != 202 {
            bail!("start answered {}: {}", r.status, r.body);
        }
        let id = r.json()?["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no id in {}", r.body))?
            .to_owned();
        Ok(id)
    }

    pub fn status(&self, id: &str, extra_query: &str) -> Result<Response> {
        self.request(
            "GET",
            &Self::keyed(&format!(
                "/runtime/webhooks/durabletask/instances/{id}{extra_query}"
            )),
            None,
        )
    }

    /// The instance's history events (`showHistory=true`), in order.
    pub fn history_events(&self, id: &str) -> Result<Vec<Value>> {
        let r = self.status(id, "?showHistory=true")?;
        Ok(r.json()?["historyEvents"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Moves the host's (test) clock forward.
    pub fn advance_clock(&self, ms: u64) -> Result<()> {
        let r = self.request(
            "POST",
            &Self::keyed(&format!("/admin/test/clock/advance?ms={ms}")),
            None,
        )?;
        if r.status != 200 {
            bail!("advancing the clock answered {}: {}", r.status, r.body);
        }
        Ok(())
    }

    /// Starts orchestration `name` with `input` (JSON text); returns the instance id.
    pub fn start_orchestration(&self, name: &str, input: &str) -> Result<String> {
        let r = self.request(
            "POST",
            &Self::keyed(&format!("/api/orchestrators/{name}")),
            Some(input),
        )?;
        if r.status != 202 {
            bail!("starting {name} answered {}: {}", r.status, r.body);
        }
        Ok(r.json()?["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no id in {}", r.body))?
            .to_owned())
    }

    /// Raises an event; returns the HTTP status.
    pub fn raise(&self, id: &str, event: &str, data: &str) -> Result<u16> {
        let path = Self::keyed(&format!(
            "/runtime/webhooks/durabletask/instances/{id}/raiseEvent/{event}"
        ));
        Ok(self.request("POST", &path, Some(data))?.status)
    }

    /// Polls the status until `ready` holds for the status body.
    pub fn wait_until(
        &self,
        id: &str,
        timeout: Duration,
        ready: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.status(id, "")?;
            let body = r.json()?;
            if ready(&body) {
                return Ok(body);
            }
            if Instant::now() > deadline {
                bail!(
                    "instance {id}: condition not reached after {timeout:?}: {}",
                    r.body
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls the status until the instance is finished (200), returning the status body.
    pub fn wait_finished(&self, id: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.status(id, "")?;
            if r.status == 200 {
                return Ok(r.json()?);
            }
            if r.status != 202 {
                bail!("status of {id} answered {}: {}", r.status, r.body);
            }
            if Instant::now() > deadline {
                bail!("instance {id} not finished after {timeout:?}: {}", r.body);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response (the host's shared client, as the CLI uses it).
pub use http_client::Response;

/// One request over a fresh connection, waiting up to 30 s for the answer.
pub fn request(
    addr: &str,
    method: &str,
    path_and_query: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Response> {
    let request = http_client::Request {
        method,
        target: path_and_query,
        body: body.unwrap_or("").as_bytes(),
        headers,
    };
    let timeout = Duration::from_secs(30);
    http_client::send(addr, &request, timeout)
        .with_context(|| format!("{method} {addr}{path_and_query}"))
}

/// The seed's expected confirmation for an order id.
pub fn confirmation(order_id: &str) -> Value {
    serde_json::json!({"orderId": order_id, "reservationId": format!("{order_id}-inv"), "status": "Confirmed"})
}

/// Counts the history events of type `event_type` (from `showHistory=true`).
pub fn count_events(server: &Server, id: &str, event_type: &str) -> Result<usize> {
    let r = server.status(id, "?showHistory=true")?;
    let body = r.json()?;
    let events = body["historyEvents"]
        .as_array()
        .ok_or_else(|| anyhow!("no historyEvents in {}", r.body))?;
    Ok(events
        .iter()
        .filter(|e| e["EventType"] == event_type)
        .count())
}

/// The seed config plus the test guests (`test-orchestrator`, `test-activities`), the test
/// activities granted `grant` (extra TOML lines of their `[[activities]]` entry) and `dir`,
/// read-write, at `guest_path`.
pub fn test_guests_config(grant: &str, dir: &Path, guest_path: &str) -> String {
    seed_config(&format!(
        r#"
[[orchestrators]]
component = "{orch}"

[[activities]]
component = "{acts}"
{grant}
[[activities.dirs]]
host = "{dir}"
guest = "{guest_path}"
access = "read-write"
"#,
        orch = guest("test-orchestrator").display(),
        acts = guest("test-activities").display(),
        dir = dir.display(),
    ))
}
