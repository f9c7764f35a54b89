//! One live instance's actor: the instance's whole life in memory, in one place.
//!
//! An [`InstanceActor`] owns its instance row, its channel and, per execution, a [`Run`]. For
//! each execution it replays the history (or starts fresh), then loops: the sandbox hands back
//! a turn ([`Step::Turn`]); the actor appends the turn's events (one atomic batch, after the
//! previous turn's commit succeeded), sets the turn's new work going, sorts what arrives through
//! its [`Mailbox`], and answers with the next events or a reason to stop. When the run ends it
//! commits the end (completion, failure, termination), continues as new into a fresh execution,
//! moves to another version (migration), or leaves memory (eviction).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::error::ActorError;
use super::live::{Inbox, Receiver};
use super::mailbox::{Mailbox, Verdict};
use super::{Executor, FailureStrategy, Inbound, VersionMismatch, json_string};
use crate::engine::{Event, EventKind, Execution, Failure, RuntimeStatus, decision_of};
use crate::ids::{Digest, ExecutionId, TaskId};
use crate::runtime::Orchestrator;
use crate::runtime::dry_run::{Mismatch, replay_check};
use crate::runtime::orchestrator::{RunEnd, RunResult, Step, Stop, TurnRecord};
use crate::store::{self, CommitTicket, InboxMessage, Instance, InstanceUpdate, Op};

/// What follows the end of an execution.
enum Next {
    Done,
    /// Continue-as-new committed: run the fresh execution that starts with this event.
    Continue(Box<Event>),
    /// Run the same execution again from its history (after a migration request), on the same
    /// channel, with what the last run left unsorted.
    Restart(Vec<Inbound>),
}

/// The actor's answer to a turn.
enum Answer {
    Resume(Vec<EventKind>),
    Stop(Stop),
}

/// What a run's end asks the actor to do (see [`ending`]).
#[derive(Debug, PartialEq)]
enum Ending {
    /// Commit this terminal status and output (the terminal event is in the execution).
    Record(RuntimeStatus, String),
    ContinueAsNew(String),
    Stopped(Stop),
}

/// One execution's run in memory.
struct Run {
    mailbox: Mailbox,
    /// The last turn's commit; awaited before anything is appended after it.
    pending: Option<CommitTicket>,
    /// Inbox messages handed to the guest, to delete with the commit that records them.
    consumed: Vec<String>,
    next_seq: u64,
    /// The status the row shows: a first turn that only waits (on an event, say) records
    /// nothing else, yet must not leave it Pending; turns that keep it write no status (in
    /// SQLite, a status written again rewrites its index entry, a page per turn).
    recorded: RuntimeStatus,
}

/// The owner of one live instance (see the module's docs).
pub(super) struct InstanceActor {
    executor: Arc<Executor>,
    instance: Instance,
    tx: Inbox,
    rx: Receiver,
    /// The trace context of the request that started the instance (from its history).
    trace: Option<crate::trace::TraceContext>,
}

impl InstanceActor {
    pub fn new(executor: Arc<Executor>, instance: Instance, tx: Inbox, rx: Receiver) -> Self {
        InstanceActor {
            executor,
            instance,
            tx,
            rx,
            trace: None,
        }
    }

    /// The channel the actor's registry entry has now (it changes with continue-as-new).
    pub fn inbox(&self) -> &Inbox {
        &self.tx
    }

    /// Runs the instance to its end (or until it leaves memory). `history` is a fresh start's
    /// first event, whose channel was live before it existed: no inbox to read. `Err`: nothing
    /// was recorded for the current turn; the instance resumes from the store if that can help.
    pub async fn run(&mut self, mut history: Option<Vec<Event>>) -> Result<(), ActorError> {
        let mut read_inbox = history.is_none();
        let mut redispatch = true;
        let mut queued = Vec::new();
        loop {
            let next = self
                .run_execution(history.take(), read_inbox, redispatch, queued)
                .await?;
            queued = Vec::new();
            match next {
                Next::Done => return Ok(()),
                Next::Restart(left) => {
                    // Work in flight keeps running and answers on this same channel.
                    queued = left;
                    read_inbox = true;
                    redispatch = false;
                }
                Next::Continue(started) => {
                    (self.tx, self.rx) = self.executor.live.renew(&self.instance.instance_id);
                    history = Some(vec![*started]);
                    read_inbox = true;
                    redispatch = true;
                }
            }
        }
    }

    async fn run_execution(
        &mut self,
        history: Option<Vec<Event>>,
        read_inbox: bool,
        redispatch: bool,
        queued: Vec<Inbound>,
    ) -> Result<Next, ActorError> {
        let store = &self.executor.store;
        // Resuming instances read their state a few at a time (after a restart, thousands
        // resume at once): the store's readers stay free for the API meanwhile.
        let reading = match history.is_none() || read_inbox {
            true => self.executor.resuming.acquire().await.ok(),
            false => None,
        };
        let id = self.instance.instance_id.clone();
        let history = match history {
            Some(h) => h,
            None => store::read(store, move |s| s.history(&id)).await?,
        };
        let id = self.instance.instance_id.clone();
        let inbox = match read_inbox {
            true => store::read(store, move |s| s.inbox(&id)).await?,
            false => Vec::new(),
        };
        drop(reading);
        let next_seq = history.len() as u64;
        let (id, execution) = (&self.instance.instance_id, &self.instance.execution_id);
        let exec = match Execution::from_history(id.as_str(), execution.as_str(), history) {
            Ok(exec) => exec,
            Err(e) => {
                let reason = format!("the instance's history cannot be replayed: {e}");
                return self.fail_unrunnable(Vec::new(), reason).await;
            }
        };
        if exec.is_finished() {
            return Ok(Next::Done);
        }
        // The instance's log lines and its activities' carry the starting request's trace.
        self.trace = exec.trace_context().cloned();
        if let Some(trace) = &self.trace {
            let id = tracing::field::display(trace.trace_id());
            tracing::Span::current().record("trace_id", id);
        }
        if let Err(mismatch) = self.executor.versioning.check(exec.version()) {
            return self.refuse_version(exec, mismatch).await;
        }
        // An instance that never ran (it waited for a host of its version) runs on the version
        // deployed now, not the one active when it was started.
        if next_seq == 1
            && self.executor.versioning.is_on()
            && let Some(deployed) = self.executor.deployed_digest(exec.name())
            && &deployed != exec.orchestrator_digest()
        {
            return self.migrate(deployed, Vec::new(), queued).await;
        }
        let Some(orchestrator) = self
            .executor
            .orchestrator_for(exec.orchestrator_digest())
            .await
        else {
            let reason = format!(
                "orchestrator component {} (which this instance is pinned to) is not available",
                exec.orchestrator_digest()
            );
            let mut exec = exec;
            exec.fail(Failure::new(reason.clone()));
            return self.fail_unrunnable(exec.take_new_events(), reason).await;
        };
        if redispatch {
            self.redispatch(&exec, &inbox);
        }
        let mut run = self.new_run(next_seq, queued);
        for message in inbox {
            run.mailbox.push(message.into());
        }
        // A slot in memory, released when the run ends (finished, evicted or paused).
        let executor = Arc::clone(&self.executor);
        let _slot = executor.hot_slot().await?;
        match self.drive(orchestrator.as_ref(), exec, &mut run).await {
            Ok(result) => self.finish_execution(run, result).await,
            Err(e) => {
                // Whatever resumes the instance must read the history with this turn in it.
                if let Some(ticket) = run.pending.take() {
                    let _ = ticket.await;
                }
                Err(e)
            }
        }
    }

    fn new_run(&self, next_seq: u64, queued: Vec<Inbound>) -> Run {
        let instance = &self.instance;
        let suspended = instance.status == RuntimeStatus::Suspended;
        let digest = instance.orchestrator_digest.clone();
        let mailbox = Mailbox::new(instance.execution_id.clone(), digest, suspended, queued);
        Run {
            mailbox,
            pending: None,
            consumed: Vec::new(),
            next_seq,
            recorded: instance.status,
        }
    }

    /// Work that was in flight before a restart is set going again, unless its result is
    /// already waiting in the inbox (an activity that finished during a clean shutdown).
    fn redispatch(&self, exec: &Execution, inbox: &[InboxMessage]) {
        let execution = &self.instance.execution_id;
        let answered: HashSet<TaskId> = inbox
            .iter()
            .filter(|m| m.execution_id.as_ref() == Some(execution))
            .filter_map(|m| crate::engine::result_task_id(&m.event))
            .collect();
        for (task_id, decision) in exec.open_tasks() {
            if !answered.contains(&task_id) {
                let trace = self.trace.as_ref();
                self.executor
                    .start_task(&self.instance, task_id, decision, trace);
            }
        }
    }

    /// The turn loop: the sandbox hands back turns, the actor persists them and answers.
    async fn drive(
        &mut self,
        orchestrator: &dyn Orchestrator,
        exec: Execution,
        run: &mut Run,
    ) -> Result<RunResult, ActorError> {
        let parent = self.instance.parent.as_ref();
        let parent = parent.map(|p| p.instance_id.to_string());
        let mut session = orchestrator.start(exec, parent);
        loop {
            match session.next().await {
                Step::Ended(result) => return Ok(*result),
                Step::Turn(turn, waiting) => {
                    session = waiting;
                    match self.end_turn(run, turn).await? {
                        Answer::Resume(events) => session.resume(events, self.executor.now_ms()),
                        Answer::Stop(why) => session.stop(why),
                    }
                }
            }
        }
    }

    /// Appends the turn (after the previous turn's commit succeeded), sets its new work going,
    /// and waits for what the next turn gets.
    async fn end_turn(&mut self, run: &mut Run, turn: TurnRecord) -> Result<Answer, ActorError> {
        if let Some(ticket) = run.pending.take() {
            ticket.await?;
        }
        if let Some(first) = turn.events.first()
            && first.seq != run.next_seq
        {
            return Err(ActorError::Internal(format!(
                "turn starts at event {} but {} was expected",
                first.seq, run.next_seq
            )));
        }
        run.next_seq += turn.events.len() as u64;
        // The turn's new work, noted before its events move into the store batch.
        let work: Vec<_> = turn
            .events
            .iter()
            .filter_map(|e| decision_of(&e.kind))
            .collect();
        let consumed = std::mem::take(&mut run.consumed);
        let status = match run.mailbox.suspended() {
            true => RuntimeStatus::Suspended,
            false => RuntimeStatus::Running,
        };
        let changed = (status != run.recorded).then_some(status);
        if !turn.events.is_empty()
            || turn.custom_status.is_some()
            || !consumed.is_empty()
            || changed.is_some()
        {
            run.recorded = status;
            let update = InstanceUpdate {
                status: changed,
                output: None,
                custom_status: turn.custom_status,
                updated_ms: self.executor.now_ms(),
                orchestrator_digest: None,
            };
            // Kept in step with the row, which the end's row in memory is built from.
            update.apply_to(&mut self.instance);
            let mut ops = Vec::new();
            let sends = self
                .executor
                .entity_sends(&self.instance, &turn.events, &mut ops);
            ops.insert(0, self.append_op(turn.events, consumed, update));
            run.pending = Some(self.executor.write_then_deliver(ops, sends));
        }
        // Set the work going at once: an activity runs while its TaskScheduled commits. If
        // that commit fails, the instance resumes from the store and schedules it again.
        for (task_id, decision) in work {
            let trace = self.trace.as_ref();
            self.executor
                .start_task(&self.instance, task_id, decision, trace);
        }
        self.next_answer(run, turn.activities_in_flight == 0).await
    }

    fn append(
        &self,
        events: Vec<Event>,
        consumed: Vec<String>,
        update: InstanceUpdate,
    ) -> CommitTicket {
        let op = self.append_op(events, consumed, update);
        self.executor.store.write(vec![op])
    }

    fn append_op(&self, events: Vec<Event>, consumed: Vec<String>, update: InstanceUpdate) -> Op {
        Op::Append {
            instance_id: self.instance.instance_id.clone(),
            execution_id: self.instance.execution_id.clone(),
            events,
            consumed,
            update,
        }
    }

    /// Waits until the mailbox has events for the guest or a reason to stop it.
    async fn next_answer(&mut self, run: &mut Run, may_evict: bool) -> Result<Answer, ActorError> {
        loop {
            if run.mailbox.is_empty() {
                match self.next_inbound(may_evict).await? {
                    Some(inbound) => run.mailbox.push(inbound),
                    None => return Ok(Answer::Stop(Stop::Evict)),
                }
            }
            while let Ok(more) = self.rx.try_recv() {
                run.mailbox.push(more);
            }
            let sorted = run.mailbox.sort();
            run.consumed.extend(sorted.consumed);
            match sorted.verdict {
                Verdict::Events(events) if events.is_empty() => {}
                Verdict::Events(events) => return Ok(Answer::Resume(events)),
                Verdict::Terminate(reason) => return Ok(Answer::Stop(Stop::Terminate(reason))),
                Verdict::Migrate(digest) => return Ok(Answer::Stop(Stop::Migrate(digest))),
            }
        }
    }

    /// The next inbound message; `None` when the instance was idle for the executor's idle
    /// limit with nothing in flight that only memory holds, and has left the live registry.
    async fn next_inbound(&mut self, may_evict: bool) -> Result<Option<Inbound>, ActorError> {
        let id = &self.instance.instance_id;
        let channel = (&self.tx, &mut self.rx);
        self.executor.next_inbound(id, channel, may_evict).await
    }

    async fn finish_execution(&mut self, run: Run, result: RunResult) -> Result<Next, ActorError> {
        let RunResult {
            mut exec,
            custom_status,
            end,
        } = result;
        if let Some(ticket) = run.pending {
            ticket.await?;
        }
        let consumed = run.consumed;
        match ending(&mut exec, end) {
            Ending::Stopped(Stop::Evict) => {
                tracing::debug!("evicted while idle");
                Ok(Next::Done)
            }
            Ending::Stopped(Stop::Migrate(digest)) => {
                let queued = run.mailbox.into_queued();
                self.migrate(digest, consumed, queued).await
            }
            Ending::Stopped(Stop::Fault(why)) => Err(ActorError::Sandbox(why)),
            Ending::Stopped(other) => Err(ActorError::Internal(format!(
                "a live run stopped unexpectedly: {other}"
            ))),
            Ending::ContinueAsNew(input) => self.continue_as_new(&mut exec, input, consumed).await,
            Ending::Record(status, output) => {
                if status == RuntimeStatus::Failed {
                    tracing::info!("orchestration failed: {output}");
                }
                let events = exec.take_new_events();
                self.commit_end(events, consumed, status, output, custom_status)
                    .await?;
                Ok(Next::Done)
            }
        }
    }

    /// Moves the instance onto orchestrator `digest` if that version replays its history
    /// exactly (checked now, on the committed history), recording `ExecutionMigrated`; either
    /// way the execution then runs again from its history, on the same channel.
    async fn migrate(
        &mut self,
        digest: Digest,
        consumed: Vec<String>,
        queued: Vec<Inbound>,
    ) -> Result<Next, ActorError> {
        let lookup = self.instance.instance_id.clone();
        let history = store::read(&self.executor.store, move |s| s.history(&lookup)).await?;
        let seq = history.len() as u64;
        let verdict = match self.executor.orchestrator_for(&digest).await {
            None => Err(Mismatch(format!("orchestrator {digest} is not available"))),
            Some(orchestrator) => replay_check(orchestrator.as_ref(), &self.instance, history)
                .await
                .unwrap_or_else(|| Err(Mismatch("its history cannot be loaded".to_owned()))),
        };
        let now = self.executor.now_ms();
        let (events, pin) = match verdict {
            Ok(()) => {
                tracing::info!("migrated to orchestrator {digest}");
                let kind = EventKind::ExecutionMigrated {
                    orchestrator_digest: digest.clone(),
                };
                let event = Event {
                    seq,
                    timestamp_ms: now,
                    kind,
                };
                (vec![event], Some(digest))
            }
            Err(reason) => {
                tracing::warn!("not migrated to orchestrator {digest}: {reason}");
                (Vec::new(), None)
            }
        };
        let update = InstanceUpdate {
            updated_ms: now,
            orchestrator_digest: pin.clone(),
            ..InstanceUpdate::default()
        };
        self.append(events, consumed, update).await?;
        if let Some(digest) = pin {
            self.instance.orchestrator_digest = digest;
        }
        Ok(Next::Restart(queued))
    }

    /// An instance of a version this host does not run: failed, or left for a host that runs
    /// it (`versionFailureStrategy`).
    async fn refuse_version(
        &self,
        mut exec: Execution,
        mismatch: VersionMismatch,
    ) -> Result<Next, ActorError> {
        match self.executor.versioning.failure_strategy {
            FailureStrategy::Fail => {
                let reason = mismatch.to_string();
                exec.fail(Failure::new(reason.clone()));
                self.fail_unrunnable(exec.take_new_events(), reason).await
            }
            FailureStrategy::Reject => {
                let counters = &self.executor.counters;
                counters.versions_rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "{mismatch}: not run here, left as it is for a host that runs it (versionFailureStrategy Reject)"
                );
                Ok(Next::Done)
            }
        }
    }

    /// Fails an instance that cannot run at all (corrupt history, missing component).
    async fn fail_unrunnable(
        &self,
        events: Vec<Event>,
        reason: String,
    ) -> Result<Next, ActorError> {
        tracing::error!("{reason}");
        let output = json_string(&reason);
        let failed = RuntimeStatus::Failed;
        self.commit_end(events, Vec::new(), failed, output, None)
            .await?;
        Ok(Next::Done)
    }

    /// Commits a terminal status (and tells the parent, if this is a child, in the same batch).
    async fn commit_end(
        &self,
        events: Vec<Event>,
        consumed: Vec<String>,
        status: RuntimeStatus,
        output: String,
        custom_status: Option<Option<String>>,
    ) -> Result<(), ActorError> {
        let update = InstanceUpdate {
            status: Some(status),
            output: Some(output.clone()),
            custom_status,
            updated_ms: self.executor.now_ms(),
            orchestrator_digest: None,
        };
        let mut row = self.instance.clone();
        update.apply_to(&mut row);
        // Read before the write: a purge or rewind committed after ours forgets the row, and
        // one that forgot it before we keep it bumps this, so the stale row is not kept.
        let generation = self.executor.finished.generation();
        let mut ops = Vec::new();
        let sends = self
            .executor
            .entity_sends(&self.instance, &events, &mut ops);
        ops.insert(0, self.append_op(events, consumed, update));
        let notify = self.parent_notice(status, output);
        if let Some((parent, message)) = &notify {
            ops.push(Op::Enqueue {
                instance_id: parent.clone(),
                message: message.clone(),
                required: false,
                created_ms: self.executor.now_ms(),
            });
        }
        self.executor.write_then_deliver(ops, sends).await?;
        // The row as committed, for the status reads and waiters the end wakes.
        self.executor.finished.keep(&row, generation);
        self.executor.ended(&self.instance.instance_id, status);
        if let Some((parent, message)) = notify {
            self.executor.deliver(&parent, message.into());
        }
        Ok(())
    }

    /// For a child, the message that hands its outcome to its parent.
    fn parent_notice(
        &self,
        status: RuntimeStatus,
        output: String,
    ) -> Option<(crate::ids::InstanceId, InboxMessage)> {
        let parent = self.instance.parent.as_ref()?;
        let event = if status == RuntimeStatus::Completed {
            EventKind::SubOrchestrationInstanceCompleted {
                task_id: parent.task_id,
                result: output,
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
        Some((parent.instance_id.clone(), message))
    }

    /// Ends the execution and starts a fresh one with an empty history on `input`. Events that
    /// arrived but were not consumed carry over to the new execution.
    async fn continue_as_new(
        &mut self,
        exec: &mut Execution,
        input: String,
        consumed: Vec<String>,
    ) -> Result<Next, ActorError> {
        let mut next = self.instance.clone();
        next.execution_id = ExecutionId::random();
        next.input = input.clone();
        next.status = RuntimeStatus::Running;
        next.output = None;
        let now = self.executor.now_ms();
        let started = Event {
            seq: 0,
            timestamp_ms: now,
            kind: EventKind::ExecutionStarted {
                name: next.name.clone(),
                input: input.clone(),
                orchestrator_digest: next.orchestrator_digest.clone(),
                version: next.version.clone(),
                trace_context: self.trace.clone(),
            },
        };
        let mut ops = vec![Op::ContinueAsNew {
            instance_id: next.instance_id.clone(),
            from_execution: self.instance.execution_id.clone(),
            execution_id: next.execution_id.clone(),
            input,
            started: started.clone(),
            consumed,
            updated_ms: now,
        }];
        for (name, input) in exec.unconsumed_events() {
            ops.push(Op::Enqueue {
                instance_id: next.instance_id.clone(),
                message: InboxMessage {
                    msg_id: uuid::Uuid::new_v4().simple().to_string(),
                    execution_id: None,
                    event: EventKind::EventRaised { name, input },
                },
                required: false,
                created_ms: now,
            });
        }
        // The last turn's decisions end with the execution, but what it sent to entities
        // goes out (Durable Functions' eternal orchestrations signal, then continue as new).
        let last_turn = exec.take_new_events();
        let sends = self
            .executor
            .entity_sends(&self.instance, &last_turn, &mut ops);
        self.executor.write_then_deliver(ops, sends).await?;
        // The old execution's timers are stale; the new one arms its own as it runs.
        self.executor.timers.cancel_instance(&next.instance_id);
        tracing::debug!(execution = %next.execution_id, "continued as new");
        self.instance = next;
        Ok(Next::Continue(Box::new(started)))
    }
}

/// What the end of a run means for the instance; records the terminal event in `exec` where
/// there is one (a version that ends before making its recorded decisions fails instead).
fn ending(exec: &mut Execution, end: RunEnd) -> Ending {
    match end {
        RunEnd::Failed(failure) => failed(exec, failure),
        RunEnd::ContinueAsNew(input) => {
            let check = exec.check_all_replayed("continues as new without making it");
            match check {
                Ok(()) => Ending::ContinueAsNew(input),
                Err(nondeterminism) => failed(exec, Failure::new(nondeterminism.to_string())),
            }
        }
        RunEnd::Completed(output) => match exec.complete(output.clone()) {
            Ok(()) => Ending::Record(RuntimeStatus::Completed, output),
            Err(nondeterminism) => failed(exec, Failure::new(nondeterminism.to_string())),
        },
        RunEnd::Stopped(Stop::Terminate(reason)) => {
            tracing::info!("terminated: {reason}");
            let output = json_string(&reason);
            exec.terminate(reason);
            Ending::Record(RuntimeStatus::Terminated, output)
        }
        RunEnd::Stopped(stop) => Ending::Stopped(stop),
    }
}

fn failed(exec: &mut Execution, failure: Failure) -> Ending {
    let output = json_string(&failure.message);
    exec.fail(failure);
    Ending::Record(RuntimeStatus::Failed, output)
}
