//! The orchestration executor: one actor (a tokio task) per live instance.
//!
//! - [`Executor`]: starts instances, resumes them after a restart, queues external events,
//!   starts children, dispatches activities, and routes everything that completes back to the
//!   owning instance's actor ([`Executor::deliver`]).
//! - `instance`: [`InstanceActor`](instance::InstanceActor), the owner of one live instance:
//!   runs it through its executions in the sandbox, commits each turn and each end.
//! - `mailbox`: the rules for what reaches a guest (dedup, stale executions, suspension,
//!   migration, termination): pure, no IO.
//! - `live`: the registry of live actors, with its one-actor-per-instance invariant.
//! - `activities`: the `ActivityDispatcher`: runs activity calls (slots, retries with backoff,
//!   shutdown drain) and posts their results.
//! - `children`: starts sub-orchestrations, hands their outcomes over, rewinds through them.
//! - `timers`: wakes instances when their durable timers are due.
//!
//! Wake-ups are channel sends: there is no polling on the path from the POST to the completion.
//! A turn's events are appended only after the previous turn's commit succeeded, so a history
//! never has gaps; an activity may run again after a crash (its result was not committed yet),
//! but an orchestration's state changes exactly once: every change is one atomic batch, and one
//! process runs at most one actor per instance.

mod activities;
mod children;
mod cluster;
mod entities;
mod error;
mod finished;
mod instance;
mod live;
mod mailbox;
mod timers;
mod versioning;
mod waiters;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit, oneshot};
use tracing::Instrument;

pub use entities::EntityError;
pub use timers::TimerService;
pub use versioning::{FailureStrategy, MatchStrategy, VersionMismatch, Versioning};

use activities::ActivityDispatcher;

use crate::clock::Clock;
use crate::engine::{Decision, Event, EventKind, RuntimeStatus};
use crate::ids::{Digest, ExecutionId, InstanceId, TaskId};
use crate::runtime::activity::MAX_CONCURRENT_ACTIVITIES;
use crate::runtime::{Orchestrator, Runtime};
use crate::store::{self, InboxMessage, Instance, Op, ParentRef, Store, StoreError};
use crate::trace::TraceContext;

/// Delay before an instance whose actor stopped on an infrastructure error is resumed.
const RESUME_AFTER_ERROR: Duration = Duration::from_secs(1);

/// Why an instance could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no orchestration named '{0}' is registered")]
    UnknownOrchestration(String),
    #[error(
        "the host is at capacity ({0} instances are waiting for a slot in memory); retry shortly"
    )]
    Overloaded(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Something for an instance's actor: a task result, a fired timer, an event, a child's outcome.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The execution it is for; `None` for external events, which any execution may take.
    pub execution_id: Option<ExecutionId>,
    /// Set for durable inbox messages: the turn that records the event deletes the message.
    pub msg_id: Option<String>,
    pub event: EventKind,
}

/// A durable message, handed to its instance's actor live.
impl From<InboxMessage> for Inbound {
    fn from(message: InboxMessage) -> Self {
        Inbound {
            execution_id: message.execution_id,
            msg_id: Some(message.msg_id),
            event: message.event,
        }
    }
}

/// How often a caller waiting for an instance that runs on another host looks at its status
/// (besides being woken when it finishes there).
const REMOTE_FINISH_CHECK: Duration = Duration::from_secs(1);

/// Resuming actors that read their history and inbox at once: enough to keep the readers busy,
/// few enough that an API read queued behind them waits for a handful, not for thousands.
const RESUMING_AT_ONCE: usize = 4;

/// Idle limit used instead of the configured one when the hot set is near capacity.
const PRESSURE_IDLE: Duration = Duration::from_millis(50);

/// Executor counters, for `/metrics` and the benchmark.
#[derive(Debug, Default)]
pub struct Counters {
    pub started: AtomicU64,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub activities: AtomicU64,
    /// Total wall time spent in activity calls, µs.
    pub activity_micros: AtomicU64,
    /// Times an instance was not run because of its version (versionFailureStrategy Reject).
    pub versions_rejected: AtomicU64,
}

/// Runs orchestrations: starts them, resumes them after a restart, and dispatches their work.
pub struct Executor {
    store: Arc<dyn Store>,
    runtime: Arc<dyn Runtime>,
    clock: Arc<dyn Clock>,
    pub(crate) timers: Arc<TimerService>,
    live: live::Registry,
    activities: Arc<ActivityDispatcher>,
    /// One permit per orchestration held in memory (the orchestrator pool's slots): instances
    /// beyond it wait for a slot instead of failing to instantiate.
    hot_slots: Semaphore,
    /// Actors reading a resuming instance's history and inbox at once (see `run_execution`).
    resuming: Semaphore,
    /// Callers waiting for an instance to finish (the starters' `?timeout=`).
    finish_waiters: Mutex<HashMap<InstanceId, Vec<oneshot::Sender<()>>>>,
    pub counters: Arc<Counters>,
    /// Instances idle this long with no activity in flight are dropped from memory (and
    /// replayed from their history when something arrives). `None`: never.
    idle_evict: Option<Duration>,
    max_queued: usize,
    /// Instances waiting for a slot in memory right now.
    pub(crate) queued: std::sync::atomic::AtomicUsize,
    /// Whether other hosts share the store (then instances move between hosts).
    shared: bool,
    /// A shared store's events, handled from [`Executor::recover`] on.
    cluster_events: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<store::ClusterEvent>>>,
    /// Which instance versions this host runs, and the version new ones get.
    versioning: Versioning,
    /// Finished instances' rows for status reads (not with a shared store).
    finished: finished::FinishedRows,
}

/// How the executor behaves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// See [`Executor`]'s idle eviction; default 5 s.
    pub idle_evict: Option<Duration>,
    /// Back-pressure: new instances are refused while more than this many wait for a slot in
    /// memory (default 10,000).
    pub max_queued: usize,
    /// Orchestration versioning (default: no version; every instance runs).
    pub versioning: Versioning,
}

/// What a start may say beside the orchestration, id and input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// The instance's version (`?version=`); the host's default version if `None`.
    pub version: Option<String>,
    /// The W3C trace context of the request that starts it.
    pub trace: Option<TraceContext>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            idle_evict: Some(Duration::from_secs(5)),
            max_queued: 10_000,
            versioning: Versioning::default(),
        }
    }
}

impl Executor {
    /// Creates the executor and starts its timer service (needs a tokio runtime).
    pub fn new(
        store: Arc<dyn Store>,
        runtime: Arc<dyn Runtime>,
        clock: Arc<dyn Clock>,
        options: ExecutorOptions,
    ) -> Arc<Self> {
        let timers = TimerService::new(Arc::clone(&clock));
        let hot = runtime.max_hot_instances();
        let counters = Arc::new(Counters::default());
        let activities = Arc::new(ActivityDispatcher::new(
            Arc::clone(&runtime),
            Arc::clone(&store),
            Arc::clone(&clock),
            Arc::clone(&counters),
            MAX_CONCURRENT_ACTIVITIES as usize,
        ));
        let events = store.cluster_events();
        let shared = events.is_some();
        let executor = Arc::new(Executor {
            store,
            hot_slots: Semaphore::new(hot),
            resuming: Semaphore::new(RESUMING_AT_ONCE),
            runtime,
            clock,
            timers: Arc::clone(&timers),
            live: live::Registry::default(),
            activities,
            finish_waiters: Mutex::new(HashMap::new()),
            counters,
            idle_evict: options.idle_evict,
            max_queued: options.max_queued,
            queued: std::sync::atomic::AtomicUsize::new(0),
            shared,
            cluster_events: Mutex::new(events),
            versioning: options.versioning,
            finished: finished::FinishedRows::new(!shared),
        });
        tokio::spawn(timers.run(Arc::downgrade(&executor)));
        executor
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The host's versioning settings.
    pub fn versioning(&self) -> &Versioning {
        &self.versioning
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Number of instances with a live actor.
    pub fn live_instances(&self) -> usize {
        self.live.len()
    }

    /// True when few orchestrator slots are left: idle instances should make room.
    pub(crate) fn under_pressure(&self) -> bool {
        self.hot_slots.available_permits() * 4 < self.runtime.max_hot_instances()
    }

    /// Shutdown begins: no activity call starts from now on (scheduled ones stay pending in the
    /// history and run on the next start), and the results of running calls are written to the
    /// durable inbox as well as handed to their instance, so none is lost at exit.
    pub fn begin_drain(&self) {
        self.activities.begin_drain();
    }

    /// Waits up to `grace` for running activity calls to finish and their results to be
    /// written; returns how many were still running.
    pub async fn drain(&self, grace: Duration) -> usize {
        self.activities.drain(grace).await
    }

    /// Waits until every store batch submitted so far is committed (clean shutdown).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.store.write(Vec::new()).await
    }

    /// The clock was moved (test clock): timers re-check what is due.
    pub fn clock_changed(&self) {
        self.timers.clock_changed();
    }

    /// How long an actor waits for something to arrive before it leaves memory; `None`: it
    /// must not (work only memory holds is in flight), or eviction is off.
    fn idle_limit(&self, may_evict: bool) -> Option<Duration> {
        let idle = self.idle_evict.filter(|_| may_evict)?;
        // Near the pool's capacity, idle instances make room quickly.
        Some(match self.under_pressure() {
            true => idle.min(PRESSURE_IDLE),
            false => idle,
        })
    }

    /// The next message on an actor's channel; `None` when it was idle for the idle limit (with
    /// `may_evict`) and has left the live registry.
    async fn next_inbound(
        &self,
        id: &InstanceId,
        (tx, rx): (&live::Inbox, &mut live::Receiver),
        may_evict: bool,
    ) -> Result<Option<Inbound>, error::ActorError> {
        let closed = || error::ActorError::Internal(format!("the channel of {id} was closed"));
        let Some(idle) = self.idle_limit(may_evict) else {
            return rx.recv().await.map(Some).ok_or_else(closed);
        };
        match tokio::time::timeout(idle, rx.recv()).await {
            Ok(message) => message.map(Some).ok_or_else(closed),
            Err(_) => Ok(self.live.leave_if_idle(id, tx, rx)),
        }
    }

    /// A slot in memory for one run (see `hot_slots`).
    async fn hot_slot(&self) -> Result<SemaphorePermit<'_>, error::ActorError> {
        self.queued.fetch_add(1, Ordering::Relaxed);
        let slot = self.hot_slots.acquire().await;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        slot.map_err(|_| error::ActorError::ShuttingDown)
    }

    /// An instance's end was committed: its timers can only wake it for nothing now, and
    /// whoever waits for it is woken.
    fn ended(&self, id: &InstanceId, status: RuntimeStatus) {
        self.timers.cancel_instance(id);
        let counter = match status {
            RuntimeStatus::Completed => &self.counters.completed,
            _ => &self.counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.notify_finished(id);
    }

    /// Creates an instance durably and starts running it. Returns once the creation is committed.
    pub async fn start(
        self: &Arc<Self>,
        name: &str,
        instance_id: Option<InstanceId>,
        input: String,
    ) -> Result<Instance, StartError> {
        let options = StartOptions::default();
        self.start_with(name, instance_id, input, options).await
    }

    /// [`Executor::start`] with a version (and whatever else a start may carry).
    pub async fn start_with(
        self: &Arc<Self>,
        name: &str,
        instance_id: Option<InstanceId>,
        input: String,
        options: StartOptions,
    ) -> Result<Instance, StartError> {
        let digest = self
            .runtime
            .orchestration_digest(name)
            .ok_or_else(|| StartError::UnknownOrchestration(name.to_owned()))?;
        let queued = self.queued.load(Ordering::Relaxed);
        if queued > self.max_queued {
            return Err(StartError::Overloaded(queued));
        }
        let (instance, started) = self.new_instance(
            name,
            instance_id.unwrap_or_else(InstanceId::random),
            input,
            digest,
            None,
            StartOptions {
                version: self.versioning.stamp(options.version),
                trace: options.trace,
            },
        );
        // Claim the instance's place in the live map before the creation commits: whatever is
        // delivered from the moment it exists goes to this channel, so the new actor needs no
        // inbox read, and a racing wake-up cannot start a second actor. (If an older actor with
        // this id is still finishing, leave it be and start the slow way.)
        // An instance of a partition another host holds is run there: the commit wakes it.
        let id = instance.instance_id.clone();
        let local = self.store.is_local(&id);
        let claim = local.then(|| self.live.claim(&id, false)).flatten();
        let created = self
            .store
            .write(vec![Op::CreateInstance {
                instance: instance.clone(),
                started: started.clone(),
            }])
            .await;
        // It may have replaced a finished instance under the id.
        self.finished.forget(&id);
        if let Err(e) = created {
            if let Some((tx, _)) = &claim
                && self.live.release(&id, tx)
            {
                // Someone asked for this id meanwhile (an older instance under it).
                self.resume_later(id);
            }
            return Err(e.into());
        }
        self.counters.started.fetch_add(1, Ordering::Relaxed);
        match claim {
            Some((tx, rx)) => self.run_spawned(instance.clone(), Some(vec![started]), tx, rx),
            None => self.spawn_actor(instance.clone(), None),
        }
        Ok(instance)
    }

    fn new_instance(
        &self,
        name: &str,
        instance_id: InstanceId,
        input: String,
        digest: Digest,
        parent: Option<ParentRef>,
        stamp: StartOptions,
    ) -> (Instance, Event) {
        let now = self.clock.now_ms();
        let version = stamp.version;
        let started = Event {
            seq: 0,
            timestamp_ms: now,
            kind: EventKind::ExecutionStarted {
                name: name.to_owned(),
                input: input.clone(),
                orchestrator_digest: digest.clone(),
                version: version.clone(),
                trace_context: stamp.trace,
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
            parent,
            version,
        };
        (instance, started)
    }

    /// Resumes every unfinished instance (after a restart; call it once the components are
    /// in place). Returns how many were resumed. With a shared store, this host's instances
    /// are resumed partition by partition as it takes their leases (the first ones now), and
    /// from here on the executor handles what the other hosts ask of it.
    pub async fn recover(self: &Arc<Self>) -> Result<usize, StoreError> {
        let events = self
            .cluster_events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(events) = events {
            tokio::spawn(cluster::run(Arc::downgrade(self), events));
            return Ok(0);
        }
        let unfinished = store::read(&self.store, |s| s.unfinished_instances()).await?;
        let n = unfinished.len();
        for instance in unfinished {
            self.spawn_actor(instance, None);
        }
        Ok(n)
    }

    /// Queues an external event for an instance (durably; 202 may follow), then wakes it.
    pub async fn raise_event(
        self: &Arc<Self>,
        instance_id: &InstanceId,
        name: &str,
        input: String,
    ) -> Result<(), StoreError> {
        let event = EventKind::EventRaised {
            name: name.to_owned(),
            input,
        };
        self.send(instance_id, event).await
    }

    /// Terminates an unfinished instance (durably queued; the instance records it).
    pub async fn terminate(
        self: &Arc<Self>,
        instance_id: &InstanceId,
        reason: String,
    ) -> Result<(), StoreError> {
        self.send(instance_id, EventKind::ExecutionTerminated { reason })
            .await
    }

    /// Suspends an unfinished instance: it records the suspension and holds further events.
    pub async fn suspend(
        self: &Arc<Self>,
        instance_id: &InstanceId,
        reason: String,
    ) -> Result<(), StoreError> {
        self.send(instance_id, EventKind::ExecutionSuspended { reason })
            .await
    }

    /// Resumes a suspended instance, handing it the events held meanwhile.
    pub async fn resume_suspended(
        self: &Arc<Self>,
        instance_id: &InstanceId,
        reason: String,
    ) -> Result<(), StoreError> {
        self.send(instance_id, EventKind::ExecutionResumed { reason })
            .await
    }

    /// Asks an unfinished instance to move onto orchestrator `digest`; its actor checks that the
    /// version replays its history exactly before it moves (see `deploy_and_migrate`).
    pub async fn migrate(
        self: &Arc<Self>,
        instance_id: &InstanceId,
        orchestrator_digest: Digest,
    ) -> Result<(), StoreError> {
        self.send(
            instance_id,
            EventKind::ExecutionMigrated {
                orchestrator_digest,
            },
        )
        .await
    }

    /// Queues `event` in the instance's durable inbox, then wakes the instance.
    async fn send(
        self: &Arc<Self>,
        instance_id: &InstanceId,
        event: EventKind,
    ) -> Result<(), StoreError> {
        let message = InboxMessage {
            msg_id: uuid::Uuid::new_v4().simple().to_string(),
            execution_id: None,
            event,
        };
        self.store
            .write(vec![Op::Enqueue {
                instance_id: instance_id.clone(),
                message: message.clone(),
                required: true,
                created_ms: self.now_ms(),
            }])
            .await?;
        self.deliver(instance_id, message.into());
        Ok(())
    }

    /// Deletes finished instances (history and all). With `required`, a missing or unfinished
    /// instance is an error; otherwise those are skipped.
    pub async fn purge(&self, ids: Vec<InstanceId>, required: bool) -> Result<(), StoreError> {
        let ops = ids
            .iter()
            .map(|instance_id| Op::Purge {
                instance_id: instance_id.clone(),
                required,
            })
            .collect();
        let written = self.store.write(ops).await;
        for id in &ids {
            self.finished.forget(id);
        }
        written?;
        for id in &ids {
            self.timers.cancel_instance(id);
        }
        Ok(())
    }

    /// Hands `inbound` to the instance's actor if it is live. Otherwise it is dropped: durable
    /// messages are re-read from the inbox, and results and timers are re-derived from the
    /// history, when the instance resumes.
    ///
    /// With a shared store, an instance of a partition another host holds now is not woken
    /// here (`resume` declines it): its owner has the durable part. A live actor left over
    /// here still gets what arrives: its next write is refused (fenced) and it ends.
    pub fn deliver(self: &Arc<Self>, instance_id: &InstanceId, inbound: Inbound) {
        let wakes =
            inbound.msg_id.is_some() || matches!(inbound.event, EventKind::TimerFired { .. });
        let sent = self.live.send(instance_id, inbound);
        // A durable message or a due timer for an instance not in memory (evicted, or paused
        // after an error) wakes it: it replays, re-reads its inbox and re-arms its timers.
        if !sent && wakes {
            let this = Arc::clone(self);
            let id = instance_id.clone();
            tokio::spawn(async move { this.resume(id).await });
        }
    }

    /// Starts an actor for `instance` unless one is live: then that one is asked to hand over
    /// when it ends, so there is never a second actor on an instance.
    fn spawn_actor(self: &Arc<Self>, instance: Instance, history: Option<Vec<Event>>) {
        if !self.store.is_local(&instance.instance_id) {
            return;
        }
        if let Some((tx, rx)) = self.live.claim(&instance.instance_id, true) {
            self.run_spawned(instance, history, tx, rx);
        }
    }

    fn run_spawned(
        self: &Arc<Self>,
        instance: Instance,
        history: Option<Vec<Event>>,
        tx: live::Inbox,
        rx: live::Receiver,
    ) {
        let this = Arc::clone(self);
        // Every log line of the instance's actor (turns, guest logs, failures) names it, and its
        // trace. (A span's level only decides when it exists: at error level it is there for
        // whatever DURABLE_LOG lets through.)
        let span = tracing::error_span!(
            "instance",
            id = %instance.instance_id,
            trace_id = tracing::field::Empty
        );
        let actor = async move {
            let id = instance.instance_id.clone();
            let (outcome, handover) = if id.is_entity() {
                let mut actor = entities::EntityActor::new(Arc::clone(&this), instance, tx, rx);
                let outcome = actor.run().await;
                (outcome, this.live.release(&id, actor.inbox()))
            } else {
                let mut actor = instance::InstanceActor::new(Arc::clone(&this), instance, tx, rx);
                let outcome = actor.run(history).await;
                (outcome, this.live.release(&id, actor.inbox()))
            };
            this.actor_ended(id, outcome, handover).await;
        };
        tokio::spawn(actor.instrument(span));
    }

    /// What follows an actor's end: a hand-over, a resume after an error, or nothing.
    async fn actor_ended(
        self: &Arc<Self>,
        id: InstanceId,
        outcome: Result<(), error::ActorError>,
        handover: bool,
    ) {
        match outcome {
            // Started or rewound while this actor was finishing: run what the store has now.
            Ok(()) if handover => self.resume(id).await,
            Ok(()) => {}
            Err(error::ActorError::Store(StoreError::Fenced { partition })) => {
                tracing::info!(instance = %id, partition, "instance moved to another host with its partition");
                tokio::time::sleep(RESUME_AFTER_ERROR).await;
                self.resume(id).await;
            }
            Err(why) if why.should_resume() || handover => {
                tracing::warn!(instance = %id, "instance paused after an infrastructure error, resuming in {RESUME_AFTER_ERROR:?}: {why}");
                tokio::time::sleep(RESUME_AFTER_ERROR).await;
                self.resume(id).await;
            }
            Err(why) => {
                tracing::error!(instance = %id, "instance stopped after an error that retrying cannot fix; it resumes when the host restarts: {why}");
            }
        }
    }

    /// Starts an actor for an instance from its stored state, if it is unfinished and not live.
    async fn resume(self: &Arc<Self>, id: InstanceId) {
        if self.live.is_live(&id) || !self.store.is_local(&id) {
            return;
        }
        let lookup = id.clone();
        match store::read(&self.store, move |s| s.instance(&lookup)).await {
            Ok(Some(instance)) if !instance.status.is_terminal() => {
                // Check and claim under one lock: two wake-ups must not start two actors.
                if let Some((tx, rx)) = self.live.claim(&id, false) {
                    self.run_spawned(instance, None, tx, rx);
                }
            }
            Ok(_) => {}
            Err(e) => {
                // Nobody else would wake it: try again later rather than leave it ownerless.
                tracing::error!(instance = %id, "cannot resume instance, trying again in {RESUME_AFTER_ERROR:?}: {e}");
                self.resume_later(id);
            }
        }
    }

    fn resume_later(self: &Arc<Self>, id: InstanceId) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(RESUME_AFTER_ERROR).await;
            this.resume(id).await;
        });
    }

    /// Sets a decision's work going: runs the activity, arms the timer, or starts the child.
    /// Sets a decision's work going; `trace` is the instance's trace context, which its
    /// activities and sub-orchestrations carry on.
    fn start_task(
        self: &Arc<Self>,
        instance: &Instance,
        task_id: TaskId,
        decision: Decision,
        trace: Option<&TraceContext>,
    ) {
        let id = &instance.instance_id;
        let execution = &instance.execution_id;
        match decision {
            Decision::ScheduleActivity { name, input } => {
                let call = activities::Call {
                    instance: id.clone(),
                    execution: execution.clone(),
                    task_id,
                    name,
                    input,
                    trace: trace.map(|t| t.child(span_id(id, task_id))),
                };
                let this = Arc::clone(self);
                let to = id.clone();
                self.activities
                    .dispatch(call, move |result| this.deliver(&to, result));
            }
            Decision::CreateTimer { fire_at_ms } => {
                self.timers
                    .schedule(fire_at_ms, id.clone(), execution.clone(), task_id)
            }
            Decision::ScheduleSubOrchestration {
                name,
                instance_id,
                input,
            } => {
                let parent = ParentRef {
                    instance_id: id.clone(),
                    execution_id: execution.clone(),
                    task_id,
                };
                let stamp = StartOptions {
                    version: instance.version.clone(),
                    trace: trace.cloned(),
                };
                self.start_child(parent, name, instance_id, input, stamp);
            }
            // Sent with the commit that records it (see `entity_sends`).
            Decision::EntityOperation { .. } => {}
        }
    }

    /// The digest new instances of orchestration `name` start on (the deployed version).
    pub fn deployed_digest(&self, name: &str) -> Option<Digest> {
        self.runtime.orchestration_digest(name)
    }

    /// The orchestrator version `digest`, loaded from the store's copy if no longer configured.
    pub async fn orchestrator_for(&self, digest: &Digest) -> Option<Arc<dyn Orchestrator>> {
        if let Some(o) = self.runtime.orchestrator(digest.as_str()) {
            return Some(o);
        }
        // Pinned to a version no longer configured: load it from the store's copy.
        let key = digest.clone();
        let bytes = store::read(&self.store, move |s| s.component(key.as_str()))
            .await
            .ok()??;
        let what = format!("stored orchestrator {digest}");
        match self.runtime.load_orchestrator(&what, &bytes).await {
            Ok(()) => self.runtime.orchestrator(digest.as_str()),
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        }
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_on_fakes;

/// A span id for the calls made for task `task` of instance `id` (FNV-1a; never 0).
fn span_id(id: &InstanceId, task: TaskId) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_str().bytes().chain(task.0.to_le_bytes()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    hash.max(1)
}
