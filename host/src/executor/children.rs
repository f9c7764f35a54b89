//! Sub-orchestrations: starting a child (or finding it again after a restart), handing a
//! finished child's outcome to its parent, and rewinding an instance together with the failed
//! children it ended on.

use std::sync::Arc;

use super::{Executor, Inbound, RESUME_AFTER_ERROR};
use crate::engine::{Event, EventKind, RuntimeStatus};
use crate::ids::{InstanceId, TaskId};
use crate::store::{self, InboxMessage, Instance, Op, ParentRef, StoreError};

/// A child's id is taken by an instance that is not that child.
#[derive(Debug, thiserror::Error)]
#[error("an instance with id '{0}' already exists")]
struct IdTaken(InstanceId);

/// Most instances one rewind moves (the instance and its failed sub-orchestrations).
const MAX_REWOUND: usize = 1_000;

/// The sub-orchestrations whose failures `voided` lists, with the tasks that started them.
fn failed_children(history: &[Event], voided: &[u64]) -> Vec<(TaskId, InstanceId)> {
    let failed: Vec<TaskId> = history
        .iter()
        .filter(|e| voided.contains(&e.seq))
        .filter_map(|e| match e.kind {
            EventKind::SubOrchestrationInstanceFailed { task_id, .. } => Some(task_id),
            _ => None,
        })
        .collect();
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SubOrchestrationInstanceCreated {
                task_id,
                instance_id,
                ..
            } if failed.contains(task_id) => {
                InstanceId::parse(instance_id).ok().map(|id| (*task_id, id))
            }
            _ => None,
        })
        .collect()
}

fn is_entity_event(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::EntityOperationCalled { .. }
            | EventKind::EntityOperationSignaled { .. }
            | EventKind::EntityOperationCompleted { .. }
            | EventKind::EntityOperationFailed { .. }
    )
}

impl Executor {
    /// Rewinds a failed instance (Durable Functions' rewind): records `ExecutionRewound`, which
    /// voids the failures the instance ended on (see [`crate::engine::rewind_voids`]), sets it
    /// Running and starts it again; replay reaches the failed tasks, which run again. Failed
    /// sub-orchestrations it ended on are rewound with it (recursively, in the same
    /// transaction), as Durable Functions does: their new outcomes reach it as they finish.
    pub async fn rewind(
        self: &Arc<Self>,
        instance_id: &InstanceId,
        reason: String,
    ) -> Result<(), StoreError> {
        let now = self.now_ms();
        let mut ops = Vec::new();
        let mut rewound: Vec<Instance> = Vec::new();
        let mut queue = vec![(instance_id.clone(), None::<ParentRef>)];
        while let Some((id, parent)) = queue.pop() {
            if rewound.len() >= MAX_REWOUND || rewound.iter().any(|i| i.instance_id == id) {
                continue;
            }
            let lookup = id.clone();
            let (instance, history) = store::read(&self.store, move |s| {
                let instance = s
                    .instance(&lookup)?
                    .ok_or_else(|| StoreError::NoSuchInstance(lookup.to_string()))?;
                let history = s.history(&lookup)?;
                Ok((instance, history))
            })
            .await?;
            // Only a failed execution's history ends in ExecutionFailed; the store checks the
            // status again in the rewind's own transaction.
            // An entity operation is sent once and its answer is not kept for a failed caller:
            // replaying the failed turn again could send twice or wait for an answer forever.
            if history.iter().any(|e| is_entity_event(&e.kind)) {
                return Err(StoreError::NotRewindable {
                    instance: id.to_string(),
                    reason: "it called or signalled durable entities (their operations are not re-run or re-sent); restart it instead".to_owned(),
                });
            }
            let voided = match crate::engine::rewind_voids(&history) {
                Some(voided) => voided,
                None if parent.is_none() => return Err(StoreError::NotFailed(id.to_string())),
                None => continue,
            };
            if parent.is_some() && instance.parent != parent {
                continue; // not the child of that task (any more)
            }
            for (task_id, child) in failed_children(&history, &voided) {
                let via = ParentRef {
                    instance_id: id.clone(),
                    execution_id: instance.execution_id.clone(),
                    task_id,
                };
                queue.push((child, Some(via)));
            }
            ops.push(Op::Rewind {
                instance_id: id.clone(),
                execution_id: instance.execution_id.clone(),
                event: Event {
                    seq: history.len() as u64,
                    timestamp_ms: now,
                    kind: EventKind::ExecutionRewound {
                        reason: reason.clone(),
                        voided,
                    },
                },
                updated_ms: now,
            });
            rewound.push(instance);
        }
        let written = self.store.write(ops).await;
        // Failed rows kept for status reads are stale now (or, if the write failed, may be).
        for instance in &rewound {
            self.finished.forget(&instance.instance_id);
        }
        written?;
        tracing::info!(instance = %instance_id, children = rewound.len() - 1, "rewound; re-running its failed steps");
        // Children first: their actors are live before the parent asks for them.
        for mut instance in rewound.into_iter().rev() {
            instance.status = RuntimeStatus::Running;
            instance.output = None;
            instance.updated_ms = now;
            self.spawn_actor(instance, None);
        }
        Ok(())
    }

    /// Starts (or, after a restart, finds again) the child instance of a sub-orchestration task.
    /// Failures to start become the task's outcome, re-derived identically on every resume.
    pub(super) fn start_child(
        self: &Arc<Self>,
        parent: ParentRef,
        name: String,
        child_id: String,
        input: String,
        stamp: super::StartOptions,
    ) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let fail = |reason: String| {
                this.deliver(
                    &parent.instance_id,
                    Inbound {
                        execution_id: Some(parent.execution_id.clone()),
                        msg_id: None,
                        event: EventKind::SubOrchestrationInstanceFailed {
                            task_id: parent.task_id,
                            reason,
                            details: None,
                        },
                    },
                );
            };
            let Some(digest) = this.runtime.orchestration_digest(&name) else {
                return fail(format!("no orchestration named '{name}' is registered"));
            };
            let Ok(child) = InstanceId::parse(&child_id) else {
                return fail(format!("invalid instance id '{child_id}'"));
            };
            let (instance, started) =
                this.new_instance(&name, child, input, digest, Some(parent.clone()), stamp);
            loop {
                match this.start_child_once(&parent, &instance, &started).await {
                    Ok(Ok(())) => return,
                    // Refused for good: the parent must hear of it, or it waits forever.
                    Ok(Err(reason)) => {
                        return fail(format!("cannot start sub-orchestration '{name}': {reason}"));
                    }
                    Err(e) if !e.is_retriable() => {
                        return fail(format!("cannot start sub-orchestration '{name}': {e}"));
                    }
                    // Storage trouble: try again for as long as the parent waits for it.
                    Err(e) => {
                        tracing::warn!(instance = %parent.instance_id, "starting child {child_id} failed, trying again: {e}");
                        tokio::time::sleep(RESUME_AFTER_ERROR).await;
                        if !this.parent_waits(&parent).await {
                            return;
                        }
                    }
                }
            }
        });
    }

    /// One attempt at creating (or finding again) a child and getting it going. `Ok(Err(_))`:
    /// the child cannot be started at all.
    async fn start_child_once(
        self: &Arc<Self>,
        parent: &ParentRef,
        instance: &Instance,
        started: &Event,
    ) -> Result<Result<(), IdTaken>, StoreError> {
        self.store
            .write(vec![Op::CreateChild {
                instance: instance.clone(),
                started: started.clone(),
            }])
            .await?;
        let lookup = instance.instance_id.clone();
        let row = store::read(&self.store, move |s| s.instance(&lookup)).await?;
        match row {
            Some(row) if row.parent.as_ref() == Some(parent) && row.status.is_terminal() => {
                // Already finished (a parent rewound after its child was): hand the outcome
                // over again; a duplicate of one the parent has is ignored.
                self.redeliver_outcome(parent, &row).await?;
            }
            Some(row) if row.parent.as_ref() == Some(parent) => self.resume(row.instance_id).await,
            Some(row) => return Ok(Err(IdTaken(row.instance_id))),
            None => {}
        }
        Ok(Ok(()))
    }

    /// Whether the parent execution is still unfinished (so its child is still wanted).
    async fn parent_waits(&self, parent: &ParentRef) -> bool {
        let lookup = parent.instance_id.clone();
        match store::read(&self.store, move |s| s.instance(&lookup)).await {
            Ok(Some(row)) => !row.status.is_terminal() && row.execution_id == parent.execution_id,
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Queues a finished child's outcome in its parent's durable inbox, then wakes the parent.
    async fn redeliver_outcome(
        self: &Arc<Self>,
        parent: &ParentRef,
        child: &Instance,
    ) -> Result<(), StoreError> {
        let output = child.output.clone().unwrap_or_else(|| "null".to_owned());
        let event = if child.status == RuntimeStatus::Completed {
            EventKind::SubOrchestrationInstanceCompleted {
                task_id: parent.task_id,
                result: output,
            }
        } else {
            EventKind::SubOrchestrationInstanceFailed {
                task_id: parent.task_id,
                reason: serde_json::from_str::<String>(&output).unwrap_or(output),
                details: None,
            }
        };
        let message = InboxMessage {
            msg_id: uuid::Uuid::new_v4().simple().to_string(),
            execution_id: Some(parent.execution_id.clone()),
            event,
        };
        let write = self.store.write(vec![Op::Enqueue {
            instance_id: parent.instance_id.clone(),
            message: message.clone(),
            required: false,
            created_ms: self.now_ms(),
        }]);
        write.await?;
        self.deliver(&parent.instance_id, message.into());
        Ok(())
    }
}
