//! What the executor needs from the runtime, as three narrow traits: find an orchestrator by
//! digest and run it through a [`Session`], find an activity by name and call it. The Wasm
//! sandboxes implement them through [`Components`]; the executor's unit tests implement them
//! with Rust stand-ins, so the executor runs without any component.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use super::Components;
use super::activity::{ActivityResult, ActivitySandbox, LoadedActivity, RetryGrant};
use super::entity::{EffectCheck, EntitySandbox, LoadedEntity, OperationCall, OperationEffect};
use super::error::LoadError;
use super::orchestrator::{LoadedOrchestrator, OrchestratorSandbox, RunResult, Session};
use crate::engine::{Execution, Failure};
use crate::ids::{Digest, EntityId};
use crate::trace::TraceContext;

/// The orchestrators and activities the executor runs.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// The digest new instances of orchestration `name` start on.
    fn orchestration_digest(&self, name: &str) -> Option<Digest>;
    /// How many orchestrations may be held in memory at once.
    fn max_hot_instances(&self) -> usize;
    /// The loaded orchestrator with `digest`.
    fn orchestrator(&self, digest: &str) -> Option<Arc<dyn Orchestrator>>;
    /// Loads an orchestrator from its bytes (a version instances are pinned to that the
    /// configuration no longer names); `what` labels it in errors.
    async fn load_orchestrator(&self, what: &str, bytes: &[u8]) -> Result<(), LoadError>;
    /// The activity serving `name`.
    fn activity(&self, name: &str) -> Option<Arc<dyn Activity>>;
    /// The entity component serving entity `name` (lower-cased); none by default.
    fn entity(&self, _name: &str) -> Option<Arc<dyn Entity>> {
        None
    }
}

/// One entity component, as the entities it serves see it.
#[async_trait]
pub trait Entity: Send + Sync {
    fn digest(&self) -> &Digest;
    /// Runs `calls` on `entity` one after another from `state`, each on the state the last
    /// successful one left; one result per call (a failure leaves the state as it was).
    async fn run(
        &self,
        entity: &EntityId,
        state: Option<String>,
        calls: &[OperationCall],
        check: &EffectCheck,
    ) -> Vec<Result<OperationEffect, Failure>>;
}

struct WasmEntity {
    sandbox: Arc<EntitySandbox>,
    digest: Digest,
    code: Arc<LoadedEntity>,
}

#[async_trait]
impl Entity for WasmEntity {
    fn digest(&self) -> &Digest {
        &self.digest
    }

    async fn run(
        &self,
        entity: &EntityId,
        state: Option<String>,
        calls: &[OperationCall],
        check: &EffectCheck,
    ) -> Vec<Result<OperationEffect, Failure>> {
        self.sandbox
            .run(&self.code, entity, state, calls, check)
            .await
    }
}

/// One orchestrator version.
#[async_trait]
pub trait Orchestrator: Send + Sync {
    /// A live run of `exec` (see [`Session`]); `parent_instance_id` is what the guest sees.
    fn start(&self, exec: Execution, parent_instance_id: Option<String>) -> Session<'_>;
    /// Replay-only mode: replays `exec`'s history and stops where a new turn would begin.
    async fn replay(&self, exec: Execution) -> RunResult;
}

/// One activity component, as the name it serves sees it.
#[async_trait]
pub trait Activity: Send + Sync {
    fn digest(&self) -> &Digest;
    /// The component's own concurrency limit, if its grant sets one.
    fn slots(&self) -> Option<&Semaphore>;
    /// The host-side retry policy of its grant.
    fn retry(&self) -> Option<&RetryGrant>;
    /// One attempt; `tag` names the call in the component's log lines; `trace` is the calling
    /// instance's trace context (a fresh instance of the component sees it as `TRACEPARENT` and
    /// `TRACESTATE`).
    async fn invoke(
        &self,
        name: &str,
        input: &str,
        tag: &str,
        trace: Option<&TraceContext>,
    ) -> ActivityResult;
}

struct WasmOrchestrator {
    sandbox: Arc<OrchestratorSandbox>,
    code: Arc<LoadedOrchestrator>,
}

#[async_trait]
impl Orchestrator for WasmOrchestrator {
    fn start(&self, exec: Execution, parent_instance_id: Option<String>) -> Session<'_> {
        self.sandbox.start(&self.code, exec, parent_instance_id)
    }

    async fn replay(&self, exec: Execution) -> RunResult {
        self.sandbox.replay(&self.code, exec).await
    }
}

struct WasmActivity {
    sandbox: Arc<ActivitySandbox>,
    digest: Digest,
    code: Arc<LoadedActivity>,
}

#[async_trait]
impl Activity for WasmActivity {
    fn digest(&self) -> &Digest {
        &self.digest
    }

    fn slots(&self) -> Option<&Semaphore> {
        self.code.slots.as_deref()
    }

    fn retry(&self) -> Option<&RetryGrant> {
        self.code.grant.retry.as_ref()
    }

    async fn invoke(
        &self,
        name: &str,
        input: &str,
        tag: &str,
        trace: Option<&TraceContext>,
    ) -> ActivityResult {
        let call = super::activity::CallInfo { name, input, tag };
        self.sandbox.invoke(&self.code, call, trace).await
    }
}

#[async_trait]
impl Runtime for Components {
    fn orchestration_digest(&self, name: &str) -> Option<Digest> {
        Components::orchestration_digest(self, name)
    }

    fn max_hot_instances(&self) -> usize {
        self.orchestrators.max_hot_instances()
    }

    fn orchestrator(&self, digest: &str) -> Option<Arc<dyn Orchestrator>> {
        let code = self.loaded_orchestrator(digest)?;
        let sandbox = Arc::clone(&self.orchestrators);
        Some(Arc::new(WasmOrchestrator { sandbox, code }))
    }

    async fn load_orchestrator(&self, what: &str, bytes: &[u8]) -> Result<(), LoadError> {
        Components::load_orchestrator(self, what, bytes).await?;
        Ok(())
    }

    fn entity(&self, name: &str) -> Option<Arc<dyn Entity>> {
        let (digest, code) = self.entity_route(name)?;
        let sandbox = Arc::clone(&self.entities);
        Some(Arc::new(WasmEntity {
            sandbox,
            digest,
            code,
        }))
    }

    fn activity(&self, name: &str) -> Option<Arc<dyn Activity>> {
        let (digest, code) = self.activity_route(name)?;
        let sandbox = Arc::clone(&self.activities);
        Some(Arc::new(WasmActivity {
            sandbox,
            digest,
            code,
        }))
    }
}
