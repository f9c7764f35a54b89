//! The SQLite store's writes: each [`Op`] applied inside the writer's open transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::{ComponentKind, InboxMessage, Instance, InstanceUpdate, Op, StoreError};
use crate::engine::{Event, RuntimeStatus};
use crate::ids::{ExecutionId, InstanceId};

pub(super) fn apply_op(conn: &Connection, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::CreateInstance { instance, started } => create_instance(conn, instance, started),
        Op::CreateChild { instance, started } => {
            if instance_status(conn, &instance.instance_id)?.is_some() {
                return Ok(());
            }
            insert_instance(conn, instance)?;
            insert_event(conn, &instance.instance_id, &instance.execution_id, started)
        }
        Op::Append {
            instance_id,
            execution_id,
            events,
            consumed,
            update,
        } => append(conn, (instance_id, execution_id), events, consumed, update),
        Op::Enqueue {
            instance_id,
            message,
            required,
            created_ms,
        } => enqueue(conn, instance_id, message, *required, *created_ms),
        Op::Rewind {
            instance_id,
            execution_id,
            event,
            updated_ms,
        } => rewind(conn, instance_id, execution_id, event, *updated_ms),
        Op::Purge {
            instance_id,
            required,
        } => purge(conn, instance_id, *required),
        Op::ContinueAsNew {
            instance_id,
            from_execution,
            execution_id,
            input,
            started,
            consumed,
            updated_ms,
        } => {
            let executions = (from_execution, execution_id);
            continue_as_new(
                conn,
                instance_id,
                executions,
                input,
                started,
                consumed,
                *updated_ms,
            )
        }
        Op::PutComponent {
            digest,
            kind,
            names,
            bytes,
            added_ms,
        } => put_component(conn, (digest.as_str(), *kind), names, bytes, *added_ms),
        Op::Activate {
            kind,
            names,
            digest,
            activated_ms,
        } => {
            for name in names {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO routes (kind, name, digest, activated_ms) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![kind, name, digest, *activated_ms as i64])?;
            }
            Ok(())
        }
    }
}

/// A turn: its events, the inbox messages it consumed, the row's new state (an end also
/// empties the inbox).
fn append(
    conn: &Connection,
    (instance_id, execution_id): (&InstanceId, &ExecutionId),
    events: &[Event],
    consumed: &[String],
    update: &InstanceUpdate,
) -> Result<(), StoreError> {
    for event in events {
        insert_event(conn, instance_id, execution_id, event)?;
    }
    delete_inbox(conn, consumed)?;
    if update.status.is_some_and(RuntimeStatus::is_terminal) {
        conn.prepare_cached("DELETE FROM inbox WHERE instance_id = ?1")?
            .execute([instance_id.as_str()])?;
    }
    update_instance(conn, instance_id, execution_id, update)
}

/// A new instance; an id may be reused once its instance has finished (its rows go).
fn create_instance(
    conn: &Connection,
    instance: &Instance,
    started: &Event,
) -> Result<(), StoreError> {
    if let Some(status) = instance_status(conn, &instance.instance_id)? {
        if !status.is_terminal() {
            return Err(StoreError::InstanceExists(instance.instance_id.to_string()));
        }
        conn.prepare_cached("DELETE FROM history WHERE instance_id = ?1")?
            .execute([instance.instance_id.as_str()])?;
        conn.prepare_cached("DELETE FROM inbox WHERE instance_id = ?1")?
            .execute([instance.instance_id.as_str()])?;
    }
    insert_instance(conn, instance)?;
    insert_event(conn, &instance.instance_id, &instance.execution_id, started)
}

/// A message for an unfinished instance (refused, or with `required` skipped, otherwise).
fn enqueue(
    conn: &Connection,
    instance_id: &InstanceId,
    message: &InboxMessage,
    required: bool,
    created_ms: u64,
) -> Result<(), StoreError> {
    let refusal = match instance_status(conn, instance_id)? {
        None => Some(StoreError::NoSuchInstance(instance_id.to_string())),
        Some(s) if s.is_terminal() => Some(StoreError::InstanceFinished(instance_id.to_string())),
        Some(_) => None,
    };
    match refusal {
        Some(e) if required => return Err(e),
        Some(_) => return Ok(()),
        None => {}
    }
    let data =
        serde_json::to_string(&message.event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO inbox (msg_id, instance_id, execution_id, data, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        message.msg_id,
        instance_id.as_str(),
        message.execution_id.as_ref().map(ExecutionId::as_str),
        data,
        created_ms as i64
    ])?;
    Ok(())
}

/// A failed instance runs again from its last good turn (`event` is the `ExecutionRewound`).
fn rewind(
    conn: &Connection,
    instance_id: &InstanceId,
    execution_id: &ExecutionId,
    event: &Event,
    updated_ms: u64,
) -> Result<(), StoreError> {
    match instance_status(conn, instance_id)? {
        None => return Err(StoreError::NoSuchInstance(instance_id.to_string())),
        Some(RuntimeStatus::Failed) => {}
        Some(_) => return Err(StoreError::NotFailed(instance_id.to_string())),
    }
    let changed = conn
        .prepare_cached(
            "UPDATE instances SET status = ?4, output = NULL, updated_ms = ?2
             WHERE instance_id = ?1 AND execution_id = ?3",
        )?
        .execute(params![
            instance_id.as_str(),
            updated_ms as i64,
            execution_id.as_str(),
            RuntimeStatus::Running
        ])?;
    if changed == 0 {
        return Err(missing_or_stale(conn, instance_id, execution_id));
    }
    insert_event(conn, instance_id, execution_id, event)
}

/// A finished instance's rows go (refused, or with `required` skipped, otherwise).
fn purge(conn: &Connection, instance_id: &InstanceId, required: bool) -> Result<(), StoreError> {
    let refusal = match instance_status(conn, instance_id)? {
        None => Some(StoreError::NoSuchInstance(instance_id.to_string())),
        Some(s) if !s.is_terminal() => Some(StoreError::NotFinished(instance_id.to_string())),
        Some(_) => None,
    };
    match refusal {
        Some(e) if required => return Err(e),
        Some(_) => return Ok(()),
        None => {}
    }
    for sql in [
        "DELETE FROM history WHERE instance_id = ?1",
        "DELETE FROM inbox WHERE instance_id = ?1",
        "DELETE FROM instances WHERE instance_id = ?1",
    ] {
        conn.prepare_cached(sql)?.execute([instance_id.as_str()])?;
    }
    Ok(())
}

/// The instance's execution ends and a fresh one starts with `started` (history replaced).
fn continue_as_new(
    conn: &Connection,
    instance_id: &InstanceId,
    (from_execution, execution_id): (&ExecutionId, &ExecutionId),
    input: &str,
    started: &Event,
    consumed: &[String],
    updated_ms: u64,
) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE instances SET execution_id = ?2, input = ?3, status = ?6, output = NULL,
                 updated_ms = ?4 WHERE instance_id = ?1 AND execution_id = ?5",
        )?
        .execute(params![
            instance_id.as_str(),
            execution_id.as_str(),
            input,
            updated_ms as i64,
            from_execution.as_str(),
            RuntimeStatus::Running
        ])?;
    if changed == 0 {
        return Err(missing_or_stale(conn, instance_id, from_execution));
    }
    delete_inbox(conn, consumed)?;
    conn.prepare_cached("DELETE FROM history WHERE instance_id = ?1")?
        .execute([instance_id.as_str()])?;
    insert_event(conn, instance_id, execution_id, started)
}

/// A component's bytes, by digest (stored once).
fn put_component(
    conn: &Connection,
    (digest, kind): (&str, ComponentKind),
    names: &[String],
    bytes: &[u8],
    added_ms: u64,
) -> Result<(), StoreError> {
    let names = serde_json::to_string(names).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO components (digest, kind, size, bytes, added_ms, names)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        digest,
        kind,
        bytes.len() as i64,
        bytes,
        added_ms as i64,
        names
    ])?;
    Ok(())
}

fn instance_status(
    conn: &Connection,
    id: &InstanceId,
) -> Result<Option<RuntimeStatus>, StoreError> {
    let status = conn
        .prepare_cached("SELECT status FROM instances WHERE instance_id = ?1")?
        .query_row([id.as_str()], |r| r.get(0))
        .optional()?;
    Ok(status)
}

fn insert_instance(conn: &Connection, instance: &Instance) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO instances (instance_id, execution_id, name, status, input, output,
             custom_status, orchestrator_digest, created_ms, updated_ms, parent_instance_id,
             parent_execution_id, parent_task_id, version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        instance.instance_id.as_str(),
        instance.execution_id.as_str(),
        instance.name,
        instance.status,
        instance.input,
        instance.output,
        instance.custom_status,
        instance.orchestrator_digest,
        instance.created_ms as i64,
        instance.updated_ms as i64,
        instance.parent.as_ref().map(|p| p.instance_id.as_str()),
        instance.parent.as_ref().map(|p| p.execution_id.as_str()),
        instance.parent.as_ref().map(|p| p.task_id),
        instance.version,
    ])?;
    Ok(())
}

fn delete_inbox(conn: &Connection, msg_ids: &[String]) -> Result<(), StoreError> {
    for msg_id in msg_ids {
        conn.prepare_cached("DELETE FROM inbox WHERE msg_id = ?1")?
            .execute([msg_id])?;
    }
    Ok(())
}

fn insert_event(
    conn: &Connection,
    instance_id: &InstanceId,
    execution_id: &ExecutionId,
    event: &Event,
) -> Result<(), StoreError> {
    let data =
        serde_json::to_string(&event.kind).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let result = conn
        .prepare_cached(
            "INSERT INTO history (instance_id, seq, execution_id, timestamp_ms, event_type, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            instance_id.as_str(),
            event.seq as i64,
            execution_id.as_str(),
            event.timestamp_ms as i64,
            event.kind.type_name(),
            data,
        ]);
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            Err(StoreError::HistoryConflict {
                instance: instance_id.to_string(),
                seq: event.seq,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Why an update of (instance, execution) changed no row.
fn missing_or_stale(conn: &Connection, id: &InstanceId, execution: &ExecutionId) -> StoreError {
    match instance_status(conn, id) {
        Ok(None) => StoreError::NoSuchInstance(id.to_string()),
        Ok(Some(_)) => StoreError::StaleExecution {
            instance: id.to_string(),
            execution: execution.to_string(),
        },
        Err(e) => e,
    }
}

fn update_instance(
    conn: &Connection,
    id: &InstanceId,
    execution: &ExecutionId,
    update: &InstanceUpdate,
) -> Result<(), StoreError> {
    // Only the columns the update carries are named: naming one, even to write the value it
    // holds, rewrites its index entries (the status index: one more page per turn).
    let updated_ms = update.updated_ms as i64;
    let mut sql = String::from("UPDATE instances SET updated_ms = ?");
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&updated_ms];
    if let Some(status) = &update.status {
        sql.push_str(", status = ?");
        values.push(status);
    }
    if let Some(output) = &update.output {
        sql.push_str(", output = ?");
        values.push(output);
    }
    if let Some(custom) = &update.custom_status {
        sql.push_str(", custom_status = ?");
        values.push(custom);
    }
    if let Some(digest) = &update.orchestrator_digest {
        sql.push_str(", orchestrator_digest = ?");
        values.push(digest);
    }
    sql.push_str(" WHERE instance_id = ? AND execution_id = ?");
    let (id_text, execution_text) = (id.as_str(), execution.as_str());
    values.push(&id_text);
    values.push(&execution_text);
    let changed = conn.prepare_cached(&sql)?.execute(values.as_slice())?;
    if changed == 0 {
        return Err(missing_or_stale(conn, id, execution));
    }
    Ok(())
}
