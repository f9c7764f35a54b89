//! The replay cursor: turns an orchestrator's calls into replayed results or new decisions.
//!
//! A history is a sequence of *turns*. Turn 0 starts with `ExecutionStarted`; every later turn
//! starts with `OrchestratorStarted` followed by the inbound events (task results, fired timers,
//! raised events) handed to the orchestrator in that turn. Decisions (`TaskScheduled`, ...) are
//! recorded after the inbound events of the turn in which they were made.
//!
//! Replaying means: every decision the code makes must equal the next recorded decision, and a
//! wait only sees the results of the turns consumed so far, consuming one more turn at a time
//! while nothing it waits for is resolved. When the recorded turns run out, the execution is
//! live: decisions become new events, and a blocked wait asks the runtime for a new turn.

use std::collections::{HashMap, VecDeque};
use std::fmt;

pub use super::decisions::{Decision, decision_of, result_task_id};
use super::decisions::{describe_new, describe_recorded, event_of, same_decision};
use super::history::{Event, EventKind};
use crate::ids::{Digest, TaskId};

/// Why something failed (a task, an activity call, an orchestration): the message a user
/// reads, and optional details (a stack, a trap's chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub details: Option<String>,
}

impl Failure {
    /// A failure without details.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        Failure {
            message,
            details: None,
        }
    }
}

/// The result of a task, as handed to the orchestrator.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed(String),
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    All,
    Any,
}

/// What a wait found.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    /// `WaitMode::All`: every outcome, in the order of the awaited tasks.
    All(Vec<Outcome>),
    /// `WaitMode::Any`: the index (in the awaited list) and outcome of the first task resolved.
    Any(u32, Outcome),
    /// Nothing to return yet and the history is exhausted: the runtime must supply a new turn.
    Blocked,
}

/// A wait the guest may not make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("cannot wait on task {0}: this execution never scheduled it")]
    NeverScheduled(TaskId),
    #[error("cannot wait on an empty list of tasks")]
    Empty,
}

/// A replay that diverged from the recorded history.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "non-deterministic orchestration at decision {position}: the history has {recorded}, but the code now {new}. \
     The orchestrator's code or inputs changed while this instance was in flight; \
     in-flight instances must finish on the version they started with"
)]
pub struct Nondeterminism {
    /// 1-based position among the execution's decisions.
    pub position: usize,
    /// The recorded decision, described for humans.
    pub recorded: String,
    /// What the code did instead, described for humans.
    pub new: String,
}

/// A history that cannot be replayed at all (corrupt or not an orchestration history).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistoryError {
    #[error("history is empty")]
    Empty,
    #[error("history must start with ExecutionStarted, found {0}")]
    NoStart(&'static str),
    #[error("history event {seq} has sequence number {found}; expected {seq} (gap or duplicate)")]
    BadSequence { seq: u64, found: u64 },
    #[error("history event {seq} ({kind}) refers to task {task_id}, which was never scheduled")]
    UnknownTask {
        seq: u64,
        kind: &'static str,
        task_id: TaskId,
    },
    #[error("history event {seq}: ExecutionStarted may only appear first")]
    DuplicateStart { seq: u64 },
}

#[derive(Debug)]
struct Turn {
    timestamp_ms: u64,
    inbound: Vec<EventKind>,
}

/// One execution of an orchestration, being replayed and then run live.
#[derive(Debug)]
pub struct Execution {
    instance_id: String,
    execution_id: String,
    name: String,
    input: String,
    orchestrator_digest: Digest,
    /// The orchestration's version, from `ExecutionStarted`.
    version: Option<String>,
    /// The trace context of the request that started it, from `ExecutionStarted`.
    trace_context: Option<crate::trace::TraceContext>,
    /// Recorded decisions in order, then new ones as they are made.
    recorded: Vec<(TaskId, Decision)>,
    decision_cursor: usize,
    turns: Vec<Turn>,
    turn_cursor: usize,
    next_task_id: TaskId,
    /// Name of each activity / sub-orchestration task, for failure messages.
    task_names: HashMap<TaskId, String>,
    /// Resolved tasks with the order in which they were resolved.
    resolved: HashMap<TaskId, (u64, Outcome)>,
    resolve_counter: u64,
    /// Every task id a decision was recorded for (recorded or new).
    scheduled: std::collections::HashSet<TaskId>,
    /// Activities scheduled whose result is not in the history yet.
    activities_open: std::collections::HashSet<TaskId>,
    /// Tasks whose result is in the history (recorded or new): a second result is dropped.
    results_seen: std::collections::HashSet<TaskId>,
    event_waiters: HashMap<String, VecDeque<TaskId>>,
    event_buffer: HashMap<String, VecDeque<String>>,
    current_time_ms: u64,
    guid_counter: u64,
    /// Next history sequence number.
    next_seq: u64,
    new_events: Vec<Event>,
    finished: bool,
    /// The guest's log lines, kept only when asked for (the dashboard's replay view).
    logs: Option<Vec<GuestLog>>,
}

/// A log line the guest wrote, with the turn it wrote it in (0 is the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLog {
    pub turn: usize,
    pub level: &'static str,
    pub message: String,
}

impl Execution {
    /// Loads an execution from its recorded history (at least `ExecutionStarted`).
    pub fn from_history(
        instance_id: &str,
        execution_id: &str,
        history: Vec<Event>,
    ) -> Result<Self, HistoryError> {
        let mut events = history.into_iter();
        let first = events.next().ok_or(HistoryError::Empty)?;
        let mut exec = Execution::started(instance_id, execution_id, first)?;
        let events: Vec<Event> = events.collect();
        // Events a rewind voided are skipped (their sequence numbers still count).
        let voided = super::history::voided(&events);
        for ev in events {
            if ev.seq != exec.next_seq {
                return Err(HistoryError::BadSequence {
                    seq: exec.next_seq,
                    found: ev.seq,
                });
            }
            exec.next_seq += 1;
            if !voided.contains(&ev.seq) {
                exec.load(ev)?;
            }
        }
        Ok(exec)
    }

    /// An execution whose history so far is its `ExecutionStarted`.
    fn started(instance_id: &str, execution_id: &str, first: Event) -> Result<Self, HistoryError> {
        if first.seq != 0 {
            return Err(HistoryError::BadSequence {
                seq: 0,
                found: first.seq,
            });
        }
        let EventKind::ExecutionStarted {
            name,
            input,
            orchestrator_digest,
            version,
            trace_context,
        } = first.kind
        else {
            return Err(HistoryError::NoStart(first.kind.type_name()));
        };
        Ok(Execution {
            instance_id: instance_id.to_owned(),
            execution_id: execution_id.to_owned(),
            name,
            input,
            orchestrator_digest,
            version,
            trace_context,
            recorded: Vec::new(),
            decision_cursor: 0,
            // Turn 0 is ExecutionStarted itself: no inbound events, consumed at once.
            turns: vec![Turn {
                timestamp_ms: first.timestamp_ms,
                inbound: Vec::new(),
            }],
            turn_cursor: 1,
            next_task_id: TaskId(0),
            task_names: HashMap::new(),
            resolved: HashMap::new(),
            resolve_counter: 0,
            scheduled: std::collections::HashSet::new(),
            activities_open: std::collections::HashSet::new(),
            results_seen: std::collections::HashSet::new(),
            event_waiters: HashMap::new(),
            event_buffer: HashMap::new(),
            current_time_ms: first.timestamp_ms,
            guid_counter: 0,
            next_seq: 1,
            new_events: Vec::new(),
            finished: false,
            logs: None,
        })
    }

    /// Takes one recorded event (after the first) into the replay state.
    fn load(&mut self, ev: Event) -> Result<(), HistoryError> {
        let kind_name = ev.kind.type_name();
        match ev.kind {
            EventKind::ExecutionStarted { .. } => {
                return Err(HistoryError::DuplicateStart { seq: ev.seq });
            }
            EventKind::OrchestratorStarted => self.turns.push(Turn {
                timestamp_ms: ev.timestamp_ms,
                inbound: Vec::new(),
            }),
            kind @ (EventKind::TaskScheduled { .. }
            | EventKind::TimerCreated { .. }
            | EventKind::SubOrchestrationInstanceCreated { .. }
            | EventKind::EntityOperationCalled { .. }
            | EventKind::EntityOperationSignaled { .. }) => {
                if let Some((task_id, decision)) = decision_of(&kind) {
                    self.note_decision(task_id, decision);
                }
            }
            kind @ (EventKind::TaskCompleted { .. }
            | EventKind::TaskFailed { .. }
            | EventKind::TimerFired { .. }
            | EventKind::SubOrchestrationInstanceCompleted { .. }
            | EventKind::SubOrchestrationInstanceFailed { .. }
            | EventKind::EntityOperationCompleted { .. }
            | EventKind::EntityOperationFailed { .. }) => {
                let task_id = result_task_id(&kind).unwrap_or_default();
                if !self.scheduled.contains(&task_id) {
                    return Err(HistoryError::UnknownTask {
                        seq: ev.seq,
                        kind: kind_name,
                        task_id,
                    });
                }
                self.results_seen.insert(task_id);
                self.activities_open.remove(&task_id);
                self.last_turn().inbound.push(kind);
            }
            kind @ EventKind::EventRaised { .. } => self.last_turn().inbound.push(kind),
            EventKind::ExecutionCompleted { .. }
            | EventKind::ExecutionFailed { .. }
            | EventKind::ExecutionTerminated { .. }
            | EventKind::ContinuedAsNew { .. } => self.finished = true,
            EventKind::ExecutionSuspended { .. }
            | EventKind::ExecutionResumed { .. }
            | EventKind::EntityRequest { .. } => {}
            EventKind::ExecutionRewound { .. } => self.finished = false,
            EventKind::ExecutionMigrated {
                orchestrator_digest,
            } => self.orchestrator_digest = orchestrator_digest,
        }
        Ok(())
    }

    fn last_turn(&mut self) -> &mut Turn {
        self.turns.last_mut().expect("turn 0 always exists")
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn input(&self) -> &str {
        &self.input
    }
    pub fn orchestrator_digest(&self) -> &Digest {
        &self.orchestrator_digest
    }
    /// The orchestration's version (`None`: none was given and the host has no default).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
    /// The trace context of the request that started the instance, if it sent one.
    pub fn trace_context(&self) -> Option<&crate::trace::TraceContext> {
        self.trace_context.as_ref()
    }
    /// True once the history holds a terminal event.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
    /// Time of the turn being executed (ms since epoch), identical on replay.
    pub fn current_time_ms(&self) -> u64 {
        self.current_time_ms
    }
    /// True while recorded turns or decisions remain to be replayed.
    pub fn is_replaying(&self) -> bool {
        self.turn_cursor < self.turns.len() || self.decision_cursor < self.recorded.len()
    }
    /// Number of events in the history, recorded and new.
    pub fn history_len(&self) -> u64 {
        self.next_seq
    }

    /// A name-based UUID from the instance, the execution and a counter: the same on replay.
    pub fn new_guid(&mut self) -> String {
        let name = format!(
            "{}:{}:{}",
            self.instance_id, self.execution_id, self.guid_counter
        );
        self.guid_counter += 1;
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
    }

    /// The orchestrator made a decision: replay it against the history or record it as new.
    /// Returns the task id and whether the decision is new (the runtime must then act on it).
    pub fn decide(&mut self, decision: Decision) -> Result<(TaskId, bool), Nondeterminism> {
        let task_id = self.next_task_id;
        self.next_task_id = self.next_task_id.next();
        if let Some((recorded_id, recorded)) = self.recorded.get(self.decision_cursor) {
            if *recorded_id != task_id || !same_decision(recorded, &decision) {
                return Err(Nondeterminism {
                    position: self.decision_cursor + 1,
                    recorded: describe_recorded(*recorded_id, recorded),
                    new: describe_new(task_id, &decision),
                });
            }
            self.decision_cursor += 1;
            return Ok((task_id, false));
        }
        let kind = event_of(task_id, &decision);
        self.record(kind);
        self.note_decision(task_id, decision);
        self.decision_cursor += 1;
        Ok((task_id, true))
    }

    /// Bookkeeping for a decision, recorded or new: its name for messages, whether it is an
    /// activity in flight, and its place in the list replays are checked against.
    fn note_decision(&mut self, task_id: TaskId, decision: Decision) {
        self.scheduled.insert(task_id);
        match &decision {
            Decision::ScheduleActivity { name, .. } => {
                self.activities_open.insert(task_id);
                self.task_names.insert(task_id, name.clone());
            }
            Decision::ScheduleSubOrchestration { name, .. } => {
                self.task_names.insert(task_id, name.clone());
            }
            Decision::EntityOperation {
                entity,
                operation,
                call,
                ..
            } => {
                let name = format!("Operation '{operation}' of entity '{entity}'");
                self.task_names.insert(task_id, name);
                if !call {
                    // A signal has no answer: it is never open.
                    self.results_seen.insert(task_id);
                }
            }
            Decision::CreateTimer { .. } => {}
        }
        self.recorded.push((task_id, decision));
    }

    /// Waits for the next external event called `name` (buffered events are delivered in order).
    pub fn wait_for_event(&mut self, name: &str) -> TaskId {
        let task_id = self.next_task_id;
        self.next_task_id = self.next_task_id.next();
        match self
            .event_buffer
            .get_mut(name)
            .and_then(VecDeque::pop_front)
        {
            Some(input) => self.resolve(task_id, Outcome::Completed(input)),
            None => self
                .event_waiters
                .entry(name.to_owned())
                .or_default()
                .push_back(task_id),
        }
        task_id
    }

    /// Looks for the outcome(s) of `tasks`, consuming recorded turns as needed.
    /// `Err` when a task id was never handed out in this execution.
    pub fn poll(&mut self, tasks: &[TaskId], mode: WaitMode) -> Result<Poll, WaitError> {
        if let Some(bad) = tasks.iter().find(|t| **t >= self.next_task_id) {
            return Err(WaitError::NeverScheduled(*bad));
        }
        if tasks.is_empty() {
            return Err(WaitError::Empty);
        }
        loop {
            match mode {
                WaitMode::All => {
                    if tasks.iter().all(|t| self.resolved.contains_key(t)) {
                        return Ok(Poll::All(
                            tasks.iter().map(|t| self.resolved[t].1.clone()).collect(),
                        ));
                    }
                }
                WaitMode::Any => {
                    let first = tasks
                        .iter()
                        .enumerate()
                        .filter_map(|(i, t)| self.resolved.get(t).map(|(order, o)| (*order, i, o)))
                        .min_by_key(|(order, _, _)| *order);
                    if let Some((_, i, outcome)) = first {
                        return Ok(Poll::Any(i as u32, outcome.clone()));
                    }
                }
            }
            if self.turn_cursor < self.turns.len() {
                self.consume_turn();
            } else {
                return Ok(Poll::Blocked);
            }
        }
    }

    /// Live: a new turn with these inbound events (task results, fired timers, raised events).
    /// They are recorded after an `OrchestratorStarted` stamped `now_ms`. A result for a task
    /// that was never scheduled, or that already has one, is dropped (at-least-once delivery
    /// upstream, exactly one result in the history). Returns false if nothing was left to record.
    pub fn push_turn(&mut self, now_ms: u64, inbound: Vec<EventKind>) -> bool {
        let inbound: Vec<EventKind> = inbound
            .into_iter()
            .filter(|kind| match result_task_id(kind) {
                Some(task_id) => {
                    let fresh =
                        self.scheduled.contains(&task_id) && self.results_seen.insert(task_id);
                    if fresh {
                        self.activities_open.remove(&task_id);
                    }
                    fresh
                }
                None => true,
            })
            .collect();
        if inbound.is_empty() {
            return false;
        }
        self.current_time_ms = now_ms;
        self.record(EventKind::OrchestratorStarted);
        for kind in &inbound {
            self.record(kind.clone());
        }
        self.turns.push(Turn {
            timestamp_ms: now_ms,
            inbound,
        });
        true
    }

    /// The orchestration function returned. Fails if recorded decisions were not replayed.
    pub fn complete(&mut self, result: String) -> Result<(), Nondeterminism> {
        self.check_all_replayed("returns without making it")?;
        self.record(EventKind::ExecutionCompleted { result });
        self.finished = true;
        Ok(())
    }

    /// Fails unless every recorded decision was made again: code that now ends (returns, or
    /// continues as new, which `ending` describes) before them has diverged from its history.
    pub fn check_all_replayed(&self, ending: &str) -> Result<(), Nondeterminism> {
        match self.recorded.get(self.decision_cursor) {
            Some((task_id, recorded)) => Err(Nondeterminism {
                position: self.decision_cursor + 1,
                recorded: describe_recorded(*task_id, recorded),
                new: ending.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// How many turns (recorded or live) the orchestration has been handed so far. Each new one
    /// gets a fresh fuel budget, on replay as live.
    pub fn turns_consumed(&self) -> usize {
        self.turn_cursor
    }

    /// Keeps the guest's log lines from now on, replayed ones included (see [`Self::logs`]).
    pub fn capture_logs(&mut self) {
        self.logs.get_or_insert_with(Vec::new);
    }

    /// Whether log lines are being kept.
    pub fn captures_logs(&self) -> bool {
        self.logs.is_some()
    }

    /// Keeps a log line, with the turn being run, if log lines are being kept.
    pub fn note_log(&mut self, level: &'static str, message: String) {
        let turn = self.turn_cursor.saturating_sub(1);
        if let Some(logs) = &mut self.logs {
            logs.push(GuestLog {
                turn,
                level,
                message,
            });
        }
    }

    /// The log lines kept (empty unless [`Self::capture_logs`] was called).
    pub fn logs(&self) -> &[GuestLog] {
        self.logs.as_deref().unwrap_or(&[])
    }

    /// Every decision so far, recorded and new, in order.
    pub fn decisions(&self) -> &[(TaskId, Decision)] {
        &self.recorded
    }

    /// How many of [`Self::decisions`] the orchestrator has made (again) in this run: after a
    /// divergence, the index of the recorded decision it did not reproduce.
    pub fn decisions_made(&self) -> usize {
        self.decision_cursor
    }

    /// External events the orchestrator waits for and has not received, by name (sorted).
    pub fn awaited_events(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .event_waiters
            .iter()
            .filter(|(_, waiters)| !waiters.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// The execution's id.
    pub fn execution_id(&self) -> &str {
        &self.execution_id
    }

    /// An operator terminated the instance.
    pub fn terminate(&mut self, reason: String) {
        self.record(EventKind::ExecutionTerminated { reason });
        self.finished = true;
    }

    /// The execution failed for a reason outside the orchestration's own logic (trap, divergence).
    pub fn fail(&mut self, failure: Failure) {
        let Failure { message, details } = failure;
        let reason = message;
        self.record(EventKind::ExecutionFailed { reason, details });
        self.finished = true;
    }

    /// Decisions in the history that have no result yet (activities, timers, sub-orchestrations).
    /// After a restart their work must be set going again: activities run at least once, timers
    /// are re-armed, children are resumed.
    pub fn open_tasks(&self) -> Vec<(TaskId, Decision)> {
        self.recorded
            .iter()
            .filter(|(id, _)| !self.results_seen.contains(id))
            .cloned()
            .collect()
    }

    /// Activities scheduled (recorded or new) whose result is not in the history yet. While any
    /// is in flight the instance must stay live: activity results are not durable until a turn
    /// records them.
    pub fn activities_in_flight(&self) -> usize {
        self.activities_open.len()
    }

    /// The id the next decision or event wait will get.
    pub fn next_task_id(&self) -> TaskId {
        self.next_task_id
    }

    /// External events received but not consumed by any wait, per name in arrival order (names
    /// sorted). Continue-as-new hands them to the next execution.
    pub fn unconsumed_events(&self) -> Vec<(String, String)> {
        let mut names: Vec<&String> = self.event_buffer.keys().collect();
        names.sort();
        names
            .into_iter()
            .flat_map(|name| {
                self.event_buffer[name]
                    .iter()
                    .map(move |input| (name.clone(), input.clone()))
            })
            .collect()
    }

    /// Hands over the events recorded since the last call, to be committed.
    pub fn take_new_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.new_events)
    }

    fn record(&mut self, kind: EventKind) {
        self.new_events.push(Event {
            seq: self.next_seq,
            timestamp_ms: self.current_time_ms,
            kind,
        });
        self.next_seq += 1;
    }

    fn resolve(&mut self, task_id: TaskId, outcome: Outcome) {
        self.resolve_counter += 1;
        self.resolved
            .entry(task_id)
            .or_insert((self.resolve_counter, outcome));
    }

    fn consume_turn(&mut self) {
        let turn = std::mem::replace(
            &mut self.turns[self.turn_cursor],
            Turn {
                timestamp_ms: 0,
                inbound: Vec::new(),
            },
        );
        self.turn_cursor += 1;
        self.current_time_ms = turn.timestamp_ms;
        for kind in turn.inbound {
            match kind {
                EventKind::TaskCompleted {
                    task_id, result, ..
                }
                | EventKind::SubOrchestrationInstanceCompleted { task_id, result } => {
                    self.resolve(task_id, Outcome::Completed(result))
                }
                EventKind::TaskFailed {
                    task_id,
                    reason,
                    details,
                    ..
                } => {
                    let name = self.task_names.get(&task_id).map_or("?", String::as_str);
                    let message = format!("Activity function '{name}' failed: {reason}");
                    self.resolve(task_id, Outcome::Failed(Failure { message, details }))
                }
                EventKind::SubOrchestrationInstanceFailed {
                    task_id,
                    reason,
                    details,
                } => {
                    let name = self.task_names.get(&task_id).map_or("?", String::as_str);
                    let message = format!("Sub-orchestration '{name}' failed: {reason}");
                    self.resolve(task_id, Outcome::Failed(Failure { message, details }))
                }
                EventKind::TimerFired { task_id, .. } => {
                    self.resolve(task_id, Outcome::Completed("null".into()))
                }
                EventKind::EntityOperationCompleted { task_id, result } => {
                    self.resolve(task_id, Outcome::Completed(result))
                }
                EventKind::EntityOperationFailed {
                    task_id,
                    reason,
                    details,
                } => {
                    let name = self.task_names.get(&task_id).map_or("?", String::as_str);
                    let message = format!("{name} failed: {reason}");
                    self.resolve(task_id, Outcome::Failed(Failure { message, details }))
                }
                EventKind::EventRaised { name, input } => {
                    match self
                        .event_waiters
                        .get_mut(&name)
                        .and_then(VecDeque::pop_front)
                    {
                        Some(waiter) => self.resolve(waiter, Outcome::Completed(input)),
                        None => self.event_buffer.entry(name).or_default().push_back(input),
                    }
                }
                _ => {}
            }
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Completed(json) => write!(f, "completed: {json}"),
            Outcome::Failed(failure) => write!(f, "failed: {}", failure.message),
        }
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
