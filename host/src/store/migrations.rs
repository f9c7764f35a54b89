//! Numbered schema migrations, tracked with SQLite's `user_version`.

use rusqlite::Connection;

use super::StoreError;

/// Migration `i` (1-based) takes the schema from version `i - 1` to `i`. Append only: never edit
/// a migration that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: instances, their histories, and content-addressed components.
    r#"
    CREATE TABLE instances (
        instance_id         TEXT PRIMARY KEY NOT NULL,
        execution_id        TEXT NOT NULL,
        name                TEXT NOT NULL,
        status              TEXT NOT NULL,
        input               TEXT NOT NULL,
        output              TEXT,
        custom_status       TEXT,
        orchestrator_digest TEXT NOT NULL,
        created_ms          INTEGER NOT NULL,
        updated_ms          INTEGER NOT NULL
    );
    CREATE INDEX instances_by_status ON instances (status, created_ms);

    CREATE TABLE history (
        instance_id  TEXT NOT NULL,
        seq          INTEGER NOT NULL,
        execution_id TEXT NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        event_type   TEXT NOT NULL,
        data         TEXT NOT NULL,
        PRIMARY KEY (instance_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE components (
        digest   TEXT PRIMARY KEY NOT NULL,
        kind     TEXT NOT NULL,
        size     INTEGER NOT NULL,
        bytes    BLOB NOT NULL,
        added_ms INTEGER NOT NULL
    );
    "#,
    // 2: durable inbox (external events, child completions) and the parent of sub-orchestrations.
    r#"
    ALTER TABLE instances ADD COLUMN parent_instance_id TEXT;
    ALTER TABLE instances ADD COLUMN parent_execution_id TEXT;
    ALTER TABLE instances ADD COLUMN parent_task_id INTEGER;

    CREATE TABLE inbox (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        msg_id      TEXT NOT NULL UNIQUE,
        instance_id TEXT NOT NULL,
        -- Set when the message belongs to one execution (a child's completion); NULL for events.
        execution_id TEXT,
        data        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE INDEX inbox_by_instance ON inbox (instance_id, id);
    "#,
    // 3: which component serves each name (hot swap), kept across restarts.
    r#"
    ALTER TABLE components ADD COLUMN names TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE routes (
        kind         TEXT NOT NULL,
        name         TEXT NOT NULL,
        digest       TEXT NOT NULL,
        activated_ms INTEGER NOT NULL,
        PRIMARY KEY (kind, name)
    );
    "#,
    // 4: the list's default order (by creation, newest or oldest first) without a sort.
    r#"
    CREATE INDEX instances_by_created ON instances (created_ms, instance_id);
    "#,
    // 5: the orchestration's version (Durable Functions' orchestration versioning).
    r#"
    ALTER TABLE instances ADD COLUMN version TEXT;
    "#,
];

/// Brings the database to the latest schema; each step is one transaction.
pub fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let latest = MIGRATIONS.len() as u32;
    if current > latest {
        return Err(StoreError::Open(format!(
            "database schema version {current} is newer than this binary supports ({latest}); upgrade durable"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)?;
        tx.commit()?;
    }
    Ok(latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_in_order_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len() as u32);
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len() as u32);
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as u32);
        for table in ["instances", "history", "components", "inbox", "routes"] {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "table {table} missing");
        }
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
