//! Numbered schema migrations for PostgreSQL, tracked in `durable_schema`. Hosts starting at
//! once take turns (an advisory lock held for the migration's transaction).

use tokio_postgres::Client;

use super::pg_error;
use crate::store::StoreError;

/// Migration `i` (1-based) takes the schema from version `i - 1` to `i`. Append only: never
/// edit a migration that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: the SQLite schema's tables (instances with their partition, histories, the durable
    // inbox, content-addressed components, routes).
    r#"
    CREATE TABLE instances (
        instance_id         TEXT PRIMARY KEY,
        execution_id        TEXT NOT NULL,
        name                TEXT NOT NULL,
        status              TEXT NOT NULL,
        input               TEXT NOT NULL,
        output              TEXT,
        custom_status       TEXT,
        orchestrator_digest TEXT NOT NULL,
        created_ms          BIGINT NOT NULL,
        updated_ms          BIGINT NOT NULL,
        parent_instance_id  TEXT,
        parent_execution_id TEXT,
        parent_task_id      BIGINT,
        partition           INTEGER NOT NULL
    );
    CREATE INDEX instances_by_status ON instances (status, created_ms);
    CREATE INDEX instances_by_created ON instances (created_ms, instance_id);
    CREATE INDEX instances_unfinished ON instances (partition, created_ms)
        WHERE status IN ('Pending', 'Running', 'Suspended');

    CREATE TABLE history (
        instance_id  TEXT NOT NULL,
        seq          BIGINT NOT NULL,
        execution_id TEXT NOT NULL,
        timestamp_ms BIGINT NOT NULL,
        event_type   TEXT NOT NULL,
        data         TEXT NOT NULL,
        PRIMARY KEY (instance_id, seq)
    );

    CREATE TABLE inbox (
        id           BIGSERIAL PRIMARY KEY,
        msg_id       TEXT NOT NULL UNIQUE,
        instance_id  TEXT NOT NULL,
        execution_id TEXT,
        data         TEXT NOT NULL,
        created_ms   BIGINT NOT NULL
    );
    CREATE INDEX inbox_by_instance ON inbox (instance_id, id);

    CREATE TABLE components (
        digest   TEXT PRIMARY KEY,
        kind     TEXT NOT NULL,
        size     BIGINT NOT NULL,
        bytes    BYTEA NOT NULL,
        added_ms BIGINT NOT NULL,
        names    TEXT NOT NULL
    );

    CREATE TABLE routes (
        kind         TEXT NOT NULL,
        name         TEXT NOT NULL,
        digest       TEXT NOT NULL,
        activated_ms BIGINT NOT NULL,
        PRIMARY KEY (kind, name)
    );

    -- One row per committed group, so a writer whose connection broke while its COMMIT was
    -- in flight can learn whether it took effect. Old rows are deleted as it goes.
    CREATE TABLE group_commits (
        token      TEXT PRIMARY KEY,
        written_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    "#,
    // 2: partition leases (an epoch per lease, bumped on every acquisition: the fencing token
    // every actor write checks) and the hosts sharing the database (a heartbeat each).
    r#"
    CREATE TABLE partitions (
        id         INTEGER PRIMARY KEY,
        owner      TEXT,
        epoch      BIGINT NOT NULL DEFAULT 0,
        expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
    );
    INSERT INTO partitions (id) SELECT generate_series(0, 63);

    CREATE TABLE hosts (
        id           TEXT PRIMARY KEY,
        heartbeat_at TIMESTAMPTZ NOT NULL,
        started_at   TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    "#,
    // 3: the orchestration's version (Durable Functions' orchestration versioning).
    r#"
    ALTER TABLE instances ADD COLUMN version TEXT;
    "#,
];

/// Any number: the advisory lock's key, shared by every durable host on the database.
const MIGRATION_LOCK: i64 = 0x6475_7261_626c_6531;

/// Brings the database to the latest schema in one transaction; refuses a newer one.
pub async fn migrate(client: &mut Client) -> Result<u32, StoreError> {
    let latest = MIGRATIONS.len() as u32;
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS durable_schema (version INTEGER NOT NULL)")
        .await
        .map_err(pg_error)?;
    let row = tx
        .query_opt("SELECT version FROM durable_schema", &[])
        .await
        .map_err(pg_error)?;
    let current = row.map_or(0, |r| r.get::<_, i32>(0)) as u32;
    if current > latest {
        return Err(StoreError::Open(format!(
            "database schema version {current} is newer than this binary supports ({latest}); upgrade durable"
        )));
    }
    for sql in &MIGRATIONS[current as usize..] {
        tx.batch_execute(sql).await.map_err(pg_error)?;
    }
    if current < latest {
        tx.execute("DELETE FROM durable_schema", &[])
            .await
            .map_err(pg_error)?;
        tx.execute(
            "INSERT INTO durable_schema (version) VALUES ($1)",
            &[&(latest as i32)],
        )
        .await
        .map_err(pg_error)?;
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(latest)
}
