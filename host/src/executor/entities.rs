//! Durable entities: an entity is an instance row (`@name@key`) whose custom status holds its
//! state and whose inbox holds the operations sent to it. Its actor ([`EntityActor`]) takes the
//! operations in the order they arrive, runs a batch of them one after another in the entity's
//! component, and commits in one transaction: the new state, the removal of the operations it
//! ran, their answers to callers, and the signals and starts they sent. So an operation takes
//! effect exactly once, though it may run again if the host dies before that commit.
//!
//! Orchestrations send operations with the turn that decides them (same transaction, see
//! [`Executor::entity_sends`]); the API sends signals through [`Executor::signal_entity`].

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use super::error::ActorError;
use super::live::{Inbox, Receiver};
use super::{Executor, Inbound, StartOptions};
use crate::engine::{EntityCaller, Event, EventKind, Failure, RuntimeStatus};
use crate::ids::{Digest, EntityId, InstanceId};
use crate::runtime::entity::{OperationCall, OperationEffect};
use crate::store::{self, CommitTicket, InboxMessage, Instance, InstanceUpdate, Op, StoreError};

/// Most operations one commit of an entity covers.
const MAX_BATCH: usize = 256;

/// Why a signal was refused.
#[derive(Debug, thiserror::Error)]
pub enum EntityError {
    #[error("no entity named '{0}' is registered")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The id of a message an operation sends (`what`: "answer", "signal:0", ...): fixed-length
/// and the same every time the operation's batch runs, so a chain of entities signalling one
/// another does not grow ids.
fn derived_id(msg_id: &str, what: &str) -> String {
    let name = format!("{msg_id}:{what}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes())
        .simple()
        .to_string()
}

/// A message to deliver once the batch that queues it has committed.
pub(super) type Delivery = (InstanceId, InboxMessage);

impl Executor {
    /// Sends operation `operation` to `entity` (one-way): durably queued when this returns.
    pub async fn signal_entity(
        self: &Arc<Self>,
        entity: &EntityId,
        operation: String,
        input: Option<String>,
    ) -> Result<(), EntityError> {
        if self.runtime.entity(entity.name()).is_none() {
            return Err(EntityError::Unknown(entity.name().to_owned()));
        }
        let message = InboxMessage {
            msg_id: uuid::Uuid::new_v4().simple().to_string(),
            execution_id: None,
            event: EventKind::EntityRequest {
                operation,
                input,
                caller: None,
            },
        };
        let mut ops = Vec::new();
        self.queue_for_entity(entity, message.clone(), &mut ops);
        self.store.write(ops).await?;
        self.deliver(&entity.instance_id(), message.into());
        Ok(())
    }

    /// Ops that create `entity`'s row if it has none yet and queue `message` for it.
    fn queue_for_entity(&self, entity: &EntityId, message: InboxMessage, ops: &mut Vec<Op>) {
        let name = format!("@{}", entity.name());
        let digest = self.runtime.entity(entity.name()).map_or_else(
            || Digest::from_trusted(String::new()),
            |e| e.digest().clone(),
        );
        let stamp = StartOptions::default();
        let id = entity.instance_id();
        let (instance, started) =
            self.new_instance(&name, id.clone(), "null".into(), digest, None, stamp);
        ops.push(Op::CreateChild { instance, started });
        ops.push(Op::Enqueue {
            instance_id: id,
            message,
            required: false,
            created_ms: self.now_ms(),
        });
    }

    /// The entity operations an orchestration's new `events` send: ops to add to the batch that
    /// records them, and the messages to deliver once it committed. A message's id is the
    /// sending task's, so it is queued once however often the batch is retried.
    pub(super) fn entity_sends(
        &self,
        instance: &Instance,
        events: &[Event],
        ops: &mut Vec<Op>,
    ) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        for event in events {
            let (task_id, entity, operation, input, call) = match &event.kind {
                EventKind::EntityOperationCalled {
                    task_id,
                    entity,
                    operation,
                    input,
                } => (task_id, entity, operation, input, true),
                EventKind::EntityOperationSignaled {
                    task_id,
                    entity,
                    operation,
                    input,
                } => (task_id, entity, operation, input, false),
                _ => continue,
            };
            // Checked when the guest asked (runtime::orchestrator).
            let Some(entity) = EntityId::of_instance(entity) else {
                continue;
            };
            let (id, execution) = (&instance.instance_id, &instance.execution_id);
            let caller = call.then(|| EntityCaller {
                instance_id: id.to_string(),
                execution_id: execution.as_str().to_owned(),
                task_id: *task_id,
            });
            let message = InboxMessage {
                msg_id: format!("{id}:{}:{task_id}", execution.as_str()),
                execution_id: None,
                event: EventKind::EntityRequest {
                    operation: operation.clone(),
                    input: input.clone(),
                    caller,
                },
            };
            self.queue_for_entity(&entity, message.clone(), ops);
            deliveries.push((entity.instance_id(), message));
        }
        deliveries
    }

    /// Writes `ops`; once they are committed, hands `deliveries` to their instances.
    pub(super) fn write_then_deliver(
        self: &Arc<Self>,
        ops: Vec<Op>,
        deliveries: Vec<Delivery>,
    ) -> CommitTicket {
        let ticket = self.store.write(ops);
        if deliveries.is_empty() {
            return ticket;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let committed = ticket.await;
            if committed.is_ok() {
                for (to, message) in deliveries {
                    this.deliver(&to, message.into());
                }
            }
            let _ = tx.send(committed);
        });
        CommitTicket::new(rx)
    }
}

/// One operation taken from the inbox.
struct Request {
    msg_id: String,
    call: OperationCall,
    caller: Option<EntityCaller>,
}

/// The owner of one live entity (see the module's docs).
pub(super) struct EntityActor {
    executor: Arc<Executor>,
    instance: Instance,
    tx: Inbox,
    rx: Receiver,
    /// The ids of the messages the first inbox read took, until the channel's copy (if any)
    /// shows up: the only way a message reaches this actor twice with an embedded store.
    seen: HashSet<String>,
    queue: VecDeque<Inbound>,
}

impl EntityActor {
    pub fn new(executor: Arc<Executor>, instance: Instance, tx: Inbox, rx: Receiver) -> Self {
        EntityActor {
            executor,
            instance,
            tx,
            rx,
            seen: HashSet::new(),
            queue: VecDeque::new(),
        }
    }

    pub fn inbox(&self) -> &Inbox {
        &self.tx
    }

    /// Runs what the inbox holds and what arrives, until idle.
    pub async fn run(&mut self) -> Result<(), ActorError> {
        let id = self.instance.instance_id.clone();
        let Some(entity) = EntityId::of_instance(id.as_str()) else {
            tracing::error!("not an entity's id: {id}");
            return Ok(());
        };
        // The row as it is now that this actor owns the entity (the one it was started from may
        // predate an earlier actor's last commit), and the queue.
        let (row, inbox) = store::read(&self.executor.store, move |s| {
            Ok((s.instance(&id)?, s.inbox(&id)?))
        })
        .await?;
        let Some(row) = row else {
            return Ok(());
        };
        self.instance = row;
        for message in inbox {
            let inbound = Inbound::from(message);
            // A message read here may also arrive on the channel (delivered after the claim).
            self.seen.extend(inbound.msg_id.clone());
            self.queue.push_back(inbound);
        }
        loop {
            while let Ok(more) = self.rx.try_recv() {
                self.take(more);
            }
            if self.queue.is_empty() {
                match self.next_inbound().await? {
                    Some(inbound) => self.take(inbound),
                    None => return Ok(()),
                }
                continue;
            }
            let n = self.queue.len().min(MAX_BATCH);
            let batch: Vec<Inbound> = self.queue.drain(..n).collect();
            self.process(&entity, batch).await?;
        }
    }

    /// Queues what arrived on the channel unless the inbox read already had it.
    fn take(&mut self, inbound: Inbound) {
        match &inbound.msg_id {
            Some(id) if self.seen.remove(id) => {}
            Some(_) => self.queue.push_back(inbound),
            None => {}
        }
    }

    async fn next_inbound(&mut self) -> Result<Option<Inbound>, ActorError> {
        let id = &self.instance.instance_id;
        let channel = (&self.tx, &mut self.rx);
        self.executor.next_inbound(id, channel, true).await
    }

    /// With a shared store, other hosts' wake-ups may hand over copies of messages already
    /// taken: only those still in the inbox run.
    async fn still_queued(&self, mut batch: Vec<Inbound>) -> Result<Vec<Inbound>, ActorError> {
        if !self.executor.shared {
            return Ok(batch);
        }
        let id = self.instance.instance_id.clone();
        let inbox = store::read(&self.executor.store, move |s| s.inbox(&id)).await?;
        let queued: HashSet<String> = inbox.into_iter().map(|m| m.msg_id).collect();
        batch.retain(|m| m.msg_id.as_ref().is_some_and(|id| queued.contains(id)));
        Ok(batch)
    }

    /// Runs a batch of operations and commits their effects in one transaction.
    async fn process(&mut self, entity: &EntityId, batch: Vec<Inbound>) -> Result<(), ActorError> {
        let batch = self.still_queued(batch).await?;
        let (mut consumed, requests) = requests_of(batch);
        let results = self.run_operations(entity, &requests).await;
        // Operations the component could not be instantiated for stay queued for a later try.
        let ran = results.len();
        let unrun = requests.len() - ran;
        consumed.extend(requests[..ran].iter().map(|r| r.msg_id.clone()));
        let mut state = self.instance.custom_status.clone();
        let mut ops = Vec::new();
        let mut deliveries = Vec::new();
        let mut starts = Vec::new();
        for (request, result) in requests.iter().zip(results) {
            if let Err(failure) = &result {
                tracing::info!(
                    "operation '{}' failed: {}",
                    request.call.operation,
                    failure.message
                );
            }
            if let Ok(effect) = &result {
                state = effect.state.clone();
            }
            self.answer(request, &result, &mut ops, &mut deliveries);
            if let Ok(effect) = result {
                self.send(request, effect, &mut ops, &mut deliveries, &mut starts);
            }
        }
        let update = InstanceUpdate {
            status: Some(RuntimeStatus::Running),
            custom_status: Some(state.clone()),
            updated_ms: self.executor.now_ms(),
            ..InstanceUpdate::default()
        };
        ops.insert(
            0,
            Op::Append {
                instance_id: self.instance.instance_id.clone(),
                execution_id: self.instance.execution_id.clone(),
                events: Vec::new(),
                consumed,
                update,
            },
        );
        self.executor.store.write(ops).await?;
        self.instance.custom_status = state;
        self.instance.status = RuntimeStatus::Running;
        for (to, message) in deliveries {
            self.executor.deliver(&to, message.into());
        }
        for id in starts {
            // Read back from the store: an instance that had the id already keeps its own.
            let executor = Arc::clone(&self.executor);
            tokio::spawn(async move { executor.resume(id).await });
        }
        if unrun > 0 {
            // Paused: the entity resumes from its inbox a moment later.
            let why = format!("{unrun} operation(s) wait: the entity could not be instantiated");
            return Err(ActorError::Sandbox(why));
        }
        Ok(())
    }

    /// Runs the operations in the entity's component (each fails if none serves the name).
    async fn run_operations(
        &self,
        entity: &EntityId,
        requests: &[Request],
    ) -> Vec<Result<OperationEffect, Failure>> {
        let Some(component) = self.executor.runtime.entity(entity.name()) else {
            let why = format!("no entity named '{}' is registered", entity.name());
            return requests
                .iter()
                .map(|_| Err(Failure::new(why.clone())))
                .collect();
        };
        let calls: Vec<OperationCall> = requests.iter().map(|r| r.call.clone()).collect();
        let executor = Arc::clone(&self.executor);
        let check = move |effect: &OperationEffect| check_starts(&executor, effect);
        let state = self.instance.custom_status.clone();
        component.run(entity, state, &calls, &check).await
    }

    /// A called operation's answer goes to the calling execution and task.
    fn answer(
        &self,
        request: &Request,
        result: &Result<OperationEffect, Failure>,
        ops: &mut Vec<Op>,
        deliveries: &mut Vec<Delivery>,
    ) {
        let Some(caller) = &request.caller else {
            return;
        };
        let task_id = caller.task_id;
        let event = match result {
            Ok(effect) => EventKind::EntityOperationCompleted {
                task_id,
                result: effect.output.clone(),
            },
            Err(failure) => EventKind::EntityOperationFailed {
                task_id,
                reason: failure.message.clone(),
                details: failure.details.clone(),
            },
        };
        let message = InboxMessage {
            msg_id: derived_id(&request.msg_id, "answer"),
            execution_id: Some(crate::ids::ExecutionId::from_trusted(
                caller.execution_id.clone(),
            )),
            event,
        };
        let to = InstanceId::from_trusted(caller.instance_id.clone());
        ops.push(Op::Enqueue {
            instance_id: to.clone(),
            message: message.clone(),
            required: false,
            created_ms: self.executor.now_ms(),
        });
        deliveries.push((to, message));
    }

    /// What a successful operation sends: signals to entities, orchestration starts.
    fn send(
        &self,
        request: &Request,
        effect: OperationEffect,
        ops: &mut Vec<Op>,
        deliveries: &mut Vec<Delivery>,
        starts: &mut Vec<InstanceId>,
    ) {
        for (i, signal) in effect.signals.into_iter().enumerate() {
            let message = InboxMessage {
                msg_id: derived_id(&request.msg_id, &format!("signal:{i}")),
                execution_id: None,
                event: EventKind::EntityRequest {
                    operation: signal.operation,
                    input: signal.input,
                    caller: None,
                },
            };
            self.executor
                .queue_for_entity(&signal.entity, message.clone(), ops);
            deliveries.push((signal.entity.instance_id(), message));
        }
        for start in effect.starts {
            // check_starts made sure the orchestration exists and the id is valid.
            let Some(digest) = self.executor.runtime.orchestration_digest(&start.name) else {
                continue;
            };
            let id = match start.instance_id.as_deref().map(InstanceId::parse) {
                Some(Ok(id)) => id,
                Some(Err(_)) => continue,
                None => InstanceId::random(),
            };
            let stamp = StartOptions {
                version: self.executor.versioning.stamp(None),
                trace: None,
            };
            let executor = &self.executor;
            let (instance, started) =
                executor.new_instance(&start.name, id, start.input, digest, None, stamp);
            starts.push(instance.instance_id.clone());
            ops.push(Op::CreateChild { instance, started });
        }
    }
}

/// The operations in `batch`, and the ids of the other messages (dropped: entities take only
/// operations).
fn requests_of(batch: Vec<Inbound>) -> (Vec<String>, Vec<Request>) {
    let mut dropped = Vec::new();
    let mut requests = Vec::with_capacity(batch.len());
    for inbound in batch {
        let msg_id = inbound.msg_id.unwrap_or_default();
        match inbound.event {
            EventKind::EntityRequest {
                operation,
                input,
                caller,
            } => requests.push(Request {
                msg_id,
                call: OperationCall { operation, input },
                caller,
            }),
            other => {
                let kind = other.type_name();
                tracing::warn!("entities take only operations; dropped a {kind} message");
                dropped.push(msg_id);
            }
        }
    }
    (dropped, requests)
}

/// An operation may start only orchestrations this host knows, under valid ids.
fn check_starts(executor: &Executor, effect: &OperationEffect) -> Result<(), Failure> {
    for start in &effect.starts {
        if executor.runtime.orchestration_digest(&start.name).is_none() {
            let why = format!(
                "it starts orchestration '{}', which is not registered",
                start.name
            );
            return Err(Failure::new(why));
        }
        if let Some(Err(e)) = start.instance_id.as_deref().map(InstanceId::parse) {
            let id = start.instance_id.as_deref().unwrap_or_default();
            return Err(Failure::new(format!(
                "it starts an orchestration with id '{id}': {e}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_sent_messages_are_stable_and_do_not_grow_along_a_chain() {
        let first = derived_id("order-1:exec:3", "signal:0");
        assert_eq!(
            first,
            derived_id("order-1:exec:3", "signal:0"),
            "stable on a re-run"
        );
        assert_ne!(first, derived_id("order-1:exec:3", "signal:1"));
        assert_ne!(first, derived_id("order-1:exec:3", "answer"));
        let mut id = first.clone();
        for _ in 0..100 {
            id = derived_id(&id, "signal:0");
        }
        assert_eq!(id.len(), first.len());
    }
}
