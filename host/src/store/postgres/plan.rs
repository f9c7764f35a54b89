//! Group commit for a database across the network: the ops of many batches are evaluated in
//! memory against the instance rows they touch (read once, locked, at the start of the
//! transaction) and the group's net effect is written with a few set-based statements, so a
//! transaction costs a handful of round trips however many batches it holds. The refusals are
//! the SQLite store's, batch by batch: a refused batch leaves no trace, the others go on.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::engine::{Event, RuntimeStatus};
use crate::ids::{Digest, ExecutionId, InstanceId};
use crate::store::{ComponentKind, InboxMessage, Instance, InstanceUpdate, Op, Route, StoreError};

/// A component to store (kept once per digest).
#[derive(Debug, Clone)]
pub(super) struct ComponentRow {
    pub digest: Digest,
    pub kind: ComponentKind,
    pub names: Vec<String>,
    pub bytes: Arc<Vec<u8>>,
    pub added_ms: u64,
}

/// What the accepted batches add up to, in the order the statements must run: deletes (by
/// instance, then by message), then writes.
#[derive(Debug, Default)]
pub(super) struct Net {
    /// Changed rows: the row to write, or `None` to delete it.
    pub rows: HashMap<InstanceId, Option<Instance>>,
    /// Instances whose stored history goes before `events` are written.
    pub history_reset: HashSet<InstanceId>,
    pub events: Vec<(InstanceId, ExecutionId, Event)>,
    /// Instances whose stored inbox goes before `inbox_add` is written.
    pub inbox_wipe: HashSet<InstanceId>,
    /// Stored messages consumed.
    pub inbox_delete: Vec<String>,
    /// New messages, oldest first, with the time they were queued.
    pub inbox_add: Vec<(InstanceId, InboxMessage, u64)>,
    pub components: Vec<ComponentRow>,
    pub routes: Vec<Route>,
}

/// One change a batch makes, applied to [`Net`] once the whole batch is accepted.
#[derive(Debug)]
enum Effect {
    SetRow(Instance),
    DeleteRow(InstanceId),
    ResetHistory(InstanceId),
    AddEvent(InstanceId, ExecutionId, Event),
    WipeInbox(InstanceId),
    Consume(String),
    Enqueue(InstanceId, InboxMessage, u64),
    PutComponent(ComponentRow),
    Route(Route),
}

/// The rows of a group's instances as its accepted batches leave them, and their net effect.
pub(super) struct Plan {
    /// `None`: no such instance.
    rows: HashMap<InstanceId, Option<Instance>>,
    /// History sequence numbers written by this group, by instance (a second write of one is a
    /// conflict, as the primary key would say).
    seqs: HashSet<(InstanceId, u64)>,
    pub net: Net,
}

/// The instances a group of batches reads: their rows are fetched (and locked) first.
pub(super) fn touched(batches: &[&[Op]]) -> Vec<InstanceId> {
    let mut ids: Vec<InstanceId> = batches
        .iter()
        .flat_map(|ops| ops.iter())
        .filter_map(|op| match op {
            Op::CreateInstance { instance, .. } | Op::CreateChild { instance, .. } => {
                Some(instance.instance_id.clone())
            }
            Op::Append { instance_id, .. }
            | Op::Enqueue { instance_id, .. }
            | Op::Purge { instance_id, .. }
            | Op::ContinueAsNew { instance_id, .. }
            | Op::Rewind { instance_id, .. } => Some(instance_id.clone()),
            Op::PutComponent { .. } | Op::Activate { .. } => None,
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

impl Plan {
    /// A plan over the stored rows of the group's instances (`stored`; the others do not exist).
    pub fn new(touched: &[InstanceId], stored: Vec<Instance>) -> Self {
        let mut rows: HashMap<InstanceId, Option<Instance>> =
            touched.iter().map(|id| (id.clone(), None)).collect();
        for row in stored {
            rows.insert(row.instance_id.clone(), Some(row));
        }
        Plan {
            rows,
            seqs: HashSet::new(),
            net: Net::default(),
        }
    }

    /// Evaluates one batch: accepted whole (its effects join the net) or refused whole.
    pub fn batch(&mut self, ops: &[Op]) -> Result<(), StoreError> {
        let mut batch = Batch {
            plan: self,
            rows: HashMap::new(),
            seqs: HashSet::new(),
            reset: HashSet::new(),
            effects: Vec::new(),
        };
        for op in ops {
            batch.op(op)?;
        }
        let effects = std::mem::take(&mut batch.effects);
        for effect in effects {
            self.apply(effect);
        }
        Ok(())
    }

    fn apply(&mut self, effect: Effect) {
        let net = &mut self.net;
        match effect {
            Effect::SetRow(row) => {
                self.rows.insert(row.instance_id.clone(), Some(row.clone()));
                net.rows.insert(row.instance_id.clone(), Some(row));
            }
            Effect::DeleteRow(id) => {
                self.rows.insert(id.clone(), None);
                net.rows.insert(id, None);
            }
            Effect::ResetHistory(id) => {
                net.events.retain(|(of, ..)| of != &id);
                self.seqs.retain(|(of, _)| of != &id);
                net.history_reset.insert(id);
            }
            Effect::AddEvent(id, execution, event) => {
                self.seqs.insert((id.clone(), event.seq));
                net.events.push((id, execution, event));
            }
            Effect::WipeInbox(id) => {
                net.inbox_add.retain(|(to, ..)| to != &id);
                net.inbox_wipe.insert(id);
            }
            Effect::Consume(msg_id) => {
                let queued = net
                    .inbox_add
                    .iter()
                    .position(|(_, m, _)| m.msg_id == msg_id);
                match queued {
                    Some(at) => drop(net.inbox_add.remove(at)),
                    None => net.inbox_delete.push(msg_id),
                }
            }
            Effect::Enqueue(id, message, created_ms) => {
                net.inbox_add.push((id, message, created_ms))
            }
            Effect::PutComponent(row) => {
                if !net.components.iter().any(|c| c.digest == row.digest) {
                    net.components.push(row);
                }
            }
            Effect::Route(route) => {
                net.routes
                    .retain(|r| (r.kind, &r.name) != (route.kind, &route.name));
                net.routes.push(route);
            }
        }
    }
}

/// A batch being evaluated: its own view of the rows it changed, over the plan's.
struct Batch<'a> {
    plan: &'a Plan,
    rows: HashMap<InstanceId, Option<Instance>>,
    seqs: HashSet<(InstanceId, u64)>,
    /// Instances whose history this batch reset (the plan's sequence numbers no longer count).
    reset: HashSet<InstanceId>,
    effects: Vec<Effect>,
}

impl Batch<'_> {
    fn row(&self, id: &InstanceId) -> Option<&Instance> {
        match self.rows.get(id) {
            Some(row) => row.as_ref(),
            None => self.plan.rows.get(id).and_then(Option::as_ref),
        }
    }

    fn set_row(&mut self, row: Instance) {
        self.rows.insert(row.instance_id.clone(), Some(row.clone()));
        self.effects.push(Effect::SetRow(row));
    }

    fn delete_row(&mut self, id: &InstanceId) {
        self.rows.insert(id.clone(), None);
        self.effects.push(Effect::DeleteRow(id.clone()));
    }

    fn reset_history(&mut self, id: &InstanceId) {
        self.seqs.retain(|(of, _)| of != id);
        self.reset.insert(id.clone());
        self.effects.push(Effect::ResetHistory(id.clone()));
    }

    fn add_event(
        &mut self,
        id: &InstanceId,
        execution: &ExecutionId,
        event: &Event,
    ) -> Result<(), StoreError> {
        let key = (id.clone(), event.seq);
        let in_plan = !self.reset.contains(id) && self.plan.seqs.contains(&key);
        if in_plan || !self.seqs.insert(key) {
            return Err(StoreError::HistoryConflict {
                instance: id.to_string(),
                seq: event.seq,
            });
        }
        let effect = Effect::AddEvent(id.clone(), execution.clone(), event.clone());
        self.effects.push(effect);
        Ok(())
    }

    fn op(&mut self, op: &Op) -> Result<(), StoreError> {
        match op {
            Op::CreateInstance { instance, started } => self.create_instance(instance, started),
            Op::CreateChild { instance, started } => {
                if self.row(&instance.instance_id).is_none() {
                    self.set_row(instance.clone());
                    self.add_event(&instance.instance_id, &instance.execution_id, started)?;
                }
                Ok(())
            }
            Op::Append {
                instance_id,
                execution_id,
                events,
                consumed,
                update,
            } => self.append(instance_id, execution_id, events, consumed, update),
            Op::Enqueue {
                instance_id,
                message,
                required,
                created_ms,
            } => {
                match self.refusal(instance_id, RuntimeStatus::is_terminal) {
                    Some(e) if *required => return Err(e),
                    Some(_) => {}
                    None => self.effects.push(Effect::Enqueue(
                        instance_id.clone(),
                        message.clone(),
                        *created_ms,
                    )),
                }
                Ok(())
            }
            Op::Purge {
                instance_id,
                required,
            } => {
                match self.refusal(instance_id, |s| !s.is_terminal()) {
                    Some(e) if *required => return Err(e),
                    Some(_) => {}
                    None => {
                        self.delete_row(instance_id);
                        self.reset_history(instance_id);
                        self.effects.push(Effect::WipeInbox(instance_id.clone()));
                    }
                }
                Ok(())
            }
            Op::ContinueAsNew { .. } => self.continue_as_new(op),
            Op::Rewind {
                instance_id,
                execution_id,
                event,
                updated_ms,
            } => self.rewind(instance_id, execution_id, event, *updated_ms),
            Op::PutComponent { .. } | Op::Activate { .. } => {
                self.component_op(op);
                Ok(())
            }
        }
    }

    /// A new instance; an id may be reused once its instance has finished (its rows go).
    fn create_instance(&mut self, instance: &Instance, started: &Event) -> Result<(), StoreError> {
        let id = &instance.instance_id;
        if let Some(old) = self.row(id) {
            if !old.status.is_terminal() {
                return Err(StoreError::InstanceExists(id.to_string()));
            }
            self.reset_history(id);
            self.effects.push(Effect::WipeInbox(id.clone()));
        }
        self.set_row(instance.clone());
        self.add_event(id, &instance.execution_id, started)
    }

    /// A turn: its events, the inbox messages it consumed, the row's new state (an end also
    /// empties the inbox).
    fn append(
        &mut self,
        id: &InstanceId,
        execution: &ExecutionId,
        events: &[Event],
        consumed: &[String],
        update: &InstanceUpdate,
    ) -> Result<(), StoreError> {
        let mut row = self.current(id, execution)?.clone();
        update.apply_to(&mut row);
        for event in events {
            self.add_event(id, execution, event)?;
        }
        for msg_id in consumed {
            self.effects.push(Effect::Consume(msg_id.clone()));
        }
        if update.status.is_some_and(RuntimeStatus::is_terminal) {
            self.effects.push(Effect::WipeInbox(id.clone()));
        }
        self.set_row(row);
        Ok(())
    }

    fn continue_as_new(&mut self, op: &Op) -> Result<(), StoreError> {
        let Op::ContinueAsNew {
            instance_id: id,
            from_execution,
            execution_id,
            input,
            started,
            consumed,
            updated_ms,
        } = op
        else {
            return Ok(());
        };
        let mut row = self.current(id, from_execution)?.clone();
        row.execution_id = execution_id.clone();
        row.input = input.clone();
        row.status = RuntimeStatus::Running;
        row.output = None;
        row.updated_ms = *updated_ms;
        self.set_row(row);
        for msg_id in consumed {
            self.effects.push(Effect::Consume(msg_id.clone()));
        }
        self.reset_history(id);
        self.add_event(id, execution_id, started)
    }

    /// A failed instance runs again from its last good turn (`event` is `ExecutionRewound`).
    fn rewind(
        &mut self,
        id: &InstanceId,
        execution: &ExecutionId,
        event: &Event,
        updated_ms: u64,
    ) -> Result<(), StoreError> {
        match self.row(id).map(|r| r.status) {
            None => return Err(StoreError::NoSuchInstance(id.to_string())),
            Some(RuntimeStatus::Failed) => {}
            Some(_) => return Err(StoreError::NotFailed(id.to_string())),
        }
        let mut row = self.current(id, execution)?.clone();
        row.status = RuntimeStatus::Running;
        row.output = None;
        row.updated_ms = updated_ms;
        self.set_row(row);
        self.add_event(id, execution, event)
    }

    fn component_op(&mut self, op: &Op) {
        match op {
            Op::PutComponent {
                digest,
                kind,
                names,
                bytes,
                added_ms,
            } => self.effects.push(Effect::PutComponent(ComponentRow {
                digest: digest.clone(),
                kind: *kind,
                names: names.clone(),
                bytes: Arc::clone(bytes),
                added_ms: *added_ms,
            })),
            Op::Activate {
                kind,
                names,
                digest,
                activated_ms,
            } => {
                for name in names {
                    self.effects.push(Effect::Route(Route {
                        kind: *kind,
                        name: name.clone(),
                        digest: digest.clone(),
                        activated_ms: *activated_ms,
                    }));
                }
            }
            _ => {}
        }
    }

    /// The row of `id` if `execution` is its current one.
    fn current(&self, id: &InstanceId, execution: &ExecutionId) -> Result<&Instance, StoreError> {
        match self.row(id) {
            None => Err(StoreError::NoSuchInstance(id.to_string())),
            Some(row) if &row.execution_id != execution => Err(StoreError::StaleExecution {
                instance: id.to_string(),
                execution: execution.to_string(),
            }),
            Some(row) => Ok(row),
        }
    }

    /// Why an op on an instance in a `bad` status (or none) is refused, as SQLite's says.
    fn refusal(&self, id: &InstanceId, bad: fn(RuntimeStatus) -> bool) -> Option<StoreError> {
        let name = id.to_string();
        match self.row(id).map(|row| row.status) {
            None => Some(StoreError::NoSuchInstance(name)),
            Some(s) if bad(s) && s.is_terminal() => Some(StoreError::InstanceFinished(name)),
            Some(s) if bad(s) => Some(StoreError::NotFinished(name)),
            Some(_) => None,
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
