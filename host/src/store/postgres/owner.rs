//! One host per database, until partition leases let several share it: the writer's own
//! session holds an advisory lock, taken before its first write on every connection, so a
//! second host is refused at start, and a host that lost its connection (and with it the lock)
//! to another host cannot commit anything more: its transactions run in the lock's session.

use super::Conn;
use crate::store::StoreError;

/// The advisory lock's key, shared by every durable host.
const OWNER_LOCK: i64 = 0x6475_7261_626c_6532;

/// Takes the database for this host on `conn` (held until the session ends).
pub(super) async fn take(conn: &mut Conn) -> Result<(), StoreError> {
    const TAKE: &str = "SELECT pg_try_advisory_lock($1)";
    let rows = conn.query(TAKE, &[&OWNER_LOCK]).await?;
    match rows.first().is_some_and(|r| r.get::<_, bool>(0)) {
        true => Ok(()),
        false => Err(StoreError::Open(
            "another durable host is serving this database; one host per database for now \
             (several hosts on one database need partition leases, not in this version)"
                .into(),
        )),
    }
}
