//! How the store's typed values are kept in SQLite columns: statuses and component kinds by
//! name, digests as text, task ids as integers. A value we did not write reads as a conversion
//! failure, which the store reports as `Corrupt` (not a database hiccup to retry).

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::ComponentKind;
use crate::engine::RuntimeStatus;
use crate::ids::{Digest, TaskId};

/// A value stored by name, read back with `parse`; `what` names it in the error.
fn named<T>(value: ValueRef<'_>, parse: fn(&str) -> Option<T>, what: &str) -> FromSqlResult<T> {
    let text = value.as_str()?;
    parse(text).ok_or_else(|| FromSqlError::Other(format!("unknown {what} '{text}'").into()))
}

/// Statuses are stored as their names (`Pending`, `Running`, ...): no status literal in SQL.
impl ToSql for RuntimeStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for RuntimeStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        named(value, RuntimeStatus::parse, "instance status")
    }
}

/// Digests are stored as their text.
impl ToSql for Digest {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Digest {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(Digest::from_trusted(value.as_str()?.to_owned()))
    }
}

/// Task ids are stored as integers.
impl ToSql for TaskId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(i64::from(self.0).into())
    }
}

impl FromSql for TaskId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let n = value.as_i64()?;
        // Not one we wrote: corrupt, not a database hiccup to retry.
        let n = u32::try_from(n).map_err(|_| {
            let bad = format!("task id {n} is out of range");
            FromSqlError::Other(bad.into())
        })?;
        Ok(TaskId(n))
    }
}

/// Component kinds are stored as `orchestrator` / `activity`.
impl ToSql for ComponentKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for ComponentKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        named(value, ComponentKind::parse, "component kind")
    }
}
