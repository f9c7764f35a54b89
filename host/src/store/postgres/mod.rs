//! PostgreSQL implementation of [`Store`], so several hosts can share one database. Writes go to
//! one writer task per host doing group commit ([`writer`]: the batches of many instances are
//! planned in memory over their locked rows and written with a few set-based statements, in
//! two round trips); reads use a small pool of connections. The client is tokio-postgres (the
//! plain async driver: no ORM, no compile-time query checking against a live database, no
//! macros; sqlx would bring all three and a far larger build).

#[cfg(test)]
mod cluster_tests;
mod fence;
mod lease;
mod plan;
mod schema;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::{Client, Config, NoTls, Row, Statement};

pub use lease::LeaseOptions;

use super::{
    ClusterEvent, CommitTicket, ComponentKind, InboxMessage, Instance, ListQuery, Op, ParentRef,
    Route, Store, StoreError, StoreStats, StoredComponent,
};
use crate::engine::{Event, EventKind, RuntimeStatus};
use crate::ids::{Digest, ExecutionId, InstanceId, TaskId};

/// Instances are spread over this many partitions by a stable hash of their id (a host owns
/// whole partitions when several share the database).
pub const PARTITIONS: u32 = 64;

/// The partition of an instance: FNV-1a of its id, the same on every host and version.
pub fn partition_of(id: &InstanceId) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.as_str().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(PARTITIONS)) as u32
}

/// How the store is opened.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DB` (or a key=value connection string).
    pub url: String,
    /// How long to keep trying to reach the database at start.
    pub connect_for: Duration,
    pub max_batch_ops: usize,
    pub max_batch_bytes: usize,
    /// This host's part in the partition leases.
    pub lease: LeaseOptions,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>, lease: LeaseOptions) -> Self {
        PostgresOptions {
            url: url.into(),
            connect_for: Duration::from_secs(10),
            max_batch_ops: 4096,
            max_batch_bytes: 1 << 20,
            lease,
        }
    }
}

#[derive(Default)]
pub(super) struct Counters {
    commits: AtomicU64,
    batches: AtomicU64,
    ops: AtomicU64,
}

/// The PostgreSQL store. Cheap to share behind an `Arc`.
pub struct PostgresStore {
    config: Arc<Config>,
    runtime: tokio::runtime::Handle,
    readers: Mutex<Vec<Conn>>,
    jobs: tokio::sync::mpsc::UnboundedSender<writer::Job>,
    stats: Arc<Counters>,
    leases: Arc<lease::Leases>,
    commands: tokio::sync::mpsc::UnboundedSender<lease::Command>,
    events: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>>>,
}

/// Idle read connections kept.
const MAX_IDLE_READERS: usize = 8;

impl PostgresStore {
    /// Connects (retrying for `connect_for`), migrates the schema, takes this host's share
    /// of the partition leases, and starts the writer, the lease task and the listener.
    pub async fn open(options: PostgresOptions) -> Result<Arc<Self>, StoreError> {
        options.lease.check()?;
        let mut config: Config = options
            .url
            .parse()
            .map_err(|e| StoreError::Open(format!("the store URL: {e}")))?;
        // Plan every statement for its values and the tables' current size: a plan cached when
        // the tables were empty (a sequential scan) is never replaced as they grow until the
        // first ANALYZE, and made the writer's row lock 4 ms at 20,000 instances.
        let session = match config.get_options() {
            Some(theirs) => format!("{theirs} -c plan_cache_mode=force_custom_plan"),
            None => "-c plan_cache_mode=force_custom_plan".to_owned(),
        };
        config
            .connect_timeout(Duration::from_secs(5))
            .keepalives_idle(Duration::from_secs(10))
            .application_name("durable")
            .options(&session);
        let config = Arc::new(config);
        let mut first = connect_retrying(&config, options.connect_for).await?;
        schema::migrate(&mut first.client).await?;
        let leases = Arc::new(lease::Leases::new(options.lease.host_id.clone()));
        let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
        let mut task = lease::LeaseTask::new(
            Arc::clone(&config),
            options.lease.clone(),
            Arc::clone(&leases),
            events_tx.clone(),
        );
        task.round().await?;
        let (commands, commands_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(task.run(commands_rx));
        tokio::spawn(lease::listen(
            Arc::clone(&config),
            Arc::clone(&leases),
            events_tx,
            commands.clone(),
        ));
        let ctx = writer::Context {
            config: Arc::clone(&config),
            leases: Arc::clone(&leases),
            idle_in_transaction: options.lease.ttl / 2,
        };
        let writer = writer::writer_connection(&ctx).await?;
        drop(first);
        let (jobs, rx) = tokio::sync::mpsc::unbounded_channel();
        let stats = Arc::new(Counters::default());
        let limits = writer::Limits {
            max_ops: options.max_batch_ops.max(1),
            max_bytes: options.max_batch_bytes.max(1),
        };
        tokio::spawn(writer::run(ctx, writer, rx, limits, Arc::clone(&stats)));
        Ok(Arc::new(PostgresStore {
            config,
            runtime: tokio::runtime::Handle::current(),
            readers: Mutex::new(Vec::new()),
            jobs,
            stats,
            leases,
            commands,
            events: Mutex::new(Some(events)),
        }))
    }

    /// Runs `f` on a pooled read connection. Blocks the calling thread, as every [`Store`] read
    /// does: call it through [`super::read`] (a blocking thread), never on an async worker.
    /// A pooled connection that broke since its last use (a restarted server, a terminated
    /// backend) is replaced and the read tried once more.
    fn read<T>(
        &self,
        f: impl AsyncFn(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.runtime.block_on(async {
            let pooled = self.readers.lock().ok().and_then(|mut idle| idle.pop());
            let mut conn = match pooled {
                Some(conn) if !conn.client.is_closed() => conn,
                _ => Conn::connect(&self.config).await?,
            };
            let mut result = f(&mut conn).await;
            if result.is_err() && conn.client.is_closed() {
                conn = Conn::connect(&self.config).await?;
                result = f(&mut conn).await;
            }
            if !conn.client.is_closed()
                && let Ok(mut idle) = self.readers.lock()
                && idle.len() < MAX_IDLE_READERS
            {
                idle.push(conn);
            }
            result
        })
    }
}

/// A connection with the statements prepared on it so far.
pub(super) struct Conn {
    pub client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    pub async fn connect(config: &Config) -> Result<Conn, StoreError> {
        let (client, connection) = config.connect(NoTls).await.map_err(|e| {
            StoreError::Database(format!("connecting to PostgreSQL: {}", describe(&e)))
        })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("a PostgreSQL connection ended: {e}");
            }
        });
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    /// `sql`, prepared once per connection.
    pub async fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).await.map_err(pg_error)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    pub async fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(sql).await?;
        self.client
            .query(&statement, params)
            .await
            .map_err(pg_error)
    }
}

/// Connects, retrying every half second for `patience`, then says why it could not.
async fn connect_retrying(config: &Config, patience: Duration) -> Result<Conn, StoreError> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match Conn::connect(config).await {
            Ok(conn) => return Ok(conn),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(StoreError::Open(format!(
                    "{} (gave up after {patience:?})",
                    e.to_string().trim_start_matches("database error: ")
                )));
            }
            Err(e) => tracing::warn!("{e}; retrying"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A driver error in words: the server's message when it sent one.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let source = std::error::Error::source(e).map(|s| format!(": {s}"));
            format!("{e}{}", source.unwrap_or_default())
        }
    }
}

/// Whether the connection is gone (the server restarted, the link broke, the backend was
/// terminated): the caller reconnects.
pub(super) fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || code.starts_with("57P")
        }
        None => true,
    }
}

pub(super) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    let text = describe(&e);
    match e.code().map(|c| c.code()) {
        Some("40001" | "40P01" | "55P03") => StoreError::Busy(text),
        Some("53100") => StoreError::DiskFull(text),
        Some("25006") => StoreError::ReadOnly(text),
        Some("54000" | "22001") => StoreError::TooBig(text),
        _ if is_connection_error(&e) => {
            StoreError::Database(format!("the connection to PostgreSQL failed: {text}"))
        }
        _ => StoreError::Database(text),
    }
}

/// The columns [`instance_from_row`] reads, in its order.
macro_rules! instance_columns {
    () => {
        "instance_id, execution_id, name, status, input, output, custom_status, \
         orchestrator_digest, created_ms, updated_ms, parent_instance_id, parent_execution_id, \
         parent_task_id, version"
    };
}
pub(super) use instance_columns;

/// The WHERE clause of a list or count: `$1` statuses (empty: all), `$2`/`$3` the creation
/// window, `$4` an id prefix, `$5` an orchestration name.
macro_rules! list_filter {
    // `$entities`: the parameter saying whether entities' rows (`@name@key`) are listed, or
    // orchestrations'.
    ($entities:literal) => {
        concat!(
            "(cardinality($1::text[]) = 0 OR status = ANY($1)) \
             AND ($2::int8 IS NULL OR created_ms >= $2) \
             AND ($3::int8 IS NULL OR created_ms <= $3) \
             AND ($4::text IS NULL OR left(instance_id, char_length($4)) = $4) \
             AND ($5::text IS NULL OR name = $5) \
             AND (left(instance_id, 1) = '@') = ",
            $entities,
            "::bool"
        )
    };
}

fn millis(row: &Row, i: usize) -> u64 {
    row.get::<_, i64>(i).max(0) as u64
}

/// Milliseconds as PostgreSQL's int8.
fn pg_ms(v: Option<u64>) -> Option<i64> {
    v.map(|v| v.min(i64::MAX as u64) as i64)
}

pub(super) fn instance_from_row(row: &Row) -> Result<Instance, StoreError> {
    let status: String = row.get(3);
    let status = RuntimeStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown status {status:?}")))?;
    let parent = match (
        row.get::<_, Option<String>>(10),
        row.get::<_, Option<String>>(11),
        row.get::<_, Option<i64>>(12),
    ) {
        (Some(instance), Some(execution), Some(task)) => Some(ParentRef {
            instance_id: InstanceId::from_trusted(instance),
            execution_id: ExecutionId::from_trusted(execution),
            task_id: TaskId(u32::try_from(task).map_err(|_| {
                StoreError::Corrupt(format!("parent task id {task} is out of range"))
            })?),
        }),
        _ => None,
    };
    Ok(Instance {
        instance_id: InstanceId::from_trusted(row.get(0)),
        execution_id: ExecutionId::from_trusted(row.get(1)),
        name: row.get(2),
        status,
        input: row.get(4),
        output: row.get(5),
        custom_status: row.get(6),
        orchestrator_digest: Digest::from_trusted(row.get(7)),
        created_ms: millis(row, 8),
        updated_ms: millis(row, 9),
        parent,
        version: row.get(13),
    })
}

fn event_kind(data: &str, what: impl FnOnce() -> String) -> Result<EventKind, StoreError> {
    serde_json::from_str(data).map_err(|e| StoreError::Corrupt(format!("{}: {e}", what())))
}

impl Store for PostgresStore {
    fn write(&self, ops: Vec<Op>) -> CommitTicket {
        let (reply, rx) = tokio::sync::oneshot::channel();
        // If the writer is gone the reply sender is dropped and the ticket resolves to WriterGone.
        let _ = self.jobs.send(writer::Job { ops, reply });
        CommitTicket::new(rx)
    }

    fn instance(&self, id: &InstanceId) -> Result<Option<Instance>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances WHERE instance_id = $1"
        );
        let rows = self.read(async |c| c.query(SQL, &[&id.as_str()]).await)?;
        rows.first().map(instance_from_row).transpose()
    }

    fn history(&self, id: &InstanceId) -> Result<Vec<Event>, StoreError> {
        const SQL: &str = "SELECT h.seq, h.timestamp_ms, h.data FROM history h \
             JOIN instances i ON i.instance_id = h.instance_id AND i.execution_id = h.execution_id \
             WHERE h.instance_id = $1 ORDER BY h.seq";
        let rows = self.read(async |c| c.query(SQL, &[&id.as_str()]).await)?;
        rows.iter()
            .map(|row| {
                let seq = millis(row, 0);
                let data: &str = row.get(2);
                Ok(Event {
                    seq,
                    timestamp_ms: millis(row, 1),
                    kind: event_kind(data, || format!("instance '{id}' event {seq}"))?,
                })
            })
            .collect()
    }

    fn unfinished_instances(&self) -> Result<Vec<Instance>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances WHERE status IN ('Pending', 'Running', 'Suspended') \
             ORDER BY created_ms"
        );
        let rows = self.read(async |c| c.query(SQL, &[]).await)?;
        rows.iter().map(instance_from_row).collect()
    }

    fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        const SQL: &str = "SELECT bytes FROM components WHERE digest = $1";
        let rows = self.read(async |c| c.query(SQL, &[&digest]).await)?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn inbox(&self, id: &InstanceId) -> Result<Vec<InboxMessage>, StoreError> {
        const SQL: &str =
            "SELECT msg_id, execution_id, data FROM inbox WHERE instance_id = $1 ORDER BY id";
        let rows = self.read(async |c| c.query(SQL, &[&id.as_str()]).await)?;
        rows.iter()
            .map(|row| {
                let msg_id: String = row.get(0);
                let data: &str = row.get(2);
                Ok(InboxMessage {
                    event: event_kind(data, || format!("inbox message {msg_id}"))?,
                    execution_id: row
                        .get::<_, Option<String>>(1)
                        .map(ExecutionId::from_trusted),
                    msg_id,
                })
            })
            .collect()
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            batches: self.stats.batches.load(Ordering::Relaxed),
            ops: self.stats.ops.load(Ordering::Relaxed),
            fenced: self.leases.fenced.load(Ordering::Relaxed),
            partitions_held: self.leases.valid().len() as u64,
        }
    }

    fn is_local(&self, id: &InstanceId) -> bool {
        self.leases.is_local(id)
    }

    fn partition_is_local(&self, partition: u32) -> bool {
        self.leases.held(partition).is_some()
    }

    fn cluster_events(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>> {
        self.events.lock().ok()?.take()
    }

    fn unfinished_in_partition(&self, partition: u32) -> Result<Vec<Instance>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances WHERE partition = $1 \
             AND status IN ('Pending', 'Running', 'Suspended') ORDER BY created_ms"
        );
        let partition = partition as i32;
        let rows = self.read(async |c| c.query(SQL, &[&partition]).await)?;
        rows.iter().map(instance_from_row).collect()
    }

    fn leave(&self) -> CommitTicket {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let _ = self.commands.send(lease::Command::Leave(reply));
        CommitTicket::new(rx)
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Instance>, StoreError> {
        let sql = if query.newest_first {
            concat!(
                "SELECT ",
                instance_columns!(),
                " FROM instances WHERE ",
                list_filter!("$9"),
                " AND ($6::int8 IS NULL OR (created_ms, instance_id) < ($6, $7::text)) \
                 ORDER BY created_ms DESC, instance_id DESC LIMIT $8"
            )
        } else {
            concat!(
                "SELECT ",
                instance_columns!(),
                " FROM instances WHERE ",
                list_filter!("$9"),
                " AND ($6::int8 IS NULL OR (created_ms, instance_id) > ($6, $7::text)) \
                 ORDER BY created_ms, instance_id LIMIT $8"
            )
        };
        let statuses: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
        let (after_ms, after_id) = match &query.after {
            Some((ms, id)) => (Some(*ms as i64), Some(id.as_str())),
            None => (None, None),
        };
        let limit = query.limit.clamp(1, i64::MAX as usize) as i64;
        let (from, to) = (pg_ms(query.created_from_ms), pg_ms(query.created_to_ms));
        let prefix = query.instance_id_prefix.as_deref();
        let name = query.name.as_deref();
        let rows = self.read(async |c| {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
                &statuses,
                &from,
                &to,
                &prefix,
                &name,
                &after_ms,
                &after_id,
                &limit,
                &query.entities,
            ];
            c.query(sql, &params).await
        })?;
        rows.iter().map(instance_from_row).collect()
    }

    fn count_by_status(&self, query: &ListQuery) -> Result<Vec<(RuntimeStatus, u64)>, StoreError> {
        const SQL: &str = concat!(
            "SELECT status, count(*) FROM instances WHERE ",
            list_filter!("$6"),
            " GROUP BY status ORDER BY status"
        );
        let none: Vec<&str> = Vec::new();
        let (from, to) = (pg_ms(query.created_from_ms), pg_ms(query.created_to_ms));
        let prefix = query.instance_id_prefix.as_deref();
        let name = query.name.as_deref();
        let rows = self.read(async |c| {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
                [&none, &from, &to, &prefix, &name, &query.entities];
            c.query(SQL, &params).await
        })?;
        rows.iter()
            .map(|row| {
                let status: String = row.get(0);
                let n: i64 = row.get(1);
                let status = RuntimeStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown status {status:?}")))?;
                Ok((status, n as u64))
            })
            .collect()
    }

    fn components(&self) -> Result<Vec<StoredComponent>, StoreError> {
        const SQL: &str = "SELECT digest, kind, names, size, added_ms FROM components \
             ORDER BY added_ms, digest";
        let rows = self.read(async |c| c.query(SQL, &[]).await)?;
        rows.iter()
            .map(|row| {
                let digest = Digest::from_trusted(row.get(0));
                let names: &str = row.get(2);
                Ok(StoredComponent {
                    kind: component_kind(row.get(1))?,
                    names: serde_json::from_str(names).map_err(|e| {
                        StoreError::Corrupt(format!("component {digest} names: {e}"))
                    })?,
                    size: millis(row, 3),
                    added_ms: millis(row, 4),
                    digest,
                })
            })
            .collect()
    }

    fn routes(&self) -> Result<Vec<Route>, StoreError> {
        const SQL: &str = "SELECT kind, name, digest, activated_ms FROM routes ORDER BY kind, name";
        let rows = self.read(async |c| c.query(SQL, &[]).await)?;
        rows.iter()
            .map(|row| {
                Ok(Route {
                    kind: component_kind(row.get(0))?,
                    name: row.get(1),
                    digest: Digest::from_trusted(row.get(2)),
                    activated_ms: millis(row, 3),
                })
            })
            .collect()
    }
}

fn component_kind(text: &str) -> Result<ComponentKind, StoreError> {
    ComponentKind::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown component kind {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        // The same ids land in the same partitions on every host and version.
        let id = |s: &str| InstanceId::parse(s).unwrap();
        assert_eq!(partition_of(&id("a")), partition_of(&id("a")));
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            let p = partition_of(&id(&format!("order-{i}")));
            assert!((0..PARTITIONS).contains(&p));
            seen.insert(p);
        }
        assert_eq!(
            seen.len(),
            PARTITIONS as usize,
            "every partition gets instances"
        );
    }
}
