//! The orchestrator sandbox: a linker that defines only `durable:engine/context`, deterministic
//! engine settings, a fuel budget per turn and a memory cap.
//!
//! An orchestration runs as one async call of the guest's `run` export. When the guest waits on
//! something the history does not hold yet, the `wait-*` host function ends the turn through the
//! [`TurnDriver`] (which persists the turn and dispatches its work) and parks the guest on its
//! fiber until the next inbound events arrive: no replay while the instance stays hot.

use std::future::Future;
use std::pin::Pin;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{CallHook, Engine, Store};

use super::bindings::orchestrator::durable::engine::{context, types};
use super::bindings::orchestrator::{Orchestrator, OrchestratorPre};
use super::error::LoadError;
use super::sandbox::check_orchestrator_imports;
use crate::engine::{
    Decision, Event, EventKind, Execution, Nondeterminism, Outcome, Poll, WaitMode, limits,
};
use crate::ids::{InstanceId, default_child_id};

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

/// What one turn recorded, handed to the driver to persist.
#[derive(Debug)]
pub struct TurnRecord {
    pub events: Vec<Event>,
    /// `Some` when the guest changed its custom status during the turn.
    pub custom_status: Option<Option<String>>,
    /// Activities whose results are still to come. While any is in flight the instance must not
    /// be evicted (activity results become durable only when a turn records them).
    pub activities_in_flight: usize,
}

/// Why a driver ended a turn without new events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnStop {
    /// The instance is idle: drop it from memory; it is replayed when something arrives.
    Evict,
    /// An operator terminated the instance (with this reason).
    Terminate(String),
    /// Stop the guest without recording anything (the store failed, shutdown, ...).
    Abort(String),
    /// An operator asked to move the instance to this orchestrator digest: stop the guest,
    /// so the instance can be checked and replayed on the new version.
    Migrate(String),
}

/// The boxed future a driver returns for one turn.
pub type TurnFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<EventKind>, TurnStop>> + Send + 'a>>;

/// Drives an execution from outside the sandbox: persists each turn and supplies the next one.
pub trait TurnDriver: Send + 'static {
    /// Persist `turn` (and act on its new decisions), then wait for the next inbound events.
    /// `Err` stops the guest without recording anything.
    fn end_turn(&mut self, turn: TurnRecord) -> TurnFuture<'_>;
    /// The time to stamp on the next turn.
    fn now_ms(&self) -> u64;
    /// The instance that started this one as a sub-orchestration.
    fn parent_instance_id(&self) -> Option<String> {
        None
    }
    /// The driver itself, for its owner to take back what it lent (its inbox channel).
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

/// How a run ended.
#[derive(Debug)]
pub enum RunEnd {
    Completed(String),
    /// The orchestration failed; to be recorded as `ExecutionFailed`.
    Failed {
        reason: String,
        details: Option<String>,
    },
    ContinueAsNew(String),
    /// The host stopped the run (driver error); nothing is to be recorded.
    Aborted(String),
    /// The instance was idle and was dropped from memory; nothing is to be recorded.
    Evicted,
    /// An operator terminated the instance; to be recorded as `ExecutionTerminated`.
    Terminated(String),
    /// An operator asked to move the instance to this orchestrator digest.
    Migrated(String),
}

/// Everything a finished run hands back to its caller.
pub struct RunResult {
    pub exec: Execution,
    pub driver: Box<dyn TurnDriver>,
    pub custom_status: Option<Option<String>>,
    pub end: RunEnd,
}

/// Why the host itself stopped the guest (as opposed to a guest trap).
enum Abort {
    Nondeterminism(Nondeterminism),
    Guest(String),
    Driver(String),
    Evicted,
    Terminated(String),
    Migrated(String),
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

/// Per-store state: the replay cursor plus what the guest did during the current turn.
pub struct OrchState {
    exec: Execution,
    driver: Box<dyn TurnDriver>,
    custom_status: Option<Option<String>>,
    continue_as_new: Option<String>,
    panic_message: Option<String>,
    abort: Option<Abort>,
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
            .max_wasm_stack(256 << 10)
            .async_stack_size(512 << 10);
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
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid {
            what: what.to_owned(),
            reason: format!("{e:#}"),
        })?;
        let imports: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
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
                    orchestrator_digest: String::new(),
                },
            }],
        )
        .map_err(|e| wasmtime::Error::msg(e.to_string()))?;
        let mut store = self.store(probe, Box::new(NoTurns));
        let instance = orch.pre.instantiate_async(&mut store).await?;
        instance
            .durable_engine_orchestrations()
            .call_names(&mut store)
            .await
    }

    fn store(&self, exec: Execution, driver: Box<dyn TurnDriver>) -> Store<OrchState> {
        let state = OrchState {
            exec,
            driver,
            custom_status: None,
            continue_as_new: None,
            panic_message: None,
            abort: None,
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

    /// Runs `exec` (replaying its history, then live) until the orchestration returns.
    pub async fn run(
        &self,
        orch: &LoadedOrchestrator,
        exec: Execution,
        driver: Box<dyn TurnDriver>,
    ) -> RunResult {
        let name = exec.name().to_owned();
        let input = exec.input().to_owned();
        let mut store = self.store(exec, driver);
        let instance = match orch.pre.instantiate_async(&mut store).await {
            Ok(instance) => instance,
            Err(e) => {
                // Out of memory, address space or pool slots: the host's problem, not the
                // orchestration's. Nothing is recorded; the instance resumes later.
                let state = store.into_data();
                return RunResult {
                    exec: state.exec,
                    driver: state.driver,
                    custom_status: state.custom_status,
                    end: RunEnd::Aborted(format!("instantiating the orchestrator failed: {e:#}")),
                };
            }
        };
        let result = instance
            .durable_engine_orchestrations()
            .call_run(&mut store, &name, &input)
            .await;
        let fuel_left = store.get_fuel().unwrap_or(1);
        let state = store.into_data();
        let end = match result {
            Ok(Ok(output)) => returned(&name, output, state.continue_as_new),
            Ok(Err(failure)) => RunEnd::Failed {
                reason: format!("Orchestrator function '{name}' failed: {}", failure.message),
                details: failure.details,
            },
            Err(trap) => match state.abort {
                Some(Abort::Nondeterminism(n)) => RunEnd::Failed {
                    reason: n.to_string(),
                    details: None,
                },
                Some(Abort::Guest(message)) => RunEnd::Failed {
                    reason: format!("Orchestrator function '{name}' failed: {message}"),
                    details: None,
                },
                Some(Abort::Driver(why)) => RunEnd::Aborted(why),
                Some(Abort::Evicted) => RunEnd::Evicted,
                Some(Abort::Terminated(reason)) => RunEnd::Terminated(reason),
                Some(Abort::Migrated(digest)) => RunEnd::Migrated(digest),
                None => {
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
                    } else {
                        format!("Orchestrator function '{name}' failed: the guest trapped: {trap}")
                    };
                    RunEnd::Failed {
                        reason,
                        details: Some(format!("{trap:?}")),
                    }
                }
            },
        };
        RunResult {
            exec: state.exec,
            driver: state.driver,
            custom_status: state.custom_status,
            end,
        }
    }
}

/// How a run that returned `output` ends: continued as new if the guest asked, else completed,
/// unless the output is over the payload limit.
fn returned(name: &str, output: String, continue_as_new: Option<String>) -> RunEnd {
    if let Err(limit) = limits::check_payload("output", &output) {
        return RunEnd::Failed {
            reason: format!("Orchestrator function '{name}' failed: {limit}"),
            details: None,
        };
    }
    match continue_as_new {
        Some(input) => RunEnd::ContinueAsNew(input),
        None => RunEnd::Completed(output),
    }
}

/// Driver for probing a component (calling `names`): there are no turns.
struct NoTurns;

impl TurnDriver for NoTurns {
    fn end_turn(&mut self, _turn: TurnRecord) -> TurnFuture<'_> {
        Box::pin(async {
            Err(TurnStop::Abort(
                "no turns while probing a component".to_owned(),
            ))
        })
    }
    fn now_ms(&self) -> u64 {
        0
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

impl OrchState {
    fn decide(&mut self, decision: Decision) -> wasmtime::Result<u32> {
        match self.exec.decide(decision) {
            Ok((task_id, _new)) => Ok(task_id),
            Err(n) => {
                let message = n.to_string();
                self.abort = Some(Abort::Nondeterminism(n));
                Err(wasmtime::Error::msg(message))
            }
        }
    }

    /// The guest asked for something invalid: the orchestration fails with `message`.
    fn guest_error<T>(&mut self, message: String) -> wasmtime::Result<T> {
        self.abort = Some(Abort::Guest(message.clone()));
        Err(wasmtime::Error::msg(message))
    }

    /// Polls the execution; when that hands the guest a new turn (recorded, on replay, or
    /// live) the turn gets a fresh fuel budget, so a replay runs each recorded turn on the
    /// budget it had live instead of all of them on one.
    fn poll(&mut self, tasks: &[u32], mode: WaitMode) -> Result<Poll, String> {
        let before = self.exec.turns_consumed();
        let poll = self.exec.poll(tasks, mode);
        if self.exec.turns_consumed() != before {
            self.refuel = true;
        }
        poll
    }

    /// A limit check on a new decision (recorded ones replay as they were).
    fn check(&mut self, limit: Result<(), String>) -> wasmtime::Result<()> {
        match limit {
            Err(message) if !self.exec.is_replaying() => self.guest_error(message),
            _ => Ok(()),
        }
    }

    /// Ends the turn and waits for the next one; the guest stays parked meanwhile.
    async fn next_turn(&mut self) -> wasmtime::Result<()> {
        let turn = TurnRecord {
            events: self.exec.take_new_events(),
            custom_status: self.custom_status.take(),
            activities_in_flight: self.exec.activities_in_flight(),
        };
        match self.driver.end_turn(turn).await {
            Ok(inbound) => {
                let now = self.driver.now_ms();
                self.exec.push_turn(now, inbound);
                self.refuel = true;
                Ok(())
            }
            Err(TurnStop::Evict) => {
                self.abort = Some(Abort::Evicted);
                Err(wasmtime::Error::msg("evicted while idle"))
            }
            Err(TurnStop::Terminate(reason)) => {
                self.abort = Some(Abort::Terminated(reason));
                Err(wasmtime::Error::msg("terminated"))
            }
            Err(TurnStop::Abort(why)) => {
                self.abort = Some(Abort::Driver(why.clone()));
                Err(wasmtime::Error::msg(why))
            }
            Err(TurnStop::Migrate(digest)) => {
                self.abort = Some(Abort::Migrated(digest));
                Err(wasmtime::Error::msg("migrating"))
            }
        }
    }
}

fn to_wit(outcome: Outcome) -> types::Outcome {
    match outcome {
        Outcome::Completed(json) => types::Outcome::Completed(json),
        Outcome::Failed { message, details } => {
            types::Outcome::Failed(types::Failure { message, details })
        }
    }
}

impl types::Host for OrchState {}

impl context::Host for OrchState {
    fn input(&mut self) -> wasmtime::Result<String> {
        Ok(self.exec.input().to_owned())
    }

    fn instance_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.exec.instance_id().to_owned())
    }

    fn orchestration_name(&mut self) -> wasmtime::Result<String> {
        Ok(self.exec.name().to_owned())
    }

    fn parent_instance_id(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.driver.parent_instance_id())
    }

    fn current_time(&mut self) -> wasmtime::Result<u64> {
        Ok(self.exec.current_time_ms())
    }

    fn new_guid(&mut self) -> wasmtime::Result<String> {
        Ok(self.exec.new_guid())
    }

    fn is_replaying(&mut self) -> wasmtime::Result<bool> {
        Ok(self.exec.is_replaying())
    }

    fn set_custom_status(&mut self, status: Option<String>) -> wasmtime::Result<()> {
        if let Some(text) = &status {
            self.check(limits::check_payload("custom status", text))?;
        }
        self.custom_status = Some(status);
        Ok(())
    }

    fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        if self.exec.is_replaying() {
            return Ok(());
        }
        let instance = self.exec.instance_id();
        let orchestration = self.exec.name();
        match level {
            types::LogLevel::Trace => tracing::trace!(instance, orchestration, "{message}"),
            types::LogLevel::Debug => tracing::debug!(instance, orchestration, "{message}"),
            types::LogLevel::Info => tracing::info!(instance, orchestration, "{message}"),
            types::LogLevel::Warn => tracing::warn!(instance, orchestration, "{message}"),
            types::LogLevel::Error => tracing::error!(instance, orchestration, "{message}"),
        }
        Ok(())
    }

    fn report_panic(&mut self, message: String) -> wasmtime::Result<()> {
        self.panic_message = Some(message);
        Ok(())
    }

    fn schedule_activity(&mut self, name: String, input: String) -> wasmtime::Result<u32> {
        self.check(limits::check_name("activity name", &name))?;
        self.check(limits::check_payload(
            &format!("input of activity '{name}'"),
            &input,
        ))?;
        self.decide(Decision::ScheduleActivity { name, input })
    }

    fn schedule_sub_orchestration(
        &mut self,
        name: String,
        instance_id: Option<String>,
        input: String,
    ) -> wasmtime::Result<u32> {
        self.check(limits::check_name("sub-orchestration name", &name))?;
        self.check(limits::check_payload(
            &format!("input of sub-orchestration '{name}'"),
            &input,
        ))?;
        let instance_id = match instance_id {
            Some(id) => id,
            None => match InstanceId::parse(self.exec.instance_id()) {
                Ok(parent) => {
                    default_child_id(&parent, self.exec.execution_id(), self.exec.next_task_id())
                }
                Err(e) => return self.guest_error(format!("invalid parent instance id: {e}")),
            },
        };
        if let Err(e) = InstanceId::parse(&instance_id) {
            return self.guest_error(format!(
                "invalid sub-orchestration instance id '{instance_id}': {e}"
            ));
        }
        if instance_id == self.exec.instance_id() {
            return self.guest_error(
                "a sub-orchestration cannot reuse its parent's instance id".to_owned(),
            );
        }
        self.decide(Decision::ScheduleSubOrchestration {
            name,
            instance_id,
            input,
        })
    }

    fn create_timer(&mut self, fire_at: u64) -> wasmtime::Result<u32> {
        self.decide(Decision::CreateTimer {
            fire_at_ms: fire_at,
        })
    }

    fn wait_for_event(&mut self, name: String) -> wasmtime::Result<u32> {
        // A name the API could never raise would leave the instance waiting forever.
        self.check(limits::check_name("event name", &name))?;
        Ok(self.exec.wait_for_event(&name))
    }

    async fn wait_all(
        &mut self,
        tasks: Vec<u32>,
    ) -> wasmtime::Result<Result<Vec<types::Outcome>, String>> {
        loop {
            match self.poll(&tasks, WaitMode::All) {
                Err(message) => return Ok(Err(message)),
                Ok(Poll::All(outcomes)) => {
                    return Ok(Ok(outcomes.into_iter().map(to_wit).collect()));
                }
                Ok(Poll::Any(..)) => {
                    return Ok(Err("internal: wait-all answered as wait-any".into()));
                }
                Ok(Poll::Blocked) => self.next_turn().await?,
            }
        }
    }

    async fn wait_any(
        &mut self,
        tasks: Vec<u32>,
    ) -> wasmtime::Result<Result<(u32, types::Outcome), String>> {
        loop {
            match self.poll(&tasks, WaitMode::Any) {
                Err(message) => return Ok(Err(message)),
                Ok(Poll::Any(index, outcome)) => return Ok(Ok((index, to_wit(outcome)))),
                Ok(Poll::All(..)) => {
                    return Ok(Err("internal: wait-any answered as wait-all".into()));
                }
                Ok(Poll::Blocked) => self.next_turn().await?,
            }
        }
    }

    fn continue_as_new(&mut self, input: String) -> wasmtime::Result<()> {
        if serde_json::from_str::<serde_json::Value>(&input).is_err() {
            return self.guest_error("continue-as-new input is not valid JSON".to_owned());
        }
        self.check(limits::check_payload("continue-as-new input", &input))?;
        self.continue_as_new = Some(input);
        Ok(())
    }
}
