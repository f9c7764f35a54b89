//! Activity calls: one task per call, the component's host-side retry policy, and, at
//! shutdown, results kept in the durable inbox so that a finished call does not run again.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::Instrument;

use super::{Executor, Inbound};
use crate::engine::EventKind;
use crate::ids::{ExecutionId, InstanceId, TaskId};
use crate::runtime::activity::ActivityResult;
use crate::store::{InboxMessage, Op};

impl Executor {
    /// Runs an activity in the background and posts its result to the instance.
    pub(super) fn dispatch_activity(
        self: &Arc<Self>,
        instance: &InstanceId,
        execution: &ExecutionId,
        task_id: TaskId,
        name: String,
        input: String,
    ) {
        let this = Arc::clone(self);
        let instance = instance.clone();
        let execution = execution.clone();
        let span =
            tracing::info_span!("activity", instance = %instance, task = task_id, name = %name);
        let call = async move {
            if this.draining() {
                return;
            }
            let _running = RunningCall::new(&this);
            let tag = format!("{instance}/{task_id}");
            let (digest, result) = match this.components.activity(&name) {
                None => (
                    None,
                    ActivityResult::failed(format!("no activity named '{name}' is registered")),
                ),
                Some((digest, activity)) => {
                    let Some(result) = this.call_with_retries(&activity, &name, &input, &tag).await
                    else {
                        // Not started, or given up between attempts at shutdown: the task stays
                        // open in the history and runs on the next start.
                        return;
                    };
                    (Some(digest), result)
                }
            };
            let event = match result {
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
            };
            let msg_id = this.keep_if_draining(&instance, &execution, &event).await;
            this.deliver(
                &instance,
                Inbound {
                    execution_id: Some(execution),
                    msg_id,
                    event,
                },
            );
        };
        tokio::spawn(call.instrument(span));
    }

    /// One activity call with the component's host-side retry policy. Each attempt holds the
    /// component's own slot and a host-wide one; the backoff between attempts holds neither.
    /// `None`: shutdown began before an attempt could start (the task stays open).
    async fn call_with_retries(
        &self,
        activity: &crate::runtime::activity::LoadedActivity,
        name: &str,
        input: &str,
        tag: &str,
    ) -> Option<ActivityResult> {
        let mut attempt = 1;
        loop {
            let result = {
                let _own = match &activity.slots {
                    Some(slots) => Some(slots.acquire().await),
                    None => None,
                };
                let _permit = self.activity_slots.acquire().await;
                if self.draining() {
                    return None;
                }
                let began = std::time::Instant::now();
                let result = self
                    .components
                    .activities
                    .invoke(activity, name, input, tag)
                    .await;
                self.counters.activities.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .activity_micros
                    .fetch_add(began.elapsed().as_micros() as u64, Ordering::Relaxed);
                result
            };
            let policy = match (result, activity.grant.retry.as_ref()) {
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
            let delay = policy.delay_before(attempt);
            // A failure that would be retried is not final: at shutdown the task stays open
            // (never recorded as failed), and the next start runs it again.
            let mut drain = self.drain_signal.subscribe();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = drain.wait_for(|draining| *draining) => return None,
            }
        }
    }

    /// At shutdown, keeps an activity's result in the durable inbox so that the call does not
    /// run again; the instance consumes (and deletes) it with the turn that records it, now or
    /// after the restart. Returns the message's id.
    async fn keep_if_draining(
        &self,
        instance: &InstanceId,
        execution: &ExecutionId,
        event: &EventKind,
    ) -> Option<String> {
        if !self.draining() {
            return None;
        }
        let message = InboxMessage {
            msg_id: uuid::Uuid::new_v4().simple().to_string(),
            execution_id: Some(execution.clone()),
            event: event.clone(),
        };
        let msg_id = message.msg_id.clone();
        let write = self.store.write(vec![Op::Enqueue {
            instance_id: instance.clone(),
            message,
            required: false,
            created_ms: self.now_ms(),
        }]);
        match write.await {
            Ok(()) => Some(msg_id),
            Err(e) => {
                tracing::warn!("keeping an activity result at shutdown failed: {e}");
                None
            }
        }
    }
}

/// Counts an activity call as running (for the shutdown drain) until it is dropped.
struct RunningCall<'a>(&'a Executor);

impl<'a> RunningCall<'a> {
    fn new(executor: &'a Executor) -> Self {
        executor.activities_running.fetch_add(1, Ordering::SeqCst);
        RunningCall(executor)
    }
}

impl Drop for RunningCall<'_> {
    fn drop(&mut self) {
        self.0.activities_running.fetch_sub(1, Ordering::SeqCst);
        self.0.activity_done.notify_waiters();
    }
}
