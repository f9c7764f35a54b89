//! Durable timers: fire times live in the history (`TimerCreated`); this service only wakes the
//! instance when one is due. After a restart, instances re-arm their open timers from history.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use super::{Executor, Inbound};
use crate::clock::Clock;
use crate::engine::EventKind;
use crate::ids::{ExecutionId, InstanceId, TaskId};

/// Longest single sleep; bounds the effect of wall-clock jumps on a sleeping service.
const MAX_SLEEP: Duration = Duration::from_secs(60);

type Entry = (u64, InstanceId, ExecutionId, TaskId);

/// Armed timers: ordered by fire time, and indexed by instance so that an instance's timers
/// are disarmed when it ends (finished, terminated, purged, continued as new).
#[derive(Default)]
struct Armed {
    due: BTreeSet<Entry>,
    by_instance: HashMap<InstanceId, Vec<Entry>>,
}

impl Armed {
    fn insert(&mut self, entry: Entry) {
        if self.due.insert(entry.clone()) {
            self.by_instance
                .entry(entry.1.clone())
                .or_default()
                .push(entry);
        }
    }

    fn pop_due(&mut self, now: u64) -> Option<Entry> {
        let first = self.due.first().filter(|e| e.0 <= now)?.clone();
        self.due.remove(&first);
        if let Some(list) = self.by_instance.get_mut(&first.1) {
            list.retain(|e| *e != first);
            if list.is_empty() {
                self.by_instance.remove(&first.1);
            }
        }
        Some(first)
    }

    fn cancel(&mut self, instance: &InstanceId) -> usize {
        let entries = self.by_instance.remove(instance).unwrap_or_default();
        for entry in &entries {
            self.due.remove(entry);
        }
        entries.len()
    }
}

/// Pending timers, ordered by fire time.
pub struct TimerService {
    clock: Arc<dyn Clock>,
    armed: Mutex<Armed>,
    changed: Notify,
}

impl TimerService {
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(TimerService {
            clock,
            armed: Mutex::new(Armed::default()),
            changed: Notify::new(),
        })
    }

    /// Arms a timer (idempotent).
    pub fn schedule(
        &self,
        fire_at_ms: u64,
        instance: InstanceId,
        execution: ExecutionId,
        task_id: TaskId,
    ) {
        self.lock()
            .insert((fire_at_ms, instance, execution, task_id));
        self.changed.notify_one();
    }

    /// Disarms every timer of `instance` (it ended); returns how many there were.
    pub fn cancel_instance(&self, instance: &InstanceId) -> usize {
        self.lock().cancel(instance)
    }

    /// The clock moved (tests): re-check what is due.
    pub fn clock_changed(&self) {
        self.changed.notify_one();
    }

    /// Number of armed timers.
    pub fn pending(&self) -> usize {
        self.lock().due.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Armed> {
        self.armed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fires due timers into their instances until the executor is dropped.
    pub async fn run(self: Arc<Self>, executor: Weak<Executor>) {
        loop {
            let now = self.clock.now_ms();
            let (fired, next) = {
                let mut armed = self.lock();
                let mut fired = Vec::new();
                while let Some(entry) = armed.pop_due(now) {
                    fired.push(entry);
                }
                (fired, armed.due.first().map(|e| e.0))
            };
            if !fired.is_empty() {
                let Some(executor) = executor.upgrade() else {
                    return;
                };
                for (fire_at_ms, instance, execution, task_id) in fired {
                    executor.deliver(
                        &instance,
                        Inbound {
                            execution_id: Some(execution),
                            msg_id: None,
                            event: EventKind::TimerFired {
                                task_id,
                                fire_at_ms,
                            },
                        },
                    );
                }
                continue;
            }
            if executor.strong_count() == 0 {
                return;
            }
            let sleep = next.map_or(MAX_SLEEP, |at| {
                Duration::from_millis(at - now).min(MAX_SLEEP)
            });
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.changed.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instances_timers_are_disarmed_together_and_fire_in_order() {
        let mut armed = Armed::default();
        let id = |s: &str| InstanceId::parse(s).unwrap();
        let (e1, e2) = (ExecutionId::random(), ExecutionId::random());
        armed.insert((30, id("a"), e1.clone(), TaskId(1)));
        armed.insert((10, id("a"), e2.clone(), TaskId(2)));
        armed.insert((10, id("a"), e2.clone(), TaskId(2))); // idempotent
        armed.insert((20, id("b"), e1.clone(), TaskId(1)));
        assert_eq!(armed.due.len(), 3);
        assert_eq!(armed.cancel(&id("a")), 2);
        assert_eq!(armed.cancel(&id("a")), 0);
        assert_eq!(armed.due.len(), 1);
        armed.insert((5, id("c"), e1.clone(), TaskId(1)));
        assert_eq!(armed.pop_due(4), None);
        assert_eq!(armed.pop_due(25).map(|e| e.1), Some(id("c")));
        assert_eq!(armed.pop_due(25).map(|e| e.1), Some(id("b")));
        assert_eq!(armed.pop_due(25), None);
        assert!(
            armed.by_instance.is_empty(),
            "fired timers leave the index too"
        );
    }
}
