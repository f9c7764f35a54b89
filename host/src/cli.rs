//! Command-line interface of the `durable` binary.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
}

#[derive(Debug, clap::Args)]
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
    /// Master key (accepted wherever a function key is). Generated and kept in the data dir if unset.
    #[arg(long, env = "DURABLE_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Milliseconds an instance may sit idle (waiting on timers, events or children only) before
    /// it is dropped from memory and replayed from its history when needed; 0 keeps it.
    #[arg(long, env = "DURABLE_EVICT_IDLE_MS", default_value_t = 5000)]
    pub evict_idle_ms: u64,
    /// Testing only: serve POST /admin/test/clock/advance?ms=N to move time forward.
    #[arg(long, hide = true)]
    pub test_clock: bool,
}
