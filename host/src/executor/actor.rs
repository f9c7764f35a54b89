//! One instance's actor: replays or starts each execution, runs it in the sandbox, and commits
//! its end (completion, failure, or continue-as-new into a fresh execution).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::driver::{InstanceDriver, TurnShared};
use super::{Executor, Inbound, Inbox, json_string};
use crate::engine::{Decision, Event, EventKind, Execution, RuntimeStatus};
use crate::ids::ExecutionId;
use crate::runtime::orchestrator::{RunEnd, RunResult};
use crate::store::{self, InboxMessage, Instance, InstanceUpdate, Op, ParentRef};

/// What follows the end of an execution.
enum Next {
    Done,
    /// Continue-as-new committed: run a fresh execution.
    Continue(Box<(Instance, Event)>),
    /// Run the same execution again from its history (after a migration), on the same channel.
    Restart(Box<(Instance, mpsc::UnboundedReceiver<Inbound>)>),
}

impl Executor {
    /// Runs one instance to its end. `Err` means an infrastructure problem: nothing was recorded
    /// for the current turn and the instance should be resumed from the store later.
    pub(super) async fn run_actor(
        self: &Arc<Self>,
        mut instance: Instance,
        mut history: Option<Vec<Event>>,
        tx: &mut Inbox,
        mut rx: mpsc::UnboundedReceiver<Inbound>,
    ) -> Result<(), String> {
        // A fresh start's history comes with it and its channel was live before it existed:
        // no inbox to read. A resumed or continued execution reads its inbox.
        let mut read_inbox = history.is_none();
        let mut redispatch = true;
        loop {
            match self
                .run_execution(&instance, history.take(), read_inbox, redispatch, tx, rx)
                .await?
            {
                Next::Done => return Ok(()),
                Next::Restart(next) => {
                    // Work in flight keeps running and answers on this same channel.
                    (instance, rx) = *next;
                    read_inbox = true;
                    redispatch = false;
                }
                Next::Continue(next) => {
                    let (next, started) = *next;
                    // A fresh channel: anything still queued for the old execution is stale.
                    let (new_tx, new_rx) = mpsc::unbounded_channel();
                    self.live_map()
                        .insert(next.instance_id.clone(), new_tx.clone());
                    *tx = new_tx;
                    rx = new_rx;
                    instance = next;
                    history = Some(vec![started]);
                    read_inbox = true;
                    redispatch = true;
                }
            }
        }
    }

    async fn run_execution(
        self: &Arc<Self>,
        instance: &Instance,
        history: Option<Vec<Event>>,
        read_inbox: bool,
        redispatch: bool,
        tx: &Inbox,
        rx: mpsc::UnboundedReceiver<Inbound>,
    ) -> Result<Next, String> {
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
        let inbox = if read_inbox {
            let lookup = id.clone();
            store::read(&self.store, move |s| s.inbox(&lookup))
                .await
                .map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        let next_seq = history.len() as u64;
        let exec =
            match Execution::from_history(id.as_str(), instance.execution_id.as_str(), history) {
                Ok(exec) => exec,
                Err(e) => {
                    let reason = format!("the instance's history cannot be replayed: {e}");
                    return self.fail_unrunnable(instance, Vec::new(), reason).await;
                }
            };
        if exec.is_finished() {
            return Ok(Next::Done);
        }
        let Some(orchestrator) = self.orchestrator_for(exec.orchestrator_digest()).await else {
            let reason = format!(
                "orchestrator component {} (which this instance is pinned to) is not available",
                exec.orchestrator_digest()
            );
            let mut exec = exec;
            exec.fail(reason.clone(), None);
            return self
                .fail_unrunnable(instance, exec.take_new_events(), reason)
                .await;
        };
        // Work that was in flight before a restart is set going again, unless its result is
        // already waiting in the inbox (an activity that finished during a clean shutdown).
        let answered: HashSet<u32> = inbox
            .iter()
            .filter(|m| m.execution_id.as_ref() == Some(&instance.execution_id))
            .filter_map(|m| crate::engine::result_task_id(&m.event))
            .collect();
        for (task_id, decision) in exec.open_tasks() {
            if redispatch && !answered.contains(&task_id) {
                self.start_task(instance, task_id, decision);
            }
        }
        for message in inbox {
            let _ = tx.send(Inbound {
                execution_id: message.execution_id,
                msg_id: Some(message.msg_id),
                event: message.event,
            });
        }
        // Wait for a slot in memory; released when the run ends (finished, evicted or paused).
        self.queued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let slot = self.hot_slots.acquire().await;
        self.queued
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let _slot = slot.map_err(|_| "the executor is shutting down".to_owned())?;
        let shared = Arc::new(Mutex::new(TurnShared::default()));
        let driver = InstanceDriver {
            executor: Arc::clone(self),
            instance: instance.clone(),
            rx,
            own_inbox: tx.clone(),
            shared: Arc::clone(&shared),
            next_seq,
            seen_messages: HashSet::new(),
            suspended: instance.status == RuntimeStatus::Suspended,
            held: Vec::new(),
            requeued: std::collections::VecDeque::new(),
            running_recorded: instance.status != RuntimeStatus::Pending,
        };
        let result = self
            .components
            .orchestrators
            .run(&orchestrator, exec, Box::new(driver))
            .await;
        self.finish_execution(instance, result, &shared).await
    }

    /// Fails an instance that cannot run at all (corrupt history, missing component).
    async fn fail_unrunnable(
        self: &Arc<Self>,
        instance: &Instance,
        events: Vec<Event>,
        reason: String,
    ) -> Result<Next, String> {
        tracing::error!("{reason}");
        let output = json_string(&reason);
        self.commit_end(
            instance,
            events,
            Vec::new(),
            RuntimeStatus::Failed,
            output,
            None,
        )
        .await?;
        Ok(Next::Done)
    }

    /// Sets a decision's work going: runs the activity, arms the timer, or starts the child.
    pub(super) fn start_task(
        self: &Arc<Self>,
        instance: &Instance,
        task_id: u32,
        decision: Decision,
    ) {
        let id = &instance.instance_id;
        let execution = &instance.execution_id;
        match decision {
            Decision::ScheduleActivity { name, input } => {
                self.dispatch_activity(id, execution, task_id, name, input)
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
                self.start_child(parent, name, instance_id, input);
            }
        }
    }

    async fn finish_execution(
        self: &Arc<Self>,
        instance: &Instance,
        result: RunResult,
        shared: &Mutex<TurnShared>,
    ) -> Result<Next, String> {
        let RunResult {
            mut exec,
            custom_status,
            end,
            driver,
        } = result;
        let (pending, consumed) = TurnShared::take(shared);
        if let Some(ticket) = pending {
            ticket.await.map_err(|e| e.to_string())?;
        }
        let (status, output) = match end {
            RunEnd::Aborted(why) => return Err(why),
            RunEnd::Migrated(digest) => {
                let driver = driver
                    .into_any()
                    .downcast::<InstanceDriver>()
                    .map_err(|_| "internal: an instance ran without its driver".to_owned())?;
                return self
                    .migrate_instance(instance, digest, consumed, driver.rx)
                    .await;
            }
            RunEnd::Evicted => {
                tracing::debug!("evicted while idle");
                return Ok(Next::Done);
            }
            RunEnd::Terminated(reason) => {
                exec.terminate(reason.clone());
                tracing::info!("terminated: {reason}");
                (RuntimeStatus::Terminated, json_string(&reason))
            }
            RunEnd::ContinueAsNew(input) => {
                match exec.check_all_replayed("continues as new without making it") {
                    Ok(()) => return self.continue_as_new(instance, &exec, input, consumed).await,
                    Err(nondeterminism) => {
                        let reason = nondeterminism.to_string();
                        exec.fail(reason.clone(), None);
                        (RuntimeStatus::Failed, json_string(&reason))
                    }
                }
            }
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
        };
        if status == RuntimeStatus::Failed {
            tracing::info!("orchestration failed: {output}");
        }
        let events = exec.take_new_events();
        self.commit_end(instance, events, consumed, status, output, custom_status)
            .await?;
        Ok(Next::Done)
    }

    /// Moves the instance onto orchestrator `digest` if that version replays its history
    /// exactly (checked now, on the committed history), recording `ExecutionMigrated`; either
    /// way the execution then runs again from its history, on the same channel.
    async fn migrate_instance(
        self: &Arc<Self>,
        instance: &Instance,
        digest: String,
        consumed: Vec<String>,
        rx: mpsc::UnboundedReceiver<Inbound>,
    ) -> Result<Next, String> {
        let lookup = instance.instance_id.clone();
        let history = store::read(&self.store, move |s| s.history(&lookup))
            .await
            .map_err(|e| e.to_string())?;
        let seq = history.len() as u64;
        let verdict = match self.orchestrator_for(&digest).await {
            None => Err(format!("orchestrator {digest} is not available")),
            Some(orchestrator) => {
                crate::deploy::replay_check(&self.components, &orchestrator, instance, history)
                    .await
                    .unwrap_or_else(|| Err("its history cannot be loaded".to_owned()))
            }
        };
        let now = self.now_ms();
        let mut next = instance.clone();
        let (events, pin) = match verdict {
            Ok(()) => {
                tracing::info!("migrated to orchestrator {digest}");
                next.orchestrator_digest = digest.clone();
                let event = Event {
                    seq,
                    timestamp_ms: now,
                    kind: EventKind::ExecutionMigrated {
                        orchestrator_digest: digest.clone(),
                    },
                };
                (vec![event], Some(digest))
            }
            Err(reason) => {
                tracing::warn!("not migrated to orchestrator {digest}: {reason}");
                (Vec::new(), None)
            }
        };
        self.store
            .write(vec![Op::Append {
                instance_id: instance.instance_id.clone(),
                execution_id: instance.execution_id.clone(),
                events,
                consumed,
                update: InstanceUpdate {
                    updated_ms: now,
                    orchestrator_digest: pin,
                    ..InstanceUpdate::default()
                },
            }])
            .await
            .map_err(|e| e.to_string())?;
        Ok(Next::Restart(Box::new((next, rx))))
    }

    /// Commits a terminal status (and tells the parent, if this is a child, in the same batch).
    async fn commit_end(
        self: &Arc<Self>,
        instance: &Instance,
        events: Vec<Event>,
        consumed: Vec<String>,
        status: RuntimeStatus,
        output: String,
        custom_status: Option<Option<String>>,
    ) -> Result<(), String> {
        let mut ops = vec![Op::Append {
            instance_id: instance.instance_id.clone(),
            execution_id: instance.execution_id.clone(),
            events,
            consumed,
            update: InstanceUpdate {
                status: Some(status),
                output: Some(output.clone()),
                custom_status,
                updated_ms: self.now_ms(),
                orchestrator_digest: None,
            },
        }];
        let notify = instance.parent.as_ref().map(|parent| {
            let event = if status == RuntimeStatus::Completed {
                EventKind::SubOrchestrationInstanceCompleted {
                    task_id: parent.task_id,
                    result: output.clone(),
                }
            } else {
                let reason = serde_json::from_str::<String>(&output).unwrap_or(output);
                EventKind::SubOrchestrationInstanceFailed {
                    task_id: parent.task_id,
                    reason,
                    details: None,
                }
            };
            let message = InboxMessage {
                msg_id: uuid::Uuid::new_v4().simple().to_string(),
                execution_id: Some(parent.execution_id.clone()),
                event,
            };
            (parent.instance_id.clone(), message)
        });
        if let Some((parent, message)) = &notify {
            ops.push(Op::Enqueue {
                instance_id: parent.clone(),
                message: message.clone(),
                required: false,
            });
        }
        self.store.write(ops).await.map_err(|e| e.to_string())?;
        // Ended: its timers can only wake it for nothing now.
        self.timers.cancel_instance(&instance.instance_id);
        let counter = match status {
            RuntimeStatus::Completed => &self.counters.completed,
            _ => &self.counters.failed,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.notify_finished(&instance.instance_id);
        if let Some((parent, message)) = notify {
            self.deliver(
                &parent,
                Inbound {
                    execution_id: message.execution_id,
                    msg_id: Some(message.msg_id),
                    event: message.event,
                },
            );
        }
        Ok(())
    }

    /// Ends the execution and starts a fresh one with an empty history on `input`. Events that
    /// arrived but were not consumed carry over to the new execution.
    async fn continue_as_new(
        &self,
        instance: &Instance,
        exec: &Execution,
        input: String,
        consumed: Vec<String>,
    ) -> Result<Next, String> {
        let mut next = instance.clone();
        next.execution_id = ExecutionId::random();
        next.input = input.clone();
        next.status = RuntimeStatus::Running;
        next.output = None;
        let now = self.now_ms();
        let started = Event {
            seq: 0,
            timestamp_ms: now,
            kind: EventKind::ExecutionStarted {
                name: instance.name.clone(),
                input: input.clone(),
                orchestrator_digest: instance.orchestrator_digest.clone(),
            },
        };
        let mut ops = vec![Op::ContinueAsNew {
            instance_id: instance.instance_id.clone(),
            from_execution: instance.execution_id.clone(),
            execution_id: next.execution_id.clone(),
            input,
            started: started.clone(),
            consumed,
            updated_ms: now,
        }];
        for (name, input) in exec.unconsumed_events() {
            ops.push(Op::Enqueue {
                instance_id: instance.instance_id.clone(),
                message: InboxMessage {
                    msg_id: uuid::Uuid::new_v4().simple().to_string(),
                    execution_id: None,
                    event: EventKind::EventRaised { name, input },
                },
                required: false,
            });
        }
        self.store.write(ops).await.map_err(|e| e.to_string())?;
        // The old execution's timers are stale; the new one arms its own as it runs.
        self.timers.cancel_instance(&instance.instance_id);
        tracing::debug!(execution = %next.execution_id, "continued as new");
        Ok(Next::Continue(Box::new((next, started))))
    }
}
