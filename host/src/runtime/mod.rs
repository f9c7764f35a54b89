//! wasmtime: engine configuration, the orchestrator sandbox, the activity sandbox and the
//! component registry.
//!
//! - [`orchestrator`]: runs an orchestration inside a store whose linker defines only our
//!   `context` interface; fuel per turn, memory cap, deterministic float semantics. The guest
//!   stays parked in its `wait-*` call between turns (no replay while the instance is hot).
//! - [`dry_run`]: replays a history on a version without recording anything (deploy checks,
//!   migration).
//! - [`activity`]: runs one activity call in a fresh store from a pre-instantiated component
//!   (pooling allocator), with WASI built from its grant (nothing by default), memory and time
//!   limits, stdout/stderr captured into the host's log.
//! - [`ports`]: the narrow traits the executor reaches the runtime through ([`Runtime`],
//!   [`Orchestrator`], [`Activity`]), implemented by [`Components`].
//! - [`registry`]: loads components, checks their imports, routes names to components and keeps
//!   orchestrators addressable by digest (instances are pinned to the digest they started with).

pub mod activity;
mod bindings;
mod capture;
pub mod dry_run;
pub mod entity;
mod error;
pub mod orchestrator;
pub mod ports;
pub mod registry;
mod sandbox;
pub mod starter;
mod warm;

pub use error::LoadError;
pub use ports::{Activity, Entity, Orchestrator, Runtime};
pub use registry::{Components, digest_of};

/// Keeps compiled code on disk under `dir` (wasmtime's cache, keyed by the component's bytes
/// and the engine's settings), so a restart does not compile unchanged components again.
pub(crate) fn use_compile_cache(
    config: &mut wasmtime::Config,
    dir: Option<&std::path::Path>,
) -> Result<(), LoadError> {
    let Some(dir) = dir else {
        return Ok(());
    };
    let mut cache = wasmtime::CacheConfig::new();
    cache.with_directory(dir);
    let cache = wasmtime::Cache::new(cache).map_err(|e| {
        LoadError::Engine(format!("the compilation cache in {}: {e}", dir.display()))
    })?;
    config.cache(Some(cache));
    let functions = FunctionCache::beside(dir);
    config
        .enable_incremental_compilation(std::sync::Arc::new(functions))
        .map_err(|e| LoadError::Engine(format!("the function cache: {e:#}")))?;
    Ok(())
}

/// Cranelift's incremental cache on disk, one file per compiled function: a new version of a
/// JS app is the same runtime code with other data, so compiling it finds nearly every
/// function here (a key covers the function's body and the compiler's settings; an entry of
/// another Cranelift version is refused by Cranelift itself). Lives beside wasmtime's cache,
/// in `<dir>-functions`, so wasmtime's own clean-up does not count it.
#[derive(Debug)]
struct FunctionCache {
    dir: std::path::PathBuf,
}

impl FunctionCache {
    fn beside(dir: &std::path::Path) -> Self {
        let mut name = dir.file_name().unwrap_or_default().to_os_string();
        name.push("-functions");
        FunctionCache {
            dir: dir.with_file_name(name),
        }
    }

    fn path(&self, key: &[u8]) -> std::path::PathBuf {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let (fan, rest) = hex.split_at(hex.len().min(2));
        self.dir.join(fan).join(rest)
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
        std::fs::read(self.path(key))
            .ok()
            .map(std::borrow::Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let path = self.path(key);
        let Some(parent) = path.parent() else {
            return false;
        };
        // Compiler threads and other hosts may write the same entry: each writes its own file.
        let tmp = unique_temp(&path);
        let written = std::fs::create_dir_all(parent).is_ok()
            && std::fs::write(&tmp, value).is_ok()
            && std::fs::rename(&tmp, &path).is_ok();
        if !written {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

/// A name beside `path` no other writer (thread, process, host sharing the directory) uses.
pub(crate) fn unique_temp(path: &std::path::Path) -> std::path::PathBuf {
    path.with_extension(format!("{}.tmp", uuid::Uuid::new_v4().simple()))
}

/// Ticks `engine`'s epoch every `tick` for as long as `owner` lives (the thread holds only a
/// weak reference, so it ends when the sandbox is dropped).
pub(crate) fn spawn_epoch_ticker<T: Send + Sync + 'static>(
    engine: wasmtime::Engine,
    tick: std::time::Duration,
    owner: std::sync::Weak<T>,
) -> Result<(), LoadError> {
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while owner.upgrade().is_some() {
                engine.increment_epoch();
                std::thread::sleep(tick);
            }
        })
        .map(drop)
        .map_err(|e| LoadError::Engine(format!("starting the epoch ticker: {e}")))
}

/// A pooling allocator with `slots` of everything one component instance needs (up to four core
/// instances and tables each), every memory capped at `max_memory` bytes.
pub(crate) fn pool(slots: u32, max_memory: usize) -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 4)
        .total_memories(slots)
        .total_tables(slots * 4)
        .total_stacks(slots)
        .max_memory_size(max_memory)
        .decommit_batch_size(32);
    // Not `table_keep_resident` here: it saved a copy-on-write fault per orchestrator
    // instantiation but kept each used slot's table pages resident after eviction (+10 KiB per
    // suspended instance). Activity slots, reused at once, keep theirs (see `activity.rs`).
    pool
}

/// An engine configuration on `pool`, with memories reserved up to `max_memory` bytes and a
/// small guard region (thousands of slots must fit in the address space).
pub(crate) fn pooled_config(
    pool: wasmtime::PoolingAllocationConfig,
    max_memory: usize,
) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config
        .memory_reservation(max_memory as u64)
        .memory_guard_size(64 << 10)
        .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    if std::env::var_os("DURABLE_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}
