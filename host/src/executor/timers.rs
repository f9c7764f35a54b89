//! Durable timers: fire times live in the history (`TimerCreated`); this service only wakes the
//! instance when one is due. After a restart, instances re-arm their open timers from history.

use std::collections::BTreeSet;
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

/// Pending timers, ordered by fire time.
pub struct TimerService {
    clock: Arc<dyn Clock>,
    due: Mutex<BTreeSet<Entry>>,
    changed: Notify,
}

impl TimerService {
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(TimerService {
            clock,
            due: Mutex::new(BTreeSet::new()),
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

    /// The clock moved (tests): re-check what is due.
    pub fn clock_changed(&self) {
        self.changed.notify_one();
    }

    /// Number of armed timers.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<Entry>> {
        self.due.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fires due timers into their instances until the executor is dropped.
    pub async fn run(self: Arc<Self>, executor: Weak<Executor>) {
        loop {
            let now = self.clock.now_ms();
            let (fired, next) = {
                let mut due = self.lock();
                let mut fired = Vec::new();
                while let Some(first) = due.first().cloned() {
                    if first.0 > now {
                        break;
                    }
                    due.remove(&first);
                    fired.push(first);
                }
                (fired, due.first().map(|e| e.0))
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
