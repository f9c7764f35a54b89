//! The orchestrator sandbox: a linker that defines only `durable:engine/context`, deterministic
//! engine settings, a fuel budget per turn and a memory cap.
//!
//! An orchestration runs as one async call of the guest's `run` export. When the guest waits on
//! something the history does not hold yet, the `wait-*` host function hands the turn to the
//! run's [`Session`] as a value (its owner persists it and sets its work going) and parks the
//! guest on its fiber until the owner answers: no replay while the instance stays hot. Dry runs
//! and probes use the replay-only mode ([`OrchestratorSandbox::replay`]).

use std::future::Future;
use std::pin::Pin;

use tokio::sync::{mpsc, oneshot};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{CallHook, Engine, Store};

use super::bindings::orchestrator::{Orchestrator, OrchestratorPre};
use super::error::LoadError;
use super::sandbox::check_orchestrator_imports;
use crate::engine::{Event, EventKind, Execution, Failure, limits};
use crate::ids::Digest;

mod host_calls;

/// Fuel between two yields of a running orchestrator to the async scheduler (~2-5 ms of work).
const FUEL_YIELD_INTERVAL: u64 = 5_000_000;

/// Limits applied to every orchestration.
#[derive(Debug, Clone)]
pub struct OrchestratorLimits {
    /// Fuel (roughly, wasm instructions) one turn may use. Deterministic, unlike a wall clock.
    pub fuel_per_turn: u64,
    /// Linear memory cap in bytes.
    pub memory_bytes: usize,
    /// Orchestrations that can be in memory at once (pool slots). Idle ones are evicted and
    /// replayed later, so this bounds memory, not the number of instances.
    pub max_hot_instances: u32,
}

impl Default for OrchestratorLimits {
    fn default() -> Self {
        OrchestratorLimits {
            fuel_per_turn: 500_000_000,
            memory_bytes: 64 << 20,
            max_hot_instances: 4096,
        }
    }
}

/// What one turn recorded, handed to the session's owner to persist.
#[derive(Debug)]
pub struct TurnRecord {
    pub events: Vec<Event>,
    /// `Some` when the guest changed its custom status during the turn.
    pub custom_status: Option<Option<String>>,
    /// Activities whose results are still to come. While any is in flight the instance must not
    /// be evicted (activity results become durable only when a turn records them).
    pub activities_in_flight: usize,
}

/// Why the host stopped a run, as opposed to the orchestration ending by itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// The instance is idle: it leaves memory and is replayed when something arrives.
    #[error("evicted while idle")]
    Evict,
    /// An operator terminated the instance (with this reason).
    #[error("terminated: {0}")]
    Terminate(String),
    /// An operator asked to move the instance to this orchestrator digest: the guest stops so
    /// the instance can be checked and replayed on the new version.
    #[error("migrating to orchestrator {0}")]
    Migrate(Digest),
    /// A replay-only run reached the end of the recorded history (nothing is live).
    #[error("end of the recorded history")]
    EndOfHistory,
    /// The sandbox could not run the guest (out of memory, address space or pool slots): the
    /// host's problem, not the orchestration's. Nothing is to be recorded.
    #[error("{0}")]
    Fault(String),
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum RunEnd {
    Completed(String),
    /// The orchestration failed; to be recorded as `ExecutionFailed`.
    Failed(Failure),
    ContinueAsNew(String),
    /// The host stopped it; what (if anything) to record depends on why.
    Stopped(Stop),
}

/// Everything a finished run hands back to its caller.
pub struct RunResult {
    pub exec: Execution,
    pub custom_status: Option<Option<String>>,
    pub end: RunEnd,
}

/// The host's answer to a turn.
enum Reply {
    Resume { events: Vec<EventKind>, now_ms: u64 },
    Stop(Stop),
}

/// A parked guest's turn, with where the answer goes.
type Turn = (TurnRecord, oneshot::Sender<Reply>);
/// How a parked guest hands its turn to the session.
type TurnSender = mpsc::UnboundedSender<Turn>;

/// One live run of an orchestration. The guest runs inside [`Session::next`] until it ends a
/// turn (it waits on something the history does not hold yet) or the run ends; the owner
/// persists the turn and answers with [`Session::resume`] or [`Session::stop`]. The guest stays
/// parked on its fiber in between: no replay while the instance stays hot.
pub struct Session<'a> {
    run: Pin<Box<dyn Future<Output = RunResult> + Send + 'a>>,
    turns: mpsc::UnboundedReceiver<Turn>,
    reply: Option<oneshot::Sender<Reply>>,
}

/// What [`Session::next`] produced: a turn to persist (the session waits for its answer), or
/// the end of the run.
pub enum Step<'a> {
    Turn(TurnRecord, Session<'a>),
    Ended(Box<RunResult>),
}

impl<'a> Session<'a> {
    /// A session over one run of a guest: `guest` gets the link it ends its turns through and
    /// returns the run (the Wasm sandbox's, or a Rust stand-in in the executor's unit tests).
    pub fn new<F>(guest: impl FnOnce(GuestLink) -> F) -> Self
    where
        F: Future<Output = RunResult> + Send + 'a,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        Session {
            run: Box::pin(guest(GuestLink(Some(tx)))),
            turns: rx,
            reply: None,
        }
    }

    /// Runs the guest until its next turn or its end.
    pub async fn next(mut self) -> Step<'a> {
        let turn = std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(result) = self.run.as_mut().poll(cx) {
                return std::task::Poll::Ready(Err(result));
            }
            // The guest's store holds the sender until the run's future is ready, so the
            // channel never reports closed here: only a turn or nothing yet.
            match self.turns.poll_recv(cx) {
                std::task::Poll::Ready(Some(turn)) => std::task::Poll::Ready(Ok(turn)),
                _ => std::task::Poll::Pending,
            }
        })
        .await;
        match turn {
            Ok((turn, reply)) => {
                self.reply = Some(reply);
                Step::Turn(turn, self)
            }
            Err(result) => Step::Ended(Box::new(result)),
        }
    }

    /// Hands the guest the next turn's inbound events, stamped `now_ms`.
    pub fn resume(&mut self, events: Vec<EventKind>, now_ms: u64) {
        self.answer(Reply::Resume { events, now_ms });
    }

    /// Stops the guest; the next [`Session::next`] ends the run with [`RunEnd::Stopped`].
    pub fn stop(&mut self, why: Stop) {
        self.answer(Reply::Stop(why));
    }

    fn answer(&mut self, reply: Reply) {
        if let Some(waiting) = self.reply.take() {
            let _ = waiting.send(reply);
        }
    }
}

/// The guest's end of a [`Session`]: hands each turn to the owner and waits for the answer.
/// Without an owner (replay-only mode) the first new turn stops the run at the end of the
/// history.
pub struct GuestLink(Option<TurnSender>);

impl GuestLink {
    /// The link of a replay-only run.
    pub fn replay_only() -> Self {
        GuestLink(None)
    }

    /// Ends the turn `exec` is in (its new events, the custom status it set) and waits for the
    /// owner's answer: the next turn's events, pushed into `exec`, or why the run stops.
    pub async fn end_turn(
        &self,
        exec: &mut Execution,
        custom_status: Option<Option<String>>,
    ) -> Result<(), Stop> {
        let turn = TurnRecord {
            events: exec.take_new_events(),
            custom_status,
            activities_in_flight: exec.activities_in_flight(),
        };
        let Some(turns) = &self.0 else {
            return Err(Stop::EndOfHistory);
        };
        let (tx, rx) = oneshot::channel();
        let gone = || Stop::Fault("the session was dropped".to_owned());
        turns.send((turn, tx)).map_err(|_| gone())?;
        match rx.await.map_err(|_| gone())? {
            Reply::Resume { events, now_ms } => {
                exec.push_turn(now_ms, events);
                Ok(())
            }
            Reply::Stop(stop) => Err(stop),
        }
    }
}

/// Memory cap that remembers it was hit, so the failure can say so.
pub(crate) struct MemoryCap {
    pub max_bytes: usize,
    pub hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} MiB exceeded",
                self.max_bytes >> 20
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Why the host halted the guest (as opposed to a guest trap).
enum Halt {
    /// The orchestration fails with this reason (non-determinism, an invalid request).
    Failed(String),
    Stopped(Stop),
}

/// Per-store state: the replay cursor plus what the guest did during the current turn.
pub struct OrchState {
    exec: Execution,
    /// Where turns go (replay-only mode: the run stops at the end of the history).
    link: GuestLink,
    parent_instance_id: Option<String>,
    custom_status: Option<Option<String>>,
    continue_as_new: Option<String>,
    panic_message: Option<String>,
    halt: Option<Halt>,
    refuel: bool,
    fuel_per_turn: u64,
    memory: MemoryCap,
}

/// A loaded, checked orchestrator component.
pub struct LoadedOrchestrator {
    pub names: Vec<String>,
    pre: OrchestratorPre<OrchState>,
}

/// The orchestrator engine and linker (shared by all orchestrator components).
pub struct OrchestratorSandbox {
    engine: Engine,
    linker: Linker<OrchState>,
    limits: OrchestratorLimits,
}

impl OrchestratorSandbox {
    pub fn new(
        limits: OrchestratorLimits,
        cache: Option<&std::path::Path>,
    ) -> Result<Self, LoadError> {
        // Thousands of orchestrations may be parked at once. With the on-demand allocator each
        // costs ~9 memory mappings (the kernel's limit is 65,530 per process) and a 4 GiB
        // reservation; the pool reserves all slots in one go and bounds the hot set.
        let slots = limits.max_hot_instances.max(16);
        // Probing a component's names briefly takes a slot too, hence the margin. Orchestrations
        // live long and are evicted when idle: their pages are given back (no keep-resident
        // window, unlike activities), the madvise calls batched.
        let pool = super::pool(slots + 16, limits.memory_bytes);
        let mut config = super::pooled_config(pool, limits.memory_bytes);
        config
            .consume_fuel(true)
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            // Room for the JS runtime's recursion limit (guest-js/src/engine.rs) to throw
            // before the native stack runs out.
            .max_wasm_stack(512 << 10)
            .async_stack_size(1 << 20)
            // Memory is initialised by copying, not mapped copy-on-write from the image. A JS
            // orchestrator writes over most of its heap image (QuickJS counts references in
            // every object it touches), and each page first read from a mapping and then
            // written is a write-protect fault whose TLB shootdown interrupts the other cores:
            // copying ~400 KiB into fresh pages (jsapp::segments merges it into a few
            // segments) costs far less. Rust orchestrators' images are small (~20 KiB): their
            // benchmark row does not move. BENCHMARKS.md has the measurements.
            .memory_init_cow(false)
            // Tables are filled at instantiation. Filled lazily, each first indirect call read
            // a table page (mapping the shared zero page) and then wrote it: a copy-on-write
            // fault with a TLB shootdown, ~3% of host CPU at saturation. Writing them at once
            // faults fresh pages only, and an orchestrator is instantiated once per run.
            .table_lazy_init(false);
        super::use_compile_cache(&mut config, cache)?;
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        Orchestrator::add_to_linker::<OrchState, HasSelf<OrchState>>(&mut linker, |s| s)
            .map_err(|e| LoadError::Engine(e.to_string()))?;
        Ok(OrchestratorSandbox {
            engine,
            linker,
            limits,
        })
    }

    /// The memory cap of one instance.
    pub fn memory_bytes(&self) -> usize {
        self.limits.memory_bytes
    }

    /// How many orchestrations fit in memory at once.
    pub fn max_hot_instances(&self) -> usize {
        self.limits.max_hot_instances as usize
    }

    /// Compiles and checks a component: only our context may be imported, and it must export the
    /// `orchestrations` interface. `what` names the component in messages.
    pub async fn load(&self, what: &str, bytes: &[u8]) -> Result<LoadedOrchestrator, LoadError> {
        let (component, imports) = super::sandbox::compile_with_imports(&self.engine, what, bytes)?;
        check_orchestrator_imports(&imports).map_err(|message| LoadError::ForbiddenImports {
            what: what.to_owned(),
            message,
        })?;
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
            what: what.to_owned(),
            world: "orchestrator",
            reason: format!("{e:#}"),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = OrchestratorPre::new(pre).map_err(wrong_world)?;
        let mut loaded = LoadedOrchestrator {
            names: Vec::new(),
            pre,
        };
        loaded.names = self.names(&loaded).await.map_err(wrong_world)?;
        Ok(loaded)
    }

    async fn names(&self, orch: &LoadedOrchestrator) -> wasmtime::Result<Vec<String>> {
        let probe = Execution::from_history(
            "probe",
            "probe",
            vec![Event {
                seq: 0,
                timestamp_ms: 0,
                kind: EventKind::ExecutionStarted {
                    name: String::new(),
                    input: "null".into(),
                    orchestrator_digest: Digest::from_trusted(String::new()),
                    version: None,
                    trace_context: None,
                },
            }],
        )
        .map_err(|e| wasmtime::Error::msg(e.to_string()))?;
        let mut store = self.store(probe, GuestLink::replay_only(), None);
        let instance = orch.pre.instantiate_async(&mut store).await?;
        instance
            .durable_engine_orchestrations()
            .call_names(&mut store)
            .await
    }

    fn store(
        &self,
        exec: Execution,
        link: GuestLink,
        parent_instance_id: Option<String>,
    ) -> Store<OrchState> {
        let state = OrchState {
            exec,
            link,
            parent_instance_id,
            custom_status: None,
            continue_as_new: None,
            panic_message: None,
            halt: None,
            refuel: false,
            fuel_per_turn: self.limits.fuel_per_turn,
            memory: MemoryCap {
                max_bytes: self.limits.memory_bytes,
                hit: false,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        // Fuel is refilled at the start of every turn, so the budget bounds one turn, not the
        // orchestration's lifetime, and is the same on every replay.
        let _ = store.set_fuel(self.limits.fuel_per_turn);
        // A busy turn yields to the tokio scheduler every few milliseconds of guest work, so
        // orchestrators near their budget do not stall a worker thread (HTTP, timers, store).
        let _ = store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL));
        store.call_hook(|mut ctx, hook| {
            if matches!(hook, CallHook::ReturningFromHost) && ctx.data().refuel {
                ctx.data_mut().refuel = false;
                let fuel = ctx.data().fuel_per_turn;
                ctx.set_fuel(fuel)?;
            }
            Ok(())
        });
        store
    }

    /// Starts a live run of `exec`: its history is replayed, then it runs live, one turn per
    /// [`Session::next`]. `parent_instance_id` is what the guest sees as its parent.
    pub fn start<'a>(
        &'a self,
        orch: &'a LoadedOrchestrator,
        exec: Execution,
        parent_instance_id: Option<String>,
    ) -> Session<'a> {
        Session::new(|link| self.run(orch, self.store(exec, link, parent_instance_id)))
    }

    /// Replay-only mode (dry runs, probes): replays `exec`'s history and stops with
    /// [`Stop::EndOfHistory`] where a live run would end its first new turn.
    pub async fn replay(&self, orch: &LoadedOrchestrator, exec: Execution) -> RunResult {
        self.run(orch, self.store(exec, GuestLink::replay_only(), None))
            .await
    }

    async fn run(&self, orch: &LoadedOrchestrator, mut store: Store<OrchState>) -> RunResult {
        let name = store.data().exec.name().to_owned();
        let input = store.data().exec.input().to_owned();
        let instance = match orch.pre.instantiate_async(&mut store).await {
            Ok(instance) => instance,
            Err(e) => {
                let state = store.into_data();
                let why = format!("instantiating the orchestrator failed: {e:#}");
                return RunResult {
                    exec: state.exec,
                    custom_status: state.custom_status,
                    end: RunEnd::Stopped(Stop::Fault(why)),
                };
            }
        };
        let result = instance
            .durable_engine_orchestrations()
            .call_run(&mut store, &name, &input)
            .await;
        let fuel_left = store.get_fuel().unwrap_or(1);
        let mut state = store.into_data();
        let end = match result {
            Ok(Ok(output)) => returned(&name, output, state.continue_as_new.take()),
            Ok(Err(failure)) => RunEnd::Failed(Failure {
                message: format!("Orchestrator function '{name}' failed: {}", failure.message),
                details: failure.details,
            }),
            Err(trap) => match state.halt.take() {
                Some(Halt::Failed(reason)) => RunEnd::Failed(Failure::new(reason)),
                Some(Halt::Stopped(stop)) => RunEnd::Stopped(stop),
                None => trapped(&name, &state, fuel_left, &trap),
            },
        };
        RunResult {
            exec: state.exec,
            custom_status: state.custom_status,
            end,
        }
    }
}

/// How a run ends whose guest trapped by itself: a panic, the memory cap, the fuel budget.
fn trapped(name: &str, state: &OrchState, fuel_left: u64, trap: &wasmtime::Error) -> RunEnd {
    let reason = if let Some(panic) = &state.panic_message {
        format!("Orchestrator function '{name}' failed: {panic}")
    } else if state.memory.hit {
        format!(
            "Orchestrator function '{name}' failed: memory limit of {} MiB exceeded",
            state.memory.max_bytes >> 20
        )
    } else if fuel_left == 0 {
        format!(
            "Orchestrator function '{name}' failed: a turn used more than its fuel budget of {} \
             (an endless loop?)",
            state.fuel_per_turn
        )
    } else if matches!(
        trap.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::StackOverflow)
    ) {
        format!("Orchestrator function '{name}' failed: stack overflow: it recursed too deeply")
    } else {
        format!("Orchestrator function '{name}' failed: the guest trapped: {trap}")
    };
    RunEnd::Failed(Failure {
        message: reason,
        details: Some(format!("{trap:?}")),
    })
}

/// How a run that returned `output` ends: continued as new if the guest asked, else completed,
/// unless the output is over the payload limit.
fn returned(name: &str, output: String, continue_as_new: Option<String>) -> RunEnd {
    if let Err(limit) = limits::check_payload("output", &output) {
        let message = format!("Orchestrator function '{name}' failed: {limit}");
        return RunEnd::Failed(Failure::new(message));
    }
    match continue_as_new {
        Some(input) => RunEnd::ContinueAsNew(input),
        None => RunEnd::Completed(output),
    }
}
