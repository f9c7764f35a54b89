//! The executor's side of one live execution, handed to the orchestrator sandbox: it commits
//! each turn, sets the turn's new work going, and waits for the next inbound events.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::{Executor, Inbound};
use crate::engine::{EventKind, RuntimeStatus, decision_of};
use crate::runtime::orchestrator::{TurnDriver, TurnFuture, TurnRecord, TurnStop};
use crate::store::{CommitTicket, Instance, InstanceUpdate, Op};

/// Idle limit used instead of the configured one when the hot set is near capacity.
const PRESSURE_IDLE: std::time::Duration = std::time::Duration::from_millis(50);

/// State shared between the driver (inside the sandbox) and the actor (which commits the end).
#[derive(Default)]
pub(super) struct TurnShared {
    /// The last turn's commit; awaited before anything is appended after it.
    pub pending: Option<CommitTicket>,
    /// Inbox messages handed to the guest, to delete with the commit that records them.
    pub consumed: Vec<String>,
}

impl TurnShared {
    pub fn take(shared: &Mutex<TurnShared>) -> (Option<CommitTicket>, Vec<String>) {
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        (s.pending.take(), std::mem::take(&mut s.consumed))
    }
}

pub(super) struct InstanceDriver {
    pub executor: Arc<Executor>,
    pub instance: Instance,
    pub rx: mpsc::UnboundedReceiver<Inbound>,
    /// A sender of this instance's channel, to recognise its own entry in the live map.
    pub own_inbox: super::Inbox,
    pub shared: Arc<Mutex<TurnShared>>,
    pub next_seq: u64,
    pub seen_messages: HashSet<String>,
    /// Suspended by an operator: inbound events are held back until resumed.
    pub suspended: bool,
    /// Inbound events held while suspended, in arrival order.
    pub held: Vec<EventKind>,
    /// Inbound messages put back for the next turn (those after a migration request).
    pub requeued: std::collections::VecDeque<Inbound>,
    /// Whether the row already shows the instance running: a first turn that only waits (on
    /// an event, say) records nothing else, yet must not leave it Pending.
    pub running_recorded: bool,
}

impl InstanceDriver {
    /// Starts what the turn's new decisions ask for.
    fn start_work(&self, work: Vec<(u32, crate::engine::Decision)>) {
        for (task_id, decision) in work {
            self.executor.start_task(&self.instance, task_id, decision);
        }
    }
}

impl InstanceDriver {
    /// The next inbound message. With nothing in flight that only memory holds (no activity
    /// results pending), an instance idle for the executor's idle limit is evicted instead.
    async fn next_inbound(&mut self, may_evict: bool) -> Result<Inbound, TurnStop> {
        let closed = || TurnStop::Abort("the instance's inbox was closed".to_owned());
        let idle = match self.executor.idle_evict {
            // Near the pool's capacity, idle instances make room quickly.
            Some(idle) if may_evict && self.executor.under_pressure() => idle.min(PRESSURE_IDLE),
            Some(idle) if may_evict => idle,
            _ => return self.rx.recv().await.ok_or_else(closed),
        };
        match tokio::time::timeout(idle, self.rx.recv()).await {
            Ok(message) => message.ok_or_else(closed),
            Err(_) => {
                // Leave the live map and look at the channel under the same lock `deliver`
                // sends under: either something arrived (keep running) or nothing can arrive
                // any more and later messages wake a fresh actor.
                let mut live = self.executor.live_map();
                if let Ok(message) = self.rx.try_recv() {
                    return Ok(message);
                }
                let id = &self.instance.instance_id;
                if live
                    .get(id)
                    .is_some_and(|t| t.same_channel(&self.own_inbox))
                {
                    live.remove(id);
                }
                Err(TurnStop::Evict)
            }
        }
    }
}

impl TurnDriver for InstanceDriver {
    fn end_turn(&mut self, turn: TurnRecord) -> TurnFuture<'_> {
        Box::pin(async move {
            let (pending, consumed) = TurnShared::take(&self.shared);
            if let Some(ticket) = pending {
                ticket.await.map_err(|e| {
                    TurnStop::Abort(format!("committing the previous turn failed: {e}"))
                })?;
            }
            if let Some(first) = turn.events.first()
                && first.seq != self.next_seq
            {
                return Err(TurnStop::Abort(format!(
                    "internal: turn starts at event {} but {} was expected",
                    first.seq, self.next_seq
                )));
            }
            self.next_seq += turn.events.len() as u64;
            // The turn's new work, noted before its events move into the store batch.
            let work: Vec<_> = turn
                .events
                .iter()
                .filter_map(|e| decision_of(&e.kind))
                .collect();
            if !turn.events.is_empty()
                || turn.custom_status.is_some()
                || !consumed.is_empty()
                || !self.running_recorded
            {
                self.running_recorded = true;
                let ticket = self.executor.store.write(vec![Op::Append {
                    instance_id: self.instance.instance_id.clone(),
                    execution_id: self.instance.execution_id.clone(),
                    events: turn.events,
                    consumed,
                    update: InstanceUpdate {
                        status: Some(if self.suspended {
                            RuntimeStatus::Suspended
                        } else {
                            RuntimeStatus::Running
                        }),
                        output: None,
                        custom_status: turn.custom_status,
                        updated_ms: self.executor.now_ms(),
                        orchestrator_digest: None,
                    },
                }]);
                self.shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pending = Some(ticket);
            }
            // Set the work going at once: an activity runs while its TaskScheduled commits. If
            // that commit fails, the instance resumes from the store and schedules it again.
            self.start_work(work);
            let may_evict = turn.activities_in_flight == 0;
            loop {
                let first = match self.requeued.pop_front() {
                    Some(inbound) => inbound,
                    None => self.next_inbound(may_evict).await?,
                };
                let mut batch = vec![first];
                batch.extend(self.requeued.drain(..));
                while let Ok(more) = self.rx.try_recv() {
                    batch.push(more);
                }
                let mut events = Vec::new();
                let mut consumed = Vec::new();
                let mut batch = std::collections::VecDeque::from(batch);
                while let Some(inbound) = batch.pop_front() {
                    // A migration is taken alone, at a turn boundary: what came before it in
                    // this batch is handed over first, what came after it goes to the next run.
                    if let EventKind::ExecutionMigrated {
                        orchestrator_digest,
                    } = &inbound.event
                        && !self.suspended
                        && *orchestrator_digest != self.instance.orchestrator_digest
                        && inbound
                            .execution_id
                            .as_ref()
                            .is_none_or(|e| *e == self.instance.execution_id)
                    {
                        if !events.is_empty() {
                            self.requeued.push_back(inbound);
                            self.requeued.extend(batch);
                            break;
                        }
                        let digest = orchestrator_digest.clone();
                        if let Some(msg_id) = inbound.msg_id {
                            consumed.push(msg_id);
                        }
                        for rest in batch {
                            let _ = self.own_inbox.send(rest);
                        }
                        self.shared
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .consumed
                            .extend(consumed);
                        return Err(TurnStop::Migrate(digest));
                    }
                    if let Some(msg_id) = &inbound.msg_id
                        && !self.seen_messages.insert(msg_id.clone())
                    {
                        continue;
                    }
                    let current = inbound
                        .execution_id
                        .as_ref()
                        .is_none_or(|e| *e == self.instance.execution_id);
                    if let Some(msg_id) = inbound.msg_id {
                        // Recorded (or, if stale, discarded) by the next commit either way.
                        consumed.push(msg_id);
                    }
                    if current {
                        match inbound.event {
                            EventKind::ExecutionTerminated { reason } => {
                                self.shared
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .consumed
                                    .extend(consumed);
                                return Err(TurnStop::Terminate(reason));
                            }
                            event @ EventKind::ExecutionSuspended { .. } => {
                                self.suspended = true;
                                events.push(event);
                            }
                            event @ EventKind::ExecutionResumed { .. } => {
                                self.suspended = false;
                                events.push(event);
                                events.append(&mut self.held);
                            }
                            EventKind::ExecutionMigrated { .. } => {
                                // Already on that version, or suspended (held events live in
                                // memory only: resume the instance, then migrate it).
                                tracing::info!("not migrated: suspended or already there");
                            }
                            event if self.suspended => self.held.push(event),
                            event => events.push(event),
                        }
                    }
                }
                self.shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .consumed
                    .extend(consumed);
                if !events.is_empty() {
                    return Ok(events);
                }
            }
        })
    }

    fn now_ms(&self) -> u64 {
        self.executor.now_ms()
    }

    fn parent_instance_id(&self) -> Option<String> {
        let parent = self.instance.parent.as_ref()?;
        Some(parent.instance_id.to_string())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}
