//! SQLite implementation of [`Store`]: WAL, `synchronous=FULL`, one writer thread doing group
//! commit, and a small pool of read connections.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::{
    CommitTicket, ComponentKind, InboxMessage, Instance, ListQuery, Op, ParentRef, Route, Store,
    StoreError, StoreStats, StoredComponent, migrations,
};
use crate::engine::{Event, EventKind, RuntimeStatus};
use crate::ids::{Digest, ExecutionId, InstanceId, TaskId};

/// How the store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub path: PathBuf,
    /// Upper bound on the operations folded into one transaction.
    pub max_batch_ops: usize,
    /// Upper bound on the payload bytes folded into one transaction (a batch always takes at
    /// least one job), so one large write does not spill the page cache for everybody else's.
    pub max_batch_bytes: usize,
    /// Test-only fault injection: see [`FaultHook`].
    #[cfg(test)]
    pub fault: Option<FaultHook>,
}

impl StoreOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StoreOptions {
            path: path.into(),
            max_batch_ops: 4096,
            max_batch_bytes: 1 << 20,
            #[cfg(test)]
            fault: None,
        }
    }
}

#[path = "sqlite_ops.rs"]
mod ops;
use ops::apply_op;
#[path = "sqlite_writer.rs"]
mod writer;
#[cfg(test)]
pub use writer::FaultHook;
use writer::{Limits, writer_loop};

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    batches: AtomicU64,
    ops: AtomicU64,
}

struct Job {
    ops: Vec<Op>,
    reply: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

/// The SQLite store. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    stats: Arc<Counters>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database, migrates it, and starts the writer thread.
    pub fn open(options: StoreOptions) -> Result<Arc<Self>, StoreError> {
        if let Some(dir) = options.path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        }
        make_private(&options.path)
            .map_err(|e| StoreError::Open(format!("{}: {e}", options.path.display())))?;
        let mut writer = open_connection(&options.path)?;
        migrations::migrate(&mut writer)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let limits = Limits {
            max_ops: options.max_batch_ops.max(1),
            max_bytes: options.max_batch_bytes.max(1),
            #[cfg(test)]
            fault: options.fault.clone(),
        };
        let stats = Arc::new(Counters::default());
        let counters = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(writer, rx, limits, &counters))
            .map_err(|e| StoreError::Open(format!("starting the writer thread: {e}")))?;
        Ok(Arc::new(SqliteStore {
            jobs,
            stats,
            readers: Mutex::new(Vec::new()),
            path: options.path,
        }))
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self
            .readers
            .lock()
            .map_err(|_| StoreError::WriterGone)?
            .pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.path)?,
        };
        let result = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            pool.push(conn);
        }
        result
    }
}

/// Creates the database file readable by its owner only (SQLite gives its `-wal` and `-shm`
/// files the same mode); an existing one that others can read is left as it is, with a warning.
fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            // An existing file is the operator's to change (backups may read it).
            tracing::warn!(
                "{} can be read by other users (mode {:o}); `chmod 600` it",
                path.display(),
                mode & 0o777
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn =
        Connection::open(path).map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

const INSTANCE_COLUMNS: &str =
    "instance_id, execution_id, name, status, input, output, custom_status,
     orchestrator_digest, created_ms, updated_ms, parent_instance_id, parent_execution_id, parent_task_id,
     version";

fn instance_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Instance, StoreError>> {
    let status = match row.get::<_, RuntimeStatus>(3) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e.into())),
    };
    Ok(Ok(Instance {
        instance_id: InstanceId::from_trusted(row.get(0)?),
        execution_id: ExecutionId::from_trusted(row.get(1)?),
        name: row.get(2)?,
        status,
        input: row.get(4)?,
        output: row.get(5)?,
        custom_status: row.get(6)?,
        orchestrator_digest: row.get(7)?,
        created_ms: row.get::<_, i64>(8)? as u64,
        updated_ms: row.get::<_, i64>(9)? as u64,
        parent: match (
            row.get::<_, Option<String>>(10)?,
            row.get::<_, Option<String>>(11)?,
            row.get::<_, Option<TaskId>>(12)?,
        ) {
            (Some(instance), Some(execution), Some(task)) => Some(ParentRef {
                instance_id: InstanceId::from_trusted(instance),
                execution_id: ExecutionId::from_trusted(execution),
                task_id: task,
            }),
            _ => None,
        },
        version: row.get(13)?,
    }))
}

impl Store for SqliteStore {
    fn write(&self, ops: Vec<Op>) -> CommitTicket {
        let (reply, rx) = tokio::sync::oneshot::channel();
        // If the writer is gone the reply sender is dropped and the ticket resolves to WriterGone.
        let _ = self.jobs.send(Job { ops, reply });
        CommitTicket::new(rx)
    }

    fn instance(&self, id: &InstanceId) -> Result<Option<Instance>, StoreError> {
        self.with_reader(|conn| {
            let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?1");
            conn.prepare_cached(&sql)?
                .query_row([id.as_str()], instance_from_row)
                .optional()?
                .transpose()
        })
    }

    fn history(&self, id: &InstanceId) -> Result<Vec<Event>, StoreError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT h.seq, h.timestamp_ms, h.data FROM history h
                 JOIN instances i ON i.instance_id = h.instance_id AND i.execution_id = h.execution_id
                 WHERE h.instance_id = ?1 ORDER BY h.seq",
            )?;
            let rows = stmt.query_map([id.as_str()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
            })?;
            let mut events = Vec::new();
            for row in rows {
                let (seq, ts, data) = row?;
                let kind: EventKind = serde_json::from_str(&data)
                    .map_err(|e| StoreError::Corrupt(format!("instance '{id}' event {seq}: {e}")))?;
                events.push(Event {
                    seq: seq as u64,
                    timestamp_ms: ts as u64,
                    kind,
                });
            }
            Ok(events)
        })
    }

    fn unfinished_instances(&self) -> Result<Vec<Instance>, StoreError> {
        self.with_reader(|conn| {
            let sql = format!(
                "SELECT {INSTANCE_COLUMNS} FROM instances WHERE status IN (?1, ?2, ?3) ORDER BY created_ms"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let unfinished = [
                RuntimeStatus::Pending,
                RuntimeStatus::Running,
                RuntimeStatus::Suspended,
            ];
            let rows = stmt.query_map(unfinished, instance_from_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row??);
            }
            Ok(out)
        })
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Instance>, StoreError> {
        let (filter, mut args) = list_filter(query, true);
        let order = if query.newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE {filter} \
             ORDER BY created_ms {order}, instance_id {order} LIMIT ?"
        );
        args.push(rusqlite::types::Value::Integer(query.limit.max(1) as i64));
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows =
                stmt.query_map(rusqlite::params_from_iter(args.iter()), instance_from_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row??);
            }
            Ok(out)
        })
    }

    fn count_by_status(&self, query: &ListQuery) -> Result<Vec<(RuntimeStatus, u64)>, StoreError> {
        let (filter, args) = list_filter(query, false);
        let sql = format!(
            "SELECT status, count(*) FROM instances WHERE {filter} GROUP BY status ORDER BY status"
        );
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (status, n) = row?;
                let status = RuntimeStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown status '{status}'")))?;
                out.push((status, n as u64));
            }
            Ok(out)
        })
    }

    fn components(&self) -> Result<Vec<StoredComponent>, StoreError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT digest, kind, names, size, added_ms FROM components ORDER BY added_ms, digest",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, Digest>(0)?,
                    r.get::<_, ComponentKind>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (digest, kind, names, size, added) = row?;
                out.push(StoredComponent {
                    names: serde_json::from_str(&names)
                        .map_err(|e| StoreError::Corrupt(format!("component {digest} names: {e}")))?,
                    digest,
                    kind,
                    size: size as u64,
                    added_ms: added as u64,
                });
            }
            Ok(out)
        })
    }

    fn routes(&self) -> Result<Vec<Route>, StoreError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT kind, name, digest, activated_ms FROM routes ORDER BY kind, name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Route {
                    kind: r.get(0)?,
                    name: r.get(1)?,
                    digest: r.get(2)?,
                    activated_ms: r.get::<_, i64>(3)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            batches: self.stats.batches.load(Ordering::Relaxed),
            ops: self.stats.ops.load(Ordering::Relaxed),
            ..StoreStats::default()
        }
    }

    fn inbox(&self, id: &InstanceId) -> Result<Vec<InboxMessage>, StoreError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT msg_id, execution_id, data FROM inbox WHERE instance_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([id.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (msg_id, execution_id, data) = row?;
                let event: EventKind = serde_json::from_str(&data)
                    .map_err(|e| StoreError::Corrupt(format!("inbox message {msg_id}: {e}")))?;
                out.push(InboxMessage {
                    msg_id,
                    execution_id: execution_id.map(ExecutionId::from_trusted),
                    event,
                });
            }
            Ok(out)
        })
    }

    fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_reader(|conn| {
            Ok(conn
                .prepare_cached("SELECT bytes FROM components WHERE digest = ?1")?
                .query_row([digest], |r| r.get(0))
                .optional()?)
        })
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;

/// The WHERE clause of a list (or, without `paged`, of a count: no status filter or paging)
/// and its arguments.
fn list_filter(query: &ListQuery, paged: bool) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    // Entities' rows (`@name@key`) are listed only when asked for, and then only they are.
    let mut sql = String::from("(substr(instance_id, 1, 1) = '@') = ?");
    let mut args: Vec<Value> = vec![Value::Integer(i64::from(query.entities))];
    if paged && !query.statuses.is_empty() {
        let marks = vec!["?"; query.statuses.len()].join(", ");
        sql.push_str(&format!(" AND status IN ({marks})"));
        let names = query.statuses.iter().map(|s| s.as_str().to_owned());
        args.extend(names.map(Value::Text));
    }
    if let Some(from) = query.created_from_ms {
        sql.push_str(" AND created_ms >= ?");
        args.push(Value::Integer(from as i64));
    }
    if let Some(to) = query.created_to_ms {
        sql.push_str(" AND created_ms <= ?");
        args.push(Value::Integer(to as i64));
    }
    if let Some(prefix) = &query.instance_id_prefix {
        // substr comparison, not LIKE: ids may contain % and _.
        sql.push_str(" AND substr(instance_id, 1, ?) = ?");
        args.push(Value::Integer(prefix.chars().count() as i64));
        args.push(Value::Text(prefix.clone()));
    }
    if let Some(name) = &query.name {
        sql.push_str(" AND name = ?");
        args.push(Value::Text(name.clone()));
    }
    if let (true, Some((created, id))) = (paged, &query.after) {
        let cmp = if query.newest_first { "<" } else { ">" };
        sql.push_str(&format!(
            " AND (created_ms {cmp} ? OR (created_ms = ? AND instance_id {cmp} ?))"
        ));
        args.push(Value::Integer(*created as i64));
        args.push(Value::Integer(*created as i64));
        args.push(Value::Text(id.clone()));
    }
    (sql, args)
}
