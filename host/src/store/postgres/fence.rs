//! What a group's transaction checks and announces for the partition leases: the fencing of
//! actor writes (an instance's turns, its continue-as-new) and the notifications that wake an
//! instance's owner, or whoever waits for it, on another host.

use super::lease::Leases;
use super::partition_of;
use crate::engine::Event;
use crate::store::{Instance, Op, StoreError};

/// PostgreSQL's limit on a notification's payload is 8,000 bytes.
const MAX_PAYLOAD: usize = 7_900;

/// Reads the leases of the partitions a group's actor writes need, locked `FOR KEY SHARE` until
/// the group commits: a takeover (which locks the row `FOR UPDATE` to bump its epoch) skips the
/// partition until then, while the owner's own renewals (`FOR NO KEY UPDATE`) do not conflict,
/// so a busy writer cannot starve its host's lease renewals. In id order, as every lease
/// statement locks them.
pub(super) const CHECK: &str =
    "SELECT id, owner, epoch FROM partitions WHERE id = ANY($1) ORDER BY id FOR KEY SHARE";

/// Sends the group's notifications at commit (identical ones are folded by the server).
pub(super) const NOTIFY: &str =
    "SELECT count(pg_notify(c, x)) FROM unnest($1::text[], $2::text[]) AS t(c, x)";

/// The partitions (with the epochs held here) a batch's actor writes need: `Err` if this
/// host does not hold one of them now.
pub(super) fn claims(leases: &Leases, ops: &[Op]) -> Result<Vec<(i32, i64)>, StoreError> {
    let mut claims: Vec<(i32, i64)> = Vec::new();
    for op in ops {
        let id = match op {
            Op::Append { instance_id, .. } | Op::ContinueAsNew { instance_id, .. } => instance_id,
            _ => continue,
        };
        let partition = partition_of(id);
        let epoch = leases
            .held(partition)
            .ok_or(StoreError::Fenced { partition })?;
        if !claims.iter().any(|(p, _)| *p == partition as i32) {
            claims.push((partition as i32, epoch));
        }
    }
    Ok(claims)
}

/// The partition rows as the transaction read them: (id, owner, epoch).
pub(super) type Rows = Vec<(i32, Option<String>, i64)>;

/// Whether the database still has this host's epoch for every claim.
pub(super) fn confirmed(host: &str, rows: &Rows, claims: &[(i32, i64)]) -> Result<(), StoreError> {
    for (partition, epoch) in claims {
        let current = rows.iter().find(|(id, _, _)| id == partition);
        let ours =
            current.is_some_and(|(_, owner, e)| owner.as_deref() == Some(host) && e == epoch);
        if !ours {
            return Err(StoreError::Fenced {
                partition: *partition as u32,
            });
        }
    }
    Ok(())
}

/// Notifications for the batches that commit: an instance of a partition not held here was
/// created or sent something (its owner runs it), or an instance finished while other hosts
/// share the database (one of them may be waiting for it).
#[derive(Default)]
pub(super) struct Notices {
    pub channels: Vec<&'static str>,
    pub payloads: Vec<String>,
}

impl Notices {
    pub fn add(&mut self, leases: &Leases, ops: &[Op]) {
        for op in ops {
            match op {
                Op::CreateInstance { instance, started } => self.start(leases, instance, started),
                // A child may exist already (then the op does nothing): its owner reads it.
                Op::CreateChild { instance, .. } => self.wake(leases, &instance.instance_id),
                Op::Enqueue { instance_id, .. } | Op::Rewind { instance_id, .. } => {
                    self.wake(leases, instance_id)
                }
                Op::Append {
                    instance_id,
                    update,
                    ..
                } if leases.others() && update.status.is_some_and(|s| s.is_terminal()) => {
                    self.channels.push("durable_done");
                    self.payloads.push(instance_id.as_str().to_owned());
                }
                _ => {}
            }
        }
    }

    /// A new instance for another host: the row and first event travel with the notification
    /// (the owner runs it without reading them back), unless they are too big for one.
    fn start(&mut self, leases: &Leases, instance: &Instance, started: &Event) {
        if leases.is_local(&instance.instance_id) {
            return;
        }
        match serde_json::to_string(&(instance, started)) {
            Ok(payload) if payload.len() <= MAX_PAYLOAD => {
                self.channels.push("durable_start");
                self.payloads.push(payload);
            }
            _ => self.wake(leases, &instance.instance_id),
        }
    }

    fn wake(&mut self, leases: &Leases, id: &crate::ids::InstanceId) {
        if !leases.is_local(id) {
            self.channels.push("durable_wake");
            self.payloads.push(id.as_str().to_owned());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
}
