//! HTTP functions as code (a JS app's `app.http` handlers): a component whose only import is
//! `durable:engine/client`, run per request with a CPU-time budget and a memory cap on an
//! engine of their own: epoch interruption instead of fuel (an HTTP function needs no
//! deterministic stop, and fuel accounting made the JS runtime's interpreter loop about twice
//! as slow: ~960 µs against ~470 µs per request of the seed's handler), a pooling allocator.
//! Requests share instances (see `runtime::warm`), as in Node.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

use super::bindings::starter::durable::engine::{client, types};
pub use super::bindings::starter::exports::durable::engine::http_functions::{
    HttpRequest, HttpResponse, HttpRoute,
};
use super::bindings::starter::{Starter, StarterPre};
use super::error::LoadError;
use super::orchestrator::MemoryCap;
use super::warm::{Warm, WarmPool};

/// How often the epoch ticks; the CPU budget is counted in ticks observed while wasm runs.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Ticks of running wasm one request may use (~5 s): a handler that loops forever is stopped,
/// the host keeps serving. Time parked in a client call (a wait for completion) does not count.
const TICKS_PER_REQUEST: u32 = 500;
/// Pool slots for requests running at once across all HTTP-function components (beyond them,
/// a request's instantiation fails with a 500); idle instances get slots of their own.
const MAX_CONCURRENT_REQUESTS: u32 = 256;
/// The longest `waitForCompletionOrCreateCheckStatusResponse` may wait.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// Why a client call failed, as the JS handler sees it (thrown as an `Error`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientError(pub String);

/// The Durable Functions client an HTTP function uses, implemented by the HTTP layer.
#[async_trait::async_trait]
pub trait DurableClient: Send + Sync {
    async fn start_new(
        &self,
        name: &str,
        instance_id: Option<String>,
        input: Option<String>,
    ) -> Result<String, ClientError>;
    async fn get_status(&self, instance_id: &str) -> Result<Option<String>, ClientError>;
    async fn raise_event(
        &self,
        instance_id: &str,
        name: &str,
        data: String,
    ) -> Result<(), ClientError>;
    async fn terminate(&self, instance_id: &str, reason: String) -> Result<(), ClientError>;
    fn check_status_payload(&self, instance_id: &str, request_url: &str) -> String;
    async fn wait_for_completion(
        &self,
        instance_id: &str,
        timeout: Duration,
    ) -> Result<Option<String>, ClientError>;
    fn now_ms(&self) -> u64;
}

/// Why a request could not be answered by the function.
#[derive(Debug, thiserror::Error)]
pub enum StarterError {
    /// The handler threw (or its promise rejected).
    #[error("{message}")]
    Failed {
        message: String,
        details: Option<String>,
    },
    /// The component trapped: out of fuel, out of memory, a bug in the runtime.
    #[error("the HTTP function trapped: {0}")]
    Trapped(String),
}

pub struct StarterState {
    client: Arc<dyn DurableClient>,
    function: String,
    memory: MemoryCap,
    /// Epoch ticks seen while this request's wasm ran.
    ticks: u32,
}

/// A loaded HTTP-function component and the routes it registers.
pub struct LoadedStarter {
    pub routes: Vec<HttpRoute>,
    pre: StarterPre<StarterState>,
    warm: WarmPool<(Store<StarterState>, Starter)>,
}

pub struct StarterSandbox {
    engine: Engine,
    linker: Linker<StarterState>,
    memory_bytes: usize,
    warm_budget: Arc<AtomicUsize>,
}

/// Idle instances all HTTP-function components keep, and one component keeps. A request holds
/// its instance while its client calls wait (a start waits for the store's commit), so at N
/// requests at once N instances are busy: with 16 kept, 64 clients made one request in four
/// build a fresh instance (its image pages faulted in again, TLB shootdowns when dropped).
const WARM_BUDGET: usize = 128;
const WARM_PER_COMPONENT: usize = 64;

impl StarterSandbox {
    /// `memory_bytes` caps each instance's linear memory (and sizes the pool's slots).
    pub fn new(
        memory_bytes: usize,
        cache: Option<&std::path::Path>,
    ) -> Result<Arc<Self>, LoadError> {
        let slots = MAX_CONCURRENT_REQUESTS + WARM_BUDGET as u32 + 16;
        let mut config = super::pooled_config(super::pool(slots, memory_bytes), memory_bytes);
        config
            .epoch_interruption(true)
            // Room for the JS runtime's recursion limit (guest-js/src/engine.rs) to throw
            // before the native stack runs out.
            .max_wasm_stack(512 << 10)
            .async_stack_size(1 << 20);
        super::use_compile_cache(&mut config, cache)?;
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        Starter::add_to_linker::<StarterState, HasSelf<StarterState>>(&mut linker, |s| s)
            .map_err(|e| LoadError::Engine(e.to_string()))?;
        let sandbox = Arc::new(StarterSandbox {
            engine: engine.clone(),
            linker,
            memory_bytes,
            warm_budget: Arc::new(AtomicUsize::new(WARM_BUDGET)),
        });
        super::spawn_epoch_ticker(engine, EPOCH_TICK, Arc::downgrade(&sandbox))?;
        Ok(sandbox)
    }

    /// Compiles and checks a component (only `client` may be imported) and reads its routes.
    pub async fn load(&self, what: &str, bytes: &[u8]) -> Result<LoadedStarter, LoadError> {
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid {
            what: what.to_owned(),
            reason: format!("{e:#}"),
        })?;
        let bad: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .filter(|n| {
                !n.starts_with("durable:engine/client@") && !n.starts_with("durable:engine/types@")
            })
            .collect();
        if !bad.is_empty() {
            return Err(LoadError::ForbiddenImports {
                what: what.to_owned(),
                message: format!(
                    "HTTP function refused: it may import only durable:engine/client, not {}",
                    bad.join(", ")
                ),
            });
        }
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
            what: what.to_owned(),
            world: "starter",
            reason: format!("{e:#}"),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = StarterPre::new(pre).map_err(wrong_world)?;
        let mut store = self.store(Arc::new(NoClient), String::new());
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(wrong_world)?;
        let routes = instance
            .durable_engine_http_functions()
            .call_routes(&mut store)
            .await
            .map_err(wrong_world)?;
        let warm = WarmPool::new(WARM_PER_COMPONENT, self.warm_budget.clone());
        warm.give_back(Warm {
            value: (store, instance),
            calls: 0,
        });
        Ok(LoadedStarter { routes, pre, warm })
    }

    fn store(&self, client: Arc<dyn DurableClient>, function: String) -> Store<StarterState> {
        let state = StarterState {
            client,
            function,
            memory: MemoryCap {
                max_bytes: self.memory_bytes,
                hit: false,
            },
            ticks: 0,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        // Every tick a running handler yields to the scheduler; past its budget it is stopped.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| {
            let state = cx.data_mut();
            state.ticks += 1;
            if state.ticks > TICKS_PER_REQUEST {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        store
    }

    /// Runs HTTP function `name` on `request`, in an idle instance or a fresh one.
    pub async fn handle(
        &self,
        starter: &LoadedStarter,
        client: Arc<dyn DurableClient>,
        name: &str,
        request: HttpRequest,
    ) -> Result<HttpResponse, StarterError> {
        let (mut store, instance, calls) = match starter.warm.take() {
            Some(Warm {
                value: (mut store, instance),
                calls,
            }) => {
                let state = store.data_mut();
                state.client = client;
                state.function = name.to_owned();
                state.ticks = 0;
                store.set_epoch_deadline(1);
                (store, Some(instance), calls)
            }
            None => (self.store(client, name.to_owned()), None, 0),
        };
        let instance = match instance {
            Some(instance) => instance,
            None => match starter.pre.instantiate_async(&mut store).await {
                Ok(instance) => instance,
                Err(e) => return Err(self.trapped(&store, e)),
            },
        };
        let result = instance
            .durable_engine_http_functions()
            .call_handle(&mut store, name, &request)
            .await;
        let result = match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(f)) => Err(StarterError::Failed {
                message: f.message,
                details: f.details,
            }),
            Err(e) => return Err(self.trapped(&store, e)),
        };
        // The request's client must not outlive it in an idle instance.
        store.data_mut().client = Arc::new(NoClient);
        starter.warm.give_back(Warm {
            value: (store, instance),
            calls: calls + 1,
        });
        result
    }

    /// Why the component trapped, in words.
    fn trapped(&self, store: &Store<StarterState>, e: wasmtime::Error) -> StarterError {
        if store.data().memory.hit {
            StarterError::Trapped(format!(
                "memory limit of {} MiB exceeded ({e:#})",
                self.memory_bytes >> 20
            ))
        } else if store.data().ticks > TICKS_PER_REQUEST {
            StarterError::Trapped(format!(
                "it ran for more than {:?}: does it loop forever?",
                EPOCH_TICK * TICKS_PER_REQUEST
            ))
        } else if matches!(
            e.downcast_ref::<wasmtime::Trap>(),
            Some(wasmtime::Trap::StackOverflow)
        ) {
            StarterError::Trapped("stack overflow: it recursed too deeply".to_owned())
        } else {
            StarterError::Trapped(format!("{e:#}"))
        }
    }
}

/// The client a component's routes are read with: it is not to be called.
struct NoClient;

#[async_trait::async_trait]
impl DurableClient for NoClient {
    async fn start_new(
        &self,
        _: &str,
        _: Option<String>,
        _: Option<String>,
    ) -> Result<String, ClientError> {
        Err(ClientError(
            "the client is not available while the app loads".into(),
        ))
    }
    async fn get_status(&self, _: &str) -> Result<Option<String>, ClientError> {
        Err(ClientError(
            "the client is not available while the app loads".into(),
        ))
    }
    async fn raise_event(&self, _: &str, _: &str, _: String) -> Result<(), ClientError> {
        Err(ClientError(
            "the client is not available while the app loads".into(),
        ))
    }
    async fn terminate(&self, _: &str, _: String) -> Result<(), ClientError> {
        Err(ClientError(
            "the client is not available while the app loads".into(),
        ))
    }
    fn check_status_payload(&self, _: &str, _: &str) -> String {
        "{}".into()
    }
    async fn wait_for_completion(
        &self,
        _: &str,
        _: Duration,
    ) -> Result<Option<String>, ClientError> {
        Ok(None)
    }
    fn now_ms(&self) -> u64 {
        0
    }
}

impl types::Host for StarterState {}

impl client::Host for StarterState {
    async fn start_new(
        &mut self,
        name: String,
        instance_id: Option<String>,
        input: Option<String>,
    ) -> wasmtime::Result<Result<String, String>> {
        let r = self.client.start_new(&name, instance_id, input).await;
        Ok(r.map_err(|e| e.0))
    }

    async fn get_status(&mut self, id: String) -> wasmtime::Result<Result<Option<String>, String>> {
        Ok(self.client.get_status(&id).await.map_err(|e| e.0))
    }

    async fn raise_event(
        &mut self,
        id: String,
        name: String,
        data: String,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(self
            .client
            .raise_event(&id, &name, data)
            .await
            .map_err(|e| e.0))
    }

    async fn terminate(
        &mut self,
        id: String,
        reason: String,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(self.client.terminate(&id, reason).await.map_err(|e| e.0))
    }

    async fn check_status_payload(
        &mut self,
        id: String,
        request_url: String,
    ) -> wasmtime::Result<String> {
        Ok(self.client.check_status_payload(&id, &request_url))
    }

    async fn wait_for_completion(
        &mut self,
        id: String,
        timeout_ms: u64,
    ) -> wasmtime::Result<Result<Option<String>, String>> {
        let timeout = Duration::from_millis(timeout_ms).min(MAX_WAIT);
        Ok(self
            .client
            .wait_for_completion(&id, timeout)
            .await
            .map_err(|e| e.0))
    }

    async fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        let function = self.function.as_str();
        match level {
            types::LogLevel::Trace => tracing::trace!(target: "guest", function, "{message}"),
            types::LogLevel::Debug => tracing::debug!(target: "guest", function, "{message}"),
            types::LogLevel::Info => tracing::info!(target: "guest", function, "{message}"),
            types::LogLevel::Warn => tracing::warn!(target: "guest", function, "{message}"),
            types::LogLevel::Error => tracing::error!(target: "guest", function, "{message}"),
        }
        Ok(())
    }

    async fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.client.now_ms())
    }
}
