//! The activity sandbox: WASI built from the component's grant (nothing by default), a fresh store
//! per call from a pre-instantiated component on the pooling allocator, memory and time limits,
//! and the guest's stdout/stderr captured into the host's log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use crate::trace::TraceContext;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::activity::durable::engine::types::Failure;
use super::bindings::activity::{Activity, ActivityPre};
use super::capture::CapturePipe;
use super::error::LoadError;
use super::orchestrator::MemoryCap;
use super::warm::{Warm, WarmPool};

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
    /// Calls may share an instance (kept between calls, see `runtime::warm`) instead of each
    /// getting a fresh one: what a JS app's activities do by default, as in Node.
    pub reuse_instances: bool,
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
            reuse_instances: false,
        }
    }
}

/// The outcome of one activity call.
#[derive(Debug, Clone, PartialEq)]
pub enum ActivityResult {
    Completed(String),
    Failed(crate::engine::Failure),
}

impl ActivityResult {
    /// A failed call, without details.
    pub fn failed(message: impl Into<String>) -> Self {
        ActivityResult::Failed(crate::engine::Failure::new(message))
    }
}

/// Per-call store state (per instance, when instances are reused).
pub struct ActState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    /// When the running call is interrupted (the epoch callback reads it).
    deadline: Instant,
}

/// A store with its output pipes and, once instantiated, its instance.
struct Session {
    store: Store<ActState>,
    instance: Option<Activity>,
    stdout: CapturePipe,
    stderr: CapturePipe,
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
    /// Idle instances, when the grant reuses them.
    warm: Option<WarmPool<Session>>,
}

/// The activity engine (pooling allocator, epoch interruption) and its WASI linker.
pub struct ActivitySandbox {
    engine: Engine,
    linker: Linker<ActState>,
    /// Idle instances all components may still keep (each holds a pool slot).
    warm_budget: Arc<AtomicUsize>,
}

/// Sizes of the pooling allocator: how many activity calls can be live at once.
pub const MAX_CONCURRENT_ACTIVITIES: u32 = 256;
/// Idle reused instances kept in all (they hold pool slots of their own, beyond the above).
const WARM_BUDGET: u32 = 64;
/// Idle reused instances one component keeps.
const WARM_PER_COMPONENT: usize = 16;

/// One activity call, as the sandbox runs it: the name, the input (JSON), and the tag that
/// names the call in the component's log lines.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    pub name: &'a str,
    pub input: &'a str,
    pub tag: &'a str,
}

impl ActivitySandbox {
    /// `max_memory_bytes` is the largest memory cap any activity grant may use: every pool slot
    /// reserves that much address space.
    pub fn new(
        max_memory_bytes: usize,
        cache: Option<&std::path::Path>,
    ) -> Result<Arc<Self>, LoadError> {
        let slots = MAX_CONCURRENT_ACTIVITIES + WARM_BUDGET + 16;
        let mut pool = super::pool(slots, max_memory_bytes);
        // A fresh instance per call: reset the first 512 KiB with memset and batch the madvise
        // of the rest, instead of one madvise (and TLB shootdown) per call.
        pool.linear_memory_keep_resident(512 << 10)
            .table_keep_resident(64 << 10);
        let mut config = super::pooled_config(pool, max_memory_bytes);
        config.epoch_interruption(true);
        super::use_compile_cache(&mut config, cache)?;
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| LoadError::Engine(e.to_string()))?;
        let sandbox = Arc::new(ActivitySandbox {
            engine,
            linker,
            warm_budget: Arc::new(AtomicUsize::new(WARM_BUDGET as usize)),
        });
        super::spawn_epoch_ticker(sandbox.engine.clone(), EPOCH_TICK, Arc::downgrade(&sandbox))?;
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
        let warm = grant
            .reuse_instances
            .then(|| WarmPool::new(WARM_PER_COMPONENT, self.warm_budget.clone()));
        let mut loaded = LoadedActivity {
            names: Vec::new(),
            grant,
            slots,
            pre,
            warm,
        };
        let mut session =
            self.session(&loaded.grant, None)
                .map_err(|reason| LoadError::Invalid {
                    what: what.to_owned(),
                    reason,
                })?;
        let instance = loaded
            .pre
            .instantiate_async(&mut session.store)
            .await
            .map_err(wrong_world)?;
        loaded.names = instance
            .durable_engine_activities()
            .call_names(&mut session.store)
            .await
            .map_err(wrong_world)?;
        session.instance = Some(instance);
        if let Some(pool) = &loaded.warm {
            pool.give_back(Warm {
                value: session,
                calls: 0,
            });
        }
        Ok(loaded)
    }

    /// A store whose WASI context holds exactly what `grant` allows.
    fn session(
        &self,
        grant: &ActivityGrant,
        trace: Option<&TraceContext>,
    ) -> Result<Session, String> {
        let stdout = CapturePipe::new(OUTPUT_CAPTURE_BYTES);
        let stderr = CapturePipe::new(OUTPUT_CAPTURE_BYTES);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        for (k, v) in &grant.env {
            wasi.env(k, v);
        }
        if let Some(trace) = trace {
            wasi.env("TRACEPARENT", &trace.traceparent);
            if let Some(state) = &trace.tracestate {
                wasi.env("TRACESTATE", state);
            }
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
            deadline: Instant::now() + grant.timeout,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        // Every tick a running guest yields to the tokio scheduler, so spinning guests cannot
        // starve HTTP, timers or the store; past its call's deadline it is interrupted. (A
        // guest parked in a host call is bounded by the wall-clock timeout around the whole
        // call instead.)
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|cx| {
            if Instant::now() >= cx.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        Ok(Session {
            store,
            instance: None,
            stdout,
            stderr,
        })
    }

    /// Runs activity `name` once. `tag` identifies the call in logs (instance and task).
    pub async fn invoke(
        &self,
        activity: &LoadedActivity,
        call: CallInfo<'_>,
        trace: Option<&TraceContext>,
    ) -> ActivityResult {
        let CallInfo { name, input, tag } = call;
        let warm = activity.warm.as_ref().and_then(WarmPool::take);
        // A fresh instance sees the caller's trace context in its environment; one shared
        // between calls (reuse_instances) cannot, its environment is fixed at its first call.
        let trace = trace.filter(|_| activity.warm.is_none());
        let (mut session, calls) = match warm {
            Some(w) => (w.value, w.calls),
            None => match self.session(&activity.grant, trace) {
                Ok(session) => (session, 0),
                Err(reason) => return ActivityResult::failed(reason),
            },
        };
        let grant = &activity.grant;
        session.store.data_mut().deadline = Instant::now() + grant.timeout;
        session.store.set_epoch_deadline(1);
        // Wall-clock bound on the whole call: a guest blocked in a host call (a WASI sleep, a
        // read on a socket whose peer never writes) runs no wasm, so the epoch cannot stop it;
        // dropping the call's future abandons that host call.
        let call = run(&activity.pre, &mut session, name, input);
        let result = tokio::time::timeout(grant.timeout, call).await.ok();
        let err = log_output(&session.stdout, &session.stderr, tag, name);
        let reusable = matches!(result, Some(Ok(_)));
        let outcome = match result {
            None => ActivityResult::failed(format!(
                "timed out after {:?} (timeout_secs in durable.toml; the call was blocked in a host call)",
                grant.timeout
            )),
            Some(Ok(returned)) => returned_result(returned, grant.max_result_bytes),
            Some(Err(trap)) => ActivityResult::Failed(crate::engine::Failure {
                message: trap_reason(&trap, &session.store.data().memory, grant.timeout, &err),
                details: Some(format!("{trap:?}")),
            }),
        };
        // Only an instance whose call ended as the guest meant goes back for another call.
        if let (Some(pool), true) = (&activity.warm, reusable) {
            pool.give_back(Warm {
                value: session,
                calls: calls + 1,
            });
        }
        outcome
    }
}

/// Instantiates the session's component if it is not yet, and calls `run` on it.
async fn run(
    pre: &ActivityPre<ActState>,
    session: &mut Session,
    name: &str,
    input: &str,
) -> wasmtime::Result<Result<String, Failure>> {
    let instance = match session.instance.take() {
        Some(instance) => instance,
        None => pre.instantiate_async(&mut session.store).await?,
    };
    let result = instance
        .durable_engine_activities()
        .call_run(&mut session.store, name, input)
        .await;
    session.instance = Some(instance);
    result
}

/// What the guest returned, as the call's result (a result over the cap fails the call).
fn returned_result(returned: Result<String, Failure>, max_bytes: usize) -> ActivityResult {
    match returned {
        Ok(output) if output.len() > max_bytes => ActivityResult::failed(format!(
            "the result is {} bytes, over the limit of {} KiB (max_result_kib in durable.toml)",
            output.len(),
            max_bytes >> 10
        )),
        Ok(output) => ActivityResult::Completed(output),
        Err(failure) => ActivityResult::Failed(crate::engine::Failure {
            message: failure.message,
            details: failure.details,
        }),
    }
}

/// Writes a call's captured output into the host's log; returns its stderr (for panics).
fn log_output(stdout: &CapturePipe, stderr: &CapturePipe, tag: &str, name: &str) -> String {
    let (out, out_dropped) = stdout.take();
    let (err, err_dropped) = stderr.take();
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
