//! Store errors, split by whether retrying can help.

/// What went wrong in the store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("an instance with id '{0}' is already running")]
    InstanceExists(String),
    #[error("no instance with id '{0}'")]
    NoSuchInstance(String),
    #[error("instance '{0}' has already finished")]
    InstanceFinished(String),
    #[error("instance '{0}' has not finished")]
    NotFinished(String),
    #[error("instance '{0}' has not failed")]
    NotFailed(String),
    /// A rewind that cannot be done safely (the reason says why).
    #[error("instance '{instance}' cannot be rewound: {reason}")]
    NotRewindable { instance: String, reason: String },
    #[error("history conflict for instance '{instance}': event {seq} already exists")]
    HistoryConflict { instance: String, seq: u64 },
    #[error("instance '{instance}' has moved on from execution {execution}")]
    StaleExecution { instance: String, execution: String },
    #[error("a value is too large to store: {0}")]
    TooBig(String),
    #[error("the database is busy or locked: {0}")]
    Busy(String),
    #[error(
        "the disk holding the database is full ({0}); free some space, nothing acknowledged is lost"
    )]
    DiskFull(String),
    #[error("the database is read-only ({0}); check the data directory's permissions and mount")]
    ReadOnly(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("opening the database failed: {0}")]
    Open(String),
    #[error("the store's writer thread has stopped")]
    WriterGone,
    /// A shared store refused a write for an instance of a partition this host no longer holds
    /// (its lease expired or moved to another host): the new owner runs the instance.
    #[error("this host no longer holds partition {partition} (its lease moved to another host)")]
    Fenced { partition: u32 },
}

impl StoreError {
    /// Whether the same operation may succeed if tried again later.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            StoreError::Busy(_)
                | StoreError::DiskFull(_)
                | StoreError::ReadOnly(_)
                | StoreError::Database(_)
                | StoreError::WriterGone
                | StoreError::Fenced { .. }
        )
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::FromSqlConversionFailure(column, _, cause) = &e {
            return StoreError::Corrupt(format!("column {column}: {cause}"));
        }
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Busy(e.to_string())
            }
            Some(ErrorCode::DiskFull) => StoreError::DiskFull(e.to_string()),
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly(e.to_string()),
            Some(ErrorCode::TooBig) => StoreError::TooBig(e.to_string()),
            _ => StoreError::Database(e.to_string()),
        }
    }
}
