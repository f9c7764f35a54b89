//! The orchestration executor: one actor (a tokio task) per live instance.
//!
//! An actor owns its instance's orchestrator store for as long as the instance is in flight. Each
//! turn's new events are committed in one store batch (group-committed with other instances'
//! turns by the store's writer), then the turn's new activities are dispatched; their results come
//! back to the actor's inbox and become the next turn. Wake-ups are channel sends: there is no
//! polling anywhere on the path from the POST to the completion.
//!
//! Guarantees: a turn's events are appended only after the previous turn's commit succeeded, so a
//! history never has gaps; an activity may run again after a crash (its result was not committed
//! yet), but an orchestration's state changes exactly once, because every change is a single
//! atomic batch and only one actor per instance exists in this process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};

use crate::clock::Clock;
use crate::engine::{Event, EventKind, Execution, RuntimeStatus};
use crate::ids::{ExecutionId, InstanceId, TaskId};
use crate::runtime::Components;
use crate::runtime::activity::{ActivityResult, MAX_CONCURRENT_ACTIVITIES};
use crate::runtime::orchestrator::{RunEnd, TurnDriver, TurnFuture, TurnRecord};
use crate::store::{self, CommitTicket, Instance, InstanceUpdate, Op, Store, StoreError};

/// Delay before an instance whose actor stopped on an infrastructure error is resumed.
const RESUME_AFTER_ERROR: Duration = Duration::from_secs(1);

/// Why an instance could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no orchestration named '{0}' is registered")]
    UnknownOrchestration(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Inbox = mpsc::UnboundedSender<EventKind>;

/// Runs orchestrations: starts them, resumes them after a restart, and dispatches their work.
pub struct Executor {
    store: Arc<dyn Store>,
    components: Arc<Components>,
    clock: Arc<dyn Clock>,
    live: Mutex<HashMap<InstanceId, Inbox>>,
    activity_slots: Arc<Semaphore>,
}

impl Executor {
    pub fn new(
        store: Arc<dyn Store>,
        components: Arc<Components>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        Arc::new(Executor {
            store,
            components,
            clock,
            live: Mutex::new(HashMap::new()),
            activity_slots: Arc::new(Semaphore::new(MAX_CONCURRENT_ACTIVITIES as usize)),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn components(&self) -> &Arc<Components> {
        &self.components
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Number of instances with a live actor.
    pub fn live_instances(&self) -> usize {
        self.live_map().len()
    }

    fn live_map(&self) -> std::sync::MutexGuard<'_, HashMap<InstanceId, Inbox>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates an instance durably and starts running it. Returns once the creation is committed.
    pub async fn start(
        self: &Arc<Self>,
        name: &str,
        instance_id: Option<InstanceId>,
        input: String,
    ) -> Result<Instance, StartError> {
        let digest = self
            .components
            .orchestration_digest(name)
            .ok_or_else(|| StartError::UnknownOrchestration(name.to_owned()))?;
        let instance_id = instance_id.unwrap_or_else(InstanceId::random);
        let now = self.clock.now_ms();
        let started = Event {
            seq: 0,
            timestamp_ms: now,
            kind: EventKind::ExecutionStarted {
                name: name.to_owned(),
                input: input.clone(),
                orchestrator_digest: digest.clone(),
            },
        };
        let instance = Instance {
            instance_id,
            execution_id: ExecutionId::random(),
            name: name.to_owned(),
            status: RuntimeStatus::Pending,
            input,
            output: None,
            custom_status: None,
            orchestrator_digest: digest,
            created_ms: now,
            updated_ms: now,
        };
        self.store
            .write(vec![Op::CreateInstance {
                instance: instance.clone(),
                started: started.clone(),
            }])
            .await?;
        self.spawn_actor(instance.clone(), Some(vec![started]));
        Ok(instance)
    }

    /// Resumes every unfinished instance (after a restart). Returns how many were resumed.
    pub async fn recover(self: &Arc<Self>) -> Result<usize, StoreError> {
        let unfinished = store::read(&self.store, |s| s.unfinished_instances()).await?;
        let n = unfinished.len();
        for instance in unfinished {
            self.spawn_actor(instance, None);
        }
        Ok(n)
    }

    fn spawn_actor(self: &Arc<Self>, instance: Instance, history: Option<Vec<Event>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.live_map()
            .insert(instance.instance_id.clone(), tx.clone());
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let id = instance.instance_id.clone();
            let outcome = this.run_actor(&instance, history, tx.clone(), rx).await;
            {
                let mut live = this.live_map();
                if live.get(&id).is_some_and(|t| t.same_channel(&tx)) {
                    live.remove(&id);
                }
            }
            if let Err(why) = outcome {
                tracing::warn!(instance = %id, "instance paused after an infrastructure error, resuming in {RESUME_AFTER_ERROR:?}: {why}");
                tokio::time::sleep(RESUME_AFTER_ERROR).await;
                this.resume(id).await;
            }
        });
    }

    /// Starts an actor for an instance from its stored state, if it is unfinished and not live.
    async fn resume(self: &Arc<Self>, id: InstanceId) {
        if self.live_map().contains_key(&id) {
            return;
        }
        let lookup = id.clone();
        match store::read(&self.store, move |s| s.instance(&lookup)).await {
            Ok(Some(instance)) if !instance.status.is_terminal() => {
                self.spawn_actor(instance, None)
            }
            Ok(_) => {}
            Err(e) => tracing::error!(instance = %id, "cannot resume instance: {e}"),
        }
    }

    /// Runs one instance to its end. `Err` means an infrastructure problem: nothing was recorded
    /// for the current turn and the instance should be resumed from the store later.
    async fn run_actor(
        self: &Arc<Self>,
        instance: &Instance,
        history: Option<Vec<Event>>,
        inbox: Inbox,
        rx: mpsc::UnboundedReceiver<EventKind>,
    ) -> Result<(), String> {
        let id = instance.instance_id.clone();
        let history = match history {
            Some(h) => h,
            None => {
                let lookup = id.clone();
                store::read(&self.store, move |s| s.history(&lookup))
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        let next_seq = history.len() as u64;
        let exec =
            match Execution::from_history(id.as_str(), instance.execution_id.as_str(), history) {
                Ok(exec) => exec,
                Err(e) => {
                    let reason = format!("the instance's history cannot be replayed: {e}");
                    return self.record_failure_without_events(instance, reason).await;
                }
            };
        if exec.is_finished() {
            return Ok(());
        }
        let Some(orchestrator) = self.orchestrator_for(exec.orchestrator_digest()).await else {
            let reason = format!(
                "orchestrator component {} (which this instance is pinned to) is not available",
                exec.orchestrator_digest()
            );
            return self.record_failure(instance, exec, reason).await;
        };
        // Activities scheduled before a restart with no recorded result run again (at least once).
        for (task_id, name, input) in exec.open_activities() {
            self.dispatch_activity(&id, task_id, name, input, inbox.clone());
        }
        let pending = Arc::new(Mutex::new(None));
        let driver = InstanceDriver {
            executor: Arc::clone(self),
            instance_id: id.clone(),
            execution_id: instance.execution_id.clone(),
            inbox,
            rx,
            pending: Arc::clone(&pending),
            next_seq,
        };
        let result = self
            .components
            .orchestrators
            .run(&orchestrator, exec, Box::new(driver))
            .await;
        let mut exec = result.exec;
        if let Some(ticket) = take(&pending) {
            ticket.await.map_err(|e| e.to_string())?;
        }
        let (status, output) = match result.end {
            RunEnd::Aborted(why) => return Err(why),
            RunEnd::Completed(output) => match exec.complete(Ok(output.clone())) {
                Ok(()) => (RuntimeStatus::Completed, output),
                Err(nondeterminism) => {
                    let reason = nondeterminism.to_string();
                    exec.fail(reason.clone(), None);
                    (RuntimeStatus::Failed, json_string(&reason))
                }
            },
            RunEnd::Failed { reason, details } => {
                exec.fail(reason.clone(), details);
                (RuntimeStatus::Failed, json_string(&reason))
            }
            RunEnd::ContinueAsNew(_) => {
                let reason = "continue-as-new is not supported by this host yet".to_owned();
                exec.fail(reason.clone(), None);
                (RuntimeStatus::Failed, json_string(&reason))
            }
        };
        if status == RuntimeStatus::Failed {
            tracing::info!(instance = %id, "orchestration failed: {output}");
        }
        self.store
            .write(vec![Op::Append {
                instance_id: id,
                execution_id: instance.execution_id.clone(),
                events: exec.take_new_events(),
                update: InstanceUpdate {
                    status: Some(status),
                    output: Some(output),
                    custom_status: result.custom_status,
                    updated_ms: self.clock.now_ms(),
                },
            }])
            .await
            .map_err(|e| e.to_string())
    }

    async fn orchestrator_for(
        &self,
        digest: &str,
    ) -> Option<Arc<crate::runtime::orchestrator::LoadedOrchestrator>> {
        if let Some(o) = self.components.orchestrator(digest) {
            return Some(o);
        }
        // Pinned to a version no longer configured: load it from the store's copy.
        let key = digest.to_owned();
        let bytes = store::read(&self.store, move |s| s.component(&key))
            .await
            .ok()??;
        let what = format!("stored orchestrator {digest}");
        match self.components.load_orchestrator(&what, &bytes).await {
            Ok(_) => self.components.orchestrator(digest),
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        }
    }

    async fn record_failure(
        &self,
        instance: &Instance,
        mut exec: Execution,
        reason: String,
    ) -> Result<(), String> {
        exec.fail(reason.clone(), None);
        self.store
            .write(vec![Op::Append {
                instance_id: instance.instance_id.clone(),
                execution_id: instance.execution_id.clone(),
                events: exec.take_new_events(),
                update: InstanceUpdate {
                    status: Some(RuntimeStatus::Failed),
                    output: Some(json_string(&reason)),
                    custom_status: None,
                    updated_ms: self.clock.now_ms(),
                },
            }])
            .await
            .map_err(|e| e.to_string())
    }

    /// For histories that cannot be extended (corrupt): only the instance row changes.
    async fn record_failure_without_events(
        &self,
        instance: &Instance,
        reason: String,
    ) -> Result<(), String> {
        tracing::error!(instance = %instance.instance_id, "{reason}");
        self.store
            .write(vec![Op::Append {
                instance_id: instance.instance_id.clone(),
                execution_id: instance.execution_id.clone(),
                events: Vec::new(),
                update: InstanceUpdate {
                    status: Some(RuntimeStatus::Failed),
                    output: Some(json_string(&reason)),
                    custom_status: None,
                    updated_ms: self.clock.now_ms(),
                },
            }])
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs an activity in the background and posts its result to the instance's inbox.
    fn dispatch_activity(
        self: &Arc<Self>,
        instance: &InstanceId,
        task_id: TaskId,
        name: String,
        input: String,
        reply: Inbox,
    ) {
        let this = Arc::clone(self);
        let tag = format!("{instance}/{task_id}");
        tokio::spawn(async move {
            let result = match this.components.activity(&name) {
                None => ActivityResult::Failed {
                    reason: format!("no activity named '{name}' is registered"),
                    details: None,
                },
                Some((_digest, activity)) => {
                    let _permit = this.activity_slots.acquire().await;
                    this.components
                        .activities
                        .invoke(&activity, &name, &input, &tag)
                        .await
                }
            };
            let event = match result {
                ActivityResult::Completed(result) => EventKind::TaskCompleted { task_id, result },
                ActivityResult::Failed { reason, details } => EventKind::TaskFailed {
                    task_id,
                    reason,
                    details,
                },
            };
            // If the instance's actor is gone the result is dropped; the activity runs again
            // when the instance resumes (at-least-once).
            let _ = reply.send(event);
        });
    }
}

fn take(pending: &Mutex<Option<CommitTicket>>) -> Option<CommitTicket> {
    pending.lock().unwrap_or_else(|e| e.into_inner()).take()
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The executor's side of one live instance, handed to the orchestrator sandbox.
struct InstanceDriver {
    executor: Arc<Executor>,
    instance_id: InstanceId,
    execution_id: ExecutionId,
    inbox: Inbox,
    rx: mpsc::UnboundedReceiver<EventKind>,
    /// The last turn's commit, awaited before anything is appended after it.
    pending: Arc<Mutex<Option<CommitTicket>>>,
    next_seq: u64,
}

impl TurnDriver for InstanceDriver {
    fn end_turn(&mut self, turn: TurnRecord) -> TurnFuture<'_> {
        Box::pin(async move {
            if let Some(ticket) = take(&self.pending) {
                ticket
                    .await
                    .map_err(|e| format!("committing the previous turn failed: {e}"))?;
            }
            if let Some(first) = turn.events.first()
                && first.seq != self.next_seq
            {
                return Err(format!(
                    "internal: turn starts at event {} but {} was expected",
                    first.seq, self.next_seq
                ));
            }
            self.next_seq += turn.events.len() as u64;
            let new_tasks: Vec<(TaskId, String, String)> = turn
                .events
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::TaskScheduled {
                        task_id,
                        name,
                        input,
                    } => Some((*task_id, name.clone(), input.clone())),
                    _ => None,
                })
                .collect();
            if !turn.events.is_empty() || turn.custom_status.is_some() {
                let ticket = self.executor.store.write(vec![Op::Append {
                    instance_id: self.instance_id.clone(),
                    execution_id: self.execution_id.clone(),
                    events: turn.events,
                    update: InstanceUpdate {
                        status: Some(RuntimeStatus::Running),
                        output: None,
                        custom_status: turn.custom_status,
                        updated_ms: self.executor.clock.now_ms(),
                    },
                }]);
                *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(ticket);
            }
            // Dispatch at once: the activity runs while its TaskScheduled is being committed. If
            // that commit fails, the instance resumes from the store and schedules it again.
            for (task_id, name, input) in new_tasks {
                self.executor.dispatch_activity(
                    &self.instance_id,
                    task_id,
                    name,
                    input,
                    self.inbox.clone(),
                );
            }
            let first = self
                .rx
                .recv()
                .await
                .ok_or_else(|| "the instance's inbox was closed".to_owned())?;
            let mut inbound = vec![first];
            while let Ok(more) = self.rx.try_recv() {
                inbound.push(more);
            }
            Ok(inbound)
        })
    }

    fn now_ms(&self) -> u64 {
        self.executor.clock.now_ms()
    }
}
