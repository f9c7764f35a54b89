//! Partition leases: which host runs which instances when several share one database.
//!
//! Instances fall into [`PARTITIONS`] partitions by a stable hash of their id. Each partition
//! has a row in `partitions` with an `owner`, an `expires_at` on the *database's* clock, and an
//! `epoch` that every acquisition bumps: the fencing token. A host
//! - heartbeats in `hosts` and counts the live ones, then keeps ceil(P / live) partitions:
//!   it renews the leases it holds (only at the epoch it holds), releases extras when a host
//!   joined, and acquires free or expired ones when it has fewer (every [`LeaseOptions::renew`]);
//! - stops working on a partition before its lease can expire: locally a lease is valid until
//!   the moment the renewal was *sent* plus the TTL minus a margin, on the monotonic clock;
//! - and every actor write checks, in its own transaction, that the partition's row still has
//!   this host's epoch (`FOR KEY SHARE`; a takeover locks the row `FOR UPDATE SKIP LOCKED`, so
//!   it waits for that transaction to end): a host that lost a lease while paused cannot
//!   commit (see `fence`). Renewals and releases lock `FOR NO KEY UPDATE`, which a writer's
//!   check does not block.
//!
//! Wake-ups between hosts are `NOTIFY`s sent by the writer's transaction (delivered at commit);
//! they are hints: a poll every [`POLL_EVERY`] (and at once after the listening connection is
//! back) finds what a lost notification would have woken.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Config, NoTls};

use super::{Conn, PARTITIONS, partition_of, pg_error};
use crate::clock::{Clock, SystemClock};
use crate::ids::InstanceId;
use crate::store::{ClusterEvent, StoreError};

/// How a host takes part in the partition leases.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// This host's name in `partitions.owner` and `hosts`. Keep it stable across restarts of
    /// one host (a restarted host takes its own partitions back at once, with a new epoch);
    /// never give two live hosts the same one.
    pub host_id: String,
    /// How long a lease lasts without renewal (on the database's clock).
    pub ttl: Duration,
    /// How often leases are renewed and the share of partitions is adjusted.
    pub renew: Duration,
}

impl LeaseOptions {
    /// TTL 10 s, renewal every 3 s.
    pub fn new(host_id: impl Into<String>) -> Self {
        LeaseOptions {
            host_id: host_id.into(),
            ttl: Duration::from_secs(10),
            renew: Duration::from_secs(3),
        }
    }

    /// A lease must be renewable at least twice before it lapses locally.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.host_id.is_empty() || self.host_id.len() > 200 {
            return Err(StoreError::Open(
                "the host id must be 1 to 200 characters".into(),
            ));
        }
        if self.renew.is_zero() || self.renew * 2 > self.local_ttl() {
            return Err(StoreError::Open(format!(
                "the lease renewal interval ({:?}) must be at most half of the lease TTL less \
                 its safety margin ({:?} of {:?})",
                self.renew,
                self.local_ttl(),
                self.ttl
            )));
        }
        Ok(())
    }

    /// How long after sending a renewal this host still treats the lease as its own: the TTL
    /// less a fifth (clock-rate drift, scheduling delays).
    fn local_ttl(&self) -> Duration {
        self.ttl - self.ttl / 5
    }

    fn ttl_secs(&self) -> f64 {
        self.ttl.as_secs_f64()
    }
}

/// How often the owner looks for work that a lost notification would have announced. A start
/// committed by a host that was handing the instance's partition over is announced before its
/// new owner counts the partition as held, so this bounds how long such an instance waits.
pub(super) const POLL_EVERY: Duration = Duration::from_millis(500);
/// Work older than this is picked up by the poll (younger work is still being notified).
const POLL_AGE_MS: i64 = 500;

/// The leases this host holds, shared by the lease task (which changes them), the writer (which
/// fences with them) and the executor (which runs the instances of valid ones).
pub(super) struct Leases {
    pub host: String,
    base: Instant,
    /// Per partition: nanoseconds after `base` until which the lease is valid here (0: not held).
    until: Vec<AtomicU64>,
    epoch: Vec<AtomicI64>,
    /// Whether other live hosts share the database (then finishes are announced).
    others: AtomicBool,
    /// Batches refused by fencing.
    pub fenced: AtomicU64,
}

impl Leases {
    pub fn new(host: String) -> Self {
        Leases {
            host,
            base: Instant::now(),
            until: (0..PARTITIONS).map(|_| AtomicU64::new(0)).collect(),
            epoch: (0..PARTITIONS).map(|_| AtomicI64::new(0)).collect(),
            others: AtomicBool::new(false),
            fenced: AtomicU64::new(0),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_nanos() as u64
    }

    /// The epoch of the partition's lease if it is valid here now.
    pub fn held(&self, partition: u32) -> Option<i64> {
        let i = partition as usize;
        let until = self.until.get(i)?.load(Ordering::Acquire);
        (until > self.nanos(Instant::now())).then(|| self.epoch[i].load(Ordering::Acquire))
    }

    pub fn is_local(&self, id: &InstanceId) -> bool {
        self.held(partition_of(id)).is_some()
    }

    pub fn others(&self) -> bool {
        self.others.load(Ordering::Relaxed)
    }

    /// Partitions held (valid or lapsed but not yet dropped), with their epochs.
    fn holding(&self) -> Vec<(i32, i64)> {
        (0..PARTITIONS as usize)
            .filter(|&i| self.until[i].load(Ordering::Acquire) > 0)
            .map(|i| (i as i32, self.epoch[i].load(Ordering::Acquire)))
            .collect()
    }

    /// Partitions whose lease is valid here now.
    pub fn valid(&self) -> Vec<i32> {
        (0..PARTITIONS)
            .filter(|&p| self.held(p).is_some())
            .map(|p| p as i32)
            .collect()
    }

    fn set(&self, partition: i32, epoch: i64, until: Instant) {
        let i = partition as usize;
        self.epoch[i].store(epoch, Ordering::Release);
        self.until[i].store(self.nanos(until).max(1), Ordering::Release);
    }

    fn drop_lease(&self, partition: i32) {
        self.until[partition as usize].store(0, Ordering::Release);
    }
}

/// What the lease task is asked to do besides its rounds.
pub(super) enum Command {
    /// Another host joined or left: adjust the share now.
    Rebalance,
    /// The listening connection was re-established: notifications may have been missed.
    Resync,
    /// Clean shutdown: hand every partition over, then stop.
    Leave(oneshot::Sender<Result<(), StoreError>>),
}

/// The lease task's state.
pub(super) struct LeaseTask {
    config: Arc<Config>,
    options: LeaseOptions,
    leases: Arc<Leases>,
    events: mpsc::UnboundedSender<ClusterEvent>,
    conn: Option<Conn>,
}

const HEARTBEAT: &str = "WITH beat AS (INSERT INTO hosts (id, heartbeat_at) VALUES ($1, now()) \
     ON CONFLICT (id) DO UPDATE SET heartbeat_at = now() RETURNING id) \
     SELECT count(*) FROM hosts WHERE id <> $1 AND heartbeat_at > now() - make_interval(secs => $2)";

const RENEW: &str = "UPDATE partitions SET expires_at = now() + make_interval(secs => $4) \
     WHERE id IN (SELECT p.id FROM partitions p \
         JOIN unnest($2::int4[], $3::int8[]) AS h(id, epoch) ON p.id = h.id AND p.epoch = h.epoch \
         WHERE p.owner = $1 ORDER BY p.id FOR NO KEY UPDATE OF p) \
     RETURNING id";

const RELEASE: &str = "UPDATE partitions SET owner = NULL, expires_at = '-infinity' \
     WHERE id IN (SELECT id FROM partitions WHERE owner = $1 AND id = ANY($2) \
         ORDER BY id FOR NO KEY UPDATE)";

const ACQUIRE: &str = "UPDATE partitions \
     SET owner = $1, epoch = epoch + 1, expires_at = now() + make_interval(secs => $3) \
     WHERE id IN (SELECT id FROM partitions \
         WHERE (owner IS NULL OR expires_at < now() OR owner = $1) AND NOT (id = ANY($4)) \
         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) \
     RETURNING id, epoch";

/// Instances of the held partitions that are still Pending (`false`), or have inbox messages
/// (`true`), since before `$2`.
const POLL: &str = "(SELECT instance_id, false FROM instances \
         WHERE partition = ANY($1) AND status = 'Pending' AND created_ms < $2 LIMIT 1000) \
     UNION ALL (SELECT DISTINCT b.instance_id, true FROM inbox b \
         JOIN instances i USING (instance_id) \
         WHERE b.created_ms < $2 AND i.partition = ANY($1) LIMIT 1000)";

impl LeaseTask {
    pub fn new(
        config: Arc<Config>,
        options: LeaseOptions,
        leases: Arc<Leases>,
        events: mpsc::UnboundedSender<ClusterEvent>,
    ) -> Self {
        LeaseTask {
            config,
            options,
            leases,
            events,
            conn: None,
        }
    }

    /// The task: a round every renewal interval (sooner after a failed one), a poll every
    /// [`POLL_EVERY`], and the commands.
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut next_round = Instant::now() + self.options.renew;
        let mut next_poll = Instant::now() + POLL_EVERY;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next_round) => {
                    next_round = self.round_or_retry().await;
                }
                _ = tokio::time::sleep_until(next_poll) => {
                    self.poll().await;
                    next_poll = Instant::now() + POLL_EVERY;
                }
                command = commands.recv() => match command {
                    Some(Command::Rebalance) => next_round = self.round_or_retry().await,
                    Some(Command::Resync) => self.poll().await,
                    Some(Command::Leave(reply)) => {
                        let _ = reply.send(self.leave().await);
                        return;
                    }
                    None => return,
                },
            }
        }
    }

    async fn round_or_retry(&mut self) -> Instant {
        let began = Instant::now();
        let result = self.round().await;
        if began.elapsed() > self.options.renew {
            tracing::warn!(
                "a lease round took {:?}, longer than the renewal interval ({:?}): the host or \
                 the database is overloaded; leases may lapse",
                began.elapsed(),
                self.options.renew
            );
        }
        match result {
            Ok(()) => Instant::now() + self.options.renew,
            Err(e) => {
                tracing::warn!("renewing partition leases: {e}");
                Instant::now() + Duration::from_millis(250)
            }
        }
    }

    async fn connection(&mut self) -> Result<&mut Conn, StoreError> {
        if self.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            let conn = Conn::connect(&self.config).await?;
            conn.client
                .batch_execute("SET lock_timeout = '1s'; SET statement_timeout = '5s'")
                .await
                .map_err(pg_error)?;
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or(StoreError::WriterGone)
    }

    /// One round: drop lapsed leases, heartbeat, renew, then release or acquire to the share.
    pub async fn round(&mut self) -> Result<(), StoreError> {
        let sent = Instant::now();
        for (p, _) in self.leases.holding() {
            if self.leases.held(p as u32).is_none() {
                self.lose(p, "its lease lapsed before it could be renewed");
            }
        }
        // A broken connection is replaced by the next round's first statement.
        self.renew_and_balance(sent).await
    }

    async fn renew_and_balance(&mut self, sent: Instant) -> Result<(), StoreError> {
        let (host, ttl) = (self.leases.host.clone(), self.options.ttl_secs());
        let c = self.connection().await?;
        let rows = c.query(HEARTBEAT, &[&host, &ttl]).await?;
        let others = rows.first().map_or(0, |r| r.get::<_, i64>(0)).max(0) as u32;
        let holding = self.leases.holding();
        let (ids, epochs): (Vec<i32>, Vec<i64>) = holding.iter().copied().unzip();
        let c = self.connection().await?;
        let rows = c.query(RENEW, &[&host, &ids, &epochs, &ttl]).await?;
        let renewed: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        let until = sent + self.options.local_ttl();
        for (p, epoch) in holding {
            match renewed.contains(&p) {
                true => self.leases.set(p, epoch, until),
                false => self.lose(p, "another host holds it now"),
            }
        }
        self.leases.others.store(others > 0, Ordering::Relaxed);
        let share = PARTITIONS.div_ceil(others + 1) as usize;
        let held: Vec<i32> = self.leases.holding().into_iter().map(|(p, _)| p).collect();
        if held.len() > share {
            self.release(&held[share..], "rebalancing: another host joined")
                .await?;
        } else if held.len() < share {
            self.acquire(share - held.len(), &held, until).await?;
        }
        Ok(())
    }

    fn lose(&self, partition: i32, why: &str) {
        self.leases.drop_lease(partition);
        tracing::info!(partition, "partition lease given up: {why}");
        let _ = self.events.send(ClusterEvent::Lost(partition as u32));
    }

    /// Hands partitions to other hosts: they stop here first, then the rows are freed and the
    /// others told to look.
    async fn release(&mut self, partitions: &[i32], why: &str) -> Result<(), StoreError> {
        for &p in partitions {
            self.lose(p, why);
        }
        let host = self.leases.host.clone();
        let c = self.connection().await?;
        c.query(RELEASE, &[&host, &partitions]).await?;
        c.client
            .batch_execute("NOTIFY durable_hosts")
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn acquire(
        &mut self,
        wanted: usize,
        held: &[i32],
        until: Instant,
    ) -> Result<(), StoreError> {
        let (host, ttl) = (self.leases.host.clone(), self.options.ttl_secs());
        let limit = wanted as i64;
        let c = self.connection().await?;
        let rows = c.query(ACQUIRE, &[&host, &limit, &ttl, &held]).await?;
        for row in rows {
            let (p, epoch): (i32, i64) = (row.get(0), row.get(1));
            self.leases.set(p, epoch, until);
            tracing::info!(partition = p, epoch, "partition lease acquired");
            let _ = self.events.send(ClusterEvent::Acquired(p as u32));
        }
        Ok(())
    }

    /// Wakes the instances of held partitions with work older than [`POLL_AGE_MS`]: a start
    /// not yet running (resumed unless it has an actor), or inbox messages (whose notification
    /// may have been lost: handed to the actor, or the instance resumed).
    async fn poll(&mut self) {
        let held = self.leases.valid();
        if held.is_empty() {
            return;
        }
        let before = SystemClock.now_ms() as i64 - POLL_AGE_MS;
        let rows = match self.connection().await {
            Ok(c) => c.query(POLL, &[&held, &before]).await,
            Err(e) => Err(e),
        };
        match rows {
            Ok(rows) => {
                for row in rows {
                    let id = InstanceId::from_trusted(row.get(0));
                    let event = match row.get::<_, bool>(1) {
                        true => ClusterEvent::Wake(id),
                        false => ClusterEvent::Resume(id),
                    };
                    let _ = self.events.send(event);
                }
            }
            Err(e) => tracing::warn!("polling for work: {e}"),
        }
    }

    /// Leaves the live hosts (first, so the others count it out when told to look), then
    /// frees every partition this host holds.
    async fn leave(&mut self) -> Result<(), StoreError> {
        let host = self.leases.host.clone();
        let c = self.connection().await?;
        c.query("DELETE FROM hosts WHERE id = $1", &[&host]).await?;
        let held: Vec<i32> = self.leases.holding().into_iter().map(|(p, _)| p).collect();
        self.release(&held, "this host is stopping").await?;
        tracing::info!(partitions = held.len(), "partitions handed over");
        Ok(())
    }
}

/// The listening connection: turns notifications into events (for instances of partitions
/// held here) and commands, reconnecting for as long as the store lives.
pub(super) async fn listen(
    config: Arc<Config>,
    leases: Arc<Leases>,
    events: mpsc::UnboundedSender<ClusterEvent>,
    commands: mpsc::UnboundedSender<Command>,
) {
    let mut first = true;
    while !events.is_closed() {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let mut messages =
                    futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                let mut listening = std::pin::pin!(client.batch_execute(
                    "LISTEN durable_wake; LISTEN durable_start; LISTEN durable_done; LISTEN durable_hosts"
                ));
                // The connection must be driven while the LISTEN runs.
                let ready = loop {
                    tokio::select! {
                        r = &mut listening => break r.is_ok(),
                        m = messages.next() => if !matches!(m, Some(Ok(_))) { break false },
                    }
                };
                if ready {
                    if !first {
                        let _ = commands.send(Command::Resync);
                    }
                    first = false;
                    while let Some(Ok(message)) = messages.next().await {
                        if let AsyncMessage::Notification(n) = message {
                            notified(n.channel(), n.payload(), &leases, &events, &commands);
                        }
                    }
                }
                tracing::debug!("the listening connection ended; reconnecting");
            }
            Err(e) => tracing::debug!("listening connection: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn notified(
    channel: &str,
    payload: &str,
    leases: &Leases,
    events: &mpsc::UnboundedSender<ClusterEvent>,
    commands: &mpsc::UnboundedSender<Command>,
) {
    match channel {
        "durable_hosts" => {
            let _ = commands.send(Command::Rebalance);
        }
        "durable_start" => {
            let start: Option<(crate::store::Instance, crate::engine::Event)> =
                serde_json::from_str(payload).ok();
            if let Some((instance, started)) = start
                && leases.is_local(&instance.instance_id)
            {
                let _ = events.send(ClusterEvent::Start(Box::new((instance, started))));
            }
        }
        "durable_wake" | "durable_done" => {
            // Our own ids (entities' `@name@key` too, which the API's parse refuses).
            if payload.is_empty() {
                return;
            }
            let id = InstanceId::from_trusted(payload.to_owned());
            if channel == "durable_done" {
                let _ = events.send(ClusterEvent::Finished(id));
            } else if leases.is_local(&id) {
                let _ = events.send(ClusterEvent::Wake(id));
            }
        }
        _ => {}
    }
}
