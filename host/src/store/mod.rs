//! Persistence: the append-only history, the instance table and the component blobs.
//!
//! [`Store`] is the narrow interface the rest of the host uses, so that a PostgreSQL
//! implementation can sit beside [`SqliteStore`] later. Every state change is one [`Op`] batch,
//! applied atomically; [`SqliteStore`] folds the batches of many instances into one transaction
//! (group commit) on a single writer thread, so throughput does not cost durability.

mod error;
mod migrations;
mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use error::StoreError;
pub use sqlite::{SqliteStore, StoreOptions};

use crate::engine::{Event, RuntimeStatus};
use crate::ids::{ExecutionId, InstanceId};

/// An instance row, as the status API shows it.
#[derive(Debug, Clone, PartialEq)]
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
    pub orchestrator_digest: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// One change, applied with the others of its batch in one transaction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Creates an instance (status Pending) with its first event, `ExecutionStarted`.
    /// Fails with [`StoreError::InstanceExists`] if an unfinished instance has that id; a
    /// finished one is replaced, history and all (Durable Functions' default id reuse).
    CreateInstance { instance: Instance, started: Event },
    /// Appends events to an execution's history and updates the instance row.
    Append {
        instance_id: InstanceId,
        execution_id: ExecutionId,
        events: Vec<Event>,
        update: InstanceUpdate,
    },
    /// Stores a component's bytes under its digest (no-op if present).
    PutComponent {
        digest: String,
        kind: String,
        bytes: Arc<Vec<u8>>,
    },
}

/// The instance-row fields an append may change.
#[derive(Debug, Clone, Default)]
pub struct InstanceUpdate {
    pub status: Option<RuntimeStatus>,
    pub output: Option<String>,
    /// `Some(None)` clears the custom status.
    pub custom_status: Option<Option<String>>,
    pub updated_ms: u64,
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
