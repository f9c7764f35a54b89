//! Waiting for an instance: callers that wait for its end (the starters' `?timeout=`, the
//! status API's hold) and the status API's reads of finished rows.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Executor, REMOTE_FINISH_CHECK};
use crate::ids::InstanceId;
use crate::store::{self, Instance, StoreError};

impl Executor {
    /// Waits until the instance is finished or `timeout` passes; true if it finished. Event
    /// driven: woken by the commit of the instance's end, no polling.
    pub async fn wait_finished(
        &self,
        id: &InstanceId,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        let rx = self.finish_waiter(id);
        let waited = self.wait_finished_on(id, timeout, rx).await;
        self.drop_closed_waiters(id);
        waited
    }

    /// Waits up to `max` for `id` to finish (woken by its end's commit; no store read): the
    /// status API holds a running instance's answer this long, so clients polling it in a
    /// tight loop cost the host one request per hold instead of one per poll. True if it
    /// finished meanwhile (with a shared store, only if it finished on this host).
    pub async fn hold_until_finished(&self, id: &InstanceId, max: Duration) -> bool {
        let rx = self.finish_waiter(id);
        let finished = matches!(tokio::time::timeout(max, rx).await, Ok(Ok(())));
        if !finished {
            self.drop_closed_waiters(id);
        }
        finished
    }

    fn finish_waiter(&self, id: &InstanceId) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.finish_waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.clone())
            .or_default()
            .push(tx);
        rx
    }

    /// Waiters that gave up (timed out) leave no sender behind for an instance that may run
    /// for months.
    fn drop_closed_waiters(&self, id: &InstanceId) {
        let mut waiters = self
            .finish_waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(list) = waiters.get_mut(id) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                waiters.remove(id);
            }
        }
    }

    async fn wait_finished_on(
        &self,
        id: &InstanceId,
        timeout: Duration,
        rx: oneshot::Receiver<()>,
    ) -> Result<bool, StoreError> {
        // Registered before looking, so a finish in between is not missed.
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = std::pin::pin!(rx);
        loop {
            let lookup = id.clone();
            let finished = store::read(&self.store, move |s| s.instance(&lookup))
                .await?
                .is_some_and(|i| i.status.is_terminal());
            if finished {
                return Ok(true);
            }
            // With a shared store the instance may run (or move) to another host, which
            // announces its end; look again now and then in case the announcement was lost.
            let look_again = match self.shared {
                false => deadline,
                true => deadline.min(tokio::time::Instant::now() + REMOTE_FINISH_CHECK),
            };
            match tokio::time::timeout_at(look_again, &mut rx).await {
                Ok(woken) => return Ok(woken.is_ok()),
                Err(_) if look_again >= deadline => return Ok(false),
                Err(_) => {}
            }
        }
    }

    /// Wakes everyone waiting for `id` to finish.
    pub(super) fn notify_finished(&self, id: &InstanceId) {
        let waiters = self
            .finish_waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        for w in waiters.into_iter().flatten() {
            let _ = w.send(());
        }
    }

    /// An instance's row for a status read: a finished one from memory when kept there,
    /// otherwise read from the store (and kept if finished).
    pub async fn instance_row(&self, id: &InstanceId) -> Result<Option<Arc<Instance>>, StoreError> {
        if let Some(row) = self.finished.get(id) {
            return Ok(Some(row));
        }
        let generation = self.finished.generation();
        let lookup = id.clone();
        let row = store::read(&self.store, move |s| s.instance(&lookup)).await?;
        if let Some(row) = &row {
            self.finished.keep(row, generation);
        }
        Ok(row.map(Arc::new))
    }
}
