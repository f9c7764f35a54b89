//! The [`ActivityDispatcher`]: one task per activity call, a host-wide limit on calls running
//! at once, the component's host-side retry policy (backoff on tokio's clock), and the drain at
//! shutdown: from then on no call starts, and the results of running calls are kept in the
//! durable inbox so that a finished call does not run again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tracing::Instrument;

use super::{Counters, Inbound};
use crate::clock::Clock;
use crate::engine::EventKind;
use crate::ids::{ExecutionId, InstanceId, TaskId};
use crate::runtime::activity::ActivityResult;
use crate::runtime::{Activity, Runtime};
use crate::store::{InboxMessage, Op, Store};

/// One activity call an orchestration scheduled.
pub(super) struct Call {
    pub instance: InstanceId,
    pub execution: ExecutionId,
    pub task_id: TaskId,
    pub name: String,
    pub input: String,
    /// The instance's trace context, as seen from this call.
    pub trace: Option<crate::trace::TraceContext>,
}

/// Runs activity calls and hands each result (a `TaskCompleted` or `TaskFailed` event) to
/// whoever dispatched it.
pub(super) struct ActivityDispatcher {
    runtime: Arc<dyn Runtime>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    counters: Arc<Counters>,
    /// Host-wide attempts running at once.
    slots: Semaphore,
    /// Set on shutdown: no call starts, results also go to the durable inbox, and a retry's
    /// backoff ends at once (calls that wait subscribe to it).
    drain: watch::Sender<bool>,
    /// Calls running right now (started, result not handed over yet).
    running: AtomicUsize,
    /// Notified when `running` drops.
    done: Notify,
}

impl ActivityDispatcher {
    pub fn new(
        runtime: Arc<dyn Runtime>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        counters: Arc<Counters>,
        max_running: usize,
    ) -> Self {
        ActivityDispatcher {
            runtime,
            store,
            clock,
            counters,
            slots: Semaphore::new(max_running),
            drain: watch::Sender::new(false),
            running: AtomicUsize::new(0),
            done: Notify::new(),
        }
    }

    /// Runs `call` in the background and hands its result to `post`. A call that cannot run
    /// (shutdown began) hands over nothing: its task stays open in the history and runs on
    /// the next start.
    pub fn dispatch(self: &Arc<Self>, call: Call, post: impl FnOnce(Inbound) + Send + 'static) {
        let this = Arc::clone(self);
        // At error level so that it frames every line logged (see run_spawned).
        let span = tracing::error_span!("activity", instance = %call.instance, task = call.task_id.0, name = %call.name, trace_id = tracing::field::Empty);
        if let Some(trace) = &call.trace {
            span.record("trace_id", tracing::field::display(trace.trace_id()));
        }
        let task = async move {
            if this.draining() {
                return;
            }
            let _running = RunningCall::new(&this);
            let Some(event) = this.run(&call).await else {
                return;
            };
            let msg_id = this.keep_if_draining(&call, &event).await;
            post(Inbound {
                execution_id: Some(call.execution),
                msg_id,
                event,
            });
        };
        tokio::spawn(task.instrument(span));
    }

    /// The call's result event; `None` if shutdown stopped it before or between attempts.
    async fn run(&self, call: &Call) -> Option<EventKind> {
        let task_id = call.task_id;
        let Some(activity) = self.runtime.activity(&call.name) else {
            let failure = format!("no activity named '{}' is registered", call.name);
            return Some(EventKind::TaskFailed {
                task_id,
                reason: failure,
                details: None,
                digest: None,
            });
        };
        let result = self.call_with_retries(activity.as_ref(), call).await?;
        let digest = Some(activity.digest().to_owned());
        Some(match result {
            ActivityResult::Completed(result) => EventKind::TaskCompleted {
                task_id,
                result,
                digest,
            },
            ActivityResult::Failed(failure) => EventKind::TaskFailed {
                task_id,
                reason: failure.message,
                details: failure.details,
                digest,
            },
        })
    }

    /// One activity call with the component's host-side retry policy. Each attempt holds the
    /// component's own slot and a host-wide one; the backoff between attempts holds neither.
    async fn call_with_retries(
        &self,
        activity: &dyn Activity,
        call: &Call,
    ) -> Option<ActivityResult> {
        let tag = format!("{}/{}", call.instance, call.task_id);
        let mut attempt = 1;
        loop {
            let result = self.attempt(activity, call, &tag).await?;
            let policy = match (result, activity.retry()) {
                (ActivityResult::Failed(failure), Some(policy))
                    if attempt < policy.max_attempts =>
                {
                    tracing::info!(
                        "attempt {attempt} of {} failed ({}); again in {:?}",
                        policy.max_attempts,
                        failure.message,
                        policy.delay_before(attempt + 1)
                    );
                    policy
                }
                (ActivityResult::Failed(mut failure), Some(_)) if attempt > 1 => {
                    failure.message = format!("{} (after {attempt} attempts)", failure.message);
                    return Some(ActivityResult::Failed(failure));
                }
                (result, _) => return Some(result),
            };
            attempt += 1;
            // A failure that would be retried is not final: at shutdown the task stays open
            // (never recorded as failed), and the next start runs it again.
            self.backoff(policy.delay_before(attempt)).await?;
        }
    }

    /// One attempt, in the component's slot and a host-wide one; `None` if shutdown began
    /// while it waited for them.
    async fn attempt(
        &self,
        activity: &dyn Activity,
        call: &Call,
        tag: &str,
    ) -> Option<ActivityResult> {
        let _own = match activity.slots() {
            Some(slots) => Some(slots.acquire().await),
            None => None,
        };
        let _permit = self.slots.acquire().await;
        if self.draining() {
            return None;
        }
        let began = std::time::Instant::now();
        let trace = call.trace.as_ref();
        let result = activity.invoke(&call.name, &call.input, tag, trace).await;
        self.counters.activities.fetch_add(1, Ordering::Relaxed);
        let micros = began.elapsed().as_micros() as u64;
        self.counters
            .activity_micros
            .fetch_add(micros, Ordering::Relaxed);
        Some(result)
    }

    /// Waits `delay` before the next attempt; `None` if shutdown began meanwhile.
    async fn backoff(&self, delay: Duration) -> Option<()> {
        let mut drain = self.drain.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(delay) => Some(()),
            _ = drain.wait_for(|draining| *draining) => None,
        }
    }

    /// At shutdown, keeps an activity's result in the durable inbox so that the call does not
    /// run again; the instance consumes (and deletes) it with the turn that records it, now or
    /// after the restart. Returns the message's id.
    async fn keep_if_draining(&self, call: &Call, event: &EventKind) -> Option<String> {
        if !self.draining() {
            return None;
        }
        let message = InboxMessage {
            msg_id: uuid::Uuid::new_v4().simple().to_string(),
            execution_id: Some(call.execution.clone()),
            event: event.clone(),
        };
        let msg_id = message.msg_id.clone();
        let write = self.store.write(vec![Op::Enqueue {
            instance_id: call.instance.clone(),
            message,
            required: false,
            created_ms: self.clock.now_ms(),
        }]);
        match write.await {
            Ok(()) => Some(msg_id),
            Err(e) => {
                tracing::warn!("keeping an activity result at shutdown failed: {e}");
                None
            }
        }
    }

    /// Shutdown begins (see `drain`).
    pub fn begin_drain(&self) {
        self.drain.send_replace(true);
    }

    pub fn draining(&self) -> bool {
        *self.drain.borrow()
    }

    /// Waits up to `grace` for running calls to finish and their results to be handed over;
    /// returns how many were still running.
    pub async fn drain(&self, grace: Duration) -> usize {
        self.begin_drain();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let done = self.done.notified();
            let running = self.running.load(Ordering::SeqCst);
            if running == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                return self.running.load(Ordering::SeqCst);
            }
        }
    }
}

/// Counts an activity call as running (for the shutdown drain) until it is dropped.
struct RunningCall<'a>(&'a ActivityDispatcher);

impl<'a> RunningCall<'a> {
    fn new(dispatcher: &'a ActivityDispatcher) -> Self {
        dispatcher.running.fetch_add(1, Ordering::SeqCst);
        RunningCall(dispatcher)
    }
}

impl Drop for RunningCall<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.done.notify_waiters();
    }
}
