//! Persistence: the append-only history, the instance table and the component blobs.
//!
//! [`Store`] is the narrow interface the rest of the host uses: [`SqliteStore`] (the default,
//! a file in the data dir) and [`PostgresStore`] (several hosts on one database) implement it. Every state change is one [`Op`] batch,
//! applied atomically; [`SqliteStore`] folds the batches of many instances into one transaction
//! (group commit) on a single writer thread, so throughput does not cost durability.

#[cfg(test)]
mod contract_tests;
mod error;
#[cfg(test)]
mod memory;
mod migrations;
mod postgres;
mod sql_types;
mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use error::StoreError;
#[cfg(test)]
pub use memory::MemoryStore;
pub use postgres::{LeaseOptions, PostgresOptions, PostgresStore, partition_of};
pub use sqlite::{SqliteStore, StoreOptions};

use crate::engine::{Event, EventKind, RuntimeStatus};
use crate::ids::{Digest, ExecutionId, InstanceId, TaskId};

/// An instance row, as the status API shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Instance {
    pub instance_id: InstanceId,
    pub execution_id: ExecutionId,
    pub name: String,
    pub status: RuntimeStatus,
    /// JSON text.
    pub input: String,
    /// JSON text: the result, or the failure message as a JSON string.
    pub output: Option<String>,
    /// JSON text.
    pub custom_status: Option<String>,
    pub orchestrator_digest: Digest,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// Set for sub-orchestrations: where the child's outcome goes.
    pub parent: Option<ParentRef>,
    /// The orchestration's version (as in its `ExecutionStarted`).
    pub version: Option<String>,
}

/// The parent of a sub-orchestration: its instance, the execution that started the child, and
/// the task id the child's outcome completes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParentRef {
    pub instance_id: InstanceId,
    pub execution_id: ExecutionId,
    pub task_id: TaskId,
}

/// A durable message waiting to be handed to an instance (an external event, or a child's
/// completion). Removed in the same transaction as the turn that records it in the history.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxMessage {
    /// Unique id chosen by the sender, so a message delivered twice is recognised.
    pub msg_id: String,
    /// The execution the message is for; `None` for external events (any execution).
    pub execution_id: Option<ExecutionId>,
    pub event: EventKind,
}

/// What a stored component is: an orchestrator or an activity component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    // In the order SQLite sorts their names.
    Activity,
    Orchestrator,
}

impl ComponentKind {
    pub fn parse(s: &str) -> Option<ComponentKind> {
        match s {
            "orchestrator" | "orchestrators" => Some(ComponentKind::Orchestrator),
            "activity" | "activities" => Some(ComponentKind::Activity),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Orchestrator => "orchestrator",
            ComponentKind::Activity => "activity",
        }
    }
}

/// One change, applied with the others of its batch in one transaction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Creates an instance (status Pending) with its first event, `ExecutionStarted`.
    /// Fails with [`StoreError::InstanceExists`] if an unfinished instance has that id; a
    /// finished one is replaced, history and all (Durable Functions' default id reuse).
    CreateInstance { instance: Instance, started: Event },
    /// Creates a sub-orchestration instance unless one with that id already exists (then a no-op).
    CreateChild { instance: Instance, started: Event },
    /// Appends events to an execution's history, removes the inbox messages they consumed, and
    /// updates the instance row. A terminal status also drops the instance's leftover inbox.
    /// Fails with [`StoreError::StaleExecution`] unless `execution_id` is the current one (an
    /// actor that outlived its execution cannot write over its successor).
    Append {
        instance_id: InstanceId,
        execution_id: ExecutionId,
        events: Vec<Event>,
        consumed: Vec<String>,
        update: InstanceUpdate,
    },
    /// Adds a message to an instance's inbox. If `required`, fails with
    /// [`StoreError::NoSuchInstance`] or [`StoreError::InstanceFinished`]; otherwise a message for
    /// a missing or finished instance is silently dropped (a child outliving its parent).
    Enqueue {
        instance_id: InstanceId,
        message: InboxMessage,
        required: bool,
        /// When it was queued (the caller's clock: the store reads none).
        created_ms: u64,
    },
    /// Deletes a finished instance: its row, history and inbox. If `required`, fails with
    /// [`StoreError::NoSuchInstance`] or [`StoreError::NotFinished`]; otherwise skips those.
    Purge {
        instance_id: InstanceId,
        required: bool,
    },
    /// Ends the current execution and starts a fresh one: the old history is deleted (bounded
    /// history for eternal orchestrations), the row gets the new execution id and input.
    ContinueAsNew {
        instance_id: InstanceId,
        /// The execution that ends; fails with [`StoreError::StaleExecution`] if it is no
        /// longer the instance's current one.
        from_execution: ExecutionId,
        execution_id: ExecutionId,
        input: String,
        started: Event,
        consumed: Vec<String>,
        updated_ms: u64,
    },
    /// Rewinds a failed execution: appends `event` (`ExecutionRewound`), sets the instance
    /// Running and clears its output. Fails with [`StoreError::NotFailed`] unless it is Failed
    /// (checked in the transaction, so two rewinds cannot both succeed).
    Rewind {
        instance_id: InstanceId,
        execution_id: ExecutionId,
        event: Event,
        updated_ms: u64,
    },
    /// Stores a component's bytes under its digest, with the names it exports (no-op if present).
    PutComponent {
        digest: Digest,
        kind: ComponentKind,
        names: Vec<String>,
        bytes: Arc<Vec<u8>>,
        added_ms: u64,
    },
    /// Routes `names` of `kind` to `digest` (all at once, in this batch's transaction).
    Activate {
        kind: ComponentKind,
        names: Vec<String>,
        digest: Digest,
        activated_ms: u64,
    },
}

impl Op {
    /// Roughly how many bytes applying the op writes (its payloads), to bound a transaction.
    pub fn approx_bytes(&self) -> usize {
        let events = |events: &[Event]| events.iter().map(|e| e.kind.approx_bytes()).sum::<usize>();
        match self {
            Op::CreateInstance { instance, started } | Op::CreateChild { instance, started } => {
                instance.input.len() + started.kind.approx_bytes()
            }
            Op::Append {
                events: e, update, ..
            } => {
                events(e)
                    + update.output.as_ref().map_or(0, String::len)
                    + update
                        .custom_status
                        .as_ref()
                        .and_then(Option::as_ref)
                        .map_or(0, String::len)
            }
            Op::Enqueue { message, .. } => message.event.approx_bytes(),
            Op::ContinueAsNew { input, started, .. } => input.len() + started.kind.approx_bytes(),
            Op::Rewind { event, .. } => event.kind.approx_bytes(),
            Op::PutComponent { bytes, .. } => bytes.len(),
            Op::Purge { .. } | Op::Activate { .. } => 64,
        }
    }
}

/// The instance-row fields an append may change.
#[derive(Debug, Clone, Default)]
pub struct InstanceUpdate {
    pub status: Option<RuntimeStatus>,
    pub output: Option<String>,
    /// `Some(None)` clears the custom status.
    pub custom_status: Option<Option<String>>,
    pub updated_ms: u64,
    /// A new orchestrator pin (migration).
    pub orchestrator_digest: Option<Digest>,
}

impl InstanceUpdate {
    /// The row as this update leaves it (the rule every store applies, and the executor's copy).
    pub fn apply_to(&self, row: &mut Instance) {
        if let Some(status) = self.status {
            row.status = status;
        }
        if let Some(output) = &self.output {
            row.output = Some(output.clone());
        }
        if let Some(custom) = &self.custom_status {
            row.custom_status = custom.clone();
        }
        if let Some(digest) = &self.orchestrator_digest {
            row.orchestrator_digest = digest.clone();
        }
        row.updated_ms = self.updated_ms;
    }
}

/// Resolves once the batch it was given for is durably committed (or failed).
pub struct CommitTicket(tokio::sync::oneshot::Receiver<Result<(), StoreError>>);

impl Future for CommitTicket {
    type Output = Result<(), StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(StoreError::WriterGone)))
    }
}

impl CommitTicket {
    pub(crate) fn new(rx: tokio::sync::oneshot::Receiver<Result<(), StoreError>>) -> Self {
        CommitTicket(rx)
    }
}

/// The persistence interface. Writes are queued and resolve when durable; reads block the
/// calling thread (call them through [`read`] from async code).
pub trait Store: Send + Sync + 'static {
    /// Queues a batch; it is applied atomically, in submission order relative to other batches.
    fn write(&self, ops: Vec<Op>) -> CommitTicket;
    fn instance(&self, id: &InstanceId) -> Result<Option<Instance>, StoreError>;
    /// The history of the instance's current execution, in order.
    fn history(&self, id: &InstanceId) -> Result<Vec<Event>, StoreError>;
    /// Instances that are not in a terminal state (to resume after a restart).
    fn unfinished_instances(&self) -> Result<Vec<Instance>, StoreError>;
    fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The instance's undelivered inbox messages, oldest first.
    fn inbox(&self, id: &InstanceId) -> Result<Vec<InboxMessage>, StoreError>;
    /// Counters since the store was opened.
    fn stats(&self) -> StoreStats;
    /// Instances matching `query`, ordered by creation time then id (newest first if asked).
    fn list(&self, query: &ListQuery) -> Result<Vec<Instance>, StoreError>;
    /// How many instances match `query` per status, its status filter and paging ignored
    /// (statuses without instances are left out).
    fn count_by_status(&self, query: &ListQuery) -> Result<Vec<(RuntimeStatus, u64)>, StoreError>;
    /// Every stored component (without bytes), oldest first.
    fn components(&self) -> Result<Vec<StoredComponent>, StoreError>;
    /// The persisted routing: (kind, name, digest, activated_ms).
    fn routes(&self) -> Result<Vec<Route>, StoreError>;

    /// Whether this host runs the instance now. A store that several hosts share gives each
    /// host the instances of the partitions it holds a lease on; an embedded store runs all.
    fn is_local(&self, _id: &InstanceId) -> bool {
        true
    }

    /// Whether this host holds the partition now (see [`Store::is_local`]).
    fn partition_is_local(&self, _partition: u32) -> bool {
        true
    }

    /// What other hosts sharing the store ask of this one (wake an instance, an instance of
    /// theirs finished, a partition came or went). `None` for a store no other host shares;
    /// the receiver is handed out once.
    fn cluster_events(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>> {
        None
    }

    /// The unfinished instances of one partition (to resume when its lease is taken).
    fn unfinished_in_partition(&self, partition: u32) -> Result<Vec<Instance>, StoreError> {
        let all = self.unfinished_instances()?;
        Ok(all
            .into_iter()
            .filter(|i| partition_of(&i.instance_id) == partition)
            .collect())
    }

    /// Clean shutdown, after the last write: a shared store hands this host's partitions to
    /// the others at once. Resolves when done.
    fn leave(&self) -> CommitTicket {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = tx.send(Ok(()));
        CommitTicket::new(rx)
    }
}

/// A message for the executor from the hosts sharing a store.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterEvent {
    /// This host took the lease of a partition: resume its unfinished instances.
    Acquired(u32),
    /// This host no longer holds the partition (its writes there are refused from now on).
    Lost(u32),
    /// Something was queued for an instance of this host (a start, an event, a child's
    /// outcome): run it, or hand its new inbox messages to its live actor.
    Wake(InstanceId),
    /// An instance of this host that has not started running for a while: run it unless it
    /// has an actor already.
    Resume(InstanceId),
    /// An instance of this host was created by another host, as committed: run it from this
    /// (no read) unless it has an actor already.
    Start(Box<(Instance, Event)>),
    /// An instance finished on some host: wake whoever waits for it here.
    Finished(InstanceId),
}

/// A stored component, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredComponent {
    pub digest: Digest,
    pub kind: ComponentKind,
    pub names: Vec<String>,
    pub size: u64,
    pub added_ms: u64,
}

/// Which component serves a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub kind: ComponentKind,
    pub name: String,
    pub digest: Digest,
    pub activated_ms: u64,
}

/// A filter over instances (the management API's list and purge-by-filter).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// Any of these statuses (empty: all).
    pub statuses: Vec<RuntimeStatus>,
    pub created_from_ms: Option<u64>,
    pub created_to_ms: Option<u64>,
    pub instance_id_prefix: Option<String>,
    /// Only instances of this orchestration.
    pub name: Option<String>,
    /// List entities' rows (`@name@key`) instead of orchestrations'.
    pub entities: bool,
    /// Newest first (then `after` means older than).
    pub newest_first: bool,
    /// Keyset paging: only instances after this (created_ms, instance id) in the order asked.
    pub after: Option<(u64, String)>,
    pub limit: usize,
}

/// Store counters, for `/metrics` and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed (each is one WAL fsync with `synchronous=FULL`).
    pub commits: u64,
    /// Batches (jobs) applied; group commit folds many into one transaction.
    pub batches: u64,
    /// Operations applied.
    pub ops: u64,
    /// Batches refused because this host no longer held their partition's lease (a shared
    /// store's fencing: a paused or partitioned host's late writes).
    pub fenced: u64,
    /// Partitions whose lease this host holds (a shared store; 0 for an embedded one).
    pub partitions_held: u64,
}

/// Runs a blocking store read off the async workers.
pub async fn read<T, F>(store: &Arc<dyn Store>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|_| StoreError::WriterGone)?
}
