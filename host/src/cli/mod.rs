//! Command-line interface of the `durable` binary: `serve` runs a host; the other subcommands
//! talk to a running host over its HTTP API (`--url`, `--key`).

mod client;
mod commands;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use commands::run_client_command;

#[derive(Debug, Parser)]
#[command(
    name = "durable",
    version,
    about = "durable-wasm: durable orchestrations as WebAssembly components"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the host: load the configured components and serve the HTTP API.
    Serve(ServeArgs),
    /// Start an orchestration.
    Start {
        #[command(flatten)]
        host: HostArgs,
        /// Orchestration name, e.g. orderProcessingOrchestrator.
        name: String,
        /// Input as JSON (default null).
        #[arg(long)]
        input: Option<String>,
        /// Instance id (default: a new random one).
        #[arg(long)]
        id: Option<String>,
        /// Wait up to this many seconds for the instance to finish.
        #[arg(long)]
        wait: Option<f64>,
    },
    /// Show an instance's status.
    Status {
        #[command(flatten)]
        host: HostArgs,
        id: String,
    },
    /// List instances.
    List {
        #[command(flatten)]
        host: HostArgs,
        /// Only these statuses (comma-separated: Running,Completed,...).
        #[arg(long)]
        status: Option<String>,
        /// Only ids starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// At most this many (default 100).
        #[arg(long, default_value_t = 100)]
        top: usize,
    },
    /// Raise an external event.
    Raise {
        #[command(flatten)]
        host: HostArgs,
        id: String,
        event: String,
        /// Event data as JSON (default null).
        #[arg(long)]
        data: Option<String>,
    },
    /// Terminate an instance.
    Terminate(ControlArgs),
    /// Suspend an instance (events are held until it is resumed).
    Suspend(ControlArgs),
    /// Resume a suspended instance.
    Resume(ControlArgs),
    /// Delete a finished instance and its history.
    Purge {
        #[command(flatten)]
        host: HostArgs,
        id: String,
    },
    /// Show an instance's history.
    History {
        #[command(flatten)]
        host: HostArgs,
        id: String,
    },
    /// Deploy a component or a new version of a JS app to the running host (needs the master
    /// key): validated, stored by digest, and activated for every name it exports.
    Deploy {
        #[command(flatten)]
        host: HostArgs,
        /// `activity` or `orchestrator` (a .wasm component), or `app` (a JS app the host
        /// serves, deployed under its file name: its orchestrations, activities and HTTP
        /// functions together).
        kind: String,
        /// The component file (.wasm), or the app's .js file.
        file: PathBuf,
        /// Orchestrators: replay in-flight instances against it and report divergences; activate nothing.
        #[arg(long)]
        check: bool,
        /// Store it without routing any name to it.
        #[arg(long)]
        no_activate: bool,
        /// Orchestrators: activate it, then move every in-flight instance it replays exactly
        /// onto it (the others stay on their version and are listed).
        #[arg(long)]
        migrate: bool,
    },
    /// List deployed components and which one serves each name.
    Components {
        #[command(flatten)]
        host: HostArgs,
    },
    /// Route a stored component's names to it again (rollback).
    Activate {
        #[command(flatten)]
        host: HostArgs,
        digest: String,
    },
}

/// How to reach a running host.
#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    /// The host's base URL.
    #[arg(long, env = "DURABLE_URL", default_value = "http://127.0.0.1:7071")]
    pub url: String,
    /// A key (the master key works everywhere). Defaults to ./.durable/master.key if present.
    #[arg(long, env = "DURABLE_MASTER_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Print the host's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ControlArgs {
    #[command(flatten)]
    pub host: HostArgs,
    pub id: String,
    /// Reason, recorded in the history.
    #[arg(long, default_value = "")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The app configuration (components, grants, starter routes).
    #[arg(long, env = "DURABLE_CONFIG", default_value = "durable.toml")]
    pub config: PathBuf,
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "DURABLE_LISTEN", default_value = "127.0.0.1:7071")]
    pub listen: String,
    /// Directory for the database and the generated master key.
    #[arg(long, env = "DURABLE_DATA_DIR", default_value = ".durable")]
    pub data_dir: PathBuf,
    /// Where instances and components are kept: the SQLite file `durable.sqlite` in the data dir
    /// (the default), `sqlite:PATH`, or a PostgreSQL database, `postgres://USER@HOST:PORT/DB`,
    /// that several hosts may share.
    #[arg(long, env = "DURABLE_STORE", hide_env_values = true)]
    pub store: Option<String>,
    /// PostgreSQL store: this host's name among the hosts sharing the database (default: made
    /// up on the first start and kept in the data dir as `host-id`). Never the same for two
    /// live hosts.
    #[arg(long, env = "DURABLE_HOST_ID")]
    pub host_id: Option<String>,
    /// PostgreSQL store: how long a host's lease on a partition lasts unless renewed (on the
    /// database's clock): how soon another host takes over from one that died.
    #[arg(long, env = "DURABLE_LEASE_TTL_MS", default_value_t = 10_000)]
    pub lease_ttl_ms: u64,
    /// PostgreSQL store: how often leases are renewed and partitions rebalanced (at most
    /// 2/5 of the TTL).
    #[arg(long, env = "DURABLE_LEASE_RENEW_MS", default_value_t = 3_000)]
    pub lease_renew_ms: u64,
    /// Where compiled components and built JS apps are kept between runs (default: `cache/` in
    /// the data dir). Safe to share between hosts; safe to delete.
    #[arg(long, env = "DURABLE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Master key (accepted wherever a function key is). Generated and kept in the data dir if unset.
    #[arg(long, env = "DURABLE_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Milliseconds an instance may sit idle (waiting on timers, events or children only) before
    /// it is dropped from memory and replayed from its history when needed; 0 keeps it.
    #[arg(long, env = "DURABLE_EVICT_IDLE_MS", default_value_t = 5000)]
    pub evict_idle_ms: u64,
    /// Loopback address of a second listener serving the management API under /durabletask/
    /// *without keys* (what Durable Functions' clients call by default); `off` disables it.
    #[arg(long, env = "DURABLE_RPC_LISTEN", default_value = "127.0.0.1:17071")]
    pub rpc_listen: String,
    /// Fuel (roughly, wasm instructions) one orchestrator turn may use before the instance
    /// fails as an endless loop; the same on every replay.
    #[arg(long, env = "DURABLE_FUEL_PER_TURN", default_value_t = 500_000_000)]
    pub fuel_per_turn: u64,
    /// Orchestrations held in memory at once (pool slots); more wait for a slot.
    #[arg(long, env = "DURABLE_MAX_HOT_INSTANCES", default_value_t = 4096)]
    pub max_hot_instances: u32,
    /// Instances that may wait for a slot; beyond it, starters answer 503 with Retry-After.
    #[arg(long, env = "DURABLE_MAX_QUEUED", default_value_t = 10_000)]
    pub max_queued: usize,
    /// On SIGTERM: how long activity calls already running may take to finish (their results
    /// are kept, so they do not run again); calls still running then are re-run on the next start.
    #[arg(long, env = "DURABLE_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
    /// Local development: when a component file named in the config changes (a rebuild), deploy
    /// it (validated, stored, activated) without a restart.
    #[arg(long, env = "DURABLE_WATCH")]
    pub watch: bool,
    /// Testing only: serve POST /admin/test/clock/advance?ms=N to move time forward.
    #[arg(long, hide = true)]
    pub test_clock: bool,
}

/// What went wrong talking to a host; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Protocol(String),
    #[error("the host answered {status}: {message}")]
    Http { status: u16, message: String },
}
