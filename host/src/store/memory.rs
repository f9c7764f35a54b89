//! An in-memory [`Store`] for unit tests: the op semantics of [`SqliteStore`](super::SqliteStore)
//! (a batch applies all or nothing; the same refusals), no thread and no file, and a write is
//! committed before `write` returns, so tests on paused tokio time stay deterministic.
//!
//! Where it differs: a batch is visible to reads as soon as `write` returns, before its ticket
//! is awaited (SQLite's group commit makes it visible later), so tests on it cannot catch a
//! read that forgot to await a commit; when two refusals apply to one op it may name the other
//! one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{
    CommitTicket, ComponentKind, InboxMessage, Instance, InstanceUpdate, ListQuery, Op, Route,
    Store, StoreError, StoreStats, StoredComponent,
};
use crate::engine::{Event, RuntimeStatus};
use crate::ids::{ExecutionId, InstanceId};

#[derive(Debug, Clone, Default)]
struct Tables {
    instances: BTreeMap<InstanceId, Instance>,
    /// The current execution's events, by instance.
    history: BTreeMap<InstanceId, Vec<Event>>,
    /// Oldest first.
    inbox: Vec<(InstanceId, InboxMessage)>,
    components: Vec<(StoredComponent, Arc<Vec<u8>>)>,
    routes: BTreeMap<(ComponentKind, String), Route>,
}

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    stats: Mutex<StoreStats>,
    /// `Enqueue` ops committed (tests check that a message was kept, even once consumed).
    enqueued: std::sync::atomic::AtomicUsize,
}

impl MemoryStore {
    pub fn new() -> Arc<Self> {
        Arc::new(MemoryStore::default())
    }

    /// How many messages were put in an inbox so far.
    pub fn enqueued(&self) -> usize {
        self.enqueued.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemoryStore {
    fn write(&self, ops: Vec<Op>) -> CommitTicket {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut tables = self.tables();
        let mut next = tables.clone();
        let result = ops.iter().try_for_each(|op| next.apply(op));
        if result.is_ok() {
            *tables = next;
            let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
            stats.commits += 1;
            stats.batches += 1;
            stats.ops += ops.len() as u64;
            let enqueues = ops.iter().filter(|op| matches!(op, Op::Enqueue { .. }));
            let enqueues = enqueues.count();
            self.enqueued
                .fetch_add(enqueues, std::sync::atomic::Ordering::SeqCst);
        }
        let _ = tx.send(result);
        CommitTicket::new(rx)
    }

    fn instance(&self, id: &InstanceId) -> Result<Option<Instance>, StoreError> {
        Ok(self.tables().instances.get(id).cloned())
    }

    fn history(&self, id: &InstanceId) -> Result<Vec<Event>, StoreError> {
        Ok(self.tables().history.get(id).cloned().unwrap_or_default())
    }

    fn unfinished_instances(&self) -> Result<Vec<Instance>, StoreError> {
        let query = ListQuery {
            statuses: vec![
                RuntimeStatus::Pending,
                RuntimeStatus::Running,
                RuntimeStatus::Suspended,
            ],
            limit: usize::MAX,
            ..ListQuery::default()
        };
        self.list(&query)
    }

    fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tables = self.tables();
        let found = tables
            .components
            .iter()
            .find(|(c, _)| c.digest.as_str() == digest);
        Ok(found.map(|(_, bytes)| bytes.to_vec()))
    }

    fn inbox(&self, id: &InstanceId) -> Result<Vec<InboxMessage>, StoreError> {
        let tables = self.tables();
        let mine = tables.inbox.iter().filter(|(to, _)| to == id);
        Ok(mine.map(|(_, m)| m.clone()).collect())
    }

    fn stats(&self) -> StoreStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Instance>, StoreError> {
        let tables = self.tables();
        let mut found: Vec<Instance> = tables
            .instances
            .values()
            .filter(|i| matches(query, i))
            .cloned()
            .collect();
        found.sort_by(|a, b| (a.created_ms, &a.instance_id).cmp(&(b.created_ms, &b.instance_id)));
        if query.newest_first {
            found.reverse();
        }
        found.truncate(query.limit.max(1));
        Ok(found)
    }

    fn count_by_status(&self, query: &ListQuery) -> Result<Vec<(RuntimeStatus, u64)>, StoreError> {
        let all = ListQuery {
            statuses: Vec::new(),
            after: None,
            ..query.clone()
        };
        let mut counts: BTreeMap<&'static str, (RuntimeStatus, u64)> = BTreeMap::new();
        for i in self
            .tables()
            .instances
            .values()
            .filter(|i| matches(&all, i))
        {
            counts.entry(i.status.as_str()).or_insert((i.status, 0)).1 += 1;
        }
        Ok(counts.into_values().collect())
    }

    fn components(&self) -> Result<Vec<StoredComponent>, StoreError> {
        Ok(self
            .tables()
            .components
            .iter()
            .map(|(c, _)| c.clone())
            .collect())
    }

    fn routes(&self) -> Result<Vec<Route>, StoreError> {
        Ok(self.tables().routes.values().cloned().collect())
    }
}

fn matches(query: &ListQuery, i: &Instance) -> bool {
    let id = i.instance_id.as_str();
    (query.statuses.is_empty() || query.statuses.contains(&i.status))
        && query
            .created_from_ms
            .is_none_or(|from| i.created_ms >= from)
        && query.created_to_ms.is_none_or(|to| i.created_ms <= to)
        && query
            .instance_id_prefix
            .as_ref()
            .is_none_or(|p| id.starts_with(p.as_str()))
        && query.name.as_ref().is_none_or(|n| &i.name == n)
        && i.instance_id.is_entity() == query.entities
        && query.after.as_ref().is_none_or(|(created, after)| {
            let key = (i.created_ms, id);
            if query.newest_first {
                key < (*created, after.as_str())
            } else {
                key > (*created, after.as_str())
            }
        })
}

impl Tables {
    fn apply(&mut self, op: &Op) -> Result<(), StoreError> {
        match op {
            Op::CreateInstance { instance, started } => self.create_instance(instance, started),
            Op::CreateChild { instance, started } => {
                if !self.instances.contains_key(&instance.instance_id) {
                    self.create(instance, started);
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
                ..
            } => self.enqueue(instance_id, message, *required),
            Op::Purge {
                instance_id,
                required,
            } => self.purge(instance_id, *required),
            Op::ContinueAsNew {
                instance_id,
                from_execution,
                execution_id,
                input,
                started,
                consumed,
                updated_ms,
            } => {
                let row = self.current(instance_id, from_execution)?;
                row.execution_id = execution_id.clone();
                row.input = input.clone();
                row.status = RuntimeStatus::Running;
                row.output = None;
                row.updated_ms = *updated_ms;
                self.drop_inbox(instance_id, Some(consumed));
                let fresh = vec![started.clone()];
                self.history.insert(instance_id.clone(), fresh);
                Ok(())
            }
            Op::Rewind {
                instance_id,
                execution_id,
                event,
                updated_ms,
            } => self.rewind(instance_id, execution_id, event, *updated_ms),
            Op::PutComponent { .. } | Op::Activate { .. } => {
                self.apply_component_op(op);
                Ok(())
            }
        }
    }

    /// A new instance; an id may be reused once its instance has finished.
    fn create_instance(&mut self, instance: &Instance, started: &Event) -> Result<(), StoreError> {
        if let Some(old) = self.instances.get(&instance.instance_id) {
            if !old.status.is_terminal() {
                let id = instance.instance_id.to_string();
                return Err(StoreError::InstanceExists(id));
            }
            self.drop_inbox(&instance.instance_id, None);
        }
        self.create(instance, started);
        Ok(())
    }

    fn enqueue(
        &mut self,
        id: &InstanceId,
        message: &InboxMessage,
        required: bool,
    ) -> Result<(), StoreError> {
        match self.refusal(id, RuntimeStatus::is_terminal) {
            Some(e) if required => return Err(e),
            Some(_) => {}
            None => self.inbox.push((id.clone(), message.clone())),
        }
        Ok(())
    }

    fn purge(&mut self, id: &InstanceId, required: bool) -> Result<(), StoreError> {
        match self.refusal(id, |s| !s.is_terminal()) {
            Some(e) if required => return Err(e),
            Some(_) => {}
            None => {
                self.instances.remove(id);
                self.history.remove(id);
                self.drop_inbox(id, None);
            }
        }
        Ok(())
    }

    fn rewind(
        &mut self,
        id: &InstanceId,
        execution: &ExecutionId,
        event: &Event,
        updated_ms: u64,
    ) -> Result<(), StoreError> {
        let row = self.current(id, execution)?;
        if row.status != RuntimeStatus::Failed {
            return Err(StoreError::NotFailed(id.to_string()));
        }
        row.status = RuntimeStatus::Running;
        row.output = None;
        row.updated_ms = updated_ms;
        self.push_event(id, event)
    }

    /// A component's bytes (stored once), or routes to it.
    fn apply_component_op(&mut self, op: &Op) {
        match op {
            Op::PutComponent {
                digest,
                kind,
                names,
                bytes,
                added_ms,
            } if !self.components.iter().any(|(c, _)| &c.digest == digest) => {
                let stored = StoredComponent {
                    digest: digest.clone(),
                    kind: *kind,
                    names: names.clone(),
                    size: bytes.len() as u64,
                    added_ms: *added_ms,
                };
                self.components.push((stored, Arc::clone(bytes)));
            }
            Op::Activate {
                kind,
                names,
                digest,
                activated_ms,
            } => {
                for name in names {
                    let route = Route {
                        kind: *kind,
                        name: name.clone(),
                        digest: digest.clone(),
                        activated_ms: *activated_ms,
                    };
                    self.routes.insert((*kind, name.clone()), route);
                }
            }
            _ => {}
        }
    }

    fn create(&mut self, instance: &Instance, started: &Event) {
        let id = instance.instance_id.clone();
        self.instances.insert(id.clone(), instance.clone());
        self.history.insert(id, vec![started.clone()]);
    }

    fn append(
        &mut self,
        id: &InstanceId,
        execution: &ExecutionId,
        events: &[Event],
        consumed: &[String],
        update: &InstanceUpdate,
    ) -> Result<(), StoreError> {
        update.apply_to(self.current(id, execution)?);
        // As SQLite: the inbox goes with the turn that ends the instance.
        let terminal = update.status.is_some_and(RuntimeStatus::is_terminal);
        for event in events {
            self.push_event(id, event)?;
        }
        match terminal {
            true => self.drop_inbox(id, None),
            false => self.drop_inbox(id, Some(consumed)),
        }
        Ok(())
    }

    /// The row of `id` if `execution` is its current one.
    fn current(
        &mut self,
        id: &InstanceId,
        execution: &ExecutionId,
    ) -> Result<&mut Instance, StoreError> {
        match self.instances.get_mut(id) {
            None => Err(StoreError::NoSuchInstance(id.to_string())),
            Some(row) if &row.execution_id != execution => Err(StoreError::StaleExecution {
                instance: id.to_string(),
                execution: execution.to_string(),
            }),
            Some(row) => Ok(row),
        }
    }

    fn push_event(&mut self, id: &InstanceId, event: &Event) -> Result<(), StoreError> {
        let history = self.history.entry(id.clone()).or_default();
        if history.iter().any(|e| e.seq == event.seq) {
            let instance = id.to_string();
            return Err(StoreError::HistoryConflict {
                instance,
                seq: event.seq,
            });
        }
        history.push(event.clone());
        Ok(())
    }

    /// Removes the instance's messages: those in `only`, or all of them.
    fn drop_inbox(&mut self, id: &InstanceId, only: Option<&[String]>) {
        self.inbox.retain(|(to, m)| match only {
            Some(ids) => !ids.contains(&m.msg_id),
            None => to != id,
        });
    }

    /// Why an op on an instance in a `bad` status (or none) is refused, as SQLite's says.
    fn refusal(&self, id: &InstanceId, bad: fn(RuntimeStatus) -> bool) -> Option<StoreError> {
        let name = id.to_string();
        match self.instances.get(id).map(|row| row.status) {
            None => Some(StoreError::NoSuchInstance(name)),
            Some(s) if bad(s) && s.is_terminal() => Some(StoreError::InstanceFinished(name)),
            Some(s) if bad(s) => Some(StoreError::NotFinished(name)),
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EventKind;

    fn instance(id: &str, execution: &str) -> (Instance, Event) {
        let started = Event {
            seq: 0,
            timestamp_ms: 1,
            kind: EventKind::ExecutionStarted {
                name: "o".into(),
                input: "null".into(),
                orchestrator_digest: "d".into(),
                version: None,
                trace_context: None,
            },
        };
        let instance = Instance {
            instance_id: InstanceId::parse(id).unwrap(),
            execution_id: ExecutionId::from_trusted(execution.into()),
            name: "o".into(),
            status: RuntimeStatus::Pending,
            input: "null".into(),
            output: None,
            custom_status: None,
            orchestrator_digest: "d".into(),
            created_ms: 1,
            updated_ms: 1,
            parent: None,
            version: None,
        };
        (instance, started)
    }

    #[tokio::test]
    async fn a_batch_applies_all_or_nothing_with_the_sqlite_store_refusals() {
        let store = MemoryStore::new();
        let (a, started) = instance("a", "e1");
        let create = Op::CreateInstance {
            instance: a.clone(),
            started: started.clone(),
        };
        store.write(vec![create.clone()]).await.unwrap();
        let again = store.write(vec![create]).await;
        assert!(matches!(again, Err(StoreError::InstanceExists(_))));
        let (b, b_started) = instance("b", "e2");
        let stale = Op::Append {
            instance_id: a.instance_id.clone(),
            execution_id: ExecutionId::from_trusted("old".into()),
            events: vec![],
            consumed: vec![],
            update: InstanceUpdate::default(),
        };
        let batch = vec![
            Op::CreateChild {
                instance: b.clone(),
                started: b_started,
            },
            stale,
        ];
        let refused = store.write(batch).await;
        assert!(matches!(refused, Err(StoreError::StaleExecution { .. })));
        assert_eq!(
            store.instance(&b.instance_id).unwrap(),
            None,
            "all or nothing"
        );
        let purge = Op::Purge {
            instance_id: a.instance_id.clone(),
            required: true,
        };
        let unfinished = store.write(vec![purge]).await;
        assert!(matches!(unfinished, Err(StoreError::NotFinished(_))));
        assert_eq!(store.history(&a.instance_id).unwrap(), vec![started]);
        assert_eq!(store.unfinished_instances().unwrap(), vec![a]);
    }
}
