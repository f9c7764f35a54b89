//! The store's writer thread: cuts the queued jobs into batches (by operations and payload
//! bytes) and applies each batch in one transaction, telling each job its true outcome even
//! when SQLite abandons the whole transaction. A batch is first applied as it is; only if one
//! of its jobs fails is it applied again with every job under its own savepoint.

#[cfg(test)]
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use rusqlite::Connection;

use super::{Counters, Job, Op, StoreError, apply_op};

/// Test-only: called before each job is applied; when it answers true, the writer behaves as
/// SQLite does on `SQLITE_FULL` / `SQLITE_IOERR` deep in a statement: the whole transaction is
/// rolled back and the job fails with a disk-full error.
#[cfg(test)]
#[derive(Clone)]
pub struct FaultHook(pub Arc<FaultFn>);

/// See [`FaultHook`].
#[cfg(test)]
pub type FaultFn = dyn Fn(&[Op]) -> bool + Send + Sync;

#[cfg(test)]
impl std::fmt::Debug for FaultHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultHook")
    }
}

/// How one batch is cut and applied.
pub(super) struct Limits {
    pub max_ops: usize,
    pub max_bytes: usize,
    #[cfg(test)]
    pub fault: Option<FaultHook>,
}

pub(super) fn writer_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Job>,
    limits: Limits,
    stats: &Counters,
) {
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let mut ops = first.ops.len();
        let mut bytes = job_bytes(&first);
        let mut jobs = vec![first];
        while ops < limits.max_ops && bytes < limits.max_bytes {
            let Ok(job) = rx.try_recv() else { break };
            let size = job_bytes(&job);
            if bytes + size > limits.max_bytes {
                // Too big to share this transaction: it opens the next one.
                next = Some(job);
                break;
            }
            ops += job.ops.len();
            bytes += size;
            jobs.push(job);
        }
        let results = apply_batch(&mut conn, &jobs, &limits);
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats
            .batches
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        stats.ops.fetch_add(ops as u64, Ordering::Relaxed);
        for (job, result) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

fn job_bytes(job: &Job) -> usize {
    job.ops.iter().map(Op::approx_bytes).sum()
}

/// How one attempt at a batch's transaction ended.
enum Attempt {
    /// Committed; each job's own outcome is in the results.
    Committed,
    /// SQLite rolled the whole transaction back while applying job `at` (`SQLITE_FULL`,
    /// `SQLITE_IOERR`, `SQLITE_NOMEM` can do that): nothing of this attempt was stored.
    Aborted { at: usize, error: StoreError },
    /// The transaction could not be begun or committed: nothing of this attempt was stored.
    Failed(StoreError),
}

/// Applies every job in one transaction; each job is atomic on its own (a savepoint), so one
/// job's conflict does not fail the others. If SQLite abandons the whole transaction because of
/// one job, that job fails and the others are applied again in a fresh transaction, so every
/// job is told its true outcome (never "failed" for a write that was committed, or the reverse).
fn apply_batch(
    conn: &mut Connection,
    jobs: &[Job],
    limits: &Limits,
) -> Vec<Result<(), StoreError>> {
    if let Some(result) = attempt_whole(conn, jobs, limits) {
        return jobs.iter().map(|_| result.clone()).collect();
    }
    let mut results: Vec<Result<(), StoreError>> = jobs.iter().map(|_| Ok(())).collect();
    let mut pending: Vec<usize> = (0..jobs.len()).collect();
    while !pending.is_empty() {
        match attempt(conn, jobs, &pending, &mut results, limits) {
            Attempt::Committed => break,
            Attempt::Aborted { at, error } => {
                results[at] = Err(error);
                pending.retain(|&i| i != at);
            }
            Attempt::Failed(error) => {
                for &i in &pending {
                    results[i] = Err(error.clone());
                }
                break;
            }
        }
    }
    results
}

/// The common case first: every job of the batch in one transaction, without savepoints
/// (each costs two statements and a copy of every page it touches). `Some` is every job's
/// outcome: all were committed, or the transaction could not be begun or committed (nothing was
/// stored). `None` when a job failed: the transaction is rolled back, nothing of it was stored,
/// and the batch must be applied again job by job.
fn attempt_whole(
    conn: &Connection,
    jobs: &[Job],
    limits: &Limits,
) -> Option<Result<(), StoreError>> {
    if let Err(e) = begin(conn) {
        return Some(Err(e));
    }
    let applied = jobs.iter().try_for_each(|job| {
        fault(conn, &job.ops, limits)?;
        job.ops.iter().try_for_each(|op| apply_op(conn, op))
    });
    if applied.is_err() {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return None;
    }
    Some(commit(conn))
}

/// Opens the batch's transaction.
fn begin(conn: &Connection) -> Result<(), StoreError> {
    if !conn.is_autocommit() {
        // Left over from a COMMIT and ROLLBACK that both failed: start clean.
        let _ = conn.execute_batch("ROLLBACK");
    }
    Ok(conn.execute_batch("BEGIN IMMEDIATE")?)
}

/// Commits the batch's transaction; if that fails, nothing of it is stored.
fn commit(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("COMMIT").map_err(|e| {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        e.into()
    })
}

/// Test-only fault injection (see [`FaultHook`]): as SQLite does on `SQLITE_FULL`, the whole
/// transaction is rolled back and the job fails.
fn fault(conn: &Connection, ops: &[Op], limits: &Limits) -> Result<(), StoreError> {
    #[cfg(test)]
    if limits.fault.as_ref().is_some_and(|hook| (hook.0)(ops)) {
        conn.execute_batch("ROLLBACK")?;
        return Err(StoreError::DiskFull("injected fault".into()));
    }
    #[cfg(not(test))]
    let _ = (conn, ops, limits);
    Ok(())
}

/// One transaction over the jobs at `pending`, recording each job's own outcome in `results`.
fn attempt(
    conn: &mut Connection,
    jobs: &[Job],
    pending: &[usize],
    results: &mut [Result<(), StoreError>],
    limits: &Limits,
) -> Attempt {
    if let Err(e) = begin(conn) {
        return Attempt::Failed(e);
    }
    for &i in pending {
        match apply_job(conn, &jobs[i].ops, limits) {
            Ok(()) => results[i] = Ok(()),
            // The transaction is gone: SQLite rolled it back.
            Err(error) if conn.is_autocommit() => return Attempt::Aborted { at: i, error },
            Err(error) => results[i] = Err(error),
        }
    }
    match commit(conn) {
        Ok(()) => Attempt::Committed,
        Err(e) => Attempt::Failed(e),
    }
}

/// One job inside the open transaction, atomically: under a savepoint, undone on error.
fn apply_job(conn: &Connection, ops: &[Op], limits: &Limits) -> Result<(), StoreError> {
    fault(conn, ops, limits)?;
    // Prepared once (the statement cache): parsing these per job showed in profiles.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let result = ops.iter().try_for_each(|op| apply_op(conn, op));
    if conn.is_autocommit() {
        // SQLite abandoned the transaction: nothing to release.
        return result;
    }
    let end = match &result {
        Ok(()) => conn
            .prepare_cached("RELEASE job")
            .and_then(|mut s| s.execute([])),
        Err(_) => conn
            .execute_batch("ROLLBACK TO job; RELEASE job")
            .map(|()| 0),
    };
    if let Err(e) = end {
        // The job cannot be kept apart from the others: abandon the whole transaction, so
        // that `attempt` applies the other jobs again without it.
        let _ = conn.execute_batch("ROLLBACK");
        return Err(result.err().unwrap_or_else(|| e.into()));
    }
    result
}
