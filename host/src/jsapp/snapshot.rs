//! Evaluating an app in the JS runtime component and snapshotting the result (wasmtime-wizer):
//! the output is an ordinary component whose memory already holds the evaluated app.

use wasmtime::component::{Component, Instance, Linker, ResourceTable, Val, WasmList};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use super::JsBuildError;

/// The export the runtime loads an app through.
const JS_APP: &str = "durable:engine/js-app@0.1.0";

/// How long an app's top-level code may run (in ticks of [`TICK`]) and how much memory it may
/// take: an app that loops or allocates forever at load is refused, and the host (at start, or
/// serving while a new version builds) goes on.
const TICK: std::time::Duration = std::time::Duration::from_millis(100);
const LOAD_TICKS: u64 = 100;
const LOAD_MEMORY: usize = 1 << 30;

/// Evaluates `source` (named `path` in errors) in `runtime` and returns the snapshot. The
/// instrumented runtime is the same for every app: its compiled code is kept in `compiled`.
pub async fn snapshot(
    runtime: &[u8],
    path: &str,
    source: &str,
    compiled: &std::path::Path,
) -> Result<Vec<u8>, JsBuildError> {
    let engine = snapshot_engine(compiled)?;
    let wizer = Wizer::new();
    let (cx, instrumented) = wizer
        .instrument_component(runtime)
        .map_err(|e| JsBuildError::Runtime(format!("instrumenting: {e:#}")))?;
    let component = Component::new(&engine, &instrumented)
        .map_err(|e| JsBuildError::Runtime(format!("compiling: {e:#}")))?;
    let linker = linker(&engine, &component)
        .map_err(|e| JsBuildError::Runtime(format!("linking: {e:#}")))?;
    let mut store = Store::new(&engine, Loading::default());
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline(LOAD_TICKS);
    store.epoch_deadline_trap();
    let ticking = std::sync::Arc::new(());
    crate::runtime::spawn_epoch_ticker(engine.clone(), TICK, std::sync::Arc::downgrade(&ticking))
        .map_err(|e| JsBuildError::Runtime(e.to_string()))?;
    let instance = linker
        .instantiate_async(&mut store, &component)
        .await
        .map_err(|e| JsBuildError::Runtime(format!("instantiating: {e:#}")))?;
    load(&mut store, &instance, path, source).await?;
    let mut state = Snapshotting {
        store,
        instance,
        error: None,
    };
    let snapshot = wizer
        .snapshot_component(&cx, &mut state)
        .await
        .map_err(|e| JsBuildError::Runtime(format!("snapshotting: {e:#}")))?;
    if let Some(e) = state.error {
        return Err(JsBuildError::Runtime(format!("snapshotting: {e}")));
    }
    super::segments::merge_data_segments(&snapshot)
        .map_err(|e| JsBuildError::Runtime(format!("merging the snapshot's data segments: {e}")))
}

/// While the app is evaluated nothing of the host's may be used (top-level code has no
/// instance, client or clock), except the plain WASI an activity runtime's start-up reads (its
/// clock's base instant): with no preopens, sockets or environment.
fn linker(engine: &Engine, component: &Component) -> wasmtime::Result<Linker<Loading>> {
    let mut linker = Linker::new(engine);
    let imports: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    if imports.iter().any(|name| name.starts_with("wasi:")) {
        // The activity runtime: WASI, plus the (function-less) types interface.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        for name in imports
            .iter()
            .filter(|n| n.starts_with("durable:engine/types@"))
        {
            linker.instance(name)?;
        }
    } else {
        linker.define_unknown_imports_as_traps(component)?;
    }
    Ok(linker)
}

/// The store of the instance being loaded.
struct Loading {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: wasmtime::StoreLimits,
}

impl Default for Loading {
    fn default() -> Self {
        Loading {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(LOAD_MEMORY)
                .build(),
        }
    }
}

impl WasiView for Loading {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn snapshot_engine(compiled: &std::path::Path) -> Result<Engine, JsBuildError> {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    crate::runtime::use_compile_cache(&mut config, Some(compiled))
        .map_err(|e| JsBuildError::Runtime(e.to_string()))?;
    Engine::new(&config).map_err(|e| JsBuildError::Runtime(format!("engine: {e:#}")))
}

/// Calls `js-app.load`; a JS error (syntax error, failed `require`, throw) is the app's fault.
async fn load(
    store: &mut Store<Loading>,
    instance: &Instance,
    path: &str,
    source: &str,
) -> Result<(), JsBuildError> {
    let missing = || JsBuildError::Runtime(format!("the runtime does not export {JS_APP}.load"));
    let iface = instance
        .get_export_index(&mut *store, None, JS_APP)
        .ok_or_else(missing)?;
    let func = instance
        .get_export_index(&mut *store, Some(&iface), "load")
        .and_then(|i| instance.get_func(&mut *store, i))
        .ok_or_else(missing)?;
    let args = [Val::String(path.to_owned()), Val::String(source.to_owned())];
    let mut results = [Val::Bool(false)];
    func.call_async(&mut *store, &args, &mut results)
        .await
        .map_err(|e| match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => JsBuildError::App {
                message: format!(
                    "{path}: its top-level code ran for more than {} s: does it loop forever?",
                    (TICK * LOAD_TICKS as u32).as_secs()
                ),
                stack: None,
            },
            _ => JsBuildError::Trapped(format!("{e:#}")),
        })?;
    match &results[0] {
        Val::Result(Ok(_)) => Ok(()),
        Val::Result(Err(Some(failure))) => Err(app_error(failure)),
        other => Err(JsBuildError::Runtime(format!("load returned {other:?}"))),
    }
}

fn app_error(failure: &Val) -> JsBuildError {
    let Val::Record(fields) = failure else {
        return JsBuildError::Runtime(format!("load failed with {failure:?}"));
    };
    let text = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| match v {
                Val::String(s) => Some(s.clone()),
                Val::Option(Some(inner)) => match &**inner {
                    Val::String(s) => Some(s.clone()),
                    _ => None,
                },
                _ => None,
            })
    };
    JsBuildError::App {
        message: text("message").unwrap_or_default(),
        stack: text("details"),
    }
}

/// The instance being snapshotted, as wizer reads it (through exports it instrumented).
/// The trait cannot fail, so the first failure is kept in `error` and the snapshot discarded.
struct Snapshotting {
    store: Store<Loading>,
    instance: Instance,
    error: Option<String>,
}

impl Snapshotting {
    async fn call<R>(&mut self, instance: &str, func: &str) -> Option<R>
    where
        R: wasmtime::component::Lift + wasmtime::component::ComponentType + Send + Sync + 'static,
    {
        let store = &mut self.store;
        let iface = self.instance.get_export_index(&mut *store, None, instance);
        let f = self
            .instance
            .get_export_index(&mut *store, iface.as_ref(), func)
            .and_then(|i| {
                self.instance
                    .get_typed_func::<(), (R,)>(&mut *store, i)
                    .ok()
            });
        let result = match f {
            None => Err(format!("wizer's export {instance}#{func} is missing")),
            Some(f) => f
                .call_async(&mut *store, ())
                .await
                .map(|r| r.0)
                .map_err(|e| format!("wizer's export {instance}#{func} trapped: {e:#}")),
        };
        result.map_err(|e| self.error.get_or_insert(e)).ok()
    }
}

impl ComponentInstanceState for Snapshotting {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        if let Some(list) = self.call::<WasmList<u8>>(instance, func).await {
            contents(list.as_le_slice(&self.store));
        }
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func).await.unwrap_or_default()
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func).await.unwrap_or_default()
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call::<f32>(instance, func)
            .await
            .unwrap_or_default()
            .to_bits()
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call::<f64>(instance, func)
            .await
            .unwrap_or_default()
            .to_bits()
    }
}
