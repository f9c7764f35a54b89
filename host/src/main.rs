//! The `durable` binary.

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use durable::cli::{Cli, Command, run_client_command};
use durable::server::{ServeOptions, serve};

/// mimalloc instead of glibc's malloc: per-thread heaps, no arena lock shared by the tokio
/// workers and the store's writer (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Errors are printed as their message chain alone (no backtrace, even with `RUST_BACKTRACE`
/// set): what failed at start is the user's to fix, not a bug report.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The chain of causes, each once (many of our messages already name their cause).
            let mut message = e.to_string();
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !message.contains(&cause) {
                    message = format!("{message}: {cause}");
                }
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Serve(args) => args,
        // Client subcommands: one or two HTTP calls to a running host.
        other => match run_client_command(other) {
            Ok(out) => {
                println!("{out}");
                return Ok(());
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        },
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DURABLE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cache_dir = args
        .cache_dir
        .unwrap_or_else(|| args.data_dir.join("cache"));
    // wasmtime's compilation cache takes only an absolute path (the default data dir is not).
    let cache_dir = std::path::absolute(&cache_dir).unwrap_or(cache_dir);
    let options = ServeOptions {
        config: args.config,
        listen: args.listen,
        cache_dir,
        data_dir: args.data_dir,
        store: args.store,
        master_key: args.master_key,
        test_clock: args.test_clock,
        watch: args.watch,
        idle_evict: (args.evict_idle_ms > 0)
            .then(|| std::time::Duration::from_millis(args.evict_idle_ms)),
        rpc_listen: (!args.rpc_listen.eq_ignore_ascii_case("off")).then_some(args.rpc_listen),
        max_hot_instances: args.max_hot_instances,
        fuel_per_turn: args.fuel_per_turn,
        max_queued: args.max_queued,
        shutdown_grace: std::time::Duration::from_millis(args.shutdown_grace_ms),
        host_id: args.host_id,
        lease_ttl: std::time::Duration::from_millis(args.lease_ttl_ms),
        lease_renew: std::time::Duration::from_millis(args.lease_renew_ms),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(options, shutdown_signal()))?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
