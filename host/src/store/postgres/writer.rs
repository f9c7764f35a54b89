//! The writer task: group commit. Batches queued while a transaction runs form the next group;
//! a group is one transaction of two round trips (lock and read the rows it touches; write its
//! net effect and commit, pipelined), whatever its size. If the database refuses the group's
//! statements (a key that already exists), each batch runs alone so that each gets its own
//! truthful answer; if the connection is lost, every batch of the group is told so (a
//! retriable error) and the next group reconnects.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Config;
use tokio_postgres::types::ToSql;

use super::fence::{self, Notices};
use super::lease::Leases;
use super::plan::{ComponentRow, Net, Plan, touched};
use super::{Conn, Counters, instance_columns, instance_from_row, is_connection_error, pg_error};
use crate::store::{Instance, Op, StoreError};

pub(super) struct Job {
    pub ops: Vec<Op>,
    pub reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Bounds on one group (a job always goes, even alone over them).
pub(super) struct Limits {
    pub max_ops: usize,
    pub max_bytes: usize,
}

/// What every transaction of the writer needs besides its connection.
pub(super) struct Context {
    pub config: Arc<Config>,
    pub leases: Arc<Leases>,
    /// The server ends a writer session that sits in a transaction this long (a paused host
    /// must not hold its partitions' rows locked against the host taking them over).
    pub idle_in_transaction: std::time::Duration,
}

/// Why a group's transaction did not commit.
enum GroupError {
    /// The database answered with an error: the batches may each succeed alone.
    Statement(tokio_postgres::Error),
    /// The connection is gone (or unusable): reconnect.
    Connection(StoreError),
    /// The connection broke after the commit was sent: it may have taken effect (with these
    /// results) or not.
    InDoubt(StoreError, Vec<Result<(), StoreError>>),
    /// A stored row could not be read.
    Store(StoreError),
}

impl From<tokio_postgres::Error> for GroupError {
    fn from(e: tokio_postgres::Error) -> Self {
        if is_connection_error(&e) {
            GroupError::Connection(pg_error(e))
        } else {
            GroupError::Statement(e)
        }
    }
}

/// Commit tokens are kept long enough for any writer to settle an in-doubt commit.
const PRUNE: &str = "DELETE FROM group_commits WHERE written_at < now() - interval '10 minutes'";
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

pub(super) async fn run(
    ctx: Context,
    first: Conn,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    limits: Limits,
    stats: Arc<Counters>,
) {
    let mut conn = Some(first);
    let mut carried: Option<Job> = None;
    let mut pruned = tokio::time::Instant::now();
    loop {
        if pruned.elapsed() >= PRUNE_EVERY
            && let Some(c) = conn.as_mut()
        {
            pruned = tokio::time::Instant::now();
            if let Err(e) = c.client.batch_execute(PRUNE).await {
                tracing::warn!("pruning old commit tokens: {}", pg_error(e));
            }
        }
        let job = match carried.take() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let group = gather(job, &mut jobs, &limits, &mut carried);
        let results = commit(&mut conn, &ctx, &group).await;
        let fenced = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Fenced { .. })))
            .count();
        ctx.leases
            .fenced
            .fetch_add(fenced as u64, Ordering::Relaxed);
        stats
            .batches
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        let ops: usize = group.iter().map(|j| j.ops.len()).sum();
        stats.ops.fetch_add(ops as u64, Ordering::Relaxed);
        for (job, result) in group.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
        let committed = u64::from(conn.is_some());
        stats.commits.fetch_add(committed, Ordering::Relaxed);
    }
}

/// `first` and the jobs already queued behind it, within the limits; the one that would go
/// over is carried to the next group.
fn gather(
    first: Job,
    jobs: &mut mpsc::UnboundedReceiver<Job>,
    limits: &Limits,
    carried: &mut Option<Job>,
) -> Vec<Job> {
    let size = |job: &Job| -> usize { job.ops.iter().map(Op::approx_bytes).sum() };
    let (mut ops, mut bytes) = (first.ops.len(), size(&first));
    let mut group = vec![first];
    while let Ok(job) = jobs.try_recv() {
        let (more_ops, more_bytes) = (job.ops.len(), size(&job));
        if ops + more_ops > limits.max_ops || bytes + more_bytes > limits.max_bytes {
            *carried = Some(job);
            break;
        }
        ops += more_ops;
        bytes += more_bytes;
        group.push(job);
    }
    group
}

/// Commits the group (or each of its jobs alone); one result per job.
async fn commit(
    conn: &mut Option<Conn>,
    ctx: &Context,
    group: &[Job],
) -> Vec<Result<(), StoreError>> {
    let all = |e: StoreError| group.iter().map(|_| Err(e.clone())).collect();
    let config = &ctx.config;
    if conn.is_none() {
        match writer_connection(ctx).await {
            Ok(fresh) => *conn = Some(fresh),
            Err(e) => return all(e),
        }
    }
    let Some(c) = conn.as_mut() else {
        return all(StoreError::WriterGone);
    };
    let batches: Vec<&[Op]> = group.iter().map(|j| j.ops.as_slice()).collect();
    let token = uuid::Uuid::new_v4().to_string();
    match transaction(c, &batches, &token, &ctx.leases).await {
        Ok(results) => results,
        Err(GroupError::InDoubt(e, results)) => {
            *conn = None;
            match settle(config, &token).await {
                Some(true) => results,
                Some(false) => all(e),
                None => all(StoreError::Database(format!(
                    "{e}; whether the last transaction committed could not be checked"
                ))),
            }
        }
        Err(GroupError::Connection(e)) => {
            *conn = None;
            all(e)
        }
        Err(GroupError::Store(e)) => all(e),
        Err(GroupError::Statement(e)) if group.len() == 1 => vec![Err(refused(e))],
        Err(GroupError::Statement(_)) => {
            let mut results = Vec::with_capacity(group.len());
            for ops in &batches {
                results.push(alone(conn, ctx, ops).await);
            }
            results
        }
    }
}

/// A new connection for the writer.
pub(super) async fn writer_connection(ctx: &Context) -> Result<Conn, StoreError> {
    let fresh = Conn::connect(&ctx.config).await?;
    let idle = ctx.idle_in_transaction.as_millis().max(100);
    let setup = format!("SET idle_in_transaction_session_timeout = {idle}");
    fresh.client.batch_execute(&setup).await.map_err(pg_error)?;
    Ok(fresh)
}

/// How long a writer whose connection broke mid-commit keeps trying to learn the outcome.
const SETTLE_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// After the connection broke while a COMMIT was in flight: reconnects and looks for the
/// group's token. `None` if the database could not be reached in time.
async fn settle(config: &Config, token: &str) -> Option<bool> {
    const FIND: &str = "SELECT 1 FROM group_commits WHERE token = $1";
    let deadline = tokio::time::Instant::now() + SETTLE_FOR;
    while tokio::time::Instant::now() < deadline {
        if let Ok(mut fresh) = Conn::connect(config).await
            && let Ok(rows) = fresh.query(FIND, &[&token]).await
        {
            // The next group connects afresh, taking the database again.
            return Some(!rows.is_empty());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    None
}

/// One job in a transaction of its own (after its group was refused).
async fn alone(conn: &mut Option<Conn>, ctx: &Context, ops: &[Op]) -> Result<(), StoreError> {
    let Some(c) = conn.as_mut() else {
        return Err(StoreError::WriterGone);
    };
    let token = uuid::Uuid::new_v4().to_string();
    match transaction(c, &[ops], &token, &ctx.leases).await {
        Ok(mut results) => results.pop().unwrap_or(Ok(())),
        Err(GroupError::InDoubt(e, mut results)) => {
            *conn = None;
            match settle(&ctx.config, &token).await {
                Some(true) => results.pop().unwrap_or(Ok(())),
                _ => Err(e),
            }
        }
        Err(GroupError::Connection(e)) => {
            *conn = None;
            Err(e)
        }
        Err(GroupError::Store(e)) => Err(e),
        Err(GroupError::Statement(e)) => Err(refused(e)),
    }
}

/// The error a job gets when the database refused its statements: a second write of a history
/// event is the SQLite store's `HistoryConflict`.
fn refused(e: tokio_postgres::Error) -> StoreError {
    let conflict = e
        .as_db_error()
        .filter(|db| db.constraint() == Some("history_pkey"))
        .and_then(|db| {
            let detail = db.detail()?;
            let values = detail.split_once(")=(")?.1.split_once(") already")?.0;
            let (instance, seq) = values.rsplit_once(", ")?;
            Some((instance.to_owned(), seq.parse().ok()?))
        });
    match conflict {
        Some((instance, seq)) => StoreError::HistoryConflict { instance, seq },
        None => pg_error(e),
    }
}

/// The group's transaction: lock and read the rows (and the leases its actor writes need),
/// plan, write the net effect and its notifications, commit.
async fn transaction(
    c: &mut Conn,
    batches: &[&[Op]],
    token: &str,
    leases: &Leases,
) -> Result<Vec<Result<(), StoreError>>, GroupError> {
    const LOCK: &str = concat!(
        "SELECT ",
        instance_columns!(),
        " FROM instances WHERE instance_id = ANY($1) ORDER BY instance_id FOR UPDATE"
    );
    let claims: Vec<_> = batches
        .iter()
        .map(|ops| fence::claims(leases, ops))
        .collect();
    let mut partitions: Vec<i32> = claims.iter().flatten().flatten().map(|c| c.0).collect();
    partitions.sort_unstable();
    partitions.dedup();
    let ids = touched(batches);
    let keys: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
    let lock = c.statement(LOCK).await.map_err(GroupError::Connection)?;
    let check = c
        .statement(fence::CHECK)
        .await
        .map_err(GroupError::Connection)?;
    let lock_params: [&(dyn ToSql + Sync); 1] = [&keys];
    let check_params: [&(dyn ToSql + Sync); 1] = [&partitions];
    let (begun, rows, leased) = tokio::join!(
        c.client.batch_execute("BEGIN"),
        c.client.query(&lock, &lock_params),
        c.client.query(&check, &check_params)
    );
    let (rows, leased) = match (begun, rows, leased) {
        (Ok(()), Ok(rows), Ok(leased)) => (rows, leased),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return Err(rollback(c, e.into()).await);
        }
    };
    let leased: fence::Rows = leased
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let stored: Result<Vec<Instance>, StoreError> = rows.iter().map(instance_from_row).collect();
    let stored = match stored {
        Ok(stored) => stored,
        Err(e) => return Err(rollback(c, GroupError::Store(e)).await),
    };
    let mut plan = Plan::new(&ids, stored);
    let mut notices = Notices::default();
    let results: Vec<Result<(), StoreError>> = batches
        .iter()
        .zip(claims)
        .map(|(ops, claims)| {
            fence::confirmed(&leases.host, &leased, &claims?)?;
            plan.batch(ops)?;
            notices.add(leases, ops);
            Ok(())
        })
        .collect();
    match write_net(c, &plan.net, &notices, token).await {
        Ok(()) => Ok(results),
        Err(GroupError::Connection(e)) => Err(GroupError::InDoubt(e, results)),
        Err(e) => Err(rollback(c, e).await),
    }
}

/// Ends a failed transaction (harmless when the server already did), keeping the first error.
async fn rollback(c: &mut Conn, error: GroupError) -> GroupError {
    if !matches!(error, GroupError::Connection(_)) {
        let _ = c.client.batch_execute("ROLLBACK").await;
    }
    error
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// The net effect's statements and the commit, sent in one go (the server runs them in order;
/// the first failure aborts the transaction, and the commit then only rolls it back).
async fn write_net(
    c: &mut Conn,
    net: &Net,
    notices: &Notices,
    token: &str,
) -> Result<(), GroupError> {
    let columns = Columns::of(net).map_err(GroupError::Store)?;
    let mut prepared = Vec::new();
    for statement in Statement::ALL {
        if statement.present(net) {
            let sql = statement.sql();
            let ready = c.statement(sql).await.map_err(GroupError::Connection)?;
            prepared.push((statement, ready));
        }
    }
    let insert_component = match net.components.is_empty() {
        true => None,
        false => Some(
            c.statement(INSERT_COMPONENT)
                .await
                .map_err(GroupError::Connection)?,
        ),
    };
    let sizes: Vec<i64> = net
        .components
        .iter()
        .map(|r| r.bytes.len() as i64)
        .collect();
    let mark = c
        .statement(MARK_COMMIT)
        .await
        .map_err(GroupError::Connection)?;
    let notify = match notices.is_empty() {
        true => None,
        false => Some(
            c.statement(fence::NOTIFY)
                .await
                .map_err(GroupError::Connection)?,
        ),
    };
    let client = &c.client;
    let mut pending: Vec<Pending<'_>> = Vec::new();
    for (statement, ready) in &prepared {
        let params = columns.params(*statement);
        pending.push(Box::pin(
            async move { client.execute(ready, &params).await },
        ));
    }
    if let Some(insert) = &insert_component {
        for (row, size) in net.components.iter().zip(&sizes) {
            pending.push(Box::pin(insert_component_row(client, insert, row, *size)));
        }
    }
    if let Some(notify) = &notify {
        let (channels, payloads) = (&notices.channels, &notices.payloads);
        pending.push(Box::pin(async move {
            client.query(notify, &[channels, payloads]).await.map(|_| 0)
        }));
    }
    let mark = &mark;
    pending.push(Box::pin(
        async move { client.execute(mark, &[&token]).await },
    ));
    pending.push(Box::pin(async move { client.execute("COMMIT", &[]).await }));
    let results = futures_util::future::join_all(pending).await;
    match results.into_iter().find_map(Result::err) {
        None => Ok(()),
        Some(e) => Err(e.into()),
    }
}

const MARK_COMMIT: &str = "INSERT INTO group_commits (token) VALUES ($1)";

const INSERT_COMPONENT: &str = "INSERT INTO components (digest, kind, size, bytes, added_ms, names) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (digest) DO NOTHING";

async fn insert_component_row(
    client: &tokio_postgres::Client,
    insert: &tokio_postgres::Statement,
    row: &ComponentRow,
    size: i64,
) -> Result<u64, tokio_postgres::Error> {
    let names = serde_json::to_string(&row.names).unwrap_or_else(|_| "[]".into());
    let bytes: &[u8] = &row.bytes;
    let added = row.added_ms as i64;
    let params: [&(dyn ToSql + Sync); 6] = [
        &row.digest.as_str(),
        &row.kind.as_str(),
        &size,
        &bytes,
        &added,
        &names,
    ];
    client.execute(insert, &params).await
}

/// The set-based statements a group's net effect may need, in the order they must run.
#[derive(Debug, Clone, Copy)]
enum Statement {
    ResetHistory,
    WipeInbox,
    DeleteMessages,
    DeleteRows,
    UpsertRows,
    InsertHistory,
    InsertMessages,
    UpsertRoutes,
}

impl Statement {
    const ALL: [Statement; 8] = [
        Statement::ResetHistory,
        Statement::WipeInbox,
        Statement::DeleteMessages,
        Statement::DeleteRows,
        Statement::UpsertRows,
        Statement::InsertHistory,
        Statement::InsertMessages,
        Statement::UpsertRoutes,
    ];

    fn present(self, net: &Net) -> bool {
        match self {
            Statement::ResetHistory => !net.history_reset.is_empty(),
            Statement::WipeInbox => !net.inbox_wipe.is_empty(),
            Statement::DeleteMessages => !net.inbox_delete.is_empty(),
            Statement::DeleteRows => net.rows.values().any(Option::is_none),
            Statement::UpsertRows => net.rows.values().any(Option::is_some),
            Statement::InsertHistory => !net.events.is_empty(),
            Statement::InsertMessages => !net.inbox_add.is_empty(),
            Statement::UpsertRoutes => !net.routes.is_empty(),
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Statement::ResetHistory => "DELETE FROM history WHERE instance_id = ANY($1)",
            Statement::WipeInbox => "DELETE FROM inbox WHERE instance_id = ANY($1)",
            Statement::DeleteMessages => "DELETE FROM inbox WHERE msg_id = ANY($1)",
            Statement::DeleteRows => "DELETE FROM instances WHERE instance_id = ANY($1)",
            Statement::UpsertRows => concat!(
                "INSERT INTO instances (",
                instance_columns!(),
                ", partition) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], \
                 $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], \
                 $10::int8[], $11::text[], $12::text[], $13::int8[], $14::text[], $15::int4[]) \
                 ON CONFLICT (instance_id) DO UPDATE SET execution_id = EXCLUDED.execution_id, \
                 name = EXCLUDED.name, status = EXCLUDED.status, input = EXCLUDED.input, \
                 output = EXCLUDED.output, custom_status = EXCLUDED.custom_status, \
                 orchestrator_digest = EXCLUDED.orchestrator_digest, \
                 created_ms = EXCLUDED.created_ms, updated_ms = EXCLUDED.updated_ms, \
                 parent_instance_id = EXCLUDED.parent_instance_id, \
                 parent_execution_id = EXCLUDED.parent_execution_id, \
                 parent_task_id = EXCLUDED.parent_task_id, version = EXCLUDED.version"
            ),
            Statement::InsertHistory => {
                "INSERT INTO history (instance_id, seq, execution_id, timestamp_ms, event_type, data) \
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[], $5::text[], \
                 $6::text[])"
            }
            Statement::InsertMessages => {
                "INSERT INTO inbox (msg_id, instance_id, execution_id, data, created_ms) \
                 SELECT m, i, e, d, c FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
                 $5::int8[]) WITH ORDINALITY AS t(m, i, e, d, c, n) ORDER BY n"
            }
            Statement::UpsertRoutes => {
                "INSERT INTO routes (kind, name, digest, activated_ms) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[]) \
                 ON CONFLICT (kind, name) DO UPDATE SET digest = EXCLUDED.digest, \
                 activated_ms = EXCLUDED.activated_ms"
            }
        }
    }
}

/// The net effect as column arrays, the statements' parameters.
#[derive(Default)]
struct Columns<'a> {
    reset: Vec<&'a str>,
    wipe: Vec<&'a str>,
    consumed: Vec<&'a str>,
    deleted: Vec<&'a str>,
    rows: RowColumns<'a>,
    history: HistoryColumns<'a>,
    inbox: InboxColumns<'a>,
    routes: (Vec<&'static str>, Vec<&'a str>, Vec<&'a str>, Vec<i64>),
}

#[derive(Default)]
struct RowColumns<'a> {
    id: Vec<&'a str>,
    execution: Vec<&'a str>,
    name: Vec<&'a str>,
    status: Vec<&'static str>,
    input: Vec<&'a str>,
    output: Vec<Option<&'a str>>,
    custom: Vec<Option<&'a str>>,
    digest: Vec<&'a str>,
    created: Vec<i64>,
    updated: Vec<i64>,
    parent: Vec<Option<&'a str>>,
    parent_execution: Vec<Option<&'a str>>,
    parent_task: Vec<Option<i64>>,
    version: Vec<Option<&'a str>>,
    partition: Vec<i32>,
}

#[derive(Default)]
struct HistoryColumns<'a> {
    id: Vec<&'a str>,
    seq: Vec<i64>,
    execution: Vec<&'a str>,
    timestamp: Vec<i64>,
    kind: Vec<&'static str>,
    data: Vec<String>,
}

#[derive(Default)]
struct InboxColumns<'a> {
    msg: Vec<&'a str>,
    id: Vec<&'a str>,
    execution: Vec<Option<&'a str>>,
    data: Vec<String>,
    created: Vec<i64>,
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl<'a> Columns<'a> {
    fn of(net: &'a Net) -> Result<Self, StoreError> {
        let ids = |set: &'a std::collections::HashSet<crate::ids::InstanceId>| {
            set.iter().map(|id| id.as_str()).collect::<Vec<_>>()
        };
        let mut columns = Columns {
            reset: ids(&net.history_reset),
            wipe: ids(&net.inbox_wipe),
            consumed: net.inbox_delete.iter().map(String::as_str).collect(),
            ..Columns::default()
        };
        for (id, row) in &net.rows {
            match row {
                Some(row) => columns.rows.push(row),
                None => columns.deleted.push(id.as_str()),
            }
        }
        for (id, execution, event) in &net.events {
            let h = &mut columns.history;
            h.id.push(id.as_str());
            h.seq.push(event.seq as i64);
            h.execution.push(execution.as_str());
            h.timestamp.push(event.timestamp_ms as i64);
            h.kind.push(event.kind.type_name());
            h.data.push(json(&event.kind)?);
        }
        for (id, message, created_ms) in &net.inbox_add {
            let m = &mut columns.inbox;
            m.msg.push(&message.msg_id);
            m.id.push(id.as_str());
            m.execution
                .push(message.execution_id.as_ref().map(|e| e.as_str()));
            m.data.push(json(&message.event)?);
            m.created.push(*created_ms as i64);
        }
        for route in &net.routes {
            let r = &mut columns.routes;
            r.0.push(route.kind.as_str());
            r.1.push(&route.name);
            r.2.push(route.digest.as_str());
            r.3.push(route.activated_ms as i64);
        }
        Ok(columns)
    }

    fn params(&self, statement: Statement) -> Vec<&(dyn ToSql + Sync)> {
        let (r, h, m) = (&self.rows, &self.history, &self.inbox);
        match statement {
            Statement::ResetHistory => vec![&self.reset],
            Statement::WipeInbox => vec![&self.wipe],
            Statement::DeleteMessages => vec![&self.consumed],
            Statement::DeleteRows => vec![&self.deleted],
            Statement::UpsertRows => vec![
                &r.id,
                &r.execution,
                &r.name,
                &r.status,
                &r.input,
                &r.output,
                &r.custom,
                &r.digest,
                &r.created,
                &r.updated,
                &r.parent,
                &r.parent_execution,
                &r.parent_task,
                &r.version,
                &r.partition,
            ],
            Statement::InsertHistory => {
                vec![&h.id, &h.seq, &h.execution, &h.timestamp, &h.kind, &h.data]
            }
            Statement::InsertMessages => vec![&m.msg, &m.id, &m.execution, &m.data, &m.created],
            Statement::UpsertRoutes => {
                let r = &self.routes;
                vec![&r.0, &r.1, &r.2, &r.3]
            }
        }
    }
}

impl<'a> RowColumns<'a> {
    fn push(&mut self, row: &'a Instance) {
        self.id.push(row.instance_id.as_str());
        self.execution.push(row.execution_id.as_str());
        self.name.push(&row.name);
        self.status.push(row.status.as_str());
        self.input.push(&row.input);
        self.output.push(row.output.as_deref());
        self.custom.push(row.custom_status.as_deref());
        self.digest.push(row.orchestrator_digest.as_str());
        self.created.push(row.created_ms as i64);
        self.updated.push(row.updated_ms as i64);
        let parent = row.parent.as_ref();
        self.parent.push(parent.map(|p| p.instance_id.as_str()));
        self.parent_execution
            .push(parent.map(|p| p.execution_id.as_str()));
        self.parent_task
            .push(parent.map(|p| i64::from(p.task_id.0)));
        self.version.push(row.version.as_deref());
        self.partition
            .push(super::partition_of(&row.instance_id) as i32);
    }
}
