//! The activity sandbox: WASI built from the component's grant (nothing by default), a fresh store
//! per call from a pre-instantiated component on the pooling allocator, memory and time limits,
//! and the guest's stdout/stderr captured into the host's log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::activity::ActivityPre;
use super::capture::CapturePipe;
use super::error::LoadError;
use super::orchestrator::MemoryCap;

/// How often the epoch ticks; activity timeouts have this granularity.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// How much of a guest's stdout/stderr is kept per call.
const OUTPUT_CAPTURE_BYTES: usize = 64 * 1024;

/// Limits and capabilities of one activity component. The default grants nothing: no
/// environment, no files, no network (wasmtime-wasi refuses every socket address by default).
#[derive(Debug, Clone)]
pub struct ActivityGrant {
    pub memory_bytes: usize,
    pub timeout: Duration,
    /// Environment variables the guest may see (name, value).
    pub env: Vec<(String, String)>,
    /// Host directories the guest may open, through cap-std: nothing outside them.
    pub dirs: Vec<DirGrant>,
    /// Addresses the guest may open TCP connections (or send UDP datagrams) to.
    pub connect: Vec<SocketAddr>,
    /// Largest result (JSON text) a call may return; a larger one fails the call.
    pub max_result_bytes: usize,
    /// Calls of this component that may run at once (`None`: only the host-wide limit).
    pub max_concurrency: Option<usize>,
    /// Failed calls are tried again by the host, per this policy, before the orchestration
    /// sees the failure (`None`: one attempt; the orchestrator's own retries still apply).
    pub retry: Option<RetryGrant>,
}

/// A host-side retry policy for an activity component's failed calls.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryGrant {
    /// Attempts in all, including the first (at least 2).
    pub max_attempts: u32,
    pub first_delay: Duration,
    /// Each delay is the previous one times this (at least 1).
    pub backoff: f64,
    pub max_delay: Duration,
}

impl RetryGrant {
    /// The delay before attempt `attempt` (2, 3, ...).
    pub fn delay_before(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(2)).unwrap_or(i32::MAX);
        let ms = self.first_delay.as_millis() as f64 * self.backoff.powi(exponent);
        Duration::from_millis(ms.min(self.max_delay.as_millis() as f64) as u64)
    }
}

/// Default cap on an activity's result: 1 MiB of JSON.
pub const DEFAULT_MAX_RESULT_BYTES: usize = 1 << 20;

/// A preopened directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    pub host: std::path::PathBuf,
    /// Where the guest sees it, e.g. `/data`.
    pub guest: String,
    pub writable: bool,
}

impl Default for ActivityGrant {
    fn default() -> Self {
        ActivityGrant {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(60),
            env: Vec::new(),
            dirs: Vec::new(),
            connect: Vec::new(),
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
            max_concurrency: None,
            retry: None,
        }
    }
}

/// The outcome of one activity call.
#[derive(Debug, Clone, PartialEq)]
pub enum ActivityResult {
    Completed(String),
    Failed {
        reason: String,
        details: Option<String>,
    },
}

/// Per-call store state.
pub struct ActState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
}

impl WasiView for ActState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A loaded activity component with its grant.
pub struct LoadedActivity {
    pub names: Vec<String>,
    pub grant: ActivityGrant,
    /// The component's own concurrency limit (`max_concurrency` of its grant).
    pub slots: Option<Arc<tokio::sync::Semaphore>>,
    pre: ActivityPre<ActState>,
}

/// The activity engine (pooling allocator, epoch interruption) and its WASI linker.
pub struct ActivitySandbox {
    engine: Engine,
    linker: Linker<ActState>,
}

/// Sizes of the pooling allocator: how many activity calls can be live at once.
pub const MAX_CONCURRENT_ACTIVITIES: u32 = 256;

impl ActivitySandbox {
    /// `max_memory_bytes` is the largest memory cap any activity grant may use: every pool slot
    /// reserves that much address space.
    pub fn new(
        max_memory_bytes: usize,
        cache: Option<&std::path::Path>,
    ) -> Result<Arc<Self>, LoadError> {
        let slots = MAX_CONCURRENT_ACTIVITIES + 16;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(slots)
            .total_core_instances(slots * 4)
            .total_memories(slots)
            .total_tables(slots * 4)
            .total_stacks(slots)
            .max_memory_size(max_memory_bytes)
            // A fresh instance per call: reset the first 512 KiB with memset and batch the
            // madvise of the rest, instead of one madvise (and TLB shootdown) per call.
            .linear_memory_keep_resident(512 << 10)
            .table_keep_resident(64 << 10)
            .decommit_batch_size(32);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .memory_reservation(max_memory_bytes as u64)
            .memory_guard_size(64 << 10)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        super::use_compile_cache(&mut config, cache)?;
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| LoadError::Engine(e.to_string()))?;
        let sandbox = Arc::new(ActivitySandbox { engine, linker });
        // The ticker holds only a weak reference: it ends when the sandbox is dropped.
        let weak = Arc::downgrade(&sandbox);
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Some(s) = weak.upgrade() {
                    s.engine.increment_epoch();
                    drop(s);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| LoadError::Engine(format!("starting the epoch ticker: {e}")))?;
        Ok(sandbox)
    }

    /// Compiles and checks an activity component; `what` names it in messages.
    pub async fn load(
        &self,
        what: &str,
        bytes: &[u8],
        grant: ActivityGrant,
    ) -> Result<LoadedActivity, LoadError> {
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid {
            what: what.to_owned(),
            reason: format!("{e:#}"),
        })?;
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
            what: what.to_owned(),
            world: "activity",
            reason: format!("{e:#}"),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = ActivityPre::new(pre).map_err(wrong_world)?;
        let slots = grant
            .max_concurrency
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
        let mut loaded = LoadedActivity {
            names: Vec::new(),
            grant,
            slots,
            pre,
        };
        let (mut store, _, _) = self
            .store(&loaded.grant)
            .map_err(|reason| LoadError::Invalid {
                what: what.to_owned(),
                reason,
            })?;
        let instance = loaded
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(wrong_world)?;
        loaded.names = instance
            .durable_engine_activities()
            .call_names(&mut store)
            .await
            .map_err(wrong_world)?;
        Ok(loaded)
    }

    /// A store whose WASI context holds exactly what `grant` allows.
    #[allow(clippy::type_complexity)]
    fn store(
        &self,
        grant: &ActivityGrant,
    ) -> Result<(Store<ActState>, CapturePipe, CapturePipe), String> {
        let stdout = CapturePipe::new(OUTPUT_CAPTURE_BYTES);
        let stderr = CapturePipe::new(OUTPUT_CAPTURE_BYTES);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        for (k, v) in &grant.env {
            wasi.env(k, v);
        }
        for dir in &grant.dirs {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| {
                    format!(
                        "granted directory {} is not available: {e}",
                        dir.host.display()
                    )
                })?;
        }
        // No DNS, and TCP/UDP only with an allow-list (addresses are checked one by one below).
        let network = !grant.connect.is_empty();
        wasi.allow_ip_name_lookup(false)
            .allow_tcp(network)
            .allow_udp(network);
        if network {
            let allowed: Arc<Vec<SocketAddr>> = Arc::new(grant.connect.clone());
            wasi.socket_addr_check(move |addr, usage| {
                let ok = match usage {
                    // `connect` first binds implicitly to an unspecified local address.
                    SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                        addr.ip().is_unspecified() && addr.port() == 0
                    }
                    SocketAddrUse::TcpConnect
                    | SocketAddrUse::UdpSend
                    | SocketAddrUse::UdpReceive => allowed.contains(&addr),
                    // Nothing may listen or accept: activities are clients.
                    SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
                };
                Box::pin(async move { ok })
            });
        }
        let state = ActState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            memory: MemoryCap {
                max_bytes: grant.memory_bytes,
                hit: false,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        // Every tick a running guest yields to the tokio scheduler, so spinning guests cannot
        // starve HTTP, timers or the store; past its timeout it is interrupted. (A guest parked
        // in a host call is bounded by the wall-clock timeout around the whole call instead.)
        let deadline = std::time::Instant::now() + grant.timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if std::time::Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        Ok((store, stdout, stderr))
    }

    /// Runs activity `name` once. `tag` identifies the call in logs (instance and task).
    pub async fn invoke(
        &self,
        activity: &LoadedActivity,
        name: &str,
        input: &str,
        tag: &str,
    ) -> ActivityResult {
        let (mut store, stdout, stderr) = match self.store(&activity.grant) {
            Ok(parts) => parts,
            Err(reason) => {
                return ActivityResult::Failed {
                    reason,
                    details: None,
                };
            }
        };
        // Wall-clock bound on the whole call: a guest blocked in a host call (a WASI sleep, a
        // read on a socket whose peer never writes) runs no wasm, so the epoch cannot stop it;
        // dropping the call's future abandons that host call.
        let call = async {
            let instance = activity.pre.instantiate_async(&mut store).await?;
            instance
                .durable_engine_activities()
                .call_run(&mut store, name, input)
                .await
        };
        let result = tokio::time::timeout(activity.grant.timeout, call)
            .await
            .ok();
        let err = log_output(&stdout, &stderr, tag, name);
        let Some(result) = result else {
            return ActivityResult::Failed {
                reason: format!(
                    "timed out after {:?} (timeout_secs in durable.toml; the call was blocked in a host call)",
                    activity.grant.timeout
                ),
                details: None,
            };
        };
        match result {
            Ok(Ok(output)) if output.len() > activity.grant.max_result_bytes => {
                ActivityResult::Failed {
                    reason: format!(
                        "the result is {} bytes, over the limit of {} KiB (max_result_kib in durable.toml)",
                        output.len(),
                        activity.grant.max_result_bytes >> 10
                    ),
                    details: None,
                }
            }
            Ok(Ok(output)) => ActivityResult::Completed(output),
            Ok(Err(failure)) => ActivityResult::Failed {
                reason: failure.message,
                details: failure.details,
            },
            Err(trap) => ActivityResult::Failed {
                reason: trap_reason(&trap, &store.data().memory, activity.grant.timeout, &err),
                details: Some(format!("{trap:?}")),
            },
        }
    }
}

/// Writes a call's captured output into the host's log; returns its stderr (for panics).
fn log_output(stdout: &CapturePipe, stderr: &CapturePipe, tag: &str, name: &str) -> String {
    let (out, out_dropped) = stdout.contents();
    let (err, err_dropped) = stderr.contents();
    let out = String::from_utf8_lossy(&out);
    let err = String::from_utf8_lossy(&err).into_owned();
    for line in out.lines().filter(|l| !l.is_empty()) {
        tracing::info!(target: "guest", call = tag, activity = name, "stdout: {line}");
    }
    for line in err.lines().filter(|l| !l.is_empty()) {
        tracing::warn!(target: "guest", call = tag, activity = name, "stderr: {line}");
    }
    if out_dropped + err_dropped > 0 {
        tracing::warn!(target: "guest", call = tag, activity = name,
            "output past the first {} KiB not kept: {out_dropped} bytes of stdout, {err_dropped} of stderr",
            OUTPUT_CAPTURE_BYTES >> 10);
    }
    err
}

/// What a trapped call tells the orchestration.
fn trap_reason(
    trap: &wasmtime::Error,
    memory: &MemoryCap,
    timeout: Duration,
    stderr: &str,
) -> String {
    let kind = trap.downcast_ref::<wasmtime::Trap>();
    if memory.hit {
        format!("memory limit of {} MiB exceeded", memory.max_bytes >> 20)
    } else if matches!(kind, Some(wasmtime::Trap::Interrupt)) {
        format!("timed out after {timeout:?}")
    } else if matches!(kind, Some(wasmtime::Trap::StackOverflow)) {
        "stack overflow: the activity recursed too deeply".to_owned()
    } else if matches!(kind, Some(wasmtime::Trap::MemoryOutOfBounds)) {
        // Rust puts the wasm stack at the bottom of linear memory: overflowing it runs below
        // address 0.
        "out of bounds memory access (deep recursion overflowing the guest's stack ends this way)"
            .to_owned()
    } else if let Some(panic) = panic_message(stderr) {
        panic
    } else {
        format!("the activity trapped: {trap}")
    }
}

/// Extracts a Rust panic message from captured stderr ("thread '...' panicked at FILE:\nMSG").
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.find("panicked at ")?;
    let rest = &stderr[start..];
    let mut lines = rest.lines();
    let location = lines.next()?.trim_end_matches(':');
    let message = lines.next().unwrap_or("").trim();
    Some(format!("{location}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_recovered_from_stderr() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:10:5:\nboom went the activity\nnote: run with ...\n";
        assert_eq!(
            panic_message(stderr).unwrap(),
            "panicked at src/lib.rs:10:5: boom went the activity"
        );
        assert_eq!(panic_message("nothing here"), None);
    }
}
