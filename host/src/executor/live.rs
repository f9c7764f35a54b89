//! The live-instance registry: which instances have an actor in this process, and its channel.
//!
//! **Invariant**: at most one actor per instance runs in this process, and a message sent to
//! an entry under the registry's lock is received by the actor that owns the entry. Every rule
//! below keeps it:
//! - an actor starts only after [`Registry::claim`] put its channel in the map (check and insert
//!   under one lock, so two wake-ups cannot start two actors);
//! - a claim on a live id is refused; with `want`, the live actor is asked to hand over when it
//!   ends ([`Registry::release`] then says "resume from the store"), so a start or rewind under a
//!   live id is never lost and never runs beside it;
//! - an idle actor leaves with [`Registry::leave_if_idle`], which looks at its channel under the
//!   lock [`Registry::send`] holds: either something arrived (it keeps running) or nothing can
//!   arrive any more (later messages find no entry and wake a fresh actor from the store);
//! - an actor removes only its own entry (same channel), and only an actor still in the map
//!   takes a hand-over request, so an actor that left earlier cannot take one meant for the
//!   actor live now.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::mpsc;

use super::Inbound;
use crate::ids::InstanceId;

/// The sending side of an actor's channel.
pub(super) type Inbox = mpsc::UnboundedSender<Inbound>;
/// The receiving side, owned by the actor.
pub(super) type Receiver = mpsc::UnboundedReceiver<Inbound>;

#[derive(Default)]
struct Entries {
    live: HashMap<InstanceId, Inbox>,
    /// Instances to resume from the store as soon as their live actor ends.
    wanted: HashSet<InstanceId>,
}

/// See the module's invariant.
#[derive(Default)]
pub(super) struct Registry {
    entries: Mutex<Entries>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of instances with a live actor.
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    pub fn is_live(&self, id: &InstanceId) -> bool {
        self.lock().live.contains_key(id)
    }

    /// Claims `id` for a new actor and returns its channel; `None` if an actor is live (with
    /// `want`, that one is then asked to hand over when it ends).
    pub fn claim(&self, id: &InstanceId, want: bool) -> Option<(Inbox, Receiver)> {
        let mut entries = self.lock();
        if entries.live.contains_key(id) {
            if want {
                entries.wanted.insert(id.clone());
            }
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        entries.live.insert(id.clone(), tx.clone());
        Some((tx, rx))
    }

    /// Sends `inbound` to the live actor of `id`; false if there is none.
    pub fn send(&self, id: &InstanceId, inbound: Inbound) -> bool {
        match self.lock().live.get(id) {
            Some(tx) => tx.send(inbound).is_ok(),
            None => false,
        }
    }

    /// Gives the live actor of `id` a fresh channel (a new execution: whatever is still queued
    /// for the old one is stale).
    pub fn renew(&self, id: &InstanceId) -> (Inbox, Receiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().live.insert(id.clone(), tx.clone());
        (tx, rx)
    }

    /// An idle actor leaves the map, unless a message arrived meanwhile: then it is returned
    /// and the actor keeps running.
    pub fn leave_if_idle(&self, id: &InstanceId, tx: &Inbox, rx: &mut Receiver) -> Option<Inbound> {
        let mut entries = self.lock();
        if let Ok(message) = rx.try_recv() {
            return Some(message);
        }
        if entries.live.get(id).is_some_and(|t| t.same_channel(tx)) {
            entries.live.remove(id);
        }
        None
    }

    /// An actor has ended: its entry (if still its own) goes. True if it must hand over, i.e.
    /// someone asked for the instance meanwhile and no other actor is live: resume it from the
    /// store.
    pub fn release(&self, id: &InstanceId, tx: &Inbox) -> bool {
        let mut entries = self.lock();
        if entries.live.get(id).is_some_and(|t| t.same_channel(tx)) {
            entries.live.remove(id);
        }
        !entries.live.contains_key(id) && entries.wanted.remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EventKind;
    use crate::ids::TaskId;

    fn id(s: &str) -> InstanceId {
        InstanceId::parse(s).unwrap()
    }

    fn fired(task_id: u32) -> Inbound {
        Inbound {
            execution_id: None,
            msg_id: None,
            event: EventKind::TimerFired {
                task_id: TaskId(task_id),
                fire_at_ms: 0,
            },
        }
    }

    #[test]
    fn one_actor_per_instance_and_a_request_under_a_live_id_hands_over() {
        let registry = Registry::default();
        let (tx, _rx) = registry.claim(&id("a"), false).expect("first claim");
        assert!(
            registry.claim(&id("a"), false).is_none(),
            "second actor refused"
        );
        assert!(!registry.release(&id("a"), &tx), "nobody asked for it");
        assert!(!registry.is_live(&id("a")));

        let (tx, _rx) = registry.claim(&id("a"), false).unwrap();
        assert!(registry.claim(&id("a"), true).is_none());
        assert!(
            registry.release(&id("a"), &tx),
            "asked for while live: hand over"
        );
        assert!(!registry.release(&id("a"), &tx), "only once");
    }

    #[test]
    fn a_message_sent_before_an_idle_actor_leaves_is_handed_to_it() {
        let registry = Registry::default();
        let (tx, mut rx) = registry.claim(&id("a"), false).unwrap();
        assert!(registry.send(&id("a"), fired(1)));
        let kept = registry.leave_if_idle(&id("a"), &tx, &mut rx);
        assert!(matches!(
            kept.map(|m| m.event),
            Some(EventKind::TimerFired {
                task_id: TaskId(1),
                ..
            })
        ));
        assert!(registry.is_live(&id("a")), "it keeps running");
        assert!(registry.leave_if_idle(&id("a"), &tx, &mut rx).is_none());
        assert!(!registry.is_live(&id("a")));
        assert!(
            !registry.send(&id("a"), fired(2)),
            "later messages find no actor"
        );
    }

    #[test]
    fn an_actor_that_left_never_removes_or_takes_over_a_newer_one() {
        let registry = Registry::default();
        let (old_tx, mut old_rx) = registry.claim(&id("a"), false).unwrap();
        assert!(
            registry
                .leave_if_idle(&id("a"), &old_tx, &mut old_rx)
                .is_none()
        );
        let (new_tx, _new_rx) = registry.claim(&id("a"), false).unwrap();
        assert!(registry.claim(&id("a"), true).is_none());
        // The old actor finishes after the new one started.
        assert!(
            !registry.release(&id("a"), &old_tx),
            "the request is the live actor's"
        );
        assert!(registry.is_live(&id("a")));
        assert!(registry.send(&id("a"), fired(1)));
        assert!(registry.release(&id("a"), &new_tx));
    }

    #[test]
    fn a_renewed_channel_drops_what_was_queued_for_the_old_execution() {
        let registry = Registry::default();
        let (old_tx, mut old_rx) = registry.claim(&id("a"), false).unwrap();
        assert!(registry.send(&id("a"), fired(1)));
        let (new_tx, mut new_rx) = registry.renew(&id("a"));
        drop(old_tx);
        assert!(registry.send(&id("a"), fired(2)));
        assert!(matches!(
            old_rx.try_recv().map(|m| m.event),
            Ok(EventKind::TimerFired {
                task_id: TaskId(1),
                ..
            })
        ));
        assert!(matches!(
            new_rx.try_recv().map(|m| m.event),
            Ok(EventKind::TimerFired {
                task_id: TaskId(2),
                ..
            })
        ));
        assert!(!registry.release(&id("a"), &new_tx));
        assert!(!registry.is_live(&id("a")));
    }
}
