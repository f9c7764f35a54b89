//! Several hosts on one store: the executor's side of the partition leases. A host runs only
//! the instances of partitions it holds ([`Store::is_local`]); what is written for an instance
//! run elsewhere reaches its owner as a [`ClusterEvent::Wake`], and an instance finishing
//! elsewhere wakes the callers waiting for it here ([`ClusterEvent::Finished`]).

use std::sync::{Arc, Weak};

use tokio::sync::mpsc::UnboundedReceiver;

use super::{Executor, Inbound};
use crate::ids::InstanceId;
use crate::store::{self, ClusterEvent};

/// Handles the store's cluster events for as long as the executor lives.
pub(super) async fn run(executor: Weak<Executor>, mut events: UnboundedReceiver<ClusterEvent>) {
    while let Some(event) = events.recv().await {
        let Some(executor) = executor.upgrade() else {
            return;
        };
        match event {
            ClusterEvent::Acquired(partition) => {
                tokio::spawn(async move { executor.resume_partition(partition).await });
            }
            ClusterEvent::Lost(partition) => {
                tracing::debug!(partition, "partition lost: its instances run elsewhere now");
            }
            ClusterEvent::Wake(id) => {
                tokio::spawn(async move { executor.wake(id).await });
            }
            // An instance another host created for this one, run from the committed row and
            // first event as a local start is; claimed here, before the next event (a message
            // for it) is looked at. If it moved on meanwhile (it ran here from the store and
            // ended), the actor's first write is refused and it resumes from the store.
            ClusterEvent::Start(start) => {
                let (instance, started) = *start;
                executor.spawn_actor(instance, Some(vec![started]));
            }
            ClusterEvent::Resume(id) => {
                tokio::spawn(async move { executor.resume(id).await });
            }
            ClusterEvent::Finished(id) => executor.notify_finished(&id),
        }
    }
}

impl Executor {
    /// Resumes the unfinished instances of a partition this host just took over (trying
    /// again while the store is away and the partition still this host's).
    async fn resume_partition(self: &Arc<Self>, partition: u32) {
        while self.store.partition_is_local(partition) {
            let found =
                store::read(&self.store, move |s| s.unfinished_in_partition(partition)).await;
            match found {
                Ok(instances) => {
                    if !instances.is_empty() {
                        tracing::info!(
                            partition,
                            instances = instances.len(),
                            "resuming the instances of a partition taken over"
                        );
                    }
                    for instance in instances {
                        self.spawn_actor(instance, None);
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!(partition, "cannot resume a partition's instances yet: {e}");
                    tokio::time::sleep(super::RESUME_AFTER_ERROR).await;
                }
            }
        }
    }

    /// Something was queued for a local instance by another host: a live actor gets the new
    /// inbox messages (it drops those it has already seen); otherwise the instance resumes
    /// from the store, which reads its inbox.
    async fn wake(self: &Arc<Self>, id: InstanceId) {
        if !self.store.is_local(&id) {
            return;
        }
        if !self.live.is_live(&id) {
            return self.resume(id).await;
        }
        let lookup = id.clone();
        match store::read(&self.store, move |s| s.inbox(&lookup)).await {
            Ok(messages) => {
                for message in messages {
                    if !self.live.send(&id, Inbound::from(message)) {
                        // It left memory meanwhile: the store has it all.
                        return self.resume(id).await;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(instance = %id, "reading the inbox of a woken instance: {e}");
                self.resume_later(id);
            }
        }
    }
}
