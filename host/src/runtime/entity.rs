//! The entity sandbox: an entity component imports nothing (like an orchestrator it is
//! deterministic by construction), gets a fuel budget and a memory cap per operation, and runs
//! one entity's operations one after another on one instance, the state threaded through.
//! A trap ends that instance: the operation fails and the next one gets a fresh instance.

use wasmtime::component::Linker;
use wasmtime::{Engine, Store};

use super::bindings::entity::exports::durable::engine::entities::OperationResult;
use super::bindings::entity::{Entity, EntityPre};
use super::error::LoadError;
use super::orchestrator::{MemoryCap, OrchestratorLimits};
use crate::engine::Failure;
use crate::engine::limits::{check_name, check_payload};
use crate::ids::EntityId;

/// The one interface an entity may import (it holds types only).
const TYPES: &str = "durable:engine/types@";
const TYPES_INSTANCE: &str = "durable:engine/types@0.1.0";

/// Guest work between yields to the tokio scheduler (as for orchestrators).
const FUEL_YIELD_INTERVAL: u64 = 1_000_000;

/// One operation for an entity: its name and input (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationCall {
    pub operation: String,
    pub input: Option<String>,
}

/// An operation's effect: the new state (`None`: deleted), its return value, and the messages
/// to send when it commits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OperationEffect {
    pub state: Option<String>,
    pub output: String,
    pub signals: Vec<SignalOut>,
    pub starts: Vec<StartOut>,
}

/// An operation an entity sends to another entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalOut {
    pub entity: EntityId,
    pub operation: String,
    pub input: Option<String>,
}

/// An orchestration an entity starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartOut {
    pub name: String,
    pub instance_id: Option<String>,
    pub input: String,
}

/// Whether the host can carry out what an operation asks (the orchestrations it starts exist).
pub type EffectCheck = dyn Fn(&OperationEffect) -> Result<(), Failure> + Send + Sync;

/// Per-store state: only the memory cap (the world has no imports).
pub struct EntityState {
    memory: MemoryCap,
}

/// A loaded, checked entity component.
pub struct LoadedEntity {
    /// The entity names it serves, lower-cased.
    pub names: Vec<String>,
    pre: EntityPre<EntityState>,
}

/// The engine entity components run on.
pub struct EntitySandbox {
    engine: Engine,
    linker: Linker<EntityState>,
    limits: OrchestratorLimits,
}

impl EntitySandbox {
    /// Entities get an orchestrator's fuel budget (per operation) and memory cap.
    pub fn new(
        limits: OrchestratorLimits,
        cache: Option<&std::path::Path>,
    ) -> Result<Self, LoadError> {
        let mut config = wasmtime::Config::new();
        config
            .consume_fuel(true)
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .memory_reservation(limits.memory_bytes as u64)
            .memory_guard_size(64 << 10);
        super::use_compile_cache(&mut config, cache)?;
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        // The shared type definitions: an instance with no functions.
        linker
            .instance(TYPES_INSTANCE)
            .map_err(|e| LoadError::Engine(e.to_string()))?;
        Ok(EntitySandbox {
            engine,
            linker,
            limits,
        })
    }

    /// Compiles and checks a component: it may import nothing and must export `entities`.
    pub async fn load(&self, what: &str, bytes: &[u8]) -> Result<LoadedEntity, LoadError> {
        let (component, imports) = super::sandbox::compile_with_imports(&self.engine, what, bytes)?;
        // Only `types` (shared type definitions, no functions) may be imported.
        let bad: Vec<String> = imports
            .into_iter()
            .filter(|name| !name.starts_with(TYPES))
            .collect();
        if !bad.is_empty() {
            let message = format!(
                "entity refused: entities may import nothing (their state comes in and goes out \
                 through `run`), but it imports {}. Build entities for wasm32-unknown-unknown with \
                 durable-sdk (feature \"entity\") and wrap them with tools/componentize.",
                bad.join(", ")
            );
            let what = what.to_owned();
            return Err(LoadError::ForbiddenImports { what, message });
        }
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
            what: what.to_owned(),
            world: "entity",
            reason: format!("{e:#}"),
        };
        let pre = self.linker.instantiate_pre(&component);
        let pre = EntityPre::new(pre.map_err(wrong_world)?).map_err(wrong_world)?;
        let mut store = self.store();
        let instance = pre.instantiate_async(&mut store).await;
        let names = instance
            .map_err(wrong_world)?
            .durable_engine_entities()
            .call_names(&mut store)
            .await
            .map_err(wrong_world)?;
        let names = names.iter().map(|n| n.to_lowercase()).collect();
        Ok(LoadedEntity { names, pre })
    }

    fn store(&self) -> Store<EntityState> {
        let memory = MemoryCap {
            max_bytes: self.limits.memory_bytes,
            hit: false,
        };
        let mut store = Store::new(&self.engine, EntityState { memory });
        store.limiter(|s| &mut s.memory);
        let _ = store.set_fuel(self.limits.fuel_per_turn);
        let _ = store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL));
        store
    }

    /// Runs `calls` on entity `entity`, one after another, starting from `state`: each sees the
    /// state the last successful one left. One result per call; an effect `check` refuses
    /// fails its operation (what it asks for cannot be done). If the component cannot be
    /// instantiated (the host is out of memory or address space: nothing the operation did), the
    /// results stop there: the calls left are for a later try.
    pub async fn run(
        &self,
        code: &LoadedEntity,
        entity: &EntityId,
        mut state: Option<String>,
        calls: &[OperationCall],
        check: &EffectCheck,
    ) -> Vec<Result<OperationEffect, Failure>> {
        let mut results = Vec::with_capacity(calls.len());
        let mut live: Option<(Store<EntityState>, Entity)> = None;
        for call in calls {
            let (mut store, instance) = match live.take() {
                Some(live) => live,
                None => {
                    let mut store = self.store();
                    match code.pre.instantiate_async(&mut store).await {
                        Ok(instance) => (store, instance),
                        Err(e) => {
                            tracing::warn!("instantiating the entity failed: {e:#}");
                            return results;
                        }
                    }
                }
            };
            let _ = store.set_fuel(self.limits.fuel_per_turn);
            let returned = instance
                .durable_engine_entities()
                .call_run(
                    &mut store,
                    entity.name(),
                    entity.key(),
                    &call.operation,
                    call.input.as_deref(),
                    state.as_deref(),
                )
                .await;
            let result = match returned {
                Ok(Ok(result)) => {
                    effect_of(entity, call, result).and_then(|e| check(&e).map(|()| e))
                }
                Ok(Err(failure)) => Err(Failure {
                    message: failure.message,
                    details: failure.details,
                }),
                Err(trap) => {
                    let reason = trapped(&trap, &store.data().memory);
                    results.push(Err(reason));
                    // The instance may be in any state after a trap: the next call gets a new one.
                    continue;
                }
            };
            if let Ok(effect) = &result {
                state = effect.state.clone();
            }
            results.push(result);
            live = Some((store, instance));
        }
        results
    }
}

/// Checks what the guest returned: every entity it signals must have a valid id.
fn effect_of(
    entity: &EntityId,
    call: &OperationCall,
    result: OperationResult,
) -> Result<OperationEffect, Failure> {
    let op = &call.operation;
    let too_big = |e: crate::engine::limits::LimitError| Failure::new(e.to_string());
    let what = format!("the state operation '{op}' of entity {entity} leaves");
    if let Some(state) = &result.state {
        check_payload(&what, state).map_err(too_big)?;
    }
    let what = format!("the output of operation '{op}' of entity {entity}");
    check_payload(&what, &result.output).map_err(too_big)?;
    let mut signals = Vec::with_capacity(result.signals.len());
    for s in result.signals {
        if let Some(input) = &s.input {
            let what = format!("the input of a signal from operation '{op}' of entity {entity}");
            check_payload(&what, input).map_err(too_big)?;
        }
        check_name("operation name", &s.operation).map_err(too_big)?;
        let target = EntityId::parse(&s.name, &s.key).map_err(|e| {
            Failure::new(format!(
                "operation '{}' of entity {entity} signals '@{}@{}': {e}",
                call.operation, s.name, s.key
            ))
        })?;
        signals.push(SignalOut {
            entity: target,
            operation: s.operation,
            input: s.input,
        });
    }
    let mut starts = Vec::with_capacity(result.starts.len());
    for s in result.starts {
        let what = format!("the input of an orchestration started by operation '{op}'");
        check_payload(&what, &s.input).map_err(too_big)?;
        starts.push(StartOut {
            name: s.name,
            instance_id: s.instance_id,
            input: s.input,
        });
    }
    Ok(OperationEffect {
        state: result.state,
        output: result.output,
        signals,
        starts,
    })
}

fn trapped(trap: &wasmtime::Error, memory: &MemoryCap) -> Failure {
    let message = if memory.hit {
        format!(
            "the entity exceeded its memory limit of {} MiB",
            memory.max_bytes >> 20
        )
    } else if matches!(trap.downcast_ref(), Some(wasmtime::Trap::OutOfFuel)) {
        "the entity ran out of fuel (an endless loop?)".to_owned()
    } else {
        format!("the entity trapped: {}", trap.root_cause())
    };
    Failure {
        message,
        details: Some(format!("{trap:?}")),
    }
}
