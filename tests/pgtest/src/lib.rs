//! A throw-away PostgreSQL cluster for a test: `initdb` into a temp dir, a server on a free
//! port of 127.0.0.1 (trust authentication, superuser `durable`), stopped when dropped. Uses
//! the server binaries of Debian's `postgresql` package (`make setup-postgres` installs it);
//! as root, the server runs as the `postgres` user the package creates (PostgreSQL refuses to
//! run as root).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A running cluster. Dropping it stops the server (immediate mode) and deletes its files.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Run server commands as this user (when the test runs as root).
    owner: Option<String>,
}

const SUPERUSER: &str = "durable";

impl Cluster {
    /// Creates and starts a cluster (about a second).
    pub fn start() -> Result<Cluster> {
        let bin = server_bin()?;
        let dir = tempfile::Builder::new().prefix("durable-pg.").tempdir()?;
        let owner = running_as_root().then(|| "postgres".to_owned());
        if let Some(user) = &owner {
            give_to(dir.path(), user)?;
        }
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            owner,
        };
        cluster.initdb()?;
        let mut last = None;
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.pg_ctl(&["start", "-w", "-t", "30"]) {
                Ok(_) => return Ok(cluster),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("the server did not start")))
    }

    /// The URL of database `db` (see [`Cluster::create_database`]).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, db: &str) -> Result<String> {
        self.psql("postgres", &format!("CREATE DATABASE \"{db}\""))?;
        Ok(self.url(db))
    }

    /// Runs SQL with psql and returns its unaligned, tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String> {
        let port = self.port.to_string();
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", SUPERUSER, "-d", db])
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .context("running psql")?;
        checked("psql", out).map(|s| s.trim_end().to_owned())
    }

    /// Stops the server as a crash would (`-m immediate`: no checkpoint; recovery replays the
    /// WAL) and starts it again on the same port.
    pub fn restart_immediate(&self) -> Result<()> {
        self.pg_ctl(&["stop", "-m", "immediate", "-w"])?;
        self.pg_ctl(&["start", "-w", "-t", "30"])?;
        Ok(())
    }

    /// Stops the server (immediate mode).
    pub fn stop(&self) -> Result<()> {
        self.pg_ctl(&["stop", "-m", "immediate", "-w"]).map(drop)
    }

    /// Starts a stopped server again.
    pub fn start_again(&self) -> Result<()> {
        self.pg_ctl(&["start", "-w", "-t", "30"]).map(drop)
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn initdb(&self) -> Result<()> {
        let data = self.data();
        let data = data.to_string_lossy();
        let args = [
            "-D",
            &data,
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ];
        self.as_owner(&self.bin.join("initdb"), &args)
            .map(drop)
            .context("initdb")
    }

    fn pg_ctl(&self, action: &[&str]) -> Result<String> {
        let data = self.data();
        let log = self.dir.path().join("log");
        // PGTEST_OPTIONS: more server settings (e.g. `-c shared_preload_libraries=...` to
        // profile statements).
        let extra = std::env::var("PGTEST_OPTIONS").unwrap_or_default();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 {extra}",
            self.port,
            self.dir.path().display()
        );
        let mut args = vec![
            "-D".to_owned(),
            data.to_string_lossy().into_owned(),
            "-l".to_owned(),
            log.to_string_lossy().into_owned(),
            "-o".to_owned(),
            options,
        ];
        args.extend(action.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.as_owner(&self.bin.join("pg_ctl"), &args)
            .with_context(|| format!("pg_ctl {}", action.join(" ")))
    }

    fn as_owner(&self, program: &Path, args: &[&str]) -> Result<String> {
        let mut command = match &self.owner {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        let out = command.args(args).output()?;
        checked(&program.display().to_string(), out)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn checked(what: &str, out: Output) -> Result<String> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The newest `/usr/lib/postgresql/N/bin` (or `PG_BIN`).
fn server_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "PostgreSQL's server binaries were not found under /usr/lib/postgresql: install \
             Debian's postgresql package (`make setup-postgres`) or set PG_BIN"
        ),
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn give_to(dir: &Path, user: &str) -> Result<()> {
    let out = Command::new("chown").arg(user).arg(dir).output()?;
    checked("chown", out).map(drop)
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until `f` holds, checking every 50 ms, for at most `timeout`.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}
