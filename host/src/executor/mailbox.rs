//! The rules for what reaches a live instance's guest: a pure state machine, no IO.
//!
//! Everything for an instance arrives in one channel, in any order and possibly twice (a
//! durable message is handed over live and again when the inbox is re-read after a restart).
//! The [`Mailbox`] decides, per turn, which events the guest sees:
//! - a message id already taken is dropped (double delivery);
//! - an event for another execution of the instance (one that continued as new) is dropped, but
//!   its message is still consumed, so it is deleted from the inbox;
//! - `ExecutionTerminated` stops the run at once;
//! - `ExecutionMigrated` to another digest is taken alone, at a turn boundary: what came before
//!   it is handed over first, what came after it stays queued for the run on the new version;
//!   it is ignored while the instance is suspended (held events live only in memory) or when the
//!   instance is already on that digest;
//! - while suspended (`ExecutionSuspended` seen, `ExecutionResumed` not yet), other events are
//!   held, and handed over in arrival order right after the resume. A held message is consumed
//!   only with the resume that hands it over: until then it stays in the durable inbox, so an
//!   eviction or a crash while suspended loses nothing.

use std::collections::{HashSet, VecDeque};

use super::Inbound;
use crate::engine::EventKind;
use crate::ids::{Digest, ExecutionId};

/// What the next turn gets.
#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    /// Events for the guest (none yet: wait for more).
    Events(Vec<EventKind>),
    /// Stop the run: an operator terminated the instance.
    Terminate(String),
    /// Stop the run: move the instance to this orchestrator digest.
    Migrate(Digest),
}

/// One sorting of what was queued: the verdict, and the inbox messages it took (to delete with
/// the commit that records them).
#[derive(Debug, PartialEq)]
pub(super) struct Sorted {
    pub verdict: Verdict,
    pub consumed: Vec<String>,
}

/// The inbound rules for one execution of one instance.
#[derive(Debug)]
pub(super) struct Mailbox {
    execution_id: ExecutionId,
    digest: Digest,
    suspended: bool,
    /// Events held while suspended, with their inbox message ids.
    held: Vec<(Option<String>, EventKind)>,
    seen: HashSet<String>,
    queue: VecDeque<Inbound>,
}

impl Mailbox {
    /// A mailbox for execution `execution_id`, running on orchestrator `digest`; `queued` is
    /// what a previous run on the same channel left unsorted.
    pub fn new(
        execution_id: ExecutionId,
        digest: Digest,
        suspended: bool,
        queued: Vec<Inbound>,
    ) -> Self {
        Mailbox {
            execution_id,
            digest,
            suspended,
            held: Vec::new(),
            seen: HashSet::new(),
            queue: queued.into(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn push(&mut self, inbound: Inbound) {
        self.queue.push_back(inbound);
    }

    pub fn suspended(&self) -> bool {
        self.suspended
    }

    /// What is left unsorted (after a migration stopped the run).
    pub fn into_queued(self) -> Vec<Inbound> {
        self.queue.into()
    }

    /// Sorts what is queued into the next turn (see the module's rules).
    pub fn sort(&mut self) -> Sorted {
        let mut events = Vec::new();
        let mut consumed = Vec::new();
        while let Some(inbound) = self.queue.pop_front() {
            if let Some(digest) = self.migration_to(&inbound) {
                if !events.is_empty() {
                    self.queue.push_front(inbound);
                    break;
                }
                consumed.extend(inbound.msg_id);
                let verdict = Verdict::Migrate(digest);
                return Sorted { verdict, consumed };
            }
            if let Some(id) = &inbound.msg_id
                && !self.seen.insert(id.clone())
            {
                continue;
            }
            if !self.is_current(&inbound) {
                // Discarded by the next commit.
                consumed.extend(inbound.msg_id);
                continue;
            }
            if let Some(verdict) = self.take(inbound, &mut events, &mut consumed) {
                return Sorted { verdict, consumed };
            }
        }
        let verdict = Verdict::Events(events);
        Sorted { verdict, consumed }
    }

    /// The digest `inbound` asks this execution to move to, if it is a migration to take now.
    fn migration_to(&self, inbound: &Inbound) -> Option<Digest> {
        match &inbound.event {
            EventKind::ExecutionMigrated {
                orchestrator_digest,
            } if !self.suspended
                && *orchestrator_digest != self.digest
                && self.is_current(inbound) =>
            {
                Some(orchestrator_digest.clone())
            }
            _ => None,
        }
    }

    fn is_current(&self, inbound: &Inbound) -> bool {
        inbound
            .execution_id
            .as_ref()
            .is_none_or(|e| *e == self.execution_id)
    }

    /// Takes one current event into `events` and its message into `consumed`, or holds both;
    /// `Some` when it stops the run.
    fn take(
        &mut self,
        inbound: Inbound,
        events: &mut Vec<EventKind>,
        consumed: &mut Vec<String>,
    ) -> Option<Verdict> {
        let is_control = matches!(
            inbound.event,
            EventKind::ExecutionTerminated { .. }
                | EventKind::ExecutionSuspended { .. }
                | EventKind::ExecutionResumed { .. }
                | EventKind::ExecutionMigrated { .. }
        );
        if self.suspended && !is_control {
            self.held.push((inbound.msg_id, inbound.event));
            return None;
        }
        consumed.extend(inbound.msg_id);
        match inbound.event {
            EventKind::ExecutionTerminated { reason } => return Some(Verdict::Terminate(reason)),
            event @ EventKind::ExecutionSuspended { .. } => {
                self.suspended = true;
                events.push(event);
            }
            event @ EventKind::ExecutionResumed { .. } => {
                self.suspended = false;
                events.push(event);
                for (msg_id, held) in self.held.drain(..) {
                    consumed.extend(msg_id);
                    events.push(held);
                }
            }
            EventKind::ExecutionMigrated { .. } => {
                tracing::info!("not migrated: suspended or already there");
            }
            event => events.push(event),
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TaskId;

    fn exec(id: &str) -> ExecutionId {
        ExecutionId::from_trusted(id.to_owned())
    }

    fn timer(task_id: u32) -> EventKind {
        EventKind::TimerFired {
            task_id: TaskId(task_id),
            fire_at_ms: 0,
        }
    }

    fn raised(name: &str) -> EventKind {
        EventKind::EventRaised {
            name: name.into(),
            input: "null".into(),
        }
    }

    fn message(msg: &str, event: EventKind) -> Inbound {
        Inbound {
            execution_id: None,
            msg_id: Some(msg.into()),
            event,
        }
    }

    fn result(execution: &str, task_id: u32) -> Inbound {
        Inbound {
            execution_id: Some(exec(execution)),
            msg_id: None,
            event: timer(task_id),
        }
    }

    fn migrate(msg: &str, digest: &str) -> Inbound {
        let event = EventKind::ExecutionMigrated {
            orchestrator_digest: digest.into(),
        };
        message(msg, event)
    }

    fn suspend(msg: &str) -> Inbound {
        let event = EventKind::ExecutionSuspended { reason: "s".into() };
        message(msg, event)
    }

    fn resume(msg: &str) -> Inbound {
        let event = EventKind::ExecutionResumed { reason: "r".into() };
        message(msg, event)
    }

    fn events(list: Vec<EventKind>) -> Verdict {
        Verdict::Events(list)
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Sorts `arrivals` (pushed at once) on a fresh mailbox of execution e1 on digest d1; returns
    /// every sorting until nothing is left, and what the mailbox left queued.
    fn sortings(suspended: bool, arrivals: Vec<Inbound>) -> (Vec<Sorted>, usize) {
        let mut mailbox = Mailbox::new(exec("e1"), "d1".into(), suspended, Vec::new());
        for inbound in arrivals {
            mailbox.push(inbound);
        }
        let mut out = Vec::new();
        loop {
            let sorted = mailbox.sort();
            let stops = !matches!(sorted.verdict, Verdict::Events(_));
            let empty = sorted
                == Sorted {
                    verdict: events(vec![]),
                    consumed: vec![],
                };
            if !empty {
                out.push(sorted);
            }
            if stops || mailbox.is_empty() {
                return (out, mailbox.into_queued().len());
            }
        }
    }

    type Case = (&'static str, bool, Vec<Inbound>, Vec<Sorted>, usize);

    #[test]
    fn the_rules_for_what_a_turn_gets() {
        let terminate = EventKind::ExecutionTerminated { reason: "t".into() };
        // (what, starts suspended, arrivals, sortings, left queued)
        let cases: Vec<Case> = vec![
            (
                "events in arrival order, messages consumed",
                false,
                vec![
                    message("m1", raised("a")),
                    result("e1", 3),
                    message("m2", raised("b")),
                ],
                vec![Sorted {
                    verdict: events(vec![raised("a"), timer(3), raised("b")]),
                    consumed: ids(&["m1", "m2"]),
                }],
                0,
            ),
            (
                "a double delivery is dropped",
                false,
                vec![message("m1", raised("a")), message("m1", raised("a"))],
                vec![Sorted {
                    verdict: events(vec![raised("a")]),
                    consumed: ids(&["m1"]),
                }],
                0,
            ),
            (
                "an older execution's result is dropped, its message still consumed",
                false,
                vec![
                    result("e0", 1),
                    Inbound {
                        execution_id: Some(exec("e0")),
                        ..message("m1", raised("x"))
                    },
                ],
                vec![Sorted {
                    verdict: events(vec![]),
                    consumed: ids(&["m1"]),
                }],
                0,
            ),
            (
                "terminate stops at once",
                false,
                vec![
                    message("m1", raised("a")),
                    message("m2", terminate.clone()),
                    message("m3", raised("b")),
                ],
                vec![Sorted {
                    verdict: Verdict::Terminate("t".into()),
                    consumed: ids(&["m1", "m2"]),
                }],
                1,
            ),
            (
                "a migration is taken alone: what came before first, what came after stays queued",
                false,
                vec![
                    message("m1", raised("a")),
                    migrate("m2", "d2"),
                    message("m3", raised("b")),
                ],
                vec![
                    Sorted {
                        verdict: events(vec![raised("a")]),
                        consumed: ids(&["m1"]),
                    },
                    Sorted {
                        verdict: Verdict::Migrate("d2".into()),
                        consumed: ids(&["m2"]),
                    },
                ],
                1,
            ),
            (
                "a migration to the digest it is on is ignored",
                false,
                vec![migrate("m1", "d1"), message("m2", raised("a"))],
                vec![Sorted {
                    verdict: events(vec![raised("a")]),
                    consumed: ids(&["m1", "m2"]),
                }],
                0,
            ),
            (
                "suspended: events are held, handed over after the resume",
                false,
                vec![
                    suspend("m1"),
                    message("m2", raised("a")),
                    result("e1", 4),
                    resume("m3"),
                ],
                vec![Sorted {
                    verdict: events(vec![
                        EventKind::ExecutionSuspended { reason: "s".into() },
                        EventKind::ExecutionResumed { reason: "r".into() },
                        raised("a"),
                        timer(4),
                    ]),
                    consumed: ids(&["m1", "m3", "m2"]),
                }],
                0,
            ),
            (
                "suspended: a migration is not taken",
                true,
                vec![migrate("m1", "d2"), message("m2", raised("a"))],
                vec![Sorted {
                    verdict: events(vec![]),
                    consumed: ids(&["m1"]),
                }],
                0,
            ),
        ];
        for (what, suspended, arrivals, expected, left) in cases {
            let (got, queued) = sortings(suspended, arrivals);
            assert_eq!(got, expected, "{what}");
            assert_eq!(queued, left, "{what}: left queued");
        }
    }

    #[test]
    fn held_events_wait_across_turns_until_the_resume() {
        let mut mailbox = Mailbox::new(exec("e1"), "d1".into(), false, Vec::new());
        mailbox.push(suspend("m1"));
        mailbox.push(message("m2", raised("a")));
        let first = mailbox.sort();
        assert_eq!(
            first.verdict,
            events(vec![EventKind::ExecutionSuspended { reason: "s".into() }])
        );
        // The held event's message stays in the durable inbox while it is held: the turn that
        // records the suspension must not delete it (an eviction or a crash would lose it).
        assert_eq!(first.consumed, ids(&["m1"]));
        assert!(mailbox.suspended());
        mailbox.push(resume("m3"));
        let second = mailbox.sort();
        let expected = vec![
            EventKind::ExecutionResumed { reason: "r".into() },
            raised("a"),
        ];
        assert_eq!(second.verdict, events(expected));
        assert_eq!(second.consumed, ids(&["m3", "m2"]));
        assert!(!mailbox.suspended());
    }
}
