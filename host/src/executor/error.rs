//! Why an instance's actor stopped before the instance's end.

use crate::store::StoreError;

/// An infrastructure problem that stopped an actor: nothing was recorded for the turn it was
/// on. [`ActorError::should_resume`] says whether resuming the instance from the store later
/// can help.
#[derive(Debug, thiserror::Error)]
pub(super) enum ActorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the executor is shutting down")]
    ShuttingDown,
    /// The sandbox could not run the guest (out of memory, address space, pool slots).
    #[error("{0}")]
    Sandbox(String),
    /// The actor's view of the instance went out of step with itself; replaying from the
    /// store puts it right.
    #[error("internal: {0}")]
    Internal(String),
}

impl ActorError {
    /// Whether the instance should be resumed from the store after a pause. A store error that
    /// retrying cannot fix (corrupt data, a value too big to store) is not retried: it is logged
    /// once and the instance stays as it is until the host restarts.
    pub fn should_resume(&self) -> bool {
        match self {
            // The instance moved on underneath the actor (rewound, restarted): the store's
            // state is the one to run.
            ActorError::Store(
                StoreError::HistoryConflict { .. } | StoreError::StaleExecution { .. },
            ) => true,
            ActorError::Store(e) => e.is_retriable(),
            ActorError::ShuttingDown => false,
            ActorError::Sandbox(_) | ActorError::Internal(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_that_a_later_try_can_fix_resume_the_instance() {
        let resumes = |e: ActorError| e.should_resume();
        assert!(resumes(StoreError::Busy("locked".into()).into()));
        assert!(resumes(StoreError::WriterGone.into()));
        let conflict = StoreError::HistoryConflict {
            instance: "i".into(),
            seq: 3,
        };
        assert!(resumes(conflict.into()));
        assert!(resumes(ActorError::Sandbox("no pool slot".into())));
        // Before: every error resumed the instance a second later, forever.
        assert!(!resumes(StoreError::Corrupt("bad row".into()).into()));
        assert!(!resumes(StoreError::TooBig("output".into()).into()));
        assert!(!resumes(ActorError::ShuttingDown));
    }
}
